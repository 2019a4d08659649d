#!/bin/bash
# thinpack compact --offline on an aged image in the emulated thin pool:
# at least 98 % of the bound the test computes (dumpe2fs + FIEMAP) is
# emptied -- exact placement has no excuse -- and the image gives back as
# much to the pool; the contents are intact and e2fsck -fn clean.  A
# mounted filesystem, or an image attached and mounted, is refused.
. "${TESTS_DIR:-$(dirname "$0")/..}/lib/common.sh"
tp_require_root
tp_workdir
tp_thin_pool 1G
tp_thin_fs aged 384M -- -b 4096
tp_age "$TP_MNT" --seed 83 --extras
img=$TP_IMG

# Refused while mounted, by mount point, device or image.
tp_expect_exit 8 "mounted on .*unmount it first" -- compact --offline --granularity 1M "$TP_MNT"
tp_expect_exit 8 "mounted on .*unmount it first" -- compact --offline --granularity 1M "$TP_DEV"
tp_expect_exit 8 "mounted on .*unmount it first" -- compact --offline --granularity 1M "$img"

"$PYTHON3" "$TP_PY" oracle --device "$TP_DEV" --mountpoint "$TP_MNT" \
	--granularity 1048576 --min-age 0 >"$TP_WORK/bound.json"
bound=$("$PYTHON3" "$TP_PY" bound "$TP_WORK/bound.json")
[ "$bound" -ge 50 ] || tp_die "aging left a bound of only $bound clusters"
"$PYTHON3" "$TP_PY" layout "$TP_MNT" >"$TP_WORK/layout.before"
tp_umount "$TP_MNT"
tp_loop_detach "$TP_DEV"
chunks_before=$(tp_chunks "$img")

rc=0
"$THINPACK" compact --offline --json --max-usage 100 --granularity 1M "$img" \
	>"$TP_WORK/compact.json" || rc=$?
[ "$rc" -eq 0 ] || tp_fail "compact --offline exited $rc"
emptied=$("$PYTHON3" "$TP_PY" json "$TP_WORK/compact.json" filesystems.0.clusters_emptied)
chunks_after=$(tp_chunks "$img")
freed=$(((chunks_before - chunks_after) / 1048576))
tp_log "bound $bound clusters; $emptied emptied; the pool got back $freed MiB"
[ $((emptied * 100)) -ge $((bound * 98)) ] ||
	tp_fail "$emptied clusters emptied, less than 98% of the bound ($bound)"
[ $((freed * 100)) -ge $((bound * 98)) ] ||
	tp_fail "the pool got back $freed MiB, less than 98% of the bound ($bound MiB)"

tp_fsck "$img"
tp_loop dev "$img"
tp_mount "$dev" "$TP_WORK/mnt"
"$PYTHON3" "$TP_PY" layout "$TP_WORK/mnt" >"$TP_WORK/layout.after"
cmp -s "$TP_WORK/layout.before" "$TP_WORK/layout.after" ||
	tp_fail "files changed: $(diff "$TP_WORK/layout.before" "$TP_WORK/layout.after" | head -4)"
tp_done
