#!/bin/bash
# SIGKILL thinpack compact at random moments (at least 30 that land while
# it runs on each of two filesystems, 60 in all; CRASH_KILLS to change the
# 30): each time the filesystem remounts, e2fsck -fn is clean, every file
# holds its bytes, links, holes and unwritten ranges, and no block or inode
# leaked.  The small filesystem gives each placement a donor of its own;
# the larger one has room for the placer's reservoir (lib/place/reservoir.c).
. "${TESTS_DIR:-$(dirname "$0")/..}/lib/common.sh"
tp_require_root
tp_workdir
want=${CRASH_KILLS:-30}

# crash_run NAME SIZE none|some: the kills on a filesystem of SIZE, whose
# uninterrupted run places none or some through the reservoir
crash_run() {
	local name=$1 size=$2 want_res=$3 img mnt dev start duration res landed tries delay pid
	img=$TP_WORK/$name.img
	mnt=$TP_WORK/$name
	truncate -s "$size" "$img"
	mkfs.ext4 -q -F -b 4096 -E nodiscard "$img"
	tp_loop dev "$img"
	tp_mount "$dev" "$mnt"
	tp_age "$mnt" --seed 41 --extras
	tp_umount "$mnt"
	tp_loop_detach "$dev"
	cp --sparse=always "$img" "$TP_WORK/$name.aged"

	# Each try starts from the aged image, so that there is work to kill.
	restore() {
		cp --sparse=always "$TP_WORK/$name.aged" "$img"
		tp_loop dev "$img"
		tp_mount "$dev" "$mnt"
	}
	restore
	tp_snapshot "$mnt"
	tp_umount "$mnt"
	tp_loop_detach "$dev"

	# How long an uninterrupted run takes: the kills land within it.
	restore
	start=$(date +%s.%N)
	"$THINPACK" compact --json --min-age 0 --max-usage 100 --granularity 1M "$mnt" \
		>"$TP_WORK/$name.json" || true
	duration=$("$PYTHON3" "$TP_PY" elapsed "$start" "$(date +%s.%N)" --min 0.05)
	tp_log "$name: an uninterrupted run takes $duration s"
	res=$("$PYTHON3" "$TP_PY" json "$TP_WORK/$name.json" filesystems.0.placement.reservoir)
	case $want_res in
	none) [ "$res" -eq 0 ] || tp_fail "$name: $res placements by the reservoir, want none" ;;
	some) [ "$res" -gt 0 ] || tp_fail "$name: no placement by the reservoir" ;;
	esac
	tp_umount "$mnt"
	tp_loop_detach "$dev"

	landed=0 tries=0
	while [ "$landed" -lt "$want" ] && [ "$tries" -lt $((want * 3)) ]; do
		tries=$((tries + 1))
		restore
		delay=$("$PYTHON3" "$TP_PY" uniform "$duration")
		"$THINPACK" compact --min-age 0 --max-usage 100 --granularity 1M "$mnt" \
			>/dev/null 2>&1 &
		pid=$!
		sleep "$delay"
		if kill -KILL "$pid" 2>/dev/null; then
			landed=$((landed + 1))
		else
			duration=$delay # runs take less than the first one did
		fi
		wait "$pid" 2>/dev/null || true

		tp_umount "$mnt"
		tp_fsck "$dev"
		tp_mount "$dev" "$mnt"
		tp_expect_unchanged "$mnt" "kill $landed after ${delay}s"
		tp_umount "$mnt"
		tp_loop_detach "$dev"
		[ "$tp_failed" -eq 0 ] || break
	done
	tp_log "$name: $landed kills landed while thinpack ran ($tries tries)"
	[ "$landed" -ge "$want" ] || tp_fail "$name: only $landed kills landed, want $want"
}

crash_run small 160M none
[ "$tp_failed" -eq 0 ] && crash_run large 512M some
tp_done
