#!/bin/bash
# thinpackd.conf: every class of configuration error has its exact message,
# "FILE:LINE: key: what is wrong", from --check-config (exit 8) and from a
# thinpackd that refuses to start (exit 8); a good file is printed as read;
# the command line takes the same keys with the same messages.  No root.
. "${TESTS_DIR:-$(dirname "$0")/..}/lib/daemon-lib.sh"
tp_workdir
conf=$TP_WORK/thinpackd.conf

# bad LINES... -- EXPECTED...: --check-config on a file of LINES prints
# exactly EXPECTED ("@" stands for the file's path) and exits 8.
bad() {
	local lines=() want=() got rc=0
	while [ "$1" != -- ]; do
		lines+=("$1")
		shift
	done
	shift
	for w in "$@"; do
		want+=("${w//@/$conf}")
	done
	printf '%s\n' "${lines[@]}" >"$conf"
	got=$("$THINPACKD" --check-config --config "$conf" 2>&1 >/dev/null) || rc=$?
	tp_expect_eq "exit status for ${want[0]}" "$rc" 8
	tp_expect_eq "message" "$got" "$(printf '%s\n' "${want[@]}")"
}

bad '[global]' 'speed = 3' -- '@:2: speed: unknown key'
bad '[global]' 'interval = often' -- \
	"@:2: interval: 'often' is not a duration (like 30s, 15m, 12h or 1d)"
bad '[global]' 'interval = 0' -- "@:2: interval: '0' is too short (at least 1s)"
bad '[global]' 'io_rate = 12 parsecs' -- \
	"@:2: io_rate: '12 parsecs' is not a rate in bytes per second (like 512K, 8M or 1G, 0 for no limit)"
bad '[global]' 'max_usage = 150' -- "@:2: max_usage: '150' is not a whole number from 0 to 100"
bad '[*]' 'slack = -1' -- "@:2: slack: '-1' is not a whole number from 0 to 99"
bad '[global]' 'pressure_limit = high' -- \
	"@:2: pressure_limit: 'high' is not a percentage from 0 to 100, or off"
bad '[global]' 'granularity = 3000' -- \
	"@:2: granularity: '3000' is not a multiple of 512 bytes (like 64K, 192K, 1M or 4M), or auto"
bad '[global]' 'placement = fast' -- "@:2: placement: 'fast' is not auto, borrow or fallocate2[:NR]"
bad '[global]' 'trim = maybe' -- "@:2: trim: 'maybe' is not yes or no"
bad '[global]' 'metrics_file = x.prom' -- "@:2: metrics_file: 'x.prom' is not an absolute path, or none"
bad '[global]' 'min_age =' -- '@:2: min_age: empty value'
bad 'interval = 1h' '[global]' -- '@:1: interval: outside of any section (put it under [global])'
bad '[/srv]' 'metrics_file = /tmp/m.prom' -- '@:2: metrics_file: only allowed in [global]'
bad '[global]' 'interval = 1h' '# again' 'interval = 2h' -- \
	'@:4: interval: set twice in [global] (first at line 2)'
bad '[/srv]' '[*]' '[/srv/]' -- '@:3: [/srv/]: duplicate section (first at line 1)'
bad '[UUID=0B7E3C8E-2F0A-4C1E-9B7A-1D2E3F405162]' '[0b7e3c8e-2f0a-4c1e-9b7a-1d2e3f405162]' -- \
	'@:2: [0b7e3c8e-2f0a-4c1e-9b7a-1d2e3f405162]: duplicate section (first at line 1)'
bad '[global]' '[*]' '[global]' -- '@:3: [global]: duplicate section (first at line 1)'
bad '[srv]' -- \
	'@:1: [srv]: not a section: expected [global], [*], a mount point like [/srv], or [UUID=...]'
bad '[/srv/../etc]' -- \
	'@:1: [/srv/../etc]: not a section: expected [global], [*], a mount point like [/srv], or [UUID=...]'
