#!/bin/bash
# thinpack explain: for each cluster asked about, every owner of its used
# blocks, whether each is movable and why not, and what emptying it costs;
# without clusters, the emptiest pinned ones.  All of it against the test's
# own reckoning, block by block: dumpe2fs (free blocks, where each group's
# metadata lies), debugfs icheck (which inode owns a block), ncheck (its
# path), ex (data or extent tree, logical blocks, unwritten), stat (the
# xattr block), and the inode flags, sizes and times from the mounted
# files (immutable, past EOF, recent); the pinned clusters against the
# oracle's cluster map (tests/lib/tp.py).  A cluster number that is no
# number, beyond the filesystem or only partly inside it: exit 8.  It
# changes nothing: the files and free space unchanged while mounted, the
# image byte for byte unmounted, e2fsck -fn clean.
. "${TESTS_DIR:-$(dirname "$0")/..}/lib/common.sh"
tp_require_root
for t in debugfs chattr fsfreeze sha256sum; do
	command -v "$t" >/dev/null 2>&1 || tp_die "needs $t"
done
tp_workdir
tp_thin_pool 1G
# Two block groups: group 1 holds a backup superblock and descriptors.
tp_thin_fs ex 256M -- -b 4096
m=$TP_MNT
dev=$TP_DEV

head -c 40000 /dev/urandom >"$m/plain"
head -c 12000 /dev/urandom >"$m/immutable" && chattr +i "$m/immutable"
head -c 8192 /dev/urandom >"$m/prealloc"
fallocate --keep-size -o 8192 -l 65536 "$m/prealloc"
fallocate -o 0 -l 16384 "$m/unwritten"
ln -s "$(printf 'x%.0s' {1..200})" "$m/longlink"
head -c 4096 /dev/urandom >"$m/xattr"
"$PYTHON3" -c 'import os,sys; os.setxattr(sys.argv[1], "user.big", b"v" * 1500)' "$m/xattr"
# more than four extents: an extent-tree block
for i in $(seq 0 2 40); do
	dd if=/dev/urandom of="$m/sparse" bs=4096 count=1 seek="$i" conv=notrunc status=none
done
mkdir "$m/dir" && for i in $(seq 1 300); do : >"$m/dir/entry-with-a-long-name-$i"; done
# a name with a space, and 3 MiB: whole clusters of movable data
head -c 3145728 /dev/urandom >"$m/dir/big file"
sync
# debugfs and dumpe2fs read the device: the journal checkpointed there
fsfreeze -f "$m" && fsfreeze -u "$m"

# The clusters to explain: cluster 0, group 1's backup superblock, and
# where each file's first block, the directory's, the xattr block and the
# extent-tree block lie; and one wholly inside "big file".
"$PYTHON3" - "$dev" "$m" >"$TP_WORK/clusters" <<'PY'
import os, re, subprocess, sys
sys.path.insert(0, os.environ["TESTS_DIR"] + "/lib")
import tp
dev, m = sys.argv[1:]
bs, count, first, ratio = tp.dumpe2fs_geometry(dev)
C = 1048576 // bs
def debugfs(cmd):
    return subprocess.run(["debugfs", "-R", cmd, dev], capture_output=True,
                          text=True, check=True).stdout
