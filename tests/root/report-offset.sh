#!/bin/bash
# A filesystem that does not start on a cluster boundary (a partition at
# 1 MiB + 4 KiB, emulated with losetup --offset, as the local kernel has no
# partition tables): clusters are aligned to the whole device, so every
# boundary shifts and the first and last clusters are only partly inside.
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

for g in 65536 1048576 4194304; do
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
tp_done
