#!/bin/bash
# thinpack report on an aged filesystem on the emulated thin device: the
# cluster counts, the bound and its minimum I/O equal an independent
# computation (dumpe2fs free ranges + FIEMAP), at 64 KiB, 1 MiB and 4 MiB.
. "${TESTS_DIR:-$(dirname "$0")/..}/lib/common.sh"
tp_require_root
tp_workdir
tp_thin_pool 1G
tp_thin_fs thin 256M
tp_age "$TP_MNT" --seed 7

for g in 65536 1048576 4194304; do
	"$PYTHON3" "$TP_PY" oracle --device "$TP_DEV" --mountpoint "$TP_MNT" \
		--granularity "$g" --min-age 0 --curve 7 >"$TP_WORK/want-$g.json"
	"$THINPACK" report --json --min-age 0 --curve 7 --granularity "$g" \
		"$TP_MNT" >"$TP_WORK/got-$g.json" || tp_fail "exit $? at $g"
	"$PYTHON3" "$TP_PY" compare "$TP_WORK/want-$g.json" "$TP_WORK/got-$g.json" ||
		tp_fail "granularity $g differs from dumpe2fs + FIEMAP"
done

# The comparison can fail: figures of another granularity must not pass.
if "$PYTHON3" "$TP_PY" compare "$TP_WORK/want-65536.json" "$TP_WORK/got-1048576.json" 2>/dev/null; then
	tp_fail "compare accepted the figures of another granularity"
fi

# The aged filesystem must show the problem, or this test proves nothing.
partial=$("$PYTHON3" "$TP_PY" json "$TP_WORK/want-1048576.json" clusters.partial)
[ "$partial" -ge 50 ] || tp_fail "aging left only $partial partial clusters"

# The map: one square per cluster, coloured as the oracle classifies it
# (dumpe2fs, FIEMAP of the files and of the image): not backed by the
# image, else empty, full, partial and movable, partial and pinned.
"$THINPACK" report --min-age 0 --granularity 64K --map "$TP_WORK/map.svg" \
	"$TP_MNT" >/dev/null || tp_fail "report --map: exit $?"
"$PYTHON3" - "$TP_WORK/want-65536.json" "$TP_WORK/map.svg" "$TP_PY" <<'PY' || tp_fail "map"
import json, subprocess, sys
want = json.load(open(sys.argv[1]))["map"]
got = json.loads(subprocess.check_output([sys.executable, sys.argv[3],
                                          "svgcount", sys.argv[2]]))
assert got["per_cell"] == 1 and got["sections"] == 1, got
got["p"] = sum(got.pop(k, 0) for k in ("p1", "p2", "p3", "p4"))
for k in ("e", "f", "p", "x", "u", "sh"):
    assert got.get(k, 0) == want.get(k, 0), (k, got, want)
# ...and the fixture has clusters of each kind the emulation can have.
assert all(want.get(k, 0) > 0 for k in ("e", "f", "p", "x", "u")), want
PY

# The same filesystem named by its device, and by a file inside it.
"$THINPACK" report --json --min-age 0 --curve 7 --granularity 1M "$TP_DEV" \
	>"$TP_WORK/dev.json" || tp_fail "report by device: exit $?"
"$PYTHON3" "$TP_PY" compare "$TP_WORK/want-1048576.json" "$TP_WORK/dev.json" ||
	tp_fail "report by device differs"
# A directory inside stands for its filesystem (a regular file is an
# image: tests/root/input-errors.sh).
f=$(find "$TP_MNT" -mindepth 1 -type d -print -quit)
"$THINPACK" report --json --min-age 0 --curve 7 --granularity 1M "$f" \
	>"$TP_WORK/dir.json" || tp_fail "report by a directory inside: exit $?"
"$PYTHON3" "$TP_PY" compare "$TP_WORK/want-1048576.json" "$TP_WORK/dir.json" ||
	tp_fail "report by a directory inside differs"

tp_done
