#!/usr/bin/env python3
"""Read and replay the log of a dm-log-writes target (Linux
drivers/md/dm-log-writes.c, Documentation/admin-guide/device-mapper/
log-writes.rst), to put a device in each state a power cut could have left.

    logwrites.py info LOGDEV               the superblock, counts by kind
    logwrites.py list LOGDEV [--marks]     one line per entry (or per mark)
    logwrites.py find LOGDEV MARK          the index of a mark's entry
    logwrites.py points LOGDEV [--from-mark A] [--to-mark B] [--before]
                                   [--sample N]
                                           the replay limits that stop at
                                           each FLUSH / FUA entry
    logwrites.py replay LOGDEV DEV (--limit N | --end-mark NAME)
                                   [--state FILE]
                                           apply the first N entries to DEV

Entries are numbered from 0.  A replay LIMIT is a count of entries: the
state after the first LIMIT entries (0 .. LIMIT-1) of the log.  Entries
are logged in the order the writes completed (writes that were not yet
flushed come before the FLUSH that made them durable), so every prefix of
the log is a state the disk could have held at a power cut.  `points`
gives the prefixes that end just after each FLUSH or FUA entry (what
fstests checks), and with --before also those that end just before the
last write it makes durable (its own data, or the write logged just before
an empty flush): a journal's commit block not yet on the disk, say, while
the writes before it are.

Replay writes each write's data at its place and zeroes each discarded
range (BLKZEROOUT, or writes of zeros), so that stale data under a discard
cannot make a broken state look right.  Marks and empty flushes carry no
data.  With --state FILE the replay is incremental: it starts where the
previous replay with the same FILE stopped (the device must have been left
as that replay left it) and records where it stopped.

The format: at byte 0 the superblock (little endian: u64 magic
0x6a736677736872, u64 version 1, u64 nr_entries, u32 sectorsize -- the
logical block size of the logged device, in which the entries' sectors
count).  From byte sectorsize on, nr_entries entries, each one sectorsize
header (u64 sector, u64 nr_sectors, u64 flags, u64 data_len; a mark's name
follows in the header, data_len bytes) and then, for a write, its
nr_sectors * sectorsize bytes of data.  Discards and marks have none.
nr_entries is written at each FUA and mark, and when the target goes
(which logs a last mark, "dm-log-writes-end"): remove the target before
reading the log.
"""

import argparse
import fcntl
import json
import os
import struct
import sys

MAGIC = 0x6a736677736872
VERSION = 1
SUPER = struct.Struct("<QQQI")
ENTRY = struct.Struct("<QQQQ")

FLUSH, FUA, DISCARD, MARK, METADATA = 1, 2, 4, 8, 16
FLAG_NAMES = ((FLUSH, "FLUSH"), (FUA, "FUA"), (DISCARD, "DISCARD"),
              (MARK, "MARK"), (METADATA, "META"))
KNOWN = FLUSH | FUA | DISCARD | MARK | METADATA

BLKZEROOUT = 0x127F  # _IO(0x12, 127): zero a byte range of a block device
CHUNK = 4 << 20


class LogError(Exception):
    pass


def flag_str(flags):
    s = "|".join(n for f, n in FLAG_NAMES if flags & f)
    return s or "WRITE"


class Entry:
    __slots__ = ("index", "offset", "sector", "nr_sectors", "flags",
                 "mark", "data_offset", "data_bytes")

    def describe(self, ss):
        s = "%d @%d %s" % (self.index, self.offset, flag_str(self.flags))
        if self.flags & MARK:
            return s + " " + self.mark
        if self.nr_sectors or not self.flags & FLUSH:
            s += " %d+%d" % (self.sector * ss, self.nr_sectors * ss)
        return s


