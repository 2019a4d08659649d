#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# bench/scan.sh: time `thinpack report` against a per-file FIEMAP walk of the
# same filesystem, in the same run.  See bench/README.md.
#
# Needs root (loop device, mount, drop_caches).  Run it with `make bench`
# from a build directory, or by hand:
#
#   make thinpack bench/walk-fiemap bench/runstat
#   bash ../bench/scan.sh          # from the build directory
#
# Environment:
#   THINPACK       thinpack binary           (default ./thinpack)
#   WALK_FIEMAP    the baseline              (default ./bench/walk-fiemap)
#   RUNSTAT        the timing helper         (default ./bench/runstat)
#   PYTHON3        python3 interpreter       (default python3)
#   BENCH_FILES    files to generate         (default 200000)
#   BENCH_REPEAT   measured runs per case    (default 3; the median counts)
#   BENCH_IMAGE_MB size of the sparse image  (default 2048)
#   BENCH_STRICT   1: exit 1 when a target is missed
#   BENCH_TMPDIR   where the scratch directory goes (default $TMPDIR or /tmp)
#   CI             true: fail instead of skipping when not root

# `$(SHELL) scan.sh` may start us under a POSIX sh: switch to bash.
if [ -z "${BASH_VERSION:-}" ]; then
	exec bash "$0" "$@"
fi

BENCH_NAME=scan
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/common.sh"
WALK_FIEMAP=${WALK_FIEMAP:-./bench/walk-fiemap}
BENCH_FILES=${BENCH_FILES:-200000}
BENCH_REPEAT=${BENCH_REPEAT:-3}
BENCH_IMAGE_MB=${BENCH_IMAGE_MB:-2048}

[[ -x $THINPACK ]] || die "$THINPACK: not an executable (set THINPACK, or run make bench)"
[[ -x $WALK_FIEMAP ]] || die "$WALK_FIEMAP: not an executable (set WALK_FIEMAP, or make bench/walk-fiemap)"
[[ -x $RUNSTAT ]] || die "$RUNSTAT: not an executable (set RUNSTAT, or make bench/runstat)"
for f in gen-tree.py measure.py; do
	[[ -r $BENCH_DIR/$f ]] || die "$BENCH_DIR/$f: missing (set BENCH_DIR)"
done
for c in "$PYTHON3" mkfs.ext4 losetup mount umount mountpoint truncate df sync; do
	command -v "$c" >/dev/null || die "$c: not found"
done
[[ $BENCH_FILES =~ ^[0-9]+$ && $BENCH_FILES -ge 1000 ]] ||
	die "BENCH_FILES=$BENCH_FILES: expected a number >= 1000"
[[ $BENCH_REPEAT =~ ^[1-9][0-9]*$ ]] || die "BENCH_REPEAT=$BENCH_REPEAT: expected a number >= 1"
[[ $BENCH_IMAGE_MB =~ ^[1-9][0-9]*$ ]] || die "BENCH_IMAGE_MB=$BENCH_IMAGE_MB: expected a number"
[[ -w /proc/sys/vm/drop_caches ]] || die "/proc/sys/vm/drop_caches is not writable: cold runs impossible"
THINPACK=$(realpath "$THINPACK")
WALK_FIEMAP=$(realpath "$WALK_FIEMAP")
RUNSTAT=$(realpath "$RUNSTAT")
export RUNSTAT

# ---- scratch space, and its cleanup whatever happens -----------------------

WORK=$(mktemp -d "${BENCH_TMPDIR:-${TMPDIR:-/tmp}}/thinpack-bench.XXXXXX")
IMG=$WORK/fs.img
MNT=$WORK/mnt
LOOP=

cleanup() {
	local rc=$?
	set +e
	trap '' INT TERM HUP PIPE
	cd /
	if mountpoint -q "$MNT" 2>/dev/null; then
		umount "$MNT" 2>/dev/null || { sleep 1; umount "$MNT"; } ||
			umount -l "$MNT"
	fi
	if [[ -n $LOOP ]]; then
		losetup -d "$LOOP" 2>/dev/null || { sleep 1; losetup -d "$LOOP"; }
	fi
	rm -rf "$WORK"
	exit "$rc"
}
bench_traps cleanup

mkdir "$MNT"

# ---- the filesystem ---------------------------------------------------------


say "bench/scan: $BENCH_FILES files on a ${BENCH_IMAGE_MB} MiB sparse ext4 image in $WORK"
truncate -s "${BENCH_IMAGE_MB}M" "$IMG"
# Inodes for the files, the one-in-ten deleted while generating, and the
# directories; no more, so the inode tables stay realistic.
INODES=$((BENCH_FILES + BENCH_FILES / 10 + BENCH_FILES / 100 + 10000))
mkfs.ext4 -q -F -N "$INODES" -L thinpack-bench "$IMG"
# Direct I/O: the loop device then reads its backing file like a disk,
# without a second page cache and a read-ahead state that outlives
# drop_caches (buffered, a cold run right after the walk took 2-3 times
# longer than one after another cold run).
DIO=on
if ! LOOP=$(losetup --find --show --direct-io=on "$IMG" 2>/dev/null); then
	while read -r l; do losetup -d "$l"; done < <(losetup -n -O NAME -j "$IMG")
	LOOP=$(losetup --find --show "$IMG")
