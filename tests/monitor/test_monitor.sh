#!/usr/bin/env bash
# mcpvisor-monitor with real clients: the guide's JavaScript example and
# the ws library, curl, Prometheus' own parser, and chromium driving the
# dashboard, during real deployments (an official MCP reference server
# among them). Everything runs in a network namespace of its own, so that
# port 8765 (the guide's) is ours; a second namespace joined by a veth
# pair is the "remote" client the token is for.
# Usage: test_monitor.sh BUILD_DIR SOURCE_DIR
set -u
. "$(dirname "$0")/../lib/netns.sh"
own_netns "$0" "$@"
build=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)
mcpvisor="$build/mcpvisor"
tm="$src/tests/monitor"
work=$(mktemp -d "${TMPDIR:-/tmp}/mcpvisor-mon.XXXXXX")
artifacts="$build/test-artifacts"
mkdir -p "$artifacts"
passed=0 failed=0
bg=()

cleanup() {
	for p in "${bg[@]}"; do kill "$p" 2>/dev/null; done
	pkill -KILL -f "$work/" 2>/dev/null
	[ -n "${remote:-}" ] && kill "$remote" 2>/dev/null
	[ -n "${KEEP:-}" ] && echo "# kept $work" || rm -rf "$work"
}
trap cleanup EXIT

ok()  { passed=$((passed + 1)); echo "ok - $1"; }
bad() { failed=$((failed + 1)); echo "FAIL - $1"; }
check() { if eval "$2"; then ok "$1"; else bad "$1"; return 1; fi; }
wait_for() {
	local i
	for ((i = 0; i < $2 * 20; i++)); do eval "$1" && return 0; sleep 0.05; done
	return 1
}
# ndjson FILE EXPR: EXPR over the list of messages in FILE, as m
ndjson() { python3 - "$1" "$2" <<'PY'
import json, sys
m = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print(eval(sys.argv[2]))
PY
}

node_modules="$tm/node_modules"
memory_bin="$src/deploy/mcp-servers/node_modules/.bin/mcp-server-memory"
if [ ! -d "$node_modules/ws" ] || [ ! -d "$node_modules/playwright-core" ] ||
    [ ! -x "$memory_bin" ]; then
	echo "FAIL - the test clients or MCP servers are not installed (bash deploy/install-deps.sh)"
	exit 1
fi

# --- a project: an MCP reference server, a server with a secret, a slow one
cfg="$work/project/config"
mkdir -p "$cfg/environments" "$cfg/servers" "$work/project/deployments" \
    "$work/project/health-checks"
cat > "$cfg/environments/test.yaml" <<YAML
variables: {}
secrets:
  token: MONITOR_TEST_SECRET
YAML
cat > "$cfg/servers/memory.yaml" <<YAML
name: memory
server_type: knowledge
run:
  command: $memory_bin
  environment: { MEMORY_FILE_PATH: "$work/memory.json" }
  stop_timeout_seconds: 2
YAML
cat > "$cfg/servers/secretive.yaml" <<'YAML'
name: secretive
server_type: test
run:
  command: sh
  args: ["-c", "echo \"token is $TOKEN\"; exec sleep 2001"]
  environment: { TOKEN: "{{ env.token }}" }
  readiness: process
  start_seconds: 0
YAML
cat > "$cfg/servers/slowpoke.yaml" <<'YAML'
name: slowpoke
server_type: test
run:
  command: sh
  args: ["-c", "sleep 1.5; echo >&5; exec sleep 2002"]
  readiness: fd
  readiness_fd: 5
  stop_timeout_seconds: 1
YAML
cat > "$work/project/health-checks/mcp.yaml" <<'YAML'
health_checks:
  - name: memory_tools
    type: mcp
    timeout_seconds: 20
    config: { transport: stdio, probe: tools_list, expected_tools: ["read_graph"] }
  - name: secret_echo
    type: command
    critical: false
    config: { command: "sh", args: ["-c", "echo checked"] }
  - name: reporter
    type: custom
    critical: false
    config: { program: "sh", args: ["-c", "echo '{\"status\": \"healthy\", \"details\": {\"metrics\": {\"queue_len\": 3}}}'"] }
YAML
spec="$work/project/deployments/monitored.yaml"
cat > "$spec" <<'YAML'
metadata: {name: monitored, environment: test}
servers:
  - {name: memory, parallel_safe: true, timeout_seconds: 60, health_checks: [memory_tools]}
  - {name: secretive, parallel_safe: true, health_checks: [secret_echo, reporter]}
  - {name: slowpoke, parallel_safe: true, dependencies: [memory]}
deployment_settings: {metrics_interval_seconds: 1}
YAML
secret="s3cr3t-$$-never-shown"
export MONITOR_TEST_SECRET="$secret"
state="$work/state"
mv() { "$mcpvisor" --config-dir "$cfg" --state-dir "$state" "$@"; }
monitor_pid() { pgrep -f "mcpvisor-monitor --channel-fd 3 --state-dir $state" | head -1; }

