#!/bin/bash
# bench/offline: MiB/s that thinpack compact --offline moves on an aged
# image, against cp of the same number of bytes on the filesystem that
# holds the image, in the same run.  Run by make bench-offline, as root.
#
# Environment: THINPACK, PYTHON3, BENCH_DIR, TESTS_LIB; BENCH_IMAGE_MB
# (default 1024), BENCH_SEED (default 1), BENCH_TMPDIR, CI.

if [ -z "${BASH_VERSION:-}" ]; then
	exec bash "$0" "$@"
fi

BENCH_NAME=offline
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/common.sh"
TESTS_LIB=${TESTS_LIB:-$BENCH_DIR/../tests/lib}
BENCH_IMAGE_MB=${BENCH_IMAGE_MB:-1024}
BENCH_SEED=${BENCH_SEED:-1}
[[ -x $THINPACK ]] || die "$THINPACK: not an executable (set THINPACK, or run make bench-offline)"

work=$(mktemp -d "${BENCH_TMPDIR:-${TMPDIR:-/tmp}}/thinpack-bench.XXXXXX")
loop=
cleanup() {
	set +e
	mountpoint -q "$work/mnt" 2>/dev/null && umount "$work/mnt"
	[ -n "$loop" ] && losetup -d "$loop" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

img=$work/fs.img
truncate -s "${BENCH_IMAGE_MB}M" "$img"
mkfs.ext4 -q -F -b 4096 "$img"
loop=$(losetup --find --show "$img")
mkdir "$work/mnt"
mount "$loop" "$work/mnt"
"$PYTHON3" "$TESTS_LIB/tp.py" age "$work/mnt" --seed "$BENCH_SEED" --extras
umount "$work/mnt"
losetup -d "$loop"
loop=

sync
echo 3 >/proc/sys/vm/drop_caches
start=$(date +%s.%N)
"$THINPACK" compact --offline --json --max-usage 100 --granularity 1M "$img" \
	>"$work/compact.json" || [ $? -eq 1 ] || die "thinpack compact --offline failed"
sync
end=$(date +%s.%N)
e2fsck -fn "$img" >/dev/null 2>&1 || die "e2fsck -fn is not clean after the run"
moved=$("$PYTHON3" "$TESTS_LIB/tp.py" json "$work/compact.json" filesystems.0.moved_bytes)
[ "$moved" -gt 0 ] || die "nothing moved"

# cp of as many bytes on the same filesystem, cold, synced.
head -c "$moved" /dev/urandom >"$work/src"
sync
echo 3 >/proc/sys/vm/drop_caches
cstart=$(date +%s.%N)
cp "$work/src" "$work/dst"
sync
cend=$(date +%s.%N)

"$PYTHON3" - "$work/compact.json" "$start" "$end" "$cstart" "$cend" "$moved" <<'PY'
import json, sys
fs = json.load(open(sys.argv[1]))["filesystems"][0]
t = float(sys.argv[3]) - float(sys.argv[2])
c = float(sys.argv[5]) - float(sys.argv[4])
mib = int(sys.argv[6]) / 2**20
print("bench/offline: %d clusters emptied of %d victims, %.1f MiB moved in %d moves"
      % (fs["clusters_emptied"], fs["victims"], mib, fs["moves"]))
print("    thinpack --offline  %6.1f MiB in %.2f s (+ sync)   %7.1f MiB/s" % (mib, t, mib / t))
print("    cp                  %6.1f MiB in %.2f s (+ sync)   %7.1f MiB/s" % (mib, c, mib / c))
print("    ratio thinpack/cp                              %.2fx" % (c / t))
PY
