#!/bin/bash
# thinpack-compact.timer and thinpack-compact.service, the timer
# alternative to thinpackd.service: the service is a oneshot thinpackd
# --oneshot whose SuccessExitStatus= is the exit code of "another run
# holds the filesystem" as the programs and thinpack(8) define it; it has
# thinpackd.service's hardening, line for line; both keep their runtime
# directory (the lock files live there); the timer is weekly with a
# randomized delay and catches up (Persistent=); every directive has its
# comment.  These checks need nothing but the files; with systemd-analyze
# (always under CI=true) both units also pass `verify`, and the service's
# `security --offline=yes` exposure is at most thinpackd.service's (1.4).
. "${TESTS_DIR:-$(dirname "$0")/..}/lib/daemon-lib.sh"
tp_workdir
top=$TESTS_DIR/..
svc_in=$top/systemd/thinpack-compact.service.in
timer=$top/systemd/thinpack-compact.timer
daemon_in=$top/systemd/thinpackd.service.in
unit=$(dirname "$THINPACKD")/systemd/thinpack-compact.service
for f in "$svc_in" "$timer" "$daemon_in" "$unit"; do
	[ -f "$f" ] || tp_die "no $f"
done

# key FILE KEY: the values of KEY= in FILE, one a line.
key() { sed -n "s/^$2=//p" "$1"; }

tp_expect_eq "Type= of the service" "$(key "$svc_in" Type)" oneshot
tp_expect_eq "ExecStart= of the service" "$(key "$svc_in" ExecStart)" "@sbindir@/thinpackd --oneshot"
grep -q '^ExecStart=/.*/thinpackd --oneshot$' "$unit" ||
	tp_fail "the built unit runs: $(key "$unit" ExecStart)"
# 16 everywhere it is defined.
busy=$(sed -n 's/.*TPD_EXIT_BUSY = \([0-9]*\).*/\1/p' "$top/daemon/model.h")
tp_expect_eq "TPD_EXIT_BUSY (daemon/model.h)" "$busy" 16
tp_expect_eq "TP_EXIT_BUSY (tools/thinpack.h)" \
	"$(sed -n 's/.*TP_EXIT_BUSY = \([0-9]*\).*/\1/p' "$top/tools/thinpack.h")" 16
tp_expect_eq "SuccessExitStatus= of the service" "$(key "$svc_in" SuccessExitStatus)" "$busy"
sed -n '/^\.SH EXIT STATUS/,/^\.SH /p' "$top/man/thinpack.8" | grep -qx "\.B $busy" ||
	tp_fail "thinpack(8) EXIT STATUS does not define $busy"
sed -n '/^\.SH EXIT STATUS/,/^\.SH /p' "$top/man/thinpackd.8" | grep -qx "\.B $busy" ||
	tp_fail "thinpackd(8) EXIT STATUS does not define $busy"
# Never removed while someone may hold a lock file in it.
for f in "$svc_in" "$daemon_in"; do
	tp_expect_eq "RuntimeDirectory= of $(basename "$f")" "$(key "$f" RuntimeDirectory)" thinpack
	tp_expect_eq "RuntimeDirectoryPreserve= of $(basename "$f")" \
		"$(key "$f" RuntimeDirectoryPreserve)" yes
done
# thinpackd.service's sandbox, every line of it, from User= on.
sed -n '/^User=/,/^\[Install\]/p' "$daemon_in" | grep -E '^[A-Za-z]+=' >"$TP_WORK/daemon.sandbox"
while read -r line; do
	grep -qxF -- "$line" "$svc_in" || tp_fail "thinpack-compact.service lacks '$line'"
done <"$TP_WORK/daemon.sandbox"
[ "$(wc -l <"$TP_WORK/daemon.sandbox")" -ge 25 ] || tp_fail "thinpackd.service's sandbox not found"
# The timer: weekly-ish, spread, catching up, enabled into timers.target.
[ -n "$(key "$timer" OnCalendar)" ] || tp_fail "no OnCalendar= in the timer"
[ -n "$(key "$timer" RandomizedDelaySec)" ] || tp_fail "no RandomizedDelaySec= in the timer"
tp_expect_eq "Persistent= of the timer" "$(key "$timer" Persistent)" true
tp_expect_eq "WantedBy= of the timer" "$(key "$timer" WantedBy)" timers.target

# Every directive in a block of lines that starts with a comment.
"$PYTHON3" - "$svc_in" "$timer" <<'PY' || tp_fail "directives without a comment"
import re, sys
bad = []
for path in sys.argv[1:]:
    commented = False
    for n, line in enumerate(open(path), 1):
        line = line.strip()
        if not line or line.startswith("["):
            commented = False
        elif line.startswith("#"):
            commented = True
        elif re.match(r"^[A-Za-z]+=", line) and not commented:
            bad.append("%s:%d: %s" % (path, n, line))
for b in bad:
    print("no comment: " + b, file=sys.stderr)
sys.exit(1 if bad else 0)
PY

if ! command -v systemd-analyze >/dev/null; then
	[ "${CI:-}" = true ] && tp_die "needs systemd-analyze (CI=true: not skipping)"
	tp_log "no systemd-analyze: the files checked, not verified"
	tp_done
fi
# verify wants the program where ExecStart= says: the one just built.
sed "s|^ExecStart=[^ ]*|ExecStart=$THINPACKD|" "$unit" >"$TP_WORK/thinpack-compact.service"
cp "$timer" "$TP_WORK/"
out=$(cd "$TP_WORK" && systemd-analyze verify --man=no ./thinpack-compact.service \
	./thinpack-compact.timer 2>&1) || tp_fail "systemd-analyze verify: $out"
[ -z "$out" ] || tp_fail "systemd-analyze verify says: $out"
out=$(cd "$TP_WORK" && systemd-analyze security --offline=yes ./thinpack-compact.service 2>&1) || true
exposure=$(sed -n 's/.*Overall exposure level for thinpack-compact.service: \([0-9.]*\).*/\1/p' <<<"$out")
tp_log "systemd-analyze security --offline=yes: exposure $exposure"
[ -n "$exposure" ] || tp_die "no exposure figure in: $out"
awk -v e="$exposure" 'BEGIN { exit !(e <= 1.4) }' ||
	tp_fail "exposure $exposure is above 1.4:"$'\n'"$(grep '✗' <<<"$out")"
tp_done