bad '[ ]' -- '@:1: []: empty section name'
bad '[global' -- "@:1: syntax error: '[' without ']'"
bad '[global] x' -- "@:1: syntax error: text after ']'"
bad '[global]' 'interval' -- "@:2: syntax error: expected 'key = value', '[section]' or a comment"
bad '[global]' "metrics_file = /$(printf 'x%.0s' $(seq 1 200))" -- \
	'@:2: line too long (at most 197 characters)'
# Every error is reported, in order, not only the first.
bad '[global]' 'speed = 3' '[*]' 'trim = maybe' -- '@:2: speed: unknown key' \
	"@:4: trim: 'maybe' is not yes or no"

# A file that cannot be read.
rc=0
got=$("$THINPACKD" --check-config --config "$TP_WORK/none.conf" 2>&1 >/dev/null) || rc=$?
tp_expect_eq "exit status, missing file" "$rc" 8
tp_expect_eq "message" "$got" "thinpackd: $TP_WORK/none.conf: cannot read: No such file or directory"

# The command line: the same keys, the same messages.
rc=0
got=$("$THINPACKD" --check-config --config "$conf" --io-rate fast 2>&1 >/dev/null) || rc=$?
tp_expect_eq "exit status, --io-rate fast" "$rc" 8
tp_expect_eq "message" "$got" \
	"--io-rate: 'fast' is not a rate in bytes per second (like 512K, 8M or 1G, 0 for no limit)"

# thinpackd itself refuses to start, with the same lines.
printf '[global]\nspeed = 3\n' >"$conf"
rc=0
got=$(RUNTIME_DIRECTORY=$TP_WORK/run STATE_DIRECTORY=$TP_WORK/state \
	timeout 10 "$THINPACKD" --foreground --config "$conf" 2>&1) || rc=$?
tp_expect_eq "exit status of thinpackd with a wrong file" "$rc" 8
tp_expect_eq "message" "$got" "$conf:2: speed: unknown key
thinpackd: $conf is wrong: not starting"

# A good file: printed as read, [global] filled in with the defaults and
# inherited by the sections, the command line over all of them.
cat >"$conf" <<'EOF'
# comment
; comment
[global]
interval = 6h   ; inline comment
io_rate = 4M/s

[*]
[/srv//data/]
min_age = 0
[UUID=0B7E3C8E-2F0A-4C1E-9B7A-1D2E3F405162]
trim = no
EOF
rc=0
got=$("$THINPACKD" --check-config --config "$conf" --pass-budget 30m 2>"$TP_WORK/err") || rc=$?
tp_expect_eq "exit status of a good file" "$rc" 0
tp_expect_eq "stderr of a good file" "$(cat "$TP_WORK/err")" ""
want="# $conf, as thinpackd reads it
[global]
interval = 6h
min_age = 1d
max_usage = 50
slack = 10
pool_margin = 5
io_rate = 4M
pass_budget = 30m
pressure_limit = 10
granularity = auto
placement = auto
trim = yes
metrics_file = (default)

[*]
interval = 6h
min_age = 1d
max_usage = 50
slack = 10
pool_margin = 5
io_rate = 4M
pass_budget = 30m
pressure_limit = 10
granularity = auto
placement = auto
trim = yes

[/srv//data/]
interval = 6h
min_age = 0
max_usage = 50
slack = 10
pool_margin = 5
io_rate = 4M
pass_budget = 30m
pressure_limit = 10
granularity = auto
placement = auto
trim = yes

[UUID=0B7E3C8E-2F0A-4C1E-9B7A-1D2E3F405162]
interval = 6h
min_age = 1d
max_usage = 50
slack = 10
pool_margin = 5
io_rate = 4M
pass_budget = 30m
pressure_limit = 10
granularity = auto
placement = auto
trim = no"
tp_expect_eq "the configuration as read" "$got" "$want"

# The example configuration that make install puts in place is valid.
"$THINPACKD" --check-config --config "$TESTS_DIR/../systemd/thinpackd.conf" >/dev/null ||
	tp_fail "systemd/thinpackd.conf is not valid"
tp_done
