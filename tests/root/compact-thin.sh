#!/bin/bash
# thinpack compact on an aged filesystem on the emulated thin device:
# the pool gives back at least 85 % of the bound the test computes itself
# (dumpe2fs + FIEMAP), every file keeps its bytes, links, holes and
# unwritten ranges, nothing leaks, e2fsck stays clean, and the files that
# must not move (recent, open for write, immutable) do not.
. "${TESTS_DIR:-$(dirname "$0")/..}/lib/common.sh"
tp_require_root
tp_workdir
tp_thin_pool 1G
tp_thin_fs thin 512M -- -b 4096
m=$TP_MNT
tp_age "$m" --seed 23 --extras
mkdir "$m/keep"
head -c 300000 /dev/urandom >"$m/keep/immutable"
chattr +i "$m/keep/immutable"
head -c 200000 /dev/urandom >"$m/keep/open-for-write"
sleep 6 # everything so far is older than --min-age 5
head -c 250000 /dev/urandom >"$m/keep/recent"
sync
exec 3>>"$m/keep/open-for-write"
fstrim "$m"
sync

"$PYTHON3" "$TP_PY" oracle --device "$TP_DEV" --mountpoint "$m" \
	--granularity 1048576 --min-age 0 >"$TP_WORK/bound.json"
bound=$("$PYTHON3" "$TP_PY" bound "$TP_WORK/bound.json")
[ "$bound" -ge 30 ] || tp_die "aging left a bound of only $bound clusters"
"$PYTHON3" "$TP_PY" layout "$m" | grep -v '^keep/' >"$TP_WORK/layout.before"
"$PYTHON3" "$TP_PY" fiemap "$m"/keep/* >"$TP_WORK/keep.before"
"$PYTHON3" "$TP_PY" space "$m" >"$TP_WORK/space.before"
alloc_before=$(tp_allocated "$TP_IMG")
chunks_before=$(tp_chunks "$TP_IMG")
# the clusters that hold anything now: moved data may only land in them
"$PYTHON3" "$TP_PY" used "$TP_DEV" >"$TP_WORK/used.before"

rc=0
# "recent" stays younger than --min-age for the whole run, however long
# the steps above took on a loaded machine and however many passes
# rescan it: touched every second (its blocks stay where they are).
(while :; do touch "$m/keep/recent"; sleep 1; done) &
toucher=$!
# --slack 0: the bound keeps nothing free either (compact-slack.sh tests
# the slack).
"$THINPACK" compact --json --min-age 5 --max-usage 100 --slack 0 \
	--granularity 1M "$m" >"$TP_WORK/compact.json" || rc=$?
kill "$toucher"
wait "$toucher" 2>/dev/null || true
[ "$rc" -eq 0 ] || tp_fail "compact exited $rc"
exec 3>&-
sync

alloc_after=$(tp_allocated "$TP_IMG")
chunks_after=$(tp_chunks "$TP_IMG")
freed=$(((chunks_before - chunks_after) / 1048576))
tp_log "bound $bound clusters; pool freed $freed MiB of data chunks," \
	"$(((alloc_before - alloc_after) / 1048576)) MiB by stat %b"
[ $((freed * 100)) -ge $((bound * 85)) ] ||
	tp_fail "the pool freed $freed MiB, less than 85% of the bound ($bound MiB)"

# 512M: room for the placer's reservoir (lib/place/reservoir.c), which most
# placements then go through.
"$PYTHON3" - "$TP_WORK/compact.json" <<'PY' || tp_fail "placement below 99% exact, or not through the reservoir"
import json, sys
fs = json.load(open(sys.argv[1]))["filesystems"][0]
p = fs["placement"]
print("compact: %d clusters emptied, %d bytes moved, placement %d/%d exact "
      "(%d through the reservoir), skipped %s" % (fs["clusters_emptied"],
      fs["moved_bytes"], p["exact"], p["attempts"], p["reservoir"],
      {k: v for k, v in fs["skipped"].items() if v}), file=sys.stderr)
assert p["attempts"] > 0 and p["exact"] * 100 >= p["attempts"] * 99, p
assert p["reservoir"] * 2 > p["exact"], p
assert p["unreturned"] == 0, p
print("compact: the device took back %s bytes, backed %s anew (thinpack's "
      "measure)" % (fs["returned_bytes"], fs["provisioned_bytes"]), file=sys.stderr)
PY
# thinpack's own measure of what the pool gave back agrees with the test's
# (taken later, after sync: writes after the run, such as the journal's
# checkpoint, may back a chunk or two more, never fewer), and the run
# made the pool back at most one chunk anew: ext4 puts the extent-tree
# blocks that a move's split needs where its allocator likes, and once in
# a few runs under load that is a free block of a cluster the pool holds
# nothing for (thinpack tells that apart from its own writes, of which
# there must be none there).
returned=$("$PYTHON3" "$TP_PY" json "$TP_WORK/compact.json" filesystems.0.returned_bytes)
anew=$("$PYTHON3" "$TP_PY" json "$TP_WORK/compact.json" filesystems.0.provisioned_bytes)
[ "$anew" -le 1048576 ] || tp_fail "the pool had to back $anew bytes anew (thinpack's measure)"
tp_expect_eq "bytes backed anew where the run placed data (thinpack's measure)" \
	"$("$PYTHON3" "$TP_PY" json "$TP_WORK/compact.json" filesystems.0.provisioned_by_moves_bytes)" 0
delta=$((chunks_before - chunks_after))
[ "$returned" -ge "$delta" ] && [ "$returned" -le $((delta + 2 * 1048576)) ] ||
	tp_fail "thinpack says the pool took back $returned bytes; it gave back $delta"

"$PYTHON3" "$TP_PY" layout "$m" | grep -v '^keep/' >"$TP_WORK/layout.after"
cmp -s "$TP_WORK/layout.before" "$TP_WORK/layout.after" ||
	tp_fail "files changed: $(diff "$TP_WORK/layout.before" "$TP_WORK/layout.after" | head -6)"
"$PYTHON3" "$TP_PY" fiemap "$m"/keep/* >"$TP_WORK/keep.after"
cmp -s "$TP_WORK/keep.before" "$TP_WORK/keep.after" ||
	tp_fail "a file that must stay moved: $(diff "$TP_WORK/keep.before" "$TP_WORK/keep.after")"
"$PYTHON3" "$TP_PY" space "$m" >"$TP_WORK/space.after"
tp_expect_eq "free + owned blocks, free inodes" "$(cat "$TP_WORK/space.after")" \
	"$(cat "$TP_WORK/space.before")"

# No data in a cluster that was empty before the run.
"$PYTHON3" - "$m" "$TP_WORK/used.before" <<'PY' || tp_fail "data landed in an empty cluster"
import os, sys
sys.path.insert(0, os.environ["TESTS_DIR"] + "/lib")
import tp
top = sys.argv[1]
C, *used = map(int, open(sys.argv[2]).read().split())
before = {c for c, u in enumerate(used) if u > 0}
bs = os.statvfs(top).f_frsize
bad = []
for ino, paths in tp.walk_inodes(top).items():
    p = os.path.join(top, paths[0])
    if not os.path.isfile(p) or os.path.islink(p):
        continue
    fd = os.open(p, os.O_RDONLY)
    for lo, ph, ln, fl in tp.fiemap(fd):
        for b in range(ph // bs, (ph + ln) // bs):
            if b // C not in before:
                bad.append((p, b))
    os.close(fd)
assert not bad, bad[:5]
PY

chattr -i "$m/keep/immutable"
tp_umount "$m"
tp_fsck "$TP_DEV"
tp_done
