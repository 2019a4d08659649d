#!/bin/bash
# vm-args: --disk 320M --disk 2G --disk 320M
# Power cuts at every point of `thinpack compact` where one could matter,
# as fstests' generic/455 and generic/482 find them: in a guest
# (tests/vm/run-guest) with three virtio disks -- data /dev/vda, log
# /dev/vdb, replay /dev/vdc -- a dm-log-writes target logs every write,
# flush and discard that reaches the data disk while ext4 is made, aged
# (mark "aged") and compacted (mark "done").  Then tests/lib/logwrites.py
# replays the log onto the replay disk, prefix by prefix: up to each FLUSH
# or FUA entry between the marks, and also up to just before the last
# write each one makes durable (a journal commit block, say), every one of
# them or LW_POINTS (12) spread evenly, plus the marks and the log's end.
# Each state is checked on a dm-snapshot of the replay disk (which stays
# as the log left it, so the next replay goes on from there): a mount
# replays the journal and frees the orphans, e2fsck -fn must be clean,
# and every file -- contents, size, links, holes, unwritten ranges --
# must be as it was before compaction or as it was after (the same, as
# compaction only moves data), the files the same set, no block leaked.
# A block freed by a move and written with another file's data before the
# journal commits the move (issue 9) fails the last check: the file that
# still owns the block in the committed state reads the other's data.
#
# LW_MODE=offline (tests/vm/powercut-offline.sh): the same around
# `thinpack compact --offline` of the unmounted device, whose crash
# ordering (lib/compact/offline.c) leaves at worst leaked blocks: a state
# may hold those, which e2fsck -fn must find alone and e2fsck -fp frees,
# before the files and the space are compared.
#
# LW_SIZE (256M) is the filesystem; LW_POINTS=0 checks every point;
# LW_SELFTEST=clobber tests the test: in each state, before the checks,
# the first block of one file gets a copy of another's (issue 9's
# damage), which must fail.  Without dm-log-writes or dm-snapshot it is
# skipped (77), but under CI=true it fails.
. "${TESTS_DIR:-$(dirname "$0")/..}/lib/common.sh"
LW_PY=$TESTS_DIR/lib/logwrites.py
lw() { "$PYTHON3" "$LW_PY" "$@"; }

skip() {
	[ "${CI:-}" != true ] || tp_die "$* (CI=true: not skipping)"
	tp_log "skipped: $*"
	exit 77
}
[ "${TP_VM:-}" = 1 ] || skip "runs in a guest of the VM tier (tests/vm/run-guest) only: it takes /dev/vd[abc] whole"
tp_require_root
for t in dmsetup e2fsck blockdev blkdiscard; do
	command -v "$t" >/dev/null 2>&1 || skip "needs $t"
done
data=/dev/vda log=/dev/vdb base=/dev/vdc
for d in $data $log $base; do
	[ -b "$d" ] || skip "no virtio disk $d (run-guest --disk SIZE, three of them)"
done
for m in dm-log-writes dm-snapshot; do
	modprobe -q "$m" 2>/dev/null || true
done
targets=$(dmsetup targets 2>/dev/null || true)
for t in log-writes snapshot; do
	grep -qw "^$t" <<<"$targets" || skip "no device-mapper target $t in $(uname -r)"
done

size=$(numfmt --from=iec "${LW_SIZE:-256M}")
sectors=$((size / 512))
for d in $data $base; do
	[ "$(blockdev --getsize64 "$d")" -ge "$size" ] || tp_die "$d is smaller than LW_SIZE ($size bytes)"
done
npoints=${LW_POINTS:-12}
selftest=${LW_SELFTEST:-}
mode=${LW_MODE:-online}
case $mode in
online | offline) ;;
*) tp_die "LW_MODE is '$mode': online or offline" ;;
esac

# Without udev in the guest, dmsetup makes and removes the nodes itself.
dm_create() {
	dmsetup create --noudevsync "$1" --table "$2"
	dmsetup mknodes "$1"
}
dm_remove() {
	dmsetup remove --noudevsync "$1"
	dmsetup mknodes
}

lw_cleanup() {
	set +e
	trap - ERR
	local d
	for d in "$TP_WORK/m" "$TP_WORK/r"; do
		mountpoint -q "$d" && umount "$d"
	done
	for d in tp-snap tp-lw; do
		dmsetup info "$d" >/dev/null 2>&1 && dm_remove "$d"
	done
	tp_cleanup
}
tp_workdir
trap lw_cleanup EXIT
m=$TP_WORK/m r=$TP_WORK/r
t0=$(date +%s)

