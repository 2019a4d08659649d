#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# bench/compact.sh: thinpack compact on an aged filesystem on the emulated
# thin device -- (a) the I/O it writes against the least the clusters it
# empties need, (b) clusters emptied per GiB moved against rewriting whole
# files into fresh donors (the e4defrag way) on the same aged image, (c) its
# MiB/s against cp of as many bytes on the same filesystem.  See
# bench/README.md.
#
# Needs root (loop devices, mount, drop_caches).  Run it with
# `make bench-compact` from a build directory, or by hand:
#
#   make thinpack bench/rewrite-files bench/runstat
#   bash ../bench/compact.sh       # from the build directory
#
# Environment:
#   THINPACK       thinpack binary           (default ./thinpack)
#   REWRITE_FILES  the baseline              (default ./bench/rewrite-files)
#   RUNSTAT        the timing helper         (default ./bench/runstat)
#   PYTHON3        python3 interpreter       (default python3)
#   BENCH_IMAGE_MB size of the thin image    (default 512)
#   BENCH_SEED     seed of tp.py age         (default 1)
#   BENCH_STRICT   1: exit 1 when the I/O ratio target is missed
#   BENCH_SAVE     a directory: keep thinpack's JSON, the helpers' outputs
#                  and the figures there
#   BENCH_TMPDIR   where the scratch directory goes (default $TMPDIR or /tmp)
#   BENCH_AGED     a file: the aged image is saved there, or, when it
#                  exists, taken from there instead of aging a new one (to
#                  compare two builds from the same start)
#   CI             true: fail instead of skipping when not root

# `$(SHELL) compact.sh` may start us under a POSIX sh: switch to bash.
if [ -z "${BASH_VERSION:-}" ]; then
	exec bash "$0" "$@"
fi

BENCH_NAME=compact
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/common.sh"
TESTS_LIB=${TESTS_LIB:-$BENCH_DIR/../tests/lib}
REWRITE_FILES=${REWRITE_FILES:-./bench/rewrite-files}
BENCH_IMAGE_MB=${BENCH_IMAGE_MB:-512}
BENCH_SEED=${BENCH_SEED:-1}

[[ -x $THINPACK ]] || die "$THINPACK: not an executable (set THINPACK, or run make bench-compact)"
[[ -x $REWRITE_FILES ]] || die "$REWRITE_FILES: not an executable (set REWRITE_FILES, or make bench/rewrite-files)"
[[ -x $RUNSTAT ]] || die "$RUNSTAT: not an executable (set RUNSTAT, or make bench/runstat)"
[[ -r $BENCH_DIR/compact.py ]] || die "$BENCH_DIR/compact.py: missing (set BENCH_DIR)"
[[ -r $TESTS_LIB/tp.py ]] || die "$TESTS_LIB/tp.py: missing (set TESTS_LIB)"
for c in "$PYTHON3" mkfs.ext4 dumpe2fs e2fsck fstrim losetup mount umount \
	mountpoint truncate cp df stat sync; do
	command -v "$c" >/dev/null || die "$c: not found"
done
[[ $BENCH_IMAGE_MB =~ ^[1-9][0-9]*$ && $BENCH_IMAGE_MB -ge 128 && $BENCH_IMAGE_MB -le 1536 ]] ||
	die "BENCH_IMAGE_MB=$BENCH_IMAGE_MB: expected 128 to 1536"
[[ $BENCH_SEED =~ ^[0-9]+$ ]] || die "BENCH_SEED=$BENCH_SEED: expected a number"
[[ -w /proc/sys/vm/drop_caches ]] || die "/proc/sys/vm/drop_caches is not writable: cold runs impossible"
THINPACK=$(realpath "$THINPACK")
REWRITE_FILES=$(realpath "$REWRITE_FILES")
RUNSTAT=$(realpath "$RUNSTAT")
TESTS_LIB=$(realpath "$TESTS_LIB")
export TESTS_LIB
HELPER=("$PYTHON3" "$BENCH_DIR/compact.py")

# ---- scratch space, and its cleanup whatever happens -----------------------

