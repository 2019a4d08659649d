#!/bin/bash
# vm-args: --disk 1G
# Run in a guest (tests/vm/run-guest) with one virtio disk: an LVM thin
# pool (chunk size VM_CHUNK, 64k by default) and a thin LV with a
# partition table (MBR) on it, its filesystems reached the ways a thin LV
# is stacked on in the field, none of them the thin device itself:
#   a. partition 1 (at 1 MiB) through a dm linear mapping over the thin
#      LV, as kpartx makes it (dmsetup create ... linear THIN START; no
#      kpartx here): ext4, aged, fstrim.  `thinpack report` must read the
#      pool (source dm-thin), lay its clusters from the partition's start
#      on the thin device, and agree with the oracle, which reads the
#      thin device's mappings itself (tp.py oracle --thin: dmsetup and
#      thin_dump, at the offset this test set).  `thinpack compact` must
#      give chunks back to the pool (dmsetup status, lvs), never take
#      more, every file keeping its bytes, e2fsck clean;
#   b. the same filesystem through a loop device over the thin LV: its
#      partition (losetup -P, loopNp1), and the loop device itself at the
#      partition's offset (losetup -o): source dm-thin, equal to the
#      oracle;
#   c. partition 2, starting 4 KiB off the chunk grid, through two
#      linear mappings stacked (the upper one at 8 sectors into the
#      lower): the starts add up, the clusters follow the thin device's
#      chunks (its edges partial), the report agrees with the oracle and
#      warns that discards through such a mapping keep a chunk each (the
#      kernel cuts them at the mapping's own boundaries), and compaction
#      still gives chunks back.
# Every mapping and loop device goes at exit, even on failure (lvm.sh).
. "${TESTS_DIR:-$(dirname "$0")/..}/lib/common.sh"
. "$TESTS_DIR/lib/lvm.sh"
tp_require_root
tp_workdir
chunk=${VM_CHUNK:-64k}
disk=/dev/vda
[ -b "$disk" ] || tp_die "no virtio disk $disk"
m=$TP_WORK/m
TP_LVM_MOUNTS=("$m")
tp_lvm_pool "$disk" "$chunk"
pool=tpvg-pool-tpool
thin=/dev/mapper/tpvg-thin
chunk_b=$(lvm_ lvs --noheadings --units b --nosuffix -o chunk_size tpvg/pool | tr -d ' ')
pool_used() { dmsetup status "$pool" | awk '{ split($6, a, "/"); print a[1] }'; }
lvs_used() { lvm_ lvs --noheadings -o data_percent tpvg/pool | tr -d ' '; }
jq_() { "$PYTHON3" -c "import json,sys; f=json.load(open(sys.argv[1]))['filesystems'][0]; print($1)" "$2"; }

# The partitions, in sectors: 1 at 1 MiB, 400 MiB; 2 a MiB after it plus
# 8 sectors, 200 MiB: 4 KiB off any chunk grid of 8 KiB or more.
p1_start=2048 p1_size=$((400 * 2048))
p2_start=$((p1_start + p1_size + 2048 + 8)) p2_size=$((200 * 2048))
[ $((p2_start * 512 % chunk_b)) -ne 0 ] || tp_die "partition 2 is on the chunk grid"
"$PYTHON3" - "$thin" "$p1_start" "$p1_size" "$p2_start" "$p2_size" <<'PY'
import struct, sys
mbr = bytearray(512)
for i, (start, size) in enumerate(zip(*[iter(map(int, sys.argv[2:]))] * 2)):
    mbr[446 + 16 * i:462 + 16 * i] = struct.pack(
        "<B3sB3sII", 0, b"\xff\xff\xfe", 0x83, b"\xff\xff\xfe", start, size)
mbr[510:512] = b"\x55\xaa"
with open(sys.argv[1], "r+b") as f:
    f.write(mbr)
PY

# dm_linear NAME SECTORS DEV START: what kpartx -a makes of a partition.
# No udev in the guest: no waiting for it, and the node made here.
dm_linear() {
	dmsetup create --noudevsync "$1" --table "0 $2 linear $3 $4"
	TP_LVM_STACK+=("dm $1")
	dmsetup mknodes "$1"
	[ -b "/dev/mapper/$1" ] || tp_die "no /dev/mapper/$1"
}

