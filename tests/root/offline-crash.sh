#!/bin/bash
# SIGKILL thinpack compact --offline at random moments (at least 50 that
# land while it runs; CRASH_KILLS to change): e2fsck -fn must find the
# filesystem clean or with leaked blocks only, and after e2fsck -fp every
# file holds its bytes, links, holes and unwritten ranges.
. "${TESTS_DIR:-$(dirname "$0")/..}/lib/common.sh"
tp_require_root
tp_workdir
want=${CRASH_KILLS:-50}
img=$TP_WORK/fs.img
truncate -s 384M "$img"
mkfs.ext4 -q -F -b 4096 "$img"
tp_loop dev "$img"
tp_mount "$dev" "$TP_WORK/mnt"
tp_age "$TP_WORK/mnt" --seed 89 --extras --dirs 12
"$PYTHON3" "$TP_PY" layout "$TP_WORK/mnt" >"$TP_WORK/layout.before"
tp_umount "$TP_WORK/mnt"
tp_loop_detach "$dev"
cp --sparse=always "$img" "$TP_WORK/aged.img"

# Only leaked blocks (tp.py fsck-leaks).
only_leaks() { "$PYTHON3" "$TP_PY" fsck-leaks "$1"; }

# Every metadata write is whole, so that a kill cannot land inside one:
# no write of under 1 KiB to the image (libext2fs updates the superblock
# field by field when it may, a write() of 2 or 4 bytes each, and a kill
# between two of those left a superblock that fails its checksum).
command -v strace >/dev/null || tp_die "needs strace"
# (-y: each descriptor with its path, so that only the image's writes
# count, not the lock file's, thinpack(8).)
strace -f -qq -y -e trace=write,pwrite64 -o "$TP_WORK/strace" \
	"$THINPACK" compact --offline --max-usage 100 --granularity 64K "$img" >/dev/null || true
small=$("$PYTHON3" - "$TP_WORK/strace" "$(realpath "$img")" <<'PY'
import re, sys
n = total = 0
for line in open(sys.argv[1]):
    m = re.search(r'\b(write|pwrite64)\((\d+)<([^>]*)>, "(?:[^"\\]|\\.)*"(?:\.\.\.)?, (\d+)', line)
    if m and m.group(3) == sys.argv[2]:
        total += 1
        n += int(m.group(4)) < 1024
print(n, total)
PY
)
tp_log "writes to the image: ${small#* }, of them under 1 KiB: ${small% *}"
[ "${small#* }" -gt 0 ] || tp_fail "no write to the image seen: the strace check reads nothing"
tp_expect_eq "writes of under 1 KiB to the image" "${small% *}" 0
cp --sparse=always "$TP_WORK/aged.img" "$img"

start=$(date +%s.%N)
"$THINPACK" compact --offline --max-usage 100 --granularity 64K "$img" >/dev/null || true
duration=$("$PYTHON3" "$TP_PY" elapsed "$start" "$(date +%s.%N)" --min 0.02)
tp_log "an uninterrupted run takes $duration s"

landed=0 tries=0 leaky=0
while [ "$landed" -lt "$want" ] && [ "$tries" -lt $((want * 3)) ]; do
	tries=$((tries + 1))
	cp --sparse=always "$TP_WORK/aged.img" "$img"
	delay=$("$PYTHON3" "$TP_PY" uniform "$duration")
	"$THINPACK" compact --offline --max-usage 100 --granularity 64K "$img" \
		>/dev/null 2>&1 &
	pid=$!
	sleep "$delay"
	if kill -KILL "$pid" 2>/dev/null; then
		landed=$((landed + 1))
	else
		duration=$delay # runs take less than the first one did
	fi
	wait "$pid" 2>/dev/null || true

	if ! e2fsck -fn "$img" >"$TP_WORK/fsck.out" 2>&1; then
		if ! only_leaks "$TP_WORK/fsck.out" >"$TP_WORK/bad"; then
			tp_fail "kill after ${delay}s: e2fsck -fn finds more than leaked blocks: $(head -3 "$TP_WORK/bad")"
			tp_log "e2fsck -fn said:"$'\n'"$(head -40 "$TP_WORK/fsck.out")"
			break
		fi
		leaky=$((leaky + 1))
		e2fsck -fp "$img" >/dev/null 2>&1 || true
		tp_fsck "$img"
	fi
	tp_loop dev "$img"
	tp_mount "$dev" "$TP_WORK/mnt" -o ro
	"$PYTHON3" "$TP_PY" layout "$TP_WORK/mnt" >"$TP_WORK/layout.after"
	cmp -s "$TP_WORK/layout.before" "$TP_WORK/layout.after" ||
		tp_fail "kill after ${delay}s: files changed: $(diff "$TP_WORK/layout.before" "$TP_WORK/layout.after" | head -4)"
	tp_umount "$TP_WORK/mnt"
	tp_loop_detach "$dev"
	[ "$tp_failed" -eq 0 ] || break
done
tp_log "$landed kills landed while thinpack ran ($tries tries); $leaky left leaked blocks, fixed by e2fsck -p"
[ "$landed" -ge "$want" ] || tp_fail "only $landed kills landed, want $want"
tp_done
