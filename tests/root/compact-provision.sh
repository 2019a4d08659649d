#!/bin/bash
# Compaction never makes the pool back a chunk it did not back before.  On
# the emulated pool a filesystem whose inode tables were left to lazy init
# (mkfs lazy_itable_init=1, mounted noinit_itable), with a preallocated
# file full of one-block holes, has clusters that are in use yet were
# never written: their free blocks are no target, and emptying them
# returns nothing.  Online and offline, after an aged run:
# the chunks the pool's file holds afterwards are a subset of those it
# held before (FIEMAP of the image, computed here), what thinpack says the
# device took back is what the file gave back, every file keeps its bytes,
# e2fsck stays clean.  The report's provisioning figures are held against
# the oracle (tp.py: FIEMAP of the backing file + dumpe2fs).
. "${TESTS_DIR:-$(dirname "$0")/..}/lib/common.sh"
tp_require_root
tp_workdir
tp_thin_pool 1G
img=$TP_POOL/lazy.img
m=$TP_WORK/lazy
truncate -s 512M "$img"
tp_loop dev "$img"
mkfs.ext4 -q -F -b 4096 -E lazy_itable_init=1,nodiscard "$dev"
tp_mount "$dev" "$m" -o noinit_itable
# A preallocated file is in use and never written either: with a block
# punched out of every 64, its clusters look like the fullest targets.
fallocate -l 96M "$m/prealloc"
tp_age "$m" --seed 61
for ((off = 0; off < 96 << 20; off += 64 * 4096)); do
	fallocate -p -o "$off" -l 4096 "$m/prealloc"
done
fstrim "$m"
sync

# chunks IMAGE: the 1 MiB chunks of the image file that hold space, one a line.
chunks() {
	{
		"$PYTHON3" - "$1" <<'PY'
import os, sys
sys.path.insert(0, os.environ["TESTS_DIR"] + "/lib")
import tp
fd = os.open(sys.argv[1], os.O_RDONLY)
held = set()
for lo, ph, ln, fl in tp.fiemap(fd):
    held.update(range(lo >> 20, (lo + ln + (1 << 20) - 1) >> 20))
print("\n".join(map(str, sorted(held))))
PY
	} | sort # as comm(1) wants it
}

"$THINPACK" report --json --min-age 0 --granularity 1M "$m" >"$TP_WORK/report.json"
"$PYTHON3" "$TP_PY" oracle --device "$dev" --mountpoint "$m" --granularity 1048576 \
	--min-age 0 >"$TP_WORK/oracle.json"
"$PYTHON3" "$TP_PY" compare "$TP_WORK/oracle.json" "$TP_WORK/report.json" ||
	tp_fail "report and oracle disagree"
unbacked=$("$PYTHON3" "$TP_PY" json "$TP_WORK/oracle.json" provisioning.used_unprovisioned)
tp_log "clusters in use yet never written: $unbacked"
[ "$unbacked" -gt 0 ] || tp_die "no cluster in use yet unwritten: the fixture is not what it must be"

# blocks IMAGE: the 4 KiB blocks of the image file that hold data, one a
# line (the filesystem's block numbers: it starts at byte 0).
blocks() {
	{
		"$PYTHON3" - "$1" <<'PY'
import os, sys
sys.path.insert(0, os.environ["TESTS_DIR"] + "/lib")
import tp
fd = os.open(sys.argv[1], os.O_RDONLY)
for lo, ph, ln, fl in tp.fiemap(fd):
    for b in range(lo >> 12, (lo + ln) >> 12):
        print(b)
PY
	} | sort
}

