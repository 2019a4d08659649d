# shellcheck shell=bash
# What the benchmarks share: bash, strict mode, messages, the root check.
# Source it with BENCH_NAME set (scan, compact).

set -euo pipefail

GRANULARITY=1048576

say() { printf '%s\n' "$*" >&2; }
die() { say "bench/$BENCH_NAME: $*"; exit 1; }

if [[ $EUID -ne 0 ]]; then
	if [[ ${CI:-} == true ]]; then
		die "needs root (loop devices, mount, drop_caches); CI=true, so this is a failure"
	fi
	say "bench/$BENCH_NAME: SKIP: needs root (loop devices, mount, drop_caches)"
	exit 77
fi

BENCH_DIR=${BENCH_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)}
THINPACK=${THINPACK:-./thinpack}
RUNSTAT=${RUNSTAT:-./bench/runstat}
PYTHON3=${PYTHON3:-python3}
if [[ $PYTHON3 == no ]]; then PYTHON3=python3; fi

# now: seconds since the epoch, with nanoseconds.  since START [DIGITS]:
# seconds from START to now, DIGITS decimals (2).
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" -v d="${2:-2}" 'BEGIN { printf "%.*f", d, b - a }'; }
drop_caches() {
	sync
	echo 3 >/proc/sys/vm/drop_caches
}

# bench_traps FUNCTION: run FUNCTION on exit, and exit on HUP, INT, TERM
# with the shell's codes (so that FUNCTION runs then too).
bench_traps() {
	trap "$1" EXIT
	trap 'exit 129' HUP
	trap 'exit 130' INT
	trap 'exit 143' TERM
}
