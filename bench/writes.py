#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Where the writes of a compaction went, block by block.

writes.py TRACE DEV [MOVED_BYTES]
    TRACE: the text of /sys/kernel/tracing/trace with the event
    block:block_bio_queue enabled for DEV only (see bench/README.md).
    DEV: the device (or image) of the ext4 written, read with dumpe2fs and
    debugfs, not thinpack.  Prints the blocks written by kind -- the
    journal (the blocks of inode 8), inode tables, block and inode bitmaps,
    group descriptors and superblocks, everything else (file data and
    extent-tree blocks) -- and by writer; for the rest, how many distinct
    blocks and how many writes of a block written before.  With
    MOVED_BYTES (moved_bytes of compact --json), each figure over it too.
"""

import bisect
import collections
import re
import subprocess
import sys

EVENT = re.compile(r"block_bio_queue: \d+,\d+ (\S+) (\d+) \+ (\d+) \[(.*)\]")
META = re.compile(r"(Primary superblock|Backup superblock|Group descriptors|"
                  r"Reserved GDT blocks|Block bitmap|Inode bitmap|Inode table)"
                  r"\s+at\s+(\d+)(?:-(\d+))?")


def layout(dev):
    out = subprocess.run(["dumpe2fs", dev], capture_output=True, text=True,
                         check=True).stdout
    bs = int(re.search(r"^Block size:\s+(\d+)", out, re.M).group(1))
    meta = sorted((int(m.group(2)), int(m.group(3) or m.group(2)), m.group(1))
                  for m in META.finditer(out))
    journal = subprocess.run(["debugfs", "-R", "blocks <8>", dev],
                             capture_output=True, text=True,
                             check=True).stdout.split()
    return bs, meta, set(map(int, journal))


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    bs, meta, journal = layout(sys.argv[2])
    moved = int(sys.argv[3]) if len(sys.argv) == 4 else 0
    starts = [a for a, _, _ in meta]
    sectors = bs // 512

    def kind(b):
        if b in journal:
            return "journal"
        i = bisect.bisect_right(starts, b) - 1
        if i >= 0 and meta[i][0] <= b <= meta[i][1]:
            k = meta[i][2]
            return "superblocks and descriptors" if k in (
                "Primary superblock", "Backup superblock",
                "Group descriptors", "Reserved GDT blocks") else k
        return "data and extent trees"

    by_kind = collections.Counter()
    by_writer = collections.Counter()
    times = collections.Counter()
    with open(sys.argv[1]) as f:
        for line in f:
            m = EVENT.search(line)
            if not m or "W" not in m.group(1):
                continue
            sec, n = int(m.group(2)), int(m.group(3))
            writer = re.sub(r"\d+", "N", m.group(4))
            for b in range(sec // sectors, (sec + n + sectors - 1) // sectors):
                k = kind(b)
                by_kind[k] += 1
                by_writer[(k, writer)] += 1
                if k == "data and extent trees":
                    times[b] += 1

    def show(label, blocks):
        mib = blocks * bs / (1 << 20)
        ratio = " %6.3f of moved" % (blocks * bs / moved) if moved else ""
        print("  %-44s %9d blocks %9.1f MiB%s" % (label, blocks, mib, ratio))

    total = sum(by_kind.values())
    print("written: %d blocks of %d bytes" % (total, bs))
    show("all", total)
    for k, v in by_kind.most_common():
        show(k, v)
    again = sum(v - 1 for v in times.values())
    show("  data and extent trees: distinct blocks", len(times))
    show("  data and extent trees: written again", again)
    print("by writer:")
    for (k, w), v in by_writer.most_common(12):
        show("%s, %s" % (k, w), v)


if __name__ == "__main__":
    main()
