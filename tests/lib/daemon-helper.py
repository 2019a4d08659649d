#!/usr/bin/env python3
"""Helpers of the thinpackd tests (tests/{root,noroot}/daemon-*.sh).

    listen SOCK LOG               a NOTIFY_SOCKET: every line of every
                                  datagram into LOG as "TIME LINE"
    wait-notify LOG REGEX SECS [--after N]
                                  the first line after the first N that
                                  matches; prints "INDEX TIME LINE"
    wait-status FILE EXPR SECS    until the Python expression EXPR is true of
                                  the status JSON (s: all of it, fs: the
                                  filesystems by mount point)
    status FILE EXPR              print EXPR of the status JSON
    promcheck FILE                the Prometheus text format, strictly
    sample FILE MNT SECS OUT      every 50 ms: time, bytes moved this pass,
                                  phase and /proc/pressure/io some avg10
    rate SAMPLES BYTES_PER_S      the rate of the samples against the target
    avg10                         /proc/pressure/io some avg10
"""

import json
import math
import os
import re
import signal
import socket
import sys
import time


def die(msg):
    print("daemon-helper: " + msg, file=sys.stderr)
    sys.exit(1)


def cmd_listen(sock_path, log_path):
    try:
        os.unlink(sock_path)
    except FileNotFoundError:
        pass
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(sock_path)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with open(log_path, "a", buffering=1) as log:
        while True:
            data = s.recv(65536)
            t = time.time()
            for line in data.decode(errors="replace").splitlines():
                log.write("%.3f %s\n" % (t, line))


def read_lines(path):
    try:
        with open(path) as f:
            return f.read().splitlines()
    except FileNotFoundError:
        return []


def cmd_wait_notify(log_path, regex, secs, after=0):
    rx = re.compile(regex)
    end = time.time() + float(secs)
    while True:
        lines = read_lines(log_path)
        for i, line in enumerate(lines[after:], start=after):
            t, _, text = line.partition(" ")
            if rx.search(text):
                print(i, t, text)
                return
        if time.time() > end:
            die("no notification matching /%s/ after line %d within %s s; last:\n  %s"
                % (regex, after, secs, "\n  ".join(lines[-8:])))
        time.sleep(0.05)


def load_status(path):
    for _ in range(20):
        try:
            with open(path) as f:
                return json.load(f)
        except (FileNotFoundError, json.JSONDecodeError):
            time.sleep(0.05)
    return None


def evaluate(s, expr):
    fs = {f["mountpoint"]: f for f in s.get("filesystems", [])} if s else {}
    return eval(expr, {"math": math, "s": s, "fs": fs})


def cmd_wait_status(path, expr, secs):
    end = time.time() + float(secs)
    last = None
    while True:
        s = load_status(path)
        try:
            if s is not None and evaluate(s, expr):
                return
        except (KeyError, TypeError, IndexError):
            pass
        last = s
        if time.time() > end:
            die("status never had %s within %s s; last status: %s"
                % (expr, secs, json.dumps(last)[:1500] if last else "none"))
        time.sleep(0.05)


def cmd_status(path, expr):
    s = load_status(path)
    if s is None:
        die("no status in " + path)
    print(evaluate(s, expr))


# ---- the Prometheus text format (version 0.0.4) --------------------------------

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r"[a-zA-Z_][a-zA-Z0-9_]*"
VALUE = r'"(?:[^"\\\n]|\\[\\"n])*"'
SAMPLE = re.compile(r"^(%s)(\{(?:%s=%s(?:,%s=%s)*,?)?\})? (\S+)(?: (-?\d+))?$"
                    % (NAME, LABEL, VALUE, LABEL, VALUE))
LABEL_PAIR = re.compile(r"(%s)=(%s)" % (LABEL, VALUE))