# check_transient NAME DEVICE: no chunk the pool backs anew holds only
# blocks that are free again: such a block was written for a moment by the
# run (a borrow slot, which holds a lender's block while its donor is put
# in place), in a cluster the device did not back, or the slot was put
# there.  A chunk backed for a block still in use is the filesystem's own
# (a new extent-tree block): thinpack says it apart.  Run when unmounted,
# for dumpe2fs to read committed bitmaps.
check_transient() {
	local name=$1 dev=$2 bad
	comm -13 "$TP_WORK/$name.blocks-before" "$TP_WORK/$name.blocks-after" >"$TP_WORK/$name.blocks-new"
	bad=$("$PYTHON3" - "$dev" "$TP_WORK/$name.new" "$TP_WORK/$name.blocks-new" <<'PY'
import bisect, os, sys
sys.path.insert(0, os.environ["TESTS_DIR"] + "/lib")
import tp
bs, count, first, ratio = tp.dumpe2fs_geometry(sys.argv[1])
free = sorted(tp.dumpe2fs_free_ranges(sys.argv[1], ratio))
starts = [lo for lo, hi in free]
chunks = {int(l) for l in open(sys.argv[2]) if l.strip()}
per_chunk = {}
for l in open(sys.argv[3]):
    b = int(l)
    if b * 4096 >> 20 not in chunks:
        continue
    i = bisect.bisect_right(starts, b) - 1
    per_chunk.setdefault(b * 4096 >> 20, []).append(i >= 0 and b < free[i][1])
print(" ".join(str(c) for c, f in sorted(per_chunk.items()) if all(f)))
PY
)
	tp_log "$name: chunks backed anew for blocks free again: ${bad:-none}"
	[ -z "$bad" ] || tp_fail "$name: the run wrote into chunks the pool did not back, now free again: $bad"
	local anew by_moves
	anew=$("$PYTHON3" "$TP_PY" json "$TP_WORK/$name.json" filesystems.0.provisioned_bytes)
	by_moves=$("$PYTHON3" "$TP_PY" json "$TP_WORK/$name.json" filesystems.0.provisioned_by_moves_bytes)
	tp_log "$name: thinpack says backed anew $anew bytes, $by_moves where the run placed data"
	tp_expect_eq "$name: bytes thinpack says the device backed anew where the run placed data" "$by_moves" 0
}

# run_compact NAME ARGS...: compact, then check what the pool holds.
run_compact() {
	local name=$1 before after returned
	shift
	chunks "$img" >"$TP_WORK/$name.before"
	blocks "$img" >"$TP_WORK/$name.blocks-before"
	"$THINPACK" compact --json --max-usage 100 --slack 0 --granularity 1M "$@" \
		>"$TP_WORK/$name.json" || [ $? -eq 1 ] || tp_fail "$name: compact exited $?"
	sync
	chunks "$img" >"$TP_WORK/$name.after"
	blocks "$img" >"$TP_WORK/$name.blocks-after"
	before=$(wc -l <"$TP_WORK/$name.before")
	after=$(wc -l <"$TP_WORK/$name.after")
	tp_log "$name: $("$PYTHON3" "$TP_PY" json "$TP_WORK/$name.json" filesystems.0.clusters_emptied) clusters emptied; the image held $before chunks, now $after"
	comm -13 "$TP_WORK/$name.before" "$TP_WORK/$name.after" >"$TP_WORK/$name.new"
	comm -23 "$TP_WORK/$name.before" "$TP_WORK/$name.after" >"$TP_WORK/$name.gone"
	new=$(wc -l <"$TP_WORK/$name.new")
	gone=$(wc -l <"$TP_WORK/$name.gone")
	tp_log "$name: new chunks $new: $(tr '\n' ' ' <"$TP_WORK/$name.new")"
	# No data goes into a chunk the pool does not back (the plan before
	# this rule made it back 95 new ones here), nor a borrow slot (the
	# lender's block, for a moment: one-block requests go to the smallest
	# free pieces, here the preallocated file's one-block holes; that
	# made the pool back 0-2 chunks a run before the placer checked the
	# slot), see check_transient.  What may be left: the filesystem's own
	# new extent-tree blocks, where ext4 puts them.
	[ "$new" -le 4 ] ||
		tp_fail "$name: the pool backs $new chunks it did not before: $(head -5 "$TP_WORK/$name.new" | tr '\n' ' ')"
	[ "$gone" -gt 0 ] || tp_fail "$name: the pool gave nothing back"
	tp_expect_eq "$name: bytes thinpack says the device took back" \
		"$("$PYTHON3" "$TP_PY" json "$TP_WORK/$name.json" filesystems.0.returned_bytes)" \
		$((gone << 20))
	tp_expect_eq "$name: bytes thinpack says the device had to back anew" \
		"$("$PYTHON3" "$TP_PY" json "$TP_WORK/$name.json" filesystems.0.provisioned_bytes)" \
		$((new << 20))
}

tp_snapshot "$m"
run_compact online --min-age 0 "$m"
tp_umount "$m"
check_transient online "$dev"
tp_fsck "$dev"
tp_mount "$dev" "$m" -o ro,noinit_itable
tp_expect_unchanged "$m" "online"
tp_umount "$m"

# Offline, on the image itself (aged again so that there is work to do).
tp_loop_detach "$dev"
tp_loop dev "$img"
tp_mount "$dev" "$m" -o noinit_itable
"$PYTHON3" "$TP_PY" age "$m" --seed 62 --rounds 2 >/dev/null
fstrim "$m"
tp_snapshot "$m"
tp_umount "$m"
tp_loop_detach "$dev"
run_compact offline --offline "$img"
check_transient offline "$img"
tp_fsck "$img"
tp_loop dev "$img"
tp_mount "$dev" "$m" -o ro,noinit_itable
tp_expect_unchanged "$m" "offline"
tp_done
