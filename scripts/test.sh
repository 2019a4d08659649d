#!/bin/bash
# Build and run the whole test suite: the unit, image and root tiers (make
# check); all of them again with ASan+UBSan; a build with clang (warnings
# are errors there too); and make distcheck.  Run as root: the root tier
# needs loop devices and mounts.
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

# build DIR CONFIGURE-ARGS...: configure (once) and build in DIR.
build() {
	local dir=$top/$1
	shift
	mkdir -p "$dir"
	echo "== build in $dir" >&2
	if ! (cd "$dir" && { [ -f Makefile ] || ../configure -q "$@"; } &&
		make -j"$jobs" >/dev/null); then
		status=1
		return 1
	fi
}

if build build-asan --enable-sanitizers; then
	check "$top/build-asan"
fi

build build-clang CC=clang || true

echo "== make distcheck" >&2
make -C "$top/build" -j"$jobs" distcheck >/dev/null || status=1

if [ $status -ne 0 ]; then
	echo "test: FAILED" >&2
	exit 1
fi
echo "test: all passed" >&2