fi
if [[ $(cat "/sys/block/${LOOP#/dev/}/loop/dio" 2>/dev/null) != 1 ]]; then
	DIO=off
	say "bench/scan: note: $WORK does not take direct I/O; the loop device is buffered"
fi
# noatime: the runs must not dirty inodes (relatime would on the first walk).
mount -o noatime "$LOOP" "$MNT"

AVAIL=$(df -B1 --output=avail "$MNT" | tail -n 1 | tr -d ' ')
BUDGET=$((AVAIL * 85 / 100))
t=$(now)
mkdir "$MNT/tree"
GEN=$("$PYTHON3" "$BENCH_DIR/gen-tree.py" "$MNT/tree" "$BENCH_FILES" "$BUDGET")
sync
# Remount: the journal is checkpointed and no cache of the generation stays.
umount "$MNT"
mount -o noatime "$LOOP" "$MNT"
say "bench/scan: generated in $(since "$t" 1) s: $GEN"
df -h --output=size,used,avail,pcent "$MNT" | sed 's/^/    /' >&2
df --output=itotal,iused,iavail "$MNT" | sed 's/^/    /' >&2

# ---- sanity: both tools read it, and agree on the files ---------------------

"$WALK_FIEMAP" "$GRANULARITY" "$MNT" >"$WORK/walk.out"
rc=0
"$THINPACK" report --json --min-age 0 --granularity 1M "$MNT" \
	>"$WORK/report.json" || rc=$?
# 1: reported, but the device cannot take discards or the fs cannot be
# compacted; still a full report.
[[ $rc -eq 0 || $rc -eq 1 ]] || die "thinpack report exited $rc"

"$PYTHON3" - "$WORK/walk.out" "$WORK/report.json" "$BENCH_FILES" <<'EOF' >&2
import json, sys
try:
    walk = dict(l.split(": ", 1) for l in open(sys.argv[1]).read().splitlines())
    walk["files"], walk["extents"], walk["partial_clusters"]
    rep = json.load(open(sys.argv[2]))["filesystems"][0]
    cl, sc = rep["clusters"], rep["scan"]
except (ValueError, KeyError, IndexError) as e:
    sys.exit("bench/scan: unexpected output of the baseline or of thinpack "
             "(%s: %s)" % (type(e).__name__, e))
print("    baseline: %s files, %s extents, %s clusters with file data, "
      "%s partial by file data" % (walk["files"], walk["extents"],
      walk["clusters_with_data"], walk["partial_clusters"]))
print("    thinpack: %d regular files, %d clusters: %d full, %d partial, "
      "%d empty; warnings: %d" % (sc["regular_files"], cl["total"],
      cl["full"], cl["partial"], cl["empty"], len(rep["warnings"])))
for w in rep["warnings"]:
    print("      warning: " + w)
want = int(sys.argv[3])
if int(walk["files"]) != want or sc["regular_files"] != want:
    sys.exit("bench/scan: expected %d files; the baseline saw %s, thinpack %d"
             % (want, walk["files"], sc["regular_files"]))
EOF

# ---- the measurements -------------------------------------------------------

RESULTS=$WORK/results.jsonl
say "bench/scan: measuring, $BENCH_REPEAT runs each, the two taking turns" \
	"(cold: caches dropped before every run)"
t=$(now)
"$PYTHON3" "$BENCH_DIR/measure.py" run "$BENCH_REPEAT" "$WORK" \
	-- baseline 0 "$WALK_FIEMAP" "$GRANULARITY" "$MNT" \
	-- thinpack 0,1 "$THINPACK" report --json --min-age 0 --granularity 1M "$MNT" \
	>"$RESULTS"
say "bench/scan: measured in $(since "$t" 1) s"

echo
echo "bench/scan: $BENCH_FILES files, $(awk '{print $4}' <<<"$GEN") directories," \
	"${BENCH_IMAGE_MB} MiB ext4 on a loop device (direct I/O $DIO), granularity 1 MiB," \
	"median of $BENCH_REPEAT runs"
echo "  baseline: $WALK_FIEMAP $GRANULARITY MOUNTPOINT"
echo "  thinpack: $THINPACK report --json --min-age 0 --granularity 1M MOUNTPOINT"
echo
"$PYTHON3" "$BENCH_DIR/measure.py" table "$RESULTS" baseline thinpack
