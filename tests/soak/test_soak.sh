#!/usr/bin/env bash
# A bounded fault-injection soak: kill -9 at random of mcpvisord (brought
# back as a service manager would), workers, the monitor and servers, for
# SOAK_SECONDS (default 60); then the invariants: every server back, no
# orphan, no zombie, every record and journal line whole, no temporary
# file, no event written twice. Then a full disk: the state directory on a
# small tmpfs filled up while servers die and come back, freed again, and
# the same invariants.
# Usage: test_soak.sh BUILD_DIR
set -u
build=$(cd "$1" && pwd)
mcpvisor="$build/mcpvisor"
mcpvisord="$build/mcpvisord"
seconds=${SOAK_SECONDS:-60}
work=$(mktemp -d "${TMPDIR:-/tmp}/mcpvisor-soak.XXXXXX")
passed=0 failed=0

cleanup() {
	[ -n "${keeper:-}" ] && kill "$keeper" 2>/dev/null
	pkill -KILL -f "mcpvisord --state-dir $work" 2>/dev/null
	pkill -KILL -f "sleep 30[0-9][0-9]" 2>/dev/null
	mountpoint -q "$work/full" && umount -l "$work/full"
	[ -n "${KEEP:-}" ] && echo "# kept $work" || rm -rf "$work"
}
trap cleanup EXIT

ok()  { passed=$((passed + 1)); echo "ok - $1"; }
bad() { failed=$((failed + 1)); echo "FAIL - $1"; }
check() { if eval "$2"; then ok "$1"; else bad "$1"; fi; }
wait_for() {
	local i
	for ((i = 0; i < $2 * 10; i++)); do eval "$1" && return 0; sleep 0.1; done
	return 1
}

cfg="$work/project/config"
mkdir -p "$cfg/environments" "$cfg/servers" "$work/project/deployments"
echo 'variables: {}' > "$cfg/environments/soak.yaml"
. "$(dirname "$0")/../lib/server_file.sh"
names=()
for i in 1 2 3 4; do
	server "plain$i" "  command: sleep
  args: [\"30$i$i\"]"
	names+=("plain$i")
done
server escaper '  command: sh
  args: ["-c", "setsid sleep 3099 & exec sleep 3055"]'
names+=(escaper)
{
	printf 'metadata: {name: soak, environment: soak}\nservers:\n'
	for n in "${names[@]}"; do printf '  - {name: %s, parallel_safe: true, timeout_seconds: 20}\n' "$n"; done
} > "$work/project/deployments/soak.yaml"

# every server's own command, once each, when it has converged
expected="sleep 3011|sleep 3022|sleep 3033|sleep 3044|sleep 3055"
converged() {
	local n
	for n in 3011 3022 3033 3044 3055; do
		[ "$(pgrep -fc "^sleep $n\$")" = 1 ] || return 1
	done
	# a setsid'd child of the escaper runs once, or not at all while
	# its server is coming back: never twice
	[ "$(pgrep -fc "^sleep 3099\$")" -le 1 ]
}

# whole lines, no duplicate, no temporary file, no zombie
invariants() { # STATE_DIR LABEL
	local state=$1 label=$2
	check "$label: every record parses" 'python3 - "$state" <<PY
import glob, json, sys
for p in glob.glob(sys.argv[1] + "/deployments/*.json") + glob.glob(sys.argv[1] + "/rollbacks/*.json"):
    json.load(open(p))
PY'
	check "$label: every journal line is whole JSON" 'python3 - "$state" <<PY
import glob, json, sys
for p in glob.glob(sys.argv[1] + "/events.journal*"):
    for line in open(p, "rb"):
        assert line.endswith(b"\n"), p
        json.loads(line)
PY'
	check "$label: no event written twice" '[ -z "$(cat "$state"/events.journal* | sort | uniq -d | head -1)" ]'
	check "$label: no temporary file left" '[ -z "$(find "$state" -name "*.tmp.*")" ]'
	# a zombie of ours (a child of our mcpvisord or of one of its
	# workers) that stays: one just dying is no leak, and other suites'
	# are not ours
	zombies() {
		local d w parents
		d=$(pgrep -of "mcpvisord --state-dir $state")
		[ -z "$d" ] && return 0
		parents="$d $(pgrep -P "$d" | tr '\n' ' ')"
		for w in $parents; do
			ps -o pid=,stat= --ppid "$w" | awk '$2 ~ /^Z/ {print $1}'
		done | sort
	}
	local z1; z1=$(zombies); sleep 1
	check "$label: no zombie" '[ -z "$(comm -12 <(echo "$z1") <(zombies) | grep .)" ]'
}

# --- the soak
state="$work/state"
keeper_loop() {
	while :; do
		"$mcpvisord" --state-dir "$state" --config-dir "$cfg" \
		    --monitor-port 18799 >>"$work/daemon.log" 2>&1
		sleep 0.2
	done
}
keeper_loop &
keeper=$!
wait_for "[ -S $state/control.sock ]" 10
"$mcpvisor" --config-dir "$cfg" --state-dir "$state" deploy start \
    "$work/project/deployments/soak.yaml" >/dev/null 2>&1
check "the soak's deployment is up" 'wait_for converged 20'

kills=0
end=$((SECONDS + seconds))
# only its own processes: other suites run beside it
while [ $SECONDS -lt $end ]; do
	daemon=$(pgrep -of "mcpvisord --state-dir $state")
	workers=$([ -n "$daemon" ] && pgrep -P "$daemon" -f mcpvisor-worker | tr '\n' ',')
	case $((RANDOM % 5)) in
	0) victim=$daemon ;;
	1|2) victim=$(tr ',' '\n' <<<"$workers" | grep . | shuf -n 1) ;;
	3) victim=$([ -n "$daemon" ] && pgrep -P "$daemon" -f mcpvisor-monitor) ;;
	4) victim=$([ -n "$workers" ] && pgrep -P "${workers%,}" | shuf -n 1) ;;
	esac
	[ -n "$victim" ] && kill -KILL "$victim" 2>/dev/null && kills=$((kills + 1))
	sleep "0.$((RANDOM % 8 + 2))"
