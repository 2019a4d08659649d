#!/bin/bash
# thinpack report on a crafted image, no root needed: mke2fs -d lays out a
# fixed tree, debugfs deletes every third file to punch holes, and the text
# and JSON reports must match the expected files byte for byte (after
# filter.sed).  The figures in the expected files were checked against the
# root tier's oracle (dumpe2fs + FIEMAP) when they were recorded.
. "${TESTS_DIR:-$(dirname "$0")/..}/lib/common.sh"
here=$TESTS_DIR/image
tp_workdir

export E2FSPROGS_FAKE_TIME=1600000000 TZ=UTC LC_ALL=C
"$PYTHON3" - "$TP_WORK/tree" <<'PY'
import os, random, sys
rng = random.Random(42)
root = sys.argv[1]
for d in range(4):
    os.makedirs(os.path.join(root, "d%d" % d))
for i in range(240):
    size = rng.choice([1, 2, 3, 5, 8, 13, 21, 34, 55]) * 1024 + rng.randint(0, 1023)
    with open(os.path.join(root, "d%d" % (i % 4), "f%03d" % i), "wb") as f:
        f.write(rng.randbytes(size))
PY
img=$TP_WORK/golden.img
truncate -s 16M "$img"
mke2fs -q -F -t ext4 -b 4096 -U 6b1d8f1e-0d4c-4a43-9a4e-2c8e5f0a7d31 \
	-E hash_seed=1b4e28ba-2fa1-11d2-883f-0016d3cca427,root_owner=0:0 \
	-d "$TP_WORK/tree" "$img"
cmds=$TP_WORK/rm.cmds
: >"$cmds"
for i in $(seq 0 3 239); do
	printf 'rm /d%d/f%03d\n' $((i % 4)) "$i" >>"$cmds"
done
debugfs -w -f "$cmds" "$img" >/dev/null 2>&1

for fmt in text json; do
	opt=
	[ $fmt = json ] && opt=--json
	rc=0
	"$THINPACK" report $opt --min-age 0 --curve 4 --granularity 64K "$img" \
		>"$TP_WORK/out.$fmt" 2>"$TP_WORK/err.$fmt" || rc=$?
	tp_expect_eq "exit ($fmt)" "$rc" 0
	sed -f "$here/filter.sed" -e "s|$TP_WORK|WORK|g" "$TP_WORK/out.$fmt" \
		>"$TP_WORK/got.$fmt"
	if [ -n "${TP_REGEN:-}" ]; then
		cp "$TP_WORK/got.$fmt" "$here/report-golden.$fmt.expect"
	elif ! diff -u "$here/report-golden.$fmt.expect" "$TP_WORK/got.$fmt" >&2; then
		tp_fail "$fmt output differs from report-golden.$fmt.expect"
	fi
done
tp_done
