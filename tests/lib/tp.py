#!/usr/bin/env python3
"""Test helpers for thinpack: age a filesystem, compute the expected report
independently of thinpack (dumpe2fs free ranges + FIEMAP), compare, and
record file checksums.

    tp.py age DIR [--seed N] [--fill F] [--rounds R] [--final F]
    tp.py oracle --device DEV --mountpoint DIR --granularity B [--offset B]
                 [--thin THIN] [--min-age S] [--curve N]
                            --thin: DEV is stacked on the dm thin device
                            THIN (a dm linear mapping, a loop device or its
                            partition) and the filesystem starts --offset
                            bytes into THIN: the grid is THIN's, and so is
                            the provisioning
    tp.py compare ORACLE.json THINPACK.json [--index I]
    tp.py svgcount MAP.svg [--section I]
    tp.py manifest DIR
    tp.py layout DIR        contents, links, sizes, holes and unwritten ranges
    tp.py fiemap FILE...    physical extents, to prove a file was not moved
    tp.py space DIR         free blocks + blocks owned by inodes, free inodes
    tp.py chunks IMG [SIZE] bytes of the SIZE (1 MiB) chunks of IMG holding data
    tp.py writer DIR STOPFILE  append, overwrite, truncate, rename, unlink
                            files until STOPFILE goes, then check that every
                            file it touched holds what it wrote
    tp.py json FILE PATH [--default V]  one field of a JSON file (FILE - for
                            stdin), PATH dotted, list indexes as numbers:
                            filesystems.0.moved_bytes
    tp.py bound ORACLE.json the bound the oracle computed, in clusters
    tp.py summary FILE LABEL [--moved] [--moves] [--need FIELD]
                            one line on stderr of what thinpack compact
                            --json did; exit 1 when FIELD is 0
    tp.py elapsed START END [--min S]  seconds from START to END (date
                            +%s.%N), at least S
    tp.py uniform MAX       a random delay between 0 and MAX seconds

The oracle never runs thinpack and shares no code with it: used blocks come
from dumpe2fs's per-group "Free blocks" lists, movable blocks from FIEMAP of
every regular file reachable from the mount point, eligibility from
FS_IOC_GETFLAGS and stat.
"""

import argparse
import fcntl
import hashlib
import json
import os
import random
import re
import stat
import struct
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

# ---- age ---------------------------------------------------------------------


def file_size(rng):
    """Sizes as seen on real systems: mostly small, a tail of large."""
    p = rng.random()
    if p < 0.70:
        return rng.randint(1, 16) * 1024 - rng.randint(0, 1023)
    if p < 0.95:
        return rng.randint(16, 128) * 1024 + rng.randint(0, 4095)
    if p < 0.995:
        return rng.randint(128, 1024) * 1024
    return rng.randint(1, 4) * 1024 * 1024


def fs_used_fraction(path):
    st = os.statvfs(path)
    total = st.f_blocks * st.f_frsize
    free = st.f_bfree * st.f_frsize
    return (total - free) / total