# ---- the logged run ------------------------------------------------------
blkdiscard -f "$log" 2>/dev/null || true # the log's old entries could pass for new ones
dm_create tp-lw "0 $sectors log-writes $data $log"
dev=/dev/mapper/tp-lw
mkfs.ext4 -q -F -b 4096 -E lazy_itable_init=0,lazy_journal_init=0 "$dev"
dmsetup message tp-lw 0 mark mkfs
tp_mount "$dev" "$m"
tp_age "$m" --seed 61 --dirs 4
tp_snapshot "$m" # layout.before, space.before
sync
rc=0
if [ "$mode" = online ]; then
	dmsetup message tp-lw 0 mark aged
	"$THINPACK" compact --json --min-age 0 --max-usage 100 --granularity 1M --slack 0 "$m" \
		>"$TP_WORK/compact.json" || rc=$?
else
	tp_umount "$m"
	dmsetup message tp-lw 0 mark aged
	"$THINPACK" compact --offline --json --max-usage 100 --granularity 1M --slack 0 "$dev" \
		>"$TP_WORK/compact.json" || rc=$?
fi
[ "$rc" -le 1 ] || tp_fail "thinpack compact exited $rc"
sync
dmsetup message tp-lw 0 mark "done"
[ "$mode" = online ] || tp_mount "$dev" "$m"
read -r moved emptied < <("$PYTHON3" -c 'import json,sys; f=json.load(open(sys.argv[1]))["filesystems"][0]; p=f["placement"]; print(p["attempts"], f["clusters_emptied"])' "$TP_WORK/compact.json")
tp_expect_unchanged "$m" "after compaction" # layout.after, space.after
tp_umount "$m"
dm_remove tp-lw
tp_log "logged ($mode): mkfs, aged, $moved placements, $emptied clusters emptied (exit $rc) in $(($(date +%s) - t0)) s; $(lw info "$log")"
[ "$moved" -gt 0 ] || tp_fail "thinpack compact moved nothing: no point to check"
[ "$tp_failed" -eq 0 ] || tp_done

# ---- the points ---------------------------------------------------------
aged=$(lw find "$log" aged)
done_=$(lw find "$log" "done")
nentries=$(lw list "$log" --marks | awk 'END { print $1 + 1 }') # the last entry is the end mark
all=$(lw points "$log" --from-mark aged --to-mark "done" --before | wc -l)
{
	echo "$((aged + 1)) mark aged"
	lw points "$log" --from-mark aged --to-mark "done" --before --sample "$npoints"
	echo "$((done_ + 1)) mark done"
	echo "$nentries end of the log (unmounted)"
} | sort -n -k1,1 -u >"$TP_WORK/points"
total=$(wc -l <"$TP_WORK/points")
tp_log "entries: aged at $aged, done at $done_, $nentries in all; $all FLUSH/FUA points between, checking $((total - 3)) of them and 3 marks"

# The copy-on-write store of the snapshots: a sparse file in the guest's
# /tmp (RAM), emptied between points.
truncate -s "$size" "$TP_WORK/cow.img"
tp_loop cow "$TP_WORK/cow.img"
mkdir -p "$r"

# compare LAYOUT SPACE: every file as before or after compaction, the
# same files, the same free + owned blocks and free inodes.
compare() {
	"$PYTHON3" - "$TP_WORK/layout.before" "$TP_WORK/layout.after" "$1" \
		"$TP_WORK/space.before" "$2" <<'PY'
import sys
def rows(p):
    return dict(l.split(" ", 1) for l in open(p).read().splitlines() if l)
before, after, now = (rows(p) for p in sys.argv[1:4])
bad = []
for k in sorted(set(before) - set(now)):
    bad.append("missing %s" % k)
for k in sorted(set(now) - set(before)):
    bad.append("new file %s" % k)
changed = [k for k in sorted(set(now) & set(before))
           if now[k] not in (before[k], after.get(k))]
for k in changed:
    bad.append("%s: %s, was %s" % (k, now[k], before[k]))
sb, sn = (open(p).read().strip() for p in sys.argv[4:6])
if sb != sn:
    bad.append("space %s, was %s" % (sn, sb))
if bad:
    print("%d files differ: %s" % (len(changed), "; ".join(bad[:4])))
    sys.exit(1)
print("%d files as before/after" % len(now))
PY
}

