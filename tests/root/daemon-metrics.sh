#!/bin/bash
# thinpackd's metrics of the stranded space itself: after a pass
# (thinpackd --oneshot) on an aged filesystem on the emulated thin device,
# thinpack_clusters{state="empty|partial|full|pinned"},
# thinpack_trim_now_bytes, thinpack_reclaimable_bytes and
# thinpack_reclaim_io_bytes equal an independent computation (dumpe2fs +
# FIEMAP, tests/lib/tp.py oracle) of the filesystem as the pass left it,
# and the status JSON says the same; thinpack_summary_timestamp_seconds
# dates the scan.  The default metrics file is thinpack.prom in
# node_exporter's textfile directory when that exists
# (THINPACK_TEXTFILE_DIR stands for /var/lib/prometheus/node-exporter
# here), else in the runtime directory.
. "${TESTS_DIR:-$(dirname "$0")/..}/lib/daemon-lib.sh"
tp_require_root
td_setup
tp_thin_pool 1G
tp_thin_fs thin 256M -- -b 4096
m=$TP_MNT
tp_age "$m" --seed 31 --extras
sync
uuid=$(blkid -s UUID -o value "$TP_DEV")

conf=$TP_WORK/thinpackd.conf
cat >"$conf" <<EOF
[global]
interval = 1h
min_age = 0
max_usage = 100
slack = 0
granularity = 1M
pressure_limit = off
io_rate = 0

[$m]
EOF

textfile=$TP_WORK/node-exporter
mkdir "$textfile"

# oneshot TEXTFILE_DIR: one pass, thinpackd --oneshot; exit 0.
oneshot() {
	local rc=0
	THINPACK_TEXTFILE_DIR=$1 RUNTIME_DIRECTORY=$TP_WORK/run \
		STATE_DIRECTORY=$TP_WORK/state \
		"$THINPACKD" --foreground --oneshot --config "$conf" \
		2>>"$TD_LOG" || rc=$?
	tp_expect_eq "exit of thinpackd --oneshot ($(tail -n 3 "$TD_LOG"))" "$rc" 0
}

