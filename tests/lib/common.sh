# shellcheck shell=bash
# Shared by the image and root test tiers, and by scripts/demo.sh.
#
# The emulated thin device (doc/design.md): the test filesystem's image
# lives on an outer ext4 made with -O bigalloc -C 1M, attached by a loop
# device.  Discards punch the image file, and the outer filesystem frees
# only whole 1 MiB clusters, so the image's allocated size (stat -c %b)
# behaves like a thin pool with 1 MiB chunks.

set -euo pipefail

: "${THINPACK:=thinpack}"
: "${PYTHON3:=python3}"
TESTS_DIR=${TESTS_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
TP_PY="$TESTS_DIR/lib/tp.py"

tp_name=$(basename "${0%.sh}")
tp_failed=0
# set -e ends a test at the first failing command: say which.
trap 'printf "%s: FAIL: line %s: %s exited %s\n" "$tp_name" "$LINENO" "$BASH_COMMAND" "$?" >&2' ERR
set -E

tp_log() { printf '%s: %s\n' "$tp_name" "$*" >&2; }
tp_fail() {
	printf '%s: FAIL: %s\n' "$tp_name" "$*" >&2
	tp_failed=1
}
tp_die() {
	printf '%s: FAIL: %s\n' "$tp_name" "$*" >&2
	exit 1
}
# Exit status of a test: 0, 1 on any tp_fail.
tp_done() {
	if [ "$tp_failed" -ne 0 ]; then
		tp_log "failed"
		exit 1
	fi
	tp_log "passed"
	exit 0
}

# Root tests: skip (77) without root, but fail under CI, where every test
# must run.
tp_require_root() {
	if [ "$(id -u)" -ne 0 ]; then
		if [ "${CI:-}" = true ]; then
			tp_die "needs root (CI=true: not skipping)"
		fi
		tp_log "skipped (not root)"
		exit 77
	fi
	local t
	for t in losetup mkfs.ext4 dumpe2fs mount umount "$PYTHON3"; do
		command -v "$t" >/dev/null 2>&1 || tp_die "needs $t"
	done
	if ! losetup -f >/dev/null 2>&1; then
		if [ "${CI:-}" = true ]; then
			tp_die "no free loop device (CI=true: not skipping)"
		fi
		tp_log "skipped (no loop devices)"
		exit 77
	fi
}

# tp_private_mounts "$@": run the rest of the test in a mount namespace of
# its own (first thing, after tp_require_root).  A test that watches the
# whole mount table needs it: the root tests run in parallel, and the
# mounts another test makes after this point are not seen here (nor are
# this test's seen there).  If the test dies, its mounts go with the
# namespace.
tp_private_mounts() {
	if [ "${TP_PRIVATE_MOUNTS:-}" = 1 ]; then
		unset TP_PRIVATE_MOUNTS
		return 0
	fi
	command -v unshare >/dev/null 2>&1 || tp_die "needs unshare"
	exec env TP_PRIVATE_MOUNTS=1 unshare --mount --propagation private \
		bash "$0" "$@"
}

# ---- resources, released in reverse order at exit, even on failure -------

# One stack of "mount DIR" and "loop DEV" entries: a loop device under a
# mount must outlive it, and a mount inside a filesystem on a loop device
# must go before that loop device's filesystem.  "pid PID": a background
# process of the test (one holding files open), killed before what it holds.
tp_stack=()
TP_WORK=

tp_release() {
	local kind=${1%% *} what=${1#* }
	case $kind in
	mount)
		if mountpoint -q "$what" 2>/dev/null; then
			umount "$what" 2>/dev/null || umount -l "$what" 2>/dev/null
		fi
		;;
	loop)
		losetup -d "$what" 2>/dev/null
		;;
	loop-remove)
		losetup -d "$what" 2>/dev/null
		tp_loop_remove "$what"
		;;
	swap)
		swapoff "$what" 2>/dev/null
		;;
	pid)
		kill "$what" 2>/dev/null || true
		wait "$what" 2>/dev/null || true
		;;
	load)
		# the reader ends after its current dd: not killed, so that
		# no dd is left holding the loop device
		rm -f "$TP_WORK/load.on"
		wait "$what" 2>/dev/null
		;;
	esac
}

