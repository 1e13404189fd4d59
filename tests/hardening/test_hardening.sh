#!/usr/bin/env bash
# Regression tests of issue 13's hardening, with real processes: a worker
# that lies, a server's tree that escapes with setsid(), a worker stopped
# with SIGSTOP, restart policies that end a server on purpose.
# Usage: test_hardening.sh BUILD_DIR
set -u
build=$(cd "$1" && pwd)
mcpvisor="$build/mcpvisor"
mcpvisord="$build/mcpvisord"
work=$(mktemp -d "${TMPDIR:-/tmp}/mcpvisor-hd.XXXXXX")
passed=0 failed=0

cleanup() {
	pkill -KILL -f "mcpvisord --state-dir $work" 2>/dev/null
	pkill -KILL -f "$work/" 2>/dev/null
	[ -n "${victim:-}" ] && kill -KILL "$victim" 2>/dev/null
	[ -n "${KEEP:-}" ] && echo "# kept $work" || rm -rf "$work"
}
trap cleanup EXIT

ok()  { passed=$((passed + 1)); echo "ok - $1"; }
bad() { failed=$((failed + 1)); echo "FAIL - $1"; }
check() { if eval "$2"; then ok "$1"; else bad "$1"; return 1; fi; }
field() { python3 - "$1" "$2" 2>/dev/null <<'PY'
import json, sys
print(eval(sys.argv[2], {"d": json.load(open(sys.argv[1]))}))
PY
}
wait_for() {
	local i
	for ((i = 0; i < $2 * 20; i++)); do eval "$1" && return 0; sleep 0.05; done
	return 1
}

cfg="$work/project/config"
mkdir -p "$cfg/environments" "$cfg/servers" "$work/project/deployments"
echo 'variables: {}' > "$cfg/environments/test.yaml"
. "$(dirname "$0")/../lib/server_file.sh"
spec() { # name, then server entries; $stack: its stack, when not name
	local name=$1; shift
	{ printf 'metadata: {name: %s, environment: test}\nservers:\n' "${stack:-$name}"; printf '%s\n' "$@"; } > "$work/project/deployments/$name.yaml"
	echo "$work/project/deployments/$name.yaml"
}
S() { printf '  - {name: %s, timeout_seconds: 20, retry_attempts: 0}' "$1"; }
state="$work/state"
rf() { field "$state/deployments/$1.json" "$2"; }
is() { wait_for "[ \"\$(rf $1 '$2')\" = '$3' ]" "$4"; }
mv() { "$mcpvisor" --config-dir "$cfg" --state-dir "$state" "$@"; }
last_id() { mv deploy list --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])'; }
events() { grep -F "\"deployment_id\":\"$1\"" "$state/events.journal"; }
stop_daemon() { pkill -TERM -f "mcpvisord --state-dir $state" 2>/dev/null; wait_for '! pgrep -f "mcpvisord --state-dir $state" >/dev/null' 10; }

# --- 1. a worker naming a process it did not start: nothing of it is
# signalled (it was once kill(-pid, SIGKILL) as root)
setsid sleep 1020 </dev/null >/dev/null 2>&1 &
victim=$!
wait_for "[ \"\$(ps -o pgid= -p $victim | tr -d ' ')\" = $victim ]" 5
cat > "$work/liar-worker" <<PY
#!/usr/bin/python3
import os, struct, time
def frame(t, payload=b""):
    os.write(3, b"MV\x01" + bytes([t]) + struct.pack(">I", len(payload)) + payload)
# its pid as the host's /proc has it: 1 to itself, in a PID namespace
frame(1, struct.pack(">I", int(os.readlink("/proc/self"))))
frame(3, struct.pack(">I", $victim))
time.sleep(0.5)
PY
chmod +x "$work/liar-worker"
server victimless '  command: sleep
  args: ["1021"]'
"$mcpvisord" --state-dir "$state" --config-dir "$cfg" --no-monitoring \
	--worker "$work/liar-worker" >>"$work/daemon.log" 2>&1 &
