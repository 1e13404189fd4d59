#!/usr/bin/env bash
# Each server in a cgroup of its own, read from the kernel: limits
# enforced (memory with swap off, CPU, processes), the OOM killer named as
# such, accounting of the whole server, and every process of it swept on
# stop however it detached itself. On this machine's v1/v2 hybrid the v1
# memory, cpu and pids hierarchies limit and v2's (no controllers) holds
# the processes and kills them in one write (cgroup.kill): both paths.
# v2's own limit files (memory.max, cpu.max, pids.max) are not reached
# here, and no test can reach them on such a host: a controller belongs
# to one hierarchy at a time, memory, cpu and pids are the host's v1
# hierarchies' (/proc/cgroups: hierarchy ids other than 0, with cgroups
# in use), and a cgroup2 the test mounts itself, even in a mount
# namespace of its own, is the same single v2 hierarchy, offering only
# what v1 left it (hugetlb here). Only unmounting the host's v1
# hierarchies would free them.
# Usage: test_cgroups.sh BUILD_DIR
set -u
build=$(cd "$1" && pwd)
mcpvisor="$build/mcpvisor"
mcpvisord="$build/mcpvisord"
work=$(mktemp -d "${TMPDIR:-/tmp}/mcpvisor-cgroups.XXXXXX")
# shellcheck source=../lib/check.sh
. "$(dirname "$0")/../lib/check.sh"
cleanup() {
	pkill -KILL -f "$work/" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

if [ ! -d /sys/fs/cgroup/memory ] && ! grep -qw memory /sys/fs/cgroup/cgroup.controllers 2>/dev/null; then
	echo "FAIL - no memory controller mounted (v1 or v2): cannot test limits"
	exit 1
fi
# where a hierarchy keeps our leaves: under mcpvisord's own cgroup
leaf_dirs() { find /sys/fs/cgroup -maxdepth 8 -type d -path "*/mcpvisor/$1/*" -name 'worker-*' 2>/dev/null; }
v1_dir() { find "/sys/fs/cgroup/$1" -maxdepth 8 -type d -path "*/mcpvisor/$2/$3/worker-*" 2>/dev/null | head -n 1; }

cfg="$work/config"
mkdir -p "$cfg/environments" "$cfg/servers"
# shellcheck source=../lib/server_file.sh
. "$(dirname "$0")/../lib/server_file.sh"
cat > "$cfg/environments/test.yaml" <<'YAML'
variables: {}
resource_limits:
  memory_gb: 0.25
YAML
# 700 MiB, 10 MiB at a time, touched
server hog '  command: /usr/bin/python3
  args: ["-c", "import time\nb = []\nfor i in range(70):\n    b.append(bytearray(10 << 20))\n    time.sleep(0.01)\ntime.sleep(60)"]
  restart: never'
server spin '  command: /bin/sh
  args: ["-c", "while :; do :; done"]'
printf 'sandbox:\n  limits: {cpu_cores: 0.5}\n' >> "$cfg/servers/spin.yaml"
# forks without end, going on when a fork fails: each child sleeps
server forker '  command: /usr/bin/python3
  args: ["-c", "import os, time\nwhile True:\n    try:\n        if os.fork() == 0:\n            time.sleep(7304)\n            os._exit(0)\n    except OSError:\n        time.sleep(0.01)"]'
printf 'sandbox:\n  limits: {pids_max: 64, memory_gb: 1}\n' >> "$cfg/servers/forker.yaml"
# a daemon that leaves its process group and session, then a child of it
server escaper '  command: /bin/sh
  args: ["-c", "setsid sh -c '"'"'sleep 7301 & exec sleep 7302'"'"' & exec sleep 7303"]'
cat > "$work/spec.yaml" <<'YAML'
metadata: {name: cgtest, environment: test}
servers:
  - {name: hog, parallel_safe: true}
  - {name: spin, parallel_safe: true}
  - {name: forker, parallel_safe: true}
  - {name: escaper, parallel_safe: true}
deployment_settings: {monitoring_enabled: false}
YAML
state="$work/state"
mv() { "$mcpvisor" --config-dir "$cfg" --state-dir "$state" "$@"; }
out=$(mv deploy start "$work/spec.yaml" 2>&1); status=$?
check "a deployment of four limited servers comes up" '[ $status -eq 0 ]'
id=$(ls "$state/deployments" | grep '\.json$' | sed 's/\.json$//' | head -n 1)
rec() { mv deploy status "$id" --json; }

# memory: killed by the kernel, and said so
check "700 MiB under memory_gb 0.25: killed, reported as out of memory (limit 256 MiB)" \
	'wait_for "grep -q \"hog: server_exited killed: out of memory (limit 256 MiB)\" \"$state\"/logs/deployment_*.log" 10'
mem_dir=$(v1_dir memory cgtest spin)
check "the limit is the kernel's, swap off with it (memory.memsw.limit_in_bytes, or swappiness 0)" '[ "$(cat "$mem_dir/memory.limit_in_bytes")" = $((256 << 20)) ] && { [ ! -e "$mem_dir/memory.memsw.limit_in_bytes" ] || [ "$(cat "$mem_dir/memory.memsw.limit_in_bytes")" = $((256 << 20)) ]; }'

# CPU: half a core over 3 s
spin_pid=$(rec | python3 -c 'import json,sys; print({s["name"]: s for s in json.load(sys.stdin)["servers"]}["spin"]["server_pid"])')
t0=$(awk '{ print $14 + $15 }' "/proc/$spin_pid/stat"); sleep 3
t1=$(awk '{ print $14 + $15 }' "/proc/$spin_pid/stat")
share=$(( (t1 - t0) * 100 / 300 ))
check "a spinning server under cpu_cores 0.5 gets about half a core over 3 s (${share}%)" '[ $share -ge 35 ] && [ $share -le 65 ]'
check "its usage comes from its cgroup" 'rec | python3 -c "
import json, sys
s = {x[\"name\"]: x for x in json.load(sys.stdin)[\"servers\"]}[\"spin\"]
assert s[\"usage\"][\"source\"] == \"cgroup\" and 30 < s[\"usage\"][\"cpu_percent\"] < 70, s[\"usage\"]
"'

# processes: the fork loop stops at 64
pids_dir=$(v1_dir pids cgtest forker)
check "a server forking without end under pids_max 64 stops at 64" 'wait_for "[ \"\$(cat \"$pids_dir/pids.current\" 2>/dev/null)\" = 64 ]" 10 && [ "$(cat "$pids_dir/pids.max")" = 64 ] && [ "$(cat "$pids_dir/pids.events" | awk "/max/ {print \$2}")" -gt 0 ]'

# v2 holds them too, and the escapers are in it
esc_v2=$(find /sys/fs/cgroup/unified -maxdepth 6 -type d -path "*/mcpvisor/cgtest/escaper/worker-*" 2>/dev/null | head -n 1)
check "cgroup v2 (no controllers here) holds the escaper's three processes, setsid'd ones included" '[ -n "$esc_v2" ] && [ "$(wc -l < "$esc_v2/cgroup.procs")" -eq 3 ] && [ -e "$esc_v2/cgroup.kill" ]'
check "sandbox_applied names the cgroup and its limits" 'grep -q "\"cgroup\":{\"name\":\"mcpvisor/cgtest/spin/worker-[0-9]*\",\"cpu_cores\":0.5" "$state/events.journal"'

# stop: nothing of any of them is left, and no leaf
out=$(mv deploy stop "$id" 2>&1)
check "deploy stop: no process of the fork loop or the escaper is left" 'wait_for "! pgrep -f \"sleep 730[123]\" >/dev/null && ! pgrep -f \"os.fork\" >/dev/null" 5'
check "and their leaves are removed, with the parents they left empty" 'wait_for "[ -z \"\$(leaf_dirs cgtest)\" ]" 5 && ! find /sys/fs/cgroup -maxdepth 7 -type d -path "*/mcpvisor/cgtest" 2>/dev/null | grep -q .'

# a worker killed outright: mcpvisord sweeps and removes its leaf
server lone '  command: /bin/sh
  args: ["-c", "setsid sleep 7305 & exec sleep 7306"]'
printf 'metadata: {name: lone, environment: test}\nservers:\n  - {name: lone}\ndeployment_settings: {monitoring_enabled: false}\n' > "$work/lone.yaml"
out=$(mv deploy start "$work/lone.yaml" 2>&1)
lone_leaf=$(find /sys/fs/cgroup/unified -maxdepth 6 -type d -path "*/mcpvisor/lone/lone/worker-*" | head -n 1)
wpid=${lone_leaf##*worker-}
kill -9 "$wpid"
check "kill -9 of a worker: mcpvisord kills what its leaf held (the setsid'd sleep too) and removes it" 'wait_for "! pgrep -f \"sleep 7305\" >/dev/null && [ ! -d \"$lone_leaf\" ]" 10'
pkill -TERM -f "mcpvisord --state-dir $state"
wait_for "! pgrep -f \"mcpvisord --state-dir $state\" >/dev/null" 10

# where no cgroup can be made (an unprivileged daemon): refused when
# planned, unless the server says limits_required: false
chmod -R o+rX "$work"
chmod o+x "$(dirname "$work")"
printf 'metadata: {name: up, environment: test}\nservers:\n  - {name: spin}\n' > "$work/up.yaml"
chmod o+r "$work/up.yaml"
out=$(setpriv --reuid=65534 --regid=65534 --clear-groups "$mcpvisord" --config-dir "$cfg" --check "$work/up.yaml" 2>&1); status=$?
check "an unprivileged mcpvisord refuses limits it cannot enforce, at the limits' line (exit 100)" '[ $status -eq 100 ] && grep -q "servers/spin.yaml:9:11: error: server .spin.: its limits cannot be enforced here: cannot make a cgroup under .*Permission denied" <<<"$out"'
out=$(setpriv --reuid=65534 --regid=65534 --clear-groups env MCPVISOR_LIMITS=optional "$mcpvisord" --config-dir "$cfg" --check "$work/up.yaml" 2>&1); status=$?
check "MCPVISOR_LIMITS=optional (a container's mcpvisord): a warning, and it plans" '[ $status -eq 0 ] && grep -q "warning: server .spin. runs without its limits (mcpvisord --limits-optional)" <<<"$out"'
printf '  limits_required: false\n' >> "$cfg/servers/spin.yaml"
out=$(setpriv --reuid=65534 --regid=65534 --clear-groups "$mcpvisord" --config-dir "$cfg" --check "$work/up.yaml" 2>&1); status=$?
check "with sandbox.limits_required: false, a warning and it plans" '[ $status -eq 0 ] && grep -q "warning: server .spin. runs without its limits (sandbox.limits_required: false)" <<<"$out"'

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
