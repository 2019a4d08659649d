#!/bin/bash
# thinpackd follows the mount table: with [*], a filesystem mounted while
# it runs is picked up (here by its [UUID=...] section, whose settings it
# gets) and one unmounted is dropped, without a restart; fstab's
# X-thinpack.skip keeps a filesystem out of [*] (every ext4 of this host
# that is not the test's is marked so, in a private fstab given through
# LIBMOUNT_FSTAB; min_age is ten years and trim off besides, so that a
# mistake could move nothing there).  It runs in a mount namespace of its
# own, so that the mounts of the root tests running beside it do not show.
. "${TESTS_DIR:-$(dirname "$0")/..}/lib/daemon-lib.sh"
tp_require_root
tp_private_mounts "$@"
td_setup
tp_thin_pool 1G
tp_thin_fs a 64M
a=$TP_MNT
tp_thin_fs b 64M
b=$TP_MNT
bdev=$TP_DEV
tp_umount "$b"
tp_thin_fs c 64M
c=$TP_MNT
buuid=$(blkid -s UUID -o value "$bdev")

# Every ext4 mounted now but a: X-thinpack.skip (c among them).  The mount
# points of mountinfo are escaped as fstab wants them.
fstab=$TP_WORK/fstab
awk -v a="$a" '{ for (i = 7; $i != "-"; i++); if ($(i + 1) == "ext4" && $5 != a)
	print "none " $5 " ext4 defaults,X-thinpack.skip 0 0" }' /proc/self/mountinfo >"$fstab"
grep -q " $c " "$fstab" || tp_die "c is not in the fstab"
export LIBMOUNT_FSTAB=$fstab

conf=$TP_WORK/thinpackd.conf
cat >"$conf" <<EOF
[global]
interval = 1h
min_age = 520w
trim = no
granularity = 1M
pressure_limit = off

[*]

[UUID=$buuid]
interval = 2h
EOF
td_start "$conf"
td_wait_notify '^READY=1$' 10 >/dev/null
td_wait_status "fs['$a']['last_pass'] and fs['$a']['pass'] is None" 30
tp_expect_eq "filesystems at start" "$(td_status "sorted(fs)")" "['$a']"
tp_expect_eq "section of a" "$(td_status "fs['$a']['section']")" "*"

# b is mounted: picked up, with its own section.
tp_mount "$bdev" "$b"
td_wait_status "'$b' in fs and fs['$b']['last_pass'] and fs['$b']['pass'] is None" 30
tp_expect_eq "section of b" "$(td_status "fs['$b']['section']")" "UUID=$buuid"
tp_expect_eq "interval of b" "$(td_status "fs['$b']['settings']['interval']")" 7200
tp_expect_eq "interval of a" "$(td_status "fs['$a']['settings']['interval']")" 3600

# a is unmounted: dropped.
tp_umount "$a"
td_wait_status "'$a' not in fs" 10
grep -q "$a: dropped (no longer mounted)" "$TD_LOG" || tp_fail "no 'dropped' in the log"
tp_expect_eq "filesystems at the end" "$(td_status "sorted(fs)")" "['$b']"

# Nothing else was ever found: the fstab kept every other ext4 out.
found=$(grep -c ': found (' "$TD_LOG" || true)
tp_expect_eq "filesystems found" "$found" 2
grep ': found (' "$TD_LOG" >&2
td_stop
td_check_stop
tp_done