class Log:
    def __init__(self, path):
        self.path = path
        self.fd = os.open(path, os.O_RDONLY)
        raw = os.pread(self.fd, SUPER.size, 0)
        if len(raw) < SUPER.size:
            raise LogError("%s: too short for a log" % path)
        magic, version, self.nr_entries, self.sectorsize = SUPER.unpack(raw)
        if magic != MAGIC:
            raise LogError("%s: no dm-log-writes log (magic %#x)" % (path, magic))
        if version != VERSION:
            raise LogError("%s: log version %d, not %d" % (path, version, VERSION))
        ss = self.sectorsize
        if ss < 512 or ss & (ss - 1):
            raise LogError("%s: bad sector size %d" % (path, ss))

    def entries(self, index=0, offset=None):
        """The entries from `index` (found at byte `offset`, or by walking
        the log from its first entry) to the last."""
        ss = self.sectorsize
        if offset is None:
            if index:
                for e in self.entries():
                    if e.index == index:
                        break
                else:
                    raise LogError("entry %d: the log has %d" % (index, self.nr_entries))
                offset = e.offset
            else:
                offset = ss
        while index < self.nr_entries:
            hdr = os.pread(self.fd, ss, offset)
            if len(hdr) < ss:
                raise LogError("entry %d at byte %d: the log ends" % (index, offset))
            e = Entry()
            e.index, e.offset = index, offset
            e.sector, e.nr_sectors, e.flags, data_len = ENTRY.unpack_from(hdr)
            if e.flags & ~KNOWN:
                raise LogError("entry %d at byte %d: unknown flags %#x"
                               % (index, offset, e.flags))
            e.mark = None
            tail = ENTRY.size
            if e.flags & MARK:
                if data_len > ss - ENTRY.size or e.nr_sectors:
                    raise LogError("entry %d: bad mark" % index)
                e.mark = hdr[tail:tail + data_len].decode("utf-8", "replace")
                tail += data_len
            elif data_len:
                raise LogError("entry %d: inline data, which this tool does "
                               "not know" % index)
            if hdr[tail:].count(0) != ss - tail:
                raise LogError("entry %d at byte %d: not an entry header "
                               "(garbage after it)" % (index, offset))
            e.data_offset = offset + ss
            e.data_bytes = 0
            if not e.flags & (DISCARD | MARK):
                e.data_bytes = e.nr_sectors * ss
            yield e
            index += 1
            offset = e.data_offset + e.data_bytes

    def find_mark(self, name):
        for e in self.entries():
            if e.flags & MARK and e.mark == name:
                return e.index
        raise LogError("%s: no mark %r" % (self.path, name))


# ---- replay ------------------------------------------------------------------


class Target:
    """The device the log is replayed onto.  Writes go through its page
    cache; before a range is zeroed by BLKZEROOUT (which bypasses it) the
    cache is written out, so that the order of the log is kept."""

    def __init__(self, path):
        self.fd = os.open(path, os.O_RDWR)
        self.dirty = False
        self.zeroout = True

    def write(self, offset, data):
        mv = memoryview(data)
        while mv:
            n = os.pwrite(self.fd, mv, offset)
            mv, offset = mv[n:], offset + n
        self.dirty = True

    def zero(self, offset, length):
        if self.zeroout:
            if self.dirty:
                os.fsync(self.fd)
                self.dirty = False
            try:
                fcntl.ioctl(self.fd, BLKZEROOUT, struct.pack("QQ", offset, length))
                return
            except OSError:
                self.zeroout = False  # not a block device, or no support
        zeros = bytes(min(length, CHUNK))
        while length:
            n = min(length, len(zeros))
            self.write(offset, zeros[:n])
            offset, length = offset + n, length - n

    def close(self):
        os.fsync(self.fd)
        os.close(self.fd)


def replay(log, dev, limit, state_path=None):
    """Apply entries up to (not including) `limit`; returns counts."""
    start, offset = 0, None
    if state_path and os.path.exists(state_path):
        with open(state_path) as f:
            st = json.load(f)
        if st["log"] != os.path.realpath(log.path) or st["device"] != os.path.realpath(dev):
            raise LogError("%s: state of another log or device" % state_path)
        start, offset = st["index"], st["offset"]
        if limit < start:
            raise LogError("limit %d: the device is already at entry %d "
                           "(replay from the start instead)" % (limit, start))
    if limit > log.nr_entries:
        raise LogError("limit %d: the log has %d entries" % (limit, log.nr_entries))
    ss = log.sectorsize
    t = Target(dev)
    n = {"writes": 0, "bytes": 0, "discards": 0, "zeroed": 0}
    index, next_offset = start, offset if offset is not None else ss
    try:
        if start < limit:
            for e in log.entries(start, offset):
                if e.index >= limit:
                    break
                if e.flags & DISCARD:
                    t.zero(e.sector * ss, e.nr_sectors * ss)
                    n["discards"] += 1
                    n["zeroed"] += e.nr_sectors * ss
                elif e.data_bytes:
                    dst, done = e.sector * ss, 0
                    while done < e.data_bytes:
                        k = min(CHUNK, e.data_bytes - done)
                        data = os.pread(log.fd, k, e.data_offset + done)
                        if len(data) != k:
                            raise LogError("entry %d: its data is cut short" % e.index)
                        t.write(dst + done, data)
                        done += k
                    n["writes"] += 1
                    n["bytes"] += e.data_bytes
                index, next_offset = e.index + 1, e.data_offset + e.data_bytes
    finally:
        t.close()
    if state_path:
        tmp = state_path + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"log": os.path.realpath(log.path),
                       "device": os.path.realpath(dev),
                       "index": index, "offset": next_offset}, f)
        os.replace(tmp, state_path)
    return n


# ---- commands ----------------------------------------------------------------