wait_for "[ -S $state/control.sock ]" 10
sp=$(spec liar "$(S victimless)")
out=$(mv deploy start "$sp" 2>&1); status=$?
check "a worker naming a stranger's pid fails its deployment" '[ $status -ne 0 ]'
id=$(last_id)
check "as a protocol violation, said so" 'grep -q "is not a child of it" <<<"$out$(cat $work/daemon.log)"'
sleep 0.5
check "the process it named, and its group, live on" 'kill -0 $victim'
stop_daemon
{ kill -KILL "$victim"; wait "$victim"; } 2>/dev/null; victim=

# --- 4. restart: never and on-failure end a server on purpose: no crash
server once '  command: bash
  args: ["-c", "echo >&5; sleep 0.5; exit 3"]
  readiness: fd
  readiness_fd: 5
  restart: never'
server clean '  command: bash
  args: ["-c", "echo >&5; sleep 0.5; exit 0"]
  readiness: fd
  readiness_fd: 5
  restart: on-failure'
sp=$(spec ends "$(S once)" "$(S clean)")
out=$(mv deploy start "$sp" 2>&1); status=$?
id=$(last_id)
check "servers that end per their policy deploy" '[ $status -eq 0 ]'
check "restart: never: its state is exited, with its status" 'is $id "[s[\"state\"] for s in d[\"servers\"] if s[\"name\"]==\"once\"][0]" exited 5 && [ "$(rf $id "[s[\"last_error\"] for s in d[\"servers\"] if s[\"name\"]==\"once\"][0]")" = "exited with status 3" ]'
check "on-failure after a clean exit: exited too" 'is $id "[s[\"state\"] for s in d[\"servers\"] if s[\"name\"]==\"clean\"][0]" exited 5'
sleep 1
check "and neither is taken for a worker crash" '! events $id | grep -q worker_crashed && [ "$(rf $id "d[\"servers\"][0][\"attempts\"]")" = 1 ]'
check "the end is an event" '[ "$(events $id | grep -c server_finished)" = 2 ]'
mv deploy stop "$id" >/dev/null 2>&1

# --- 5. a server's tree that left its process group with setsid()
server escaper '  command: sh
  args: ["-c", "for i in 1 2 3 4 5 6 7 8 9 10; do setsid sleep 1030 & done; setsid sh -c \"sleep 1031 & wait\" & exec sleep 1032"]'
sp=$(spec escape "$(S escaper)")
mv deploy start "$sp" >/dev/null 2>&1
id=$(last_id)
wait_for '[ "$(pgrep -fc "sleep 103[01]")" = 11 ]' 5
wpid=$(rf "$id" 'd["servers"][0]["worker_pid"]')
# the pids of that tree: the worker's server is started again, anew
tree=$(pgrep -f "sleep 103[012]" | tr '\n' ' ')
kill -KILL "$wpid"
all_gone() { local p; for p in $tree; do kill -0 "$p" 2>/dev/null && return 1; done; return 0; }
check "kill -9 of its worker: nothing setsid'd outlives it" 'wait_for all_gone 5'
# the orphans are mcpvisord's once the worker is gone: reaped, all
zombie_children() { ps -o stat= --ppid "$(pgrep -of "mcpvisord --state-dir $state")" | grep -c "^Z"; }
check "no zombie left (once reaped)" 'wait_for "[ \$(zombie_children) = 0 ]" 2'
mv deploy stop "$id" >/dev/null 2>&1
sp=$(spec escape "$(S escaper)")
mv deploy start "$sp" >/dev/null 2>&1
id=$(last_id)
wait_for '[ "$(pgrep -fc "sleep 103[01]")" = 11 ]' 5
mv deploy stop "$id" >/dev/null 2>&1
check "deploy stop: nothing setsid'd outlives it either" 'wait_for "! pgrep -f \"sleep 103[012]\" >/dev/null" 5'

# --- 6. a worker stopped with SIGSTOP: said, and lost past a grace
server steady '  command: sleep
  args: ["1040"]'
sp=$(spec paused "$(S steady)")
mv deploy start "$sp" >/dev/null 2>&1
id=$(last_id)
wpid=$(rf "$id" 'd["servers"][0]["worker_pid"]')
kill -STOP "$wpid"
check "SIGSTOP of a worker is an event" 'wait_for "events $id | grep -q worker_stopped" 5'
kill -CONT "$wpid"
check "and SIGCONT another" 'wait_for "events $id | grep -q worker_continued" 5'
spid=$(pgrep -f "sleep 1040")
kill -STOP "$wpid"
check "a worker stopped past the grace is lost" 'wait_for "events $id | grep -q \"stopped for more than 10 s\"" 25' || {
	events "$id" | tail -12 | cut -c1-240 | sed "s/^/# /"
	ps -o pid,ppid,stat,args -p "$spid,$wpid" | sed "s/^/# /"; }
