#!/bin/bash
# The borrow placement method of ../shared/PLACEMENT.md, measured on this
# kernel: donors placed at chosen holes must land exactly (checked with
# FIEMAP by the probe itself), merge-left and merge-right, short and long
# holes, with and without a concurrent writer; moving real files' data
# into them keeps every byte, and e2fsck stays clean.
. "${TESTS_DIR:-$(dirname "$0")/..}/lib/common.sh"
tp_require_root
tp_workdir
probe=${PLACE_PROBE:-$(dirname "$THINPACK")/tests/root/place-probe}
[ -x "$probe" ] || tp_die "no place-probe at $probe"

tp_thin_pool 1G
tp_thin_fs place 256M -- -b 4096
tp_age "$TP_MNT" --seed 17 --dirs 8
"$PYTHON3" "$TP_PY" manifest "$TP_MNT" >"$TP_WORK/before"

# run NAME MIN_EXACT_PERCENT probe-args...: prints the probe's figures
run() {
	local name=$1 min=$2 out trials exact errors
	shift 2
	out=$("$probe" "$@" "$TP_MNT") || tp_fail "$name: probe reported data errors"
	tp_log "$name: $out"
	read -r _ trials _ exact _ _ _ _ _ errors <<<"$out"
	[ "$trials" -gt 0 ] || tp_fail "$name: no trial ran"
	[ $((exact * 100)) -ge $((trials * min)) ] ||
		tp_fail "$name: $exact of $trials exact, want >= $min%"
	[ "$errors" -eq 0 ] || tp_fail "$name: $errors errors"
}

run merge-left 100 --trials 60 --max-len 64 --move --seed 1
run merge-right 100 --right --trials 40 --max-len 256 --move --seed 2
run long-holes 100 --trials 30 --min-len 64 --max-len 16384 --seed 3

# A small-file writer runs meanwhile: it competes for the same free space.
mkdir "$TP_MNT/writer"
(
	i=0
	while [ -e "$TP_WORK/writing" ]; do
		head -c $(((i % 7 + 1) * 4096)) /dev/urandom >"$TP_MNT/writer/w$i"
		[ $((i % 50)) -eq 49 ] && rm -f "$TP_MNT"/writer/w$((i - 40))*
		i=$((i + 1))
	done
) &
writer=$!
touch "$TP_WORK/writing"
run concurrent 99 --trials 60 --max-len 128 --move --seed 4
rm -f "$TP_WORK/writing"
wait "$writer"
rm -rf "$TP_MNT/writer"

"$PYTHON3" "$TP_PY" manifest "$TP_MNT" >"$TP_WORK/after"
cmp -s "$TP_WORK/before" "$TP_WORK/after" ||
	tp_fail "file contents changed: $(diff "$TP_WORK/before" "$TP_WORK/after" | head -5)"
tp_umount "$TP_MNT"
tp_fsck "$TP_DEV"
tp_done
