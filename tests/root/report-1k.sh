#!/bin/bash
# thinpack report on a filesystem with 1 KiB blocks: block 0 lies outside
# the bitmaps, and a cluster holds 64 or 1024 blocks.
. "${TESTS_DIR:-$(dirname "$0")/..}/lib/common.sh"
tp_require_root
tp_workdir
tp_thin_pool 1G
tp_thin_fs thin1k 128M -- -b 1024
tp_age "$TP_MNT" --seed 11 --dirs 8

bs=$(dumpe2fs -h "$TP_DEV" 2>/dev/null | sed -n 's/^Block size: *//p')
tp_expect_eq "block size" "$bs" 1024
for g in 65536 1048576; do
	"$PYTHON3" "$TP_PY" oracle --device "$TP_DEV" --mountpoint "$TP_MNT" \
		--granularity "$g" --min-age 0 >"$TP_WORK/want-$g.json"
	"$THINPACK" report --json --min-age 0 --granularity "$g" "$TP_MNT" \
		>"$TP_WORK/got-$g.json" || tp_fail "exit $? at $g"
	"$PYTHON3" "$TP_PY" compare "$TP_WORK/want-$g.json" "$TP_WORK/got-$g.json" ||
		tp_fail "granularity $g differs from dumpe2fs + FIEMAP"
done
tp_done