check "its server killed" 'wait_for "! kill -0 $spid 2>/dev/null" 5' || {
	ps -o pid,ppid,stat,args -p "$spid,$wpid" | sed "s/^/# /"
	events "$id" | tail -8 | cut -c1-200 | sed "s/^/# /"
	tail -5 "$work/daemon.log" | sed "s/^/# /"; }
check "and brought back" 'wait_for "pgrep -f \"sleep 1040\" >/dev/null" 10 && is $id "d[\"servers\"][0][\"state\"]" ready 5 && [ "$(pgrep -f "sleep 1040")" != "$spid" ]'
mv deploy stop "$id" >/dev/null 2>&1

# --- 14. secrets masked in the worker's own messages, in a server's
# output (a secret cut in two by the pipe, and its base64 form) and in
# mcpvisor health run
export HARD_TOKEN="hard-secret-$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')"
b64=$(printf %s "$HARD_TOKEN" | base64)
printf 'variables: {}\nsecrets:\n  token: HARD_TOKEN\n' > "$cfg/environments/test.yaml"
server leaks-exec '  command: "/nonexistent/{{ env.token }}"'
server leaks-output '  command: sh
  args: ["-c", "printf %s \"${T%??????}\" >&2; sleep 0.3; printf \"%s\\n\" \"${T#${T%??????}}\" >&2; printf \"b64=%s\\n\" \"$B\" >&2; exec sleep 1050"]
  environment: { T: "{{ env.token }}", B: "{{ base64_encode(env.token) }}" }'
mkdir -p "$work/project/health-checks"
cat > "$work/project/health-checks/tells.yaml" <<'YAML'
health_checks:
  - name: "tells"
    type: "command"
    retry_attempts: 0
    critical: false
    config:
      command: "sh"
      args: ["-c", "echo token=$TOKEN; exit 1"]
      environment: { TOKEN: "{{ env.token }}" }
YAML
cat > "$work/project/health-checks/blabs.yaml" <<'YAML'
health_checks:
  - name: "blabs"
    type: "command"
    retry_attempts: 0
    critical: true
    config:
      command: "sh"
      args: ["-c", "echo token=$TOKEN; exit 1"]
      environment: { TOKEN: "{{ env.token }}" }
YAML
server leaks-check '  command: sleep
  args: ["1051"]'
sp=$(spec leaks-exec "  - {name: leaks-exec, retry_attempts: 0}")
mv deploy start "$sp" >/dev/null 2>&1
exec_id=$(last_id)
sp=$(spec leaks-check "  - {name: leaks-check, retry_attempts: 0, health_checks: [blabs]}")
mv deploy start "$sp" >/dev/null 2>&1
check_id=$(last_id)
sp=$(spec leaks "$(S leaks-output)")
mv deploy start "$sp" >/dev/null 2>&1
id=$(last_id)
out="$state/servers/leaks-output/output.log"
check "a server's output: the secret printed in two pieces is masked" 'wait_for "grep -q \"b64=\" $out 2>/dev/null" 10 && ! grep -qF "$HARD_TOKEN" "$out" && grep -q "\*\*\*\*" "$out"'
check "and its base64 form too" '! grep -qF "$b64" "$out"'
check "the worker's own messages (an exec failure, a check's output): masked in the deployment log" 'wait_for "grep -q nonexistent $state/logs/deployment_$exec_id.log" 5 && wait_for "grep -q \"mcpvisor-worker: .*token=\*\*\*\*\" $state/logs/deployment_$check_id.log" 5 && ! grep -qF "$HARD_TOKEN" "$state/logs/deployment_$exec_id.log" "$state/logs/deployment_$check_id.log"'
check "the secret is nowhere in the state directory" '! grep -rqF "$HARD_TOKEN" "$state" && ! grep -rqF "$b64" "$state"'
hr=$(mv --checks-dir "$work/project/health-checks" health run tells --environment test 2>&1)
check "mcpvisor health run: the check's output masked" 'grep -q "token=\*\*\*\*" <<<"$hr" && ! grep -qF "$HARD_TOKEN" <<<"$hr"'
hr=$(mv --checks-dir "$work/project/health-checks" health run tells --environment test --json 2>&1)
check "and with --json" 'grep -q "token=\*\*\*\*" <<<"$hr" && ! grep -qF "$HARD_TOKEN" <<<"$hr"'
mv deploy stop "$id" >/dev/null 2>&1
stop_daemon

