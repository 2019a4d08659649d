#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Generate a file tree for bench/scan.sh, fast.

Usage: gen-tree.py ROOT NFILES BUDGET_BYTES [SEED]

Makes about NFILES/500 directories two and three levels deep and NFILES
regular files spread over them with a skewed (Zipf-like) choice of directory.
Sizes are mostly 1-16 KiB with a tail of larger files:

    60%  1-4 KiB     25%  4-8 KiB     10%  8-16 KiB
    4.9% 16-64 KiB   0.1% 64 KiB-1 MiB  (log-uniform inside each range)

One file in ten more is written among them and deleted at the end, so the
allocator's holes look like those of a filesystem that has lived a little.
BUDGET_BYTES caps the data written (files beyond the budget's pace are cut
to the smallest range), so the tree always fits the image.  Prints one line:
files, directories, deleted files and bytes of the files kept.
"""

import math
import os
import random
import sys

KIB = 1024
BUCKETS = [  # (cumulative probability, low, high)
    (0.600, 1 * KIB, 4 * KIB),
    (0.850, 4 * KIB, 8 * KIB),
    (0.950, 8 * KIB, 16 * KIB),
    (0.999, 16 * KIB, 64 * KIB),
    (1.000, 64 * KIB, 1024 * KIB),
]


def draw_size(rng):
    u = rng.random()
    for cum, lo, hi in BUCKETS:
        if u < cum:
            break
    return int(math.exp(rng.uniform(math.log(lo), math.log(hi))))


def alloc(size, bs=4096):
    return (size + bs - 1) // bs * bs


def main():
    if len(sys.argv) not in (4, 5):
        sys.exit(__doc__)
    root = sys.argv[1]
    nfiles = int(sys.argv[2])
    budget = int(sys.argv[3])
    rng = random.Random(int(sys.argv[4]) if len(sys.argv) == 5 else 1)

    # Directories: top/sub/(leaf): about 500 files a directory.
    ndirs = max(1, nfiles // 500)
    ntop = max(1, int(round(math.sqrt(ndirs) / 2)))
    dirs = []
    for t in range(ntop):
        top = os.path.join(root, "t%02d" % t)
        os.mkdir(top)
        dirs.append(top)
    while len(dirs) < ndirs:
        parent = dirs[rng.randrange(len(dirs))]
        if parent.count(os.sep) - root.count(os.sep) >= 3:
            continue
        d = os.path.join(parent, "d%04d" % len(dirs))
        os.mkdir(d)
        dirs.append(d)
    # Zipf-like weights: a few directories hold many files.
    weights = [1.0 / (i + 1) ** 0.8 for i in range(len(dirs))]
    rng.shuffle(weights)
    cum = []
    acc = 0.0
    for w in weights:
        acc += w
        cum.append(acc)

    nscratch = nfiles // 10
    total = nfiles + nscratch
    scratch_every = total / nscratch if nscratch else 0
    payload = os.urandom(1024 * KIB)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
    written = 0
    scratch = []
    kept = 0
    kept_bytes = 0
    next_scratch = scratch_every
    for i in range(total):
        is_scratch = nscratch and i + 1 >= next_scratch and len(scratch) < nscratch
        if is_scratch:
            next_scratch += scratch_every
        size = draw_size(rng)
        # Keep pace with the budget: never ahead of its share so far.
        if written + alloc(size) > budget * (i + 1) / total:
            size = rng.randint(1 * KIB, 4 * KIB)
        d = dirs[_bisect(cum, rng.random() * acc)]
        path = os.path.join(d, "f%07d" % i)
        fd = os.open(path, flags, 0o644)
        try:
            os.write(fd, payload[:size])
        finally:
            os.close(fd)
        written += alloc(size)
        if is_scratch:
            scratch.append(path)
        else:
            kept += 1
            kept_bytes += size
    for path in scratch:
        os.unlink(path)
    print("files %d directories %d deleted %d bytes %d"
          % (kept, len(dirs), len(scratch), kept_bytes))


def _bisect(cum, x):
    lo, hi = 0, len(cum) - 1
    while lo < hi:
        mid = (lo + hi) // 2
        if cum[mid] < x:
            lo = mid + 1
        else:
            hi = mid
    return lo


if __name__ == "__main__":
    main()
