#!/bin/bash
# The demo: build thinpack, make an emulated thin device (a filesystem image
# on an outer ext4 with 1 MiB bigalloc clusters, so the image frees space
# only in whole 1 MiB chunks, like a thin pool), age a filesystem on it with
# months of creates and deletes in a few seconds, show that fstrim cannot
# give the space back, what thinpack report finds, and what thinpack
# compact gives back.  Run as root.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/setup.sh"

export THINPACK=$top/build/thinpack TESTS_DIR=$top/tests
. "$top/tests/lib/common.sh"
trap - ERR
if [ "$(id -u)" -ne 0 ]; then
	echo "demo: needs root (loop devices and mounts)" >&2
	exit 1
fi
tp_workdir
map=$top/build/demo-map.svg

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
pool_usage() {
	printf 'filesystem: %s used of %s (df)\n' \
		"$(df -B1 --output=used "$TP_MNT" | tail -1 | numfmt --to=iec)" \
		"$(df -B1 --output=size "$TP_MNT" | tail -1 | numfmt --to=iec)"
	printf 'thin pool:  %s allocated to the device (stat %%b of its image)\n' \
		"$(tp_allocated "$TP_IMG" | numfmt --to=iec)"
}

say "An emulated thin device with 1 MiB chunks, and ext4 on it"
tp_thin_pool 2G
tp_thin_fs demo 512M
echo "$TP_DEV on $TP_MNT, image $TP_IMG"

say "Ageing it: fill to 60%, delete half, twice; refill to 40%"
tp_age "$TP_MNT" --seed 2026
fstrim "$TP_MNT"
sync
pool_usage
echo "fstrim ran, yet the pool still holds far more than the filesystem uses:"
echo "most 1 MiB chunks keep a few live blocks."

say "thinpack report --granularity 1M --min-age 0 $TP_MNT"
echo "(--granularity: the loop device cannot know the pool's chunk size;"
echo " --min-age 0: every file here is minutes old)"
"$THINPACK" report --granularity 1M --min-age 0 --map "$map" "$TP_MNT" || true
"$PYTHON3" "$TP_PY" manifest "$TP_MNT" >"$TP_WORK/before.sums"

say "thinpack compact --granularity 1M --min-age 0 --max-usage 100 $TP_MNT"
"$THINPACK" compact --granularity 1M --min-age 0 --max-usage 100 "$TP_MNT" || true
sync
pool_usage
"$PYTHON3" "$TP_PY" manifest "$TP_MNT" >"$TP_WORK/after.sums"
if cmp -s "$TP_WORK/before.sums" "$TP_WORK/after.sums"; then
	echo "every file reads back the same bytes as before (sha256 of all $(wc -l <"$TP_WORK/after.sums"))"
else
	echo "demo: FILE CONTENTS CHANGED" >&2
	exit 1
fi
tp_umount "$TP_MNT"
e2fsck -fn "$TP_DEV" >/dev/null 2>&1 && echo "e2fsck -fn: clean"
echo
echo "The cluster map before compaction is in $map"