WORK=$(mktemp -d "${BENCH_TMPDIR:-${TMPDIR:-/tmp}}/thinpack-bench.XXXXXX")
POOL_IMG=$WORK/pool.img # the outer bigalloc filesystem: the "thin pool"
POOL=$WORK/pool
TIMG=$POOL/thin.img # the thin device: an image in the pool
AGED=$WORK/aged.img # the aged state, outside the pool, for every run
MNT=$WORK/mnt
POOL_LOOP=
INNER=

# Released innermost first: the thin filesystem, its loop device, the pool's
# mount, the pool's loop device.
cleanup() {
	local rc=$?
	set +e
	trap '' INT TERM HUP PIPE
	cd /
	local m
	for m in "$MNT" "$POOL"; do
		if mountpoint -q "$m" 2>/dev/null; then
			umount "$m" 2>/dev/null || { sleep 1; umount "$m"; } ||
				umount -l "$m"
		fi
		if [[ $m == "$MNT" && -n $INNER ]]; then
			losetup -d "$INNER" 2>/dev/null || { sleep 1; losetup -d "$INNER"; }
		fi
	done
	if [[ -n $POOL_LOOP ]]; then
		losetup -d "$POOL_LOOP" 2>/dev/null || { sleep 1; losetup -d "$POOL_LOOP"; }
	fi
	if [[ -n ${BENCH_SAVE:-} ]]; then
		mkdir -p "$BENCH_SAVE" &&
			find "$WORK" -maxdepth 1 -type f ! -name '*.img' \
				-exec cp -t "$BENCH_SAVE" {} +
	fi
	rm -rf "$WORK"
	exit "$rc"
}
bench_traps cleanup

mkdir "$MNT" "$POOL"

# /sys/block/loopN/stat: field 7 sectors written, 14 sectors discarded.
sectors() { awk -v f="$2" '{ print $f }' "/sys/block/${1#/dev/}/stat"; }
# "ALLOCATED DATA" bytes the pool holds for the image (compact.py pool-bytes)
allocated() { "${HELPER[@]}" pool-bytes "$1"; }

RESULTS=$WORK/results
put() { printf '%s %s\n' "$1" "$2" >>"$RESULTS"; }

# Attach the thin image, with direct I/O when the pool takes it (no second
# page cache between the filesystem and the pool, as in bench/scan).
DIO=on
attach_thin() {
	if ! INNER=$(losetup --find --show --direct-io=on "$TIMG" 2>/dev/null); then
		while read -r l; do losetup -d "$l"; done < <(losetup -n -O NAME -j "$TIMG")
		INNER=$(losetup --find --show "$TIMG")
	fi
	if [[ $(cat "/sys/block/${INNER#/dev/}/loop/dio" 2>/dev/null) != 1 ]]; then
		DIO=off
	fi
}
detach_thin() {
	losetup -d "$INNER"
	INNER=
}
# The thin image as it was when aged: a fresh copy in the pool, which holds
# the same 1 MiB clusters for it as for the aged image (compact.py copy
# keeps written and unwritten extents and holes as they are).
restore_thin() {
	rm -f "$TIMG"
	"${HELPER[@]}" copy "$AGED" "$TIMG"
	sync -f "$TIMG"
	attach_thin
}

# ---- the emulated thin device, aged ----------------------------------------

T0=$(now)
say "bench/compact: a ${BENCH_IMAGE_MB} MiB thin image in a bigalloc pool, in $WORK"
truncate -s "$((BENCH_IMAGE_MB + 512))M" "$POOL_IMG"
mkfs.ext4 -q -F -O bigalloc -C 1M -E nodiscard "$POOL_IMG"
POOL_LOOP=$(losetup --find --show "$POOL_IMG")
mount "$POOL_LOOP" "$POOL"
if [[ -n ${BENCH_AGED:-} && -f $BENCH_AGED ]]; then
	# The aged image of an earlier run: the same starting point for
	# comparing two builds (aging is not the same twice).
	say "bench/compact: the aged image $BENCH_AGED"
	"${HELPER[@]}" copy "$BENCH_AGED" "$TIMG"
	sync -f "$TIMG"
	POOL_AGED=$(allocated "$TIMG")
	"${HELPER[@]}" copy "$BENCH_AGED" "$AGED"
