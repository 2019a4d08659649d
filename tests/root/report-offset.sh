#!/bin/bash
# A filesystem that does not start on a cluster boundary (a partition at
# 1 MiB + 4 KiB, emulated with losetup --offset, as the local kernel has no
# partition tables): clusters are aligned to the whole device, so every
# boundary shifts and the first and last clusters are only partly inside.
# Among the granularities, 192 KiB: an LVM chunk size that is no power of
# two; a compaction on that grid empties clusters the oracle then finds
# empty, every file keeping its bytes.
. "${TESTS_DIR:-$(dirname "$0")/..}/lib/common.sh"
tp_require_root
tp_workdir
tp_thin_pool 1G
offset=$((1048576 + 4096))
tp_thin_fs part 200M --offset "$offset"
tp_age "$TP_MNT" --seed 5

# sysfs must tell the same offset the test set.
sys=$(cat "/sys/block/$(basename "$TP_DEV")/loop/offset")
tp_expect_eq "loop offset in sysfs" "$sys" "$offset"

for g in 65536 196608 1048576 4194304; do
	"$PYTHON3" "$TP_PY" oracle --device "$TP_DEV" --mountpoint "$TP_MNT" \
		--granularity "$g" --offset "$offset" --min-age 0 \
		>"$TP_WORK/want-$g.json"
	"$THINPACK" report --json --min-age 0 --granularity "$g" "$TP_MNT" \
		>"$TP_WORK/got-$g.json" || tp_fail "exit $? at $g"
	"$PYTHON3" "$TP_PY" compare "$TP_WORK/want-$g.json" "$TP_WORK/got-$g.json" ||
		tp_fail "granularity $g at offset $offset differs"
done

# Figures computed as if the filesystem were aligned must differ: the
# offset really shifts the grid.
"$PYTHON3" "$TP_PY" oracle --device "$TP_DEV" --mountpoint "$TP_MNT" \
	--granularity 1048576 --offset 0 --min-age 0 >"$TP_WORK/aligned.json"
if "$PYTHON3" "$TP_PY" compare "$TP_WORK/aligned.json" "$TP_WORK/got-1048576.json" 2>/dev/null; then
	tp_fail "the offset made no difference"
fi

# Compaction on the 192 KiB grid (online compaction wants page-sized
# blocks: another filesystem at the same offset, with 4 KiB ones).
tp_thin_fs part4k 200M --offset "$offset" -- -b 4096
tp_age "$TP_MNT" --seed 6
"$PYTHON3" "$TP_PY" oracle --device "$TP_DEV" --mountpoint "$TP_MNT" \
	--granularity 196608 --offset "$offset" --min-age 0 >"$TP_WORK/before-192k.json"
(cd "$TP_MNT" && find . -type f -print0 | sort -z | xargs -0 md5sum) >"$TP_WORK/sums.before"
"$THINPACK" compact --json --min-age 0 --max-usage 100 --granularity 192K "$TP_MNT" \
	>"$TP_WORK/compact-192k.json" || tp_fail "compact at 192K exited $?"
sync
emptied=$("$PYTHON3" "$TP_PY" json "$TP_WORK/compact-192k.json" filesystems.0.clusters_emptied)
"$PYTHON3" "$TP_PY" oracle --device "$TP_DEV" --mountpoint "$TP_MNT" \
	--granularity 196608 --offset "$offset" --min-age 0 >"$TP_WORK/after-192k.json"
read -r e0 e1 < <("$PYTHON3" -c 'import json,sys; a,b=(json.load(open(f))["clusters"]["empty"] for f in sys.argv[1:]); print(a, b)' \
	"$TP_WORK/before-192k.json" "$TP_WORK/after-192k.json")
tp_log "192K: $emptied clusters emptied; the oracle counts $e0 -> $e1 empty"
[ "$emptied" -gt 0 ] || tp_fail "compact at 192K emptied nothing"
[ $((e1 - e0)) -ge "$emptied" ] || tp_fail "compact at 192K says $emptied emptied; the oracle finds $((e1 - e0)) more empty"
(cd "$TP_MNT" && find . -type f -print0 | sort -z | xargs -0 md5sum) >"$TP_WORK/sums.after"
cmp -s "$TP_WORK/sums.before" "$TP_WORK/sums.after" || tp_fail "a file changed its bytes"
tp_umount "$TP_MNT"
tp_fsck "$TP_DEV"
tp_done