# --- 2. a state directory another user can touch is refused (sshd's
# StrictModes); the CLI talks only to mcpvisord as us or root
foreign="$work/foreign"
mkdir -p "$foreign/state" && touch "$foreign/state/planted" && chown -R nobody "$foreign/state"
out=$("$mcpvisord" --state-dir "$foreign/state" --no-monitoring 2>&1); status=$?
check "a state directory of another user, not empty: refused" '[ $status -ne 0 ] && grep -q "owned by uid 65534 and not empty: refused" <<<"$out"'
rm -f "$foreign/state/planted"
"$mcpvisord" --state-dir "$foreign/state" --no-monitoring >"$work/foreign.log" 2>&1 &
fpid=$!
check "empty, it is taken over by root" 'wait_for "[ -S $foreign/state/control.sock ]" 10 && [ "$(stat -c %u:%a "$foreign/state")" = 0:700 ]'
kill -TERM $fpid; wait $fpid 2>/dev/null
mkdir -p "$work/open/state" && chmod 777 "$work/open"
out=$("$mcpvisord" --state-dir "$work/open/state" --no-monitoring 2>&1); status=$?
check "under a parent anyone can write: refused" '[ $status -ne 0 ] && grep -q "$work/open: another user owns it or can write it" <<<"$out"'
chmod 755 "$work/open"
fake="$work/fake"
mkdir -m 700 "$fake"
python3 -c 'import socket,sys,time
s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(4)
c,_=s.accept(); d=c.recv(65536); open(sys.argv[2],"wb").write(d); time.sleep(1)' "$fake/control.sock" "$work/captured" &
wait_for "[ -S $fake/control.sock ]" 5
out=$(HARD_TOKEN=x "$mcpvisor" --state-dir "$fake" deploy stop deploy_20260101_000000000_aaaaaa 2>&1); status=$?
check "a control socket served by something else than mcpvisord: nothing sent" '[ $status -ne 0 ] && grep -q "not by mcpvisord" <<<"$out" && [ ! -s "$work/captured" ]'
kill %% 2>/dev/null; wait 2>/dev/null
rm -f "$fake/control.sock"
python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' "$fake/control.sock"
chown nobody "$fake/control.sock"
out=$("$mcpvisor" --state-dir "$fake" deploy stop deploy_20260101_000000000_aaaaaa 2>&1); status=$?
check "a control socket owned by another user: not even connected to" '[ $status -ne 0 ] && grep -q "not a socket of ours or root" <<<"$out"'

