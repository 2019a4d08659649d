#!/bin/bash
# Every kind of unmovable block pins its cluster, with its reason: metadata,
# directories, extent-tree blocks, xattr blocks, immutable and append-only
# files, swap files, open-but-unlinked files, blocks past EOF, symlinks,
# recent files, block-mapped files.  The figures still equal the oracle's,
# which applies the same rules from stat, FS_IOC_GETFLAGS and /proc/swaps.
. "${TESTS_DIR:-$(dirname "$0")/..}/lib/common.sh"
tp_require_root
tp_workdir
tp_thin_pool 1G
tp_thin_fs pin 128M -- -b 4096
m=$TP_MNT

head -c 40000 /dev/urandom >"$m/plain"
head -c 12000 /dev/urandom >"$m/immutable" && chattr +i "$m/immutable"
head -c 12000 /dev/urandom >"$m/append" && chattr +a "$m/append"
head -c 8192 /dev/urandom >"$m/prealloc"
fallocate --keep-size -o 8192 -l 65536 "$m/prealloc"
ln -s "$(printf 'x%.0s' {1..200})" "$m/longlink"
head -c 4096 /dev/urandom >"$m/xattr"
"$PYTHON3" -c 'import os,sys; os.setxattr(sys.argv[1], "user.big", b"v" * 1500)' "$m/xattr"
# more than four extents: an extent-tree block
for i in $(seq 0 2 40); do
	dd if=/dev/urandom of="$m/sparse" bs=4096 count=1 seek="$i" conv=notrunc status=none
done
mkdir "$m/dir" && for i in $(seq 1 300); do : >"$m/dir/entry-with-a-long-name-$i"; done
# a swap file, and an open file with no name
dd if=/dev/zero of="$m/swap" bs=4096 count=24 status=none
chmod 600 "$m/swap" && mkswap -q "$m/swap" >/dev/null
swapon "$m/swap"
tp_stack+=("swap $m/swap")
head -c 20000 /dev/urandom >"$m/unlinked"
exec 3<"$m/unlinked"
rm "$m/unlinked"
sync

"$THINPACK" report --json --min-age 0 --granularity 1M "$m" >"$TP_WORK/got.json" ||
	tp_fail "report: exit $?"
"$PYTHON3" "$TP_PY" oracle --device "$TP_DEV" --mountpoint "$m" \
	--granularity 1048576 --min-age 0 >"$TP_WORK/want.json"
"$PYTHON3" "$TP_PY" compare "$TP_WORK/want.json" "$TP_WORK/got.json" ||
	tp_fail "figures differ from the oracle"
"$PYTHON3" - "$TP_WORK/got.json" <<'PY' || tp_fail "pinned reasons"
import json, sys
fs = json.load(open(sys.argv[1]))["filesystems"][0]
why = fs["pinned_reasons"]
missing = [r for r in ("metadata", "directory", "extent_tree", "xattr",
                       "attribute", "in_use", "beyond_eof", "other")
           if why[r] == 0]
assert not missing, "no pinned cluster for %s: %s" % (missing, why)
assert why["recent"] == 0 and why["block_mapped"] == 0, why
PY

# With --min-age 1d every file here is recent: nothing is movable.
"$THINPACK" report --json --granularity 1M "$m" >"$TP_WORK/recent.json" ||
	tp_fail "report: exit $?"
"$PYTHON3" "$TP_PY" oracle --device "$TP_DEV" --mountpoint "$m" \
	--granularity 1048576 --min-age 86400 >"$TP_WORK/want-recent.json"
"$PYTHON3" "$TP_PY" compare "$TP_WORK/want-recent.json" "$TP_WORK/recent.json" ||
	tp_fail "figures with --min-age 1d differ"
"$PYTHON3" -c 'import json,sys; f=json.load(open(sys.argv[1]))["filesystems"][0]; assert f["pinned_reasons"]["recent"] > 0 and f["scan"]["movable_files"] == 0, f["pinned_reasons"]' \
	"$TP_WORK/recent.json" || tp_fail "recent files not pinned as recent"
exec 3<&-
swapoff "$m/swap"
tp_forget "swap $m/swap"

# A filesystem without extents: every file is block-mapped.
tp_thin_fs noext 64M -- -b 4096 -O ^extent,^64bit
head -c 100000 /dev/urandom >"$TP_MNT/big"
head -c 3000 /dev/urandom >"$TP_MNT/small"
sync
"$THINPACK" report --json --min-age 0 --granularity 1M "$TP_MNT" \
	>"$TP_WORK/noext.json" 2>"$TP_WORK/noext.err" && rc=0 || rc=$?
tp_expect_eq "exit without extents" "$rc" 1
grep -q 'compaction is impossible: no extent feature' "$TP_WORK/noext.err" ||
	tp_fail "no message for a filesystem without extents"
"$PYTHON3" "$TP_PY" oracle --device "$TP_DEV" --mountpoint "$TP_MNT" \
	--granularity 1048576 --min-age 0 >"$TP_WORK/want-noext.json"
"$PYTHON3" "$TP_PY" compare "$TP_WORK/want-noext.json" "$TP_WORK/noext.json" ||
	tp_fail "figures without extents differ"
"$PYTHON3" -c 'import json,sys; f=json.load(open(sys.argv[1]))["filesystems"][0]; r=f["pinned_reasons"]; assert r["block_mapped"] > 0 and r["extent_tree"] > 0, r' \
	"$TP_WORK/noext.json" || tp_fail "block-mapped files not pinned as such"
tp_done
