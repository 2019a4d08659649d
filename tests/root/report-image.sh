#!/bin/bash
# thinpack report on an unmounted image file, with the default --min-age:
# files whose mtime and ctime debugfs set to 2020 are movable, the others
# are recent.  The oracle mounts the image read-only afterwards.
. "${TESTS_DIR:-$(dirname "$0")/..}/lib/common.sh"
tp_require_root
tp_workdir
img=$TP_WORK/fs.img
truncate -s 160M "$img"
mkfs.ext4 -q -F "$img"
tp_loop dev "$img"
tp_mount "$dev" "$TP_WORK/mnt"
tp_age "$TP_WORK/mnt" --seed 3 --dirs 4
tp_umount "$TP_WORK/mnt"
tp_loop_detach "$dev"

# Age two thirds of the regular files by a few years.
inodes=$(debugfs -R "ls -p /d000" "$img" 2>/dev/null |
	awk -F/ '$3 ~ /^100/ { print $2 }')
inodes+=" "$(debugfs -R "ls -p /d001" "$img" 2>/dev/null |
	awk -F/ '$3 ~ /^100/ { print $2 }')
inodes+=" "$(debugfs -R "ls -p /d002" "$img" 2>/dev/null |
	awk -F/ '$3 ~ /^100/ { print $2 }')
n=0
cmds=$TP_WORK/debugfs.cmds
: >"$cmds"
for i in $inodes; do
	printf 'sif <%s> mtime 20200101000000\nsif <%s> ctime 20200101000000\n' "$i" "$i" >>"$cmds"
	n=$((n + 1))
done
[ "$n" -ge 20 ] || tp_die "only $n files to age"
debugfs -w -f "$cmds" "$img" >/dev/null 2>&1
sum_before=$(sha256sum "$img")

"$THINPACK" report --json --granularity 1M "$img" >"$TP_WORK/got.json" ||
	tp_fail "report on the image: exit $?"
"$PYTHON3" - "$TP_WORK/got.json" <<'PY' || tp_fail "image not reported as an image"
import json, sys
fs = json.load(open(sys.argv[1]))["filesystems"][0]
assert fs["kind"] == "image" and fs["mounted"] is False, fs
assert fs["scan"]["movable_files"] > 0, fs["scan"]
PY
tp_expect_eq "image unchanged by report" "$(sha256sum "$img")" "$sum_before"

tp_loop dev "$img" --read-only
tp_mount "$dev" "$TP_WORK/mnt" -o ro,noload
"$PYTHON3" "$TP_PY" oracle --device "$dev" --mountpoint "$TP_WORK/mnt" \
	--granularity 1048576 --min-age 86400 >"$TP_WORK/want.json"
"$PYTHON3" "$TP_PY" compare "$TP_WORK/want.json" "$TP_WORK/got.json" ||
	tp_fail "image report differs from dumpe2fs + FIEMAP"

# While mounted, the image path reports the live filesystem.
"$THINPACK" report --json --granularity 1M "$img" >"$TP_WORK/live.json" ||
	tp_fail "report of a mounted image: exit $?"
"$PYTHON3" -c 'import json,sys; fs=json.load(open(sys.argv[1]))["filesystems"][0]; assert fs["mounted"] and fs["device"].startswith("/dev/loop"), fs' \
	"$TP_WORK/live.json" || tp_fail "mounted image not reported as mounted"
tp_done
