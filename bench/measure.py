#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Timing and peak-RSS helper of bench/scan.sh.

measure.py run REPEAT OUTDIR -- NAME OK CMD [ARG...] [-- NAME OK CMD...]...
    Time every command REPEAT times with a cold cache, then REPEAT times
    with a warm one, the commands taking turns (A B A B ...) so that they
    share whatever the machine is doing meanwhile.
      cold: sync and drop the page, dentry and inode caches before every run
      warm: every command runs once unmeasured first
    OK: the exit statuses that count as success, comma-separated ("0,1").
    A command's standard output and error go to OUTDIR/NAME.out and .err
    (the last run's are kept).  Prints one JSON line per command and mode:
    name, mode, wall seconds and peak RSS (KiB) of every run.  Needs the
    runstat helper ($RUNSTAT, default: runstat in $PATH).

measure.py table RESULTS.jsonl BASELINE CANDIDATE
    Print the table, the ratios BASELINE/CANDIDATE and the verdict on the
    targets.  Exit status 0, or 1 when BENCH_STRICT=1 and a target fails.
"""

import json
import os
import statistics
import subprocess
import sys

RUNSTAT = os.environ.get("RUNSTAT", "runstat")
TARGET_RATIO = 10.0
TARGET_RSS_MIB = 64.0


def drop_caches():
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


def run_once(tool, outdir):
    # runstat forks and execs the command and reports wait4()'s figures:
    # see runstat.c for why not subprocess and RUSAGE_CHILDREN from here.
    out = os.path.join(outdir, tool["name"] + ".out")
    p = subprocess.run([RUNSTAT, out, out[:-4] + ".err"] + tool["cmd"],
                       stdout=subprocess.PIPE, check=True, text=True)
    wall, rss, rc = p.stdout.split()
    if int(rc) not in tool["ok"]:
        with open(out[:-4] + ".err", errors="replace") as f:
            sys.stderr.write(f.read()[-4000:])
        sys.exit("measure.py: %s exited with status %s"
                 % (" ".join(tool["cmd"]), rc))
    return float(wall), int(rss)


def parse_tools(args):
    tools, cur = [], None
    for a in args:
        if a == "--":
            cur = []
            tools.append(cur)
        elif cur is None:
            sys.exit(__doc__)
        else:
            cur.append(a)
    out = []
    for t in tools:
        if len(t) < 3:
            sys.exit(__doc__)
        out.append({"name": t[0], "ok": {int(s) for s in t[1].split(",")},
                    "cmd": t[2:]})
    if not out:
        sys.exit(__doc__)
    return out


def cmd_run(args):
    if len(args) < 2:
        sys.exit(__doc__)
    repeat, outdir = int(args[0]), args[1]
    tools = parse_tools(args[2:])
    res = {}
    for mode in ("cold", "warm"):
        if mode == "warm":
            for t in tools:
                run_once(t, outdir)
        for _ in range(repeat):
            for t in tools:
                if mode == "cold":
                    drop_caches()
                wall, rss = run_once(t, outdir)
                r = res.setdefault((t["name"], mode), {
                    "name": t["name"], "mode": mode,
                    "wall_s": [], "maxrss_kib": []})
                r["wall_s"].append(wall)
                r["maxrss_kib"].append(rss)
                print("  %-9s %-4s %8.3f s %8.1f MiB"
                      % (t["name"], mode, wall, rss / 1024), file=sys.stderr)
    for r in res.values():
        print(json.dumps(r))


def cmd_table(args):
    if len(args) != 3:
        sys.exit(__doc__)
    base, cand = args[1], args[2]
    res = {}
    with open(args[0]) as f:
        for line in f:
            if line.strip():
                r = json.loads(line)
                res[(r["name"], r["mode"])] = r

    def med(name, mode):
        return statistics.median(res[(name, mode)]["wall_s"])

    def peak(name):
        return max(max(r["maxrss_kib"]) for (n, _), r in res.items()
                   if n == name) / 1024

    print("%-10s %-5s %9s %9s %9s %5s %12s" %
          ("tool", "cache", "median s", "min s", "max s", "runs", "peak RSS"))
    for name in (base, cand):
        for mode in ("cold", "warm"):
            r = res[(name, mode)]
            w = r["wall_s"]
            print("%-10s %-5s %9.3f %9.3f %9.3f %5d %8.1f MiB" %
                  (name, mode, statistics.median(w), min(w), max(w), len(w),
                   max(r["maxrss_kib"]) / 1024))
    print()
    failed = False
    for mode in ("cold", "warm"):
        ratio = med(base, mode) / med(cand, mode)
        ok = ratio >= TARGET_RATIO
        failed |= not ok
        print("ratio %s/%s, %s cache: %6.1fx   (target >= %.0fx)   %s"
              % (base, cand, mode, ratio, TARGET_RATIO,
                 "PASS" if ok else "FAIL"))
    rss = peak(cand)
    ok = rss <= TARGET_RSS_MIB
    failed |= not ok
    print("peak RSS of %s: %23.1f MiB (target <= %.0f MiB) %s"
          % (cand, rss, TARGET_RSS_MIB, "PASS" if ok else "FAIL"))
    print("peak RSS of %s: %23.1f MiB" % (base, peak(base)))
    if failed and os.environ.get("BENCH_STRICT") == "1":
        print("BENCH_STRICT=1: a target failed", file=sys.stderr)
        return 1
    return 0


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    if sys.argv[1] == "run":
        cmd_run(sys.argv[2:])
        return 0
    if sys.argv[1] == "table":
        return cmd_table(sys.argv[2:])
    sys.exit(__doc__)


if __name__ == "__main__":
    sys.exit(main())
