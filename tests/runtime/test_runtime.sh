#!/usr/bin/env bash
# End-to-end tests of mcpvisord, mcpvisor-worker and the CLI with real
# processes: small servers made of sh and sleep in a fixture project, and
# the demo deployment of the official MCP reference servers from npm.
# Usage: test_runtime.sh BUILD_DIR SOURCE_DIR
set -u
build=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)
mcpvisor="$build/mcpvisor"
mcpvisord="$build/mcpvisord"
work=$(mktemp -d "${TMPDIR:-/tmp}/mcpvisor-rt.XXXXXX")
passed=0 failed=0

cleanup() {
	pkill -KILL -f "mcpvisord --state-dir $work" 2>/dev/null
	pkill -KILL -f "mcpvisord --init $work" 2>/dev/null
	pkill -KILL -f "$work/" 2>/dev/null
	# KEEP=1 leaves the logs and state for a look
	[ -n "${KEEP:-}" ] && echo "# kept $work" || rm -rf "$work"
}
trap cleanup EXIT

ok()  { passed=$((passed + 1)); echo "ok - $1"; }
bad() { failed=$((failed + 1)); echo "FAIL - $1"; }
check() { if eval "$2"; then ok "$1"; else bad "$1"; fi; }
# field FILE EXPR: EXPR over the JSON in FILE, as d
field() { python3 - "$1" "$2" 2>/dev/null <<'PY'
import json, sys
print(eval(sys.argv[2], {"d": json.load(open(sys.argv[1]))}))
PY
}
now_ms() { date +%s%3N; }

# waits up to $2 seconds for the shell condition $1
wait_for() {
	local i
	for ((i = 0; i < $2 * 20; i++)); do eval "$1" && return 0; sleep 0.05; done
	return 1
}

# --- a fixture project of small servers
cfg="$work/project/config"
mkdir -p "$cfg/environments" "$cfg/servers" "$work/project/deployments" "$work/data"
cat > "$cfg/environments/test.yaml" <<YAML
variables:
  data: "$work/data"
secrets:
  token: TEST_TOKEN
# every snapshot of these tests is sealed (and every restore opens it)
security_policies:
  encrypt_at_rest: true
YAML
. "$(dirname "$0")/../lib/server_file.sh"
# the servers' one writable place (their view hides the rest of $work)
server_sandbox="  writable_paths: [\"$work/data\"]"
server fast '  command: sleep
  args: ["1000"]'
server slow '  command: bash
  args: ["-c", "sleep 1.5; echo >&5; exec sleep 1000"]
  readiness: fd
  readiness_fd: 5'
# ready only after long enough that a test can act on it while it starts,
# however loaded the machine
server stalling '  command: bash
  args: ["-c", "sleep 7321; echo >&5; exec sleep 1000"]
  readiness: fd
  readiness_fd: 5'
server after-slow '  command: sleep
  args: ["1001"]'