def cmd_info(a):
    log = Log(a.log)
    kinds = {"writes": 0, "flush": 0, "fua": 0, "discards": 0, "marks": 0,
             "data_bytes": 0}
    for e in log.entries():
        if e.flags & MARK:
            kinds["marks"] += 1
        elif e.flags & DISCARD:
            kinds["discards"] += 1
        elif e.data_bytes:
            kinds["writes"] += 1
        if e.flags & FLUSH:
            kinds["flush"] += 1
        if e.flags & FUA:
            kinds["fua"] += 1
        kinds["data_bytes"] += e.data_bytes
    print("version %d, sector size %d, %d entries: %s" % (
        VERSION, log.sectorsize, log.nr_entries,
        ", ".join("%s %d" % kv for kv in kinds.items())))


def cmd_list(a):
    log = Log(a.log)
    ss = log.sectorsize
    out = sys.stdout
    for e in log.entries():
        if a.marks and not e.flags & MARK:
            continue
        out.write(e.describe(ss) + "\n")


def cmd_find(a):
    print(Log(a.log).find_mark(a.mark))


def sample(items, n):
    """n items spread evenly over items, the first and the last among them."""
    if n <= 0 or len(items) <= n:
        return items
    if n == 1:
        return items[-1:]
    return [items[round(i * (len(items) - 1) / (n - 1))] for i in range(n)]


def cmd_points(a):
    log = Log(a.log)
    lo = log.find_mark(a.from_mark) if a.from_mark else -1
    hi = log.find_mark(a.to_mark) if a.to_mark else log.nr_entries
    points = {}
    last_write = None  # the last write since the last FLUSH/FUA entry
    for e in log.entries(lo + 1 if lo >= 0 else 0):
        if e.index >= hi:
            break
        if e.data_bytes:
            last_write = e.index
        if e.flags & (FLUSH | FUA):
            kind = flag_str(e.flags & (FLUSH | FUA))
            points.setdefault(e.index + 1, "after %d %s" % (e.index, kind))
            # Before the flush's last write (its own data or, where the
            # kernel split it off, the write just before): a journal's
            # commit block, say, not yet on the disk.
            if a.before and last_write is not None:
                points.setdefault(last_write, "before %d (the last write "
                                  "before %d %s)" % (last_write, e.index, kind))
            last_write = None
    # A sample takes as many of each kind as it can: the states just
    # before a flush are those that show a write that came too early.
    before = sorted(k for k, v in points.items() if v.startswith("before"))
    after = sorted(k for k, v in points.items() if v.startswith("after"))
    if a.sample and len(points) > a.sample:
        nb = min(len(before), a.sample // 2)
        chosen = sample(before, nb) + sample(after, a.sample - nb)
    else:
        chosen = list(points)
    for limit in sorted(chosen):
        print(limit, points[limit])


def cmd_replay(a):
    log = Log(a.log)
    if (a.limit is None) == (a.end_mark is None):
        raise LogError("replay: give one of --limit N and --end-mark NAME")
    limit = a.limit if a.limit is not None else log.find_mark(a.end_mark) + 1
    n = replay(log, a.device, limit, a.state)
    if a.verbose:
        print("replayed to entry %d: %d writes (%d bytes), %d discards (%d bytes zeroed)"
              % (limit, n["writes"], n["bytes"], n["discards"], n["zeroed"]),
              file=sys.stderr)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)

    s = sub.add_parser("info", help="the superblock, counts by kind")
    s.add_argument("log")
    s.set_defaults(fn=cmd_info)

    s = sub.add_parser("list", help="INDEX @BYTE FLAGS [OFFSET+LENGTH | MARK]")
    s.add_argument("log")
    s.add_argument("--marks", action="store_true", help="marks only")
    s.set_defaults(fn=cmd_list)

    s = sub.add_parser("find", help="the index of a mark's entry")
    s.add_argument("log")
    s.add_argument("mark")
    s.set_defaults(fn=cmd_find)

    s = sub.add_parser("points", help="LIMIT before|after INDEX FLAGS: the "
                       "prefixes that end at each FLUSH/FUA entry")
    s.add_argument("log")
    s.add_argument("--from-mark", help="only entries after this mark")
    s.add_argument("--to-mark", help="only entries before this mark")
    s.add_argument("--before", action="store_true",
                   help="also the prefixes that stop just before each one")
    s.add_argument("--sample", type=int, default=0,
                   help="at most this many, spread evenly (0: all)")
    s.set_defaults(fn=cmd_points)

    s = sub.add_parser("replay", help="apply the first entries to a device")
    s.add_argument("log")
    s.add_argument("device")
    s.add_argument("--limit", type=int, help="replay entries 0 .. LIMIT-1")
    s.add_argument("--end-mark", help="replay up to and including this mark")
    s.add_argument("--state", help="resume from, and record, where the last "
                   "replay onto DEVICE stopped")
    s.add_argument("-v", "--verbose", action="store_true")
    s.set_defaults(fn=cmd_replay)

    a = p.parse_args()
    try:
        a.fn(a)
    except LogError as e:
        sys.exit("logwrites: %s" % e)
    except BrokenPipeError:
        sys.exit(1)


if __name__ == "__main__":
    main()
