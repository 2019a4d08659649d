#!/bin/bash
# The capabilities of thinpackd.service, checked by running a pass the way
# the unit does: as an unprivileged user with exactly the unit's
# CapabilityBoundingSet as ambient capabilities (setpriv), on files owned
# by another user.  With all of them the pass moves and trims; without
# any one of them it cannot (CAP_SYS_ADMIN: FITRIM; trim = no does
# without it).
. "${TESTS_DIR:-$(dirname "$0")/..}/lib/daemon-lib.sh"
tp_require_root
command -v setpriv >/dev/null || tp_die "needs setpriv (util-linux)"
td_setup
tp_thin_pool 1G
unit=$TESTS_DIR/../systemd/thinpackd.service.in
caps=$(sed -n 's/^CapabilityBoundingSet=//p' "$unit")
[ -n "$caps" ] || tp_die "no CapabilityBoundingSet= in $unit"
ambient=$(sed -n 's/^AmbientCapabilities=//p' "$unit")
tp_expect_eq "AmbientCapabilities= of the unit" "$ambient" "$caps"
nobody=65534

# pass NAME CAPS [KEY=VALUE...]: a fresh aged filesystem whose files belong
# to uid 1000, one --oneshot pass as $nobody with CAPS; sets moved,
# emptied, trimmed and result.
n=0
pass() {
	local name=$1 set=$2 dir rc=0
	shift 2
	n=$((n + 1))
	tp_thin_fs "fs$n" 64M -- -b 4096
	tp_age "$TP_MNT" --seed $((40 + n)) >/dev/null 2>&1
	chown -R 1000:1000 "$TP_MNT"/d*
	find "$TP_MNT" -type f -exec chmod 0644 {} +
	fstrim "$TP_MNT"
	sync
	dir=$TP_WORK/run$n
	mkdir -p "$dir/run" "$dir/state"
	chown -R "$nobody" "$dir"
	{
		printf '[global]\nmin_age = 0\nmax_usage = 100\ngranularity = 1M\n'
		printf 'pressure_limit = off\nio_rate = 0\n'
		printf '%s\n' "$@"
		printf '[%s]\n' "$TP_MNT"
	} >"$dir/conf"
	RUNTIME_DIRECTORY=$dir/run STATE_DIRECTORY=$dir/state \
		setpriv --reuid=$nobody --regid=$nobody --clear-groups --no-new-privs \
		--inh-caps="-all$set" --ambient-caps="-all$set" --bounding-set="-all$set" \
		-- "$THINPACKD" --foreground --oneshot --config "$dir/conf" \
		2>"$dir/log" || rc=$?
	read -r moved emptied trimmed result < <("$PYTHON3" - "$dir/run/status.json" "$name" "$rc" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
p = s["filesystems"][0]["last_pass"]
print(p["moved_bytes"], p["clusters_emptied"], p["trimmed_bytes"], p["result"])
print("%s: exit %s, moved %d, emptied %d, trimmed %d, %s%s" % (
    sys.argv[2], sys.argv[3], p["moved_bytes"], p["clusters_emptied"],
    p["trimmed_bytes"], p["result"], ": " + p["error"] if p["error"] else ""),
    file=sys.stderr)
PY
	)
}

all=
for c in $caps; do
	c=${c#CAP_}
	all="$all,+${c,,}"
done
pass "all of $caps" "$all"
[ "$moved" -gt 0 ] && [ "$emptied" -gt 0 ] && [ "$trimmed" -gt 0 ] ||
	tp_fail "with $caps the pass did not move, empty and trim"
[ "$result" = done ] || tp_fail "with $caps the pass ended $result"

for c in $caps; do
	c=${c#CAP_}
	less=${all/,+${c,,}/}
	pass "without CAP_$c" "$less"
	if [ "$c" = SYS_ADMIN ]; then
		[ "$result" = error ] && [ "$trimmed" -eq 0 ] ||
			tp_fail "without CAP_SYS_ADMIN the pass trimmed ($result)"
		pass "without CAP_SYS_ADMIN, trim = no" "$less" "trim = no"
		[ "$moved" -gt 0 ] && [ "$result" = done ] ||
			tp_fail "with trim = no, CAP_SYS_ADMIN was needed ($result)"
	elif [ "$moved" -ne 0 ] && [ "$result" != error ]; then
		tp_fail "without CAP_$c the pass moved $moved bytes: it is not needed"
	fi
done
tp_done