done
echo "# $kills kill -9 in ${seconds} s"
check "after $kills kill -9: every server back, once, nothing of a dead tree left" 'wait_for converged 60'
if ! converged; then
	# what a rare failure needs to be understood: who runs, what the
	# daemon and the journal said last
	ps -eo pid,ppid,pgid,sid,stat,args | grep -E "sleep 30[0-9][0-9]|mcpvisor" | grep -v grep | sed "s/^/# /"
	"$mcpvisor" --state-dir "$state" deploy list --all --limit 3 2>&1 | sed "s/^/# /"
	tail -n 15 "$work/daemon.log" | sed "s/^/# daemon: /"
	tail -n 15 "$state/events.journal" | cut -c1-300 | sed "s/^/# journal: /"
fi
check "mcpvisord serves" '"$mcpvisor" --state-dir "$state" deploy list >/dev/null'
invariants "$state" soak
kill "$keeper" 2>/dev/null; wait "$keeper" 2>/dev/null; keeper=
pkill -TERM -f "mcpvisord --state-dir $state"
wait_for '! pgrep -f "mcpvisord --state-dir $state" >/dev/null' 15
check "stopped: nothing left" 'wait_for "! pgrep -f \"sleep 30[0-9][0-9]\" >/dev/null" 10'

# --- a full disk: the state directory on a 4 MiB tmpfs, filled
mkdir -p "$work/full"
mount -t tmpfs -o size=4m,mode=0700 tmpfs "$work/full"
state="$work/full/state"
"$mcpvisord" --state-dir "$state" --config-dir "$cfg" --no-monitoring \
    >>"$work/daemon-full.log" 2>&1 &
wait_for "[ -S $state/control.sock ]" 10
"$mcpvisor" --config-dir "$cfg" --state-dir "$state" deploy start \
    "$work/project/deployments/soak.yaml" >/dev/null 2>&1
check "on a small tmpfs: deployed" 'wait_for converged 20'
dd if=/dev/zero of="$work/full/fill" bs=64k >/dev/null 2>&1
# each server twice, one at a time: under the crash-loop tally
for round in 1 2; do
	for n in 3011 3022 3033 3044 3055; do
		wait_for "pgrep -fx \"sleep $n\" >/dev/null" 10
		pkill -KILL -fx "sleep $n"
		sleep 0.3
	done
done
check "the disk full, servers still come back" 'wait_for converged 30'
rm -f "$work/full/fill"
pkill -KILL -f "^sleep 3011$"
check "space back: servers back" 'wait_for converged 30'
# the events of the full disk's kills waited (at most JOURNAL_PENDING_MAX,
# past which a journal_gap line would count what went: unit-tested) and
# were written once there was room
check "the journal took no writes while full, said so once" '[ "$(grep -c "journal: No space left on device" "$work/daemon-full.log")" = 1 ]'
check "what waited is journaled once space is back, nothing lost" 'wait_for "grep -q \"journal: writing again\" $work/daemon-full.log" 10 && [ "$(grep -c "\"event_type\":\"server_exited\"" "$state/events.journal")" -ge 11 ]'
invariants "$state" "full disk"
pkill -TERM -f "mcpvisord --state-dir $state"
wait_for '! pgrep -f "mcpvisord --state-dir $state" >/dev/null' 15
check "stopped: nothing left" 'wait_for "! pgrep -f \"sleep 30[0-9][0-9]\" >/dev/null" 10'

echo "# $passed passed, $failed failed"
[ "$failed" -eq 0 ]
