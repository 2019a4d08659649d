#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Helper of bench/compact.sh: cluster occupancy, victims, the summary.

compact.py copy SRC DST
    Copy an image so that DST holds storage where SRC does and nowhere
    else: the written extents of SRC (FIEMAP) copied, zeros included, its
    unwritten extents fallocated, its holes left.  (cp --sparse=auto drops
    the unwritten extents, which the lazy inode-table zeroing of the loop
    device leaves allocated in the pool; --sparse=always also drops zeros
    that were written.)
compact.py pool-bytes IMG
    "ALLOCATED DATA": what the pool holds for the image, st_blocks in
    bytes (as tests/lib/common.sh's tp_allocated), and the 1 MiB clusters
    of the image that hold data (written or unwritten, by FIEMAP) in
    bytes.  The first also counts the clusters of the image's own extent
    tree (on bigalloc every extent-tree block takes a whole cluster, and
    punching holes adds some); the second is what a thin pool would hold.
compact.py usage DEV GRANULARITY OUT.json
    Used blocks of every whole cluster of the ext4 on DEV, from dumpe2fs's
    free ranges (tests/lib/tp.py, which shares no code with thinpack).
compact.py emptied BEFORE.json AFTER.json OUT.json [VICTIMS.json]
    The clusters that held blocks before and none after, and the least
    I/O that empties them: their used blocks before, in bytes; and the
    free runs of before that hold blocks after (holes_filled: about one
    placement each).  With VICTIMS.json (an earlier OUT.json), only
    among its clusters.
compact.py discard DEV AFTER.json EMPTIED.json
    Discard (BLKDISCARD) on DEV the clusters EMPTIED.json lists, a call
    for each run of them with no cluster used in AFTER.json between: what
    giving exactly those clusters back costs the device.  Prints the
    number of calls and the seconds they took.
compact.py move-floor MOUNTPOINT EMPTIED.json [borrow [N]]
    What moving the data of the clusters EMPTIED.json lists costs with
    EXT4_IOC_MOVE_EXT alone: every piece of a file inside them moved into
    a donor of its own that the kernel places (fallocate), the piece read
    ahead first, one syncfs at the end; no placement, no check, no
    ordering.  With "borrow", each piece (or N of them, spread evenly)
    also borrows one block of a lender file into its donor first and
    returns it after, as a borrow placement does.  Prints pieces, bytes moved, the seconds from the
    first move to the end of the syncfs (caches dropped before) and the
    bytes written to the device meanwhile.
compact.py victim-files MOUNTPOINT VICTIMS.json
    The regular files (one path per inode) with a data block in a victim
    cluster, by FIEMAP of every file; one path a line.
compact.py inode-blocks DEV FILES
    How many inode-table blocks hold the inodes of the files listed (one
    path a line) on the ext4 mounted from DEV: a move rewrites each of
    them at least twice, in the journal and in place.
compact.py jbd2 DEV
    "TRANSACTIONS REQUESTED LOGGED_BLOCKS" of the journal of the ext4 mounted from
    DEV, from /proc/fs/jbd2 (the logged blocks are transactions times the
    whole-block average the kernel prints: low by less than one block a
    transaction).
compact.py summary RESULTS
    The figures and the verdict, from the "key value" lines of RESULTS.
    Exit status 0, or 1 when BENCH_STRICT=1 and a target is missed.

Needs TESTS_LIB (the directory of tp.py) in the environment.
"""

import bisect
import ctypes
import fcntl
import json
import os
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.environ.get("TESTS_LIB", os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "tests", "lib")))
import tp  # noqa: E402

TARGET_IO_RATIO = 1.3
MIB = 1 << 20
GIB = 1 << 30


FIEMAP_EXTENT_UNWRITTEN = 0x800
BLKDISCARD = 0x1277  # _IO(0x12, 119)


def cmd_copy(src, dst):
    chunk = 4 * MIB
    sfd = os.open(src, os.O_RDONLY)
    dfd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        size = os.fstat(sfd).st_size
        os.ftruncate(dfd, size)
        for lo, ph, ln, fl in list(tp.fiemap(sfd)):
            ln = min(ln, size - lo)
            if ln <= 0:
                continue
            if fl & FIEMAP_EXTENT_UNWRITTEN:
                os.posix_fallocate(dfd, lo, ln)
                continue
            off, end = lo, lo + ln
            while off < end:
                buf = os.pread(sfd, min(chunk, end - off), off)
                if not buf:
                    raise OSError("%s: short read at %d" % (src, off))
                done = 0
                while done < len(buf):
                    done += os.pwrite(dfd, buf[done:], off + done)
                off += len(buf)
        os.fsync(dfd)
    finally:
        os.close(sfd)
        os.close(dfd)


def cmd_pool_bytes(img):
    fd = os.open(img, os.O_RDONLY)
    try:
        allocated = os.fstat(fd).st_blocks * 512
        clusters = set()
        for lo, ph, ln, fl in tp.fiemap(fd):
            if ln:
                clusters.update(range(lo // MIB, (lo + ln - 1) // MIB + 1))
    finally:
        os.close(fd)
    print(allocated, len(clusters) * MIB)


def cmd_usage(dev, granularity, out):
    bs, count, first, ratio = tp.dumpe2fs_geometry(dev)
    C = int(granularity) // bs
    free = tp.dumpe2fs_free_ranges(dev, ratio)
    _, used = tp.cluster_used(free, count, C)
    with open(out, "w") as f:
        json.dump({"block_size": bs, "cluster_blocks": C, "used": used,
                   "free": free}, f)


def hole_floor(usage, emptied):
    """The holes the data of the emptied clusters can go to: free runs in
    the clusters that were partial before and stay (across adjacent ones,
    as thinpack counts them).  Returns (number, blocks, the fewest of them,
    largest first, that hold the data)."""
    C, used = usage["cluster_blocks"], usage["used"]
    gone = set(emptied["clusters"])
    stays = lambda c: (c < len(used) and 0 < used[c] < C  # noqa: E731
                       and c not in gone)
    holes = []
    for lo, hi in usage["free"]:
        b, run = lo, 0
        while b < hi:
            c = b // C
            e = min(hi, (c + 1) * C)
            if stays(c):
                run += e - b
            elif run:
                holes.append(run)
                run = 0
            b = e
        if run:
            holes.append(run)
    need = sum(used[c] for c in gone)
    fewest, got = 0, 0
    for h in sorted(holes, reverse=True):
        if got >= need:
            break
        got += h
        fewest += 1
    return len(holes), sum(holes), fewest


def cmd_emptied(before, after, out, victims=None):
    with open(before) as f:
        b = json.load(f)
    with open(after) as f:
        a = json.load(f)
    among = None
    if victims:
        with open(victims) as f:
            among = set(json.load(f)["clusters"])
    bs = b["block_size"]
    ub, ua = b["used"], a["used"]
    cl = [c for c in range(len(ub)) if ub[c] and not ua[c]
          and (among is None or c in among)]
    # The free runs of before that hold something after: about one
    # placement each (more for a run longer than a placement's window).
    after_free = sorted(a["free"])
    starts = [r[0] for r in after_free]

    def kept(lo, hi):
        k = bisect.bisect_right(starts, lo) - 1
        return k >= 0 and after_free[k][1] >= hi

    res = {
        "block_size": bs,
        "cluster_blocks": b["cluster_blocks"],
        "clusters": cl,
        "holes_filled": sum(1 for lo, hi in b["free"] if not kept(lo, hi)),
        "min_io_bytes": sum(ub[c] for c in cl) * bs,
        "empty_before": sum(1 for u in ub if not u),
        "empty_after": sum(1 for u in ua if not u),
        "filled": sum(1 for c in range(len(ub)) if not ub[c] and ua[c]),
    }
    with open(out, "w") as f:
        json.dump(res, f)


def discard_ranges(usage_after, emptied):
    """The emptied clusters as byte ranges, one for each run of them with
    no used cluster between (free ones between may go with them): the
    fewest discards that give exactly those clusters back."""
    with open(usage_after) as f:
        used = json.load(f)["used"]
    with open(emptied) as f:
        e = json.load(f)
    step = e["cluster_blocks"] * e["block_size"]
    out = []
    for c in sorted(e["clusters"]):
        if out and not any(used[k] for k in range(out[-1][1] + 1, c)):
            out[-1][1] = c
        else:
            out.append([c, c])
    return [(a * step, (b - a + 1) * step) for a, b in out]


def cmd_discard(dev, usage_after, emptied):
    """BLKDISCARD the ranges of discard_ranges() on dev, one after the
    other; prints the number of calls and the seconds they took."""
    ranges = discard_ranges(usage_after, emptied)
    fd = os.open(dev, os.O_RDWR)
    try:
        t = time.monotonic()
        for off, length in ranges:
            fcntl.ioctl(fd, BLKDISCARD, struct.pack("QQ", off, length))
        elapsed = time.monotonic() - t
    finally:
        os.close(fd)
    print(len(ranges), "%.6f" % elapsed)


LIBC = ctypes.CDLL(None, use_errno=True)
EXT4_IOC_MOVE_EXT = 0xC028660F  # _IOWR('f', 15, struct move_extent)


def move_ext(fd, donor, orig_start, donor_start, n):
    arg = struct.pack("IIQQQQ", 0, donor, orig_start, donor_start, n, 0)
    out = fcntl.ioctl(fd, EXT4_IOC_MOVE_EXT, arg)
    return struct.unpack("IIQQQQ", out)[5]


def prefetch(fd, off, n):
    """The file's dirty pages written back and its cache dropped (a dirty
    or large cached page makes MOVE_EXT slow or fail), then the range read
    ahead: MOVE_EXT up to 6.18 reads each uncached page by itself."""
    # SYNC_FILE_RANGE_WAIT_BEFORE | _WRITE | _WAIT_AFTER
    if LIBC.sync_file_range(fd, ctypes.c_longlong(0), ctypes.c_longlong(0),
                            ctypes.c_uint(1 | 2 | 4)):
        raise OSError(ctypes.get_errno(), "sync_file_range")
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    os.posix_fadvise(fd, off, n, os.POSIX_FADV_WILLNEED)


def data_extents(top):
    """(path, [(logical, physical, length) in bytes]) of every regular file
    under top, one path an inode, by FIEMAP (inline data left out)."""
    for ino, paths in tp.walk_inodes(top).items():
        p = os.path.join(top, paths[0])
        if os.path.islink(p) or not os.path.isfile(p):
            continue
        fd = os.open(p, os.O_RDONLY | os.O_NOFOLLOW)
        try:
            yield p, [(lo, ph, ln) for lo, ph, ln, fl in tp.fiemap(fd)
                      if ln and not fl & tp.FIEMAP_EXTENT_DATA_INLINE]
        finally:
            os.close(fd)


def victim_clusters(path):
    """The cluster size in blocks and the set of clusters of a JSON from
    cmd_emptied()."""
    with open(path) as f:
        e = json.load(f)
    return e["cluster_blocks"], set(e["clusters"])


def victim_pieces(top, emptied):
    """(path, first block, blocks) of every file's data inside the
    clusters EMPTIED lists, by FIEMAP."""
    C, want = victim_clusters(emptied)
    bs = os.statvfs(top).f_frsize
    pieces = []
    for p, extents in data_extents(top):
        for lo, ph, ln in extents:
            lb, pb, n = lo // bs, ph // bs, (ln + bs - 1) // bs
            i = 0
            while i < n:
                if (pb + i) // C not in want:
                    i += 1
                    continue
                j = i
                while j < n and (pb + j) // C in want:
                    j += 1
                pieces.append((p, lb + i, j - i))
                i = j
    return bs, pieces


def written_bytes(top):
    """Bytes written to the block device the filesystem at top is on."""
    st = os.stat(top).st_dev
    with open("/sys/dev/block/%d:%d/stat" % (os.major(st), os.minor(st))) as f:
        return int(f.read().split()[6]) * 512


def cmd_move_floor(top, emptied, mode=None, borrows=None):
    bs, pieces = victim_pieces(top, emptied)
    # Which pieces borrow: every one, or borrows of them spread evenly.
    nb = len(pieces) if borrows is None else min(int(borrows), len(pieces))
    borrow = [(k + 1) * nb // len(pieces) > k * nb // len(pieces)
              for k in range(len(pieces))]
    lender = None
    if mode == "borrow":
        lender = os.open(os.path.join(top, "move-floor-lender"),
                         os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        os.write(lender, os.urandom(bs) * len(pieces))
        os.fsync(lender)
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")
    moved = 0
    w = written_bytes(top)
    t = time.monotonic()
    last = None
    fd = -1
    for k, (p, lb, n) in enumerate(pieces):
        if p != last:
            if fd >= 0:
                os.close(fd)
            fd = os.open(p, os.O_RDWR | os.O_NOFOLLOW)
            size = os.fstat(fd).st_size
            last = p
        d = os.open(top, os.O_RDWR | os.O_TMPFILE, 0o600)
        try:
            slot = 1 if lender is not None and borrow[k] else 0
            os.ftruncate(d, max(size, (lb + n) * bs) + slot * bs)
            if slot:
                os.posix_fallocate(d, 0, bs)
                prefetch(lender, k * bs, bs)
                move_ext(lender, d, k, 0, 1)
            os.posix_fallocate(d, (lb + slot) * bs, n * bs)
            os.posix_fadvise(fd, lb * bs, n * bs, os.POSIX_FADV_WILLNEED)
            moved += move_ext(fd, d, lb, lb + slot, n) * bs
            if slot:
                prefetch(lender, k * bs, bs)
                move_ext(lender, d, k, 0, 1)
        finally:
            os.close(d)
    if fd >= 0:
        os.close(fd)
    sfd = os.open(top, os.O_RDONLY)
    try:
        if LIBC.syncfs(sfd):
            raise OSError(ctypes.get_errno(), "syncfs " + top)
    finally:
        os.close(sfd)
    elapsed = time.monotonic() - t
    w = written_bytes(top) - w
    if lender is not None:
        os.close(lender)
        os.unlink(os.path.join(top, "move-floor-lender"))
    print(len(pieces), moved, "%.6f" % elapsed, w)


def cmd_victim_files(top, victims):
    C, want = victim_clusters(victims)
    bs = os.statvfs(top).f_frsize
    n = 0
    for p, extents in data_extents(top):
        if any(c in want for lo, ph, ln in extents
               for c in range(ph // bs // C, (ph + ln - 1) // bs // C + 1)):
            print(p)
            n += 1
    print("bench/compact: %d files with data in the %d victim clusters"
          % (n, len(want)), file=sys.stderr)


def cmd_inode_blocks(dev, files):
    """How many inode-table blocks hold the inodes of the files listed."""
    out = subprocess.run(["dumpe2fs", "-h", dev], capture_output=True,
                         text=True, check=True).stdout
    f = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
    per = int(f["Block size"]) // int(f["Inode size"])
    with open(files) as fl:
        print(len({(os.stat(p.rstrip("\n")).st_ino - 1) // per
                   for p in fl if p.strip()}))


def cmd_jbd2(dev):
    name = os.path.basename(os.path.realpath(dev))
    path = "/proc/fs/jbd2/%s-8/info" % name
    trans = requested = logged = 0
    try:
        with open(path) as f:
            for line in f:
                w = line.split()
                if len(w) > 2 and w[1] == "transactions":
                    # "N transactions (R requested), each up to B blocks"
                    trans = int(w[0])
                    requested = int(w[2].lstrip("("))
                elif line.strip().endswith("logged blocks per transaction"):
                    logged = int(w[0])
    except OSError:
        print("-1 -1 -1")
        return
    print(trans, requested, trans * logged)


def mib(x):
    return x / MIB


def cmd_summary(path):
    r = {}
    with open(path) as f:
        for line in f:
            k, _, v = line.strip().partition(" ")
            if k:
                r[k] = v
    g = lambda k: float(r[k])  # noqa: E731
    pool = lambda v: [int(x) for x in v.split()]  # noqa: E731
    i = lambda k: int(r[k])  # noqa: E731
    with open(r["compact_json"]) as f:
        fs = json.load(f)["filesystems"][0]
    with open(r["emptied_json"]) as f:
        em = json.load(f)
    with open(r["base_emptied_json"]) as f:
        bem = json.load(f)
    with open(r["base_any_json"]) as f:
        bany = json.load(f)
    bs = em["block_size"]
    failed = False

    print("bench/compact: %s MiB ext4 (4 KiB blocks) on the emulated thin "
          "device (1 MiB chunks), loop device direct I/O %s, aged by tp.py "
          "age --seed %s" % (r["image_mb"], r["dio"], r["seed"]))
    print("  thinpack: %s" % r["thinpack_cmd"])
    print("  baseline: %s < FILES (every file with data in a victim "
          "cluster, whole, into an O_TMPFILE donor)" % r["rewrite_cmd"])
    print()
    with open(r["usage_before_json"]) as f:
        usage_before = json.load(f)
    ub = usage_before["used"]
    print("aged state: %d of %d clusters empty, %d full, %d partial; the pool "
          "holds %.1f MiB of data for the image (%.1f MiB for each restored "
          "copy)" % (em["empty_before"], len(ub),
                     sum(1 for u in ub if u == em["cluster_blocks"]),
                     sum(1 for u in ub if 0 < u < em["cluster_blocks"]),
                     mib(pool(r["pool_aged"])[1]),
                     mib(pool(r["pool_restored"])[1])))
    p = fs["placement"]
    sk = {k: v for k, v in fs["skipped"].items() if v}
    print("thinpack:  %d victims, %d clusters emptied (JSON), moved %.1f MiB "
          "in %d moves, trimmed %.1f MiB, placement %d/%d exact (%d missed, "
          "%d through the reservoir), "
          "skipped %s, passes %s, exit %s, peak RSS %.1f MiB"
          % (fs["victims"], fs["clusters_emptied"], mib(fs["moved_bytes"]),
             fs.get("moves", 0), mib(fs["trimmed_bytes"]), p["exact"],
             p["attempts"], p["missed"], p.get("reservoir", 0), sk or "none",
             fs.get("passes"),
             r["thinpack_rc"], i("tp_rss_kib") / 1024))
    ph = fs.get("phase_s")
    if ph:
        print("           phases (s): " + ", ".join(
            "%s %.2f" % (k, v) for k, v in ph.items()))
    print()

    # (a) the I/O ratio
    written = i("tp_written_sectors") * 512
    written_umount = i("tp_written_umount_sectors") * 512
    minio = em["min_io_bytes"]
    n_emptied = len(em["clusters"])
    print("(a) I/O ratio: sectors written to the loop device / least I/O "
          "of the clusters emptied")
    print("    clusters emptied (dumpe2fs before/after)  %6d   (JSON says %d; "
          "%d empty ones were filled)" % (n_emptied, fs["clusters_emptied"],
                                          em["filled"]))
    print("    their used blocks before (least I/O)      %9.1f MiB" % mib(minio))
    print("    written to the loop device, run + sync    %9.1f MiB"
          % mib(written))
    jl = i("tp_journal_blocks")
    if jl >= 0:
        data = fs["moved_bytes"]
        jb = jl * bs
        print("      data moved (moved_bytes)                %9.1f MiB"
              % mib(data))
        print("      journal (jbd2)                          %9.1f MiB  "
              "(%d commits, %d of them asked for; +-1 block a commit)"
              % (mib(jb), i("tp_journal_trans"), i("tp_journal_requested")))
        print("      the rest (metadata in place, sb)        %9.1f MiB"
              % mib(written - data - jb))
    print("    written more until unmounted              %9.1f MiB"
          % mib(written_umount - written))
    print("    discarded (loop device's discard stat)    %9.1f MiB   "
          "(JSON: trimmed %.1f MiB in %d clusters, discarded %.1f MiB, "
          "%d retrimmed)" % (mib(i("tp_discard_sectors") * 512),
                             mib(fs["trimmed_bytes"]),
                             fs.get("trimmed_clusters", 0),
                             mib(fs.get("discarded_bytes", 0)),
                             fs.get("retrimmed_clusters", 0)))
    n_holes, hole_blocks, fewest = hole_floor(usage_before, em)
    res = p.get("reservoir", 0)
    print("    placements (each copies a lender's block there and back; "
          "without the reservoir it\n    also writes a first block twice)\n"
          "      %4d through the reservoir, 2 blocks each  %9.1f MiB\n"
          "      %4d others, 3 blocks each                %9.1f MiB"
          % (res, mib(2 * res * bs), p["attempts"] - res,
             mib(3 * (p["attempts"] - res) * bs)))
    print("    holes in the clusters that stay: %d, %.1f MiB, for %.1f MiB "
          "to move;\n      the fewest that hold it, largest first: %d"
          % (n_holes, mib(hole_blocks * bs), mib(minio), fewest))
    ib = i("victim_inode_blocks")
    print("    inode-table blocks of the files moved: %d, each written at "
          "least twice  %5.1f MiB" % (ib, mib(2 * ib * bs)))
    if minio:
        print("    floor of the ratio with borrow placement   %9.2f     "
              "(data, 2 blocks in each of those %d holes, the inode "
              "blocks twice)" % ((minio + (2 * fewest + 2 * ib) * bs) / minio,
                                 fewest))
    if minio:
        ratio = written / minio
        ok = ratio <= TARGET_IO_RATIO
        failed |= not ok
        print("    I/O ratio                                 %9.2f     "
              "(target <= %.1f)  %s" % (ratio, TARGET_IO_RATIO,
                                       "PASS" if ok else "FAIL"))
        print("    I/O ratio with the writes until unmount   %9.2f"
              % (written_umount / minio))
    else:
        failed = True
        print("    I/O ratio: no cluster emptied                      FAIL")
    print()

    # (b) clusters per GiB against the baseline
    tp_moved = fs["moved_bytes"]
    b_moved = i("base_blocks_moved") * bs
    b_emptied = len(bem["clusters"])
    print("(b) clusters emptied per GiB moved, against rewriting whole files "
          "(same %d victim clusters, same aged image)" % n_emptied)
    print("    %-10s %8s %10s %10s %12s %9s %7s" %
          ("", "files", "moved MiB", "emptied", "per GiB", "written", "time"))
    tp_rate = n_emptied / (tp_moved / GIB) if tp_moved else 0.0
    b_rate = b_emptied / (b_moved / GIB) if b_moved else 0.0
    print("    %-10s %8s %10.1f %10d %12.1f %5.1f MiB %6.2fs" %
          ("thinpack", "-", mib(tp_moved), n_emptied, tp_rate,
           mib(written), g("tp_wall_s")))
    print("    %-10s %8d %10.1f %10d %12.1f %5.1f MiB %6.2fs" %
          ("baseline", i("base_files"), mib(b_moved), b_emptied, b_rate,
           mib(i("base_written_sectors") * 512), g("base_wall_s")))
    print("    baseline: %.1f MiB in the files' sizes; %d other clusters "
          "became empty as well, %d empty ones were filled; %.1f MiB "
          "written until unmounted, fstrim discarded %.1f MiB"
          % (mib(i("base_bytes")), len(bany["clusters"]) - b_emptied,
             bany["filled"], mib(i("base_written_umount_sectors") * 512),
             mib(i("base_discard_sectors") * 512)))
    if b_rate:
        print("    ratio thinpack/baseline                   %9.2fx"
              % (tp_rate / b_rate))
    print()

    # (c) throughput against cp
    tp_mibs = mib(tp_moved) / g("tp_wall_s") if g("tp_wall_s") else 0.0
    cp_mibs = mib(i("cp_bytes")) / g("cp_wall_s") if g("cp_wall_s") else 0.0
    print("(c) MiB/s moved, against cp of as many bytes on the same "
          "filesystem (cold cache, + syncfs)")
    print("    thinpack  %8.1f MiB in %6.2f s (wall; JSON elapsed %.2f s)  "
          "%8.1f MiB/s" % (mib(tp_moved), g("tp_wall_s"), fs["elapsed_s"],
                            tp_mibs))
    print("    cp        %8.1f MiB in %6.2f s                            "
          "%8.1f MiB/s" % (mib(i("cp_bytes")), g("cp_wall_s"), cp_mibs))
    if cp_mibs:
        print("    ratio thinpack/cp                         %9.2fx"
              % (tp_mibs / cp_mibs))
    print("    (the sync after thinpack took %.2f s more)" % g("tp_sync_s"))
    print()

    print("pool (the backing image), MiB      data clusters (FIEMAP)     "
          "allocated (stat %b)")
    print("                                  before  after returned   "
          "before  after returned")
    for who in ("tp", "base"):
        bb, aa = pool(r[who + "_pool_before"]), pool(r[who + "_pool_after"])
        print("    %-26s %8.1f %6.1f %8.1f %8.1f %6.1f %8.1f" % (
            "thinpack" if who == "tp" else "baseline (after fstrim)",
            mib(bb[1]), mib(aa[1]), mib(bb[1] - aa[1]),
            mib(bb[0]), mib(aa[0]), mib(bb[0] - aa[0])))
    if failed and os.environ.get("BENCH_STRICT") == "1":
        print("BENCH_STRICT=1: a target failed", file=sys.stderr)
        return 1
    return 0


def main():
    a = sys.argv[1:]
    if not a:
        sys.exit(__doc__)
    if a[0] == "copy" and len(a) == 3:
        cmd_copy(*a[1:])
    elif a[0] == "pool-bytes" and len(a) == 2:
        cmd_pool_bytes(a[1])
    elif a[0] == "usage" and len(a) == 4:
        cmd_usage(*a[1:])
    elif a[0] == "emptied" and len(a) in (4, 5):
        cmd_emptied(*a[1:])
    elif a[0] == "discard" and len(a) == 4:
        cmd_discard(*a[1:])
    elif a[0] == "move-floor" and len(a) in (3, 4, 5):
        cmd_move_floor(*a[1:])
    elif a[0] == "victim-files" and len(a) == 3:
        cmd_victim_files(*a[1:])
    elif a[0] == "inode-blocks" and len(a) == 3:
        cmd_inode_blocks(*a[1:])
    elif a[0] == "jbd2" and len(a) == 2:
        cmd_jbd2(a[1])
    elif a[0] == "summary" and len(a) == 2:
        return cmd_summary(a[1])
    else:
        sys.exit(__doc__)
    return 0


if __name__ == "__main__":
    sys.exit(main())