"$build/mcpvisord" --state-dir "$state" >"$work/daemon.log" 2>&1 &
bg+=($!)
check "mcpvisord starts its monitor, which answers on 127.0.0.1:8765" 'wait_for "curl -sf http://127.0.0.1:8765/healthz >/dev/null" 10'
mpid=$(monitor_pid)
check "the monitor runs as nobody, no capabilities, no_new_privs" '[ "$(awk "/^Uid:/{print \$2}" /proc/$mpid/status)" = 65534 ] && grep -q "^CapEff:	0000000000000000" /proc/$mpid/status && grep -q "^NoNewPrivs:	1" /proc/$mpid/status'
check "it binds to loopback only" '! ss -ltn | grep ":8765" | grep -v "127.0.0.1\|\[::ffff:127.0.0.1\]" | grep -q .'
check "its token is kept 0600 in the state directory" '[ "$(stat -c %a "$state/monitor.token")" = 600 ] && [ "$(wc -c < "$state/monitor.token")" = 65 ]'

# --- 1. the guide's JavaScript example, unchanged, during a deployment;
#        and a ws client that records everything
(cd "$tm" && SEED_SECONDS=60 exec node -r ./ws-global.js seed_example.js) >"$work/seed.out" 2>&1 &
bg+=($!)
seed=$!
node "$tm/client.js" ws://127.0.0.1:8765/ --out "$work/all.ndjson" --until-phase running --timeout 90000 &
bg+=($!)
recorder=$!
wait_for '[ "$(grep -c "connected" "$state"/logs/monitoring_*.log)" -ge 2 ]' 10
out=$(mv deploy start "$spec" 2>&1); status=$?
check "the deployment (server-memory among it) succeeds" '[ $status -eq 0 ]'
wait "$recorder"; rstatus=$?
check "a ws client saw it to the end (phase running)" '[ $rstatus -eq 0 ]'
check "the guide's example printed progress and events" 'wait_for "grep -q \"Event: deployment_completed null\" $work/seed.out" 10 && grep -q "Deployment progress: 100" "$work/seed.out" && grep -q "Event: server_ready memory" "$work/seed.out"'
kill "$seed" 2>/dev/null
check "every message carries a sequence number, with no gaps" '[ "$(ndjson "$work/all.ndjson" "all(\"seq\" in x for x in m) and [x[\"seq\"] for x in m if not x[\"data\"].get(\"snapshot\")] == list(range(m[0][\"seq\"], m[0][\"seq\"] + len([x for x in m if not x[\"data\"].get(\"snapshot\")])))")" = True ]'
check "events in order: started, memory ready, then slowpoke (its dependent) starts and is ready, completed" 'ndjson "$work/all.ndjson" "[0 for ev in [[(x[\"data\"][\"event_type\"], x[\"data\"][\"server_name\"]) for x in m if x[\"type\"] == \"monitoring_event\"]] if ev.index((\"deployment_started\", None)) < ev.index((\"server_ready\", \"memory\")) < ev.index((\"server_started\", \"slowpoke\")) < ev.index((\"server_ready\", \"slowpoke\")) < ev.index((\"deployment_completed\", None))] == [0]" | grep -qx True'
check "deployment_update in the guide's shape, reaching 100% and phase running" '[ "$(ndjson "$work/all.ndjson" "[sorted(k for k in (\"deployment_id\", \"progress_percentage\", \"completed\", \"failed\", \"total\", \"phase\") if k in x[\"data\"]) == sorted((\"deployment_id\", \"progress_percentage\", \"completed\", \"failed\", \"total\", \"phase\")) for x in m if x[\"type\"] == \"deployment_update\"][-1] and [(x[\"data\"][\"progress_percentage\"], x[\"data\"][\"phase\"], x[\"data\"][\"completed\"], x[\"data\"][\"total\"]) for x in m if x[\"type\"] == \"deployment_update\"][-1]")" = "(100, '"'"'running'"'"', 3, 3)" ]'
check "monitoring_event in the guide's shape" '[ "$(ndjson "$work/all.ndjson" "all(set((\"event_type\", \"server_name\", \"timestamp\", \"details\")) <= set(x[\"data\"]) for x in m if x[\"type\"] == \"monitoring_event\")")" = True ]'
dep=$(ndjson "$work/all.ndjson" "[x['data']['deployment_id'] for x in m if x['type'] == 'deployment_update'][-1]")

