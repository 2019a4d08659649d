#!/bin/bash
# One runner per filesystem (lib/fslock.h): while one thinpack compact
# holds a filesystem, a second compact, a trim and thinpackd --oneshot each
# say who holds it and exit 16 without touching it; --wait=DURATION gives
# up after DURATION; --wait runs once the first is done; a compact while
# thinpackd's pass holds it says so too; the lock file names the holder
# while it runs and is left empty and free.  Offline compaction of an
# image locks the same way.  Each holder is held still with SIGSTOP once
# it has the lock, so that "concurrent" does not depend on how fast it is.
. "${TESTS_DIR:-$(dirname "$0")/..}/lib/common.sh"
tp_require_root
tp_workdir
THINPACKD=${THINPACKD:-$(dirname "$THINPACK")/thinpackd}
export THINPACK_LOCK_DIR=$TP_WORK/lock
tp_thin_pool 1G
tp_thin_fs locked 256M -- -b 4096
m=$TP_MNT
tp_age "$m" --seed 17 >/dev/null 2>&1
fstrim "$m"
sync
uuid=$(blkid -s UUID -o value "$TP_DEV")
lock=$THINPACK_LOCK_DIR/$uuid.lock
args=(--json --min-age 0 --max-usage 100 --granularity 1M)

# holder: the lock file's first line (a pid), "" when empty.
holder() { [ -f "$lock" ] && sed -n 1p "$lock" || true; }

# The first compact, stopped as soon as the lock file names it.
"$THINPACK" compact "${args[@]}" "$m" >"$TP_WORK/first.json" 2>"$TP_WORK/first.err" &
first=$!
for _ in $(seq 2000); do
	[ "$(holder)" = "$first" ] && break
	sleep 0.005
done
kill -STOP "$first" 2>/dev/null || true
[ "$(holder)" = "$first" ] || tp_die "the first compact never named itself in $lock ($(cat "$TP_WORK/first.err"))"
tp_expect_eq "the lock file, held" "$(cat "$lock")" "$first"$'\n'"thinpack compact"

# A second compact: refused at once, who holds it said, nothing printed
# on stdout (it planned and moved nothing).
rc=0
start=$(date +%s)
"$THINPACK" compact "${args[@]}" "$m" >"$TP_WORK/second.json" 2>"$TP_WORK/second.err" || rc=$?
tp_expect_eq "exit of a second compact" "$rc" 16
grep -q "held by pid $first (thinpack compact): nothing done" "$TP_WORK/second.err" ||
	tp_fail "second compact: $(cat "$TP_WORK/second.err")"
[ ! -s "$TP_WORK/second.json" ] || tp_fail "second compact printed: $(head -c 300 "$TP_WORK/second.json")"
[ $(($(date +%s) - start)) -le 5 ] || tp_fail "the second compact did not give up at once"
tp_expect_eq "the lock file after the refused compact" "$(cat "$lock")" "$first"$'\n'"thinpack compact"

# A trim: the same.
tp_expect_exit 16 "held by pid $first \(thinpack compact\)" -- trim --granularity 1M "$m"
# --wait=2s: gives up after 2 seconds.
start=$(date +%s.%N)
tp_expect_exit 16 "held by pid $first \(thinpack compact\).*--wait ran out" -- \
	compact "${args[@]}" --wait=2s "$m"
"$PYTHON3" -c "import sys; t = float(sys.argv[2]) - float(sys.argv[1]); sys.exit(0 if 1.9 <= t < 30 else 1)" \
	"$start" "$(date +%s.%N)" || tp_fail "--wait=2s did not wait about 2 s"

# thinpackd --oneshot: skips the filesystem, says so, exit 16.
printf '[global]\nmin_age = 0\nmax_usage = 100\ngranularity = 1M\npressure_limit = off\n[%s]\n' \
	"$m" >"$TP_WORK/thinpackd.conf"
mkdir -p "$TP_WORK/run" "$TP_WORK/state"
rc=0
RUNTIME_DIRECTORY=$TP_WORK/run STATE_DIRECTORY=$TP_WORK/state \
	"$THINPACKD" --foreground --oneshot --config "$TP_WORK/thinpackd.conf" \
	2>"$TP_WORK/thinpackd.err" || rc=$?
tp_expect_eq "exit of thinpackd --oneshot on a held filesystem" "$rc" 16
grep -q "$m: pass skipped: the filesystem is held by pid $first (thinpack compact)" \
	"$TP_WORK/thinpackd.err" || tp_fail "thinpackd: $(cat "$TP_WORK/thinpackd.err")"