# check_report LABEL DEV OFFSET [thinpack options...]: thinpack report
# of what is mounted on $m (DEV) reads the pool, its filesystem at byte
# OFFSET of the thin LV, and agrees with the oracle; the oracle's map is
# no trivial one (some clusters provisioned, some not).  Exit 1 (nothing
# possible) is for a device without discard: a loop device over a block
# device on some kernels (6.1 turns its discards into zeroing, which
# dm-thin lacks, and so offers none).
check_report() {
	local label=$1 dev=$2 offset=$3 gran rc=0 want=0
	shift 3
	"$THINPACK" report --json --min-age 0 "$@" "$m" >"$TP_WORK/report-$label.json" \
		2>"$TP_WORK/report-$label.err" || rc=$?
	[ "$(lsblk -bdno DISC-MAX "$dev" | tr -d ' ')" -gt 0 ] || want=1
	[ "$rc" -eq "$want" ] ||
		tp_fail "$label: report exited $rc, want $want: $(cat "$TP_WORK/report-$label.err")"
	"$THINPACK" report --min-age 0 "$@" "$m" 2>&1 | sed 's/^/  /' >&2 || true
	read -r src off gran < <(jq_ 'f["provisioning"]["source"], f["alignment_offset"], f["granularity"]' \
		"$TP_WORK/report-$label.json" | paste -sd ' ')
	tp_expect_eq "$label: provisioning source" "$src" dm-thin
	tp_expect_eq "$label: granularity" "$gran" "$chunk_b"
	tp_expect_eq "$label: the filesystem's byte on the thin LV" "$off" "$offset"
	"$PYTHON3" "$TP_PY" oracle --device "$dev" --mountpoint "$m" --granularity "$gran" \
		--offset "$offset" --thin "$thin" --min-age 0 >"$TP_WORK/oracle-$label.json"
	read -r o_src o_total o_prov o_shared < <("$PYTHON3" -c 'import json,sys; o=json.load(open(sys.argv[1])); p=o["provisioning"]; print(p["source"], o["clusters"]["total"], p["provisioned"], p["shared"])' \
		"$TP_WORK/oracle-$label.json")
	read -r r_prov r_shared < <(jq_ 'f["provisioning"]["provisioned"], f["provisioning"]["shared"]' \
		"$TP_WORK/report-$label.json" | paste -sd ' ')
	tp_log "$label: granularity $gran, filesystem at byte $off of $thin: $o_total clusters; thinpack: $r_prov provisioned, $r_shared shared, $((o_total - r_prov)) unprovisioned; oracle: $o_prov, $o_shared, $((o_total - o_prov))"
	tp_expect_eq "$label: oracle source" "$o_src" dm-thin
	[ "$o_prov" -gt 0 ] && [ "$o_prov" -lt "$o_total" ] ||
		tp_fail "$label: the oracle's map is trivial ($o_prov of $o_total provisioned)"
	"$PYTHON3" "$TP_PY" compare "$TP_WORK/oracle-$label.json" "$TP_WORK/report-$label.json" ||
		tp_fail "$label: report and oracle disagree"
}

# compact_returns LABEL: thinpack compact on $m gives chunks back to the
# pool and never takes any.
compact_returns() {
	local label=$1 lb la rc=0
	sync
	before=$(pool_used) lb=$(lvs_used)
	"$THINPACK" compact --json --min-age 0 --max-usage 100 --slack 0 "$m" \
		>"$TP_WORK/compact-$label.json" 2>"$TP_WORK/compact-$label.err" || rc=$?
	sync
	after=$(pool_used) la=$(lvs_used)
	read -r emptied returned prov prov_moves < <(jq_ \
		'f["clusters_emptied"], f["returned_bytes"], f["provisioned_bytes"], f["provisioned_by_moves_bytes"]' \
		"$TP_WORK/compact-$label.json" | paste -sd ' ')
	tp_log "$label: compact (exit $rc): $emptied clusters emptied, thinpack measured $returned bytes returned, $prov provisioned; pool used $before -> $after chunks (lvs data_percent $lb -> $la)"
	[ "$rc" -le 1 ] || tp_fail "$label: compact exited $rc: $(head -3 "$TP_WORK/compact-$label.err")"
	[ "$after" -lt "$before" ] || tp_fail "$label: the pool gave nothing back ($before -> $after chunks)"
	[ "${returned:-0}" -gt 0 ] 2>/dev/null || tp_fail "$label: thinpack measured no chunk returned"
	tp_expect_eq "$label: bytes backed anew where the run placed data" "$prov_moves" 0
}

# a. Partition 1 through a linear mapping (kpartx's tpvg-thin1).
dm_linear tpvg-thin1 "$p1_size" "$thin" "$p1_start"
dev=/dev/mapper/tpvg-thin1
mkfs.ext4 -q -F -b 4096 "$dev"
tp_mount "$dev" "$m"
tp_age "$m" --seed 61 --dirs 8
fstrim "$m"
sync
tp_snapshot "$m"
check_report linear "$dev" $((p1_start * 512))
tp_expect_eq "linear at 1 MiB: a warning" \
	"$(jq_ 'f["provisioning"]["warning"]' "$TP_WORK/report-linear.json")" None