# --- 2. metrics: samples arrive, /metrics parses with Prometheus' parser
node "$tm/client.js" ws://127.0.0.1:8765/ --out "$work/metrics.ndjson" --until-count 12 --timeout 15000 >/dev/null 2>&1
check "metrics messages: CPU and memory of each server, sampled by its worker" '[ "$(ndjson "$work/metrics.ndjson" "sorted(set(x[\"data\"][\"server_name\"] for x in m if x[\"type\"] == \"metrics\" and x[\"data\"][\"memory_rss_bytes\"] > 0 and \"cpu_usage\" in x[\"data\"] and \"memory_usage\" in x[\"data\"]))")" = "['"'"'memory'"'"', '"'"'secretive'"'"', '"'"'slowpoke'"'"']" ]'
curl -sf http://127.0.0.1:8765/metrics > "$work/metrics.txt"
check "/metrics parses with prometheus_client, with every family expected" '/usr/bin/python3 - "$work/metrics.txt" "$dep" <<'"'"'PY'"'"'
import sys
from prometheus_client.parser import text_string_to_metric_families
fams = {f.name: f for f in text_string_to_metric_families(open(sys.argv[1]).read())}
dep = sys.argv[2]
need = {"mcpvisor_server_state": "gauge", "mcpvisor_server_restarts": "counter",
        "mcpvisor_server_cpu_percent": "gauge",
        "mcpvisor_server_resident_memory_bytes": "gauge",
        "mcpvisor_health_check_duration_seconds": "histogram",
        "mcpvisor_health_checks": "counter", "mcpvisor_deployments": "counter",
        "mcpvisor_deployment_duration_seconds": "histogram",
        "mcpvisor_rollback_duration_seconds": "histogram"}
for name, kind in need.items():
    assert fams[name].type == kind, (name, fams[name].type)
ready = [s for s in fams["mcpvisor_server_state"].samples
         if s.labels["deployment_id"] == dep and s.labels["state"] == "ready" and s.value == 1]
assert len(ready) == 3, ready
rss = [s for s in fams["mcpvisor_server_resident_memory_bytes"].samples if s.labels["deployment_id"] == dep]
assert len(rss) == 3 and all(s.value > 0 for s in rss), rss
h = [s for s in fams["mcpvisor_health_check_duration_seconds"].samples
     if s.name.endswith("_count") and s.labels.get("check") == "memory_tools"]
assert h and h[0].value >= 1, h
d = [s for s in fams["mcpvisor_deployment_duration_seconds"].samples if s.name.endswith("_count")]
assert d[0].value >= 1, d
PY'
check "mcpvisor monitor show --metrics prints the same" '"$mcpvisor" --state-dir "$state" monitor show --metrics | grep -q "^mcpvisor_server_cpu_percent{deployment_id=\"$dep\",server=\"memory\"}"'
check "mcpvisor monitor show ID: progress, state, CPU and memory per server" '"$mcpvisor" --state-dir "$state" monitor show "$dep" > "$work/show.txt" && grep -q "100%, 3/3 ready" "$work/show.txt" && grep -Eq "memory +ready +0 +[0-9.]+ +[0-9.]+ MiB +ok memory_tools" "$work/show.txt"'
check "mcpvisor monitor show --events: the recent events" '"$mcpvisor" --state-dir "$state" monitor show --events --limit 50 | grep -q "deployment_completed"'

# --- 2b. metrics under the guide's names, and recorded by hand
# (the metrics message follows the event: the client reads for 5 s)
node "$tm/client.js" ws://127.0.0.1:8765/ --out "$work/custom.ndjson" --timeout 5000 >/dev/null 2>&1 &
watcher=$!
sleep 1
out=$("$mcpvisor" --state-dir "$state" monitor record memory queue_depth=7 hit_ratio=0.93 2>&1); status=$?
check "monitor record: metrics recorded for a server" '[ $status -eq 0 ]'
wait "$watcher"
check "its metrics message carries them, with cpu_usage, memory_usage and response_time_ms" 'python3 - "$work/custom.ndjson" <<'"'"'PY'"'"'
import json, sys
msgs = [json.loads(l) for l in open(sys.argv[1])]
m = [x["data"] for x in msgs if x.get("type") == "metrics" and x["data"].get("server_name") == "memory" and x["data"].get("custom")]
assert m, "no metrics message with custom"
d = m[-1]
assert d["server_name"] == "memory" and d["custom"] == {"queue_depth": 7, "hit_ratio": 0.93}, d
assert isinstance(d["cpu_usage"], (int, float)) and isinstance(d["memory_usage"], (int, float)), d
assert isinstance(d["response_time_ms"], (int, float)) and d["response_time_ms"] > 0, d
PY'
check "and /metrics has them" 'curl -s http://127.0.0.1:8765/metrics | grep -q "^mcpvisor_server_custom{deployment_id=\"$dep\",server=\"memory\",name=\"queue_depth\"} 7$" && curl -s http://127.0.0.1:8765/metrics | grep -q "^mcpvisor_server_response_time_ms{deployment_id=\"$dep\",server=\"memory\"}"'
check "a custom check's details \"metrics\" are recorded as the server's" 'curl -s http://127.0.0.1:8765/metrics | grep -q "^mcpvisor_server_custom{deployment_id=\"$dep\",server=\"secretive\",name=\"queue_len\"} 3$"'
out=$("$mcpvisor" --state-dir "$state" monitor record memroy x=1 2>&1); status=$?
check "monitor record: an unknown server is refused, by name" '[ $status -ne 0 ] && grep -q "no server .memroy." <<<"$out"'
out=$("$mcpvisor" --state-dir "$state" monitor record memory 9lives=1 2>&1); status=$?
check "monitor record: a name Prometheus would refuse is refused" '[ $status -eq 2 ] && grep -q "is not NAME=NUMBER" <<<"$out"'