# --- 8. templates that double at every step: refused at the budget
{
	printf 'variables:\n  a0: "%s"\n' "$(head -c 1024 /dev/zero | tr '\0' x)"
	for i in $(seq 1 6); do printf '  a%d: "{{ env.a%d }}{{ env.a%d }}"\n' "$i" $((i - 1)) $((i - 1)); done
} > "$cfg/environments/bomb.yaml"
# 4,000 values of 64 KiB each (every one under the per-template bound):
# 256 MiB from a file of 100 KiB
server bomb "  command: sleep
  args: [\"1060\"]
  environment:
$(for i in $(seq 1 4000); do printf '    V%d: "{{ env.a6 }}"\n' "$i"; done)"
printf 'metadata: {name: bomb, environment: bomb}\nservers:\n  - {name: bomb}\n' > "$work/project/deployments/bomb.yaml"
"$mcpvisord" --state-dir "$state" --no-monitoring >>"$work/daemon.log" 2>&1 &
wait_for "[ -S $state/control.sock ]" 10
out=$(mv deploy start "$work/project/deployments/bomb.yaml" 2>&1); status=$?
check "a deployment whose templates render 256 MiB is refused at 64 MiB, with its file" '[ $status -ne 0 ] && grep -q "render more than 64 MiB together: refused" <<<"$out" && grep -q "bomb.yaml:" <<<"$out"'
check "and mcpvisord stayed small (RSS under 400 MiB)" '[ "$(awk "/^VmHWM/{print \$2}" /proc/$(pgrep -f "mcpvisord --state-dir $state")/status)" -lt 409600 ]'
# under the bound, a heavy one is prepared in a child: the loop answers
# while it renders (a status that says "preparing" could not be had if
# the loop rendered)
{ printf 'name: heavy\nserver_type: test\ntemplates:\n'
  for i in $(seq 1 900); do printf '  v%d: "{{ env.a6 }}"\n' "$i"; done
  printf 'run:\n  command: sleep\n  args: ["1061"]\n  readiness: process\n'; } > "$cfg/servers/heavy.yaml"
printf 'metadata: {name: heavy, environment: bomb}\nservers:\n  - {name: heavy, timeout_seconds: 20}\n' > "$work/project/deployments/heavy.yaml"
python3 - "$state" > "$work/preparing.txt" <<'PY' &
import json, socket, struct, sys, time
def ask(obj):
    s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1] + "/control.sock")
    body = json.dumps(obj).encode()
    s.sendall(b"MV\x01\x20" + struct.pack(">I", len(body)) + body)
    hdr = s.recv(8, socket.MSG_WAITALL); n = struct.unpack(">I", hdr[4:])[0]
    r = json.loads(s.recv(n, socket.MSG_WAITALL)); s.close(); return r
end = time.time() + 20
open(sys.argv[1] + "/../asking", "w").close()
while time.time() < end:
    r = ask({"verb": "status"})
    st = r.get("record", {}).get("state")
    if st == "preparing": print("preparing"); break
    time.sleep(0.002)
PY
asker=$!
wait_for "[ -e $work/asking ]" 10
out=$(mv deploy start "$work/project/deployments/heavy.yaml" 2>&1); status=$?
wait $asker
check "57 MiB of templates deploy, rendered in a child (exit $status)" '[ $status -eq 0 ] && pgrep -f "sleep 1061" >/dev/null'
check "while it rendered, mcpvisord answered (status: preparing)" 'grep -qx preparing "$work/preparing.txt"'
mv deploy stop "$(last_id)" >/dev/null 2>&1
stop_daemon

# --- the fork server: workers are cloned from it as mcpvisord's own
# children; killed, workers are exec'd until it is back; --no-fork-server
# execs them all, and a --worker that is no fork server is found out
# (section 1 above: its liar was exec'd for every worker)
server clone1 '  command: sleep
  args: ["1031"]'
server clone2 '  command: sleep
  args: ["1032"]'
"$mcpvisord" --state-dir "$state" --config-dir "$cfg" --no-monitoring >>"$work/daemon.log" 2>&1 &
wait_for "[ -S $state/control.sock ]" 10
dpid=$(pgrep -f "mcpvisord --state-dir $state" | head -1)
sp=$(spec cloned "$(S clone1)" "$(S clone2)")
mv deploy start "$sp" >/dev/null 2>&1
fs=$(pgrep -P "$dpid" -f mcpvisor-forkserver)
check "a fork server runs beside the workers, a child of mcpvisord" '[ -n "$fs" ] && [ "$(cat /proc/$fs/comm)" = mcpvisor-fork ]'
wk=$(pgrep -P "$dpid" -x mcpvisor-worker | head -1)
check "a worker is mcpvisord's child, named and shown as a worker" '[ -n "$wk" ] && [ "$(tr "\0" " " </proc/$wk/cmdline | tr -s " ")" = "mcpvisor-worker " ] && [ "$(readlink /proc/$wk/exe)" = "$build/mcpvisor-worker" ]'
check "and shares the fork server's pages (its RELRO is not its own)" 'awk "/^[0-9a-f]+-.* r--p .*libc.so/{m=1} m && /^Shared_Dirty:/{s += \$2; m=0} END {exit !(s > 0)}" /proc/$wk/smaps'
cur=$(last_id)
kill -KILL "$fs"
server clone3 '  command: sleep
  args: ["1033"]'