# ... and not only in the log: its status (what `thinpack status` prints)
# and its totals, which the state keeps.
"$PYTHON3" - "$TP_WORK/run/status.json" "held by pid $first (thinpack compact)" <<'PY' ||
import json, sys
f = json.load(open(sys.argv[1]))["filesystems"][0]
sk = f["last_skipped"]
assert sk and sk["why"] == sys.argv[2] and sk["at"] > 0, sk
assert f["totals"]["passes_skipped"] == 1 and f["totals"]["passes"] == 0, f["totals"]
PY
	tp_fail "thinpackd's status does not say the pass was skipped: $(cat "$TP_WORK/run/status.json")"
grep -q "last pass skipped at .* (held by pid $first (thinpack compact))" "$TP_WORK/run/status.json" ||
	tp_fail "thinpackd's status line does not say the pass was skipped"

# --wait: waits while the first is stopped, runs once it is done.
"$THINPACK" compact "${args[@]}" --wait "$m" >"$TP_WORK/third.json" 2>"$TP_WORK/third.err" &
third=$!
sleep 1
kill -0 "$third" 2>/dev/null || tp_fail "compact --wait did not wait ($(cat "$TP_WORK/third.err"))"
tp_expect_eq "the lock file while --wait waits" "$(holder)" "$first"
kill -CONT "$first"
rc=0
wait "$first" || rc=$?
tp_expect_eq "exit of the first compact" "$rc" 0
"$PYTHON3" "$TP_PY" summary "$TP_WORK/first.json" first --moves --need moves ||
	tp_fail "the first compact moved nothing"
rc=0
wait "$third" || rc=$?
tp_expect_eq "exit of compact --wait" "$rc" 0
"$PYTHON3" "$TP_PY" json "$TP_WORK/third.json" filesystems.0.victims >/dev/null ||
	tp_fail "compact --wait did not run: $(cat "$TP_WORK/third.err")"

# thinpackd holding it (stopped once its pass names itself): a compact
# says so.
# Work for its pass, so that it holds the lock long enough to be seen: the
# runs above left the filesystem compact; every third file goes.
find "$m" -type f | awk 'NR % 3 == 0' | xargs -r rm -f
sync
RUNTIME_DIRECTORY=$TP_WORK/run STATE_DIRECTORY=$TP_WORK/state \
	"$THINPACKD" --foreground --config "$TP_WORK/thinpackd.conf" 2>"$TP_WORK/thinpackd2.err" &
daemon=$!
for _ in $(seq 2000); do
	[ "$(holder)" = "$daemon" ] && break
	sleep 0.005
done
kill -STOP "$daemon" 2>/dev/null || true
if [ "$(holder)" = "$daemon" ]; then
	tp_expect_exit 16 "held by pid $daemon \(thinpackd\)" -- compact "${args[@]}" "$m"
else
	tp_fail "thinpackd never named itself in $lock ($(cat "$TP_WORK/thinpackd2.err"))"
fi
kill -CONT "$daemon" 2>/dev/null || true
kill -TERM "$daemon" 2>/dev/null || true
wait "$daemon" || tp_fail "thinpackd exited $?: $(cat "$TP_WORK/thinpackd2.err")"

# Left empty and free.
[ -f "$lock" ] || tp_fail "the lock file is gone"
[ ! -s "$lock" ] || tp_fail "the lock file still says: $(cat "$lock")"
flock -n "$lock" true || tp_fail "the lock is still held"
tp_umount "$m"
tp_fsck "$TP_DEV"

# Offline, on an image: held by a process that wrote nothing in the file
# (flock(1)), refused without a write; free, compacted.
img=$TP_WORK/offline.img
truncate -s 64M "$img"
mkfs.ext4 -q -F -b 4096 -E nodiscard "$img"
iuuid=$(blkid -s UUID -o value "$img")
mkdir -p "$THINPACK_LOCK_DIR"
sum=$(md5sum <"$img")
exec 9>>"$THINPACK_LOCK_DIR/$iuuid.lock"
flock -n 9 || tp_die "cannot lock $THINPACK_LOCK_DIR/$iuuid.lock"
tp_expect_exit 16 "held by another process: nothing done" -- \
	compact --offline --granularity 1M "$img"
tp_expect_eq "the image after a refused offline compact" "$(md5sum <"$img")" "$sum"
exec 9>&-
tp_expect_exit 0 "" -- compact --offline --granularity 1M "$img"
tp_done