compact_returns linear
summary_a="linear at 1 MiB: $r_prov/$o_total provisioned, $r_shared shared; pool $before -> $after chunks"
# thinpackd finds the pool through the mapping too: one pass (max_usage 0:
# it moves nothing), and its metrics name the pool, its size and use.
tp_oneshot_pass "$m"
"$PYTHON3" - "$TP_WORK/prom/thinpack.prom" "$m" "$pool" "$chunk_b" \
	"$(dmsetup status "$pool" | awk '{ print $6 }')" <<'PY' || tp_fail "thinpackd's pool metrics"
import re, sys
prom, mnt, pool, chunk, status = sys.argv[1:]
chunk = int(chunk)
used, total = map(int, status.split("/"))
got = {}
for line in open(prom):
    m = re.match(r'^(thinpack_pool_[a-z_]+)\{mountpoint="([^"]*)",uuid="[^"]*"'
                 r'(?:,pool="([^"]*)")?\} (\S+)$', line)
    if m and m.group(2) == mnt:
        got[m.group(1)] = (m.group(3), float(m.group(4)))
errors = []
if got.get("thinpack_pool_info") != (pool, 1):
    errors.append("pool_info %r, want pool %s" % (got.get("thinpack_pool_info"), pool))
if got.get("thinpack_pool_data_size_bytes", (0, 0))[1] != total * chunk:
    errors.append("data_size_bytes %r, want %d"
                  % (got.get("thinpack_pool_data_size_bytes"), total * chunk))
# the filesystem's own writes since (its metadata) may take a chunk or two
m_used = got.get("thinpack_pool_data_used_bytes", (0, -1))[1] / chunk
if not 0 <= used - m_used <= 2:
    errors.append("data_used_bytes: %r chunks, the pool now %d" % (m_used, used))
print("thinpackd: pool %s, %d of %d chunks used (%r in its metrics): %s" %
      (pool, used, total, m_used, "; ".join(errors) or "equal"), file=sys.stderr)
sys.exit(1 if errors else 0)
PY
tp_umount "$m"
tp_fsck "$dev"
tp_mount "$dev" "$m" -o ro
tp_expect_unchanged "$m" "after compaction"
tp_umount "$m"

# b. The same filesystem through a loop device over the thin LV: its
# partition, then the loop device at the partition's offset.
loop=$(losetup --find --show -P "$thin")
TP_LVM_STACK+=("loop $loop")
[ -b "${loop}p1" ] || tp_die "no ${loop}p1 (partitions of $loop: $(ls "$loop"* | paste -sd ' '))"
tp_log "loop device $loop over $thin: $(cat "/sys/block/${loop#/dev/}/loop/backing_file"), discard granularity $(cat "/sys/block/${loop#/dev/}/queue/discard_granularity")"
tp_mount "${loop}p1" "$m" -o ro
check_report loop-partition "${loop}p1" $((p1_start * 512)) --granularity "$chunk_b"
tp_umount "$m"
losetup -d "$loop"
loop=$(losetup --find --show -o $((p1_start * 512)) --sizelimit $((p1_size * 512)) "$thin")
TP_LVM_STACK+=("loop $loop")
tp_mount "$loop" "$m" -o ro
check_report loop-offset "$loop" $((p1_start * 512)) --granularity "$chunk_b"
tp_umount "$m"
losetup -d "$loop"

# c. Partition 2, off the chunk grid, through two linear mappings.
dm_linear tpvg-thin2a $((p2_size + 8)) "$thin" $((p2_start - 8))
dm_linear tpvg-thin2 "$p2_size" /dev/mapper/tpvg-thin2a 8
dev=/dev/mapper/tpvg-thin2
mkfs.ext4 -q -F -b 4096 "$dev"
tp_mount "$dev" "$m"
tp_age "$m" --seed 62 --dirs 4
fstrim "$m"
sync
tp_snapshot "$m"
check_report misaligned "$dev" $((p2_start * 512))
grep -q "starts 4096 bytes into a $chunk_b-byte block of thin pool $pool" \
	"$TP_WORK/report-misaligned.err" ||
	tp_fail "misaligned: no warning of the skew: $(cat "$TP_WORK/report-misaligned.err")"
edge=$(jq_ 'f["clusters"]["edge"]' "$TP_WORK/report-misaligned.json")
[ "$edge" -eq 2 ] || tp_fail "misaligned: $edge edge clusters, want 2 (partition 2 starts and ends off the grid)"
compact_returns misaligned
tp_umount "$m"
tp_fsck "$dev"
tp_mount "$dev" "$m" -o ro
tp_expect_unchanged "$m" "after compaction"
tp_umount "$m"
tp_log "$(uname -r): chunk $chunk; $summary_a; two linears at 4 KiB off the grid: $r_prov/$o_total provisioned, $edge edge clusters; pool $before -> $after chunks"
tp_done
