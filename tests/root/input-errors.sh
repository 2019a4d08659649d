#!/bin/bash
# Input that is not what it seems: each refused with a message that names
# what is wrong and its exit code, and left as it was.
#  - a regular file that holds no ext4 (random bytes, a zeroed magic) is an
#    image to refuse, never "a path inside" the filesystem that holds it;
#  - a truncated image (a 1 GiB filesystem in 600 MiB): report warns and
#    exits 8, compact --offline refuses and writes nothing;
#  - libext2fs's errors by their text, not "Unknown code ext2 N";
#  - data=journal and data=writeback mounts: not compactable online, said
#    by report and compact, nothing moved;
#  - a NUL byte in thinpackd's configuration.
. "${TESTS_DIR:-$(dirname "$0")/..}/lib/common.sh"
tp_require_root
tp_workdir
THINPACKD=${THINPACKD:-$(dirname "$THINPACK")/thinpackd}
cd "$TP_WORK"

# expect_same FILE SUM: FILE still has the sha256 SUM
expect_same() {
	tp_expect_eq "$1 after the refusal" "$(sha256sum <"$1")" "$2"
}

# Not ext4, in a regular file on the test's own filesystem: refused as an
# image, even though the directory it sits in is on a mounted ext4.
head -c 8M /dev/urandom >junk.img
sum=$(sha256sum <junk.img)
tp_expect_exit 8 'junk.img: .*not an ext4 image' -- report --granularity 1M junk.img
tp_expect_exit 8 'junk.img: .*not an ext4 image' -- compact --granularity 1M --min-age 0 junk.img
expect_same junk.img "$sum"

truncate -s 64M nomagic.img
mkfs.ext4 -q -F nomagic.img
printf '\0\0' | dd of=nomagic.img bs=1 seek=1080 conv=notrunc status=none
sum=$(sha256sum <nomagic.img)
tp_expect_exit 8 'nomagic.img: .*not an ext4 image' -- report --granularity 1M nomagic.img
tp_expect_exit 8 'nomagic.img: .*not an ext4 image' -- compact --offline --granularity 1M nomagic.img
expect_same nomagic.img "$sum"

# Truncated: the superblock's size against the file's.
truncate -s 1G short.img
mkfs.ext4 -q -F -E nodiscard short.img
tp_loop dev short.img
tp_mount "$dev" short
tp_age short --seed 5
tp_umount short
tp_loop_detach "$dev"
blocks=$(dumpe2fs -h short.img 2>/dev/null | sed -n 's/^Block count: *//p')
bsize=$(dumpe2fs -h short.img 2>/dev/null | sed -n 's/^Block size: *//p')
truncate -s 600M short.img
sum=$(sha256sum <short.img)
tp_expect_exit 8 "short.img: the filesystem is $((blocks * bsize)) bytes .* holds only 629145600 bytes" \
	-- report --granularity 1M short.img
tp_expect_exit 8 'short.img: .* is smaller than the filesystem on it: not compacted' \
	-- compact --offline --granularity 1M --max-usage 100 short.img
expect_same short.img "$sum"
tp_expect_eq "short.img's size" "$(stat -c %s short.img)" 629145600

# libext2fs's own words: a superblock whose checksum does not match.
truncate -s 64M badsum.img
mkfs.ext4 -q -F badsum.img
printf '\x55\x55\x55\x55' | dd of=badsum.img bs=1 seek=$((1024 + 0x3FC)) conv=notrunc status=none
tp_expect_exit 4 'badsum.img: .*Superblock checksum does not match' \
	-- compact --offline --granularity 1M badsum.img
err=$("$THINPACK" compact --offline --granularity 1M badsum.img 2>&1) || true
if grep -q 'Unknown code' <<<"$err"; then
	tp_fail "a libext2fs error without its text: $err"
fi

# data=journal and data=writeback: nothing moves.
truncate -s 256M modes.img
mkfs.ext4 -q -F -E nodiscard modes.img
tp_loop dev modes.img
tp_mount "$dev" modes
tp_age modes --seed 6
tp_umount modes
for mode in journal writeback; do
	tp_mount "$dev" modes -o "data=$mode"
	tp_snapshot modes
	tp_expect_exit 1 "modes: compaction is impossible: mounted with data=$mode" \
		-- compact --granularity 1M --min-age 0 --max-usage 100 modes
	tp_expect_exit 1 "modes: compaction is impossible: mounted with data=$mode" \
		-- report --granularity 1M --min-age 0 modes
	tp_expect_unchanged modes
	tp_umount modes
	tp_fsck "$dev"
done

# thinpackd: "[*]\0/srv]" would read as [*], every filesystem.
printf '[*]\0/srv]\nio_rate = 1M\n' >nul.conf
rc=0
err=$("$THINPACKD" --check-config --config nul.conf 2>&1 >/dev/null) || rc=$?
tp_expect_eq "thinpackd --check-config on a NUL byte: exit" "$rc" 8
grep -q 'nul.conf:1: a NUL byte in the line' <<<"$err" ||
	tp_fail "thinpackd on a NUL byte said: $err"

tp_done
