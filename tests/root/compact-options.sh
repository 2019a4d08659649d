#!/bin/bash
# thinpack compact and thinpack trim: refusals (bigalloc, read-only, no
# discard, not mounted, bad options), a dry run that changes nothing and
# whose plan is sound by the test's own reckoning, --max-io, the fallback
# from fallocate2 to borrow, --no-trim followed by thinpack trim.
. "${TESTS_DIR:-$(dirname "$0")/..}/lib/common.sh"
tp_require_root
tp_workdir
chmod 755 "$TP_WORK"


tp_thin_pool 1G
tp_thin_fs opt 128M -- -b 4096
m=$TP_MNT
dev=$TP_DEV
tp_age "$m" --seed 61 --dirs 8

# Bad options: 8, nothing done.
for a in "--max-usage 101" "--slack 100" "--placement frob" "--max-io abc" \
	"--min-age 1x" "--granularity 3000"; do
	# shellcheck disable=SC2086
	tp_expect_exit 8 "expected" -- compact $a "$m"
done
tp_expect_exit 8 "expected one PATH" -- compact
tp_expect_exit 8 "expected one PATH" -- compact "$m" "$m"
tp_expect_exit 8 "no such file" -- compact "$TP_WORK/nonexistent"

# A dry run changes nothing; its plan moves each victim's data, all of
# it, into free blocks of clusters that are neither empty nor victims.
"$PYTHON3" "$TP_PY" fiemap $(find "$m" -type f | sort) >"$TP_WORK/fiemap.before"
"$PYTHON3" "$TP_PY" space "$m" >"$TP_WORK/space.before"
"$THINPACK" compact --dry-run --json --min-age 0 --max-usage 100 --granularity 1M \
	"$m" >"$TP_WORK/plan.json" || tp_fail "dry run: exit $?"
"$THINPACK" compact --dry-run --min-age 0 --max-usage 100 --granularity 1M \
	"$m" >"$TP_WORK/plan.txt" || tp_fail "dry run (text): exit $?"
grep -q "would empty" "$TP_WORK/plan.txt" || tp_fail "no summary in the dry run"
tp_expect_eq "lines of a dry run without --verbose" "$(wc -l <"$TP_WORK/plan.txt")" 1
# --verbose: the summary first, then every move of the plan by path, the
# path naming the inode moved (stat, not thinpack, says so)
"$THINPACK" compact --dry-run --verbose --min-age 0 --max-usage 100 --granularity 1M \
	"$m" >"$TP_WORK/plan-v.txt" || tp_fail "dry run (--verbose): exit $?"
"$PYTHON3" - "$TP_WORK/plan-v.txt" "$TP_WORK/plan.json" <<'PY' || tp_fail "the --verbose dry run"
import json, os, re, sys
lines = open(sys.argv[1]).read().splitlines()
moves = json.load(open(sys.argv[2]))["filesystems"][0]["plan"]
assert re.search(r": would empty \d+ clusters", lines[0]), lines[0]
assert len(lines) == 1 + len(moves), (len(lines), len(moves))
for line, m in zip(lines[1:], moves):
    x = re.match(r"cluster (\d+): (.+) \(inode (\d+)\) blocks (\d+)\+(\d+) from (\d+) to (\d+)", line)
    assert x, line
    c, path, ino, lo, n, src, dst = x.groups()
    assert (int(c), int(ino), int(lo), int(n), int(src), int(dst)) == (
        m["cluster"], m["inode"], m["logical"], m["blocks"], m["source"], m["target"]), (line, m)
    assert os.stat(path).st_ino == int(ino), (path, ino)
    assert m["path"] == path, (m["path"], path)
    if "lender_inode" in m:
        assert os.stat(m["lender_path"]).st_ino == m["lender_inode"], m
print("--verbose: the summary, then %d moves, each path its inode's" % len(moves),
      file=sys.stderr)
PY
"$PYTHON3" "$TP_PY" fiemap $(find "$m" -type f | sort) >"$TP_WORK/fiemap.after"
cmp -s "$TP_WORK/fiemap.before" "$TP_WORK/fiemap.after" || tp_fail "a dry run moved data"
tp_expect_eq "dry run: free + owned" "$("$PYTHON3" "$TP_PY" space "$m")" \
	"$(cat "$TP_WORK/space.before")"
"$PYTHON3" - "$dev" "$TP_WORK/plan.json" <<'PY' || tp_fail "the dry-run plan is unsound"
import json, os, sys
sys.path.insert(0, os.environ["TESTS_DIR"] + "/lib")
import tp
dev, plan = sys.argv[1], json.load(open(sys.argv[2]))["filesystems"][0]
bs, count, first, ratio = tp.dumpe2fs_geometry(dev)
free = set()
for lo, hi in tp.dumpe2fs_free_ranges(dev, ratio):
    free.update(range(lo, min(hi, count)))
