#!/bin/bash
# thinpackd.service: `systemd-analyze verify` is clean, every directive has
# its comment, and `systemd-analyze security --offline=yes` rates its
# exposure at most what README.md reports (1.4).  No root.
. "${TESTS_DIR:-$(dirname "$0")/..}/lib/daemon-lib.sh"
tp_workdir
if ! command -v systemd-analyze >/dev/null; then
	[ "${CI:-}" = true ] && tp_die "needs systemd-analyze (CI=true: not skipping)"
	tp_log "skipped (no systemd-analyze)"
	exit 77
fi
exposure_max=1.4
in=$TESTS_DIR/../systemd/thinpackd.service.in
unit=$(dirname "$THINPACKD")/systemd/thinpackd.service
[ -f "$unit" ] || tp_die "$unit has not been built"

# Every directive in a block of lines that starts with a comment.
"$PYTHON3" - "$in" <<'PY' || tp_fail "directives without a comment"
import re, sys
bad, commented = [], False
for n, line in enumerate(open(sys.argv[1]), 1):
    line = line.strip()
    if not line or line.startswith("["):
        commented = False
    elif line.startswith("#"):
        commented = True
    elif re.match(r"^[A-Za-z]+=", line) and not commented:
        bad.append("%d: %s" % (n, line))
for b in bad:
    print("no comment: " + b, file=sys.stderr)
sys.exit(1 if bad else 0)
PY

# verify wants the program where ExecStart= says: the one just built.
sed "s|^ExecStart=.*|ExecStart=$THINPACKD|" "$unit" >"$TP_WORK/thinpackd.service"
out=$(cd "$TP_WORK" && systemd-analyze verify --man=no ./thinpackd.service 2>&1) ||
	tp_fail "systemd-analyze verify: $out"
[ -z "$out" ] || tp_fail "systemd-analyze verify says: $out"

out=$(cd "$TP_WORK" && systemd-analyze security --offline=yes ./thinpackd.service 2>&1) || true
exposure=$(sed -n 's/.*Overall exposure level for thinpackd.service: \([0-9.]*\).*/\1/p' <<<"$out")
tp_log "systemd-analyze security --offline=yes: exposure $exposure"
[ -n "$exposure" ] || tp_die "no exposure figure in: $out"
awk -v e="$exposure" -v m="$exposure_max" 'BEGIN { exit !(e <= m) }' ||
	tp_fail "exposure $exposure is above $exposure_max:"$'\n'"$(grep '✗' <<<"$out")"

# The man pages render without warnings.
for page in "$TESTS_DIR/../man/thinpackd.8" "$TESTS_DIR/../man/thinpackd.conf.5"; do
	[ -f "$page" ] || { tp_fail "no $page"; continue; }
	warn=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$page" 2>&1 >/dev/null) || true
	[ -z "$warn" ] || tp_fail "$page: $warn"
done
tp_done
