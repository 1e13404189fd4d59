#!/usr/bin/env bash
# The default system call filter, inside real servers: what a service has
# no business calling fails with EPERM (or kills, with seccomp: kill);
# ordinary work (files, sockets, threads, child processes) goes on; the
# same calls succeed without the filter, so that the filter, not a missing
# capability, is what refused them; sandbox.syscalls adjusts it, and an
# unknown name is refused when planned. Node.js under the filter: the
# demo's four servers, in test_runtime.sh and the container test.
# Usage: test_seccomp.sh BUILD_DIR
set -u
build=$(cd "$1" && pwd)
mcpvisor="$build/mcpvisor"
mcpvisord="$build/mcpvisord"
work=$(mktemp -d "${TMPDIR:-/tmp}/mcpvisor-seccomp.XXXXXX")
# shellcheck source=../lib/check.sh
. "$(dirname "$0")/../lib/check.sh"
trap 'pkill -KILL -f "$work/" 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT

cfg="$work/config"
mkdir -p "$cfg/environments" "$cfg/servers" "$work/out"
# shellcheck source=../lib/server_file.sh
. "$(dirname "$0")/../lib/server_file.sh"
echo "variables: {}" > "$cfg/environments/test.yaml"
# each call's errno (0: it worked) as JSON, then it stays up
cat > "$work/probe.py" <<'PY'
import ctypes, json, os, socket, subprocess, sys, threading
libc = ctypes.CDLL(None, use_errno=True)
def call(f, *a):
    return 0 if f(*a) != -1 else ctypes.get_errno()
r = {}
r["unshare_user"] = call(libc.unshare, 0x10000000)          # CLONE_NEWUSER
# PTRACE_ATTACH to no process: ESRCH (3) where ptrace may be called
r["ptrace"] = call(libc.ptrace, 16, 999999999, None, None)
r["keyctl"] = call(libc.syscall, 250, 0, -3, 0)              # KEYCTL_GET_KEYRING_ID, session
r["mount"] = call(libc.mount, b"none", b"/mnt", b"tmpfs", 0, None)
with open(sys.argv[1] + ".file", "w") as f:
    f.write("x")
r["file"] = 0
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(); s.close()
r["socket"] = 0
t = threading.Thread(target=lambda: None); t.start(); t.join()
r["thread"] = 0
r["child"] = subprocess.run(["/bin/true"]).returncode
json.dump(r, open(sys.argv[1], "w"))
os.execv("/bin/sleep", ["sleep", "7311"])
PY
probe_server() { # name, extra sandbox lines
	server "$1" "  command: /usr/bin/python3
  args: [\"$work/probe.py\", \"$work/out/$1.json\"]"
	# its view of the host: the probe, and where it writes
	printf 'sandbox:\n  readable_paths: ["%s/probe.py"]\n  writable_paths: ["%s/out"]\n%s\n' \
	    "$work" "$work" "${2:-}" >> "$cfg/servers/$1.yaml"
}
probe_server filtered
probe_server unfiltered '  seccomp: none'
probe_server ptracer '  syscalls: {allow: [ptrace]}'
probe_server nosockets '  syscalls: {deny: [bind]}'
server killed '  command: /usr/bin/python3
  args: ["-c", "import ctypes, time; time.sleep(0.2); ctypes.CDLL(None).syscall(250, 0, -3, 0); time.sleep(7312)"]
  restart: never'
printf 'sandbox:\n  seccomp: kill\n' >> "$cfg/servers/killed.yaml"
cat > "$work/spec.yaml" <<'YAML'
metadata: {name: sc, environment: test}
servers:
  - {name: filtered, parallel_safe: true}
  - {name: unfiltered, parallel_safe: true}
  - {name: ptracer, parallel_safe: true}
  - {name: nosockets, parallel_safe: true}
deployment_settings: {monitoring_enabled: false}
YAML
state="$work/state"
mv() { "$mcpvisor" --config-dir "$cfg" --state-dir "$state" "$@"; }
out=$(mv deploy start "$work/spec.yaml" 2>&1); status=$?
check "four servers under four filters come up" '[ $status -eq 0 ]'
for s in filtered unfiltered ptracer; do
	wait_for "[ -s \"$work/out/$s.json\" ]" 10
done
j() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$work/out/$1.json" "$2"; }
check "default filter: unshare, ptrace and keyctl fail with EPERM (1)" '[ "$(j filtered unshare_user)" = 1 ] && [ "$(j filtered ptrace)" = 1 ] && [ "$(j filtered keyctl)" = 1 ]'
check "default filter: mount fails with EPERM" '[ "$(j filtered mount)" = 1 ]'
check "default filter: files, sockets, threads and child processes work" '[ "$(j filtered file)$(j filtered socket)$(j filtered thread)$(j filtered child)" = 0000 ]'
check "without it (seccomp: none) the same unshare, ptrace and keyctl succeed: the filter refused them" '[ "$(j unfiltered unshare_user)" = 0 ] && [ "$(j unfiltered ptrace)" = 3 ] && [ "$(j unfiltered keyctl)" = 0 ]'
check "syscalls.allow: [ptrace] lets ptrace through, and only it" '[ "$(j ptracer ptrace)" = 3 ] && [ "$(j ptracer keyctl)" = 1 ]'
check "syscalls.deny: [bind]: the server's bind fails, so it cannot come up as it would" '[ ! -s "$work/out/nosockets.json" ]'
check "sandbox_applied says which filter" 'grep -q "\"seccomp\":{\"action\":\"errno\",\"denied\":[0-9]*}" "$state/events.journal" && grep -q "\"seccomp\":\"none\"" "$state/events.journal"'
mv deploy stop "$(ls "$state/deployments" | grep '\.json$' | sed 's/\.json$//' | head -n 1)" >/dev/null 2>&1

# seccomp: kill: a denied call ends the process (SIGSYS)
printf 'metadata: {name: sk, environment: test}\nservers:\n  - {name: killed}\ndeployment_settings: {monitoring_enabled: false}\n' > "$work/kill.yaml"
out=$(mv deploy start "$work/kill.yaml" 2>&1)
check "seccomp: kill: keyctl kills the server with SIGSYS (31)" 'wait_for "grep -q \"killed: server_exited killed by signal 31\" \"$state\"/logs/deployment_*.log" 10'
pkill -TERM -f "mcpvisord --state-dir $state"

# an unknown name: refused when planned, at its line
probe_server typo '  syscalls: {deny: [mountt]}'
printf 'metadata: {name: ty, environment: test}\nservers:\n  - {name: typo}\n' > "$work/typo.yaml"
out=$("$mcpvisord" --config-dir "$cfg" --check "$work/typo.yaml" 2>&1); status=$?
check "syscalls.deny: [mountt]: refused at servers/typo.yaml:11:21 (exit 100)" '[ $status -eq 100 ] && grep -q "servers/typo.yaml:11:21: error: sandbox.syscalls.deny: no system call .mountt. on this architecture" <<<"$out"'

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
