#!/bin/bash
# vm-args: --disk 1G
# Run in a guest (tests/vm/run-guest) with one virtio disk: an LVM thin
# pool (chunk size VM_CHUNK, 64k by default), a thin LV with ext4, aged,
# then a thin snapshot of it.  The origin is written after the snapshot
# (chunks of its own), half of its files are deleted, fstrim.  Then:
#   - `thinpack report` reads the pool: source dm-thin, the origin's
#     mapped and shared blocks equal to what thin_ls says (the pool's own
#     tool, independent of thinpack), and it names the snapshot;
#   - the report agrees with the oracle (tests/lib/tp.py: dumpe2fs, FIEMAP,
#     and the pool's mappings from dmsetup and thin_dump, parsed apart);
#   - `thinpack compact --min-age 0 --max-usage 100` on the origin never
#     raises the pool's used data blocks (dmsetup status).  What thinpack
#     says it provisioned anew is logged: the filesystem's own metadata
#     updates (inode tables, bitmaps) in chunks shared with the snapshot
#     break the sharing, and count; none of it where the run placed
#     data (its targets);
#   - the snapshot's files keep their checksums (mounted ro,noload);
#     e2fsck -fn is clean on the origin;
#   - a metadata snapshot held by someone else is reported as such, not
#     used (provisioning unknown) and not released;
#   - the gate: a pool filled above the margin is refused (exit 1,
#     "margin"), and nothing moves (pool and thin device unchanged).
# Its summary line gives the figures.
. "${TESTS_DIR:-$(dirname "$0")/..}/lib/common.sh"
. "$TESTS_DIR/lib/lvm.sh"
tp_require_root
tp_workdir
chunk=${VM_CHUNK:-64k}
disk=/dev/vda
[ -b "$disk" ] || tp_die "no virtio disk $disk"
m=$TP_WORK/m
s=$TP_WORK/s
TP_LVM_MOUNTS=("$s" "$m")
tp_lvm_pool "$disk" "$chunk"
pool=tpvg-pool-tpool
meta=/dev/mapper/tpvg-pool_tmeta
dev=/dev/mapper/tpvg-thin
# The pool's data blocks in use, and the thin device's mapped sectors, as
# device-mapper says (dmsetup status: thin-pool ... used/total data).
pool_used() { dmsetup status "$pool" | awk '{ split($6, a, "/"); print a[1] }'; }
pool_total() { dmsetup status "$pool" | awk '{ split($6, a, "/"); print a[2] }'; }
thin_mapped() { dmsetup status tpvg-thin | awk '{ print $4 }'; }
# thin_ls through a metadata snapshot of our own: "DEV MAPPED SHARED".
thin_ls_() {
	dmsetup message "$pool" 0 reserve_metadata_snap
	thin_ls --metadata-snap --no-headers -o DEV,MAPPED_BLOCKS,SHARED_BLOCKS "$meta"
	dmsetup message "$pool" 0 release_metadata_snap
}
jq_() { "$PYTHON3" -c "import json,sys; f=json.load(open(sys.argv[1]))['filesystems'][0]; print($1)" "$2"; }

mkfs.ext4 -q -F -b 4096 "$dev"
tp_mount "$dev" "$m"
tp_age "$m" --seed 53 --dirs 8
fstrim "$m"
sync
# What the snapshot will hold: every file's checksum.
(cd "$m" && find . -type f -print0 | sort -z | xargs -0 sha256sum) >"$TP_WORK/snap.sums"
nfiles=$(wc -l <"$TP_WORK/snap.sums")
lvm_ lvcreate -q -s -n snap tpvg/thin >/dev/null
lvm_ lvchange -q -ay -K tpvg/snap >/dev/null
snap_id=$(lvm_ lvs --noheadings -o thin_id tpvg/snap | tr -d ' ')
thin_id=$(lvm_ lvs --noheadings -o thin_id tpvg/thin | tr -d ' ')

# Chunks of the origin's own: new files written after the snapshot, and
# half of every file deleted (old and new), then trimmed.
mkdir "$m/new"
tp_age "$m/new" --seed 54 --dirs 4 --fill 0.6 --rounds 1 --final 0.55
find "$m" -type f | sort | awk 'NR % 2 == 0' | xargs -r rm -f
sync
fstrim "$m"
sync

# What thinpack runs, run here: its superblock line and errors in the log.
dmsetup message "$pool" 0 reserve_metadata_snap
thin_dump --metadata-snap --format xml --dev-id "$thin_id" "$meta" 2>"$TP_WORK/td.err" |
	head -1 >"$TP_WORK/td.out" || true
dmsetup message "$pool" 0 release_metadata_snap
tp_log "thin_dump --metadata-snap: $(cat "$TP_WORK/td.out") $(head -3 "$TP_WORK/td.err")"
"$THINPACK" report --json --min-age 0 "$m" >"$TP_WORK/report.json" ||
	tp_log "report exited $?"
