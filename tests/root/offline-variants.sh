#!/bin/bash
# thinpack compact --offline on images of every shape the issue names:
# the default ext4 (metadata_csum, 64bit, flex_bg), 1 KiB blocks, no
# flex_bg, a file with an extent tree of two levels, sparse files,
# unwritten extents, hard links, a filesystem with quota.  Each time:
# something is compacted, e2fsck -fn is clean, and mounted again every
# file holds its bytes, links, holes and unwritten ranges.
. "${TESTS_DIR:-$(dirname "$0")/..}/lib/common.sh"
tp_require_root
tp_workdir

# variant NAME SIZE MKFS-OPTIONS...
variant() {
	local name=$1 size=$2 img=$TP_WORK/$1.img mnt=$TP_WORK/$1 dev rc=0
	shift 2
	truncate -s "$size" "$img"
	mkfs.ext4 -q -F "$@" "$img"
	tp_loop dev "$img"
	tp_mount "$dev" "$mnt"
	tp_age "$mnt" --seed 71 --dirs 6 --extras
	extra "$mnt"
	"$PYTHON3" "$TP_PY" layout "$mnt" >"$TP_WORK/$name.before"
	tp_umount "$mnt"
	tp_loop_detach "$dev"
	sum_dry=$(sha256sum <"$img")
	"$THINPACK" compact --offline --dry-run --granularity 64K "$img" >/dev/null ||
		tp_fail "$name: dry run exit $?"
	tp_expect_eq "$name: a dry run changes nothing" "$(sha256sum <"$img")" "$sum_dry"
	"$THINPACK" compact --offline --json --max-usage 100 --granularity 64K "$img" \
		>"$TP_WORK/$name.json" || rc=$?
	[ "$rc" -eq 0 ] || tp_fail "$name: compact --offline exited $rc"
	"$PYTHON3" "$TP_PY" summary "$TP_WORK/$name.json" "$name" --moved \
		--need clusters_emptied || tp_fail "$name: nothing compacted"
	tp_fsck "$img"
	tp_loop dev "$img"
	tp_mount "$dev" "$mnt"
	"$PYTHON3" "$TP_PY" layout "$mnt" >"$TP_WORK/$name.after"
	cmp -s "$TP_WORK/$name.before" "$TP_WORK/$name.after" ||
		tp_fail "$name: files changed: $(diff "$TP_WORK/$name.before" "$TP_WORK/$name.after" | head -4)"
	tp_umount "$mnt"
	tp_loop_detach "$dev"
}

extra() { :; }
variant default 128M -b 4096
variant onek 96M -b 1024
variant noflex 128M -b 4096 -O ^flex_bg

# A file of more than 4 x 340 extents: its tree has two levels.
extra() {
	"$PYTHON3" - "$1/deep" <<'PY'
import os, random, sys
rng = random.Random(3)
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT, 0o644)
for i in range(0, 2 * 1500, 2):
    os.pwrite(fd, rng.randbytes(4096), i * 4096)
os.fsync(fd)
os.close(fd)
PY
	sync
	local ino levels
	ino=$(stat -c %i "$1/deep")
	levels=$(debugfs -R "ex <$ino>" "$(findmnt -no SOURCE "$1")" 2>/dev/null |
		awk 'NR > 1 { split($1, l, "/"); if (l[1] + 0 > m) m = l[1] + 0 } END { print m }')
	[ "${levels:-0}" -ge 2 ] || tp_fail "the deep file has ${levels:-0} levels, want 2"
}
variant deep 128M -b 4096
extra() { :; }

# Quota (usrquota, grpquota, prjquota): usage must still match, which
# e2fsck -fn checks.  This kernel has no CONFIG_QUOTA, so the image is
# made with mke2fs -d from a tree of files of several owners, aged with
# debugfs, and read back with debugfs rdump rather than mounted.
tree=$TP_WORK/qtree
"$PYTHON3" - "$tree" <<'PY'
import os, random, sys
rng = random.Random(9)
top = sys.argv[1]
for d in range(6):
    os.makedirs(os.path.join(top, "d%d" % d))
for i in range(600):
    p = os.path.join(top, "d%d" % (i % 6), "f%03d" % i)
    with open(p, "wb") as f:
        if i % 17 == 0:                       # sparse
            f.write(rng.randbytes(8192))
            f.seek(40960)
        f.write(rng.randbytes(rng.choice([1, 3, 8, 20, 60]) * 1024 + rng.randint(0, 999)))
    os.chown(p, 1000 + i % 4, 2000 + i % 3)
    if i % 29 == 0:
        os.link(p, p + ".link")
PY
qimg=$TP_WORK/quota.img
truncate -s 64M "$qimg"
mkfs.ext4 -q -F -b 4096 -O quota,project -E quotatype=usrquota:grpquota:prjquota \
	-d "$tree" "$qimg"
: >"$TP_WORK/rm.cmds"
for i in $(seq 0 3 599); do
	printf 'rm /d%d/f%03d\n' $((i % 6)) "$i" >>"$TP_WORK/rm.cmds"
done
debugfs -w -f "$TP_WORK/rm.cmds" "$qimg" >/dev/null 2>&1
# neither mke2fs -d nor debugfs keeps quota usage: e2fsck sets it, once
e2fsck -fy "$qimg" >/dev/null 2>&1 || true
tp_fsck "$qimg"
rdump() {
	rm -rf "$TP_WORK/dump" && mkdir "$TP_WORK/dump"
	debugfs -R "rdump / $TP_WORK/dump" "$qimg" >/dev/null 2>&1
	"$PYTHON3" "$TP_PY" manifest "$TP_WORK/dump"
}
rdump >"$TP_WORK/quota.before"
[ "$(wc -l <"$TP_WORK/quota.before")" -gt 300 ] || tp_fail "the quota image holds too few files"
rc=0
"$THINPACK" compact --offline --json --max-usage 100 --granularity 64K "$qimg" \
	>"$TP_WORK/quota.json" || rc=$?
[ "$rc" -eq 0 ] || tp_fail "quota: compact --offline exited $rc"
"$PYTHON3" "$TP_PY" summary "$TP_WORK/quota.json" quota --need clusters_emptied ||
	tp_fail "quota: nothing compacted"
tp_fsck "$qimg"
rdump >"$TP_WORK/quota.after"
cmp -s "$TP_WORK/quota.before" "$TP_WORK/quota.after" ||
	tp_fail "quota: files changed: $(diff "$TP_WORK/quota.before" "$TP_WORK/quota.after" | head -4)"
tp_done