else
	truncate -s "${BENCH_IMAGE_MB}M" "$TIMG"
	attach_thin
	[[ $DIO == on ]] || say "bench/compact: note: the pool does not take direct I/O; the loop device is buffered"
	# Inode tables zeroed now: else ext4lazyinit zeroes them in the background
	# of whichever mount comes next, up to 8 MiB of writes that are not
	# thinpack's inside the measured run (seen: one run of six at 1.65).
	mkfs.ext4 -q -F -E nodiscard,lazy_itable_init=0 -b 4096 -L thinpack-bench "$INNER"
	mount -o noatime "$INNER" "$MNT"
	t=$(now)
	"$PYTHON3" "$TESTS_LIB/tp.py" age "$MNT" --seed "$BENCH_SEED"
	sync
	fstrim "$MNT"
	sync
	umount "$MNT"
	detach_thin
	sync -f "$TIMG"
	POOL_AGED=$(allocated "$TIMG")
	"${HELPER[@]}" copy "$TIMG" "$AGED"
	say "bench/compact: aged in $(since "$t") s"
	if [[ -n ${BENCH_AGED:-} ]]; then
		"${HELPER[@]}" copy "$TIMG" "$BENCH_AGED"
		say "bench/compact: aged image saved as $BENCH_AGED"
	fi
fi

put image_mb "$BENCH_IMAGE_MB"
put seed "$BENCH_SEED"
put thinpack_cmd "thinpack compact --json --min-age 0 --max-usage 100 --granularity 1M MOUNTPOINT"
put rewrite_cmd "$(basename "$REWRITE_FILES")"

# ---- thinpack compact --------------------------------------------------------

restore_thin
put dio "$DIO"
put pool_aged "$POOL_AGED"
put pool_restored "$(allocated "$TIMG")"
"${HELPER[@]}" usage "$INNER" "$GRANULARITY" "$WORK/usage.before.json"
put usage_before_json "$WORK/usage.before.json"
mount -o noatime "$INNER" "$MNT"
put tp_pool_before "$(allocated "$TIMG")"
drop_caches
w0=$(sectors "$INNER" 7)
d0=$(sectors "$INNER" 14)
read -r jt0 jr0 jl0 < <("${HELPER[@]}" jbd2 "$INNER")
say "bench/compact: thinpack compact"
res=$("$RUNSTAT" "$WORK/compact.json" "$WORK/compact.err" \
	"$THINPACK" compact --json --min-age 0 --max-usage 100 --granularity 1M "$MNT")
read -r wall rss rc <<<"$res"
if [[ $rc -gt 1 ]]; then
	cat "$WORK/compact.err" >&2
	die "thinpack compact exited $rc"
fi
put thinpack_rc "$rc"
put tp_wall_s "$wall"
put tp_rss_kib "$rss"
put compact_json "$WORK/compact.json"
t=$(now)
sync
put tp_sync_s "$(since "$t")"
w1=$(sectors "$INNER" 7)
d1=$(sectors "$INNER" 14)
read -r jt1 jr1 jl1 < <("${HELPER[@]}" jbd2 "$INNER")
put tp_written_sectors $((w1 - w0))
put tp_discard_sectors $((d1 - d0))
if [[ $jt0 -ge 0 && $jt1 -ge 0 ]]; then
	put tp_journal_trans $((jt1 - jt0))
	put tp_journal_requested $((jr1 - jr0))
	put tp_journal_blocks $((jl1 - jl0))
else
	put tp_journal_trans -1
	put tp_journal_requested -1
	put tp_journal_blocks -1
fi
umount "$MNT"
put tp_written_umount_sectors $(($(sectors "$INNER" 7) - w0))
sync -f "$TIMG"
put tp_pool_after "$(allocated "$TIMG")"
"${HELPER[@]}" usage "$INNER" "$GRANULARITY" "$WORK/usage.tp.json"
"${HELPER[@]}" emptied "$WORK/usage.before.json" "$WORK/usage.tp.json" "$WORK/emptied.json"
put emptied_json "$WORK/emptied.json"
e2fsck -fn "$INNER" >"$WORK/fsck.tp" 2>&1 ||
	say "bench/compact: WARNING: e2fsck -fn after thinpack compact: $(tail -n 5 "$WORK/fsck.tp")"