"$THINPACK" report --min-age 0 "$m" >"$TP_WORK/report.txt" 2>&1 || true
sed 's/^/  /' "$TP_WORK/report.txt" >&2
tp_expect_eq "provisioning source" "$(jq_ 'f["provisioning"]["source"]' "$TP_WORK/report.json")" dm-thin
read -r r_mapped r_shared r_sharer r_sharer_name < <(jq_ \
	'f["pool"]["mapped_blocks"], f["pool"]["shared_blocks"], (f["pool"]["shared_with"] or [{}])[0].get("thin_id"), (f["pool"]["shared_with"] or [{}])[0].get("name")' \
	"$TP_WORK/report.json")
read -r _ l_mapped l_shared < <(thin_ls_ | awk -v id="$thin_id" '$1 == id')
tp_log "origin (thin id $thin_id): thinpack says $r_mapped mapped, $r_shared shared with thin id $r_sharer ($r_sharer_name); thin_ls says $l_mapped mapped, $l_shared shared"
tp_expect_eq "mapped blocks (thinpack vs thin_ls)" "$r_mapped" "$l_mapped"
tp_expect_eq "shared blocks (thinpack vs thin_ls)" "$r_shared" "$l_shared"
tp_expect_eq "the snapshot named as the sharer" "$r_sharer" "$snap_id"
tp_expect_eq "the snapshot's name" "$r_sharer_name" tpvg-snap
[ "${r_shared:-0}" -gt 0 ] 2>/dev/null || tp_fail "no shared blocks reported"
grep -q "shared with.*tpvg-snap" "$TP_WORK/report.txt" || tp_fail "the text report does not name the sharer"
chunk_b=$(lvm_ lvs --noheadings --units b --nosuffix -o chunk_size tpvg/pool | tr -d ' ')
"$PYTHON3" "$TP_PY" oracle --device "$dev" --mountpoint "$m" --granularity "$chunk_b" \
	--min-age 0 >"$TP_WORK/oracle.json"
"$PYTHON3" "$TP_PY" compare "$TP_WORK/oracle.json" "$TP_WORK/report.json" ||
	tp_fail "report and oracle disagree"

# A metadata snapshot found held: not used, not released, said so.
dmsetup message "$pool" 0 reserve_metadata_snap
"$THINPACK" report --json --min-age 0 "$m" >"$TP_WORK/report-held.json" 2>"$TP_WORK/report-held.err" || true
tp_expect_eq "provisioning with a held metadata snapshot" \
	"$(jq_ 'f["provisioning"]["source"], f["pool"]["flags"]["metadata_snapshot_held"]' "$TP_WORK/report-held.json" | tr '\n' ' ')" "none True "
grep -q "metadata snapshot is held already" "$TP_WORK/report-held.err" ||
	tp_fail "no warning of the held metadata snapshot: $(cat "$TP_WORK/report-held.err")"
held=$(dmsetup status "$pool" | awk '{ print $7 }')
[ "$held" != "-" ] || tp_fail "thinpack released a metadata snapshot it did not take"
dmsetup message "$pool" 0 release_metadata_snap

before=$(pool_used)
rc=0
"$THINPACK" compact --json --min-age 0 --max-usage 100 "$m" >"$TP_WORK/compact.json" || rc=$?
sync
after=$(pool_used)
read -r emptied victims prov prov_moves returned < <(jq_ \
	'f["clusters_emptied"], f["victims"], f["provisioned_bytes"], f["provisioned_by_moves_bytes"], f["returned_bytes"]' \
	"$TP_WORK/compact.json")
tp_log "$(uname -r): chunk $chunk; $nfiles files; origin $r_shared of $r_mapped chunks shared with the snapshot; compact (exit $rc): $emptied of $victims clusters emptied, device returned $returned bytes, provisioned $prov bytes ($prov_moves where the run placed data); pool used $before -> $after chunks"
[ "$after" -le "$before" ] || tp_fail "the pool grew: $before -> $after chunks"
# No move target in a chunk shared with the snapshot or unbacked: what
# was backed anew was the filesystem's own writes (and borrow slots'
# clusters that something else took a block of meanwhile).
tp_expect_eq "bytes backed anew where the run placed data" "$prov_moves" 0

# thinpackd's view of the pool: one pass (max_usage 0: it moves nothing,
# compaction was tested above), then its metrics, status JSON and
# `thinpack status` against the pool's own status and the oracle
# (thin_dump's XML through a metadata snapshot of the test's own).
tp_oneshot_pass "$m"
d_used=$(pool_used) d_total=$(pool_total)
"$PYTHON3" "$TP_PY" oracle --device "$dev" --mountpoint "$m" --granularity "$chunk_b" \
	--min-age 0 >"$TP_WORK/oracle-d.json"
