#!/bin/bash
# The borrow placement method of doc/placement.md, measured on this
# kernel: donors placed at chosen holes must land exactly (checked with
# FIEMAP by the probe itself), merge-left and merge-right, short and long
# holes, with and without a concurrent writer, with a donor for each
# placement and through the placer's reservoir; moving real files' data
# into them keeps every byte, and e2fsck stays clean.
. "${TESTS_DIR:-$(dirname "$0")/..}/lib/common.sh"
tp_require_root
tp_workdir
probe=${PLACE_PROBE:-$(dirname "$THINPACK")/tests/root/place-probe}
[ -x "$probe" ] || tp_die "no place-probe at $probe"

tp_thin_pool 2G

# run NAME MIN_EXACT_PERCENT RESERVOIR probe-args...: prints the probe's
# figures; RESERVOIR: "none" of the exact placements by the placer's
# reservoir (lib/place/reservoir.c), "all" of them, or "any" number
run() {
	local name=$1 min=$2 want_res=$3 out trials exact errors res taken
	shift 3
	out=$("$probe" "$@" "$TP_MNT") || tp_fail "$name: probe reported data errors"
	tp_log "$name: $out"
	read -r _ trials _ exact _ _ _ _ _ errors _ res _ <<<"$out"
	taken=${out##* taken }
	[ "$trials" -gt 0 ] || tp_fail "$name: no trial ran"
	# a hole another allocation took first is not a trial; now and then
	# one is (an extent-tree block), often would be a wrong check
	[ $((taken * 10)) -le "$trials" ] ||
		tp_fail "$name: $taken holes taken before the allocation in $trials trials"
	[ $((exact * 100)) -ge $((trials * min)) ] ||
		tp_fail "$name: $exact of $trials exact, want >= $min%"
	[ "$errors" -eq 0 ] || tp_fail "$name: $errors errors"
	case $want_res in
	none) [ "$res" -eq 0 ] || tp_fail "$name: $res placed by the reservoir, want none" ;;
	all) [ "$res" -eq "$exact" ] || tp_fail "$name: $res of $exact placed by the reservoir, want all" ;;
	esac
}

# A small-file writer runs meanwhile: it competes for the same free space.
concurrent() {
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
	run "$@"
	rm -f "$TP_WORK/writing"
	wait "$writer"
	rm -rf "$TP_MNT/writer"
}

unchanged() {
	"$PYTHON3" "$TP_PY" manifest "$TP_MNT" >"$TP_WORK/after"
	cmp -s "$TP_WORK/before" "$TP_WORK/after" ||
		tp_fail "file contents changed: $(diff "$TP_WORK/before" "$TP_WORK/after" | head -5)"
	tp_umount "$TP_MNT"
	tp_fsck "$TP_DEV"
}

# A small filesystem: less free space than the reservoir needs, so every
# placement has a donor of its own (a written first block, a fresh slot).
tp_thin_fs place 256M -- -b 4096
tp_age "$TP_MNT" --seed 17 --dirs 8
"$PYTHON3" "$TP_PY" manifest "$TP_MNT" >"$TP_WORK/before"
run merge-left 100 none --trials 60 --max-len 64 --move --seed 1
run merge-right 100 none --right --trials 40 --max-len 256 --move --seed 2
run long-holes 100 none --trials 30 --min-len 64 --max-len 16384 --seed 3
concurrent concurrent 99 none --trials 60 --max-len 128 --move --seed 4
unchanged

# Room for the reservoir: merge-left placements go through it (nothing
# written to allocate, the slot the previous range's last block); holes
# the fence itself took are placed the other way.
tp_thin_fs reservoir 512M -- -b 4096
tp_age "$TP_MNT" --seed 19 --dirs 8
"$PYTHON3" "$TP_PY" manifest "$TP_MNT" >"$TP_WORK/before"
run reservoir-left 100 any --trials 60 --max-len 64 --move --seed 5
run reservoir-long 100 any --trials 30 --min-len 64 --max-len 16384 --seed 6
concurrent reservoir-concurrent 99 any --trials 60 --max-len 128 --move --seed 7
unchanged
tp_done