tp_cleanup() {
	local i
	set +e
	for ((i = ${#tp_stack[@]} - 1; i >= 0; i--)); do
		tp_release "${tp_stack[i]}"
	done
	tp_stack=()
	if [ -n "$TP_WORK" ] && [ -d "$TP_WORK" ]; then
		rm -rf "$TP_WORK"
	fi
}

tp_workdir() {
	TP_WORK=$(mktemp -d "${TMPDIR:-/tmp}/thinpack-${tp_name}.XXXXXX")
	# The per-filesystem lock files (thinpack(8)) of this test's runs, not
	# the host's /run/thinpack.
	export THINPACK_LOCK_DIR=$TP_WORK/lock
	trap tp_cleanup EXIT
	trap 'exit 130' INT TERM
}

tp_forget() {
	local i
	for i in "${!tp_stack[@]}"; do
		if [ "${tp_stack[i]}" = "$1" ]; then
			unset 'tp_stack[i]'
		fi
	done
	tp_stack=("${tp_stack[@]}")
}

# tp_loop VAR FILE [losetup options...]: attach FILE, device name in VAR.
tp_loop() {
	local _tp_var=$1 _tp_file=$2 _tp_dev
	shift 2
	_tp_dev=$(losetup --find --show "$@" "$_tp_file")
	tp_stack+=("loop $_tp_dev")
	printf -v "$_tp_var" '%s' "$_tp_dev"
}

tp_loop_detach() {
	local i
	for i in "${!tp_stack[@]}"; do
		case ${tp_stack[i]} in
		"loop $1" | "loop-remove $1")
			tp_release "${tp_stack[i]}"
			unset 'tp_stack[i]'
			;;
		esac
	done
	tp_stack=("${tp_stack[@]}")
}

# Remove a detached loop device, so that the next user gets a new one with
# default queue limits (losetup recreates it through /dev/loop-control).
tp_loop_remove() {
	"$PYTHON3" - "${1#/dev/loop}" <<'PY'
import fcntl, os, sys, time
fd = os.open("/dev/loop-control", os.O_RDWR)
for _ in range(50):
    try:
        fcntl.ioctl(fd, 0x4C81, int(sys.argv[1]))  # LOOP_CTL_REMOVE
        break
    except OSError:
        time.sleep(0.1)
PY
}

# tp_loop_nodiscard DEV: DEV refuses discards from now on.  A loop device
# keeps that setting after losetup -d and it cannot be undone, so DEV is
# removed at cleanup.
tp_loop_nodiscard() {
	local i
	echo 0 >"/sys/block/${1#/dev/}/queue/discard_max_bytes"
	for i in "${!tp_stack[@]}"; do
		if [ "${tp_stack[i]}" = "loop $1" ]; then
			tp_stack[i]="loop-remove $1"
		fi
	done
}

# tp_io_load_start: I/O pressure (some avg10 in /proc/pressure/io well
# above 10 on these machines): two readers of random 64 MiB stretches,
# direct I/O, of a loop device with direct I/O on 256 MiB of real data in
# $TP_WORK, outside any pool, until tp_io_load_stop or cleanup.
tp_io_load_start() {
	local j
	if [ -z "${tp_load_dev:-}" ]; then
		dd if=/dev/urandom of="$TP_WORK/load.img" bs=1M count=256 status=none
		tp_loop tp_load_dev "$TP_WORK/load.img" --direct-io=on
	fi
	touch "$TP_WORK/load.on"
	for j in 1 2; do
		(
			trap - ERR
			while [ -e "$TP_WORK/load.on" ]; do
				dd if="$tp_load_dev" of=/dev/null bs=1M count=64 iflag=direct \
					skip=$((RANDOM % 192)) status=none || true
			done
		) &
		tp_stack+=("load $!")
	done
}

tp_io_load_stop() {
	local i
	for i in "${!tp_stack[@]}"; do
		case ${tp_stack[i]} in
		load\ *)
			tp_release "${tp_stack[i]}"
			unset 'tp_stack[i]'
			;;
		esac
	done
	tp_stack=("${tp_stack[@]}")
}

# tp_mount SOURCE DIR [mount options...]
tp_mount() {
	local src=$1 dir=$2
	shift 2
	mkdir -p "$dir"
	mount "$@" "$src" "$dir"
	tp_stack+=("mount $dir")
}

tp_umount() {
	umount "$1"
	tp_forget "mount $1"
}

# ---- the emulated thin device ---------------------------------------------

# tp_thin_pool [SIZE]: the outer bigalloc filesystem, mounted on $TP_POOL.
tp_thin_pool() {
	local size=${1:-2G} dev
	truncate -s "$size" "$TP_WORK/pool.img"
	mkfs.ext4 -q -F -O bigalloc -C 1M -E nodiscard "$TP_WORK/pool.img"
	tp_loop dev "$TP_WORK/pool.img"
	TP_POOL=$TP_WORK/pool
	tp_mount "$dev" "$TP_POOL"
}

# tp_thin_fs NAME SIZE [--offset BYTES] [-- mkfs.ext4 options...]
# A filesystem on an image in the pool, attached by loop (at an offset to
# emulate a partition that starts off the cluster grid) and mounted on
# $TP_WORK/NAME.  Sets TP_DEV, TP_MNT, TP_IMG.
tp_thin_fs() {
	local name=$1 size=$2 offset=0
	shift 2
	if [ "${1:-}" = --offset ]; then
		offset=$2
		shift 2
	fi
	[ "${1:-}" = -- ] && shift
	TP_IMG=$TP_POOL/$name.img
	truncate -s "$((offset + $(numfmt --from=iec "$size")))" "$TP_IMG"
	tp_loop TP_DEV "$TP_IMG" --offset "$offset"
	mkfs.ext4 -q -F -E nodiscard "$@" "$TP_DEV"
	TP_MNT=$TP_WORK/$name
	tp_mount "$TP_DEV" "$TP_MNT"
}

# Bytes the pool holds for a file: stat -c %b, as an administrator reads
# it; and the data chunks alone (tp.py chunks), which leaves out the
# fixture's own overhead (the image's extent-tree blocks on the bigalloc
# pool each take a 1 MiB cluster, and punching holes grows that tree).
tp_allocated() { echo $(($(stat -c %b "$1") * 512)); }
tp_chunks() { "$PYTHON3" "$TP_PY" chunks "$1"; }

# tp_age DIR [seed] [options...]: fill a filesystem the way months of
# creates and deletes do (tests/lib/tp.py age --help).
tp_age() {
	local dir=$1
	shift
	"$PYTHON3" "$TP_PY" age "$dir" "$@"
	sync
}

# ---- checks ------------------------------------------------------------------

# Checks record a failure and let the test go on (tp_done decides).

# tp_fsck DEV: e2fsck -fn must be clean.
tp_fsck() {
	local out
	if ! out=$(e2fsck -fn "$1" 2>&1); then
		tp_fail "e2fsck -fn $1:"$'\n'"$out"
	fi
}

# tp_expect_exit CODE PATTERN -- ARGS...: thinpack ARGS exits CODE and its
# stderr matches the extended regular expression PATTERN.
tp_expect_exit() {
	local code=$1 pattern=$2 rc=0 err
	shift 3
	err=$("$THINPACK" "$@" 2>&1 >/dev/null) || rc=$?
	if [ "$rc" -ne "$code" ]; then
		tp_fail "thinpack $*: exit $rc, want $code ($err)"
	elif ! grep -Eq -- "$pattern" <<<"$err"; then
		tp_fail "thinpack $*: message '$err' does not match /$pattern/"
	fi
}

# tp_expect_eq WHAT GOT WANT
tp_expect_eq() {
	if [ "$2" != "$3" ]; then
		tp_fail "$1: got '$2', want '$3'"
	fi
}

# tp_snapshot MOUNTPOINT: record every file's contents and extents, and the
# space accounting, for tp_expect_unchanged.
tp_snapshot() {
	"$PYTHON3" "$TP_PY" layout "$1" >"$TP_WORK/layout.before"
	"$PYTHON3" "$TP_PY" space "$1" >"$TP_WORK/space.before"
}

# tp_expect_unchanged MOUNTPOINT [WHEN]: no file changed in contents or
# extents since tp_snapshot, and no block or inode was leaked or gained;
# WHEN names the moment in a failure's message.
tp_expect_unchanged() {
	local when=${2:+$2: } d
	"$PYTHON3" "$TP_PY" layout "$1" >"$TP_WORK/layout.after"
	if ! cmp -s "$TP_WORK/layout.before" "$TP_WORK/layout.after"; then
		d=$(diff "$TP_WORK/layout.before" "$TP_WORK/layout.after" || true)
		tp_fail "${when}$(grep -c '^>' <<<"$d" || true) files changed: $(sed -n 1,6p <<<"$d")"
	fi
	"$PYTHON3" "$TP_PY" space "$1" >"$TP_WORK/space.after"
	tp_expect_eq "${when}free + owned blocks, free inodes" "$(cat "$TP_WORK/space.after")" \
		"$(cat "$TP_WORK/space.before")"
}
