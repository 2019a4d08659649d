#!/bin/bash
# Hot files (changed within --min-age) stay where they are, and may lend.
# An aged filesystem whose every inode is set a week back (debugfs), then
# HOT files rewritten (new inodes, new blocks scattered over the holes).
# compact --min-age 1d: a borrow placement borrows the block beside a hole
# from its owner for a moment, and hot files may be that owner -- the plan
# must use one at least (its lender_inode is a hot inode), since holes
# beside their blocks are otherwise lost to the plan.  A file somebody has
# open never lends: every other hot lender of the plan is held open through
# the run, and placements must be skipped for it.  After the run every hot
# file has the same blocks (FIEMAP), bytes and times as before; every file
# its bytes; e2fsck -fn clean.
. "${TESTS_DIR:-$(dirname "$0")/..}/lib/common.sh"
tp_require_root
tp_workdir
tp_thin_pool 1G
tp_thin_fs hot 512M -- -b 4096
m=$TP_MNT
hot=${HOT:-60}
tp_age "$m" --seed 7
tp_umount "$m"
# A week back: mtime and ctime (which only debugfs can set) of every inode.
when=$(($(date +%s) - 7 * 86400))
tp_mount "$TP_DEV" "$m"
find "$m" -xdev -mindepth 1 -printf '%i\n' |
	awk -v t="$when" '{ print "sif <" $1 "> mtime @" t; print "sif <" $1 "> ctime @" t }' \
		>"$TP_WORK/old.debugfs"
tp_umount "$m"
debugfs -w -f "$TP_WORK/old.debugfs" "$TP_DEV" >/dev/null 2>"$TP_WORK/debugfs.err" ||
	tp_die "debugfs: $(tail -n 3 "$TP_WORK/debugfs.err")"
tp_mount "$TP_DEV" "$m"
# The hot files: every k-th regular file, rewritten as a new file renamed
# over the old one.
find "$m" -xdev -type f | sort >"$TP_WORK/all"
k=$(($(wc -l <"$TP_WORK/all") / hot))
[ "$k" -ge 1 ] || tp_die "only $(wc -l <"$TP_WORK/all") files"
awk -v k="$k" -v n="$hot" 'NR % k == 0 && c++ < n' "$TP_WORK/all" >"$TP_WORK/hot.list"
while read -r f; do
	cp -- "$f" "$f.new" && mv -- "$f.new" "$f"
done <"$TP_WORK/hot.list"
sync
fstrim "$m"
# What must not change: the hot files' blocks and times; every file's bytes.
state() {
	local f
	while read -r f; do
		printf '%s %s\n' "$(stat -c '%i %Y %Z' "$f")" "$("$PYTHON3" "$TP_PY" fiemap "$f")"
	done <"$TP_WORK/hot.list"
}
state >"$TP_WORK/hot.before"
xargs -d '\n' stat -c '%i' <"$TP_WORK/hot.list" | sort -n >"$TP_WORK/hot.inodes"
tp_snapshot "$m"

opts=(--json --min-age 1d --slack 0 --max-usage 100 --granularity 1M)
"$THINPACK" compact --dry-run "${opts[@]}" "$m" >"$TP_WORK/plan.json" || tp_fail "dry run exited $?"
# The plan's length, then the lender of each planned move lent by a hot file.
"$PYTHON3" - "$TP_WORK/plan.json" "$TP_WORK/hot.inodes" >"$TP_WORK/lent" <<'PY'
import json, sys
plan = json.load(open(sys.argv[1]))["filesystems"][0]["plan"]
hot = {int(l) for l in open(sys.argv[2]) if l.strip()}
print(len(plan))
for m in plan:
    if m.get("lender_inode") in hot:
        print(m["lender_inode"])
PY
n_lent=$(($(wc -l <"$TP_WORK/lent") - 1))
tp_log "planned moves with a hot lender: $n_lent of $(head -n 1 "$TP_WORK/lent")"
[ "$n_lent" -gt 0 ] || tp_fail "no planned move borrows from a hot file: the fixture tests nothing"
# A file somebody has open is never a lender: every other hot lender of the
# plan is held open (read-only) through the run, and those placements must
# be skipped, the file untouched (the hot-file check below).
tail -n +2 "$TP_WORK/lent" | awk '!seen[$1]++ && n++ % 2 == 0' >"$TP_WORK/held.inodes"
while read -r f; do
	if grep -qx "$(stat -c %i "$f")" "$TP_WORK/held.inodes"; then printf '%s\n' "$f"; fi
done <"$TP_WORK/hot.list" >"$TP_WORK/held.list"
[ -s "$TP_WORK/held.list" ] || tp_die "no path for the hot lenders $(tr '\n' ' ' <"$TP_WORK/held.inodes")"
"$PYTHON3" -c '
import os, sys, time
fds = [os.open(p, os.O_RDONLY) for p in open(sys.argv[1]).read().splitlines()]
print(len(fds), flush=True)
time.sleep(600)
' "$TP_WORK/held.list" >"$TP_WORK/held" &
holder=$!
tp_stack+=("pid $holder")
for _ in $(seq 100); do [ -s "$TP_WORK/held" ] && break; sleep 0.1; done
[ -s "$TP_WORK/held" ] || tp_die "the holder of the lenders did not start"
tp_log "$(cat "$TP_WORK/held") hot lenders held open through the run"

rc=0
"$THINPACK" compact "${opts[@]}" "$m" >"$TP_WORK/compact.json" || rc=$?
[ "$rc" -eq 0 ] || tp_fail "compact exited $rc"
emptied=$("$PYTHON3" "$TP_PY" json "$TP_WORK/compact.json" filesystems.0.clusters_emptied)
lender=$("$PYTHON3" "$TP_PY" json "$TP_WORK/compact.json" filesystems.0.skipped.lender)
tp_log "compact: $emptied clusters emptied, $lender placements skipped for their lender"
[ "$emptied" -gt 0 ] || tp_fail "nothing emptied"
[ "$lender" -gt 0 ] || tp_fail "no placement skipped, though lenders of the plan were held open"
tp_release "pid $holder"
state >"$TP_WORK/hot.after"
cmp -s "$TP_WORK/hot.before" "$TP_WORK/hot.after" ||
	tp_fail "hot files changed: $(diff "$TP_WORK/hot.before" "$TP_WORK/hot.after" | head -4)"
tp_expect_unchanged "$m" "after compact"
tp_umount "$m"
tp_fsck "$TP_DEV"

tp_done
