#!/bin/bash
# An unprivileged user's read leases cannot stall a run.  As nobody, a
# process holds F_RDLCK leases on files of its own among those compact
# would move, and ignores SIGIO, so that each lease break would last
# /proc/sys/fs/lease-break-time (45 s here).  compact must skip those files
# at once ("in_use") and take less than 2 s longer than the same run on the
# same image without the leases; the leased files keep their blocks; every
# file its bytes; e2fsck -fn clean.  Clusters left because their files were
# in use are no failure: both runs exit 0 (thinpack(8), EXIT STATUS), and
# so does a thinpackd --oneshot pass with the same leases held.
. "${TESTS_DIR:-$(dirname "$0")/..}/lib/common.sh"
tp_require_root
tp_workdir
THINPACKD=${THINPACKD:-$(dirname "$THINPACK")/thinpackd}
command -v setpriv >/dev/null || tp_die "needs setpriv"
# nobody must reach the files, and run a python3 of the system's
chmod 755 "$TP_WORK"
holder_py=/usr/bin/python3
[ -x "$holder_py" ] || holder_py=$(command -v python3)

old_break=$(cat /proc/sys/fs/lease-break-time)
restore_break() { echo "$old_break" >/proc/sys/fs/lease-break-time; }
trap 'restore_break; tp_cleanup' EXIT
echo 45 >/proc/sys/fs/lease-break-time

img=$TP_WORK/fs.img
truncate -s 160M "$img"
mkfs.ext4 -q -F -b 4096 -E nodiscard "$img"
tp_loop dev "$img"
tp_mount "$dev" "$TP_WORK/m"
tp_age "$TP_WORK/m" --seed 11
# The files the plan moves first (an uninterrupted run moves these): one
# in each of the 40 emptiest victims' clusters, read back from the dry run
# and found by inode.
"$THINPACK" compact --dry-run --json --min-age 0 --max-usage 100 --granularity 1M \
	"$TP_WORK/m" >"$TP_WORK/plan.json"
"$PYTHON3" - "$TP_WORK/plan.json" "$TP_WORK/m" >"$TP_WORK/leased" <<'PY'
import json, os, sys
moves = json.load(open(sys.argv[1]))["filesystems"][0]["plan"]
inos = []
for m in moves:
    if m["inode"] not in inos:
        inos.append(m["inode"])
want = set(inos[:40])
for top, _, files in os.walk(sys.argv[2]):
    for f in files:
        p = os.path.join(top, f)
        if os.lstat(p).st_ino in want:
            want.discard(os.lstat(p).st_ino)
            print(p)
PY
n=$(wc -l <"$TP_WORK/leased")
[ "$n" -ge 6 ] || tp_die "only $n files to lease"
xargs -d '\n' chown nobody <"$TP_WORK/leased"
sync
tp_umount "$TP_WORK/m"
tp_loop_detach "$dev"
cp --sparse=always "$img" "$TP_WORK/aged.img"

# run NAME: compact a fresh copy of the aged image, its wall time in NAME.time
run() {
	local name=$1 start
	cp --sparse=always "$TP_WORK/aged.img" "$img"
	tp_loop dev "$img"
	tp_mount "$dev" "$TP_WORK/m"
	tp_snapshot "$TP_WORK/m"
	xargs -d '\n' "$PYTHON3" "$TP_PY" fiemap <"$TP_WORK/leased" >"$TP_WORK/leased.before"
	if [ "$name" != plain ]; then
		setpriv --reuid=nobody --regid=nogroup --clear-groups -- "$holder_py" -c '
import fcntl, os, signal, sys, time
signal.signal(signal.SIGIO, signal.SIG_IGN)
fds = []
for p in open(sys.argv[1]).read().splitlines():
    fd = os.open(p, os.O_RDONLY)
    fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_RDLCK)
    fds.append(fd)