def cmd_age(a):
    rng = random.Random(a.seed)
    root = a.dir
    dirs = []
    for i in range(a.dirs):
        d = os.path.join(root, "d%03d" % i)
        os.makedirs(d, exist_ok=True)
        dirs.append(d)
    files = []
    serial = 0

    def write_file(path, size):
        """Plain files, and with --extras also sparse files, files with
        unwritten (fallocated) extents, and hard links."""
        kind = serial % 40 if a.extras else -1
        with open(path, "wb") as f:
            if kind == 7 and size > 8192:      # sparse: data, hole, data
                f.write(rng.randbytes(size // 4))
                f.seek(size // 2)
                f.write(rng.randbytes(size // 4))
            elif kind == 13 and size > 8192:   # unwritten tail
                f.write(rng.randbytes(size // 2))
                os.posix_fallocate(f.fileno(), 0, size)
            else:
                f.write(rng.randbytes(size))
        if kind == 21:
            link = os.path.join(rng.choice(dirs), "l%06d" % serial)
            os.link(path, link)
            files.append(link)

    unsynced = 0

    def fill_to(target):
        nonlocal serial, unsynced
        while fs_used_fraction(root) < target:
            size = file_size(rng)
            path = os.path.join(rng.choice(dirs), "f%06d" % serial)
            serial += 1
            try:
                write_file(path, size)
            except OSError:
                break
            files.append(path)
            unsynced += size
            if (a.sync_mib and unsynced >= a.sync_mib << 20) or \
                    (not a.sync_mib and serial % 200 == 0):
                os.sync()
                unsynced = 0

    for _ in range(a.rounds):
        fill_to(a.fill)
        os.sync()
        rng.shuffle(files)
        cut = int(len(files) * a.delete)
        for path in files[:cut]:
            os.unlink(path)
        del files[:cut]
        os.sync()
    fill_to(a.final)
    os.sync()
    print("aged %s: %d files, %.0f%% used" %
          (root, len(files), 100 * fs_used_fraction(root)), file=sys.stderr)


# ---- the oracle ----------------------------------------------------------------

FS_IOC_GETFLAGS = 0x80086601
FS_IOC_FIEMAP = 0xC020660B
FIEMAP_FLAG_SYNC = 0x1
FIEMAP_EXTENT_LAST = 0x1
FIEMAP_EXTENT_DATA_INLINE = 0x200

FS_IMMUTABLE_FL = 0x10
FS_APPEND_FL = 0x20
FS_ENCRYPT_FL = 0x800
FS_JOURNAL_DATA_FL = 0x4000
FS_EXTENT_FL = 0x80000
FS_VERITY_FL = 0x100000
FS_DAX_FL = 0x02000000
PINNING = (FS_IMMUTABLE_FL | FS_APPEND_FL | FS_ENCRYPT_FL | FS_JOURNAL_DATA_FL
           | FS_VERITY_FL | FS_DAX_FL)


def dumpe2fs_geometry(dev):
    out = subprocess.run(["dumpe2fs", "-h", dev], capture_output=True,
                         text=True, check=True).stdout
    fields = {}
    for line in out.splitlines():
        if ":" in line:
            k, v = line.split(":", 1)
            fields[k.strip()] = v.strip()
    bs = int(fields["Block size"])
    ratio = int(fields.get("Cluster size", bs)) // bs
    return bs, int(fields["Block count"]), int(fields["First block"]), ratio


def dumpe2fs_free_ranges(dev, ratio):
    """Free blocks as [lo, hi) ranges.  On bigalloc, dumpe2fs lists free
    clusters by their first block: "a-b" covers a to b + ratio - 1."""
    out = subprocess.run(["dumpe2fs", dev], capture_output=True, text=True,
                         check=True).stdout
    ranges = []
    for line in out.splitlines():
        m = re.match(r"\s+Free blocks: ?(.*)$", line)
        if not m or not m.group(1).strip():
            continue
        for part in m.group(1).split(","):
            part = part.strip()
            if "-" in part:
                lo, hi = part.split("-")
                ranges.append((int(lo), int(hi) + ratio))
            else:
                ranges.append((int(part), int(part) + ratio))
    return ranges


def fiemap(fd):
    """Yield (logical, physical, length, flags) in bytes for every extent."""
    start = 0
    count = 256
    while True:
        hdr = struct.pack("=QQLLLL", start, 0xFFFFFFFFFFFFFFFF - start,
                          FIEMAP_FLAG_SYNC, 0, count, 0)
        buf = bytearray(hdr + b"\0" * (56 * count))
        fcntl.ioctl(fd, FS_IOC_FIEMAP, buf)
        mapped = struct.unpack_from("=L", buf, 20)[0]
        if mapped == 0:
            return
        last = None
        for i in range(mapped):
            lo, ph, ln, _, _, fl = struct.unpack_from("=QQQQQL", buf,
                                                      32 + 56 * i)
            yield lo, ph, ln, fl
            last = (lo, ln, fl)
        if last[2] & FIEMAP_EXTENT_LAST:
            return
        start = last[0] + last[1]


def swapfile_inodes():
    inodes = set()
    try:
        with open("/proc/swaps") as f:
            next(f)
            for line in f:
                parts = line.split()
                if len(parts) >= 2 and parts[1] == "file":
                    st = os.stat(parts[0])
                    inodes.add((st.st_dev, st.st_ino))
    except (OSError, StopIteration):
        pass
    return inodes


def movable_extents(mountpoint, block_size, min_age, now):
    """Physical block runs of the data of every movable file."""
    root_dev = os.lstat(mountpoint).st_dev
    swaps = swapfile_inodes()
    seen = set()
    runs = []
    stack = [mountpoint]
    while stack:
        d = stack.pop()
        with os.scandir(d) as it:
            for e in it:
                st = e.stat(follow_symlinks=False)
                if st.st_dev != root_dev:
                    continue
                if stat.S_ISDIR(st.st_mode):
                    stack.append(e.path)
                    continue
                if not stat.S_ISREG(st.st_mode) or st.st_ino in seen:
                    continue
                seen.add(st.st_ino)
                if (st.st_dev, st.st_ino) in swaps:
                    continue
                if now - max(int(st.st_mtime), int(st.st_ctime)) < min_age:
                    continue
                fd = os.open(e.path, os.O_RDONLY | os.O_NOFOLLOW)
                try:
                    flags = struct.unpack(
                        "l", fcntl.ioctl(fd, FS_IOC_GETFLAGS,
                                         struct.pack("l", 0)))[0]
                    if not flags & FS_EXTENT_FL or flags & PINNING:
                        continue
                    eof = -(-st.st_size // block_size)
                    for lo, ph, ln, fl in fiemap(fd):
                        if fl & FIEMAP_EXTENT_DATA_INLINE:
                            continue
                        lblk, pblk = lo // block_size, ph // block_size
                        n = ln // block_size
                        n = max(0, min(n, eof - lblk))  # MOVE_EXT stops at EOF
                        if n:
                            runs.append((pblk, n))
                finally:
                    os.close(fd)
    return runs


def cluster_used(free, count, C, off=0):
    """Used blocks of each whole cluster of C blocks of the device inside
    a filesystem of count blocks that starts off blocks into it, from its
    free ranges (dumpe2fs_free_ranges).  Returns the device index of the
    first such cluster, and the list."""
    c0 = -(-off // C)
    n = max(0, (off + count) // C - c0)
    used = [C] * n
    for lo, hi in free:
        b, hi = lo, min(hi, count)
        while b < hi:
            p = off + b
            e = min(hi, (p // C + 1) * C - off)
            if 0 <= p // C - c0 < n:
                used[p // C - c0] -= e - b
            b = e
    return c0, used


def backing_file(device):
    """The file whose allocation is the device's provisioning: the device
    itself when it is an image file, a loop device's backing file (its
    partitions' too), else None."""
    if os.path.isfile(device):
        return device
    name = os.path.basename(os.path.realpath(device))
    for d in (name, re.sub(r"p[0-9]+$", "", name)):
        try:
            with open("/sys/block/%s/loop/backing_file" % d) as f:
                return f.read().strip()
        except OSError:
            pass
    return None


def provisioned_clusters(path, granularity, first, n):
    """Which of the n clusters of granularity bytes from cluster first of
    the file hold space: any extent (written or not) of the file, by
    FIEMAP, touching them."""
    prov = [False] * n
    fd = os.open(path, os.O_RDONLY)
    try:
        for lo, ph, ln, fl in fiemap(fd):
            for c in range(lo // granularity, -(-(lo + ln) // granularity)):
                if first <= c < first + n:
                    prov[c - first] = True
    finally:
        os.close(fd)
    return prov


def thin_clusters(device, granularity, first, n):
    """On a dm thin device, each of the n clusters from cluster first:
    "u" unmapped, "m" mapped by it alone, "s" mapped by another thin
    device too -- from `dmsetup table` and thin_dump's XML (ElementTree)
    through a metadata snapshot of our own.  None when not a thin device."""
    run = lambda *a: subprocess.run(a, check=True, capture_output=True,
                                    text=True).stdout
    st = os.stat(device)
    devno = "%d:%d" % (os.major(st.st_rdev), os.minor(st.st_rdev))
    try:
        table = run("dmsetup", "table", "-j", devno.split(":")[0],
                    "-m", devno.split(":")[1]).split()
    except (OSError, subprocess.CalledProcessError):
        return None
    if len(table) < 5 or table[2] != "thin":
        return None
    pool, thin_id = table[3], int(table[4])
    pmaj, pmin = pool.split(":")
    ptable = run("dmsetup", "table", "-j", pmaj, "-m", pmin).split()
    pname = run("dmsetup", "info", "-c", "--noheadings", "-o", "name",
                "-j", pmaj, "-m", pmin).strip()
    mmaj, mmin = ptable[3].split(":")
    mname = run("dmsetup", "info", "-c", "--noheadings", "-o", "name",
                "-j", mmaj, "-m", mmin).strip()
    block = int(ptable[5]) * 512
    owners = {}    # data block -> how many devices map it
    mine = []      # (origin block, data block) of the device
    run("dmsetup", "message", pname, "0", "reserve_metadata_snap")
    try:
        dump = run("thin_dump", "--metadata-snap", "-f", "xml",
                   "/dev/mapper/" + mname)
    finally:
        run("dmsetup", "message", pname, "0", "release_metadata_snap")
    for dev in ET.fromstring(dump).iter("device"):
        ours = int(dev.get("dev_id")) == thin_id
        for m in dev:
            if m.tag == "single_mapping":
                o, d, ln = int(m.get("origin_block")), int(m.get("data_block")), 1
            elif m.tag == "range_mapping":
                o, d, ln = (int(m.get("origin_begin")), int(m.get("data_begin")),
                            int(m.get("length")))
            else:
                continue
            for i in range(ln):
                owners[d + i] = owners.get(d + i, 0) + 1
                if ours:
                    mine.append((o + i, d + i))
    state = ["u"] * n
    for o, d in mine:
        s = "s" if owners[d] > 1 else "m"
        for c in range(o * block // granularity,
                       -(-(o + 1) * block // granularity)):
            if first <= c < first + n and state[c - first] != "s":
                state[c - first] = s
    return state


def oracle(device, mountpoint, granularity, offset, min_age, curve_points,
           now=None, thin_device=None):
    if now is None:
        now = int(time.time())
    bs, count, first, ratio = dumpe2fs_geometry(device)
    C = granularity // bs
    off = offset // bs
    # whole clusters of the device inside the filesystem
    c0, used = cluster_used(dumpe2fs_free_ranges(device, ratio), count, C, off)
    nclusters = len(used)
    touched = -(-(off + count) // C) - off // C
    first_block = c0 * C - off
    movable = [0] * nclusters
    for pblk, n in movable_extents(mountpoint, bs, min_age, now):
        for b in range(pblk, pblk + n):
            c = (off + b) // C - c0
            if 0 <= c < nclusters:
                movable[c] += 1

    if thin_device:
        # The stack is the test's own making: it says which thin device
        # is under it and where the filesystem starts on it.
        backing = None
        thin = thin_clusters(thin_device, granularity, c0, nclusters)
        if thin is None:
            raise SystemExit("oracle: %s is not a dm thin device" % thin_device)
    else:
        backing = backing_file(device)
        thin = None if backing else thin_clusters(device, granularity, c0, nclusters)
    if thin is not None:
        prov = [t != "u" for t in thin]
        shared = [t == "s" for t in thin]
    else:
        prov = (provisioned_clusters(backing, granularity, c0, nclusters)
                if backing else [True] * nclusters)
        shared = [False] * nclusters
    pv = {"source": "file" if backing else "dm-thin" if thin is not None else "none",
          "provisioned": sum(prov), "empty_provisioned": 0,
          "used_unprovisioned": 0, "shared": sum(shared), "used_shared": 0}
    for u, p, sh in zip(used, prov, shared):
        if u == 0 and p and not sh:
            pv["empty_provisioned"] += 1
        elif u > 0 and not p:
            pv["used_unprovisioned"] += 1
        elif u > 0 and sh:
            pv["used_shared"] += 1
    res = {"total": nclusters, "full": 0, "partial": 0, "empty": 0,
           "pinned": 0, "eligible": 0, "edge": touched - nclusters}
    holes = 0
    used_sum = movable_sum = 0
    victims = []
    for u, m, p, sh in zip(used, movable, prov, shared):
        if u == 0:
            res["empty"] += 1
            continue
        res["full" if u == C else "partial"] += 1
        used_sum += u
        movable_sum += min(m, u)
        if not p or sh:
            continue  # holds no space, or shares it: neither victim nor target
        holes += C - u
        if m >= u:
            res["eligible"] += 1
            victims.append(u)
        elif u < C:
            res["pinned"] += 1
    # The classes of `report --map`, one cluster a square: sh and u first.
    cls = {}
    for u, m, p, sh in zip(used, movable, prov, shared):
        k = ("sh" if sh else "u" if not p else "e" if u == 0 else
             "f" if u == C else "p" if m >= u else "x")
        cls[k] = cls.get(k, 0) + 1
    victims.sort()
    bound = min(holes // C, len(victims))
    curve = []
    n = min(curve_points, bound)
    k = io = 0
    for j in range(1, n + 1):
        target = -(-bound * j // n)
        if target == k:
            continue
        while k < target:
            io += victims[k]
            k += 1
        curve.append({"clusters": k, "io_bytes": io * bs,
                      "reclaim_bytes": k * granularity})
    return {
        "block_size": bs, "blocks": count, "granularity": granularity,
        "alignment_offset": offset, "first_block": first_block,
        "clusters": res,
        "blocks_in_clusters": {"used": used_sum, "movable": movable_sum,
                               "holes": holes},
        "provisioning": pv,
        "map": cls,
        "reclaim": {"empty_bytes": res["empty"] * granularity,
                    "trim_now_bytes": pv["empty_provisioned"] * granularity,
                    "bound_clusters": bound,
                    "compaction_bytes": bound * granularity,
                    "compaction_io_bytes": sum(victims[:bound]) * bs,
                    "curve": curve},
    }


def cmd_oracle(a):
    r = oracle(a.device, a.mountpoint, a.granularity, a.offset, a.min_age,
               a.curve, thin_device=a.thin)
    json.dump(r, sys.stdout, indent=1)
    print()


# ---- compare -------------------------------------------------------------------


def cmd_compare(a):
    with open(a.oracle) as f:
        want = json.load(f)
    with open(a.thinpack) as f:
        got = json.load(f)["filesystems"][a.index]
    errors = []

    def check(path, w, g):
        if w != g:
            errors.append("%s: thinpack says %r, expected %r" % (path, g, w))

    for k in ("block_size", "blocks", "granularity", "alignment_offset"):
        check(k, want[k], got.get(k))
    check("clusters.first_block", want["first_block"],
          got["clusters"].get("first_block"))
    for k, v in want["clusters"].items():
        check("clusters." + k, v, got["clusters"].get(k))
    for k, v in want["blocks_in_clusters"].items():
        check("blocks_in_clusters." + k, v, got["blocks_in_clusters"].get(k))
    check("reclaim.empty_bytes", want["reclaim"]["empty_bytes"],
          got["reclaim"].get("empty_bytes"))
    check("reclaim.trim_now_bytes", want["reclaim"]["trim_now_bytes"],
          got["reclaim"].get("trim_now_bytes"))
    for k, v in want["provisioning"].items():
        check("provisioning." + k, v, got.get("provisioning", {}).get(k))
    check("reclaim.bound_clusters", want["reclaim"]["bound_clusters"],
          got["reclaim"].get("bound_clusters"))
    check("reclaim.min_io_bytes", want["reclaim"]["compaction_io_bytes"],
          got["reclaim"].get("min_io_bytes"))
    possible = got.get("compaction_possible")
    for k in ("compaction_bytes", "compaction_io_bytes", "curve"):
        w = want["reclaim"][k] if possible else ([] if k == "curve" else 0)
        check("reclaim." + k, w, got["reclaim"].get(k))
    for e in errors:
        print(e, file=sys.stderr)
    c = want["clusters"]
    print("compared: %d clusters (%d full, %d partial, %d empty, %d pinned), "
          "bound %d, min io %d bytes: %s" %
          (c["total"], c["full"], c["partial"], c["empty"], c["pinned"],
           want["reclaim"]["bound_clusters"],
           want["reclaim"]["compaction_io_bytes"],
           "MISMATCH" if errors else "equal"), file=sys.stderr)
    sys.exit(1 if errors else 0)


# ---- svg -----------------------------------------------------------------------


def cmd_svgcount(a):
    tree = ET.parse(a.svg)
    ns = "{http://www.w3.org/2000/svg}"
    groups = [g for g in tree.iter(ns + "g")
              if "data-clusters-per-cell" in g.attrib]
    g = groups[a.section]
    counts = {}
    for r in g.iter(ns + "rect"):
        counts[r.get("class")] = counts.get(r.get("class"), 0) + 1
    counts["per_cell"] = int(g.get("data-clusters-per-cell"))
    counts["sections"] = len(groups)
    json.dump(counts, sys.stdout, sort_keys=True)
    print()


# ---- manifest ------------------------------------------------------------------


def cmd_manifest(a):
    """path size sha256 for every regular file, sorted: equal manifests mean
    equal contents."""
    out = []
    root_dev = os.lstat(a.dir).st_dev
    for d, dirs, files in os.walk(a.dir):
        dirs[:] = [x for x in dirs
                   if os.lstat(os.path.join(d, x)).st_dev == root_dev]
        for name in files:
            p = os.path.join(d, name)
            st = os.lstat(p)
            if not stat.S_ISREG(st.st_mode):
                continue
            h = hashlib.sha256()
            with open(p, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
            out.append("%s %d %s" % (os.path.relpath(p, a.dir), st.st_size,
                                     h.hexdigest()))
    out.sort()
    print("\n".join(out))


def walk_inodes(top):
    """{ino: [relative paths]} of every inode under top, on its filesystem."""
    root_dev = os.lstat(top).st_dev
    inodes = {}
    for d, dirs, files in os.walk(top):
        dirs[:] = [x for x in dirs
                   if os.lstat(os.path.join(d, x)).st_dev == root_dev]
        for name in files + dirs:
            p = os.path.join(d, name)
            st = os.lstat(p)
            inodes.setdefault(st.st_ino, []).append(os.path.relpath(p, top))
    return inodes


def logical_map(fd, block_size, size):
    """Data ranges by logical block, with unwritten flags, merged: what the
    file is, wherever its blocks are."""
    out = []
    for lo, ph, ln, fl in fiemap(fd):
        first, n = lo // block_size, ln // block_size
        unw = bool(fl & 0x800)
        if out and out[-1][0] + out[-1][1] == first and out[-1][2] == unw:
            out[-1][1] += n
        else:
            out.append([first, n, unw])
    return out


def cmd_layout(a):
    bs = os.statvfs(a.dir).f_frsize
    rows = []
    for ino, paths in walk_inodes(a.dir).items():
        p = os.path.join(a.dir, paths[0])
        st = os.lstat(p)
        if not stat.S_ISREG(st.st_mode):
            continue
        h = hashlib.sha256()
        fd = os.open(p, os.O_RDONLY)
        try:
            while True:
                chunk = os.read(fd, 1 << 20)
                if not chunk:
                    break
                h.update(chunk)
            lmap = logical_map(fd, bs, st.st_size)
        finally:
            os.close(fd)
        rows.append("%s size=%d links=%d sha256=%s map=%s" % (
            ",".join(sorted(paths)), st.st_size, st.st_nlink, h.hexdigest(),
            ";".join("%d+%d%s" % (f, n, "u" if u else "") for f, n, u in lmap)))
    rows.sort()
    print("\n".join(rows))


def cmd_fiemap(a):
    for p in a.files:
        fd = os.open(p, os.O_RDONLY)
        try:
            ext = ["%d:%d+%d" % (lo, ph, ln) for lo, ph, ln, _ in fiemap(fd)]
        finally:
            os.close(fd)
        print(p, " ".join(ext))


def cmd_space(a):
    """Free blocks plus the blocks every inode holds must not change when
    data only moves: a leak would lower it."""
    os.sync()
    st = os.statvfs(a.dir)
    owned = 0
    for ino, paths in walk_inodes(a.dir).items():
        owned += os.lstat(os.path.join(a.dir, paths[0])).st_blocks * 512
    owned += os.lstat(a.dir).st_blocks * 512
    print("bytes=%d free_inodes=%d" % (st.f_bfree * st.f_frsize + owned,
                                        st.f_ffree))


def cmd_chunks(a):
    """What a thin pool with a.size chunks holds for the image: its data
    extents rounded out to whole chunks.  stat -c %b counts more: on the
    bigalloc pool of the fixture each block of the image's own extent tree
    takes a whole 1 MiB cluster too, and punching holes grows that tree."""
    chunks = set()
    fd = os.open(a.image, os.O_RDONLY)
    try:
        for lo, ph, ln, fl in fiemap(fd):
            chunks.update(range(lo // a.size, (lo + ln + a.size - 1) // a.size))
    finally:
        os.close(fd)
    print(len(chunks) * a.size)


def cmd_used(a):
    """Used blocks of each whole cluster of a.granularity bytes, by
    dumpe2fs (run it after sync on a mounted filesystem)."""
    bs, count, first, ratio = dumpe2fs_geometry(a.device)
    C = a.granularity // bs
    _, used = cluster_used(dumpe2fs_free_ranges(a.device, ratio), count, C)
    print("%d %s" % (C, " ".join(map(str, used))))


def cmd_slack_kept(a):
    """From two `used` outputs: the clusters that held data before and
    still do, their hole blocks before, and how many of those are free
    after; exit 1 when fewer than a.percent of them are."""
    (C, *before), (_, *after) = (list(map(int, open(f).read().split()))
                                 for f in (a.before, a.after))
    stay = [c for c in range(len(before)) if before[c] > 0 and after[c] > 0]
    holes = sum(C - before[c] for c in stay)
    free = sum(C - after[c] for c in stay)
    print("slack: %d of the %d hole blocks of the clusters that stay are "
          "free after (%.1f %%, want >= %.1f %%)" %
          (free, holes, 100.0 * free / max(holes, 1), a.percent),
          file=sys.stderr)
    sys.exit(0 if free * 100 >= holes * a.percent else 1)


def cmd_writer(a):
    """A concurrent writer: changes random files under a.dir while
    compaction runs, keeping in memory what each inode must hold (hard
    links share it), until a.stopfile disappears; then every name it
    touched must hold exactly that, and the names it removed must be gone.
    Prints the names it touched (relative), for the caller to leave out of
    its own comparison."""
    rng = random.Random(a.seed)
    names = []
    for d, dirs, files in os.walk(a.dir):
        if a.only and not any(os.path.relpath(d, a.dir).startswith(x)
                              for x in a.only.split(",")):
            continue
        names += [os.path.join(d, f) for f in files]
    names.sort()
    content = {}    # inode -> bytearray, what it must hold
    inode_of = {}   # name -> inode, for the names touched
    gone = set()
    touched = set()
    ops = 0

    def load(p):
        if p not in inode_of:
            ino = os.lstat(p).st_ino
            inode_of[p] = ino
            if ino not in content:
                with open(p, "rb") as f:
                    content[ino] = bytearray(f.read())
            touched.add(p)
        return content[inode_of[p]]

    while os.path.exists(a.stopfile):
        p = rng.choice(names)
        if p in gone:
            continue
        op = rng.random()
        try:
            want = load(p)
            if op < 0.3:                         # append
                data = rng.randbytes(rng.randint(1, 20000))
                with open(p, "ab") as f:
                    f.write(data)
                want += data
            elif op < 0.6:                       # overwrite inside
                size = len(want)
                off = rng.randint(0, max(size - 1, 0))
                data = rng.randbytes(rng.randint(1, 8192))
                with open(p, "r+b") as f:
                    f.seek(off)
                    f.write(data)
                end = off + len(data)
                if end > size:
                    want.extend(b"\0" * (end - size))
                want[off:end] = data
            elif op < 0.75:                      # truncate
                n = rng.randint(0, len(want))
                os.truncate(p, n)
                del want[n:]
            elif op < 0.9:                       # rename
                q = p + ".r"
                os.rename(p, q)
                inode_of[q] = inode_of.pop(p)
                touched.add(q)
                gone.add(p)
                names.append(q)
            else:                                # unlink
                os.unlink(p)
                inode_of.pop(p)
                gone.add(p)
        except FileNotFoundError:
            gone.add(p)
            inode_of.pop(p, None)
        ops += 1
    bad = []
    for p, ino in inode_of.items():
        with open(p, "rb") as f:
            if f.read() != bytes(content[ino]):
                bad.append(p)
    for p in gone:
        if p not in inode_of and os.path.exists(p):
            bad.append(p + " (should be gone)")
    # a file's other names changed with it
    for p in sorted(touched | gone):
        print(os.path.relpath(p, a.dir))
    print("writer: %d operations on %d names, %d wrong" %
          (ops, len(touched | gone), len(bad)), file=sys.stderr)
    for p in bad[:10]:
        print("writer: WRONG %s" % p, file=sys.stderr)
    sys.exit(1 if bad or ops == 0 else 0)


# ---- small readers of thinpack's and the oracle's JSON, timing ---------------


def json_field(doc, path):
    """doc's field at PATH: keys separated by dots, list indexes as
    numbers."""
    for k in path.split("."):
        doc = doc[int(k)] if isinstance(doc, list) else doc[k]
    return doc


def cmd_json(a):
    """Print a field of a JSON file as Python prints it (numbers, strings
    as they are); --default when its last key is missing."""
    doc = json.load(sys.stdin if a.file == "-" else open(a.file))
    parent, _, last = a.path.rpartition(".")
    try:
        if parent:
            doc = json_field(doc, parent)
        if a.default is not None and isinstance(doc, dict) and last not in doc:
            v = a.default
        else:
            v = json_field(doc, last)
    except (KeyError, IndexError, TypeError, ValueError):
        sys.exit("tp.py json: %s has no %s" % (a.file, a.path))
    print(json.dumps(v, sort_keys=True) if isinstance(v, (dict, list)) else v)


def cmd_bound(a):
    """The oracle's bound: the clusters compaction can empty at most."""
    with open(a.oracle) as f:
        print(json.load(f)["reclaim"]["bound_clusters"])


def cmd_summary(a):
    """What thinpack compact --json did to its first filesystem, for the
    test's log; with --need, exit 1 unless that field is above 0."""
    with open(a.file) as f:
        fs = json.load(f)["filesystems"][0]
    line = "%s: %d clusters emptied" % (a.label, fs["clusters_emptied"])
    if a.moved:
        line += ", %d bytes moved" % fs["moved_bytes"]
    if a.moves:
        line += ", %d moves" % fs["moves"]
    line += ", skipped %s" % {k: v for k, v in fs["skipped"].items() if v}
    print(line, file=sys.stderr)
    for k in a.need:
        if not fs[k] > 0:
            print("%s: %s is %r, want > 0" % (a.label, k, fs[k]), file=sys.stderr)
            sys.exit(1)


def cmd_fsck_leaks(a):
    """Whether an e2fsck -fn report finds only leaked blocks: bitmap
    differences that free blocks ("-"), the free counts that follow from
    them, and a block bitmap whose checksum (in its group descriptor,
    another block) was not written yet.  Prints what else it finds; exit
    status 1 then."""
    bad = []
    prev = ""
    for line in open(a.report):
        line = line.rstrip()
        if line == "IGNORED." and re.search(
                r"Group \d+ block bitmap does not match checksum\.$", prev):
            continue
        prev = line
        # (printed alone when the group's bitmap differences came first)
        if re.fullmatch(r"Group \d+ block bitmap does not match checksum\.",
                        line):
            continue
        if (not line or line.startswith(("e2fsck ", "Pass ", "Fix? no",
                                         "Free blocks count wrong",
                                         "Padding at end of block bitmap"))
                or "WARNING: Filesystem still has errors" in line
                or re.search(r"\d+/\d+ files .* blocks$", line)):
            continue
        if line.startswith("Block bitmap differences:"):
            if "+" in line:
                bad.append(line[:200])
            continue
        bad.append(line[:200])
    for b in bad:
        print(b)
    sys.exit(1 if bad else 0)


def cmd_elapsed(a):
    d = float(a.end) - float(a.start)
    print(d if a.min is None else max(a.min, d))


def cmd_uniform(a):
    print(random.uniform(0, a.max))


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)

    s = sub.add_parser("age")
    s.add_argument("dir")
    s.add_argument("--seed", type=int, default=1)
    s.add_argument("--dirs", type=int, default=16)
    s.add_argument("--fill", type=float, default=0.6,
                   help="fill to this fraction before each deletion round")
    s.add_argument("--delete", type=float, default=0.5,
                   help="fraction of files deleted in each round")
    s.add_argument("--rounds", type=int, default=2)
    s.add_argument("--final", type=float, default=0.4,
                   help="refill to this fraction at the end")
    s.add_argument("--sync-mib", type=int, default=0,
                   help="sync after this many MiB written, not every 200 "
                   "files: longer runs of delayed allocation, more "
                   "fragmented files")
    s.add_argument("--extras", action="store_true",
                   help="also sparse files, unwritten extents, hard links")
    s.set_defaults(fn=cmd_age)

    s = sub.add_parser("fsck-leaks")
    s.add_argument("report")
    s.set_defaults(fn=cmd_fsck_leaks)

    s = sub.add_parser("layout")
    s.add_argument("dir")
    s.set_defaults(fn=cmd_layout)

    s = sub.add_parser("fiemap")
    s.add_argument("files", nargs="+")
    s.set_defaults(fn=cmd_fiemap)

    s = sub.add_parser("writer")
    s.add_argument("dir")
    s.add_argument("stopfile")
    s.add_argument("--seed", type=int, default=1)
    s.add_argument("--only", help="directories (prefixes, comma-separated)")
    s.set_defaults(fn=cmd_writer)

    s = sub.add_parser("chunks")
    s.add_argument("image")
    s.add_argument("size", type=int, nargs="?", default=1048576)
    s.set_defaults(fn=cmd_chunks)

    s = sub.add_parser("used")
    s.add_argument("device")
    s.add_argument("granularity", type=int, nargs="?", default=1048576)
    s.set_defaults(fn=cmd_used)

    s = sub.add_parser("slack-kept")
    s.add_argument("before")
    s.add_argument("after")
    s.add_argument("percent", type=float)
    s.set_defaults(fn=cmd_slack_kept)

    s = sub.add_parser("space")
    s.add_argument("dir")
    s.set_defaults(fn=cmd_space)

    s = sub.add_parser("oracle")
    s.add_argument("--device", required=True)
    s.add_argument("--mountpoint", required=True)
    s.add_argument("--granularity", type=int, required=True)
    s.add_argument("--offset", type=int, default=0)
    s.add_argument("--thin")
    s.add_argument("--min-age", type=int, default=86400)
    s.add_argument("--curve", type=int, default=10)
    s.set_defaults(fn=cmd_oracle)

    s = sub.add_parser("compare")
    s.add_argument("oracle")
    s.add_argument("thinpack")
    s.add_argument("--index", type=int, default=0)
    s.set_defaults(fn=cmd_compare)

    s = sub.add_parser("svgcount")
    s.add_argument("svg")
    s.add_argument("--section", type=int, default=0)
    s.set_defaults(fn=cmd_svgcount)

    s = sub.add_parser("manifest")
    s.add_argument("dir")
    s.set_defaults(fn=cmd_manifest)

    s = sub.add_parser("json")
    s.add_argument("file")
    s.add_argument("path")
    s.add_argument("--default")
    s.set_defaults(fn=cmd_json)

    s = sub.add_parser("bound")
    s.add_argument("oracle")
    s.set_defaults(fn=cmd_bound)

    s = sub.add_parser("summary")
    s.add_argument("file")
    s.add_argument("label")
    s.add_argument("--moved", action="store_true", help="and the bytes moved")
    s.add_argument("--moves", action="store_true", help="and the moves")
    s.add_argument("--need", action="append", default=[],
                   help="a field that must be above 0")
    s.set_defaults(fn=cmd_summary)

    s = sub.add_parser("elapsed")
    s.add_argument("start")
    s.add_argument("end")
    s.add_argument("--min", type=float)
    s.set_defaults(fn=cmd_elapsed)

    s = sub.add_parser("uniform")
    s.add_argument("max", type=float)
    s.set_defaults(fn=cmd_uniform)

    a = p.parse_args()
    a.fn(a)


if __name__ == "__main__":
    main()
