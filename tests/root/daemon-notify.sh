#!/bin/bash
# thinpackd in the foreground under a NOTIFY_SOCKET listener, against an
# aged filesystem on the emulated thin device:
#   READY=1 comes; with a configuration that does not name the filesystem
#   nothing moves; SIGHUP with one that does: RELOADING=1, READY=1, and a
#   pass gives the pool back what `thinpack compact` would (at least 85 %
#   of the bound computed independently); STATUS= lines say what happens;
#   WATCHDOG=1 never misses its period; the metrics file is valid
#   Prometheus text and agrees with the status; `thinpack status` prints
#   it; a changed interval takes effect on SIGHUP; a broken configuration
#   is refused, logged as FILE:LINE, and the old one kept; SIGTERM exits 0
#   within 2 s with STOPPING=1; every file keeps its bytes, nothing leaks,
#   e2fsck stays clean.
. "${TESTS_DIR:-$(dirname "$0")/..}/lib/daemon-lib.sh"
tp_require_root
td_setup
tp_thin_pool 1G
tp_thin_fs thin 256M -- -b 4096
m=$TP_MNT
tp_age "$m" --seed 29 --extras
fstrim "$m"
sync

"$PYTHON3" "$TP_PY" oracle --device "$TP_DEV" --mountpoint "$m" \
	--granularity 1048576 --min-age 0 >"$TP_WORK/bound.json"
bound=$("$PYTHON3" -c 'import json,sys; print(json.load(open(sys.argv[1]))["reclaim"]["bound_clusters"])' "$TP_WORK/bound.json")
[ "$bound" -ge 30 ] || tp_die "aging left a bound of only $bound clusters"
tp_snapshot "$m"
chunks_before=$(tp_chunks "$TP_IMG")

conf=$TP_WORK/thinpackd.conf
metrics=$TP_WORK/run/metrics.prom
# slack 0: the bound keeps nothing free either (as in compact-thin.sh;
# compact-slack.sh tests the slack).
global="[global]
interval = 1h
min_age = 0
max_usage = 100
slack = 0
granularity = 1M
pressure_limit = off
io_rate = 0
metrics_file = $metrics"

# 1. A configuration that names a filesystem not mounted: ready, idle.
printf '%s\n[%s]\n' "$global" "$TP_WORK/elsewhere" >"$conf"
TD_WATCHDOG_USEC=3000000 td_start "$conf"
td_wait_notify '^READY=1$' 10 >/dev/null
td_wait_notify '^STATUS=idle: no mounted filesystem matches' 5 >/dev/null
[ -s "$metrics" ] || tp_fail "no metrics file after start"
# longer than the watchdog period: idle, thinpackd must still ping
sleep 3.5
tp_expect_eq "data chunks while the filesystem is not configured" \
	"$(tp_chunks "$TP_IMG")" "$chunks_before"
tp_expect_eq "filesystems in the status" "$(td_status 'len(s["filesystems"])')" 0

# 2. SIGHUP with the filesystem named: reloaded, picked up, compacted.
printf '%s\n[%s]\n' "$global" "$m" >"$conf"
mark=$(td_mark)
kill -HUP "$td_pid"
i=$(td_wait_notify '^RELOADING=1$' 10 "$mark")
td_wait_notify '^READY=1$' 10 "$((${i%% *} + 1))" >/dev/null
td_wait_status "fs['$m']['last_pass'] and fs['$m']['last_pass']['result'] == 'done'" 60
td_wait_notify "^STATUS=fs $m: (scanning|moving)" 1 "$mark" >/dev/null
td_wait_notify "^STATUS=fs $m: moved [0-9.]+ [KMG]iB, [0-9]+ clusters emptied, idle until [0-9]{2}:[0-9]{2}$" 5 "$mark" >/dev/null
sync
chunks_after=$(tp_chunks "$TP_IMG")
freed=$(((chunks_before - chunks_after) / 1048576))
tp_log "bound $bound clusters; the pool freed $freed MiB of data chunks;" \
	"$(td_status "fs['$m']['last_pass']")"
tp_log "skipped: $(td_status "{k: v for k, v in fs['$m']['totals']['skipped'].items() if v}")"
[ $((freed * 100)) -ge $((bound * 85)) ] ||
	tp_fail "the pool freed $freed MiB, less than 85% of the bound ($bound MiB)"