# (thinpackd --oneshot has exited: status says so, exit 4)
rc=0
"$THINPACK" status --file "$TP_WORK/run/status.json" >"$TP_WORK/status.txt" 2>&1 || rc=$?
tp_expect_eq "thinpack status after --oneshot: exit" "$rc" 4
grep -q "^thinpackd: not running" "$TP_WORK/status.txt" ||
	tp_fail "thinpack status: $(head -3 "$TP_WORK/status.txt")"
"$PYTHON3" - "$TP_WORK/prom/thinpack.prom" "$TP_WORK/run/status.json" \
	"$TP_WORK/oracle-d.json" "$TP_WORK/status.txt" "$m" "$pool" "$chunk_b" \
	"$d_used" "$d_total" <<'PY' || tp_fail "thinpackd's pool figures"
import json, re, sys
prom, status, oracle, text, mnt, pool, chunk, used, total = sys.argv[1:]
chunk, used, total = int(chunk), int(used), int(total)
got = {}
for line in open(prom):
    m = re.match(r'^(thinpack_[a-z_]+)\{mountpoint="([^"]*)",uuid="[^"]*"'
                 r'(?:,([a-z]+)="([^"]*)")?\} (\S+)$', line)
    if m and m.group(2) == mnt:
        got[(m.group(1), m.group(4))] = float(m.group(5))
shared = json.load(open(oracle))["provisioning"]["shared"]
want = {
    ("thinpack_pool_info", pool): 1,
    ("thinpack_pool_data_size_bytes", None): total * chunk,
    ("thinpack_pool_flag", "out_of_data_space"): 0,
    ("thinpack_pool_flag", "read_only"): 0,
    ("thinpack_pool_flag", "needs_check"): 0,
}
errors = ["%s: %r, want %r" % (k, got.get(k), v) for k, v in want.items()
          if got.get(k) != v]
# Read after thinpackd's summary: the filesystem's own writes since (its
# metadata written back) may have broken the sharing of a chunk or two,
# each a chunk more in use and one fewer shared; nothing else.
m_used = got.get(("thinpack_pool_data_used_bytes", None), -1) / chunk
m_shared = got.get(("thinpack_shared_bytes", None), -1) / chunk
grew, unshared = used - m_used, m_shared - shared
if not 0 <= unshared <= grew <= 2:
    errors.append("metrics: %r chunks used, %r shared; the pool now: %d used, "
                  "%d shared" % (m_used, m_shared, used, shared))
fs = [f for f in json.load(open(status))["filesystems"] if f["mountpoint"] == mnt]
p = fs[0]["summary"]["pool"] if fs and fs[0].get("summary") else {}
for k, v in (("name", pool), ("block_size", chunk), ("used_blocks", m_used),
             ("total_blocks", total)):
    if p.get(k) != v:
        errors.append("status summary.pool.%s: %r, want %r" % (k, p.get(k), v))
if not any(l.strip().startswith("pool %s:" % pool) or
           re.match(r"\s*pool\s+%s:" % re.escape(pool), l) for l in open(text)):
    errors.append("thinpack status has no pool line for %s" % pool)
print("thinpackd: pool %s used %d of %d chunks (%d when counted), %d clusters "
      "shared (%d): %s" % (pool, used, total, m_used, shared, m_shared,
                            "; ".join(errors) or "equal"), file=sys.stderr)
sys.exit(1 if errors or not shared else 0)
PY

# The snapshot's files are those of before.
tp_umount "$m"
tp_fsck "$dev"
mkdir -p "$s"
mount -o ro,noload /dev/mapper/tpvg-snap "$s" || tp_fail "cannot mount the snapshot"
if mountpoint -q "$s"; then
	(cd "$s" && sha256sum --quiet -c "$TP_WORK/snap.sums") >"$TP_WORK/sums.out" 2>&1 ||
		tp_fail "the snapshot's files changed: $(head -5 "$TP_WORK/sums.out")"
	umount "$s"
fi

# The gate: another volume fills the pool above the margin (5 %).
tp_mount "$dev" "$m"
total=$(pool_total)
fill=$(( (total - $(pool_used)) - total * 3 / 100 ))
lvm_ lvcreate -q -V 900M -T tpvg/pool -n filler >/dev/null
dd if=/dev/zero of=/dev/mapper/tpvg-filler bs="$chunk_b" count="$fill" oflag=direct status=none
sync
g_before=$(pool_used) g_mapped=$(thin_mapped)
tp_log "pool filled: $g_before of $total chunks used"
tp_expect_exit 1 "margin" -- compact --min-age 0 --max-usage 100 "$m"
"$THINPACK" report --json --min-age 0 "$m" >"$TP_WORK/report-full.json" 2>/dev/null || true
tp_expect_eq "report: compaction blocker" \
	"$(jq_ '"margin" in (f["compaction_blocker"] or "")' "$TP_WORK/report-full.json")" True
tp_expect_eq "pool used after a refused compaction" "$(pool_used)" "$g_before"
tp_expect_eq "thin device mapped after a refused compaction" "$(thin_mapped)" "$g_mapped"
tp_umount "$m"
tp_done