sp2=$(stack=cloned spec cloned2 "$(S clone1)" "$(S clone2)" "$(S clone3)")
out=$(mv deploy start "$sp2" 2>&1); status=$?
check "fork server killed: the next deployment still succeeds (its workers exec'd)" '[ $status -eq 0 ]'
check "and the loss is said" 'grep -q "fork server $fs: exited (signal 9): workers are exec.d meanwhile" "$work/daemon.log"'
sleep 1.1
# (recreated: an apply would keep every worker, and start none)
mv deploy start "$sp" --force-recreate >/dev/null 2>&1
fs2=$(pgrep -P "$dpid" -f mcpvisor-forkserver)
check "a second later it is back for the next workers" '[ -n "$fs2" ] && [ "$fs2" != "$fs" ]'
check "no worker is taken for an orphan and killed" '! grep -q "worker_crashed" "$state/events.journal" || ! events "$(last_id)" | grep -q worker_crashed'
stop_daemon
check "stopped: the fork server goes with mcpvisord" 'wait_for "! kill -0 $fs2 2>/dev/null" 5'
"$mcpvisord" --state-dir "$state" --config-dir "$cfg" --no-monitoring --no-fork-server >>"$work/daemon.log" 2>&1 &
wait_for "[ -S $state/control.sock ]" 10
dpid=$(pgrep -f "mcpvisord --state-dir $state" | head -1)
out=$(mv deploy start "$sp" 2>&1); status=$?
check "--no-fork-server: deployed with every worker exec'd, no fork server" '[ $status -eq 0 ] && ! pgrep -P "$dpid" -f mcpvisor-forkserver >/dev/null && [ "$(pgrep -P "$dpid" -x mcpvisor-worker | wc -l)" -eq 2 ]'
stop_daemon

# --- 7. every control request is checked against its documented shape
"$mcpvisord" --state-dir "$state" --no-monitoring >>"$work/daemon.log" 2>&1 &
wait_for "[ -S $state/control.sock ]" 10
ask() { python3 - "$state" "$1" <<'PY'
import json, socket, struct, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1] + "/control.sock")
body = sys.argv[2].encode()
s.sendall(b"MV\x01\x20" + struct.pack(">I", len(body)) + body)
while True:
    hdr = s.recv(8, socket.MSG_WAITALL)
    n = struct.unpack(">I", hdr[4:])[0]
    d = s.recv(n, socket.MSG_WAITALL) if n else b""
    if hdr[3] == 33:
        r = json.loads(d); print(r.get("code", "ok"), r.get("error", "")); break
PY
}
check "a stop without an id is refused, not taken for the active one" '[ "$(ask "{\"verb\":\"stop\"}")" = "usage stop needs '"'"'id'"'"'" ]'
check "an unknown key is refused" '[ "$(ask "{\"verb\":\"ping\",\"x\":1}")" = "usage ping takes no key '"'"'x'"'"'" ]'
check "a key of the wrong type is refused" '[ "$(ask "{\"verb\":\"deploy\",\"spec\":1,\"config_dir\":\"/\"}")" = "usage deploy: '"'"'spec'"'"' must be a string" ]'
check "a request that is not an object is refused" 'ask "[1]" | grep -q "^usage a request is a JSON object"'

# --- 9. out of descriptors, the daemon does not spin on its listener
dpid=$(pgrep -f "mcpvisord --state-dir $state")
prlimit --pid "$dpid" --nofile=40:1024
python3 - "$state" "$work/emfile.json" <<'PY' &
import json, os, socket, sys, time
socks = []
for _ in range(80):
    s = socket.socket(socket.AF_UNIX)
    try: s.connect(sys.argv[1] + "/control.sock")
    except OSError: break
    socks.append(s)
time.sleep(3)
json.dump({"held": len(socks)}, open(sys.argv[2], "w"))
time.sleep(1)
PY
holder=$!
sleep 1
t0=$(awk '{print $14 + $15}' /proc/$dpid/stat); sleep 2; t1=$(awk '{print $14 + $15}' /proc/$dpid/stat)
echo "# mcpvisord CPU while out of descriptors: $((t1 - t0)) ticks in 2 s"
check "at EMFILE mcpvisord sleeps (under a quarter of a CPU), and says so once" '[ $((t1 - t0)) -lt 50 ] && [ "$(grep -c "out of descriptors" "$work/daemon.log")" = 1 ]'
wait $holder
prlimit --pid "$dpid" --nofile=1024:1024
check "and serves again once descriptors are free" 'ask "{\"verb\":\"ping\"}" | grep -q "^ok"'
stop_daemon

