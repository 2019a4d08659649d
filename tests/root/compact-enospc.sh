#!/bin/bash
# A filesystem 99 % full: compaction does what it can, and ends cleanly;
# every file keeps its bytes, nothing leaks, e2fsck stays clean.
. "${TESTS_DIR:-$(dirname "$0")/..}/lib/common.sh"
tp_require_root
tp_workdir
tp_thin_pool 1G
tp_thin_fs full 128M -- -b 4096 -m 0
m=$TP_MNT
tp_age "$m" --seed 53 --dirs 8
# Fill what is left with small files (past ext4's reserve for metadata,
# put back afterwards), then free about 1 % at random.
resv=/sys/fs/ext4/$(basename "$TP_DEV")/reserved_clusters
saved_resv=$(cat "$resv")
echo 0 >"$resv"
"$PYTHON3" - "$m" <<'PY'
import os, random, sys
top = sys.argv[1]
rng = random.Random(5)
os.makedirs(os.path.join(top, "fill"))
names = []
i = 0
while True:
    p = os.path.join(top, "fill", "x%06d" % i)
    try:
        with open(p, "wb") as f:
            f.write(rng.randbytes(rng.randint(1, 12) * 4096))
    except OSError:
        if os.path.exists(p):
            os.unlink(p)
        break
    names.append(p)
    i += 1
os.sync()
st = os.statvfs(top)
target = st.f_blocks // 100
for k, p in enumerate(rng.sample(names, len(names))):
    if k % 8 == 0:
        os.sync()  # freed blocks count once committed
        if os.statvfs(top).f_bfree >= target:
            break
    os.unlink(p)
os.sync()
st = os.statvfs(top)
used = 100 - 100 * st.f_bfree / st.f_blocks
print("filled: %.1f %% used" % used, file=sys.stderr)
assert used >= 98.5, used
PY
echo "$saved_resv" >"$resv"
tp_snapshot "$m"

rc=0
"$THINPACK" compact --json --min-age 0 --max-usage 100 --slack 0 --granularity 64K \
	"$m" >"$TP_WORK/compact.json" 2>"$TP_WORK/compact.err" || rc=$?
[ "$rc" -eq 0 ] || tp_fail "compact exited $rc: $(cat "$TP_WORK/compact.err")"
"$PYTHON3" "$TP_PY" summary "$TP_WORK/compact.json" "compact on a full filesystem" ||
	tp_fail "no JSON summary"

tp_expect_unchanged "$m"
tp_umount "$m"
tp_fsck "$TP_DEV"
tp_done
