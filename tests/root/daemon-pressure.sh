#!/bin/bash
# thinpackd and pressure_limit: data moves while /proc/pressure/io
# "some avg10" is below the limit; while O_DIRECT readers on another loop
# device keep it above, thinpackd yields and not one byte moves; when they
# stop and the pressure falls, moving resumes.  Every file keeps its bytes,
# nothing leaks, e2fsck stays clean.
. "${TESTS_DIR:-$(dirname "$0")/..}/lib/daemon-lib.sh"
tp_require_root
[ -r /proc/pressure/io ] || tp_die "no /proc/pressure/io (kernel without PSI, or psi=0)"
td_setup
tp_thin_pool 1G
tp_thin_fs thin 256M -- -b 4096
m=$TP_MNT
tp_age "$m" --seed 37
fstrim "$m"
sync
tp_snapshot "$m"

avg10() { "$PYTHON3" "$TD_PY" avg10; }
# wait_avg10 OP VALUE SECONDS: until some avg10 OP VALUE (lt, gt).
wait_avg10() {
	local end=$((SECONDS + $3)) a
	while :; do
		a=$(avg10)
		awk -v a="$a" -v op="$1" -v v="$2" \
			'BEGIN { exit !(op == "lt" ? a < v : a > v) }' && return 0
		[ $SECONDS -lt $end ] || tp_die "I/O pressure stayed at $a (want $1 $2) for $3 s"
		sleep 0.5
	done
}

limit=30
conf=$TP_WORK/thinpackd.conf
cat >"$conf" <<EOF
[global]
interval = 1h
min_age = 0
max_usage = 100
granularity = 1M
pressure_limit = $limit
io_rate = 512K
pass_budget = 0

[$m]
EOF

# 1. Low pressure: data moves.
wait_avg10 lt 20 90
td_start "$conf"
td_wait_notify '^READY=1$' 10 >/dev/null
td_wait_status "fs['$m']['pass'] and fs['$m']['pass']['moved_bytes'] > 0" 30
sleep 2
low=$(td_status "fs['$m']['pass']['moved_bytes']")
tp_log "low pressure ($(avg10)): $low bytes moved"

# 2. High pressure: thinpackd yields, nothing moves.
tp_io_load_start
wait_avg10 gt $((limit + 10)) 60
td_wait_status "fs['$m']['phase'] == 'yielding'" 10
td_wait_notify "^STATUS=fs $m: yielding for I/O pressure" 5 >/dev/null
sleep 1
m0=$(td_status "fs['$m']['pass']['moved_bytes']")
[ "$m0" -ge "$low" ] || tp_fail "moved bytes went down: $low, then $m0"
for ((i = 0; i < 12; i++)); do
	a=$(avg10)
	awk -v a="$a" -v l="$limit" 'BEGIN { exit !(a > l) }' ||
		tp_die "the load did not keep the pressure above $limit ($a)"
	now=$(td_status "fs['$m']['pass']['moved_bytes']")
	tp_expect_eq "bytes moved at pressure $a" "$now" "$m0"
	tp_expect_eq "phase at pressure $a" "$(td_status "fs['$m']['phase']")" yielding
	sleep 0.5
done
tp_log "high pressure: nothing moved for 6 s, $m0 bytes in all"

# 3. The load stops, the pressure falls: moving resumes.
tp_io_load_stop
td_wait_status "fs['$m']['pass'] is None or fs['$m']['pass']['moved_bytes'] > $m0" 60
tp_log "pressure $(avg10): moving again"
td_stop
td_check_stop
y=$(td_status "fs['$m']['last_pass']['yield_seconds']")
awk -v y="$y" 'BEGIN { exit !(y >= 5) }' || tp_fail "yield_seconds is $y, want >= 5"

tp_expect_unchanged "$m"
tp_umount "$m"
tp_fsck "$TP_DEV"
tp_done
