#!/bin/bash
# Compaction while a writer appends, overwrites, truncates, renames and
# unlinks random files: at the end every file holds exactly what the writer
# expects, every file it did not touch is as it was, e2fsck is clean.
. "${TESTS_DIR:-$(dirname "$0")/..}/lib/common.sh"
tp_require_root
tp_workdir
tp_thin_pool 1G
tp_thin_fs busy 256M -- -b 4096
m=$TP_MNT
tp_age "$m" --seed 31 --extras
"$PYTHON3" "$TP_PY" layout "$m" >"$TP_WORK/layout.before"

for round in 1; do # one: it leaves little to compact
	touch "$TP_WORK/writing"
	"$PYTHON3" "$TP_PY" writer "$m" "$TP_WORK/writing" --seed "$round" \
		--only d000,d002,d004,d006,d008,d010,d012,d014 \
		>"$TP_WORK/touched.$round" &
	writer=$!
	sleep 0.3
	rc=0
	"$THINPACK" compact --json --min-age 0 --max-usage 100 --granularity 1M \
		"$m" >"$TP_WORK/compact.$round.json" || rc=$?
	rm -f "$TP_WORK/writing"
	wait "$writer" || tp_fail "round $round: the writer found files it did not write"
	[ "$rc" -eq 0 ] || tp_fail "round $round: compact exited $rc"
	"$PYTHON3" "$TP_PY" summary "$TP_WORK/compact.$round.json" round --moves \
		--need moves || tp_fail "round $round: nothing moved"
done

# Every file the writer never touched is as it was.
cat "$TP_WORK"/touched.* | sort -u >"$TP_WORK/touched"
"$PYTHON3" "$TP_PY" layout "$m" >"$TP_WORK/layout.after"
"$PYTHON3" - "$TP_WORK/touched" "$TP_WORK/layout.before" "$TP_WORK/layout.after" <<'PY' || tp_fail "untouched files changed"
import sys
touched = set(open(sys.argv[1]).read().split())
def rows(path):
    out = {}
    for line in open(path):
        names = line.split(" ", 1)[0].split(",")
        if not any(n in touched for n in names):
            out[line.split(" ", 1)[0]] = line
    return out
before, after = rows(sys.argv[2]), rows(sys.argv[3])
missing = [k for k in before if before[k] != after.get(k)]
assert not missing, missing[:5]
assert len(before) > 200, "too few untouched files to compare: %d" % len(before)
print("untouched files compared: %d" % len(before), file=sys.stderr)
PY
tp_umount "$m"
tp_fsck "$TP_DEV"
tp_done