C = 1048576 // bs
used = lambda c: sum(1 for b in range(c * C, (c + 1) * C) if b not in free)
moves = plan["plan"]
assert moves and plan["victims"] > 0, plan
victims = {m["cluster"] for m in moves}
taken = set()
moved = {}
for m in moves:
    src = range(m["source"], m["source"] + m["blocks"])
    dst = range(m["target"], m["target"] + m["blocks"])
    assert all(b // C == m["cluster"] and b not in free for b in src), m
    assert all(b in free and b not in taken for b in dst), ("target not free", m)
    assert all(b // C not in victims and used(b // C) > 0 for b in dst), ("bad target", m)
    taken.update(dst)
    moved[m["cluster"]] = moved.get(m["cluster"], 0) + m["blocks"]
for c, n in moved.items():
    assert n == used(c), ("victim not emptied by its plan", c, n, used(c))
print("dry-run plan: %d moves empty %d clusters, all sound" % (len(moves), len(victims)),
      file=sys.stderr)
PY

# --max-io is kept (to within the last victim).
"$THINPACK" compact --json --min-age 0 --max-usage 100 --granularity 1M \
	--max-io 1M "$m" >"$TP_WORK/maxio.json" || true
"$PYTHON3" -c 'import json,sys; f=json.load(open(sys.argv[1]))["filesystems"][0]; assert 0 < f["moved_bytes"] <= 1048576, f["moved_bytes"]' \
	"$TP_WORK/maxio.json" || tp_fail "--max-io 1M not kept"

# fallocate2 asked for on a kernel without it: said, and borrow does it;
# --no-trim leaves the emptied clusters to thinpack trim.
rc=0
"$THINPACK" compact --json --placement fallocate2:999 --no-trim --min-age 0 \
	--max-usage 100 --granularity 1M "$m" >"$TP_WORK/fa2.json" 2>"$TP_WORK/fa2.err" || rc=$?
[ "$rc" -eq 0 ] || tp_fail "fallocate2 fallback: exit $rc"
grep -q "no fallocate2; placing with borrow" "$TP_WORK/fa2.err" ||
	tp_fail "no word of the fallback: $(cat "$TP_WORK/fa2.err")"
"$PYTHON3" -c 'import json,sys; f=json.load(open(sys.argv[1]))["filesystems"][0]; assert f["clusters_emptied"] > 0 and f["trimmed_clusters"] == 0, f' \
	"$TP_WORK/fa2.json" || tp_fail "--no-trim trimmed, or nothing emptied"
sync
empty=$("$PYTHON3" "$TP_PY" oracle --device "$dev" --mountpoint "$m" \
	--granularity 1048576 --min-age 0 | "$PYTHON3" "$TP_PY" json - clusters.empty)
chunks=$(tp_chunks "$TP_IMG")
"$THINPACK" trim --json --granularity 1M "$m" >"$TP_WORK/trim.json" || tp_fail "trim: exit $?"
got=$("$PYTHON3" "$TP_PY" json "$TP_WORK/trim.json" filesystems.0.trimmed_clusters)
tp_expect_eq "clusters thinpack trim trimmed" "$got" "$empty"
chunks_after=$(tp_chunks "$TP_IMG")
[ "$chunks_after" -lt "$chunks" ] || tp_fail "thinpack trim returned nothing to the pool"
# what it says the device took back is what the pool's file gave back
tp_expect_eq "bytes thinpack trim says the device took back" \
	"$("$PYTHON3" "$TP_PY" json "$TP_WORK/trim.json" filesystems.0.returned_bytes)" \
	"$((chunks - chunks_after))"
# text and JSON say the same: a second trim, in both forms, finds the
# same clusters and has the device take back nothing more
"$THINPACK" trim --granularity 1M "$m" >"$TP_WORK/trim.txt" || tp_fail "trim (text): exit $?"
"$THINPACK" trim --json --granularity 1M "$m" >"$TP_WORK/trim2.json" || tp_fail "trim (JSON): exit $?"
got=$("$PYTHON3" "$TP_PY" json "$TP_WORK/trim2.json" filesystems.0.trimmed_clusters)
grep -q ": $got empty clusters (.*) trimmed, .*; the device took back 0 B$" "$TP_WORK/trim.txt" ||
	tp_fail "thinpack trim: text '$(cat "$TP_WORK/trim.txt")' against JSON $(cat "$TP_WORK/trim2.json")"
tp_expect_eq "bytes a second trim has the device take back" \
	"$("$PYTHON3" "$TP_PY" json "$TP_WORK/trim2.json" filesystems.0.returned_bytes)" 0

# Refusals: 1 (nothing possible) or 8 (not for this command), nothing done.
tp_umount "$m"
tp_mount "$dev" "$m" -o ro
tp_expect_exit 1 "mounted read-only" -- compact --min-age 0 --granularity 1M "$m"
tp_umount "$m"
tp_expect_exit 8 "not mounted" -- compact --min-age 0 --granularity 1M "$dev"
tp_expect_exit 8 "not mounted" -- compact --min-age 0 --granularity 1M "$TP_IMG"
tp_loop_nodiscard "$dev"
tp_mount "$dev" "$m"
tp_expect_exit 1 "does not support discard" -- compact --min-age 0 --granularity 1M "$m"
tp_expect_exit 1 "does not support discard" -- trim --granularity 1M "$m"
tp_thin_fs big 128M -- -O bigalloc -C 65536
tp_expect_exit 1 "compaction is impossible: bigalloc" -- compact --min-age 0 --granularity 1M "$TP_MNT"
tp_done
