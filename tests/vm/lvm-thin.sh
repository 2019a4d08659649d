#!/bin/bash
# vm-args: --disk 1G
# Run in a guest (tests/vm/run-guest) with one virtio disk: an LVM thin
# pool on it (chunk size VM_CHUNK, 64k by default), a thin LV with ext4,
# aged, fstrim.  `thinpack report` with no --granularity must find the
# chunk size and agree with the independent oracle (tp.py, from dumpe2fs
# and FIEMAP); `thinpack compact` must give chunks back to the pool, as
# the pool itself says (lvs data_percent), every file keeping its bytes,
# e2fsck clean.
. "${TESTS_DIR:-$(dirname "$0")/..}/lib/common.sh"
. "$TESTS_DIR/lib/lvm.sh"
tp_require_root
tp_workdir
chunk=${VM_CHUNK:-64k}
disk=/dev/vda
[ -b "$disk" ] || tp_die "no virtio disk $disk"
TP_LVM_MOUNTS=("$TP_WORK/m")
tp_lvm_pool "$disk" "$chunk"
# pool_used: the pool's data in use, in bytes, as lvs says (data_percent of
# its size).
pool_used() {
	lvm_ lvs --reportformat json --units b --nosuffix -o lv_size,data_percent tpvg/pool |
		"$PYTHON3" -c 'import json,sys; lv=json.load(sys.stdin)["report"][0]["lv"][0]; print(int(float(lv["lv_size"]) * float(lv["data_percent"]) / 100))'
}
chunk_b=$(lvm_ lvs --reportformat json --units b --nosuffix -o chunk_size tpvg/pool |
	"$PYTHON3" -c 'import json,sys; print(int(json.load(sys.stdin)["report"][0]["lv"][0]["chunk_size"]))')
dev=/dev/mapper/tpvg-thin
m=$TP_WORK/m
mkfs.ext4 -q -F -b 4096 "$dev"
tp_mount "$dev" "$m"
tp_age "$m" --seed 51 --dirs 8
fstrim "$m"
sync
tp_snapshot "$m"

"$THINPACK" report --json --min-age 0 "$m" >"$TP_WORK/report.json"
gran=$("$PYTHON3" -c 'import json,sys; f=json.load(open(sys.argv[1]))["filesystems"][0]; print(f["granularity"], f["granularity_source"])' "$TP_WORK/report.json")
tp_log "chunk size $chunk_b; thinpack found granularity $gran"
tp_expect_eq "granularity found" "${gran%% *}" "$chunk_b"
"$PYTHON3" "$TP_PY" oracle --device "$dev" --mountpoint "$m" --granularity "$chunk_b" \
	--min-age 0 >"$TP_WORK/oracle.json"
"$PYTHON3" "$TP_PY" compare "$TP_WORK/oracle.json" "$TP_WORK/report.json" ||
	tp_fail "report and oracle disagree"
bound=$("$PYTHON3" -c 'import json,sys; print(json.load(open(sys.argv[1]))["reclaim"]["bound_clusters"])' "$TP_WORK/oracle.json")

before=$(pool_used)
"$THINPACK" compact --json --min-age 0 --max-usage 100 --slack 0 "$m" >"$TP_WORK/compact.json" ||
	tp_log "compact exited $?"
sync
after=$(pool_used)
read -r emptied attempts exact < <("$PYTHON3" -c 'import json,sys; f=json.load(open(sys.argv[1]))["filesystems"][0]; p=f["placement"]; print(f["clusters_emptied"], p["attempts"], p["exact"])' "$TP_WORK/compact.json")
returned=$(((before - after) / chunk_b))
tp_log "$(uname -r): placements $exact/$attempts exact; $emptied clusters emptied, bound $bound; pool $before -> $after bytes: $returned chunks returned"
[ "$returned" -gt 0 ] || tp_fail "the pool gave nothing back ($before -> $after bytes)"
[ "$attempts" -gt 0 ] && [ $((exact * 100)) -ge $((attempts * 99)) ] ||
	tp_fail "placements exact $exact of $attempts (want >= 99 %)"
tp_umount "$m"
tp_fsck "$dev"
tp_mount "$dev" "$m" -o ro
tp_expect_unchanged "$m" "after compaction"
tp_umount "$m"
tp_done
