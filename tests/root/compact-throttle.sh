#!/bin/bash
# thinpack compact --io-rate, --time-budget, --pressure-limit: thinpackd's
# throttles on the command line (the one implementation, lib/throttle.c).
#   - bad values: exit 8, a message naming the option, nothing changed;
#     the throttles with --offline: exit 8;
#   - --time-budget 1s on a run that would take longer (its data at
#     --io-rate 1M): stops early, exit 0, says so and what is left, in text
#     and in JSON (stop_reason);
#   - --pressure-limit under real I/O pressure (O_DIRECT readers on another
#     loop device): 0 moves nothing until the budget ends the run, 100
#     never waits;
#   - --io-rate: the data moved over the wall time stays within the rate,
#     both measured by the test: the bytes whose place on disk changed
#     (FIEMAP of every file before and after) and the loop device's written
#     sectors (/sys/block/loopN/stat), against the time the run took.
# Every file keeps its bytes and extents, nothing leaks, e2fsck -fn stays
# clean.
. "${TESTS_DIR:-$(dirname "$0")/..}/lib/common.sh"
tp_require_root
[ -r /proc/pressure/io ] || tp_die "no /proc/pressure/io (kernel without PSI, or psi=0)"
tp_workdir

tp_thin_pool 1G
tp_thin_fs thr 256M -- -b 4096
m=$TP_MNT
loop=${TP_DEV#/dev/}
tp_age "$m" --seed 71
fstrim "$m"
sync
tp_snapshot "$m"
opts=(--granularity 1M --min-age 0 --max-usage 100)
MiB=1048576

now() { date +%s.%N; }
written() { echo $(($(awk '{ print $7 }' "/sys/block/$loop/stat") * 512)); }
fiemap() { find "$m" -type f | sort | xargs "$PYTHON3" "$TP_PY" fiemap; }
field() { "$PYTHON3" "$TP_PY" json "$1" "filesystems.0.$2"; }
# moved BEFORE AFTER: bytes of file data whose block on disk changed.
moved() {
	"$PYTHON3" - "$1" "$2" <<'PY'
import sys
def load(path):
    files = {}
    for line in open(path):
        name, *extents = line.split()
        blocks = files.setdefault(name, {})
        for e in extents:
            lo, rest = e.split(":")
            ph, ln = rest.split("+")
            lo, ph, ln = int(lo), int(ph), int(ln)
            for off in range(0, ln, 4096):
                blocks[lo + off] = ph + off
    return files
before, after = load(sys.argv[1]), load(sys.argv[2])
print(4096 * sum(1 for f, blocks in before.items()
                 for lo, ph in blocks.items() if after.get(f, {}).get(lo) != ph))
PY
}
# ok EXPR [MESSAGE]: an arithmetic check on decimals (awk).
ok() { awk "BEGIN { exit !($1) }" || tp_fail "${2:-$1}"; }

# ---- bad values: exit 8, nothing changed ------------------------------------

fiemap >"$TP_WORK/fiemap.0"
tp_expect_exit 8 "^thinpack: --io-rate '0': expected bytes per second above 0" -- \
	compact "${opts[@]}" --io-rate 0 "$m"
tp_expect_exit 8 "^thinpack: --io-rate 'abc': expected bytes per second" -- \
	compact "${opts[@]}" --io-rate abc "$m"
tp_expect_exit 8 "^thinpack: --time-budget '-1': expected a duration above 0" -- \
	compact "${opts[@]}" --time-budget -1 "$m"
tp_expect_exit 8 "^thinpack: --time-budget '0': expected a duration above 0" -- \
	compact "${opts[@]}" --time-budget 0 "$m"
tp_expect_exit 8 "^thinpack: --pressure-limit '150': expected a percentage .* from 0 to 100" -- \
	compact "${opts[@]}" --pressure-limit 150 "$m"
tp_expect_exit 8 "^thinpack: --pressure-limit '-5': expected a percentage" -- \
	compact "${opts[@]}" --pressure-limit -5 "$m"
tp_expect_exit 8 "throttle online compaction only, not --offline" -- \
	compact --offline --io-rate 1M "$TP_IMG"
fiemap >"$TP_WORK/fiemap.1"
cmp -s "$TP_WORK/fiemap.0" "$TP_WORK/fiemap.1" || tp_fail "a refused command moved data"
tp_expect_unchanged "$m" "after the refused commands"

# ---- --time-budget -------------------------------------------------------------

# The fixture: its data at 1 MiB/s takes far longer than the budget.
"$THINPACK" compact --dry-run --json "${opts[@]}" "$m" >"$TP_WORK/plan.json"
plan=$(field "$TP_WORK/plan.json" victim_bytes)
tp_log "the plan moves $plan bytes: $((plan / MiB)) s at 1 MiB/s"
[ "$plan" -ge $((6 * MiB)) ] || tp_die "the fixture holds too little to move ($plan bytes)"

t0=$(now)
rc=0
"$THINPACK" compact "${opts[@]}" --io-rate 1M --time-budget 1s "$m" \
	>"$TP_WORK/budget.txt" 2>"$TP_WORK/budget.err" || rc=$?
t1=$(now)
cat "$TP_WORK/budget.txt" >&2
tp_expect_eq "exit status of a run its budget stopped" "$rc" 0
grep -Eq "^  stopped early: --time-budget 1s spent; [0-9]+ of [0-9]+ clusters chosen left for the next run" \
	"$TP_WORK/budget.txt" || tp_fail "no line saying the budget stopped the run"
grep -q "(stopped)" "$TP_WORK/budget.txt" || tp_fail "the summary does not say (stopped)"
[ ! -s "$TP_WORK/budget.err" ] || tp_fail "stderr of a budget stop: $(cat "$TP_WORK/budget.err")"
# 1 s, and the scan and the trim around it.
ok "$t1 - $t0 < 4" "--time-budget 1s: the run took $(awk "BEGIN { print $t1 - $t0 }") s"

rc=0
"$THINPACK" compact --json "${opts[@]}" --io-rate 512K --time-budget 1s "$m" \
	>"$TP_WORK/budget.json" || rc=$?
tp_expect_eq "exit status (JSON)" "$rc" 0
tp_expect_eq "stopped" "$(field "$TP_WORK/budget.json" stopped)" True
tp_expect_eq "stop_reason" "$(field "$TP_WORK/budget.json" stop_reason)" time_budget
tp_expect_eq "throttle.time_budget_s" "$(field "$TP_WORK/budget.json" throttle.time_budget_s)" 1
tp_expect_eq "throttle.io_rate" "$(field "$TP_WORK/budget.json" throttle.io_rate)" 524288
ok "$(field "$TP_WORK/budget.json" victims_left) > 0" "a budget stop left no victim"
ok "$(field "$TP_WORK/budget.json" moved_bytes) > 0" "nothing moved within the budget"
tp_expect_unchanged "$m" "after the budget stops"

# ---- --pressure-limit, under real I/O pressure -------------------------------

tp_io_load_start
avg10() { awk '/^some/ { split($2, a, "="); print a[2] }' /proc/pressure/io; }
end=$((SECONDS + 60))
until awk "BEGIN { exit !($(avg10) > 10) }"; do
	[ $SECONDS -lt $end ] || tp_die "the load did not raise some avg10 above 10 ($(avg10))"
	sleep 0.5
done
tp_log "under load: some avg10 $(avg10)"

# 0: no pressure at all, or nothing moves; the budget ends the wait.
fiemap >"$TP_WORK/fiemap.2"
rc=0
"$THINPACK" compact --json "${opts[@]}" --pressure-limit 0 --time-budget 3s "$m" \
	>"$TP_WORK/p0.json" 2>"$TP_WORK/p0.err" || rc=$?
fiemap >"$TP_WORK/fiemap.3"
tp_expect_eq "--pressure-limit 0 under load: exit" "$rc" 0
tp_expect_eq "--pressure-limit 0 under load: stop_reason" \
	"$(field "$TP_WORK/p0.json" stop_reason)" time_budget
tp_expect_eq "--pressure-limit 0 under load: moved_bytes" "$(field "$TP_WORK/p0.json" moved_bytes)" 0
tp_expect_eq "--pressure-limit 0 under load: bytes whose place changed" \
	"$(moved "$TP_WORK/fiemap.2" "$TP_WORK/fiemap.3")" 0
ok "$(field "$TP_WORK/p0.json" throttle.pressure_wait_s) >= 2" \
	"--pressure-limit 0 waited $(field "$TP_WORK/p0.json" throttle.pressure_wait_s) s"
ok "$(field "$TP_WORK/p0.json" throttle.pressure) > 0" "no pressure reading in the JSON"
grep -Eq "^thinpack: .*: I/O pressure [0-9.]+ above --pressure-limit 0: waiting" \
	"$TP_WORK/p0.err" || tp_fail "no word of the wait for pressure: $(cat "$TP_WORK/p0.err")"

# 100: some avg10 is never above it; moves go on under any load.
rc=0
"$THINPACK" compact --json "${opts[@]}" --pressure-limit 100 --max-io 1M "$m" \
	>"$TP_WORK/p100.json" 2>"$TP_WORK/p100.err" || rc=$?
tp_expect_eq "--pressure-limit 100 under load: exit" "$rc" 0
ok "$(field "$TP_WORK/p100.json" moved_bytes) > 0" "--pressure-limit 100 moved nothing"
tp_expect_eq "--pressure-limit 100: waited" "$(field "$TP_WORK/p100.json" throttle.pressure_wait_s)" 0.0
tp_expect_eq "--pressure-limit 100: stop_reason" "$(field "$TP_WORK/p100.json" stop_reason)" None
[ ! -s "$TP_WORK/p100.err" ] || tp_fail "--pressure-limit 100 said: $(cat "$TP_WORK/p100.err")"
tp_io_load_stop
tp_expect_unchanged "$m" "after the pressure runs"

# ---- --io-rate ----------------------------------------------------------------

rate=$MiB
fiemap >"$TP_WORK/fiemap.4"
sync
w0=$(written)
t0=$(now)
rc=0
"$THINPACK" compact --json "${opts[@]}" --io-rate 1M "$m" >"$TP_WORK/rate.json" || rc=$?
sync
t1=$(now)
w1=$(written)
fiemap >"$TP_WORK/fiemap.5"
tp_expect_eq "--io-rate 1M: exit" "$rc" 0
tp_expect_eq "--io-rate 1M: stop_reason" "$(field "$TP_WORK/rate.json" stop_reason)" None
el=$(awk "BEGIN { print $t1 - $t0 }")
mv=$(moved "$TP_WORK/fiemap.4" "$TP_WORK/fiemap.5")
wr=$((w1 - w0))
tp_log "--io-rate 1M: $mv bytes changed place, $wr written to $TP_DEV, in $el s" \
	"(thinpack: $(field "$TP_WORK/rate.json" moved_bytes) moved)"
# Long enough to mean something.
ok "$mv >= 3 * $rate" "--io-rate 1M moved only $mv bytes: too little to measure a rate"
# The schedule pays for each victim before the next starts, with a tenth
# of a second of credit: over the run, the rate, plus that credit, plus
# the last victim (at most a cluster, 1 MiB), which nothing comes after.
ok "$mv <= $rate * ($el + 0.1) + $MiB" \
	"--io-rate 1M: $mv bytes moved in $el s: above the rate"
# Everything the run wrote: the data once, and the placement's borrowed
# blocks, the journal and the metadata (1.6 to 1.8 times the data on
# this fixture; an unthrottled run writes tens of MiB/s).
ok "$wr <= 2.5 * $rate * $el" \
	"--io-rate 1M: $wr bytes written in $el s: above 2.5 times the rate"

tp_expect_unchanged "$m" "after the throttled runs"
tp_umount "$m"
tp_fsck "$TP_DEV"
tp_done