sys.stdout.write("%d\n" % len(fds))
sys.stdout.flush()
time.sleep(600)
' "$TP_WORK/leased" >"$TP_WORK/held" &
		holder=$!
		for _ in $(seq 100); do [ -s "$TP_WORK/held" ] && break; sleep 0.1; done
		[ -s "$TP_WORK/held" ] || tp_die "the lease holder did not start"
	fi
	start=$(date +%s.%N)
	rc=0
	if [ "$name" = oneshot ]; then
		printf '[global]\nmin_age = 0\nmax_usage = 100\ngranularity = 1M\n%s\n[%s]\n' \
			'pressure_limit = off' "$TP_WORK/m" >"$TP_WORK/oneshot.conf"
		mkdir -p "$TP_WORK/run" "$TP_WORK/state"
		RUNTIME_DIRECTORY=$TP_WORK/run STATE_DIRECTORY=$TP_WORK/state timeout 300 \
			"$THINPACKD" --foreground --oneshot --io-rate 0 \
			--config "$TP_WORK/oneshot.conf" 2>"$TP_WORK/oneshot.err" || rc=$?
		tp_expect_eq "$name: exit of thinpackd --oneshot ($(tail -n 3 "$TP_WORK/oneshot.err"))" "$rc" 0
	else
		timeout 300 "$THINPACK" compact --json --min-age 0 --max-usage 100 --granularity 1M \
			"$TP_WORK/m" >"$TP_WORK/$name.json" || rc=$?
		tp_expect_eq "$name: exit of compact" "$rc" 0
	fi
	"$PYTHON3" "$TP_PY" elapsed "$start" "$(date +%s.%N)" >"$TP_WORK/$name.time"
	if [ "$name" != plain ]; then
		xargs -d '\n' "$PYTHON3" "$TP_PY" fiemap <"$TP_WORK/leased" >"$TP_WORK/leased.after"
		cmp -s "$TP_WORK/leased.before" "$TP_WORK/leased.after" ||
			tp_fail "a leased file moved: $(diff "$TP_WORK/leased.before" "$TP_WORK/leased.after" | head -4)"
		kill "$holder" 2>/dev/null
		wait "$holder" 2>/dev/null || true
	fi
	"$PYTHON3" "$TP_PY" layout "$TP_WORK/m" >"$TP_WORK/layout.after"
	cut -d' ' -f1-4 "$TP_WORK/layout.before" >"$TP_WORK/a"
	cut -d' ' -f1-4 "$TP_WORK/layout.after" >"$TP_WORK/b"
	cmp -s "$TP_WORK/a" "$TP_WORK/b" || tp_fail "$name: files changed: $(diff "$TP_WORK/a" "$TP_WORK/b" | head -4)"
	tp_umount "$TP_WORK/m"
	tp_fsck "$dev"
	tp_loop_detach "$dev"
}

run plain
run leased
run oneshot
plain=$(cat "$TP_WORK/plain.time") leased=$(cat "$TP_WORK/leased.time")
skipped=$("$PYTHON3" "$TP_PY" json "$TP_WORK/leased.json" filesystems.0.skipped.in_use \
	--default 0)
tp_log "$(cat "$TP_WORK/held") files leased; compact $plain s without the leases, $leased s with them; skipped in_use: $skipped"
[ "$skipped" -gt 0 ] || tp_fail "no file was skipped as in use"
# ...and so some clusters were not emptied, which the exit above let pass.
left=$("$PYTHON3" - "$TP_WORK/leased.json" <<'PY'
import json, sys
fs = json.load(open(sys.argv[1]))["filesystems"][0]
print(fs["victims_failed"] + fs["victims_unplaced"] + fs["victims_refilled"])
PY
)
[ "$left" -gt 0 ] || tp_fail "the leases left no cluster unemptied"
left=$("$PYTHON3" - "$TP_WORK/run/status.json" <<'PY'
import json, sys
print(json.load(open(sys.argv[1]))["filesystems"][0]["last_pass"]["victims_failed"])
PY
)
tp_log "thinpackd --oneshot with the leases held: $left clusters not emptied"
[ "$left" -gt 0 ] || tp_fail "the leases left no cluster unemptied by thinpackd --oneshot"
"$PYTHON3" -c "import sys; sys.exit(0 if float(sys.argv[2]) < float(sys.argv[1]) + 2 else 1)" \
	"$plain" "$leased" || tp_fail "the leases cost $leased s against $plain s (2 s more at most)"
tp_done
