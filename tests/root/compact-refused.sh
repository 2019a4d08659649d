#!/bin/bash
# A mount where the kernel refuses EXT4_IOC_MOVE_EXT for every file (the
# buffered_iomap option queued for a coming kernel; emulated here by
# move-ext-fault.so, preloaded, which fails that one ioctl with
# EOPNOTSUPP): compact stops at the first refusal, says so in one line that
# names --offline, exits 1 (thinpack(8): the administrator must act), and
# moves nothing; every file keeps its bytes and its blocks, e2fsck clean.
. "${TESTS_DIR:-$(dirname "$0")/..}/lib/common.sh"
tp_require_root
tp_workdir
shim=$(dirname "$THINPACK")/tests/root/move-ext-fault.so
[ -f "$shim" ] || tp_die "no move-ext-fault.so at $shim (make check builds it)"
# A sanitizer build wants its runtime first among the libraries; the shim
# does not care where it comes.
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0

tp_thin_pool 1G
tp_thin_fs fs 300M -- -b 4096
tp_age "$TP_MNT" --seed 61 --dirs 6
sync
tp_snapshot "$TP_MNT"

rc=0
err=$(TP_MOVE_EXT_ERRNO=EOPNOTSUPP LD_PRELOAD=$shim "$THINPACK" compact --granularity 1M --min-age 0 --max-usage 100 \
	"$TP_MNT" 2>&1 >/dev/null) || rc=$?
tp_log "exit $rc: $err"
tp_expect_eq "exit status" "$rc" 1
tp_expect_eq "lines of messages" "$(grep -c . <<<"$err")" 1
grep -q "EXT4_IOC_MOVE_EXT" <<<"$err" || tp_fail "the message does not name EXT4_IOC_MOVE_EXT"
grep -q -- "--offline" <<<"$err" || tp_fail "the message does not name --offline"
tp_expect_unchanged "$TP_MNT" "after the refused run"
tp_umount "$TP_MNT"
tp_fsck "$TP_DEV"
tp_done
