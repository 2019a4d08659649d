#!/bin/bash
# Build and run the whole test suite: the unit, image and root tiers (make
# check); the VM tier on two kernels; all of the first again with
# ASan+UBSan; a build with clang (warnings are errors there too); make
# distcheck; and the Debian package with lintian.  Run as root: the root
# tier needs loop devices and mounts.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)

# Warnings are errors here (and in CI), not in a default ./configure: every
# build below, build/ included (setup.sh adds THINPACK_CONFIGURE_FLAGS to
# its configure line; a build/ configured without them, e.g. by demo.sh, is
# configured again), and make distcheck's.
werror=--enable-werror
export THINPACK_CONFIGURE_FLAGS=$werror
if [ -f "$top/build/config.status" ] &&
	! grep -q -e "$werror" "$top/build/config.status"; then
	rm -f "$top/build/Makefile"
fi
"$top/scripts/setup.sh"
jobs=$(nproc)
status=0
# took WHAT: the time since the last one, for the notes on CI's budget.
t0=$SECONDS
took() { echo "== $1 took $((SECONDS - t0)) s" >&2; t0=$SECONDS; }

# check DIR [MAKE-ARGS...]: make check in a build directory; print the
# logs of failures.
check() {
	local dir=$1 log
	shift
	echo "== make check in $dir" >&2
	if ! make -C "$dir" -j"$jobs" check "$@"; then
		status=1
		for log in $(find "$dir/tests" -name '*.trs'); do
			if grep -qE '^:test-result: (FAIL|ERROR)' "$log"; then
				echo "---- ${log%.trs}.log" >&2
				cat "${log%.trs}.log" >&2
			fi
		done
	fi
}

check "$top/build"
took "the build and make check"

# The VM tier (make check-vm runs every scenario on every kernel of
# tests/vm/kernels.list): real LVM and dm-thin pools in qemu.  Within CI's
# time (about 16 of its 38 minutes), every kernel of the matrix runs a
# part: the oldest the pools and the power cuts, trixie's the cloud
# volume, the stacks over a thin LV (kpartx, loop) and power cuts of
# offline compaction, the newest what depends most on the kernel:
# snapshots, MOVE_EXT's semantics, power cuts.
vm_old="lvm-thin lvm-thin-snapshot powercut-logwrites"
vm_mid="cloud-volume lvm-thin-stacked powercut-offline"
vm_new="lvm-thin-snapshot move-semantics powercut-logwrites"
echo "== the VM tier: bookworm ($vm_old), trixie ($vm_mid), newest ($vm_new)" >&2
VM_SCENARIOS=$vm_old make -C "$top/build" check-vm VM_KERNELS=bookworm || status=1
VM_SCENARIOS=$vm_mid make -C "$top/build" check-vm VM_KERNELS=trixie || status=1
VM_SCENARIOS=$vm_new make -C "$top/build" check-vm VM_KERNELS=newest || status=1
took "the VM tier"

# build DIR CONFIGURE-ARGS...: configure (once, or again if it was without
# -Werror) and build in DIR.
build() {
	local dir=$top/$1
	shift
	mkdir -p "$dir"
	echo "== build in $dir" >&2
	if ! (cd "$dir" && { { [ -f Makefile ] && grep -q -e "$werror" config.status; } ||
		../configure -q "$@"; } &&
		make -j"$jobs" >/dev/null); then
		status=1
		return 1
	fi
}

# Every test again under ASan+UBSan but the three that cut a run with
# SIGKILL or a power cut, over and over: after the cut no code of ours
# runs, so the sanitizers see nothing there that the other tests do not
# show, and the three are a third of the tier's time.  They run above.
if build build-asan --enable-sanitizers "$werror"; then
	asan_tests=$(make -s --no-print-directory -C "$top/build-asan" print-tests |
		tr ' ' '\n' | grep -x 'tests/.*' | grep -v -x -e tests/root/compact-crash.sh \
		-e tests/root/compact-powercut.sh -e tests/root/offline-crash.sh | tr '\n' ' ')
	check "$top/build-asan" TESTS="$asan_tests"
fi
took "the ASan+UBSan tier"

build build-clang CC=clang "$werror" || true
took "the clang build"

echo "== make distcheck" >&2
make -C "$top/build" -j"$jobs" distcheck DISTCHECK_CONFIGURE_FLAGS="$werror" \
	>/dev/null || status=1
took "make distcheck"

# The Debian package, from a copy of the tree, and lintian on it (errors
# fail; about a minute).
echo "== the Debian package: scripts/build-deb.sh" >&2
"$top/scripts/build-deb.sh" "$top/build-pkg" >"$top/build-pkg.log" 2>&1 || {
	tail -40 "$top/build-pkg.log" >&2
	status=1
}
took "the Debian package"

if [ $status -ne 0 ]; then
	echo "test: FAILED" >&2
	exit 1
fi
echo "test: all passed" >&2