# --- 3. no secret in any message, metric, page or log of the monitor
curl -sf http://127.0.0.1:8765/ > "$work/page.html"
check "the secret reached its server" 'grep -q "$secret" /proc/$(pgrep -f "sleep 2001")/environ 2>/dev/null || tr "\0" "\n" < /proc/$(pgrep -f "sleep 2001")/environ | grep -q "$secret"'
check "no secret in WebSocket messages, /metrics, the page or the monitoring log" '! grep -q "$secret" "$work/all.ndjson" "$work/metrics.ndjson" "$work/metrics.txt" "$work/page.html" "$state"/logs/monitoring_*.log'

# --- 3b. RFC 6455's rules for clients: each breach closed with its code
rfc() { python3 "$tm/rfc6455.py" 8765 "$1" 2>/dev/null | tail -1; }
check "a text message that is not UTF-8: closed with 1007" '[ "$(rfc utf8)" = 1007 ]'
check "a frame declaring 2^63-1 bytes: closed with 1009 at once" '[ "$(rfc declared-2^63)" = 1009 ]'
check "a frame declaring 4 GiB: closed with 1009" '[ "$(rfc declared-4GiB)" = 1009 ]'
# a client still sending when the monitor closes may lose the close frame
# to TCP's reset of unread data: the refusal is then read in the log
too_large() { cat "$state"/logs/monitoring_*.log | grep -c "message too large: closing (1009)"; }
refusals=$(too_large)
check "a 16 MiB message: refused at its first bytes (1009, or dropped mid-send)" 'case "$(rfc 16MiB)" in 1009) true ;; eof|reset) wait_for "[ \$(too_large) -gt $refusals ]" 5 ;; *) false ;; esac'
check "endless fragments: closed with 1009" '[ "$(rfc fragments)" = 1009 ]'
check "a binary message: closed with 1003" '[ "$(rfc binary)" = 1003 ]'
check "the monitor serves on after all of them" 'curl -sf http://127.0.0.1:8765/healthz >/dev/null'

