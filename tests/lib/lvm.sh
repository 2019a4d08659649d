# The VM tier's LVM thin pool (tests/vm/lvm-thin*.sh), sourced after
# common.sh.  No udev in the guest: lvm_ runs an LVM command without it.
lvmc='activation { udev_sync = 0 udev_rules = 0 monitoring = 0 } devices { obtain_device_list_from_udev = 0 }'
lvm_() { "$@" --config "$lvmc"; }

# Unmounted, in this order, before the volume group goes at exit.
TP_LVM_MOUNTS=()
# What a scenario stacked on the LVs ("dm NAME", "loop DEV"): removed
# after the mounts, last made first, before the volume group goes (an
# open thin LV stays active).
TP_LVM_STACK=()
tp_lvm_cleanup() {
	local mnt i
	set +e
	trap - ERR
	for mnt in "${TP_LVM_MOUNTS[@]}"; do
		mountpoint -q "$mnt" && umount "$mnt"
	done
	for ((i = ${#TP_LVM_STACK[@]} - 1; i >= 0; i--)); do
		case ${TP_LVM_STACK[i]} in
		dm\ *) dmsetup remove --noudevsync --retry "${TP_LVM_STACK[i]#dm }" ;;
		loop\ *) losetup -d "${TP_LVM_STACK[i]#loop }" 2>/dev/null ;;
		esac
	done
	lvm_ vgchange -an tpvg >/dev/null 2>&1
	tp_cleanup
}

# tp_lvm_pool DISK CHUNK: the volume group tpvg on DISK, a thin pool
# tpvg/pool of 900M in chunks of CHUNK that passes discards down, a thin LV
# tpvg/thin of 640M on it; all deactivated at exit (tp_lvm_cleanup).
tp_lvm_pool() {
	trap tp_lvm_cleanup EXIT
	lvm_ pvcreate -q "$1" >/dev/null
	lvm_ vgcreate -q tpvg "$1" >/dev/null
	lvm_ lvcreate -q --type thin-pool -L 900M --chunksize "$2" --discards passdown \
		-n pool tpvg >/dev/null
	lvm_ lvcreate -q -V 640M -T tpvg/pool -n thin >/dev/null
}

# tp_oneshot_pass MOUNTPOINT: one pass of thinpackd --oneshot that moves
# nothing (max_usage 0) on the filesystem there: its metrics in
# $TP_WORK/prom, its status in $TP_WORK/run, its state in $TP_WORK/state,
# its log in $TP_WORK/d.log; it must exit 0.
tp_oneshot_pass() {
	local rc=0
	printf '[global]\nmin_age = 0\nmax_usage = 0\npressure_limit = off\nio_rate = 0\n\n[%s]\n' \
		"$1" >"$TP_WORK/d.conf"
	mkdir -p "$TP_WORK/prom" "$TP_WORK/run" "$TP_WORK/state"
	THINPACK_TEXTFILE_DIR=$TP_WORK/prom RUNTIME_DIRECTORY=$TP_WORK/run \
		STATE_DIRECTORY=$TP_WORK/state "$(dirname "$THINPACK")/thinpackd" \
		--foreground --oneshot --config "$TP_WORK/d.conf" 2>"$TP_WORK/d.log" || rc=$?
	tp_expect_eq "thinpackd --oneshot: exit ($(tail -n 2 "$TP_WORK/d.log"))" "$rc" 0
	sync
}
