#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# bench/scale.sh: how thinpack's cost grows with the filesystem (issue 14).
# Aged fixtures of one shape at 2, 8 and 32 GiB (64 with --with-64), and
# for each, in one run, the kinds of runs taking turns: report, compact
# --dry-run and compact wall time and peak RSS; s per moved MiB; written /
# minimum I/O; freed / bound; cp and dd of the minimum I/O's bytes on the
# same device as the physical limit; compact --offline against dd; the
# same data moved with MOVE_EXT alone, with and without a borrowed block,
# as the method's floor; and, from one run under strace, the system calls
# per moved MiB by kind.  Ends
# with a verdict against issue 14's acceptance figures.  See
# bench/README.md.
#
# Needs root (loop devices, mount, drop_caches) and strace.  Run it with
# `make bench-scale` from a build directory, or by hand:
#
#   make thinpack bench/runstat
#   bash ../bench/scale.sh [--with-64]      # from the build directory
#
# Environment:
#   THINPACK           thinpack binary          (default ./thinpack)
#   RUNSTAT            the timing helper        (default ./bench/runstat)
#   PYTHON3            python3 interpreter      (default python3)
#   BENCH_SCALE_SIZES  sizes in GiB             (default "2 8 32", + 64
#                      with --with-64)
#   BENCH_REPEAT       rounds below 32 GiB      (default 3)
#   BENCH_REPEAT_LARGE rounds at 32 GiB and up  (default 1)
#   BENCH_SEED         seed of the aging        (default 1)
#   BENCH_HOT_FILES    files just written in the hot-files fixture
#                      (default 150; 0: none)
#   BENCH_STRACE       0: no strace'd run (no syscall figures)
#   BENCH_TMPDIR       where the scratch directory goes (default /var/tmp;
#                      not /tmp, which may be a small tmpfs)
#   BENCH_SAVE         a directory: keep the JSON, the figures and the
#                      helpers' outputs there (not the images)
#   CI                 true: fail instead of skipping when not root
#
# Exit status: 0 when it ran, whatever the verdict (a benchmark reports, it
# does not gate); 77 not root; 1 when the benchmark itself broke.

# `$(SHELL) scale.sh` may start us under a POSIX sh: switch to bash.
if [ -z "${BASH_VERSION:-}" ]; then
	exec bash "$0" "$@"
fi

BENCH_NAME=scale
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/common.sh"
TESTS_LIB=${TESTS_LIB:-$BENCH_DIR/../tests/lib}

WITH_64=0
for a in "$@"; do
	case $a in
	--with-64) WITH_64=1 ;;
	-h | --help)
		sed -n '3,/^# Exit status/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
		exit 0
		;;
	*) die "unknown argument: $a (try --help)" ;;
	esac
done
if [[ -z ${BENCH_SCALE_SIZES:-} ]]; then
	BENCH_SCALE_SIZES="2 8 32"
	((WITH_64)) && BENCH_SCALE_SIZES+=" 64"
elif ((WITH_64)) && [[ " $BENCH_SCALE_SIZES " != *" 64 "* ]]; then
	BENCH_SCALE_SIZES+=" 64"
fi
BENCH_REPEAT=${BENCH_REPEAT:-3}
BENCH_REPEAT_LARGE=${BENCH_REPEAT_LARGE:-1}
BENCH_SEED=${BENCH_SEED:-1}
BENCH_STRACE=${BENCH_STRACE:-1}

[[ -x $THINPACK ]] || die "$THINPACK: not an executable (set THINPACK, or run make bench-scale)"
[[ -x $RUNSTAT ]] || die "$RUNSTAT: not an executable (set RUNSTAT, or make bench/runstat)"
for f in scale.py compact.py; do
	[[ -r $BENCH_DIR/$f ]] || die "$BENCH_DIR/$f: missing (set BENCH_DIR)"
done
[[ -r $TESTS_LIB/tp.py ]] || die "$TESTS_LIB/tp.py: missing (set TESTS_LIB)"
cmds=("$PYTHON3" mkfs.ext4 dumpe2fs debugfs e2fsck fstrim losetup mount umount
	mountpoint truncate df dd cp head sync awk setsid pgrep)