# The metrics: valid, and the same figures as the status.
"$PYTHON3" "$TD_PY" promcheck "$metrics" >&2 || tp_fail "invalid metrics"
moved=$(td_status "fs['$m']['totals']['moved_bytes']")
[ "$moved" -gt 0 ] || tp_fail "the status says nothing moved"
grep -qxF "thinpack_moved_bytes_total{mountpoint=\"$m\",uuid=\"$(td_status "fs['$m']['uuid']")\"} $moved" "$metrics" ||
	tp_fail "thinpack_moved_bytes_total is not $moved: $(grep moved_bytes_total "$metrics")"
emptied=$(td_status "fs['$m']['totals']['clusters_emptied']")
grep -q "^thinpack_clusters_emptied_total{.*} $emptied\$" "$metrics" ||
	tp_fail "thinpack_clusters_emptied_total is not $emptied"
for k in placement_exact placement_reservoir; do
	v=$(td_status "fs['$m']['totals']['$k']")
	grep -q "^thinpack_${k}_total{.*} $v\$" "$metrics" ||
		tp_fail "thinpack_${k}_total is not $v: $(grep "${k}_total" "$metrics")"
done

# thinpack status, for people and for scripts.
out=$("$THINPACK" status --file "$TD_STATUS") || tp_fail "thinpack status exited $?"
grep -q "^thinpackd: running" <<<"$out" || tp_fail "thinpack status: $out"
grep -q "^$m " <<<"$out" || tp_fail "thinpack status does not show $m: $out"
"$THINPACK" status --json --file "$TD_STATUS" |
	"$PYTHON3" -c 'import json,sys; j=json.load(sys.stdin); assert j["filesystems"][0]["totals"]["moved_bytes"] == int(sys.argv[1]), j' "$moved" ||
	tp_fail "thinpack status --json"

# 3. A changed interval takes effect on SIGHUP.
end=$(td_status "fs['$m']['last_pass']['end']")
sed -i 's/^interval = 1h$/interval = 2h/' "$conf"
mark=$(td_mark)
kill -HUP "$td_pid"
i=$(td_wait_notify '^RELOADING=1$' 10 "$mark")
td_wait_notify '^READY=1$' 10 "$((${i%% *} + 1))" >/dev/null
td_wait_status "fs['$m']['settings']['interval'] == 7200" 5
td_wait_status "abs(fs['$m']['next_pass'] - $end - 7200) < 1" 1

# 4. A broken configuration: refused, logged, the old one kept.
printf '%s\nbogus = 1\n[%s]\n' "$global" "$m" >"$conf"
line=$(grep -n '^bogus' "$conf" | cut -d: -f1)
mark=$(td_mark)
kill -HUP "$td_pid"
i=$(td_wait_notify '^RELOADING=1$' 10 "$mark")
td_wait_notify '^READY=1$' 10 "$((${i%% *} + 1))" >/dev/null
td_wait_status "s['reload_failures'] == 1" 5
grep -qxF "$conf:$line: bogus: unknown key" "$TD_LOG" ||
	tp_fail "no 'FILE:LINE: key: what is wrong' in the log: $(tail -5 "$TD_LOG")"
grep -q "keeping the configuration loaded before" "$TD_LOG" ||
	tp_fail "the log does not say the old configuration stays"
kill -0 "$td_pid" || tp_fail "thinpackd died of a broken configuration"
tp_expect_eq "interval after a refused reload" \
	"$(td_status "fs['$m']['settings']['interval']")" 7200

# 5. SIGTERM: STOPPING=1, exit 0 within 2 s.
mark=$(td_mark)
td_stop
td_check_stop
td_wait_notify '^STOPPING=1$' 2 "$mark" >/dev/null

# The watchdog was fed all along (WATCHDOG_USEC=3 s), as systemd would
# judge it: from the first READY=1 to STOPPING=1, no 3 s without a ping
# (and the daemon lived longer than that, so pings were needed).
"$PYTHON3" - "$TD_NOTIFY" <<'PY' || tp_fail "WATCHDOG=1 missed its period"
import sys
lines = [l.split(None, 1) for l in open(sys.argv[1])]
ready = min(float(t) for t, m in lines if m.strip() == "READY=1")
stop = max(float(t) for t, m in lines if m.strip() == "STOPPING=1")
t = [ready] + [float(t) for t, m in lines if m.strip() == "WATCHDOG=1"] + [stop]
gaps = [b - a for a, b in zip(t, t[1:])]
print("watchdog: %d pings in %.2f s, longest gap %.2f s" %
      (len(t) - 2, stop - ready, max(gaps)), file=sys.stderr)
assert stop - ready > 3.0 and max(gaps) < 3.0, gaps
PY

tp_expect_unchanged "$m"
tp_umount "$m"
tp_fsck "$TP_DEV"
tp_done