def cmd_promcheck(path):
    """Every line a comment, a HELP or TYPE line, or a sample; one HELP and
    one TYPE per family, before its samples; the samples of a family
    together; no series twice; values that parse as floats; counters
    end in _total and never go negative."""
    errors = []
    types, helps, seen, series = {}, {}, [], set()
    current = None
    with open(path) as f:
        text = f.read()
    if not text.endswith("\n"):
        errors.append("no newline at the end")
    for n, line in enumerate(text.split("\n")[:-1], 1):
        if line.startswith("#"):
            m = re.match(r"^# (HELP|TYPE) (%s) (.*)$" % NAME, line)
            if not m:
                if re.match(r"^# (HELP|TYPE)", line):
                    errors.append("%d: malformed %s" % (n, line))
                continue
            kind, name, rest = m.groups()
            table = helps if kind == "HELP" else types
            if name in table:
                errors.append("%d: second %s for %s" % (n, kind, name))
            if kind == "TYPE" and rest not in ("counter", "gauge", "histogram",
                                               "summary", "untyped"):
                errors.append("%d: bad type %s" % (n, rest))
            if kind == "TYPE" and name in seen:
                errors.append("%d: TYPE of %s after its samples" % (n, name))
            table[name] = rest
            continue
        if not line.strip():
            errors.append("%d: empty line" % n)
            continue
        m = SAMPLE.match(line)
        if not m:
            errors.append("%d: not a sample: %s" % (n, line))
            continue
        name, labels, value = m.group(1), m.group(2) or "", m.group(3)
        try:
            v = float(value)
        except ValueError:
            errors.append("%d: bad value %s" % (n, value))
            continue
        if name != current:
            if name in seen:
                errors.append("%d: samples of %s not together" % (n, name))
            seen.append(name)
            current = name
        if name not in types:
            errors.append("%d: %s has no TYPE" % (n, name))
        elif types[name] == "counter":
            if not name.endswith("_total"):
                errors.append("%d: counter %s does not end in _total" % (n, name))
            if v < 0 or math.isnan(v):
                errors.append("%d: counter %s is %s" % (n, name, value))
        key = (name, tuple(sorted(LABEL_PAIR.findall(labels))))
        if key in series:
            errors.append("%d: series twice: %s" % (n, line))
        series.add(key)
    for name in types:
        if name not in seen:
            errors.append("family %s has no samples" % name)
    if not seen:
        errors.append("no samples at all")
    if errors:
        die("%s is not valid Prometheus text:\n  %s" % (path, "\n  ".join(errors[:20])))
    print("%s: %d families, %d series" % (path, len(seen), len(series)))


# ---- rate and pressure ----------------------------------------------------------


def avg10():
    with open("/proc/pressure/io") as f:
        for line in f:
            if line.startswith("some "):
                return float(line.split()[1].split("=")[1])
    return -1.0


def cmd_sample(path, mnt, secs, out_path):
    end = time.time() + float(secs)
    with open(out_path, "a", buffering=1) as out:
        while time.time() < end:
            s = load_status(path)
            f = {x["mountpoint"]: x for x in (s or {}).get("filesystems", [])}.get(mnt)
            if f is not None:
                p = f.get("pass") or {}
                out.write("%.3f %d %s %.2f\n" % (time.time(), p.get("moved_bytes", -1),
                                                   f.get("phase"), avg10()))
            time.sleep(0.05)


def cmd_rate(samples_path, target):
    """The rate over the stretch where data moved: least squares through
    (time, bytes) of the samples, from the first that saw data moved to the
    last before it stopped growing; and per window of 2 s."""
    target = float(target)
    pts = []
    for line in read_lines(samples_path):
        t, b, phase, _ = line.split()
        if int(b) >= 0:
            pts.append((float(t), int(b)))
    first = next((i for i, p in enumerate(pts) if p[1] > 0), None)
    if first is None:
        die("no data moved in the samples")
    top = max(p[1] for p in pts)
    last = next(i for i, p in enumerate(pts) if p[1] == top)
    pts = pts[max(first - 1, 0):last + 1]
    if pts[-1][0] - pts[0][0] < 3:
        die("data moved for %.1f s only: too short to measure" % (pts[-1][0] - pts[0][0]))
    n = len(pts)
    mt = sum(p[0] for p in pts) / n
    mb = sum(p[1] for p in pts) / n
    slope = (sum((p[0] - mt) * (p[1] - mb) for p in pts)
             / sum((p[0] - mt) ** 2 for p in pts))
    ends = (pts[-1][1] - pts[0][1]) / (pts[-1][0] - pts[0][0])
    windows = []
    t0 = pts[0][0]
    while t0 + 2 <= pts[-1][0]:
        a = max(p[1] for p in pts if p[0] <= t0)
        b = max(p[1] for p in pts if p[0] <= t0 + 2)
        windows.append((b - a) / 2)
        t0 += 2
    print("rate: %.0f B/s by least squares, %.0f B/s end to end, over %.1f s "
          "and %.1f MiB; 2 s windows: %s; target %.0f B/s: %+.1f %%"
          % (slope, ends, pts[-1][0] - pts[0][0], (pts[-1][1] - pts[0][1]) / 2**20,
             " ".join("%.2f" % (w / target) for w in windows), target,
             100 * (slope - target) / target))
    if abs(slope - target) > 0.10 * target:
        die("the rate is %.0f B/s, more than 10 %% off %.0f B/s" % (slope, target))


def main():
    a = sys.argv[1:]
    if not a:
        die("usage: see the docstring")
    cmd, args = a[0], a[1:]
    if cmd == "listen":
        cmd_listen(*args)
    elif cmd == "wait-notify":
        after = 0
        if "--after" in args:
            i = args.index("--after")
            after = int(args[i + 1])
            del args[i:i + 2]
        cmd_wait_notify(*args, after=after)
    elif cmd == "wait-status":
        cmd_wait_status(*args)
    elif cmd == "status":
        cmd_status(*args)
    elif cmd == "promcheck":
        cmd_promcheck(*args)
    elif cmd == "sample":
        cmd_sample(*args)
    elif cmd == "rate":
        cmd_rate(*args)
    elif cmd == "avg10":
        print("%.2f" % avg10())
    else:
        die("unknown command " + cmd)


if __name__ == "__main__":
    main()
