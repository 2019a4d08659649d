#!/bin/bash
# thinpack compact --offline --dry-run on a crafted image, no root needed:
# the plan (every move: cluster, file by path and inode, logical range,
# source, target) and its summary must match the expected files byte for
# byte (after filter.sed), in text (summary first, the moves with
# --verbose; the summary alone without) and JSON, and under a budget
# (--max-io); a dry run leaves the image as it was.  Any change of the planner's choices shows
# here; after an intended one, record the new plan with regen.sh and check
# the diff.
#
# The image: mke2fs -d lays out a fixed tree (its own UUID and hash seed,
# E2FSPROGS_FAKE_TIME; mke2fs reads each directory sorted), then debugfs
# deletes every third file and a few more to punch holes, so that the
# plan also moves a sparse file (d0/sparse), a file with holes punched in
# it (d1/big) and a file with an unwritten extent inside its size
# (d2/prealloc).  Offline compaction takes every file, whatever its age,
# so the times mke2fs copies from the tree do not matter.
. "${TESTS_DIR:-$(dirname "$0")/..}/lib/common.sh"
here=$TESTS_DIR/image
tp_workdir

export E2FSPROGS_FAKE_TIME=1600000000 TZ=UTC LC_ALL=C
"$PYTHON3" - "$TP_WORK/tree" <<'PY'
import os, random, sys
rng = random.Random(1207)
root = sys.argv[1]
def put(path, data, at=0):
    with open(os.path.join(root, path), "r+b" if at else "wb") as f:
        f.seek(at)
        f.write(data)
for d in range(4):
    os.makedirs(os.path.join(root, "d%d" % d))
for i in range(200):
    size = rng.choice([1, 2, 3, 5, 8, 13, 21, 34]) * 1024 + rng.randint(0, 1023)
    put("d%d/f%03d" % (i % 4, i), rng.randbytes(size))
put("d0/sparse", rng.randbytes(3 * 4096))
put("d0/sparse", rng.randbytes(5 * 4096), 40 * 4096)
put("d1/big", rng.randbytes(96 * 4096))
put("d2/prealloc", rng.randbytes(2 * 4096))
for i in range(6):
    put("d2/q%d" % i, rng.randbytes(4096))
PY
img=$TP_WORK/golden.img
truncate -s 12M "$img"
mke2fs -q -F -t ext4 -b 4096 -U 3f6c2a4e-8d1b-4e07-b5a9-7c0d2e914b68 \
	-E hash_seed=9e2d4c71-5a38-4f16-8b0e-d31c6f5a2e90,root_owner=0:0 \
	-d "$TP_WORK/tree" "$img"
cmds=$TP_WORK/debugfs.cmds
: >"$cmds"
for i in $(seq 0 3 199); do
	printf 'rm /d%d/f%03d\n' $((i % 4)) "$i" >>"$cmds"
done
# the neighbours of d0/sparse and d2/prealloc, and the q files after
# d2/prealloc: their clusters become victims
for f in d0/f188 d0/f196 d2/f190 d2/f194 d2/q0 d2/q1 d2/q2 d2/q3 d2/q4 d2/q5; do
	printf 'rm /%s\n' "$f" >>"$cmds"
done
cat >>"$cmds" <<'EOF'
punch /d1/big 10 19
punch /d1/big 50 53
fallocate /d2/prealloc 2 4
sif /d2/prealloc size 20480
EOF
debugfs -w -f "$cmds" "$img" >/dev/null 2>&1
e2fsck -fn "$img" >"$TP_WORK/fsck" 2>&1 ||
	tp_die "the crafted image is not clean: $(tail -n 5 "$TP_WORK/fsck")"
sum=$(sha256sum <"$img")

# variant NAME OPTIONS...: a dry run, its output against
# offline-dryrun-golden.NAME.expect
variant() {
	local name=$1 rc=0
	shift
	"$THINPACK" compact --offline --dry-run "$@" "$img" \
		>"$TP_WORK/out.$name" 2>"$TP_WORK/err.$name" || rc=$?
	tp_expect_eq "exit ($name)" "$rc" 0
	[ ! -s "$TP_WORK/err.$name" ] ||
		tp_fail "$name: said on stderr: $(head -n 5 "$TP_WORK/err.$name")"
	tp_expect_eq "$name: a dry run changes nothing" "$(sha256sum <"$img")" "$sum"
	sed -f "$here/filter.sed" -e "s|$TP_WORK|WORK|g" "$TP_WORK/out.$name" \
		>"$TP_WORK/got.$name"
	if [ -n "${TP_REGEN:-}" ]; then
		cp "$TP_WORK/got.$name" "$here/offline-dryrun-golden.$name.expect"
	elif ! diff -u "$here/offline-dryrun-golden.$name.expect" "$TP_WORK/got.$name" >&2; then
		tp_fail "$name output differs from offline-dryrun-golden.$name.expect"
	fi
}

variant text --verbose --granularity 64K
variant json --json --granularity 64K
variant budget --verbose --max-usage 100 --max-io 256K --granularity 32K
# without --verbose, the summary alone
variant summary --granularity 64K
tp_done
