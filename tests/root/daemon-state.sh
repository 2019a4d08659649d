#!/bin/bash
# thinpackd and what it reads back: a state file whose dates lie in the
# future (the clock was set back) has them taken as now, so that neither
# the failed clusters nor the next pass wait years; a state path that is
# a directory is said to be one, once, and the passes go on; a section
# that names no mounted filesystem is said to do nothing, with its line.
# Nothing is moved here (min_age is ten years, trim off).
. "${TESTS_DIR:-$(dirname "$0")/..}/lib/daemon-lib.sh"
tp_require_root
td_setup
tp_thin_pool 512M
tp_thin_fs a 64M -- -b 4096
m=$TP_MNT
uuid=$(blkid -s UUID -o value "$TP_DEV")
state=$TP_WORK/state/$uuid.json

conf=$TP_WORK/thinpackd.conf
cat >"$conf" <<EOF
[global]
interval = 1h
min_age = 520w
trim = no
granularity = 1M
pressure_limit = off

[$m]

[/no/such/mount]

[UUID=00000000-1111-2222-3333-444444444444]
EOF

# future WHEN: a state file that says the last pass and two failed
# clusters happened at WHEN.
future() {
	cat >"$state" <<EOF
{ "uuid": "$uuid", "mountpoint": "$m",
  "totals": { "passes": 7 },
  "last_pass": { "start": $1, "end": $1, "result": "done", "stop": "none" },
  "failed_clusters": [ [ 3, $1 ], [ 5, $1 ] ] }
EOF
}
now=$(date +%s)
later=$((now + 10 * 366 * 86400))

# The next pass: an interval from now, not from ten years on.
future "$later"
td_start "$conf"
td_wait_notify '^READY=1$' 10 >/dev/null
td_wait_status "'$m' in fs" 30
next=$(td_status "int(fs['$m']['next_pass'])")
tp_log "next pass at $next, now $now"
[ "$next" -le $((now + 3600 + 120)) ] ||
	tp_fail "a last pass dated $later puts the next pass at $next"
td_stop
grep -q "holds dates in the future" "$TD_LOG" ||
	tp_fail "no word on the dates in the future: $(cat "$TD_LOG")"
# A section that names nothing mounted: said, with its line, once each.
for s in /no/such/mount UUID=00000000-1111-2222-3333-444444444444; do
	line=$(grep -nxF "[$s]" "$conf" | cut -d: -f1)
	c=$(grep -cF "thinpackd.conf:$line: [$s] names no mounted" "$TD_LOG" || true)
	tp_expect_eq "warnings for section [$s]" "$c" 1
done
grep -qE "\[$m\] names no mounted" "$TD_LOG" &&
	tp_fail "the section of a mounted filesystem said to name none"

# The failed clusters: kept out of this pass, but dated now, so that a
# later pass can try them again.
future "$later"
: >"$TD_LOG"
rc=0
RUNTIME_DIRECTORY=$TP_WORK/run STATE_DIRECTORY=$TP_WORK/state \
	"$THINPACKD" --foreground --oneshot --config "$conf" 2>"$TD_LOG" || rc=$?
t1=$(date +%s)
[ "$rc" -eq 0 ] || tp_fail "--oneshot exited $rc: $(cat "$TD_LOG")"
since=$("$PYTHON3" -c 'import json,sys; print(" ".join(str(c[1]) for c in json.load(open(sys.argv[1]))["failed_clusters"]))' "$state")
tp_log "failed clusters dated: $since"
for s in $since; do
	[ "$s" -le $((t1 + 1)) ] || tp_fail "a failed cluster is still dated $s (now $t1)"
done
passes=$("$PYTHON3" -c 'import json,sys; print(json.load(open(sys.argv[1]))["totals"]["passes"])' "$state")
tp_expect_eq "passes after one more" "$passes" 8

# A state path that is a directory: said to be one, once; the pass runs.
rm -f "$state"
mkdir "$state"
for i in 1 2; do
	rc=0
	RUNTIME_DIRECTORY=$TP_WORK/run STATE_DIRECTORY=$TP_WORK/state \
		"$THINPACKD" --foreground --oneshot --config "$conf" 2>"$TD_LOG" || rc=$?
	[ "$rc" -eq 0 ] || tp_fail "--oneshot with a directory for state exited $rc"
	grep -q "$uuid.json is a directory; starting afresh" "$TD_LOG" ||
		tp_fail "run $i: no word that the state file is a directory: $(cat "$TD_LOG")"
	grep -q "cannot save the state in .*$uuid.json: is a directory" "$TD_LOG" ||
		tp_fail "run $i: no word that the state cannot be saved: $(cat "$TD_LOG")"
	grep -q "Bad message" "$TD_LOG" && tp_fail "run $i: 'Bad message' for a directory"
	result=$("$PYTHON3" -c 'import json,sys; print(json.load(open(sys.argv[1]))["filesystems"][0]["last_pass"]["result"])' "$TP_WORK/run/status.json")
	[ "$result" = done ] ||
		tp_fail "run $i: the pass did not run: $(cat "$TD_LOG")"
done
[ -d "$state" ] || tp_fail "the directory in the way was changed"

tp_umount "$m"
tp_fsck "$TP_DEV"
tp_done
