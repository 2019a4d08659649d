#!/bin/bash
# compact --offline on a filesystem whose block bitmaps disagree with the
# files that own the blocks (debugfs freeb on the blocks of live files, no
# error flag set): it must refuse, exit 4, say "run e2fsck -f", and leave
# the image byte-identical -- the blocks it would allocate as targets are
# someone's data.  The same image before the damage compacts, e2fsck clean.
. "${TESTS_DIR:-$(dirname "$0")/..}/lib/common.sh"
tp_require_root
tp_workdir
cd "$TP_WORK"

truncate -s 256M fs.img
mkfs.ext4 -q -F -b 4096 -E nodiscard fs.img
tp_loop dev fs.img
tp_mount "$dev" m
tp_age m --seed 17
# 300 live files' extents, from FIEMAP: their blocks are freed below.  (No
# head(1) in a pipe: under pipefail, sort's SIGPIPE would fail the test.)
find m -type f | sort >files
sed -n 1,300p files | xargs "$PYTHON3" "$TP_PY" fiemap >extents
tp_umount m
tp_loop_detach "$dev"
cp --sparse=always fs.img clean.img

# freeb BLOCK COUNT for every extent (logical:physical+length, in bytes)
sed 's/^[^ ]* //' extents | tr ' ' '\n' | awk -F '[:+]' -v bs=4096 \
	'NF == 3 { printf "freeb %d %d\n", $2 / bs, ($3 + bs - 1) / bs }' >freeb.cmds
[ "$(wc -l <freeb.cmds)" -ge 300 ] || tp_die "only $(wc -l <freeb.cmds) extents to free"
debugfs -w -f freeb.cmds fs.img >/dev/null 2>&1
# the damage is real: e2fsck sees it (an independent check)
if e2fsck -fn fs.img >/dev/null 2>&1; then
	tp_die "freeb left e2fsck clean"
fi
sum=$(sha256sum <fs.img)

tp_expect_exit 4 'fs.img: the block bitmaps disagree with the files that own the blocks \([0-9]+ ranges in use by files but free in the bitmap, [0-9]+ blocks more owned than the bitmap marks in use\): run e2fsck -f; nothing changed' \
	-- compact --offline --granularity 1M --max-usage 100 fs.img
tp_expect_exit 4 'run e2fsck -f' -- compact --offline --dry-run --granularity 1M --max-usage 100 fs.img
tp_expect_eq "the damaged image after the refusal" "$(sha256sum <fs.img)" "$sum"

# the control: the undamaged image compacts, and stays clean
"$THINPACK" compact --offline --granularity 1M --max-usage 100 clean.img >out 2>&1 ||
	tp_fail "compact --offline on the clean image: $(cat out)"
grep -q 'emptied [1-9]' out || tp_fail "the clean image: nothing emptied: $(cat out)"
tp_fsck clean.img
tp_done
