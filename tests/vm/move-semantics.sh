#!/bin/bash
# vm-args: --disk 400M
# What EXT4_IOC_MOVE_EXT does on this kernel, and thinpack with it, on a
# plain virtio disk:
#   1. a donor range with a hole (6.1 and 6.12 move it all; 6.19 moves up
#      to the hole and returns success with a short moved_len): move-probe
#      must see success only for a whole move, and the file keep its bytes;
#   2. compaction of an aged ext4 with fast_commit (from 6.19 every move
#      is fast-commit ineligible): placements >= 99 % exact, clusters
#      emptied, every file intact, e2fsck clean;
#   3. the same filesystem mounted data=journal, where MOVE_EXT refuses
#      every file: thinpack says so in one line that names --offline,
#      exits non-zero, and moves nothing.
. "${TESTS_DIR:-$(dirname "$0")/..}/lib/common.sh"
tp_require_root
tp_workdir
disk=/dev/vda
probe=${MOVE_PROBE:-$(dirname "$THINPACK")/tests/vm/move-probe}
[ -b "$disk" ] || tp_die "no virtio disk $disk"
[ -x "$probe" ] || tp_die "no move-probe at $probe (make check builds it)"
m=$TP_WORK/m
fs_cleanup() {
	set +e
	trap - ERR
	mountpoint -q "$m" && umount "$m"
	tp_cleanup
}
trap fs_cleanup EXIT

mkfs.ext4 -q -F -b 4096 -O fast_commit "$disk"
tp_mount "$disk" "$m"

# 1. a hole in the donor
if out=$("$probe" "$m" 2>&1); then
	tp_log "$(uname -r): MOVE_EXT across a donor hole: $out"
else
	tp_fail "move-probe: $out"
fi
rm -f "$m"/move-probe.*

# 2. compaction with fast_commit
tp_age "$m" --seed 57 --dirs 4
fstrim "$m"
sync
tp_snapshot "$m"
"$THINPACK" compact --json --granularity 1M --min-age 0 --max-usage 100 --slack 0 \
	"$m" >"$TP_WORK/compact.json" || tp_log "compact exited $?"
read -r emptied attempts exact < <("$PYTHON3" -c 'import json,sys; f=json.load(open(sys.argv[1]))["filesystems"][0]; p=f["placement"]; print(f["clusters_emptied"], p["attempts"], p["exact"])' "$TP_WORK/compact.json")
tp_log "$(uname -r) fast_commit: placements $exact/$attempts exact; $emptied clusters emptied"
[ "$emptied" -gt 0 ] || tp_fail "nothing emptied on fast_commit"
[ "$attempts" -gt 0 ] && [ $((exact * 100)) -ge $((attempts * 99)) ] ||
	tp_fail "placements exact $exact of $attempts (want >= 99 %)"
tp_umount "$m"
tp_fsck "$disk"
tp_mount "$disk" "$m" -o ro
tp_expect_unchanged "$m" "after compaction"
tp_umount "$m"

# 3. data=journal
tp_mount "$disk" "$m" -o data=journal
tp_snapshot "$m"
rc=0
err=$("$THINPACK" compact --granularity 1M --min-age 0 --max-usage 100 "$m" 2>&1 >/dev/null) || rc=$?
tp_log "data=journal: exit $rc: $err"
[ "$rc" -ne 0 ] || tp_fail "compact on data=journal exited 0"
[ "$(grep -c . <<<"$err")" -eq 1 ] || tp_fail "data=journal: $(grep -c . <<<"$err") lines of messages, want one"
grep -q -- "--offline" <<<"$err" || tp_fail "data=journal: the message does not name --offline"
tp_expect_unchanged "$m" "after the refused run"
tp_umount "$m"
tp_fsck "$disk"
tp_done