# check PROM: the summary families of PROM against the oracle of the
# filesystem now, and against the status JSON.
check() {
	local prom=$1 start=$2
	sync
	"$PYTHON3" "$TP_PY" oracle --device "$TP_DEV" --mountpoint "$m" \
		--granularity 1048576 --min-age 0 >"$TP_WORK/oracle.json"
	"$PYTHON3" "$TD_PY" promcheck "$prom" >&2 || tp_fail "$prom: invalid metrics"
	"$PYTHON3" - "$prom" "$TP_WORK/oracle.json" "$TD_STATUS" "$m" "$uuid" \
		"$start" <<'PY' || tp_fail "$prom: the summary differs from the oracle"
import json, re, sys, time
prom, oracle, status, mnt, uuid, start = sys.argv[1:]
got, helps = {}, set()
for line in open(prom):
    if line.startswith("# HELP "):
        helps.add(line.split()[2])
        continue
    if line.startswith("#"):
        continue
    m = re.match(r'^([a-z_]+)\{mountpoint="([^"]*)",uuid="([^"]*)"'
                 r'(?:,state="([a-z]+)")?\} (\S+)$', line)
    if m and m.group(2) == mnt and m.group(3) == uuid:
        got[(m.group(1), m.group(4))] = float(m.group(5))
want = json.load(open(oracle))
c, r = want["clusters"], want["reclaim"]
expect = {
    ("thinpack_clusters", "empty"): c["empty"],
    ("thinpack_clusters", "partial"): c["partial"],
    ("thinpack_clusters", "full"): c["full"],
    ("thinpack_clusters", "pinned"): c["pinned"],
    ("thinpack_trim_now_bytes", None): r["trim_now_bytes"],
    ("thinpack_reclaimable_bytes", None): r["compaction_bytes"],
    ("thinpack_reclaim_io_bytes", None): r["compaction_io_bytes"],
    ("thinpack_shared_bytes", None): want["provisioning"]["shared"] * 1048576,
}
errors = []
for k, v in expect.items():
    if k[0] not in helps:
        errors.append("no HELP for %s" % k[0])
    if k not in got:
        errors.append("no sample %s%s" % (k[0], "{state=%s}" % k[1] if k[1] else ""))
    elif got[k] != v:
        errors.append("%s%s: %r, the oracle says %r" %
                      (k[0], "{state=%s}" % k[1] if k[1] else "", got[k], v))
ts = got.get(("thinpack_summary_timestamp_seconds", None))
if ts is None or not float(start) <= ts <= time.time():
    errors.append("thinpack_summary_timestamp_seconds %r not between %s and now"
                  % (ts, start))
# no dm-thin pool below a loop device: no pool figures
for name in re.findall(r'^(thinpack_pool_[a-z_]+)\{mountpoint="%s"' % re.escape(mnt),
                       open(prom).read(), re.M):
    errors.append("%s for a filesystem with no thin pool" % name)
# thinpack status says the same, for people
import os, subprocess
out = subprocess.run([os.environ["THINPACK"], "status", "--file", status],
                     capture_output=True, text=True).stdout
line = "left           %d partial clusters (%d pinned), %d empty;" % (
    c["partial"], c["pinned"], c["empty"])
if line not in out:
    errors.append("thinpack status has no line %r: %s" % (line, out))
fs = [f for f in json.load(open(status))["filesystems"] if f["mountpoint"] == mnt]
s = fs[0].get("summary") if fs else None
if not s:
    errors.append("no summary in the status JSON")
else:
    for k, v in (("empty", c["empty"]), ("partial", c["partial"]),
                 ("full", c["full"]), ("pinned", c["pinned"]),
                 ("trim_now_bytes", r["trim_now_bytes"]),
                 ("reclaimable_bytes", r["compaction_bytes"]),
                 ("reclaim_io_bytes", r["compaction_io_bytes"])):
        if s.get(k) != v:
            errors.append("status summary.%s: %r, the oracle says %r" % (k, s.get(k), v))
for e in errors:
    print(e, file=sys.stderr)
print("metrics: %d empty, %d partial (%d pinned), %d full clusters; trim now %d, "
      "reclaimable %d by moving %d bytes: %s" %
      (c["empty"], c["partial"], c["pinned"], c["full"], r["trim_now_bytes"],
       r["compaction_bytes"], r["compaction_io_bytes"],
       "MISMATCH" if errors else "equal"), file=sys.stderr)
sys.exit(1 if errors else 0)
PY
}

# 1. The textfile collector's directory exists: the metrics go there, and
# nowhere else.
start=$(date +%s)
oneshot "$textfile"
[ -s "$textfile/thinpack.prom" ] ||
	tp_die "no $textfile/thinpack.prom: $(ls "$textfile" "$TP_WORK/run")"
[ ! -e "$TP_WORK/run/thinpack.prom" ] ||
	tp_fail "thinpack.prom in the runtime directory too"
emptied=$(td_status "fs['$m']['last_pass']['clusters_emptied']")
tp_log "the pass emptied $emptied clusters"
[ "$emptied" -gt 0 ] || tp_fail "the pass emptied nothing: the test proves little"
check "$textfile/thinpack.prom" "$start"
# Only *.prom files are read by the collector: no temporary one is left.
tp_expect_eq "files in the textfile directory" "$(ls "$textfile")" thinpack.prom

# 2. No such directory: thinpack.prom in the runtime directory, as before.
rm -r "$textfile"
start=$(date +%s)
oneshot "$textfile"
[ -s "$TP_WORK/run/thinpack.prom" ] ||
	tp_die "no thinpack.prom in the runtime directory: $(ls "$TP_WORK/run")"
[ ! -e "$textfile" ] || tp_fail "$textfile was created"
check "$TP_WORK/run/thinpack.prom" "$start"

tp_umount "$m"
tp_fsck "$TP_DEV"
tp_done