# --- 4. beyond loopback: the token, from another network namespace
# (a command line no other suite looks for: they run side by side)
remote_netns mv 10.77.0 7777
# monitor start moves the running daemon's monitor, and returns once it
# listens there
mlog() { cat "$state"/logs/monitoring_*.log; }
out=$("$mcpvisor" --state-dir "$state" monitor start --port 18766 --bind 0.0.0.0 2>&1); status=$?
token=$(cat "$state/monitor.token")
check "monitor start moves the daemon's monitor beyond loopback, and returns when it listens" '[ $status -eq 0 ] && grep -q "monitor on 0.0.0.0 port 18766" <<<"$out" && curl -sf http://127.0.0.1:18766/healthz >/dev/null && ! curl -sf http://127.0.0.1:8765/healthz >/dev/null && wait_for "mlog | grep -q \"need the token\"" 5'
check "monitor show --metrics reads the port it moved to" '"$mcpvisor" --state-dir "$state" monitor show --metrics | grep -q "^mcpvisor_monitor_clients "'
rcurl() { nsenter -t "$remote" -n curl -s -o /dev/null -w "%{http_code}" "$@"; }
check "remote, without the token: /metrics refused (401)" '[ "$(rcurl http://10.77.0.1:18766/metrics)" = 401 ]'
check "remote, with a wrong token: refused" '[ "$(rcurl -H "Authorization: Bearer 0000" http://10.77.0.1:18766/metrics)" = 401 ]'
check "remote, with the token as a bearer header: served" '[ "$(rcurl -H "Authorization: Bearer $token" http://10.77.0.1:18766/metrics)" = 200 ]'
nsenter -t "$remote" -n node "$tm/client.js" ws://10.77.0.1:18766/ --until-count 1 --timeout 5000 >"$work/remote.out" 2>&1; s1=$?
check "remote WebSocket without the token: refused" '[ $s1 -eq 2 ]'
nsenter -t "$remote" -n node "$tm/client.js" "ws://10.77.0.1:18766/?token=$token" --until-count 1 --timeout 5000 >/dev/null 2>&1; s2=$?
nsenter -t "$remote" -n node "$tm/client.js" ws://10.77.0.1:18766/ --bearer "$token" --until-count 1 --timeout 5000 >/dev/null 2>&1; s3=$?
check "remote WebSocket with the token (query or header): served the current state" '[ $s2 -eq 0 ] && [ $s3 -eq 0 ]'
check "the refusals are logged with the peer" 'mlog | grep -q "refused .* from 10.77.0.2:"'
out=$("$mcpvisor" --state-dir "$state" monitor start --port 8765 --bind 127.0.0.1 2>&1); status=$?
check "and back to loopback, port 8765" '[ $status -eq 0 ] && curl -sf http://127.0.0.1:8765/healthz >/dev/null && ! curl -sf http://127.0.0.1:18766/healthz >/dev/null'
# the guide's first step: the WebSocket client connected before the
# first deployment, with no daemon running yet
fresh="$work/fresh-state"
out=$("$mcpvisor" --state-dir "$fresh" monitor start --port 18767 2>&1); status=$?
check "monitor start with no daemon running starts one, and its monitor" '[ $status -eq 0 ] && pgrep -f "mcpvisord --state-dir $fresh" >/dev/null && curl -sf http://127.0.0.1:18767/healthz >/dev/null'
upgrade=$(curl -s -m 3 -o /dev/null -w "%{http_code}" -H "Connection: Upgrade" -H "Upgrade: websocket" -H "Sec-WebSocket-Version: 13" -H "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==" http://127.0.0.1:18767/)
check "a WebSocket client connects to it at once (101)" '[ "$upgrade" = 101 ]'
pkill -TERM -f "mcpvisord --state-dir $fresh"
wait_for "! pgrep -f \"mcpvisord --state-dir $fresh\" >/dev/null" 10

# --- 5. stalled clients and a flood. First 10 stalled beside 10 live: the
#        live get every event of a 10,000/s flood, no gap. Then 100
#        clients, 10 stalled and 90 live in three processes (more than two
#        cores can read at that rate): a client that falls behind is told
#        of each gap, nothing is skipped silently, the monitor's memory
#        stays bounded, and mcpvisord answers throughout.
clients() { node "$tm/client.js" ws://127.0.0.1:8765/ "$@"; }
connected() { curl -s http://127.0.0.1:8765/metrics | awk '/^mcpvisor_monitor_clients /{print $2}'; }
clients --stall --clients 10 --timeout 60000 >/dev/null 2>&1 &
stalled=$!
bg+=($stalled)
clients --clients 10 --until-synthetic 20000 --timeout 30000 --latency >"$work/live10.json" 2>&1 &
live=$!
wait_for '[ "$(connected)" = 20 ]' 10
python3 "$tm/control.py" "$state" synthetic 20000 10000
wait "$live"; lstatus=$?
echo "# 10 live beside 10 stalled: $(cat "$work/live10.json")"
check "10 stalled clients do not delay 10 live ones: every event, no gap" '[ $lstatus -eq 0 ] && [ "$(python3 -c "import json;d=json.load(open(\"$work/live10.json\"));print(d[\"received\"] >= 200000 and d[\"gaps\"] == 0 and d[\"unexplained\"] == 0)")" = True ]'
pids=()
for i in 1 2 3; do
	clients --clients 30 --until-synthetic 30000 --timeout 60000 --latency >"$work/live30.$i.json" 2>&1 &
	pids+=($!)
	bg+=($!)
done
wait_for '[ "$(connected)" = 100 ]' 10
rss_before=$(awk '/^VmRSS:/{print $2}' /proc/$(monitor_pid)/status)
python3 "$tm/control.py" "$state" pings 5 > "$work/pings.json" &
pinger=$!
python3 "$tm/control.py" "$state" synthetic 30000 10000
fstatus=0
for p in "${pids[@]}"; do wait "$p" || fstatus=1; done
wait "$pinger"
rss_after=$(awk '/^VmRSS:/{print $2}' /proc/$(monitor_pid)/status)
echo "# 90 live beside 10 stalled: $(cat "$work"/live30.*.json | tr '\n' ' ')"
check "90 live clients all reach the flood's last event; every skip told by a gap marker" '[ $fstatus -eq 0 ] && [ "$(cat "$work"/live30.*.json | python3 -c "import json,sys;print(all(json.loads(l)[\"unexplained\"] == 0 for l in sys.stdin))")" = True ]'
check "the 10 stalled clients are still connected" 'kill -0 $stalled && [ "$(connected)" -ge 10 ]'
# ASan keeps up to 256 MiB of freed memory in quarantine (and shadow)
rss_bound=65536
ldd "$build/mcpvisor-monitor" | grep -q libasan && rss_bound=1048576
check "the monitor's memory stayed bounded (RSS $rss_before -> $rss_after KiB, bound $rss_bound)" '[ "$rss_after" -lt "$rss_bound" ]'
echo "# control pings during the flood: $(cat "$work/pings.json")"
check "mcpvisord answered every ping during the flood, none slower than 1 s" '[ "$(python3 -c "import json;d=json.load(open(\"$work/pings.json\"));print(d[\"pings\"] > 100 and d[\"max_ms\"] < 1000)")" = True ]'
kill "$stalled" 2>/dev/null
# a client that asks to replay from a sequence number the ring still holds
last=$(curl -s http://127.0.0.1:8765/metrics | awk '/^mcpvisor_monitor_messages_total /{print $2}')
CLIENT_DEBUG=1 node "$tm/client.js" "ws://127.0.0.1:8765/?from_seq=$((last - 99))" --out "$work/replay.ndjson" --until-count 100 --timeout 5000 >"$work/replay.err" 2>&1; s=$?
check "replay from a sequence number: the 100 messages from there, in order" '[ $s -eq 0 ] && [ "$(ndjson "$work/replay.ndjson" "[x[\"seq\"] for x in m[:100]] == list(range($last - 99, $last + 1))")" = True ]' ||
	echo "# replay from $((last - 99)): client status $s, got $(ndjson "$work/replay.ndjson" "[(x.get(\"type\"), x.get(\"seq\")) for x in m[:3]] + [len(m)]"), $(wc -lc < "$work/replay.ndjson") lines and bytes, stderr: $(head -c 500 "$work/replay.err"); $(sed -n 2p "$work/replay.ndjson" | head -c 300)"
node "$tm/client.js" "ws://127.0.0.1:8765/?from_seq=1" --out "$work/gap.ndjson" --until-count 1 --timeout 5000 >/dev/null 2>&1
check "replay from what the ring no longer holds: a gap marker first" '[ "$(ndjson "$work/gap.ndjson" "(m[0][\"type\"], m[0][\"data\"][\"from_seq\"], m[0][\"data\"][\"reason\"])")" = "('"'"'gap'"'"', 1, '"'"'no_longer_buffered'"'"')" ]'
# a replay asked for with numbers no sequence can be: ignored, and the
# monitor serves on (a double that does not fit made an integer is
# undefined behaviour, which the sanitizers stop the monitor for)
mon_before=$(monitor_pid)
NODE_PATH="$tm/node_modules" node -e '
const ws = new (require("ws"))(process.argv[1]);
ws.on("open", () => {
	for (const n of ["1e300", "-1e300", "1.5", "9223372036854775808"])
		ws.send(`{"type":"replay","from_seq":${n}}`);
	setTimeout(() => process.exit(0), 500);
});
ws.on("error", () => process.exit(2));' "ws://127.0.0.1:8765/" >/dev/null 2>&1
check "a replay from 1e300, -1e300, 1.5 or 2^63 is ignored; the monitor serves on" '[ "$(monitor_pid)" = "$mon_before" ] && [ "$(curl -s http://127.0.0.1:8765/healthz)" = ok ]'

# --- 6. the monitor killed mid-deployment: the deployment finishes, the
#        monitor comes back, and a new client sees the current state
out=$(MONITOR_TEST_SECRET="$secret" mv deploy start "$spec" --detach 2>&1)
up=$(echo "$out" | tail -1)
old=$(monitor_pid)
kill -9 "$old"
check "monitor killed mid-deployment: the deployment succeeds all the same" 'wait_for "[ \"\$(python3 -c \"import json;print(json.load(open(\\\"$state/deployments/$up.json\\\"))[\\\"outcome\\\"])\" 2>/dev/null)\" = succeeded ]" 30'
check "the monitor comes back" 'wait_for "[ -n \"\$(monitor_pid)\" ] && [ \"\$(monitor_pid)\" != $old ] && curl -sf http://127.0.0.1:8765/healthz >/dev/null" 10'
node "$tm/client.js" ws://127.0.0.1:8765/ --out "$work/after.ndjson" --until-count 1 --timeout 5000 >/dev/null 2>&1
check "a new client gets the current state first" '[ "$(ndjson "$work/after.ndjson" "(m[0][\"type\"], m[0][\"data\"][\"deployment_id\"], m[0][\"data\"][\"phase\"], m[0][\"data\"][\"snapshot\"])")" = "('"'"'deployment_update'"'"', '"'"'$up'"'"', '"'"'running'"'"', True)" ]'
check "its restart is in the monitoring log" 'grep -q "killed by signal 9; restart in" "$state"/logs/monitoring_*.log'

# --- 7. the dashboard in chromium: servers reaching ready, live
(cd "$tm" && exec node dashboard.js http://127.0.0.1:8765/ "$artifacts/dashboard.png" 3 90000) >"$work/dash.out" 2>&1 &
dash=$!
bg+=($dash)
wait_for 'grep -q "^live" "$work/dash.out"' 20
# (the same spec again is an apply that would replace nothing: recreated,
# for the dashboard to watch them come up)
MONITOR_TEST_SECRET="$secret" mv deploy start "$spec" --force-recreate >/dev/null 2>&1
wait "$dash"; dstatus=$?
summary=$(tail -1 "$work/dash.out")
echo "# dashboard: $summary"
check "the dashboard shows the new servers reaching ready" '[ $dstatus -eq 0 ] && python3 -c "
import json, sys
d = json.loads(sys.argv[1])
assert any(\"starting\" in s or \"pending\" in s for s in d[\"seen\"].values()), d
assert all(s[-1] == \"ready\" for s in d[\"seen\"].values()), d
assert not d[\"errors\"], d[\"errors\"]
" "$summary"'
check "with health results and CPU/memory sparklines" 'python3 -c "
import json, sys
d = json.loads(sys.argv[1])
assert d[\"checks\"] >= 2 and max(d[\"sparkPoints\"]) >= 2, d
" "$summary"'
check "a screenshot is saved as a test artifact" '[ -s "$artifacts/dashboard.png" ] && [ "$(head -c 4 "$artifacts/dashboard.png" | od -An -c | tr -d " ")" = "211PNG" ]'

# --- 8. --no-monitoring and monitoring_enabled: false stop it
cur=$(ls -t "$state/deployments" | head -1 | sed 's/\.json$//')
mv deploy stop "$cur" >/dev/null 2>&1
MONITOR_TEST_SECRET="$secret" mv deploy start "$spec" --no-monitoring >/dev/null 2>&1
check "deploy start --no-monitoring: the monitor goes" 'wait_for "[ -z \"\$(monitor_pid)\" ]" 10'
MONITOR_TEST_SECRET="$secret" mv deploy start "$spec" --monitor-port 18767 >/dev/null 2>&1
check "deploy start --monitor-port: it comes back there" 'wait_for "curl -sf http://127.0.0.1:18767/healthz >/dev/null" 10'
cur=$(ls -t "$state/deployments" | head -1 | sed 's/\.json$//')
mv deploy stop "$cur" >/dev/null 2>&1
pkill -TERM -f "mcpvisord --state-dir $state"
check "mcpvisord stopped: its monitor went with it" 'wait_for "! pgrep -f \"mcpvisor-monitor --channel-fd 3 --state-dir $state\" >/dev/null" 10'

# --- 9. usage is measured when someone looks, and only then: with no
# client and no scrape, none of mcpvisor's processes wakes (a spinning
# server beside two idle ones, no health checks, monitoring on as
# packaged); a scrape measures at once; a connected client gets samples
# every metrics_interval_seconds, and they stop when it goes
idle="$work/idle"
mkdir -p "$idle/config/environments" "$idle/config/servers"
echo "variables: {}" > "$idle/config/environments/test.yaml"
for n in calm1 calm2; do
	printf 'name: %s\nserver_type: t\nrun:\n  command: /bin/sleep\n  args: ["3600"]\n  readiness: process\n  start_seconds: 0\n' "$n" > "$idle/config/servers/$n.yaml"
done
printf 'name: spin\nserver_type: t\nrun:\n  command: /bin/sh\n  args: ["-c", "while :; do :; done"]\n  readiness: process\n  start_seconds: 0\n' > "$idle/config/servers/spin.yaml"
cat > "$idle/spec.yaml" <<YAML
metadata: {name: idle, environment: test}
servers:
  - {name: calm1, parallel_safe: true}
  - {name: calm2, parallel_safe: true}
  - {name: spin, parallel_safe: true}
deployment_settings: {metrics_interval_seconds: 1, monitor_port: 18771}
YAML
iv() { "$mcpvisor" --config-dir "$idle/config" --state-dir "$idle/state" "$@"; }
iv deploy start "$idle/spec.yaml" >"$work/idle.out" 2>&1
ipids() { pgrep -f -- "--state-dir $idle/state"; pgrep -P "$(pgrep -f "mcpvisord --state-dir $idle/state" | head -1)" -x mcpvisor-worker; }
switches() { local t=0 p; for p in $(ipids | sort -u); do t=$((t + $(awk '/ctxt_switches/{s += $2} END {print s + 0}' "/proc/$p/status" 2>/dev/null || echo 0))); done; echo $t; }
wait_for "curl -sf http://127.0.0.1:18771/healthz >/dev/null" 10
check "the idle deployment runs, its monitor with it" '[ "$(ipids | sort -u | wc -l)" -ge 5 ]'
sleep 1
before=$(switches); sleep 3; after=$(switches)
check "nobody looking: mcpvisord, its 3 workers and the monitor make no wakeup in 3 s ($((after - before)))" '[ "$after" -eq "$before" ]'
curl -s http://127.0.0.1:18771/metrics > "$work/idle-metrics.txt"
check "a scrape measures at once: the spinning server near one CPU, the idle ones near none" 'awk -F"} " "/^mcpvisor_server_cpu_percent/ { if (\$1 ~ /spin/) s = \$2; else if (\$2 > 20) bad = 1 } END { exit !(s > 50 && !bad) }" "$work/idle-metrics.txt"'
node "$tm/client.js" ws://127.0.0.1:18771/ --out "$work/idle.ndjson" --until-count 100000 --timeout 3500 >/dev/null 2>&1
check "a connected client gets samples every second (3 or more of spin in 3.5 s)" '[ "$(ndjson "$work/idle.ndjson" "len([x for x in m if x[\"type\"] == \"metrics\" and x[\"data\"][\"server_name\"] == \"spin\"])")" -ge 3 ]'
sleep 0.5
before=$(switches); sleep 3; after=$(switches)
check "once it went, no wakeup again ($((after - before)))" '[ "$after" -eq "$before" ]'
check "deploy status measures when asked: usage of now in the live record" 'iv deploy status "$(ls "$idle/state/deployments" | grep "\.json$" | sed "s/\.json$//")" --json | python3 -c "
import json, sys, datetime
r = json.load(sys.stdin)
s = {x[\"name\"]: x for x in r[\"servers\"]}
assert s[\"spin\"][\"usage\"][\"cpu_percent\"] > 50, s[\"spin\"]
"'
pkill -TERM -f "mcpvisord --state-dir $idle/state"
wait_for "! pgrep -f -- \"--state-dir $idle/state\" >/dev/null" 10

# --- 10. the probes a kubelet or a container runtime asks, without the
# token: /readyz (the newest deployment succeeded and every server of it
# is ready) and /livez (mcpvisord answers a ping within 2 s), and the
# same through `mcpvisor probe`
probe="$work/probe"
mkdir -p "$probe/config/environments" "$probe/config/servers"
echo "variables: {}" > "$probe/config/environments/test.yaml"
printf 'name: prompt\nserver_type: t\nrun:\n  command: /bin/sleep\n  args: ["3600"]\n  readiness: process\n  start_seconds: 0\n' > "$probe/config/servers/prompt.yaml"
printf 'name: unhurried\nserver_type: t\nrun:\n  command: /bin/sleep\n  args: ["3600"]\n  readiness: process\n  start_seconds: 3\n' > "$probe/config/servers/unhurried.yaml"
cat > "$probe/spec.yaml" <<YAML
metadata: {name: probed, environment: test}
servers:
  - {name: prompt, parallel_safe: true}
  - {name: unhurried, parallel_safe: true}
deployment_settings: {monitor_port: 18772}
YAML
pv() { "$mcpvisor" --config-dir "$probe/config" --state-dir "$probe/state" "$@"; }
"$build/mcpvisord" --state-dir "$probe/state" --monitor-port 18772 --monitor-bind 0.0.0.0 >"$work/probe-daemon.log" 2>&1 &
bg+=($!)
wait_for "curl -sf http://127.0.0.1:18772/healthz >/dev/null" 10
code() { curl -s -o "$work/probe-body" -w "%{http_code}" "$@"; }
check "/readyz with no deployment: 503, saying so" '[ "$(code http://127.0.0.1:18772/readyz)" = 503 ] && grep -q "no deployment is running" "$work/probe-body"'
pv deploy start "$probe/spec.yaml" --detach >/dev/null
check "/readyz while a server is not yet ready: 503, naming the deployment" 'wait_for "[ \"\$(code http://127.0.0.1:18772/readyz)\" = 503 ] && grep -q \"probed is running\" \"$work/probe-body\"" 3'
pv probe ready >"$work/probe-out"; s=$?
check "probe ready says not yet, exit 1" '[ $s -eq 1 ] && grep -q "^not ready: deployment probed is running" "$work/probe-out"'
check "/readyz once every server is ready: 200" 'wait_for "[ \"\$(code http://127.0.0.1:18772/readyz)\" = 200 ]" 15 && grep -q "deployment probed is ready" "$work/probe-body"'
pv probe ready >"$work/probe-out"; s=$?
pv probe live >>"$work/probe-out"; s2=$?
check "probe ready and probe live: exit 0" '[ $s -eq 0 ] && [ $s2 -eq 0 ] && grep -q "^live$" "$work/probe-out"'
check "/livez: 200 while mcpvisord answers" '[ "$(code http://127.0.0.1:18772/livez)" = 200 ]'
check "from another host, without the token: /readyz and /livez answered, /metrics refused" '[ "$(rcurl http://10.77.0.1:18772/readyz)" = 200 ] && [ "$(rcurl http://10.77.0.1:18772/livez)" = 200 ] && [ "$(rcurl http://10.77.0.1:18772/metrics)" = 401 ]'
dpid=$(pgrep -f "mcpvisord --state-dir $probe/state" | head -1)
kill -STOP "$dpid"
t0=$(date +%s%N)
c=$(code http://127.0.0.1:18772/livez)
t1=$(date +%s%N)
kill -CONT "$dpid"
check "/livez with mcpvisord stopped: 503 after 2 s ($(( (t1 - t0) / 1000000 )) ms), saying why" '[ "$c" = 503 ] && [ $(( (t1 - t0) / 1000000 )) -ge 1900 ] && grep -q "did not answer a ping within 2 s" "$work/probe-body"'
check "and 200 again once it runs" 'wait_for "[ \"\$(code http://127.0.0.1:18772/livez)\" = 200 ]" 5'
kill -9 "$(pgrep -f "mcpvisor-monitor --channel-fd 3 --state-dir $probe/state" | head -1)"
pv probe live >/dev/null; s=$?
check "probe live asks mcpvisord itself, whatever the monitor does" '[ $s -eq 0 ]'
kill -TERM "$dpid"
wait_for "! pgrep -f -- \"--state-dir $probe/state\" >/dev/null" 10
pv probe live >"$work/probe-out" 2>&1; s=$?
check "probe live with no mcpvisord: exit 111" '[ $s -eq 111 ]'

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