# --- 15. a second TERM during the ordered stop kills what is left
server stubborn '  command: sh
  args: ["-c", "trap \"\" TERM; while :; do sleep 0.1; done"]
  stop_timeout_seconds: 30'
"$mcpvisord" --state-dir "$state" --no-monitoring --grace 60 >>"$work/daemon.log" 2>&1 &
dpid=$!
wait_for "[ -S $state/control.sock ]" 10
sp=$(spec stubborn "$(S stubborn)")
mv deploy start "$sp" >/dev/null 2>&1
kill -TERM $dpid
sleep 1
check "the first TERM: an ordered stop, waiting for a server that ignores it" 'kill -0 $dpid'
kill -TERM $dpid
check "a second TERM: what is left is killed at once, and mcpvisord exits" 'wait_for "! kill -0 $dpid 2>/dev/null" 5 && wait_for "! pgrep -f \"trap .. TERM\" >/dev/null" 5'
wait $dpid 2>/dev/null

# --- 3, 12, 13, 15. state read from disk: ids, damage, what is not a file
sp=$(spec keep "$(S steady)")
mv deploy start "$sp" >/dev/null 2>&1
id=$(last_id)
pkill -KILL -f "mcpvisord --state-dir $state"
wait_for '! pgrep -f "sleep 1040" >/dev/null' 5
truncate -s 20 "$state/deployments/$id.json"
printf '{"id":"../../planted","state":"running","spec":"/x","config_dir":"/"}' > "$state/deployments/deploy_20260101_000000000_abcdef.json"
"$mcpvisord" --state-dir "$state" --no-monitoring >>"$work/daemon.log" 2>&1 &
wait_for "[ -S $state/control.sock ]" 10
check "a torn record of the active deployment: its previous version is used, and said" 'wait_for "grep -q \"$id.json: truncated or not JSON: its previous version is used\" $state/events.journal" 5'
check "and it is recovered from it (interrupted), not left out" 'wait_for "grep -q \"$id: mcpvisord stopped while it was running\" $state/events.journal" 5 && mv deploy list --all --limit 100 | grep -q "^$id .* done *interrupted"'
check "a planted id is never a path" '[ ! -e "$work/planted.json" ] && [ ! -e "$state/planted.json" ] && grep -q "deploy_20260101_000000000_abcdef.json: its id is not its file.s name" "$state/events.journal"'
check "deploy list shows what it could not read" 'mv deploy list --all --limit 100 | grep -q "^deploy_20260101_000000000_abcdef *damaged: its id is not its file.s name"'
out=$(mv deploy status "deploy_../x" 2>&1); status=$?
check "an invalid id is said to be one" '[ $status -eq 2 ] && grep -q "invalid deployment id" <<<"$out"'
out=$(mv rollback status "nope" 2>&1)
check "the same for a rollback id" 'grep -q "invalid rollback id" <<<"$out"'
printf '{"id":"deploy_20260101_000000000_eeeeee","state":3,"servers":[{"name":"a","state":"ready","attempts":-2147483648}]}' > "$state/deployments/deploy_20260101_000000000_eeeeee.json"
out=$(mv deploy status deploy_20260101_000000000_eeeeee 2>&1)
check "a record of the wrong shape: damaged, and which field" 'grep -q "its record is damaged: field .state. is missing or not a string" <<<"$out" && ! grep -q "(null)" <<<"$out"'
printf '{"id":"deploy_20260101_000000000_eeeeee","state":"done","servers":[{"name":"a","state":"ready","attempts":-2147483648}]}' > "$state/deployments/deploy_20260101_000000000_eeeeee.json"
out=$(mv deploy status deploy_20260101_000000000_eeeeee 2>&1)
check "a field of a server too" 'grep -q "field .servers\[0\].attempts. is not a whole number" <<<"$out"'
printf '{"id":"deploy_2026' > "$state/deployments/deploy_20260101_000000000_ffffff.json"
out=$(mv deploy status deploy_20260101_000000000_ffffff 2>&1)
check "a truncated record with no previous version: damaged, not missing" 'grep -q "its record is damaged (truncated or not JSON)" <<<"$out"'
stop_daemon
fifo_state="$work/fifo-state"
mkdir -m 700 "$fifo_state" && mkfifo "$fifo_state/events.journal"
out=$(timeout 10 "$mcpvisord" --state-dir "$fifo_state" --no-monitoring 2>&1); status=$?
check "a FIFO at events.journal: a clear startup error, at once" '[ $status -ne 0 ] && [ $status -ne 124 ] && grep -q "events.journal: not a regular file" <<<"$out"'

