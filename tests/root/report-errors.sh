#!/bin/bash
# Bad input gets a clear message naming what is wrong, the documented exit
# code, and changes nothing.
. "${TESTS_DIR:-$(dirname "$0")/..}/lib/common.sh"
tp_require_root
tp_workdir
chmod 755 "$TP_WORK"


# A good filesystem to compare against.
tp_thin_pool 1G
tp_thin_fs good 64M -- -b 4096
head -c 300000 /dev/urandom >"$TP_MNT/a"
sync

# Usage errors: 8.
tp_expect_exit 8 'no such file or directory' -- report "$TP_WORK/nonexistent"
tp_expect_exit 8 'no PATH given' -- report
tp_expect_exit 8 'unknown command' -- frobnicate
tp_expect_exit 8 'unrecognized option|invalid option' -- report --frob "$TP_MNT"
for g in 3000 abc 0 256 -1M 64KX; do
	tp_expect_exit 8 "--granularity '$g': expected a multiple of 512 bytes" -- report --granularity "$g" "$TP_MNT"
done
tp_expect_exit 8 'granularity 1024 is not a multiple of the filesystem.s block size \(4096\)' -- \
	report --granularity 1K "$TP_MNT"
tp_expect_exit 8 'granularity 1536 is not a multiple of the filesystem.s block size \(4096\)' -- \
	report --granularity 1.5K "$TP_MNT"
for a in abc 1x -5 1.5; do
	tp_expect_exit 8 "--min-age '$a': expected a duration" -- report --min-age "$a" "$TP_MNT"
done
tp_expect_exit 8 "--curve '-1'" -- report --curve -1 "$TP_MNT"
tp_expect_exit 8 "--curve '100001'" -- report --curve 100001 "$TP_MNT"

# Not ext4: tmpfs, xfs (mounted, and as an image file), swap.
tp_mount tmpfs "$TP_WORK/tmpfs" -t tmpfs -o size=8M
tp_expect_exit 8 "not an ext4 filesystem \(.*tmpfs is tmpfs\)" -- report "$TP_WORK/tmpfs"
truncate -s 320M "$TP_WORK/xfs.img"
mkfs.xfs -q -f "$TP_WORK/xfs.img"
xfs_sum=$(sha256sum <"$TP_WORK/xfs.img")
tp_expect_exit 8 "not an ext4 filesystem \(.*xfs.img is xfs\)" -- report "$TP_WORK/xfs.img"
tp_expect_eq "xfs image unchanged" "$(sha256sum <"$TP_WORK/xfs.img")" "$xfs_sum"
tp_loop xdev "$TP_WORK/xfs.img"
tp_mount "$xdev" "$TP_WORK/xfs"
tp_expect_exit 8 "not an ext4 filesystem \(.*/xfs is xfs\)" -- report "$TP_WORK/xfs"
tp_expect_exit 8 "not an ext4 filesystem \(.*/xfs is xfs\)" -- report "$xdev"
tp_umount "$TP_WORK/xfs"
tp_loop_detach "$xdev"
truncate -s 16M "$TP_WORK/swap.img"
mkswap -q "$TP_WORK/swap.img" >/dev/null
tp_expect_exit 8 "not an ext4 filesystem \(.*swap.img is swap\)" -- report "$TP_WORK/swap.img"

# Several paths: each is reported or refused, the exit codes are OR-ed, and
# the JSON has an entry for each.
rc=0
"$THINPACK" report --json --granularity 1M "$TP_MNT" "$TP_WORK/nonexistent" \
	>"$TP_WORK/multi.json" 2>/dev/null || rc=$?
tp_expect_eq "exit of good + nonexistent" "$rc" 8
"$PYTHON3" - "$TP_WORK/multi.json" <<'PY' || tp_fail "multi-path JSON"
import json, sys
fss = json.load(open(sys.argv[1]))["filesystems"]
assert len(fss) == 2, fss
assert "clusters" in fss[0] and "error" not in fss[0], fss[0]
assert "no such file" in fss[1]["error"] and fss[1]["exit_code"] == 8, fss[1]
PY

# A failed report writes no map.
tp_expect_exit 8 'no such file' -- report --map "$TP_WORK/m.svg" "$TP_WORK/nonexistent"
[ ! -e "$TP_WORK/m.svg" ] || tp_fail "a failed report wrote a map"

# Not root: the device cannot be read: 4, and the message says why.
err=$(runuser -u nobody -- "$THINPACK" report --granularity 1M "$TP_MNT" 2>&1) && rc=0 || rc=$?
tp_expect_eq "exit as nobody" "$rc" 4
grep -q 'cannot read .*Permission denied.*needs root' <<<"$err" ||
	tp_fail "message as nobody: $err"

# A device without discard: reported, and exit 1 says nothing can return.
tp_umount "$TP_MNT"
tp_loop_nodiscard "$TP_DEV"
tp_mount "$TP_DEV" "$TP_MNT"
rc=0
out=$("$THINPACK" report --granularity 1M "$TP_MNT" 2>&1) || rc=$?
tp_expect_eq "exit without discard" "$rc" 1
grep -q 'does not support discard' <<<"$out" || tp_fail "no discard message: $out"
grep -q 'clusters' <<<"$out" || tp_fail "no report without discard: $out"

# bigalloc: reported (the figures still match), compaction refused with why.
tp_thin_fs big 128M -- -O bigalloc -C 65536
tp_age "$TP_MNT" --seed 2 --dirs 4 --rounds 1
rc=0
"$THINPACK" report --json --min-age 0 --granularity 1M "$TP_MNT" \
	>"$TP_WORK/big.json" 2>"$TP_WORK/big.err" || rc=$?
tp_expect_eq "exit on bigalloc" "$rc" 1
grep -q 'compaction is impossible: bigalloc' "$TP_WORK/big.err" ||
	tp_fail "bigalloc message: $(cat "$TP_WORK/big.err")"
"$PYTHON3" "$TP_PY" oracle --device "$TP_DEV" --mountpoint "$TP_MNT" \
	--granularity 1048576 --min-age 0 >"$TP_WORK/big-want.json"
"$PYTHON3" "$TP_PY" compare "$TP_WORK/big-want.json" "$TP_WORK/big.json" ||
	tp_fail "bigalloc occupancy differs from dumpe2fs"
"$PYTHON3" -c 'import json,sys; f=json.load(open(sys.argv[1]))["filesystems"][0]; assert not f["compaction_possible"] and "bigalloc" in f["compaction_blocker"] and f["reclaim"]["compaction_bytes"] == 0, f' \
	"$TP_WORK/big.json" || tp_fail "bigalloc JSON"
tp_done