want = {0, 32768 // C}
for name in ("plain", "immutable", "prealloc", "xattr", "sparse", "longlink",
             "dir", "dir/big file", "unwritten"):
    out = debugfs('ex "/%s"' % name)
    leaves = re.findall(r"^\s*\d+/\s*\d+\s+\d+/\s*\d+\s+\d+ -\s+\d+\s+(\d+)", out, re.M)
    if leaves:
        want.add(int(leaves[0]) // C)
    if name == "longlink":
        b = re.search(r"\(0\):(\d+)", debugfs('stat "/%s"' % name))
        if b:
            want.add(int(b.group(1)) // C)
# a cluster wholly inside one of its extents
for lo, hi in re.findall(r"(\d+) -\s*(\d+)\s+\d+\s*$", debugfs('ex "/dir/big file"'), re.M):
    c = -(-int(lo) // C)
    if (c + 1) * C - 1 <= int(hi):
        want.add(c)
        break
else:
    sys.exit("no whole cluster inside /dir/big file")
acl = int(re.search(r"File ACL: (\d+)", debugfs("stat /xattr")).group(1))
etb = int(re.search(r"\(ETB0\):(\d+)", debugfs("stat /sparse")).group(1))
want |= {acl // C, etb // C}
print(" ".join(str(c) for c in sorted(want)))
PY
read -r -a clusters <"$TP_WORK/clusters"
tp_log "clusters explained: ${clusters[*]}"
tp_snapshot "$m"

"$THINPACK" explain --json --min-age 0 --granularity 1M "$m" "${clusters[@]}" \
	>"$TP_WORK/explain.json" || tp_fail "explain: exit $?"

# The owners, block by block, against dumpe2fs and debugfs.
cat >"$TP_WORK/check.py" <<'PY'
import json, os, re, stat, struct, fcntl, subprocess, sys, time
sys.path.insert(0, os.environ["TESTS_DIR"] + "/lib")
import tp
dev, mnt, got_path, min_age = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
prefix = mnt
now = int(time.time())
fs = json.load(open(got_path))["filesystems"][0]
bs, count, first, ratio = tp.dumpe2fs_geometry(dev)
C = 1048576 // bs
per_group = int(re.search(r"Blocks per group:\s+(\d+)",
                          subprocess.run(["dumpe2fs", "-h", dev], capture_output=True,
                                         text=True, check=True).stdout).group(1))
assert fs["granularity"] == 1048576 and fs["blocks_per_cluster"] == C, fs
assert fs["first_cluster"] == 0 and fs["clusters"] == count // C, fs
free = set()
for lo, hi in tp.dumpe2fs_free_ranges(dev, ratio):
    free.update(range(lo, min(hi, count)))

def debugfs(cmd):
    return subprocess.run(["debugfs", "-R", cmd, dev], capture_output=True,
                          text=True, check=True).stdout

# where dumpe2fs says each group's metadata lies
static = {}
group = None
for line in subprocess.run(["dumpe2fs", dev], capture_output=True, text=True,
                           check=True).stdout.splitlines():
    g = re.match(r"Group (\d+):", line)
    if g:
        group = int(g.group(1))
        continue
    for pat, kind in ((r"(?:Primary|Backup) superblock at (\d+)()", "superblock"),
                      (r"Group descriptors at (\d+)-(\d+)", "group_descriptors"),
                      (r"Reserved GDT blocks at (\d+)-(\d+)", "reserved_gdt"),
                      (r"Block bitmap at (\d+)()", "block_bitmap"),
                      (r"Inode bitmap at (\d+)()", "inode_bitmap"),
                      (r"Inode table at (\d+)-(\d+)", "inode_table")):
        for lo, hi in re.findall(pat, line):
            for b in range(int(lo), int(hi or lo) + 1):
                static[b] = (kind, group)

explained = {c["cluster"]: c for c in fs["explained"]}
used = {b for c in explained for b in range(c * C, (c + 1) * C) if b not in free}
# who owns the other used blocks, by debugfs icheck
owner_of = {}
ask = sorted(b for b in used if b not in static)
for i in range(0, len(ask), 500):
    for b, ino in re.findall(r"^(\d+)\s+(\d+)$",
                             debugfs("icheck " + " ".join(map(str, ask[i:i + 500]))), re.M):
        owner_of[int(b)] = int(ino)
inodes = sorted(set(owner_of.values()))
names = {2: "/"}
if inodes:
    for ino, path in re.findall(r"^(\d+)\t(.*)$",
                                debugfs("ncheck " + " ".join(map(str, inodes))), re.M):
        names.setdefault(int(ino), re.sub("^//", "/", path))

# each owner inode: its data (logical, unwritten) and tree blocks, xattr block
info = {}
for ino in inodes:
    out = debugfs("ex <%d>" % ino)
    data, tree = {}, set()
    for l in out.splitlines()[1:]:
        f = re.match(r"\s*(\d+)/\s*(\d+)\s+\d+/\s*\d+\s+(\d+) -\s*(\d+)\s+(\d+)(?: -\s*(\d+))?\s+(\d+)\s*(Uninit)?", l)
        if not f:
            continue
        level, depth, llo, lhi, plo, phi, n, uninit = f.groups()
        if int(level) < int(depth):
            tree.add(int(plo))  # an index entry: the child node's block
        else:
            for k in range(int(n)):
                data[int(plo) + k] = (int(llo) + k, bool(uninit))
    acl = int(re.search(r"File ACL: (\d+)", debugfs("stat <%d>" % ino)).group(1))
    path = names.get(ino)
    st = os.lstat(mnt + path) if path else None
    flags = 0
    if st and stat.S_ISREG(st.st_mode):
        fd = os.open(mnt + path, os.O_RDONLY)
        flags = struct.unpack("l", fcntl.ioctl(fd, tp.FS_IOC_GETFLAGS, struct.pack("l", 0)))[0]
        os.close(fd)
    info[ino] = (data, tree, acl, path, st, flags)

def expect(b):
    """(kind, inode, path, movable, reason, group) the test expects of b"""
    if b in static:
        kind, g = static[b]
        return (kind, None, None, False, "metadata", g)
    ino = owner_of.get(b)
    if ino is None:
        return ("unowned", None, None, False, "unowned", None)
    data, tree, acl, path, st, flags = info[ino]
    full = prefix + path if path and path != "/" else (prefix or "/") if path else None
    if ino == 7:  # its double-indirect block (the rest is reserved GDT)
        return ("resize_inode", None, None, False, "metadata", (b - first) // per_group)
    if ino == 8:
        return ("journal" if b in data else "extent_tree", 8, None, False, "metadata", None)
    if b == acl:
        return ("xattr_block", ino, full, False, "xattr", None)
    if ino < 11:
        kind = "directory" if ino == 2 else "reserved_inode"
        return (kind if b in data else "extent_tree", ino, full, False, "metadata", None)
    assert st is not None, ("no path for inode", ino)
    if stat.S_ISDIR(st.st_mode):
        return ("directory" if b in data else "extent_tree", ino, full, False, "directory", None)
    if b in tree:
        return ("extent_tree", ino, full, False, "extent_tree", None)
    assert b in data, ("block owned but neither data nor tree", b, ino)
    if stat.S_ISLNK(st.st_mode):
        return ("symlink", ino, full, False, "other", None)
    assert stat.S_ISREG(st.st_mode), (ino, st)
    if flags & tp.PINNING:
        return ("file", ino, full, False, "attribute", None)
    if now - max(int(st.st_mtime), int(st.st_ctime)) < min_age:
        return ("file", ino, full, False, "recent", None)
    if data[b][0] >= -(-st.st_size // bs):
        return ("file", ino, full, False, "beyond_eof", None)
    return ("file", ino, full, True, None, None)

prov = tp.provisioned_clusters(tp.backing_file(dev), 1048576, 0, count // C)
seen_kinds, seen_reasons = set(), set()
for c, x in explained.items():
    got = {}
    for o in x["owners"]:
        assert sum(r["blocks"] for r in o["ranges"]) == o["blocks"], o
        for r in o["ranges"]:
            for k in range(r["blocks"]):
                b = r["start"] + k
                assert c * C <= b < (c + 1) * C, ("owner outside its cluster", c, o)
                got.setdefault(b, []).append(
                    (o["kind"], o["inode"], o["path"], o["movable"], o["reason"], o.get("group")))
                if "logical" in r and o["kind"] in ("file", "journal"):
                    data = info[o["inode"]][0]
                    assert data[b] == (r["logical"] + k, r["unwritten"]), (
                        "logical block or unwritten", b, o, data[b])
    want_reasons, movable = set(), 0
    for b in range(c * C, (c + 1) * C):
        if b in free:
            assert b not in got, ("a free block has an owner", b, got[b])
            continue
        w = expect(b)
        assert got.get(b) == [w], ("block %d: explain says %s, the test %s" % (b, got.get(b), w))
        seen_kinds.add(w[0])
        if w[3]:
            movable += 1
        else:
            want_reasons.add(w[4])
            seen_reasons.add(w[4])
    n_used = sum(1 for b in range(c * C, (c + 1) * C) if b not in free)
    assert x["used_blocks"] == n_used and x["movable_blocks"] == movable, (c, x["used_blocks"], n_used, x["movable_blocks"], movable)
    assert set(x["pinned_reasons"]) == want_reasons, (c, x["pinned_reasons"], want_reasons)
    can = n_used > 0 and movable == n_used and prov[c]
    assert x["can_empty"] == can, (c, x["can_empty"], can)
    assert x["cost_bytes"] == (n_used * bs if can else None), (c, x["cost_bytes"])
    assert x["state"] == ("empty" if n_used == 0 else "full" if n_used == C else "partial"), x["state"]
    assert x["max_usage_needed"] == -(-n_used * 100 // C), x["max_usage_needed"]
    if not can and want_reasons:
        assert x["verdict"] == "pinned" and x["pinned_by"], x
print("%d clusters, every used block's owner as the test finds it; kinds %s; reasons %s"
      % (len(explained), sorted(seen_kinds), sorted(seen_reasons)), file=sys.stderr)
json.dump({"kinds": sorted(seen_kinds), "reasons": sorted(r for r in seen_reasons if r),
           "can_empty": [c for c, x in explained.items() if x["can_empty"]],
           "full_movable": [c for c, x in explained.items()
                            if x["can_empty"] and x["used_blocks"] == C]}, sys.stdout)
PY
"$PYTHON3" "$TP_WORK/check.py" "$dev" "$m" "$TP_WORK/explain.json" 0 \
	>"$TP_WORK/seen.json" || tp_fail "explain's owners differ from the test's"
# what this filesystem was built to show, all of it seen
"$PYTHON3" - "$TP_WORK/seen.json" <<'PY' || tp_fail "explain did not show every kind of owner"
import json, sys
s = json.load(open(sys.argv[1]))
kinds = {"superblock", "group_descriptors", "reserved_gdt", "block_bitmap",
         "inode_bitmap", "inode_table", "file", "directory", "extent_tree",
         "xattr_block", "symlink"}
reasons = {"metadata", "directory", "extent_tree", "xattr", "attribute",
           "beyond_eof", "other"}
assert kinds <= set(s["kinds"]), kinds - set(s["kinds"])
assert reasons <= set(s["reasons"]), reasons - set(s["reasons"])
assert s["full_movable"], "no full cluster of movable data"
PY

# Text: the paths, the verdicts, the cost.
c_imm=$("$PYTHON3" -c 'import json,sys
for c in json.load(open(sys.argv[1]))["filesystems"][0]["explained"]:
    if any(o["path"] and o["path"].endswith("/immutable") for o in c["owners"]): print(c["cluster"])' \
	"$TP_WORK/explain.json")
c_big=$("$PYTHON3" -c 'import json,sys; print(json.load(open(sys.argv[1]))["full_movable"][0])' \
	"$TP_WORK/seen.json")
"$THINPACK" explain --min-age 0 --granularity 1M "$m" "$c_imm" "$c_big" \
	>"$TP_WORK/explain.txt" || tp_fail "explain (text): exit $?"
grep -q "^cluster $c_imm: " "$TP_WORK/explain.txt" || tp_fail "no cluster $c_imm in the text"
grep -Eq "attribute +file $m/immutable \(inode [0-9]+\): immutable; " "$TP_WORK/explain.txt" ||
	tp_fail "the immutable file not named with its reason: $(cat "$TP_WORK/explain.txt")"
grep -q "cannot be emptied: pinned by .*attribute: $m/immutable" "$TP_WORK/explain.txt" ||
	tp_fail "no verdict for the immutable file's cluster"
grep -Eq "yes +file $m/dir/big file \(inode [0-9]+\); blocks " "$TP_WORK/explain.txt" ||
	tp_fail "the big file not named"
grep -q "can be emptied: moving 1.0 MiB (256 blocks of 1 file) returns 1.0 MiB; compact takes it at --max-usage 100" \
	"$TP_WORK/explain.txt" || tp_fail "no cost for the big file's cluster: $(cat "$TP_WORK/explain.txt")"

# With the default --min-age (1d) the files just written are recent.
"$THINPACK" explain --json --granularity 1M "$m" "${clusters[@]}" \
	>"$TP_WORK/recent.json" || tp_fail "explain (min-age 1d): exit $?"
"$PYTHON3" "$TP_WORK/check.py" "$dev" "$m" "$TP_WORK/recent.json" 86400 \
	>"$TP_WORK/seen-recent.json" || tp_fail "explain's owners (min-age 1d) differ"
"$PYTHON3" -c 'import json,sys; s=json.load(open(sys.argv[1])); assert "recent" in s["reasons"] and not s["can_empty"], s' \
	"$TP_WORK/seen-recent.json" || tp_fail "no recent files with --min-age 1d"
"$THINPACK" explain --granularity 1M "$m" "$c_big" | grep -Eq \
	"recent +file $m/dir/big file \(inode [0-9]+\): changed ([0-9smh]+ ago|just now), within --min-age 1d" ||
	tp_fail "no word of --min-age for a recent file"

# Without clusters: the emptiest pinned clusters, as the oracle's map has
# them (partial, backed by the device, fewer movable blocks than used).
cat >"$TP_WORK/top.py" <<'PY'
import json, os, sys, time
sys.path.insert(0, os.environ["TESTS_DIR"] + "/lib")
import tp
dev, mnt, got_path, top = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
fs = json.load(open(got_path))["filesystems"][0]
bs, count, first, ratio = tp.dumpe2fs_geometry(dev)
C = 1048576 // bs
c0, used = tp.cluster_used(tp.dumpe2fs_free_ranges(dev, ratio), count, C)
movable = [0] * len(used)
for pblk, n in tp.movable_extents(mnt, bs, 0, int(time.time())):
    for b in range(pblk, pblk + n):
        if b // C < len(used):
            movable[b // C] += 1
prov = tp.provisioned_clusters(tp.backing_file(dev), 1048576, c0, len(used))
pinned = sorted((u, c) for c, (u, mv, p) in enumerate(zip(used, movable, prov))
                if 0 < u < C and p and mv < u)
assert fs["pinned_clusters"] == len(pinned), (fs["pinned_clusters"], len(pinned))
got = [(x["used_blocks"], x["cluster"]) for x in fs["top_pinned"]]
assert got == pinned[:top], (got, pinned[:top])
assert all(x["pinned_by"] and x["owners"] for x in fs["top_pinned"]), fs["top_pinned"]
print("%d pinned clusters; the %d emptiest as the oracle has them" % (len(pinned), len(got)),
      file=sys.stderr)
PY
"$THINPACK" explain --json --min-age 0 --granularity 1M --top 2 "$m" \
	>"$TP_WORK/top.json" || tp_fail "explain --top: exit $?"
"$PYTHON3" "$TP_WORK/top.py" "$dev" "$m" "$TP_WORK/top.json" 2 ||
	tp_fail "the pinned clusters differ from the oracle's"
"$THINPACK" explain --min-age 0 --granularity 1M "$m" >"$TP_WORK/top.txt" ||
	tp_fail "explain without clusters: exit $?"
grep -Eq "^  pinned +[0-9]+ partial clusters hold unmovable blocks" "$TP_WORK/top.txt" ||
	tp_fail "no pinned line: $(cat "$TP_WORK/top.txt")"
grep -Eq "^ +[0-9]+ +[0-9]+/256  .*metadata: " "$TP_WORK/top.txt" ||
	tp_fail "no cluster line with its reasons: $(cat "$TP_WORK/top.txt")"

# Bad cluster numbers and options: exit 8, a message naming what is wrong.
n=256 # clusters of 1 MiB in 256 MiB
tp_expect_exit 8 "cluster $n is beyond the filesystem: its clusters of 1.0 MiB are 0 to $((n - 1))" \
	-- explain --granularity 1M "$m" 0 "$n"
tp_expect_exit 8 "cluster 99999999999 is beyond" -- explain -g 1M "$m" 99999999999
tp_expect_exit 8 "cluster 'abc': expected a cluster number" -- explain -g 1M "$m" abc
tp_expect_exit 8 "cluster '1x': expected a cluster number" -- explain -g 1M "$m" 1x
tp_expect_exit 8 "cluster '-1': expected a cluster number" -- explain -g 1M "$m" -- -1
tp_expect_exit 8 "cluster '': expected a cluster number" -- explain -g 1M "$m" ""
tp_expect_exit 8 "--top is for the pinned clusters" -- explain -g 1M --top 3 "$m" 0
tp_expect_exit 8 "--top '-2': expected a number" -- explain -g 1M --top -2 "$m"
tp_expect_exit 8 "no PATH given" -- explain
tp_expect_exit 8 "no such file" -- explain "$TP_WORK/nonexistent" 0
"$THINPACK" explain --help | grep -q "Usage: .* explain \[OPTIONS\] PATH \[CLUSTER...\]" ||
	tp_fail "explain --help"
"$THINPACK" --help | grep -q "^  explain " || tp_fail "thinpack --help does not list explain"
tp_expect_unchanged "$m" "after explain (mounted)"

# Unmounted: the device as an image, read-only to the byte; paths from the
# filesystem's root.
tp_umount "$m"
sum=$(sha256sum <"$dev")
"$THINPACK" explain --json --min-age 0 --granularity 1M "$dev" "${clusters[@]}" \
	>"$TP_WORK/unmounted.json" || tp_fail "explain (unmounted): exit $?"
"$PYTHON3" -c 'import json,sys
fs = json.load(open(sys.argv[1]))["filesystems"][0]
paths = {o["path"] for c in fs["explained"] for o in c["owners"] if o["path"]}
assert {"/immutable", "/dir/big file", "/dir", "/sparse"} <= paths, paths' \
	"$TP_WORK/unmounted.json" || tp_fail "paths on the unmounted filesystem"
"$THINPACK" explain --min-age 0 --granularity 1M "$dev" >/dev/null ||
	tp_fail "explain without clusters (unmounted): exit $?"
tp_expect_eq "the device after explain" "$(sha256sum <"$dev")" "$sum"
tp_fsck "$dev"

# A filesystem off the cluster grid (a partition at 1 MiB + 4 KiB): the
# clusters are the device's, the edge ones refused.
tp_thin_fs off 16M --offset $((1048576 + 4096)) -- -b 4096
"$THINPACK" explain --json --min-age 0 --granularity 1M "$TP_MNT" 2 \
	>"$TP_WORK/off.json" || tp_fail "explain at an offset: exit $?"
"$PYTHON3" -c 'import json,sys
fs = json.load(open(sys.argv[1]))["filesystems"][0]
c = fs["explained"][0]
# device block 512 is filesystem block 512 - 257
assert fs["first_cluster"] == 2 and c["cluster"] == 2 and c["first_block"] == 255, (fs["first_cluster"], c["cluster"], c["first_block"])' \
	"$TP_WORK/off.json" || tp_fail "cluster numbers at an offset"
tp_expect_exit 8 "cluster 1 is only partly inside the filesystem \(an edge cluster" \
	-- explain -g 1M "$TP_MNT" 1
tp_expect_exit 8 "cluster 0 is beyond the filesystem" -- explain -g 1M "$TP_MNT" 0
tp_done