# --- require_mfa: a two-person rule. A deployment to that environment is
# prepared and held; its requester cannot approve it; another user of
# the approvers' group can, and may do nothing else
mfa_state=$(mktemp -d /tmp/mcpvisor-mfa.XXXXXX)
printf 'variables: {}\nsecurity_policies:\n  require_mfa: true\n  audit_logging: true\n' > "$cfg/environments/guarded.yaml"
server guarded '  command: sleep
  args: ["1070"]'
printf 'metadata: {name: guarded, environment: guarded}\nservers:\n  - {name: guarded}\n' > "$work/project/deployments/guarded.yaml"
"$mcpvisord" --state-dir "$mfa_state" --no-monitoring --approvers-group nogroup >>"$work/mfa.log" 2>&1 &
wait_for "[ -S $mfa_state/control.sock ]" 10
mmv() { "$mcpvisor" --config-dir "$cfg" --state-dir "$mfa_state" "$@"; }
out=$(mmv deploy start "$work/project/deployments/guarded.yaml" --detach 2>&1); status=$?
mid=$(mmv deploy list --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
check "require_mfa: the deployment is prepared and held, nothing started" '[ $status -eq 0 ] && wait_for "[ \"\$(field $mfa_state/deployments/$mid.json "d[\\\"state\\\"]")\" = awaiting_approval ]" 10 && ! pgrep -f "sleep 1070" >/dev/null'
check "require_mfa: the socket reaches the approvers' group, and only it" '[ "$(stat -c "%a %G" "$mfa_state/control.sock")" = "660 nogroup" ] && [ "$(stat -c "%a %G" "$mfa_state")" = "710 nogroup" ]'
out=$(mmv deploy approve "$mid" 2>&1); status=$?
check "require_mfa: whoever started it cannot approve it" '[ $status -eq 1 ] && grep -q "needs the approval of another user" <<<"$out" && ! pgrep -f "sleep 1070" >/dev/null'
out=$(runuser -u nobody -- "$mcpvisor" --state-dir "$mfa_state" deploy stop "$mid" 2>&1); status=$?
check "require_mfa: an approver may do nothing else" '[ $status -ne 0 ] && grep -q "may only approve" <<<"$out"'
out=$(runuser -u nobody -- "$mcpvisor" --state-dir "$mfa_state" deploy approve "$mid" 2>&1); status=$?
check "require_mfa: another user approves it, and it deploys" '[ $status -eq 0 ] && wait_for "pgrep -f \"sleep 1070\" >/dev/null" 10 && grep -q "deployment_approved.*approved by uid $(id -u nobody)" "$mfa_state/logs/deployment_$mid.log"'
mmv deploy stop "$mid" >/dev/null 2>&1
audit="$mfa_state/logs/audit.log"
actions=$(python3 -c 'import json,sys
print(",".join("%s:%s" % (l["action"], l.get("uid", l.get("by"))) for l in map(json.loads, open(sys.argv[1])) if l["deployment_id"] == sys.argv[2]))' "$audit" "$mid" 2>/dev/null)
check "audit_logging: who did what, in logs/audit.log (0600)" '[ "$actions" = "requested:0,held:mcpvisord,approval_refused:0,approved:$(id -u nobody),stop_requested:0,finished:mcpvisord" ] && [ "$(stat -c %a "$audit")" = 600 ]' || echo "# audit: $actions"
pkill -TERM -f "mcpvisord --state-dir $mfa_state"
wait_for "! pgrep -f \"mcpvisord --state-dir $mfa_state\" >/dev/null" 10
rm -rf "$mfa_state"

echo "# $passed passed, $failed failed"
[ "$failed" -eq 0 ]