server broken '  command: /nonexistent/server'
server flaky "  command: sh
  args: [\"-c\", \"n=\$(cat count 2>/dev/null || echo 0); echo \$((n+1)) > count; [ \$n -ge 1 ] && { echo >&5; exec sleep 1000; }; exit 1\"]
  working_directory: \"{{ env.data }}\"
  readiness: fd
  readiness_fd: 5"
server crashy '  command: sh
  args: ["-c", "sleep 0.3; exit 1"]
  restart: on-failure
  restart_delay_ms: 10
  max_deaths: 3'
server stubborn '  command: sh
  args: ["-c", "trap \"\" TERM; while :; do sleep 0.1; done"]
  stop_timeout_seconds: 30'
server secretive '  command: sleep
  args: ["1002"]
  environment:
    TOKEN: "{{ env.token }}"'
server hupper "  command: sh
  args: [\"-c\", \"trap 'echo usr1 >> usr1' USR1; while :; do sleep 0.05; done\"]
  working_directory: \"{{ env.data }}\""
server orphaner '  command: sh
  args: ["-c", "sleep 1003 & sleep 1003 & exec sleep 1003"]'

spec() { # name, then server entries; $stack: its stack, when not name
	local name=$1; shift
	{ printf 'metadata: {name: %s, environment: test}\nservers:\n' "${stack:-$name}"; printf '%s\n' "$@"; } > "$work/project/deployments/$name.yaml"
	echo "$work/project/deployments/$name.yaml"
}
S() { printf '  - {name: %s, parallel_safe: true, timeout_seconds: 20, retry_attempts: %s%s}' "$1" "${2:-0}" "${3:+, $3}"; }

state="$work/state"
# rf ID EXPR: a field of deployment ID's record
rf() { field "$state/deployments/$1.json" "$2"; }
# is ID EXPR VALUE SECONDS: waits until the field has the value
is() { wait_for "[ \"\$(rf $1 '$2')\" = '$3' ]" "$4"; }
mv() { "$mcpvisor" --config-dir "$cfg" --state-dir "$state" "$@"; }
last_id() { mv deploy list --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])'; }
record() { echo "$state/deployments/$1.json"; }
events() { grep -F "\"deployment_id\":\"$1\"" "$state/events.journal"; }
stop_daemon() { pkill -TERM -f "mcpvisord --state-dir $state" 2>/dev/null; wait_for '! pgrep -f "mcpvisord --state-dir $state" >/dev/null' 10; }

# --- 1. dependencies: a dependent starts only once its dependency is ready
sp=$(spec order "$(S slow)" "$(S after-slow 0 'dependencies: [slow]')")
# the daemon this starts must not keep its first caller's environment
caller_secret="caller-$(head -c 9 /dev/urandom | od -An -tx1 | tr -d ' \n')"
out=$(CALLER_SECRET=$caller_secret mv deploy start "$sp" 2>&1); status=$?
check "ordered deployment succeeds" '[ $status -eq 0 ]'
dpid=$(pgrep -f "mcpvisord --state-dir $state" | head -1)
check "the daemon deploy start started keeps none of the caller's secrets in its environment" '[ -n "$dpid" ] && tr "\0" "\n" < /proc/$dpid/environ | grep -q "^PATH=" && ! grep -qF "$caller_secret" /proc/$dpid/environ'
id=$(last_id)
ready_seq=$(events "$id" | python3 -c 'import json,sys
for l in sys.stdin:
    e=json.loads(l)
    if e["event_type"]=="server_ready" and e.get("server_name")=="slow": print(e["seq"])')
start_seq=$(events "$id" | python3 -c 'import json,sys
for l in sys.stdin:
    e=json.loads(l)
    if e["event_type"]=="server_started" and e.get("server_name")=="after-slow": print(e["seq"])')
check "after-slow started after slow was ready" '[ -n "$ready_seq" ] && [ -n "$start_seq" ] && [ "$start_seq" -gt "$ready_seq" ]'
check "the record says succeeded" 'is $id "d[\"outcome\"]" succeeded 1'
check "control socket is private" '[ "$(stat -c %a "$state/control.sock")" = 600 ] && [ "$(stat -c %a "$state")" = 700 ]'
mv deploy stop "$id" >/dev/null 2>&1
check "stopped: its servers are gone" 'wait_for "! pgrep -f \"sleep 100[01]\" >/dev/null" 5'
# The processes vanish a moment before their exits are journaled: wait for
# both records, then compare their order.
exit_order() { events "$id" | python3 -c 'import json,sys
print(",".join(json.loads(l)["server_name"] for l in sys.stdin if json.loads(l)["event_type"]=="server_exited"))'; }
wait_for '[ "$(exit_order | tr "," "\n" | grep -c .)" -ge 2 ]' 5
check "stop order is reverse: after-slow exited before slow" '[ "$(exit_order)" = "after-slow,slow" ]'

# --- 2. retries with back-off, then success
sp=$(spec retry "$(S flaky 2)")
mv deploy start "$sp" >/dev/null 2>&1; status=$?
id=$(last_id)
check "a flaky server is retried and deploys" '[ $status -eq 0 ]'
check "the retry is an event" 'events "$id" | grep -q server_retry'
check "attempts are recorded" 'is $id "d[\"servers\"][0][\"attempts\"]" 2 1'
mv deploy stop "$id" >/dev/null 2>&1

# --- 3. a server that cannot start fails the deployment with its reason
sp=$(spec broken "$(S fast)" "$(S broken 1 'dependencies: [fast]')")
out=$(mv deploy start "$sp" 2>&1); status=$?
id=$(last_id)
check "a broken server fails the deployment (exit 1)" '[ $status -eq 1 ]'
check "with the reason" 'grep -q "cannot execute /nonexistent/server: No such file or directory" <<<"$out"'
check "and what started is stopped" 'wait_for "! pgrep -f \"sleep 1000\" >/dev/null" 5'
check "record: failed, with the failure" 'is $id "d[\"outcome\"]" failed 1 && rf $id "d[\"failure\"]" | grep -q nonexistent'

# --- 3b. readiness means something: a server with no checks that exits
# at once (status 3) is not ready; its attempts are retried, then the
# deployment fails and what it replaced comes back
printf 'name: quitter\nserver_type: test\nbase_config:\n  mode: "{{ env('"'"'QUIT_MODE'"'"') or '"'"'stay'"'"' }}"\nrun:\n  command: sh\n  args: ["-c", "echo start >> starts; [ {{ config.mode }} = quit ] && exit 3; exec sleep 1011"]\n  working_directory: "{{ env.data }}"\n  readiness: process\nsandbox:\n%s\n' "$server_sandbox" > "$cfg/servers/quitter.yaml"
rm -f "$work/data/starts"
sp=$(spec quitting "$(S quitter 2)")
out=$(QUIT_MODE=quit mv deploy start "$sp" 2>&1); status=$?
id=$(last_id)
check "readiness: a server that exits at once with status 3 fails the deployment (exit 1)" '[ $status -eq 1 ] && is $id "d[\"outcome\"]" failed 1'
check "readiness: every attempt was made (retry_attempts 2: three starts)" '[ "$(wc -l < "$work/data/starts")" = 3 ]'
check "readiness: in its words" 'grep -q "exited with status 3 before it was ready" <<<"$out" && ! events $id | grep -q "\"event_type\":\"server_ready\""'
t0=$(now_ms)
mv deploy start "$sp" >/dev/null 2>&1; status=$?
t1=$(now_ms)
check "readiness: one that stays up is ready after run.start_seconds (1 by default)" '[ $status -eq 0 ] && [ $((t1 - t0)) -ge 1000 ]'
good_id=$(last_id)
out=$(QUIT_MODE=quit mv deploy start "$sp" 2>&1); status=$?
check "readiness: an upgrade to a version that exits at once fails and is rolled back" '[ $status -ne 0 ] && grep -qi "roll" <<<"$out" && wait_for "pgrep -f \"sleep 1011\" >/dev/null" 10'
mv deploy stop "$good_id" >/dev/null 2>&1
wait_for '! pgrep -f "sleep 1011" >/dev/null' 5

# --- 3c. --verbose (after the verb, as the guide's automation form has
# it): debug events in the live tail and in that deployment's logs
sp=$(spec chatty "$(S fast)")
out=$(mv deploy start "$sp" --verbose 2>&1); status=$?
vid=$(last_id)
check "--verbose: the live tail shows the debug events" '[ $status -eq 0 ] && grep -q "worker_started *worker [0-9]* for attempt 1 of 1" <<<"$out" && grep -q sandbox_applied <<<"$out"'
check "--verbose: so do the deployment's log and mcpvisord's" 'grep -q worker_started "$state/logs/deployment_$vid.log" && grep -q "$vid fast: worker_started" "$state/logs/mcpvisord.log"'
mv deploy stop "$vid" >/dev/null 2>&1
out=$(mv deploy start "$sp" 2>&1)
qid=$(last_id)
check "without --verbose, neither shows them" '! grep -q -e worker_started -e sandbox_applied <<<"$out" && ! grep -q worker_started "$state/logs/deployment_$qid.log" && ! grep -q "$qid fast: worker_started" "$state/logs/mcpvisord.log"'
check "the journal has them either way, marked debug" 'events $qid | grep -q "\"event_type\":\"worker_started\",\"level\":\"debug\""'
mv deploy stop "$qid" >/dev/null 2>&1
wait_for '! pgrep -f "sleep 1000" >/dev/null' 5

# --- 4. after success, a crash loop ends in a visible failed state
sp=$(spec crash "$(S crashy)")
mv deploy start "$sp" >/dev/null 2>&1
id=$(last_id)
check "crash loop reported" 'wait_for "events $id | grep -q crash-loop" 10'
check "the server is failed, visibly" 'is $id "d[\"servers\"][0][\"state\"]" failed 5'
check "restarts were counted" '[ "$(rf $id "d[\"servers\"][0][\"restarts\"]")" -ge 2 ]'
mv deploy stop "$id" >/dev/null 2>&1

# --- 5. kill -9 of a worker mid-deployment: a recorded failure
sp=$(spec workerkill "$(S stalling)")
mv deploy start --detach "$sp" >/dev/null 2>&1
id=$(last_id)
wait_for "[ -n \"\$(rf $id 'd[\"servers\"][0].get(\"worker_pid\",\"\")')\" ]" 15
wpid=$(rf "$id" 'd["servers"][0]["worker_pid"]')
t0=$(now_ms); kill -9 "$wpid"
check "worker crash recorded as the deployment's failure" 'is $id "d[\"outcome\"]" failed 5'
t1=$(events "$id" | python3 -c 'import json,sys,datetime
for l in sys.stdin:
    e=json.loads(l)
    if e["event_type"]=="deployment_failed":
        t=datetime.datetime.strptime(e["timestamp"],"%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
        print(int(t.timestamp()*1000))')
echo "# worker kill -9 -> deployment_failed recorded: $((t1 - t0)) ms (wall clock, ms resolution)"
check "the failure names the worker" 'rf $id "d[\"failure\"]" | grep -q "worker $wpid"'
check "its server did not survive" 'wait_for "! pgrep -f \"sleep 7321\" >/dev/null" 5'

# --- 6. secrets reach the server, never the state directory
export TEST_TOKEN="tok-$(head -c 9 /dev/urandom | od -An -tx1 | tr -d ' \n')"
mkdir -p "$work/project/health-checks"
# a careless check that prints the secret it was given: its report is
# scrubbed before it reaches an event, a log or a record
cat > "$work/project/health-checks/leaky.yaml" <<'YAML'
health_checks:
  - name: "leaky"
    type: "command"
    retry_attempts: 0
    critical: false
    config:
      command: "sh"
      args: ["-c", "echo token=$TOKEN; exit 1"]
      environment: { TOKEN: "{{ env.token }}" }
YAML
sp=$(spec secret "$(S secretive 0 'health_checks: [leaky]')")
mv deploy start "$sp" >/dev/null 2>&1
id=$(last_id)
check "the leaky check ran, its output scrubbed" 'rf $id "d[\"servers\"][0][\"health\"][\"leaky\"][\"message\"]" | grep -q "token=\*\*\*\*"'
spid=$(rf "$id" 'd["servers"][0]["server_pid"]')
wkpid=$(rf "$id" 'd["servers"][0]["worker_pid"]')
check "the server got its secret" 'tr "\0" "\n" < /proc/$spid/environ | grep -qx "TOKEN=$TEST_TOKEN"'
check "the secret is nowhere in the state directory" '! grep -rqF "$TEST_TOKEN" "$state"'
check "nor in a worker's command line or environment" '! cat /proc/$wkpid/cmdline /proc/$wkpid/environ | tr "\0" "\n" | grep -qF "$TEST_TOKEN"'
mv deploy stop "$id" >/dev/null 2>&1
unset TEST_TOKEN

# --- 7. kill -9 of mcpvisord: nothing outlives it, no record is lost,
#        and a restart brings back the last successful deployment
sp=$(spec restore "$(S fast)")
mv deploy start "$sp" >/dev/null 2>&1
id=$(last_id)
dpid=$(pgrep -f "mcpvisord --state-dir $state")
kill -9 "$dpid"
check "servers stop when mcpvisord dies" 'wait_for "! pgrep -f \"sleep 1000\" >/dev/null" 5'
check "its record survived, whole" '[ "$(rf $id "d[\"id\"]")" = "$id" ]'
check "no temporary file left behind" '[ -z "$(find "$state" -name "*.tmp.*")" ]'
"$mcpvisord" --state-dir "$state" >>"$work/daemon.log" 2>&1 &
check "the restart marks it interrupted" 'is $id "d[\"outcome\"]" interrupted 5'
check "and brings it back" 'wait_for "pgrep -f \"sleep 1000\" >/dev/null" 5'
new=$(last_id)
check "as a new deployment that succeeded" 'is $new "d[\"outcome\"]" succeeded 5 && [ "$new" != "$id" ]'
mv deploy stop "$new" >/dev/null 2>&1
stop_daemon

# --- 8. kill -9 of mcpvisord in the middle of a deployment
# (its server not ready for as long as the test takes, however loaded the
# machine: the kill comes once the record says the deployment runs)
sp=$(spec midway "$(S stalling)")
mv deploy start --detach "$sp" >/dev/null 2>&1
id=$(last_id)
is "$id" 'd["state"]' running 10
pkill -9 -f "mcpvisord --state-dir $state"
check "mid-deployment: no orphan server" 'wait_for "! pgrep -f \"sleep 7321\" >/dev/null" 5'
check "mid-deployment: the record is there" 'is $id "d[\"state\"]" running 1'
"$mcpvisord" --state-dir "$state" >>"$work/daemon.log" 2>&1 &
check "after restart it is reported interrupted" 'is $id "d[\"outcome\"]" interrupted 5'
stop_daemon

# --- hooks, in a copy of the project
hk="$work/hooked"
mkdir -p "$hk"; cp -r "$work/project/config" "$work/project/deployments" "$hk/"
hcfg="$hk/config"
hook() { # phase, name, body
	mkdir -p "$hcfg/hooks/$1.d"
	printf '#!/bin/sh\n%s\n' "$3" > "$hcfg/hooks/$1.d/$2"
	chmod +x "$hcfg/hooks/$1.d/$2"
}
hmv() { "$mcpvisor" --config-dir "$hcfg" --state-dir "$state" "$@"; }
# a pre-validation hook may write the very files that are then loaded
hook pre-validation 10-generate "echo 'generating servers from the inventory'; printf 'name: generated\nserver_type: test\nrun:\n  command: sleep\n  args: [\"1004\"]\n  readiness: process\n' > \"\$MCPVISOR_CONFIG_DIR/servers/generated.yaml\""
hook post-deploy 10-record "env | grep ^MCPVISOR_ | sort > $hk/post-env; cat > $hk/post-stdin"
printf 'metadata: {name: gen, environment: test}\nservers:\n  - {name: generated}\n' > "$hk/deployments/gen.yaml"
out=$(hmv deploy start "$hk/deployments/gen.yaml" 2>&1); status=$?
id=$(last_id)
check "hooks: a server written by a pre-validation hook deploys" '[ $status -eq 0 ] && pgrep -f "sleep 1004" >/dev/null'
check "hooks: what the pre-validation hook prints is in the live tail" 'grep -q "hook_output.*10-generate: generating servers from the inventory" <<<"$out"'
check "hooks: post-deploy sees the deployment in its environment" 'wait_for "grep -qx MCPVISOR_DEPLOYMENT_ID=$id $hk/post-env 2>/dev/null" 5 && grep -qx MCPVISOR_PHASE=post-deploy "$hk/post-env"'
check "hooks: and as JSON on stdin" 'wait_for "[ \"\$(field $hk/post-stdin \"d[\\\"deployment\\\"][\\\"id\\\"]\")\" = $id ]" 5'
hmv deploy stop "$id" >/dev/null 2>&1
# a failing pre-deploy hook stops the deployment with its message
hook pre-deploy 20-refuse 'echo "maintenance window closed" >&2; exit 3'
for ph in on-failure pre-rollback post-rollback; do hook "$ph" 10-order "echo $ph >> $hk/order"; done
out=$(hmv deploy start "$hk/deployments/gen.yaml" 2>&1); status=$?
id=$(last_id)
check "hooks: a failing pre-deploy hook fails the deployment" '[ $status -eq 1 ] && grep -q "20-refuse exited with status 3" <<<"$out"'
check "hooks: nothing was started" '! pgrep -f "sleep 1004" >/dev/null'
check "hooks: its output is in the deployment log" 'grep -q "maintenance window closed" "$state/logs/deployment_$id.log"'
check "hooks: failure phases in order" 'wait_for "[ \"\$(tr \"\\n\" , < $hk/order 2>/dev/null)\" = on-failure,pre-rollback,post-rollback, ]" 5'
# a stop while pre-deploy hooks run: nothing starts afterwards
rm -f "$hcfg/hooks/pre-deploy.d/20-refuse"
hook pre-deploy 30-slow 'sleep 1'
hmv deploy start --detach "$hk/deployments/gen.yaml" >/dev/null 2>&1
id=$(last_id)
hmv deploy stop "$id" >/dev/null 2>&1
sleep 1.5
check "hooks: stopped during its hooks, nothing is started" '! pgrep -f "sleep 1004" >/dev/null && is $id "d[\"state\"]" done 1'
# hooks run in a sandboxed worker, never in mcpvisord: as the user the
# spec declares, without capabilities, with no_new_privs, in a network
# namespace when its sandbox asks; a hook without a declared user runs
# as its file's owner (who must be able to reach it)
chmod 755 "$work"
rm -rf "$hcfg/hooks/"*.d
hook pre-deploy 10-who 'grep -E "^(Uid|CapEff|NoNewPrivs):" /proc/self/status > /tmp/mcpvisor-hook-who.$MCPVISOR_DEPLOYMENT_ID; cat /proc/net/dev >> /tmp/mcpvisor-hook-who.$MCPVISOR_DEPLOYMENT_ID; echo parent $PPID >> /tmp/mcpvisor-hook-who.$MCPVISOR_DEPLOYMENT_ID; [ ! -d '"$work/hook-out"' ] || echo written > '"$work/hook-out/made"
{ cat "$hk/deployments/gen.yaml"; printf 'hooks:\n  user: nobody\n  sandbox: {network: none, writable_paths: ["%s"]}\n' "$work/hook-out"; } > "$hk/deployments/gen-hooks.yaml"
hmv deploy start "$hk/deployments/gen-hooks.yaml" >/dev/null 2>&1; status=$?
id=$(last_id)
who="/tmp/mcpvisor-hook-who.$id"
check "sandboxed hooks: the deployment ran its hook" '[ $status -eq 0 ] && [ -s "$who" ]'
check "sandboxed hooks: as the declared user" 'grep -Eq "^Uid:[[:space:]]+65534[[:space:]]" "$who"'
check "sandboxed hooks: no capability, no_new_privs" 'grep -Eq "^CapEff:[[:space:]]+0+$" "$who" && grep -Eq "^NoNewPrivs:[[:space:]]+1$" "$who"'
check "sandboxed hooks: only loopback, as its sandbox asks" '! grep -Eq "^ *(eth|ens|enp|veth)" "$who" && grep -q "lo:" "$who"'
check "sandboxed hooks: its writable_paths made for its user" '[ "$(stat -c %U "$work/hook-out")" = nobody ] && grep -qx written "$work/hook-out/made"'
check "sandboxed hooks: a child of a worker, not of mcpvisord" '[ "$(awk "/^parent/{print \$2}" "$who")" != "$(pgrep -of "mcpvisord --state-dir $state")" ]'
hmv deploy stop "$id" >/dev/null 2>&1
rm -f "$who"
chown nobody "$hcfg/hooks/pre-deploy.d/10-who"
hmv deploy start "$hk/deployments/gen.yaml" >/dev/null 2>&1
id=$(last_id)
who="/tmp/mcpvisor-hook-who.$id"
check "sandboxed hooks: without a declared user, as the file's owner" 'grep -Eq "^Uid:[[:space:]]+65534[[:space:]]" "$who" && grep -Eq "^CapEff:[[:space:]]+0+$" "$who"'
hmv deploy stop "$id" >/dev/null 2>&1
rm -f "$who" "$hcfg/hooks/pre-deploy.d/10-who"
stop_daemon

# --- systemd: Type=notify means READY=1 once the control socket listens
nstate="$work/state-notify"
python3 - "$work/notify.sock" "$work/notify.got" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1]); s.settimeout(10)
open(sys.argv[2], "w").write(s.recv(512).decode())
PY
wait_for "[ -S $work/notify.sock ]" 10	# bound before mcpvisord says anything
NOTIFY_SOCKET="$work/notify.sock" "$mcpvisord" --state-dir "$nstate" >>"$work/daemon.log" 2>&1 &
ndpid=$!
check "systemd: READY=1 sent to NOTIFY_SOCKET" 'wait_for "grep -q READY=1 $work/notify.got 2>/dev/null" 5'
check "systemd: and the control socket answers by then" '"$mcpvisor" --state-dir "$nstate" deploy list >/dev/null'
kill -TERM "$ndpid"; wait "$ndpid"
check "systemd: SIGTERM with nothing deployed exits 0" '[ $? -eq 0 ]'

# --- 9. PID 1 in a PID namespace: reaping, ordered stop, exit status
if unshare --pid --fork --mount-proc true 2>/dev/null; then
	sp=$(spec init "$(S orphaner)" "$(S hupper)" "$(S fast 0 'dependencies: [orphaner]')")
	unshare --pid --fork --mount-proc "$mcpvisord" --init "$sp" --config-dir "$cfg" --state-dir "$work/state-init" --grace 5 >"$work/init.log" 2>&1 &
	upid=$!
	check "PID 1: the deployment comes up" 'wait_for "grep -q deployment_completed $work/init.log" 10'
	init_pid=$(pgrep -P "$upid" -f mcpvisord)
	check "PID 1: mcpvisord is pid 1 inside" 'grep -q "^NSpid:.*\s1$" /proc/$init_pid/status'
	# a worker killed outright leaves its server's children to PID 1
	wk=$(pgrep -P "$init_pid" -f mcpvisor-worker | head -1)
	kill -9 "$wk"
	sleep 1
	zombies=$(ps -eo ppid=,stat= | awk -v p="$init_pid" '$1 == p && $2 ~ /^Z/' | wc -l)
	check "PID 1: orphans are reaped (no zombie left)" '[ "$zombies" -eq 0 ]'
	wait_for "grep -c server_ready $work/init.log | grep -q 4" 10
	# SIGHUP reloads: the same files, nothing to replace
	kill -HUP "$init_pid"
	check "PID 1: SIGHUP reloads the deployment's files: an apply, nothing replaced" 'wait_for "grep -q \"apply_planned.*0 to replace, 3 unchanged\" $work/init.log" 10 && wait_for "grep -c deployment_completed $work/init.log | grep -q 2" 10'
	kill -USR1 "$init_pid"
	check "PID 1: SIGUSR1 is forwarded to the servers" 'wait_for "grep -q usr1 $work/data/usr1 2>/dev/null" 5'
	# the two servers that do not catch SIGUSR1 died of it and are restarted
	check "PID 1: servers killed by the forwarded signal come back" 'wait_for "[ \$(grep -c \"ready again\" $work/init.log) -ge 2 ]" 5'
	kill -TERM "$init_pid"
	wait "$upid"; status=$?
	check "PID 1: SIGTERM stops in order and exits 0" '[ $status -eq 0 ]'
	# exits after the stop began (the forwarded SIGUSR1 ended some before)
	# (from the last stop on: the reload's superseded deployment stopped
	# nothing, its servers kept)
	check "PID 1: reverse dependency order" '[ "$(tac "$work/init.log" | sed "/deployment_stopping/q" | tac | grep server_exited | head -1 | grep -c "fast:")" = 1 ]'
	check "PID 1: nothing left" '! pgrep -f "sleep 1003|sleep 1000" >/dev/null'

	sp=$(spec grace "$(S stubborn)")
	t0=$(now_ms)
	unshare --pid --fork --mount-proc "$mcpvisord" --init "$sp" --config-dir "$cfg" --state-dir "$work/state-grace" --grace 1 >"$work/grace.log" 2>&1 &
	upid=$!
	wait_for "grep -q deployment_completed $work/grace.log" 10
	kill -TERM "$(pgrep -P "$upid" -f mcpvisord)"
	wait "$upid"; status=$?
	check "grace exceeded: exit status 3" '[ $status -eq 3 ]'
	check "grace exceeded: the stubborn server is gone" '! pgrep -f "trap .. TERM" >/dev/null'

	sp=$(spec initfail "$(S broken)")
	unshare --pid --fork --mount-proc "$mcpvisord" --init "$sp" --config-dir "$cfg" --state-dir "$work/state-fail" >"$work/fail.log" 2>&1
	check "PID 1: a failed deployment exits 1" '[ $? -eq 1 ]'
else
	echo "# unshare --pid is not allowed here: PID 1 tests skipped"
fi

# --- 11. health checks: readiness, warnings, liveness, the sandbox
mkdir -p "$work/project/health-checks"
closed_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$work/project/health-checks/checks.yaml" <<YAML
health_checks:
  - name: "refused"
    type: "tcp"
    timeout_seconds: 1
    retry_attempts: 1
    config: { host: "127.0.0.1", port: $closed_port }
  - name: "refused_warning"
    type: "tcp"
    timeout_seconds: 1
    retry_attempts: 0
    critical: false
    config: { host: "127.0.0.1", port: $closed_port }
  - name: "env_marker"
    type: "command"
    retry_attempts: 0
    config:
      command: "sh"
      args: ["-c", "echo data={{ env.data }}"]
      expected_output: "data=$work/data"
  - name: "alive_file"
    type: "file_system"
    retry_attempts: 5
    interval_seconds: 1
    failure_threshold: 2
    config: { path: "{{ env.data }}/alive", check_readable: true }
  - name: "in_sandbox"
    type: "command"
    retry_attempts: 0
    config:
      command: "sh"
      args: ["-c", "grep -E '^(NoNewPrivs|CapEff)' /proc/self/status"]
      expected_output_regex: "NoNewPrivs:[[:space:]]+1"
YAML
server alive '  command: sh
  args: ["-c", "touch alive; exec sleep 1004"]
  working_directory: "{{ env.data }}"
  restart: on-failure
  restart_delay_ms: 50'
sp=$(spec unhealthy "$(S fast 0 'health_checks: [refused]')")
out=$(mv deploy start "$sp" 2>&1); status=$?
id=$(last_id)
check "a server failing its critical check is not ready: the deployment fails (exit 1)" '[ $status -eq 1 ]'
check "in the guide's words" 'grep -q "Health check .refused. failed: Connection refused" <<<"$out"'
check "the record: failed, after every attempt" 'is $id "d[\"servers\"][0][\"state\"]" failed 1 && rf $id "d[\"servers\"][0][\"last_error\"]" | grep -q "health check .refused. failed after 2 attempts: Connection refused"'
check "the record keeps the check result" '[ "$(rf $id "d[\"servers\"][0][\"health\"][\"refused\"][\"healthy\"]")" = False ]'
check "the server is gone" 'wait_for "! pgrep -f \"sleep 1000\" >/dev/null" 5'

sp=$(spec warned "$(S fast 0 'health_checks: [refused_warning, in_sandbox]')")
out=$(mv deploy start "$sp" 2>&1); status=$?
id=$(last_id)
check "a failing non-critical check only warns: deployed (exit 0)" '[ $status -eq 0 ]'
check "the warning is an event" 'events "$id" | grep -q "\"event_type\":\"health_check_warning\""'
check "a command check runs inside the server's sandbox (no_new_privs)" '[ "$(rf $id "d[\"servers\"][0][\"health\"][\"in_sandbox\"][\"healthy\"]")" = True ]'
# with two environments, health run --server renders against the one of
# the deployment that runs the server, without --environment
printf 'variables:\n  data: "/elsewhere"\n' > "$cfg/environments/other.yaml"
hr=$(mv health run env_marker --server fast 2>&1); hstatus=$?
check "health run --server uses the environment of the deployment that runs it" '[ $hstatus -eq 0 ] && grep -q "runs in $id: environment test" <<<"$hr"'
rm -f "$cfg/environments/other.yaml"
mv deploy stop "$id" >/dev/null 2>&1

rm -f "$work/data/alive"
sp=$(spec liveness "$(S alive 0 'health_checks: [alive_file]')")
out=$(mv deploy start "$sp" 2>&1); status=$?
id=$(last_id)
check "liveness: the server deploys once its file exists" '[ $status -eq 0 ]'
pid1=$(pgrep -f "sleep 1004")
rm -f "$work/data/alive"
check "liveness: 2 failures in a row restart it" 'wait_for "[ \"\$(rf $id \"d[\\\"servers\\\"][0][\\\"restarts\\\"]\")\" = 1 ]" 10'
check "liveness: the restart is announced with its reason" 'events "$id" | grep -q "\"action\":\"restart\""'
check "liveness: a new process, ready again" 'wait_for "events $id | grep -q \"ready again after restart 1\"" 10 && [ "$(pgrep -f "sleep 1004")" != "$pid1" ]'
mv deploy stop "$id" >/dev/null 2>&1

# --- 11b. a check of the port a server declares is answered by the
# server, not by whoever holds the port
squat_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$work/project/health-checks/port.yaml" <<YAML
health_checks:
  - name: "port_http"
    type: "http"
    timeout_seconds: 2
    retry_attempts: 10
    config: { url: "http://127.0.0.1:$squat_port/", expected_status: [200] }
YAML
server porter "  command: sh
  args: [\"-c\", \"exec python3 -m http.server $squat_port --bind 127.0.0.1\"]
  working_directory: \"{{ env.data }}\"
  transport: http
  port: $squat_port"
python3 -m http.server "$squat_port" --bind 127.0.0.1 --directory "$work/data" >/dev/null 2>&1 &
squatter=$!
wait_for "python3 -c 'import socket; socket.create_connection((\"127.0.0.1\", $squat_port), 1)' 2>/dev/null" 10
sp=$(spec squatted "$(S porter 0 'health_checks: [port_http]')")
out=$(mv deploy start "$sp" 2>&1); status=$?
check "a declared port already taken before the start is a clear start failure" '[ $status -eq 1 ] && grep -q "port $squat_port is already in use by another process before the server started" <<<"$out"'
kill "$squatter" 2>/dev/null; wait "$squatter" 2>/dev/null
# a listener outside the server's tree (double-forked away from it)
# answers the check: that does not make the server ready
server porter "  command: sh
  args: [\"-c\", \"(python3 -m http.server $squat_port --bind 127.0.0.1 >/dev/null 2>&1 &); exec sleep 1013\"]
  working_directory: \"{{ env.data }}\"
  transport: http
  port: $squat_port"
out=$(mv deploy start "$sp" 2>&1); status=$?
check "a check answered by another process's listener does not count" '[ $status -eq 1 ] && grep -q "port $squat_port answered, but not from the server.s processes" <<<"$out"'
check "and what the server left is gone with it" 'wait_for "! pgrep -f \"http.server $squat_port\" >/dev/null && ! pgrep -f \"sleep 1013\" >/dev/null" 10'
# its own listener does count
server porter "  command: sh
  args: [\"-c\", \"exec python3 -m http.server $squat_port --bind 127.0.0.1\"]
  working_directory: \"{{ env.data }}\"
  transport: http
  port: $squat_port"
out=$(mv deploy start "$sp" 2>&1); status=$?
pid_ok=$(last_id)
check "its own listener on its port makes it ready" '[ $status -eq 0 ]'
mv deploy stop "$pid_ok" >/dev/null 2>&1
wait_for "! pgrep -f \"http.server $squat_port\" >/dev/null" 10

# --- 12. upgrades and rollbacks: snapshots, strategies, real faults
cat > "$work/project/health-checks/rollback.yaml" <<YAML
health_checks:
  - name: "app_version"
    type: "command"
    retry_attempts: 0
    config:
      command: "cat"
      args: ["$work/data/app.conf"]
      expected_output_regex: "^version=[0-9]+\$"
  - name: "brave_tools"
    type: "mcp"
    timeout_seconds: 20
    retry_attempts: 0
    config: { transport: stdio, probe: tools_list, expected_tools: ["brave_web_search"] }
YAML
# version 1 writes app.conf; a bad version also leaves extra.conf behind
# a slow version takes 3 s to be ready: time to kill its worker
server app "  command: sh
  args: [\"-c\", \"echo version={{ config.version }} > app.conf; [ {{ config.version }} = bad ] && echo new > extra.conf; [ {{ config.version }} = 2 ] && sleep 3; echo >&5; exec sleep 1006\"]
  working_directory: \"{{ env.data }}\"
  readiness: fd
  readiness_fd: 5
  stop_timeout_seconds: 1
  files_to_backup: [\"$work/data/app.conf\", \"$work/data/extra.conf\"]"
printf 'base_config:\n  version: "{{ env('"'"'APP_VERSION'"'"') or '"'"'1'"'"' }}"\n' >> "$cfg/servers/app.yaml"
server companion '  command: sleep
  args: ["1007"]
  stop_timeout_seconds: 1'
sp=$(spec upgrade "$(S app 0 'health_checks: [app_version]')" "$(S companion)")
# the upgrades' specs are one stack: each replaces what the other runs
sp_one=$(stack=upgrade spec upgrade-app "$(S app 0 'health_checks: [app_version]')")
rb_last() { ls -t "$state/rollbacks" 2>/dev/null | head -1 | sed 's/\.json$//'; }
rbf() { field "$state/rollbacks/$1.json" "$2"; }
# (recreated: these upgrades are of every server, as they were before
# applies kept the unchanged ones; test_apply.sh has those)
upgrade_bad() { # strategy, spec; leaves $id and $rb
	out=$(APP_VERSION=bad mv deploy start "${2:-$sp_one}" --strategy "$1" --force-recreate 2>&1); status=$?
	id=$(last_id)
	wait_for '[ -n "$(rb_last)" ] && [ "$(rbf "$(rb_last)" "d[\"deployment_id\"]")" = "$id" ]' 10
	rb=$(rb_last)
}
rm -f "$work/data/app.conf" "$work/data/extra.conf"
mv deploy start "$sp" >/dev/null 2>&1
v1=$(last_id)
check "upgrade: version 1 deployed" 'is $v1 "d[\"outcome\"]" succeeded 1 && grep -qx version=1 "$work/data/app.conf"'
pid_v1=$(pgrep -f "sleep 1006")
upgrade_bad graceful
check "graceful: the bad version fails its check (exit 1)" '[ $status -eq 1 ]'
check "graceful: a snapshot was taken before it replaced the running version" 'events $id | grep -q "\"event_type\":\"snapshot_created\""'
snapdir="$state/backups/snap_${id#deploy_}_app"
check "encrypt_at_rest: the snapshot's copy and record hold nothing in clear" '[ -f "$snapdir/files/0" ] && ! grep -q "version=" "$snapdir/files/0" && head -c 4 "$snapdir/files/0" | grep -q MVE1 && ! grep -q "sleep 1006" "$snapdir/snapshot.json" && grep -q "\"encrypted\":[[:space:]]*true" "$snapdir/snapshot.json"'
check "encrypt_at_rest: under a key of the state directory's own, private" '[ "$(stat -c %a "$state/keys/snapshot.key")" = 600 ] && [ "$(stat -c %a "$state/keys")" = 700 ]'
check "graceful: the rollback succeeded" 'wait_for "[ \"\$(rbf $rb \"d[\\\"state\\\"]\")\" = succeeded ]" 10'
check "graceful: version 1's file is back, the added file cleaned up" 'grep -qx version=1 "$work/data/app.conf" && [ ! -e "$work/data/extra.conf" ]'
check "graceful: version 1 is running again, checked healthy" 'is $v1 "d[\"servers\"][0][\"state\"]" ready 5 && [ "$(rf $v1 "d[\"servers\"][0][\"health\"][\"app_version\"][\"healthy\"]")" = True ]'
check "graceful: the untouched companion never stopped" 'pgrep -f "sleep 1007" >/dev/null && [ "$(rf $v1 "d[\"servers\"][1][\"state\"]")" = ready ]'
check "graceful: every action of the plan done" '[ "$(rbf $rb "sorted(set(a[\"status\"] for a in d[\"actions\"]))")" = "[%s]" ] || [ "$(rbf $rb "sorted(set(a[\"status\"] for a in d[\"actions\"]))")" = "['"'"'done'"'"']" ]'
check "graceful: the rollback log exists" '[ -s "$state/logs/$rb.log" ]'
check "rollback status prints the plan" '"$mcpvisor" --state-dir "$state" rollback status $rb | grep -q "restore_files.*app.*done"'
check "rollback list shows the snapshot, intact" '"$mcpvisor" --state-dir "$state" rollback list | grep -q "_app .*$v1.* ok .*$state/backups$"'

# --backup-dir given to deploy start (after the verb, as the guide's
# automation form writes it): that deployment's snapshots go there, its
# rollback restores from there, and rollback list finds them there
custom="$work/custom/backups"
out=$(APP_VERSION=bad mv deploy start "$sp_one" --strategy graceful --backup-dir "$custom" 2>&1); status=$?
bid=$(last_id)
check "--backup-dir: the upgrade's snapshot is made there" '[ $status -eq 1 ] && ls "$custom" | grep -q "^snap_${bid#deploy_}_app$" && [ "$(stat -c %a "$custom")" = 700 ] && ! ls "$state/backups" | grep -q "${bid#deploy_}"'
check "--backup-dir: and recorded with the deployment" '[ "$(rf $bid "d[\"backup_dir\"]")" = "$custom" ]'
check "--backup-dir: the rollback restored from it" 'wait_for "[ \"\$(rbf \$(rb_last) \"d[\\\"state\\\"]\")\" = succeeded ]" 10 && grep -qx version=1 "$work/data/app.conf"'
check "--backup-dir: rollback list finds it without being told" '"$mcpvisor" --state-dir "$state" rollback list | grep -q "${bid#deploy_}_app .* ok .*$custom$"'
check "--backup-dir: and with it, only what is there" '"$mcpvisor" --state-dir "$state" --backup-dir "$custom" rollback list --json | python3 -c "import json,sys; l=json.load(sys.stdin); assert l and all(s[\"backup_dir\"]==sys.argv[1] for s in l)" "$custom"'

upgrade_bad aggressive "$sp"
check "aggressive: rolled back" 'wait_for "[ \"\$(rbf $rb \"d[\\\"state\\\"]\")\" = succeeded ]" 10'
check "aggressive: no cleanup (the added file stays), no health verification step" '[ -e "$work/data/extra.conf" ] && ! rbf $rb "[a[\"action\"] for a in d[\"actions\"]]" | grep -q verify_health'
# (the companion's new version may not have started yet when the app's
# fails: its snapshot comes first; one that did start is killed)
check "aggressive: the new version was killed, not asked" 'wait_for "events $id | grep \"server_killed\" | grep -q companion || ! events $id | grep -q \"\\\"event_type\\\":\\\"server_started\\\",\\\"server_name\\\":\\\"companion\\\"\"" 5 && ! events $id | grep -q "\"event_type\":\"stop_timeout\""'
check "aggressive: both back" 'wait_for "pgrep -f \"sleep 1007\" >/dev/null && pgrep -f \"sleep 1006\" >/dev/null" 5'
rm -f "$work/data/extra.conf"

upgrade_bad manual
check "manual: the plan waits for approval" 'wait_for "[ \"\$(rbf $rb \"d[\\\"state\\\"]\")\" = awaiting_approval ]" 5'
check "manual: nothing restored before approval" '! pgrep -f "sleep 1006" >/dev/null || [ "$(rbf $rb "d[\"state\"]")" = awaiting_approval ]'
run_approve=$("$mcpvisor" --state-dir "$state" rollback approve $rb 2>&1)
check "manual: approved" 'grep -q approved <<<"$run_approve"'
check "manual: then rolled back" 'wait_for "[ \"\$(rbf $rb \"d[\\\"state\\\"]\")\" = succeeded ]" 10'
check "manual: approving twice is refused" '! "$mcpvisor" --state-dir "$state" rollback approve $rb >/dev/null 2>&1'

# a worker killed during the upgrade: the deployment fails, version 1 is back
out=$(APP_VERSION=2 mv deploy start "$sp_one" --detach 2>&1)
id=$(last_id)
wait_for "[ -n \"\$(rf $id 'd[\"servers\"][0].get(\"worker_pid\",\"\")')\" ]" 10
kill -9 "$(rf $id 'd["servers"][0]["worker_pid"]')" 2>/dev/null
check "worker kill -9 during an upgrade: the deployment fails" 'is $id "d[\"outcome\"]" failed 10'
rb=$(rb_last)
check "worker kill -9: it is rolled back" '[ "$(rbf $rb "d[\"deployment_id\"]")" = "$id" ] && wait_for "[ \"\$(rbf $rb \"d[\\\"state\\\"]\")\" = succeeded ]" 10'
check "worker kill -9: version 1 runs" 'wait_for "grep -qx version=1 $work/data/app.conf" 5 && is $v1 "d[\"servers\"][0][\"state\"]" ready 5'

# a corrupted snapshot is refused, loudly (corrupted while the rollback
# waits for its approval: before it reads the snapshot, however slow
# this machine is)
snap_dir="$state/backups"
out=$(APP_VERSION=bad mv deploy start "$sp_one" --strategy manual --detach 2>&1)
id=$(last_id)
wait_for '[ "$(rbf "$(rb_last)" "d[\"deployment_id\"]")" = "$id" ]' 10
rb=$(rb_last)
wait_for "[ \"\$(rbf $rb \"d[\\\"state\\\"]\")\" = awaiting_approval ]" 10
printf 'version=666\n' > "$snap_dir/snap_${id#deploy_}_app/files/0"
"$mcpvisor" --state-dir "$state" rollback approve "$rb" >/dev/null 2>&1
check "corrupt snapshot: the rollback fails" 'wait_for "[ \"\$(rbf $rb \"d[\\\"state\\\"]\")\" = failed ]" 10'
check "corrupt snapshot: in the guide's words" 'rbf $rb "d[\"failure\"]" | grep -q "Rollback action failed: restore_config_app_snap_${id#deploy_}_app"'
check "corrupt snapshot: rollback list says so" '"$mcpvisor" --state-dir "$state" rollback list | grep "${id#deploy_}_app" | grep -q "does not match its SHA-256"'
check "corrupt snapshot: rollback status exits non-zero" '! "$mcpvisor" --state-dir "$state" rollback status $rb >/dev/null'

# --no-rollback: the failed version is stopped and nothing is put back;
# the running one, which its new version started beside (a stdio server),
# was never stopped
app_pid=$(pgrep -f "sleep 1006")
out=$(APP_VERSION=bad mv deploy start "$sp_one" --no-rollback 2>&1); status=$?
id=$(last_id)
check "--no-rollback: the upgrade fails, the rollback is skipped" '[ $status -eq 1 ] && events $id | grep -q "\"event_type\":\"rollback_skipped\""'
check "--no-rollback: the new app is stopped, the running one (never replaced) and the companion run on" 'wait_for "[ \"\$(pgrep -f \"sleep 1006\")\" = \"$app_pid\" ]" 5 && pgrep -f "sleep 1007" >/dev/null'
out=$(mv deploy start "$sp" 2>&1); status=$?
v3=$(last_id)
check "and a later deployment over it works" '[ $status -eq 0 ] && pgrep -f "sleep 1006" >/dev/null'
mv deploy stop "$v3" >/dev/null 2>&1
check "stopped: nothing of the upgrades is left" 'wait_for "! pgrep -f \"sleep 100[67]\" >/dev/null" 10'

# --- 13. batch rollbacks, custom rollback actions, rollbacks by hand
# batch: companion (batch 1) is upgraded and ready, app (batch 2) fails;
# only the failed batch goes back, the new companion stays
sp_dep=$(stack=upgrade spec upgrade-dep "$(S companion)" "$(S app 0 'health_checks: [app_version], dependencies: [companion]')")
rm -f "$work/data/extra.conf"
mv deploy start "$sp_dep" >/dev/null 2>&1
v1=$(last_id)
check "batch: version 1 deployed in two batches" 'is $v1 "d[\"outcome\"]" succeeded 1 && [ "$(rf $v1 "d[\"batches\"]")" = 2 ]'
upgrade_bad batch "$sp_dep"
check "batch: the rollback succeeded" 'wait_for "[ \"\$(rbf $rb \"d[\\\"state\\\"]\")\" = succeeded ]" 10'
comp_new=$(field "$state/deployments/$id.json" '[s for s in d["servers"] if s["name"]=="companion"][0]["server_pid"]')
check "batch: the new companion was kept, not stopped" '[ "$(rbf $rb "[a[\"status\"] for a in d[\"actions\"] if a[\"action\"]==\"keep_new\"]")" = "['"'"'done'"'"']" ] && ! rbf $rb "[a[\"server\"] for a in d[\"actions\"] if a[\"action\"]==\"stop_new\"]" | grep -q companion'
check "batch: it runs on as part of version 1, with its pid" 'is $v1 "[s for s in d[\"servers\"] if s[\"name\"]==\"companion\"][0][\"state\"]" ready 5 && [ "$(rf $v1 "[s for s in d[\"servers\"] if s[\"name\"]==\"companion\"][0][\"server_pid\"]")" = "$comp_new" ] && [ "$(rf $v1 "[s for s in d[\"servers\"] if s[\"name\"]==\"companion\"][0][\"configuration_of\"]")" = "$id" ] && kill -0 "$comp_new"'
check "batch: app of the failed batch is version 1 again" 'is $v1 "[s for s in d[\"servers\"] if s[\"name\"]==\"app\"][0][\"state\"]" ready 5 && grep -qx version=1 "$work/data/app.conf"'
mv deploy stop "$v1" >/dev/null 2>&1
check "batch: a stop stops the kept server too" 'wait_for "! kill -0 $comp_new 2>/dev/null && ! pgrep -f \"sleep 100[67]\" >/dev/null" 10'

# the other triggers: a crash loop past the death tally, and the readiness
# timeout, each during an upgrade
server looper "  command: sh
  args: [\"-c\", \"[ {{ config.mode }} = hang ] && exec sleep 1010; echo >&5; [ {{ config.mode }} = loop ] && { sleep 0.3; exit 1; }; exec sleep 1008\"]
  readiness: fd
  readiness_fd: 5
  restart: on-failure
  restart_delay_ms: 10
  max_deaths: 3
  stop_timeout_seconds: 1"
printf 'base_config:\n  mode: "{{ env('"'"'MODE'"'"') or '"'"'steady'"'"' }}"\n' >> "$cfg/servers/looper.yaml"
server lagger '  command: sh
  args: ["-c", "sleep 3; echo >&5; exec sleep 1009"]
  readiness: fd
  readiness_fd: 5
  stop_timeout_seconds: 1'
sp_loop=$(spec loop "$(S looper)" "$(S lagger 0 'dependencies: [looper]')")
mv deploy start "$sp_loop" >/dev/null 2>&1
v1=$(last_id)
steady=$(pgrep -f "sleep 1008")
# (recreated: lagger, unchanged, would be taken over at once, and the
# upgrade succeed before the new looper's crashes add up)
out=$(MODE=loop mv deploy start "$sp_loop" --force-recreate 2>&1); status=$?
id=$(last_id)
rb=rollback_${id#deploy_}
check "crash loop during an upgrade: the deployment fails" '[ $status -eq 1 ] && [ "$(rf $id "d[\"outcome\"]")" = failed ] && rf $id "d[\"failure\"]" | grep -q "^looper: "'
check "crash loop: it is rolled back, the steady version runs again" 'wait_for "[ \"\$(rbf $rb \"d[\\\"state\\\"]\")\" = succeeded ]" 10 && is $v1 "d[\"servers\"][0][\"state\"]" ready 5 && pgrep -f "sleep 1008" >/dev/null && [ "$(pgrep -f "sleep 1008")" != "$steady" ]'
sp_hang=$(printf 'metadata: {name: loop, environment: test}\nservers:\n  - {name: looper, timeout_seconds: 1, retry_attempts: 0}\n' > "$work/project/deployments/hang.yaml"; echo "$work/project/deployments/hang.yaml")
out=$(MODE=hang mv deploy start "$sp_hang" 2>&1); status=$?
id=$(last_id)
rb=rollback_${id#deploy_}
check "readiness timeout during an upgrade: the deployment fails" '[ $status -eq 1 ] && rf $id "d[\"failure\"]" | grep -q "not ready within 1 s"'
check "readiness timeout: rolled back, the steady version runs again" 'wait_for "[ \"\$(rbf $rb \"d[\\\"state\\\"]\")\" = succeeded ]" 10 && is $v1 "d[\"servers\"][0][\"state\"]" ready 5 && ! pgrep -f "sleep 1010" >/dev/null'
mv deploy stop "$v1" >/dev/null 2>&1
check "stopped: nothing of the triggers is left" 'wait_for "! pgrep -f \"sleep 10(08|09|10)\" >/dev/null" 10'

# custom rollback actions: a program given the rollback as JSON on stdin,
# a plugin function, then one that fails; they run as the spec's owner
# (root, without capabilities), so not in the servers' directory, which
# is their dynamic users'
mkdir -p "$work/actions"
cat > "$work/record-action.sh" <<SH
#!/bin/sh
cat > "$work/actions/action.json"
echo "recorded \$MCPVISOR_ACTION for \$MCPVISOR_SERVER"
SH
chmod +x "$work/record-action.sh"
actions_spec() { # file name, the actions app lists (a spec of stack upgrade)
	{ printf 'metadata: {name: upgrade, environment: test}\n'
	  printf 'rollback_actions:\n  record_it: {program: "%s", timeout_seconds: 5}\n' "$work/record-action.sh"
	  printf '  note_it: {plugin: "%s", function: note_rollback, params: {file: "%s"}}\n' "$MCPVISOR_TEST_PLUGIN" "$work/actions/plugin.json"
	  printf '  refuse: {program: /bin/false}\n'
	  printf 'servers:\n'; S app 0 "health_checks: [app_version], rollback_actions: [$2]"; echo
	} > "$work/project/deployments/$1.yaml"
	echo "$work/project/deployments/$1.yaml"
}
sp_act=$(actions_spec upgrade-actions "record_it, note_it")
rm -f "$work/actions/action.json" "$work/actions/plugin.json"
mv deploy start "$sp_act" >/dev/null 2>&1
v1=$(last_id)
upgrade_bad graceful "$sp_act"
check "custom actions: the rollback succeeded" 'wait_for "[ \"\$(rbf $rb \"d[\\\"state\\\"]\")\" = succeeded ]" 10'
check "custom actions: the program got the rollback on stdin" '[ "$(field "$work/actions/action.json" "d[\"rollback_id\"]+\" \"+d[\"server\"]+\" \"+d[\"previous_deployment_id\"]")" = "$rb app $v1" ]'
check "custom actions: the plugin function ran" '[ "$(field "$work/actions/plugin.json" "d[\"action\"]+\" \"+d[\"params\"][\"file\"]")" = "note_it $work/actions/plugin.json" ]'
check "custom actions: planned after the stop, before the restore, both done" '[ "$(rbf $rb "[a[\"action\"] for a in d[\"actions\"]][:4]")" = "['"'"'stop_new'"'"', '"'"'record_it'"'"', '"'"'note_it'"'"', '"'"'restore_files'"'"']" ] && [ "$(rbf $rb "[a[\"status\"] for a in d[\"actions\"]][1:3]")" = "['"'"'done'"'"', '"'"'done'"'"']" ]'
check "custom actions: their output is in the rollback log" 'grep -q "recorded record_it for app" "$state/logs/$rb.log" && grep -q "note_it.*noted in" "$state/logs/$rb.log"'
sp_act=$(actions_spec upgrade-actions "refuse, record_it")
upgrade_bad graceful "$sp_act"
check "a failing custom action fails the rollback, in the guide's words" 'wait_for "[ \"\$(rbf $rb \"d[\\\"state\\\"]\")\" = failed ]" 10 && rbf $rb "d[\"failure\"]" | grep -q "Rollback action failed: refuse_app: rollback action .refuse. exited with status 1"'
check "and the rollback went on: the next action ran, version 1 is back" '[ "$(rbf $rb "[a[\"status\"] for a in d[\"actions\"] if a[\"action\"]==\"record_it\"]")" = "['"'"'done'"'"']" ] && is $v1 "d[\"servers\"][0][\"state\"]" ready 5'
mv deploy stop "$v1" >/dev/null 2>&1
wait_for '! pgrep -f "sleep 1006" >/dev/null' 10
printf 'metadata: {name: bad-actions, environment: test}\nservers:\n  - {name: app, rollback_actions: [nowhere]}\n' > "$work/project/deployments/bad-actions.yaml"
out=$(mv deploy start "$work/project/deployments/bad-actions.yaml" 2>&1); status=$?
check "an undefined rollback action is refused at file:line:col" '[ $status -eq 100 ] && grep -q "bad-actions.yaml:3:[0-9]*: .*no rollback action .nowhere." <<<"$out"'

# rollbacks by hand: version 1, then a good version 3, then back
rm -f "$work/data/extra.conf"
mv deploy start "$sp" >/dev/null 2>&1
v1=$(last_id)
APP_VERSION=3 mv deploy start "$sp" >/dev/null 2>&1
v3=$(last_id)
check "by hand: version 3 replaced version 1" 'is $v3 "d[\"outcome\"]" succeeded 1 && grep -qx version=3 "$work/data/app.conf"'
out=$(mv rollback start "$v1" 2>&1); status=$?
check "by hand: only the current deployment rolls back" '[ $status -eq 1 ] && grep -q "is not the current deployment" <<<"$out"'
# the configuration rendered now (APP_VERSION=3) is not what version 1 ran
out=$(APP_VERSION=3 mv rollback start "$v3" 2>&1); status=$?
rbh=$(ls -t "$state/rollbacks" | grep -v _undo | head -1 | sed 's/\.json$//')
check "by hand: a configuration that no longer matches the snapshot is refused" '[ $status -eq 1 ] && [ "$(rbf $rbh "d[\"state\"]")" = failed ] && rbf $rbh "d[\"failure\"]" | grep -q "Rollback action failed: restore_config_app_snap_.*does not match"'
check "by hand: and version 3 is put back" 'wait_for "[ \"\$(rbf ${rbh}_undo \"d[\\\"state\\\"]\")\" = succeeded ]" 10 && is $v3 "d[\"servers\"][0][\"state\"]" ready 5 && grep -qx version=3 "$work/data/app.conf"'
comp_pid=$(pgrep -f "sleep 1007")
out=$(mv rollback start "$v3" --servers app 2>&1); status=$?
r1=$(last_id)
rbh=$(ls -t "$state/rollbacks" | head -1 | sed 's/\.json$//')
check "by hand, --servers app: succeeded, followed live" '[ $status -eq 0 ] && grep -q "rollback_completed" <<<"$out" && grep -q "rollback $rbh: succeeded" <<<"$out"'
check "by hand: version 1 of app runs again, its file put back" 'grep -qx version=1 "$work/data/app.conf" && is $r1 "[s for s in d[\"servers\"] if s[\"name\"]==\"app\"][0][\"state\"]" ready 5'
check "by hand: the companion was not named: same process, taken over" '[ "$(pgrep -f "sleep 1007")" = "$comp_pid" ] && [ "$(rf $r1 "[s for s in d[\"servers\"] if s[\"name\"]==\"companion\"][0][\"server_pid\"]")" = "$comp_pid" ]'
check "by hand: the record names what was rolled back and where to" '[ "$(rbf $rbh "d[\"deployment_id\"]+\" \"+d[\"previous_deployment_id\"]+\" \"+d[\"rollback_deployment_id\"]")" = "$v3 $v1 $r1" ] && [ "$(rbf $rbh "d[\"by_hand\"]")" = True ]'
check "by hand: rollback status shows it" '"$mcpvisor" --state-dir "$state" rollback status $rbh | grep -q "restore_files.*app.*done"'
# manual: planned, then approved
APP_VERSION=3 mv deploy start "$sp" >/dev/null 2>&1
v3=$(last_id)
out=$(mv rollback start "$v3" --strategy manual 2>&1); status=$?
rbh=$(ls -t "$state/rollbacks" | head -1 | sed 's/\.json$//')
check "by hand, manual: the plan waits for approval" '[ $status -eq 0 ] && grep -q "waits for approval" <<<"$out" && [ "$(rbf $rbh "d[\"state\"]")" = awaiting_approval ] && grep -qx version=3 "$work/data/app.conf"'
out=$(mv deploy start "$sp" 2>&1); status=$?
check "by hand, manual: nothing else deploys meanwhile" '[ $status -ne 0 ] && grep -q "awaits approval" <<<"$out"'
"$mcpvisor" --state-dir "$state" rollback approve "$rbh" >/dev/null 2>&1
check "by hand, manual: approved, then done" 'wait_for "[ \"\$(rbf $rbh \"d[\\\"state\\\"]\")\" = succeeded ]" 10 && grep -qx version=1 "$work/data/app.conf"'
# while an upgrade is still deploying: undone whole, as a failure is
rp=$(last_id)
APP_VERSION=2 mv deploy start "$sp_one" --detach >/dev/null 2>&1
id=$(last_id)
out=$(mv rollback start "$id" --strategy immediate 2>&1); status=$?
check "by hand, mid-upgrade: rolled back at once" '[ $status -eq 0 ] && [ "$(rbf rollback_${id#deploy_} "d[\"state\"]+\" \"+d[\"strategy\"]")" = "succeeded immediate" ] && [ "$(rf $id "d[\"failure\"]")" = "deployment: rollback started by hand" ]'
check "by hand, mid-upgrade: the previous version is current again" 'is $rp "d[\"servers\"][0][\"state\"]" ready 5 && grep -qx version=1 "$work/data/app.conf"'
mv deploy stop "$rp" >/dev/null 2>&1
wait_for '! pgrep -f "sleep 100[67]" >/dev/null' 10
out=$(mv deploy start "$sp" 2>&1)
f1=$(last_id)
out=$(mv rollback start "$f1" 2>&1); status=$?
check "by hand: a first deployment has nothing to go back to" '[ $status -eq 1 ] && grep -q "replaced no deployment" <<<"$out"'
mv deploy stop "$f1" >/dev/null 2>&1
wait_for '! pgrep -f "sleep 100[67]" >/dev/null' 10

# kill -9 of mcpvisord while a rollback waits: reported, and the previous
# version (the last successful deployment) comes back on restart
rm -f "$work/data/extra.conf"
mv deploy start "$sp_one" >/dev/null 2>&1
v1=$(last_id)
upgrade_bad manual
wait_for "[ \"\$(rbf $rb \"d[\\\"state\\\"]\")\" = awaiting_approval ]" 5
kill -9 "$(pgrep -f "mcpvisord --state-dir $state")"
wait_for '! pgrep -f "mcpvisord --state-dir $state" >/dev/null' 5
"$mcpvisord" --state-dir "$state" >>"$work/daemon.log" 2>&1 &
check "mcpvisord killed mid-rollback: the rollback is reported interrupted" 'wait_for "[ \"\$(rbf $rb \"d[\\\"state\\\"]\")\" = interrupted ]" 5'
check "and the previous version comes back" 'wait_for "pgrep -f \"sleep 1006\" >/dev/null" 10 && wait_for "grep -qx version=1 $work/data/app.conf" 5'
mv deploy stop "$(last_id)" >/dev/null 2>&1
wait_for '! pgrep -f "sleep 1006" >/dev/null' 10

# real MCP servers: server-brave-search with its key, then a version
# without it, which fails its MCP check; the first, never stopped (a
# stdio server: its new version starts beside it), answers tools/list
brave_bin="$src/deploy/mcp-servers/node_modules/.bin/mcp-server-brave-search"
if [ -x "$brave_bin" ]; then
	server brave "  command: $brave_bin
  environment:
    BRAVE_API_KEY: \"{{ env('BRAVE_KEY') or '' }}\"
  stop_timeout_seconds: 2"
	sp_brave=$(spec brave "$(S brave 0 'health_checks: [brave_tools]')")
	out=$(BRAVE_KEY=test-key mv deploy start "$sp_brave" 2>&1)
	b1=$(last_id)
	check "MCP: brave-search with its key deploys, tools listed" 'is $b1 "d[\"outcome\"]" succeeded 1 && rf $b1 "d[\"servers\"][0][\"health\"][\"brave_tools\"][\"details\"][\"tools\"]" | grep -q brave_web_search'
	bpid1=$(rf $b1 'd["servers"][0]["server_pid"]')
	out=$(env -u BRAVE_KEY "$mcpvisor" --config-dir "$cfg" --state-dir "$state" deploy start "$sp_brave" 2>&1); status=$?
	b2=$(last_id)
	check "MCP: the version without a key fails its MCP check" '[ $status -eq 1 ] && grep -q "closed its output during the handshake" <<<"$out"'
	check "MCP: the follower saw the rollback complete" 'grep -q "rollback_completed" <<<"$out"'
	check "MCP: the previous version, which the new one started beside, never stopped: the same process answers tools/list" 'is $b1 "d[\"servers\"][0][\"state\"]" ready 10 && rf $b1 "d[\"servers\"][0][\"health\"][\"brave_tools\"][\"details\"][\"tools\"]" | grep -q brave_web_search && [ "$(rf $b1 "d[\"servers\"][0][\"server_pid\"]")" = "$bpid1" ]'
	check "MCP: the record of the failed version names its rollback" '[ "$(rf $b2 "d[\"rollback\"][\"state\"]")" = succeeded ]'
	bpid2=$(rf $b1 'd["servers"][0]["server_pid"]')
	mv deploy stop "$b1" >/dev/null 2>&1
	# its own process, not every brave server of the machine's suites
	check "MCP: stopped" 'wait_for "! kill -0 $bpid2 2>/dev/null" 10'
else
	bad "brave-search is not installed (bash deploy/install-deps.sh)"
fi

# --- 10. the demo: official MCP reference servers from npm
if [ -x "$src/deploy/mcp-servers/node_modules/.bin/mcp-server-everything" ]; then
	dstate="$work/state-demo"
	out=$("$mcpvisor" --config-dir "$src/deploy/config" --state-dir "$dstate" deploy start "$src/deploy/deployments/demo.yaml" 2>&1); status=$?
	check "demo deploys (exit 0)" '[ $status -eq 0 ]'
	check "demo: every server ready" 'grep -q "deployment_completed.*4 servers ready" <<<"$out"'
	# ready means its MCP check passed: it answers at once
	reply=$(curl -s --max-time 5 -X POST -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' \
		-d '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"test","version":"1"}}}' \
		http://127.0.0.1:3101/mcp)
	check "demo: server-everything answers initialize over HTTP" 'grep -q "\"serverInfo\"" <<<"$reply"'
	drec=$(ls "$dstate"/deployments/*.json | head -1)
	check "demo: every check of every server passed, in the record" '[ "$(field "$drec" "sum(len(s[\"health\"]) for s in d[\"servers\"] if all(c[\"healthy\"] for c in s[\"health\"].values()))")" = 7 ]'
	# the same tool names from an independent client, the MCP Inspector
	insp="$src/deploy/mcp-servers/node_modules/.bin/mcp-inspector"
	ours_http=$(field "$drec" "sorted([s for s in d['servers'] if s['name']=='everything-http'][0]['health']['mcp_http_ready']['details']['tools'])")
	theirs_http=$(timeout 60 "$insp" --cli http://127.0.0.1:3101/mcp --transport http --method tools/list 2>/dev/null | python3 -c 'import json,sys; print(sorted(t["name"] for t in json.load(sys.stdin)["tools"]))')
	check "demo: the Inspector lists the same tools over HTTP as our check" '[ -n "$ours_http" ] && [ "$ours_http" = "$theirs_http" ]'
	ours_stdio=$(field "$drec" "sorted([s for s in d['servers'] if s['name']=='everything'][0]['health']['mcp_everything_tools']['details']['tools'])")
	theirs_stdio=$(timeout 60 "$insp" --cli "$src/deploy/mcp-servers/node_modules/.bin/mcp-server-everything" stdio --method tools/list 2>/dev/null | python3 -c 'import json,sys; print(sorted(t["name"] for t in json.load(sys.stdin)["tools"]))')
	check "demo: and over stdio" '[ -n "$ours_stdio" ] && [ "$ours_stdio" = "$theirs_stdio" ]'
	# its own servers, by the record (other suites run the same ones)
	mem=$(field "$drec" "[s['server_pid'] for s in d['servers'] if s['name']=='memory'][0]")
	demo_pids=$(field "$drec" "' '.join(str(s['server_pid']) for s in d['servers'])")
	check "demo: the memory server runs sandboxed" 'grep -q "^NoNewPrivs:\s1" /proc/$mem/status && grep -q "^CapEff:\s0000000000000000" /proc/$mem/status'
	did=$("$mcpvisor" --state-dir "$dstate" deploy list --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
	"$mcpvisor" --state-dir "$dstate" deploy stop "$did" >/dev/null 2>&1
	alive() { for p in $demo_pids; do kill -0 "$p" 2>/dev/null && return 0; done; return 1; }
	check "demo: stopped, nothing left" '[ -n "$demo_pids" ] && wait_for "! alive" 10'
	pkill -TERM -f "mcpvisord --state-dir $dstate"
	# --- 10b. the README's quick start (the guide's), its commands as
	# written there, from the top of the tree
	qs=/tmp/mcpvisor-quickstart
	rm -rf "$qs" /tmp/mcpvisor-production
	qsout=$(cd "$src" && sed -n '/^\*\*3. Basic deployment/,/^The guide.s automation/p' README.md | sed -n '/^```sh$/,/^```$/p' | grep -v '^```' |
		grep -v -- '--follow' | sed "s|build/|$build/|g; s|^\($build/mcpvisord .*\) &$|\1 >/dev/null 2>\&1 \& sleep 1|" > "$work/quickstart.sh" &&
		bash -e "$work/quickstart.sh" 2>&1); qstatus=$?
	qid=$("$mcpvisor" --state-dir "$qs" deploy list --json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])' 2>/dev/null)
	check "quick start: the README's step 3 runs as written (held, approved by another user)" '[ $qstatus -eq 0 ] && [ -n "$qid" ] && grep -q "approved" <<<"$qsout"'
	check "quick start: the guide's production deployment succeeds" 'wait_for "[ \"\$(field $qs/deployments/$qid.json "d[\\\"outcome\\\"]")\" = succeeded ]" 90'
	check "quick start: its audit log says who started and who approved" 'grep -q "\"action\":\"requested\",\"uid\":0" "$qs/logs/audit.log" && grep -q "\"action\":\"approved\",\"uid\":$(id -u nobody)" "$qs/logs/audit.log"'
	"$mcpvisor" --state-dir "$qs" deploy stop "$qid" >/dev/null 2>&1
	pkill -TERM -f "mcpvisord --state-dir $qs"
	wait_for "! pgrep -f \"mcpvisord --state-dir $qs\" >/dev/null" 10
	rm -rf "$qs" /tmp/mcpvisor-production
else
	bad "demo: the reference servers are not installed (bash deploy/install-deps.sh)"
fi

stop_daemon
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
