#!/bin/bash
# Build and run the whole test suite: the unit, image and root tiers (make
# check); all of them again with ASan+UBSan; and make distcheck.  Run as
# root: the root tier needs loop devices and mounts.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/setup.sh"
jobs=$(nproc)
status=0

# check DIR: make check in a build directory; print the logs of failures.
check() {
	local dir=$1 log
	echo "== make check in $dir" >&2
	if ! make -C "$dir" -j"$jobs" check; then
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

mkdir -p "$top/build-asan"
(cd "$top/build-asan" && { [ -f Makefile ] || ../configure -q --enable-sanitizers; } &&
	make -j"$jobs" >/dev/null)
check "$top/build-asan"

echo "== make distcheck" >&2
make -C "$top/build" -j"$jobs" distcheck >/dev/null || status=1

if [ $status -ne 0 ]; then
	echo "test: FAILED" >&2
	exit 1
fi
echo "test: all passed" >&2
