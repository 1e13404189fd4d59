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
check() { if eval "$2"; then ok "$1"; else bad "$1"; fi; }
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
server() { printf 'name: %s\nserver_type: test\nrun:\n%s\n' "$1" "$2" > "$cfg/servers/$1.yaml"; }
spec() {
	local name=$1; shift
	{ printf 'metadata: {name: %s, environment: test}\nservers:\n' "$name"; printf '%s\n' "$@"; } > "$work/project/deployments/$name.yaml"
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
frame(1, struct.pack(">I", os.getpid()))
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
kill -KILL "$wpid"
check "kill -9 of its worker: nothing setsid'd outlives it" 'wait_for "! pgrep -f \"sleep 103[012]\" >/dev/null" 5'
check "no zombie left" '! ps -eo stat,args | grep -q "^Z.*sleep 103"'
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
kill -STOP "$wpid"
check "a worker stopped past the grace is lost, its server killed" 'wait_for "events $id | grep -q \"stopped for more than 10 s\"" 15 && wait_for "! pgrep -f \"sleep 1040\" >/dev/null" 5'
check "and brought back" 'wait_for "pgrep -f \"sleep 1040\" >/dev/null" 10 && is $id "d[\"servers\"][0][\"state\"]" ready 5'
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
sp=$(spec leaks "$(S leaks-output)" "  - {name: leaks-exec, retry_attempts: 0}")
mv deploy start "$sp" >/dev/null 2>&1
id=$(last_id)
out="$state/servers/leaks-output/output.log"
check "a server's output: the secret printed in two pieces is masked" 'wait_for "grep -q \"b64=\" $out 2>/dev/null" 10 && ! grep -qF "$HARD_TOKEN" "$out" && grep -q "\*\*\*\*" "$out"'
check "and its base64 form too" '! grep -qF "$b64" "$out"'
check "the worker's own message of an exec failure: masked in the deployment log" 'grep -q "nonexistent" "$state/logs/deployment_$id.log" && ! grep -qF "$HARD_TOKEN" "$state/logs/deployment_$id.log"'
check "the secret is nowhere in the state directory" '! grep -rqF "$HARD_TOKEN" "$state" && ! grep -rqF "$b64" "$state"'
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
hr=$(mv --checks-dir "$work/project/health-checks" health run tells --environment test 2>&1)
check "mcpvisor health run: the check's output masked" 'grep -q "token=\*\*\*\*" <<<"$hr" && ! grep -qF "$HARD_TOKEN" <<<"$hr"'
hr=$(mv --checks-dir "$work/project/health-checks" health run tells --environment test --json 2>&1)
check "and with --json" 'grep -q "token=\*\*\*\*" <<<"$hr" && ! grep -qF "$HARD_TOKEN" <<<"$hr"'
mv deploy stop "$id" >/dev/null 2>&1
stop_daemon

echo "# $passed passed, $failed failed"
[ "$failed" -eq 0 ]