[[ $BENCH_STRACE == 0 ]] || cmds+=(strace)
for c in "${cmds[@]}"; do
	command -v "$c" >/dev/null && continue
	[[ $c != strace ]] || die "strace: not found (apt-get install strace, or BENCH_STRACE=0)"
	die "$c: not found"
done
sizes=()
for g in $BENCH_SCALE_SIZES; do
	[[ $g =~ ^[1-9][0-9]*$ ]] || die "BENCH_SCALE_SIZES: $g: expected whole GiB"
	sizes+=("$g")
done
((${#sizes[@]})) || die "BENCH_SCALE_SIZES is empty"
mapfile -t sizes < <(printf '%s\n' "${sizes[@]}" | sort -n -u)
for v in BENCH_REPEAT BENCH_REPEAT_LARGE; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v=${!v}: expected a number >= 1"
done
[[ $BENCH_SEED =~ ^[0-9]+$ ]] || die "BENCH_SEED=$BENCH_SEED: expected a number"
[[ -w /proc/sys/vm/drop_caches ]] || die "/proc/sys/vm/drop_caches is not writable: cold runs impossible"
THINPACK=$(realpath "$THINPACK")
RUNSTAT=$(realpath "$RUNSTAT")
TESTS_LIB=$(realpath "$TESTS_LIB")
export TESTS_LIB
SCALE=("$PYTHON3" "$BENCH_DIR/scale.py")
HELPER=("$PYTHON3" "$BENCH_DIR/compact.py")

rounds_of() { if (($1 >= 32)); then echo "$BENCH_REPEAT_LARGE"; else echo "$BENCH_REPEAT"; fi; }

# ---- scratch space, and its cleanup whatever happens -----------------------

TMPBASE=${BENCH_TMPDIR:-/var/tmp}
[[ -d $TMPBASE ]] || die "BENCH_TMPDIR=$TMPBASE: not a directory"
# Each pristine fixture takes about 0.3 of its size (a fifth of data, the
# inode tables and the journal, written); one working copy of the largest;
# cp and dd of its minimum I/O.
need=0
for g in "${sizes[@]}"; do need=$((need + g * 3 / 10 + 1)); done
need=$((need + sizes[-1] * 4 / 10 + 1))
avail=$(($(df -B1 --output=avail "$TMPBASE" | tail -n 1) >> 30))
((avail >= need)) || die "$TMPBASE has $avail GiB free; the fixtures need about $need GiB (set BENCH_TMPDIR)"

WORK=$(mktemp -d "$TMPBASE/thinpack-scale.XXXXXX")
MNT=$WORK/mnt
IMG=$WORK/work.img # the working copy: one at a time
LOOP=
CHILD= # the long command running, in a session of its own (spawn)

cleanup() {
	local rc=$?
	set +e
	trap '' INT TERM HUP PIPE
	cd /
	# Stop it and its children first (thinpack stops between two moves on
	# SIGTERM), else the mount stays busy.
	if [[ -n $CHILD ]]; then
		kill -TERM -- "-$CHILD" 2>/dev/null
		local i
		for ((i = 0; i < 100; i++)); do
			# alive, not zombies: a zombie stays until waited for
			pgrep -s "$CHILD" -r D,R,S,T,t,I >/dev/null || break
			sleep 0.1
		done
		kill -KILL -- "-$CHILD" 2>/dev/null
		wait "$CHILD" 2>/dev/null
	fi
	if mountpoint -q "$MNT" 2>/dev/null; then
		umount "$MNT" 2>/dev/null || { sleep 1; umount "$MNT"; } ||
			umount -l "$MNT"
	fi
	if [[ -n $LOOP ]]; then
		losetup -d "$LOOP" 2>/dev/null || { sleep 1; losetup -d "$LOOP"; }
	fi
	# Any other loop device on our images (a run cut between attach and
	# the assignment of LOOP).
	local img l
	for img in "$WORK"/*.img; do
		[[ -e $img ]] || continue
		while read -r l; do
			losetup -d "$l" 2>/dev/null
		done < <(losetup -n -O NAME -j "$img" 2>/dev/null)
	done
	if [[ -n ${BENCH_SAVE:-} ]]; then
		mkdir -p "$BENCH_SAVE" &&
			find "$WORK" -maxdepth 1 -type f ! -name '*.img' ! -name '*.strace' \
				-exec cp -t "$BENCH_SAVE" {} +
	fi
	rm -rf "$WORK"
	exit "$rc"
}
bench_traps cleanup

mkdir "$MNT"

# Bytes written to the loop device: field 7 of /sys/block/loopN/stat,
# sectors.  (Not awk: mawk prints large products in exponent form.)
written() {
	local f
	read -r -a f <"/sys/block/${LOOP#/dev/}/stat"
	echo $((f[6] * 512))
}

RESULTS=$WORK/results
# put SIZE ROUND KEY VALUE (round 0: the fixture's own figures)
put() { printf '%s %s %s %s\n' "$1" "$2" "$3" "$4" >>"$RESULTS"; }

# spawn CMD...: run CMD in a session of its own and wait for it.  A signal
# to this script then ends the wait at once, and the EXIT trap stops CMD's
# whole session before it unmounts; run in the foreground, CMD (minutes
# for a compaction under strace) would have to end first, and would not
# get the signal at all unless it came from a terminal.
spawn() {
	local rc=0
	setsid -w "$@" &
	CHILD=$!
	wait "$CHILD" || rc=$?
	CHILD=
	return "$rc"
}

# Direct I/O: the loop device reads and writes its backing file like a
# disk, without a second page cache that drop_caches would not reset
# (bench/scan measured why).  Buffered where the backing filesystem refuses.
DIO=on
attach() {
	[[ -z $LOOP ]] || die "internal: $LOOP still attached"
	if ! LOOP=$(losetup --find --show --direct-io=on "$1" 2>/dev/null); then
		while read -r l; do losetup -d "$l"; done < <(losetup -n -O NAME -j "$1")
		LOOP=$(losetup --find --show "$1")
	fi
	if [[ $(cat "/sys/block/${LOOP#/dev/}/loop/dio" 2>/dev/null) != 1 ]]; then
		[[ $DIO == off ]] || say "bench/scale: note: $TMPBASE does not take direct I/O; the loop device is buffered"
		DIO=off
	fi
}
detach() {
	losetup -d "$LOOP"
	LOOP=
}
# The fixture as it was aged: compact.py copy keeps its written extents
# (zeros included), unwritten extents and holes as they are, so every run
# reads and writes the same blocks of the backing file.
restore() {
	rm -f "$IMG"
	spawn "${HELPER[@]}" copy "$WORK/fixture-$1.img" "$IMG"
	attach "$IMG"
}
# run LABEL OKCODES CMD...: runstat, output in $WORK/LABEL.out, .err; sets
# WALL RSS RC, and CPU (user + sys seconds: the figure the other jobs of a
# shared machine disturb least).
run() {
	local label=$1 ok=$2 usr sys
	shift 2
	spawn "$RUNSTAT" -c "$WORK/$label.out" "$WORK/$label.err" "$@" >"$WORK/$label.stat"
	read -r WALL RSS RC usr sys <"$WORK/$label.stat"
	CPU=$(awk -v u="$usr" -v s="$sys" 'BEGIN { printf "%.3f", u + s }')
	if [[ ,$ok, != *,$RC,* ]]; then
		tail -n 20 "$WORK/$label.err" >&2
		die "$label: $1 exited $RC"
	fi
}
json() { "$PYTHON3" "$TESTS_LIB/tp.py" json "$@"; }

TP_OPTS=(--json --min-age 0 --slack 0 --max-usage 100 --granularity 1M)

# ---- the fixtures, each aged once --------------------------------------------

T0=$(now)
rounds_said=
for g in "${sizes[@]}"; do rounds_said+=" $g GiB $(rounds_of "$g");"; done
say "bench/scale: fixtures of ${sizes[*]} GiB in $WORK; rounds:${rounds_said%;}"
for g in "${sizes[@]}"; do
	fx=$WORK/fixture-$g.img
	t=$(now)
	truncate -s "${g}G" "$fx"
	attach "$fx"
	# Inode tables zeroed now, not by ext4lazyinit in the background of
	# a measured run.
	mkfs.ext4 -q -F -b 4096 -E nodiscard,lazy_itable_init=0 -L thinpack-scale "$LOOP"
	mount -o noatime "$LOOP" "$MNT"
	spawn "${SCALE[@]}" age "$MNT" --gib "$g" --seed "$BENCH_SEED" >"$WORK/s$g.age"
	read -r _ files _ dirs _ deleted _ wbytes _ used <"$WORK/s$g.age"
	sync
	# The deleted files' blocks become holes of the image: smaller copies.
	fstrim "$MNT"
	umount "$MNT"
	detach
	sync -f "$fx"
	"${HELPER[@]}" usage "$fx" "$GRANULARITY" "$WORK/s$g.usage.before.json"
	put "$g" 0 files "$files"
	put "$g" 0 dirs "$dirs"
	put "$g" 0 deleted "$deleted"
	put "$g" 0 aged_written "$wbytes"
	put "$g" 0 used "$used"
	put "$g" 0 aged_s "$(since "$t")"
	put "$g" 0 image_bytes "$(($(stat -c %b "$fx") * 512))"
	say "bench/scale: $g GiB aged in $(since "$t") s: $files files in $dirs directories ($deleted deleted), ${used} used"
done

# ---- the hot-files fixture ---------------------------------------------------

# Issue 14 wants freed / bound on aged fixtures with and without hot files:
# files just written, scattered, which compaction must leave where they
# are.  The smallest fixture, every inode's mtime and ctime set a week back
# (debugfs, unmounted), then BENCH_HOT_FILES files rewritten (new blocks
# where the allocator puts them, times of now) and fstrim: report and
# compact with --min-age HOT_MIN_AGE leave exactly those, and the bound is
# the report's with the same --min-age.
HOT_FILES=${BENCH_HOT_FILES:-150}
HOT_MIN_AGE=86400
[[ $HOT_FILES =~ ^[0-9]+$ ]] || die "BENCH_HOT_FILES=$HOT_FILES: expected a number"
if ((HOT_FILES > 0)); then
	g=${sizes[0]}
	t=$(now)
	spawn "${HELPER[@]}" copy "$WORK/fixture-$g.img" "$WORK/fixture-hot.img"
	attach "$WORK/fixture-hot.img"
	mount -o noatime "$LOOP" "$MNT"
	"${SCALE[@]}" inodes "$MNT" --when $(($(date +%s) - 7 * 86400)) >"$WORK/hot.debugfs"
	umount "$MNT"
	debugfs -w -f "$WORK/hot.debugfs" "$LOOP" >/dev/null 2>"$WORK/hot.debugfs.err" ||
		die "debugfs: $(tail -n 3 "$WORK/hot.debugfs.err")"
	mount -o noatime "$LOOP" "$MNT"
	spawn "${SCALE[@]}" hot "$MNT" --files "$HOT_FILES" --seed "$BENCH_SEED" >"$WORK/hot.out"
	fstrim "$MNT"
	umount "$MNT"
	detach
	sync -f "$WORK/fixture-hot.img"
	"${HELPER[@]}" usage "$WORK/fixture-hot.img" "$GRANULARITY" "$WORK/hot.usage.before.json"
	put "$g" 0 hot_files "$HOT_FILES"
	say "bench/scale: hot-files fixture ($g GiB, $HOT_FILES files just written) in $(since "$t") s"
fi

put "${sizes[0]}" 0 dio "$DIO"
put "${sizes[0]}" 0 seed "$BENCH_SEED"
put "${sizes[0]}" 0 thinpack "$THINPACK ($("$THINPACK" --version 2>&1 | head -n 1))"

# ---- the rounds: every size, every kind, taking turns ------------------------

# One round of size G: report, dry-run, compact on a restored copy; the
# clusters it emptied (dumpe2fs); cp and dd of their bytes on the same
# filesystem; offline on another restored copy.  Each run cold.
round() {
	local g=$1 r=$2 p=s$1.r$2 w0 t min_io cp_bytes report dryrun compact cp dd
	local calls secs

	# What else ran: the verdict is only as good as the machine was quiet.
	put "$g" "$r" load_before "$(cut -d ' ' -f 1 /proc/loadavg)"
	restore "$g"
	mount -o noatime "$LOOP" "$MNT"

	drop_caches
	run "$p.report" 0,1 "$THINPACK" report --json --min-age 0 --granularity 1M "$MNT"
	put "$g" "$r" report_wall "$WALL"
	report=$WALL
	put "$g" "$r" report_rss "$RSS"
	put "$g" "$r" report_cpu "$CPU"
	((r > 1)) || put "$g" 0 report_json "$WORK/$p.report.out"

	drop_caches
	run "$p.dryrun" 0 "$THINPACK" compact --dry-run "${TP_OPTS[@]}" "$MNT"
	put "$g" "$r" dryrun_wall "$WALL"
	dryrun=$WALL
	put "$g" "$r" dryrun_rss "$RSS"
	put "$g" "$r" dryrun_cpu "$CPU"

	drop_caches
	w0=$(written)
	run "$p.compact" 0,1 "$THINPACK" compact "${TP_OPTS[@]}" "$MNT"
	put "$g" "$r" compact_wall "$WALL"
	compact=$WALL
	put "$g" "$r" compact_rss "$RSS"
	put "$g" "$r" compact_cpu "$CPU"
	put "$g" "$r" compact_rc "$RC"
	put "$g" "$r" compact_json "$WORK/$p.compact.out"
	[[ $RC -eq 0 ]] || say "bench/scale: WARNING: $g GiB round $r: compact exited 1: $(tail -n 3 "$WORK/$p.compact.err")"
	t=$(now)
	sync -f "$MNT"
	put "$g" "$r" compact_sync "$(since "$t")"
	put "$g" "$r" compact_written "$(($(written) - w0))"
	say "$(printf 'bench/scale: %s GiB round %s: report %.2f s, dry-run %.2f s, compact %.1f s, moved %s MiB' \
		"$g" "$r" "$report" "$dryrun" "$compact" \
		"$(($(json "$WORK/$p.compact.out" filesystems.0.moved_bytes) >> 20))")"
	umount "$MNT"
	put "$g" "$r" compact_written_umount "$(($(written) - w0))"

	# The clusters emptied, counted without thinpack: used blocks per
	# cluster from dumpe2fs's free ranges, before and after.
	"${HELPER[@]}" usage "$LOOP" "$GRANULARITY" "$WORK/$p.usage.after.json"
	"${HELPER[@]}" emptied "$WORK/s$g.usage.before.json" \
		"$WORK/$p.usage.after.json" "$WORK/$p.emptied.json"
	put "$g" "$r" emptied_json "$WORK/$p.emptied.json"
	if ((r == 1)); then
		if e2fsck -fn "$LOOP" >"$WORK/$p.fsck" 2>&1; then
			put "$g" "$r" fsck_online clean
		else
			put "$g" "$r" fsck_online "not clean, see $p.fsck"
		fi
	fi

	# The physical limit: the minimum I/O's bytes copied on the same
	# filesystem, on the same device, cold.
	min_io=$(json "$WORK/$p.emptied.json" min_io_bytes)
	cp_bytes=$(((min_io + 4095) / 4096 * 4096))
	((cp_bytes >= 1048576)) || cp_bytes=1048576
	mount -o noatime "$LOOP" "$MNT"
	head -c "$cp_bytes" /dev/urandom >"$MNT/limit-src"
	put "$g" "$r" cp_bytes "$cp_bytes"
	drop_caches
	# shellcheck disable=SC2016 # $1 and $2 are the inner shell's
	run "$p.cp" 0 sh -c 'cp -- "$1" "$2" && sync -f "$2"' sh "$MNT/limit-src" "$MNT/limit-cp"
	put "$g" "$r" cp_wall "$WALL"
	cp=$WALL
	drop_caches
	run "$p.dd" 0 dd if="$MNT/limit-src" of="$MNT/limit-dd" bs=4M \
		iflag=direct oflag=direct conv=fsync status=none
	put "$g" "$r" dd_wall "$WALL"
	dd=$WALL
	umount "$MNT"
	detach

	# Offline, on the unmounted loop device of another restored copy: the
	# same device as dd, and its writes counted the same way.
	restore "$g"
	drop_caches
	w0=$(written)
	run "$p.offline" 0,1 "$THINPACK" compact --offline "${TP_OPTS[@]}" "$LOOP"
	put "$g" "$r" offline_wall "$WALL"
	put "$g" "$r" offline_rss "$RSS"
	put "$g" "$r" offline_cpu "$CPU"
	put "$g" "$r" offline_rc "$RC"
	put "$g" "$r" offline_json "$WORK/$p.offline.out"
	[[ $RC -eq 0 ]] || say "bench/scale: WARNING: $g GiB round $r: offline exited 1: $(tail -n 3 "$WORK/$p.offline.err")"
	t=$(now)
	sync
	put "$g" "$r" offline_sync "$(since "$t")"
	put "$g" "$r" offline_written "$(($(written) - w0))"
	"${HELPER[@]}" usage "$LOOP" "$GRANULARITY" "$WORK/$p.offline.usage.json"
	"${HELPER[@]}" emptied "$WORK/s$g.usage.before.json" \
		"$WORK/$p.offline.usage.json" "$WORK/$p.offline.emptied.json"
	put "$g" "$r" offline_emptied_json "$WORK/$p.offline.emptied.json"
	if ((r == 1)); then
		if e2fsck -fn "$LOOP" >"$WORK/$p.offline.fsck" 2>&1; then
			put "$g" "$r" fsck_offline clean
		else
			put "$g" "$r" fsck_offline "not clean, see $p.offline.fsck"
		fi
	fi
	put "$g" "$r" load_after "$(cut -d ' ' -f 1 /proc/loadavg)"
	say "$(printf 'bench/scale: %s GiB round %s: cp %.2f s, dd %.2f s of %s MiB; offline %.1f s' \
		"$g" "$r" "$cp" "$dd" "$((cp_bytes >> 20))" "$WALL")"
	detach

	# What giving those clusters back costs the device by itself: the
	# same clusters discarded, in as few calls, on another restored copy
	# (a loop device punches a hole in its backing file for each).
	restore "$g"
	drop_caches
	read -r calls secs < <("${HELPER[@]}" discard "$LOOP" \
		"$WORK/$p.offline.usage.json" "$WORK/$p.offline.emptied.json")
	put "$g" "$r" discard_calls "$calls"
	put "$g" "$r" discard_wall "$secs"
	detach

	# What moving the same data costs with MOVE_EXT and nothing else, on
	# two more restored copies: each piece into a donor the kernel places
	# ("plain", what a kernel that allocates a chosen physical block would
	# leave), and the same with one block borrowed and returned around
	# as many of the pieces as compact filled holes (dumpe2fs: about one
	# placement each, what a borrow placement cannot do without).  No
	# placement, check or ordering: the floor of the method, not a
	# compaction (the data lands where the kernel puts it).
	local m pieces moved wr plain="" holes
	holes=$(json "$WORK/$p.emptied.json" holes_filled)
	put "$g" "$r" holes_filled "$holes"
	for m in plain borrow; do
		restore "$g"
		mount -o noatime "$LOOP" "$MNT"
		# shellcheck disable=SC2046 # "borrow N": two words
		read -r pieces moved secs wr < <("${HELPER[@]}" move-floor \
			"$MNT" "$WORK/$p.emptied.json" $([[ $m == plain ]] && echo plain || echo "borrow $holes"))
		[[ -n $wr ]] || die "compact.py move-floor $m failed at $g GiB"
		put "$g" "$r" "floor_${m}_wall" "$secs"
		put "$g" "$r" "floor_${m}_written" "$wr"
		put "$g" "$r" "floor_${m}_moved" "$moved"
		put "$g" "$r" "floor_${m}_pieces" "$pieces"
		umount "$MNT"
		if ((r == 1)); then
			if e2fsck -fn "$LOOP" >"$WORK/$p.floor-$m.fsck" 2>&1; then
				put "$g" "$r" "fsck_floor_$m" clean
			else
				put "$g" "$r" "fsck_floor_$m" "not clean, see $p.floor-$m.fsck"
			fi
		fi
		detach
		[[ -n $plain ]] || plain=$secs
	done
	say "$(printf 'bench/scale: %s GiB round %s: MOVE_EXT alone %.2f s, with a borrow %.2f s' \
		"$g" "$r" "$plain" "$secs")"
	rm -f "$IMG"
}

# hot_round ROUND: report and compact on the hot-files fixture, --min-age
# HOT_MIN_AGE; the clusters emptied by dumpe2fs, against the report's bound.
hot_round() {
	local g=${sizes[0]} r=$1 p=hot.r$1
	restore hot
	mount -o noatime "$LOOP" "$MNT"
	run "$p.report" 0,1 "$THINPACK" report --json --min-age "$HOT_MIN_AGE" --granularity 1M "$MNT"
	put "$g" "$r" hot_report_json "$WORK/$p.report.out"
	drop_caches
	run "$p.compact" 0,1 "$THINPACK" compact --json --min-age "$HOT_MIN_AGE" --slack 0 \
		--max-usage 100 --granularity 1M "$MNT"
	put "$g" "$r" hot_compact_json "$WORK/$p.compact.out"
	umount "$MNT"
	"${HELPER[@]}" usage "$LOOP" "$GRANULARITY" "$WORK/$p.usage.after.json"
	"${HELPER[@]}" emptied "$WORK/hot.usage.before.json" \
		"$WORK/$p.usage.after.json" "$WORK/$p.emptied.json"
	put "$g" "$r" hot_emptied_json "$WORK/$p.emptied.json"
	say "$(printf 'bench/scale: hot files, round %s: compact %.1f s, %s of a bound of %s clusters emptied' \
		"$r" "$WALL" "$(json "$WORK/$p.compact.out" filesystems.0.clusters_emptied)" \
		"$(json "$WORK/$p.report.out" filesystems.0.reclaim.bound_clusters)")"
	detach
	rm -f "$IMG"
}

max_rounds=0
for g in "${sizes[@]}"; do
	n=$(rounds_of "$g")
	((n <= max_rounds)) || max_rounds=$n
done
for ((r = 1; r <= max_rounds; r++)); do
	for g in "${sizes[@]}"; do
		(($(rounds_of "$g") >= r)) || continue
		round "$g" "$r"
	done
	if ((HOT_FILES > 0 && $(rounds_of "${sizes[0]}") >= r)); then
		hot_round "$r"
	fi
done

# ---- the system calls: one run per size under strace, not timed --------------

if [[ $BENCH_STRACE != 0 ]]; then
	for g in "${sizes[@]}"; do
		p=s$g.strace
		restore "$g"
		mount -o noatime "$LOOP" "$MNT"
		drop_caches
		# -e raw=ioctl: the request as a number, decoded by scale.py
		# whatever this strace's version knows; -T: time in each call.
		run "$p" 0,1 strace -f -qq -T -e raw=ioctl -o "$WORK/$p.strace" \
			"$THINPACK" compact "${TP_OPTS[@]}" "$MNT"
		put "$g" 0 strace_wall "$WALL"
		put "$g" 0 strace_moved "$(json "$WORK/$p.out" filesystems.0.moved_bytes)"
		umount "$MNT"
		detach
		rm -f "$IMG"
		"${SCALE[@]}" syscalls "$WORK/$p.strace" "$WORK/$p.json"
		rm -f "$WORK/$p.strace"
		put "$g" 0 syscalls_json "$WORK/$p.json"
		say "bench/scale: $g GiB under strace: $(printf '%.1f' "$WALL") s"
	done
fi

say "bench/scale: done in $(since "$T0") s"
echo
"${SCALE[@]}" summary "$RESULTS"
