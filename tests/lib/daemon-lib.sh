# shellcheck shell=bash
# Shared by the thinpackd tests of the root and noroot tiers: thinpackd in
# the foreground under a NOTIFY_SOCKET listener (daemon-helper.py listen),
# with its runtime and state directories in the test's work directory.
# Everything it starts is stopped at exit, before the mounts and loop
# devices go.
. "${TESTS_DIR:-$(dirname "$0")/..}/lib/common.sh"

if [ -z "${THINPACKD:-}" ]; then
	case $THINPACK in
	*/*) THINPACKD=$(dirname "$THINPACK")/thinpackd ;;
	*) THINPACKD=thinpackd ;;
	esac
fi
TD_PY=$TESTS_DIR/lib/daemon-helper.py
td_pid=
td_pids=()

td_cleanup() {
	local p i
	trap - ERR
	set +e
	for p in $td_pid "${td_pids[@]}"; do
		kill -TERM "$p" 2>/dev/null
	done
	for p in $td_pid "${td_pids[@]}"; do
		for ((i = 0; i < 50; i++)); do
			kill -0 "$p" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	tp_cleanup
	return 0
}

# td_setup: the work directory, the listener; TD_NOTIFY is its log,
# TD_STATUS the status JSON thinpackd writes.
td_setup() {
	local i
	tp_workdir
	trap td_cleanup EXIT
	mkdir -p "$TP_WORK/run" "$TP_WORK/state"
	TD_NOTIFY=$TP_WORK/notify.log
	TD_STATUS=$TP_WORK/run/status.json
	TD_LOG=$TP_WORK/thinpackd.log
	: >"$TD_NOTIFY"
	"$PYTHON3" "$TD_PY" listen "$TP_WORK/notify.sock" "$TD_NOTIFY" &
	td_pids+=($!)
	for ((i = 0; i < 100; i++)); do
		[ -S "$TP_WORK/notify.sock" ] && return 0
		sleep 0.05
	done
	tp_die "the notify listener did not start"
}

# td_start CONFIG [thinpackd options...]: start thinpackd; its pid in
# td_pid, its stderr in TD_LOG.  TD_WATCHDOG_USEC sets WATCHDOG_USEC.
td_start() {
	local conf=$1
	shift
	NOTIFY_SOCKET=$TP_WORK/notify.sock \
		RUNTIME_DIRECTORY=$TP_WORK/run STATE_DIRECTORY=$TP_WORK/state \
		WATCHDOG_USEC=${TD_WATCHDOG_USEC:-} \
		"$THINPACKD" --foreground --config "$conf" "$@" 2>>"$TD_LOG" &
	td_pid=$!
}

# The number of notification lines so far: td_wait_notify waits for one
# after them.
td_mark() { wc -l <"$TD_NOTIFY"; }

# td_wait_notify REGEX SECONDS [AFTER]: a notification line matching
# REGEX after the first AFTER lines; prints "INDEX TIME LINE".
td_wait_notify() {
	"$PYTHON3" "$TD_PY" wait-notify "$TD_NOTIFY" "$1" "$2" --after "${3:-0}" ||
		tp_die "thinpackd log:"$'\n'"$(tail -20 "$TD_LOG")"
}

# td_wait_status EXPR SECONDS: until EXPR holds of the status JSON.
td_wait_status() {
	"$PYTHON3" "$TD_PY" wait-status "$TD_STATUS" "$1" "$2" ||
		tp_die "thinpackd log:"$'\n'"$(tail -20 "$TD_LOG")"
}

# td_status EXPR: its value now.
td_status() { "$PYTHON3" "$TD_PY" status "$TD_STATUS" "$1"; }

# td_stop: SIGTERM; TD_RC is the exit status, TD_STOP_S the seconds it
# took.
td_stop() {
	local t0=$EPOCHREALTIME t1
	kill -TERM "$td_pid"
	TD_RC=0
	wait "$td_pid" || TD_RC=$?
	t1=$EPOCHREALTIME
	td_pid=
	TD_STOP_S=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
}

# td_check_stop: it stopped with 0 within 2 s.
td_check_stop() {
	tp_log "SIGTERM: exit $TD_RC after $TD_STOP_S s"
	[ "$TD_RC" -eq 0 ] || tp_fail "thinpackd exited $TD_RC after SIGTERM"
	awk -v s="$TD_STOP_S" 'BEGIN { exit !(s <= 2.0) }' ||
		tp_fail "thinpackd took $TD_STOP_S s to stop (more than 2 s)"
}
