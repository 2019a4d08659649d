#!/bin/bash
# Moves that fail with an I/O error are what the exit codes keep for the
# administrator (thinpack(8), EXIT STATUS): with EXT4_IOC_MOVE_EXT failing
# with EIO after 20 calls (tests/root/move-ext-fault.c, LD_PRELOAD), thinpack
# compact and thinpackd --oneshot exit 1 and say to look at the kernel
# log, where files merely in use exit 0 (compact-leases.sh); every file
# keeps its bytes and e2fsck -fn stays clean.
. "${TESTS_DIR:-$(dirname "$0")/..}/lib/common.sh"
tp_require_root
tp_workdir
THINPACKD=${THINPACKD:-$(dirname "$THINPACK")/thinpackd}
shim=$(dirname "$THINPACK")/tests/root/move-ext-fault.so
[ -f "$shim" ] || tp_die "$shim has not been built (make check builds it)"
# A sanitizer build wants its runtime first among the libraries; the shim
# does not care where it comes.
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0
img=$TP_WORK/fs.img
truncate -s 160M "$img"
mkfs.ext4 -q -F -b 4096 -E nodiscard "$img"
tp_loop dev "$img"
m=$TP_WORK/m
tp_mount "$dev" "$m"
tp_age "$m" --seed 13 >/dev/null 2>&1
sync

# contents: every file's name, size and checksum (not its extents: the
# moves that succeed change those).
contents() { "$PYTHON3" "$TP_PY" layout "$m" | cut -d' ' -f1-4; }
contents >"$TP_WORK/contents.before"

rc=0
TP_MOVE_EXT_ERRNO=EIO TP_MOVE_EXT_AFTER=20 LD_PRELOAD=$shim "$THINPACK" compact --json --min-age 0 --max-usage 100 \
	--granularity 1M "$m" >"$TP_WORK/compact.json" 2>"$TP_WORK/compact.err" || rc=$?
tp_expect_eq "exit of compact with moves failing with EIO" "$rc" 1
grep -q "moves failed with an I/O error or did not verify .*see the kernel log" \
	"$TP_WORK/compact.err" || tp_fail "compact said: $(cat "$TP_WORK/compact.err")"
n=$("$PYTHON3" "$TP_PY" json "$TP_WORK/compact.json" filesystems.0.skipped.io_error)
[ "$n" -gt 0 ] || tp_fail "no move skipped as io_error"
contents >"$TP_WORK/contents.after"
cmp -s "$TP_WORK/contents.before" "$TP_WORK/contents.after" ||
	tp_fail "files changed: $(diff "$TP_WORK/contents.before" "$TP_WORK/contents.after" | head -4)"

printf '[global]\nmin_age = 0\nmax_usage = 100\ngranularity = 1M\npressure_limit = off\nio_rate = 0\n[%s]\n' \
	"$m" >"$TP_WORK/thinpackd.conf"
mkdir -p "$TP_WORK/run" "$TP_WORK/state"
rc=0
TP_MOVE_EXT_ERRNO=EIO TP_MOVE_EXT_AFTER=20 LD_PRELOAD=$shim RUNTIME_DIRECTORY=$TP_WORK/run STATE_DIRECTORY=$TP_WORK/state \
	"$THINPACKD" --foreground --oneshot --config "$TP_WORK/thinpackd.conf" \
	2>"$TP_WORK/thinpackd.err" || rc=$?
tp_expect_eq "exit of thinpackd --oneshot with moves failing with EIO" "$rc" 1
grep -q "$m: [0-9]* moves failed with an I/O error or did not verify" "$TP_WORK/thinpackd.err" ||
	tp_fail "thinpackd said: $(cat "$TP_WORK/thinpackd.err")"
contents >"$TP_WORK/contents.after"
cmp -s "$TP_WORK/contents.before" "$TP_WORK/contents.after" ||
	tp_fail "files changed: $(diff "$TP_WORK/contents.before" "$TP_WORK/contents.after" | head -4)"

tp_umount "$m"
tp_fsck "$dev"
tp_done