# ---- (c) cp of as many bytes on the same filesystem ---------------------------

mount -o noatime "$INNER" "$MNT"
moved=$("$PYTHON3" "$TESTS_LIB/tp.py" json "$WORK/compact.json" filesystems.0.moved_bytes)
avail=$(df -B1 --output=avail "$MNT" | tail -n 1 | tr -d ' ')
cp_bytes=$moved
((cp_bytes >= 1048576)) || cp_bytes=1048576
((cp_bytes <= avail * 2 / 5)) || cp_bytes=$((avail * 2 / 5))
head -c "$cp_bytes" /dev/urandom >"$MNT/cp-src"
drop_caches
say "bench/compact: cp of $cp_bytes bytes"
# shellcheck disable=SC2016 # $1 and $2 are the inner shell's
res=$("$RUNSTAT" "$WORK/cp.out" "$WORK/cp.err" \
	sh -c 'cp -- "$1" "$2" && sync -f "$2"' sh "$MNT/cp-src" "$MNT/cp-dst")
read -r wall rss rc <<<"$res"
[[ $rc -eq 0 ]] || die "cp exited $rc: $(cat "$WORK/cp.err")"
put cp_bytes "$cp_bytes"
put cp_wall_s "$wall"
umount "$MNT"
detach_thin

# ---- the baseline: whole files into fresh donors, on the same aged image -------

restore_thin
mount -o noatime "$INNER" "$MNT"
"${HELPER[@]}" victim-files "$MNT" "$WORK/emptied.json" >"$WORK/files"
put victim_inode_blocks "$("${HELPER[@]}" inode-blocks "$INNER" "$WORK/files")"
put base_pool_before "$(allocated "$TIMG")"
drop_caches
w0=$(sectors "$INNER" 7)
say "bench/compact: baseline, $(wc -l <"$WORK/files") files rewritten whole"
res=$("$RUNSTAT" "$WORK/rewrite.out" "$WORK/rewrite.err" \
	"$REWRITE_FILES" <"$WORK/files")
read -r wall rss rc <<<"$res"
[[ $rc -eq 0 ]] || say "bench/compact: WARNING: rewrite-files exited $rc: $(head -n 5 "$WORK/rewrite.err")"
put base_wall_s "$wall"
sync
put base_written_sectors $(($(sectors "$INNER" 7) - w0))
d0=$(sectors "$INNER" 14)
while IFS=': ' read -r k v; do
	case $k in
	files) put base_files "$v" ;;
	bytes) put base_bytes "$v" ;;
	blocks_moved) put base_blocks_moved "$v" ;;
	esac
done <"$WORK/rewrite.out"
fstrim "$MNT"
put base_discard_sectors $(($(sectors "$INNER" 14) - d0))
umount "$MNT"
put base_written_umount_sectors $(($(sectors "$INNER" 7) - w0))
sync -f "$TIMG"
put base_pool_after "$(allocated "$TIMG")"
"${HELPER[@]}" usage "$INNER" "$GRANULARITY" "$WORK/usage.base.json"
"${HELPER[@]}" emptied "$WORK/usage.before.json" "$WORK/usage.base.json" \
	"$WORK/base-emptied.json" "$WORK/emptied.json"
"${HELPER[@]}" emptied "$WORK/usage.before.json" "$WORK/usage.base.json" \
	"$WORK/base-any.json"
put base_emptied_json "$WORK/base-emptied.json"
put base_any_json "$WORK/base-any.json"
e2fsck -fn "$INNER" >"$WORK/fsck.base" 2>&1 ||
	say "bench/compact: WARNING: e2fsck -fn after the baseline: $(tail -n 5 "$WORK/fsck.base")"
detach_thin
say "bench/compact: done in $(since "$T0") s"

echo
"${HELPER[@]}" summary "$RESULTS"
