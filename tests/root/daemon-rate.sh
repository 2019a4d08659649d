#!/bin/bash
# thinpackd with io_rate: the bytes moved per second, sampled from outside
# every 50 ms, stay within 10 % of io_rate; SIGTERM in the middle of a pass
# stops it between two moves, exit 0 within 2 s; a restart resumes at once
# with the totals kept and the clusters that failed (files held open) left
# out; every file keeps its bytes, nothing leaks, e2fsck stays clean.
. "${TESTS_DIR:-$(dirname "$0")/..}/lib/daemon-lib.sh"
tp_require_root
td_setup
tp_thin_pool 1G
tp_thin_fs thin 256M -- -b 4096
m=$TP_MNT
tp_age "$m" --seed 31
fstrim "$m"
sync
tp_snapshot "$m"
chunks_before=$(tp_chunks "$TP_IMG")

# Files held open for writing: no lease, their clusters fail.
held=()
for f in $(find "$m" -type f -size -16k | sort | awk 'NR % 40 == 0' | head -24); do
	exec {fd}>>"$f"
	held+=("$fd")
done

rate=1048576
conf=$TP_WORK/thinpackd.conf
cat >"$conf" <<EOF
[global]
interval = 1h
min_age = 0
max_usage = 50
granularity = 1M
pressure_limit = off
io_rate = 1M/s
pass_budget = 0

[$m]
EOF
td_start "$conf"
td_wait_notify '^READY=1$' 10 >/dev/null
"$PYTHON3" "$TD_PY" sample "$TD_STATUS" "$m" 30 "$TP_WORK/samples" &
sampler=$!
td_pids+=("$sampler")
td_wait_status "fs['$m']['pass'] and fs['$m']['pass']['moved_bytes'] > 0" 20
sleep 6
td_wait_status "fs['$m']['pass'] and fs['$m']['phase'] == 'moving'" 1

# SIGTERM between two moves.
mark=$(td_mark)
td_stop
td_check_stop
td_wait_notify '^STOPPING=1$' 2 "$mark" >/dev/null
kill "$sampler"
wait "$sampler" || true
"$PYTHON3" "$TD_PY" rate "$TP_WORK/samples" "$rate" >&2 || tp_fail "io_rate not held"
first=$(td_status "fs['$m']['totals']['moved_bytes']")
tp_expect_eq "the first pass" "$(td_status "fs['$m']['last_pass']['result']"),$(td_status "fs['$m']['last_pass']['stop']")" \
	"stopped,shutdown"
tp_expect_eq "status state after SIGTERM" "$(td_status "s['state']")" stopped

# A restart resumes at once, remembers the totals and leaves the failed
# clusters out.
sed -i 's|^io_rate = .*|io_rate = 0|' "$conf"
td_start "$conf"
td_wait_status "fs['$m']['last_pass']['result'] == 'done'" 60
total=$(td_status "fs['$m']['totals']['moved_bytes']")
passes=$(td_status "fs['$m']['totals']['passes']")
tp_log "first pass moved $first bytes, in all $total in $passes passes;" \
	"$(td_status "fs['$m']['clusters_left_out']") clusters left out"
[ "$total" -gt "$first" ] || tp_fail "totals after restart: $total, not more than $first"
tp_expect_eq "passes after the restart" "$passes" 2
[ "$(td_status "fs['$m']['clusters_left_out']")" -gt 0 ] ||
	tp_fail "no failed cluster is left out (held files: ${#held[@]})"
grep -q "pass started (.*, [1-9][0-9]* clusters left out after failing lately)" "$TD_LOG" ||
	tp_fail "the second pass did not leave the failed clusters out"
td_stop
td_check_stop

for fd in "${held[@]}"; do
	exec {fd}>&-
done
sync
[ "$(tp_chunks "$TP_IMG")" -lt "$chunks_before" ] || tp_fail "the pool did not shrink"
tp_expect_unchanged "$m"
tp_umount "$m"
tp_fsck "$TP_DEV"
tp_done