# clobber: issue 9's damage, by hand: the first data block of one file
# (the tenth by name) gets a copy of another's (the twentieth).
clobber() {
	local v s vp sp
	tp_mount "$snap" "$r" -o ro
	v=$(awk -F'[ ,]' '/ map=0\+/ { print $1 }' "$TP_WORK/layout.before" | sed -n '10p')
	s=$(awk -F'[ ,]' '/ map=0\+/ { print $1 }' "$TP_WORK/layout.before" | sed -n '20p')
	vp=$("$PYTHON3" "$TP_PY" fiemap "$r/$v" | awk '{ split($2, a, "[:+]"); print a[2] }')
	sp=$("$PYTHON3" "$TP_PY" fiemap "$r/$s" | awk '{ split($2, a, "[:+]"); print a[2] }')
	tp_umount "$r"
	dd if="$snap" of="$snap" bs=4096 count=1 skip=$((sp / 4096)) seek=$((vp / 4096)) \
		conv=notrunc status=none
	clobbered="clobbered $v with $s, "
}

# fsck_why OUT: what an e2fsck -fn report says, in a line.
fsck_why() { grep -vE '^(e2fsck [0-9.]+ |Pass [1-5])' <<<"$1" | head -8 | tr '\n' ' '; }

# check LIMIT: the state after the first LIMIT entries of the log (the
# replay disk holds the state of the previous point).  Sets result to
# "ok: ..." or "FAIL: ...".  A failure of the machinery ends the test.
snap=/dev/mapper/tp-snap
check() {
	local limit=$1 out why="" clobbered="" leaked=""
	lw replay "$log" "$base" --limit "$limit" --state "$TP_WORK/replay.state"
	blkdiscard -f "$cow" 2>/dev/null # "Operation forced" otherwise
	dm_create tp-snap "0 $sectors snapshot $base $cow N 8"
	# (offline: nothing in the journal; the filesystem was unmounted)
	if [ "$mode" = online ] && ! out=$(mount "$snap" "$r" 2>&1); then
		why="mount (journal replay): $out"
	else
		if [ "$mode" = online ]; then
			tp_stack+=("mount $r")
			tp_umount "$r"
		fi
		[ "$selftest" != clobber ] || clobber
		if ! out=$(e2fsck -fn "$snap" 2>&1); then
			local bad=""
			printf '%s\n' "$out" >"$TP_WORK/fsck.out"
			if [ "$mode" = online ]; then
				why="e2fsck -fn: $(fsck_why "$out")"
			elif ! bad=$("$PYTHON3" "$TP_PY" fsck-leaks "$TP_WORK/fsck.out"); then
				why="e2fsck -fn finds more than leaked blocks: $(head -4 <<<"$bad" | tr '\n' ' ')"
			else
				e2fsck -fp "$snap" >/dev/null 2>&1 || true
				if out=$(e2fsck -fn "$snap" 2>&1); then
					leaked="leaked blocks freed by e2fsck -fp, "
				else
					why="e2fsck -fn after e2fsck -fp: $(fsck_why "$out")"
				fi
			fi
		fi
		if [ -z "$why" ]; then
			tp_mount "$snap" "$r" -o ro
			"$PYTHON3" "$TP_PY" layout "$r" >"$TP_WORK/layout.now"
			"$PYTHON3" "$TP_PY" space "$r" >"$TP_WORK/space.now"
			tp_umount "$r"
			out=$(compare "$TP_WORK/layout.now" "$TP_WORK/space.now") || why=$out
		fi
	fi
	dm_remove tp-snap
	if [ -n "$why" ]; then
		result="FAIL: $clobbered$why"
	else
		result="ok: ${clobbered}${leaked}fsck clean, $out"
	fi
}

i=0 failed=0 first=
while read -r limit desc <&3; do
	i=$((i + 1))
	s=$(date +%s)
	check "$limit"
	if [ "${result%%:*}" = FAIL ]; then
		failed=$((failed + 1))
		[ -n "$first" ] || first="$limit ($desc)"
	fi
	tp_log "point $i/$total: limit $limit ($desc): $result ($(($(date +%s) - s)) s)"
done 3<"$TP_WORK/points"

summary="$mode: $total points checked (of $all FLUSH/FUA points between marks aged and done, and 3 marks), $failed failed${first:+, first at limit $first}, $(($(date +%s) - t0)) s"
tp_log "$(uname -r): $summary"
if [ "$selftest" = clobber ]; then
	# The test of the test: every point must have failed.
	[ "$failed" -eq "$total" ] || tp_fail "LW_SELFTEST=clobber: only $failed of $total points failed"
	tp_log "LW_SELFTEST=clobber: the damage was caught at every point"
	tp_done
fi
[ "$failed" -eq 0 ] || tp_fail "$failed of $total power-cut states are damaged"
tp_done
