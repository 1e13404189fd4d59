#!/usr/bin/env bash
# An http server whose file says run.port: auto, with a real daemon and a
# real HTTP server (python3's http.server): mcpvisord picks a free
# loopback port for each start, hands it to the server as $PORT, and its
# health check of port: auto checks that port; the plan upgrades it
# start-new-then-stop-old, and the new version, on a port of its own, is
# ready (answering HTTP) before the old one stops, while a client keeps
# fetching from whichever runs; a no-op apply keeps its pid and port; one
# of a written port is upgraded stop-then-start; port: auto on a stdio
# server, and a check of port: auto for a server of none, are refused at
# file:line:col.
# Usage: test_port_auto.sh BUILD_DIR
set -u
build=$(cd "$1" && pwd)
mcpvisor="$build/mcpvisor"
work=$(mktemp -d "${TMPDIR:-/tmp}/mcpvisor-port-auto.XXXXXX")
# shellcheck source=../lib/check.sh
. "$(dirname "$0")/../lib/check.sh"
trap 'pkill -KILL -f "$work/" 2>/dev/null; pkill -KILL -f "mcpvisord --state-dir $work" 2>/dev/null; pkill -KILL -f "http.server.*--bind 127.0.0.1 --directory $work" 2>/dev/null; rm -rf "$work"' EXIT

cfg="$work/config"
mkdir -p "$cfg/environments" "$cfg/servers" "$work/health-checks" "$work/www"
echo hello > "$work/www/index.html"
printf 'variables:\n  version: "one"\n' > "$cfg/environments/test.yaml"
server_sandbox="  readable_paths: [\"$work/www\"]"
# shellcheck source=../lib/server_file.sh
. "$(dirname "$0")/../lib/server_file.sh"
server web "  command: /bin/sh
  args: [\"-c\", \"exec python3 -m http.server \\\"\$PORT\\\" --bind 127.0.0.1 --directory $work/www\"]
  transport: http
  port: auto
  environment:
    VERSION: \"{{ env.version }}\""
server_sandbox="  readable_paths: [\"$work/www\", \"$work/fixed.port\"]"
server fixed "  command: /bin/sh
  args: [\"-c\", \"exec python3 -m http.server \$(cat $work/fixed.port) --bind 127.0.0.1 --directory $work/www\"]
  transport: http
  port: FIXED_PORT
  environment:
    VERSION: \"{{ env.version }}\""
fixed_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
echo "$fixed_port" > "$work/fixed.port"
sed -i "s/FIXED_PORT/$fixed_port/" "$cfg/servers/fixed.yaml"
cat > "$work/health-checks/web.yaml" <<'YAML'
health_checks:
  - name: web_http
    type: http
    timeout_seconds: 2
    retry_attempts: 20
    interval_seconds: 1
    config: {url: "http://127.0.0.1/index.html", port: auto, expected_status: [200]}
YAML
cat > "$work/spec.yaml" <<'YAML'
metadata: {name: ported, environment: test}
servers:
  - {name: web, parallel_safe: true, health_checks: [web_http]}
deployment_settings: {monitoring_enabled: false}
YAML
state="$work/state"
mv() { "$mcpvisor" --config-dir "$cfg" --state-dir "$state" "$@"; }
web_pid() { pgrep -f "http.server .* --directory $work/www" | while read -r p; do grep -qx "VERSION=$1" <(tr '\0' '\n' < "/proc/$p/environ" 2>/dev/null) && echo "$p"; done | head -1; }
env_of() { tr '\0' '\n' < "/proc/$1/environ" | sed -n "s/^$2=//p"; }
# the port the newest deployment's record gives server $1
port_of() { python3 -c '
import json, glob, sys
recs = sorted((json.load(open(p)) for p in glob.glob(sys.argv[1] + "/deployments/*.json")), key=lambda r: r["started_at"])
print([s.get("port", "-") for s in recs[-1]["servers"] if s["name"] == sys.argv[2]][0])' "$state" "$1"; }
fetch() { curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$1/index.html"; }

"$build/mcpvisord" --state-dir "$state" >>"$work/daemon.log" 2>&1 &
check "mcpvisord answers" 'wait_for "mv status >/dev/null 2>&1; [ \$? -ne 3 ]" 10'
out=$(mv deploy start "$work/spec.yaml" 2>&1); status=$?
p1=$(web_pid one); port1=$(port_of web)
check "run.port auto: deployed, the port picked recorded ($port1) and said" '[ $status -eq 0 ] && [ -n "$p1" ] && [ "$port1" != - ] && grep -q "port_picked.*port $port1 (run.port auto)" <<<"$out"'
check "status --json gives it" '[ "$(mv status --json | python3 -c "import json,sys; print([e.get(\"port\") for e in json.load(sys.stdin) if e[\"server\"] == \"web\"][0])")" = "$port1" ]'
check "the server has it as \$PORT, listens there, and the check of port: auto passed" '[ "$(env_of "$p1" PORT)" = "$port1" ] && [ "$(fetch "$port1")" = 200 ] && grep -q "web_http" <<<"$out"'

out=$(mv deploy start "$work/spec.yaml" 2>&1); status=$?
check "a no-op apply keeps its pid and its port" '[ $status -eq 0 ] && [ "$(web_pid one)" = "$p1" ] && [ "$(port_of web)" = "$port1" ] && [ "$(fetch "$port1")" = 200 ]'

printf 'variables:\n  version: "two"\n' > "$cfg/environments/test.yaml"
out=$(mv deploy start "$work/spec.yaml" --dry-run --json 2>&1); status=$?
check "dry run: web changed, started first (two versions can run at once)" '[ $status -eq 0 ] && python3 -c "
import json, sys
d = json.load(sys.stdin)[\"apply\"]
s = [s for s in d[\"servers\"] if s[\"server\"] == \"web\"][0]
assert s[\"change\"] == \"changed\" and s.get(\"order\") == \"start_first\", s
" <<<"$out"'
# a client fetching all along from the version the records say is ready
# (the newest ready one); on a failure it reads them again and retries,
# at most 3 times 50 ms apart, as a client of a moving endpoint does
python3 - "$state" "$work/stop-client" > "$work/client.log" <<'PY' &
import glob, json, os, sys, time, urllib.request
state, stop = sys.argv[1:3]

def ready_port():
    port = None
    for path in sorted(glob.glob(state + "/deployments/*.json")):
        try:
            rec = json.load(open(path))
        except ValueError:
            continue
        for s in rec.get("servers", []):
            if s["name"] == "web" and s.get("state") == "ready" and "port" in s:
                port = s["port"]
    return port

while not os.path.exists(stop):
    outcome = None
    for attempt in range(4):
        port = ready_port()
        try:
            code = urllib.request.urlopen("http://127.0.0.1:%d/index.html" % port, timeout=2).status
            outcome = "%s%s" % (code, " after %d retries" % attempt if attempt else "")
            break
        except Exception as e:
            outcome = "failed: port %s: %s" % (port, e)
            time.sleep(0.05)
    print(outcome, flush=True)
    time.sleep(0.02)
PY
client=$!
sleep 0.5
out=$(mv deploy start "$work/spec.yaml" 2>&1); status=$?
sleep 0.5
touch "$work/stop-client"; wait "$client"
p2=$(web_pid two); port2=$(port_of web)
seq=$(python3 -c '
import json, sys
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e.get("server_name") == "web" and e["event_type"] in ("server_started", "server_ready", "server_exited"):
        print(e["event_type"] + ":" + e["deployment_id"][-6:])' "$state/events.journal" | tail -3 | sed 's/:.*//' | tr '\n' ' ')
check "upgrade: succeeded, the new version on a port of its own ($port1 -> $port2)" '[ $status -eq 0 ] && [ -n "$p2" ] && [ "$port2" != "$port1" ] && [ "$(env_of "$p2" PORT)" = "$port2" ] && [ "$(fetch "$port2")" = 200 ]'
check "it was ready before the old one stopped ($seq)" '[ "$seq" = "server_started server_ready server_exited " ] && grep -q "upgrade_started_beside" <<<"$out"'
check "the old version is gone, its port closed" '[ -z "$(web_pid one)" ] && [ "$(fetch "$port1")" = 000 ]'
check "the client's every request was answered ($(sort "$work/client.log" | uniq -c | tr -s ' \n' ' '))" '[ "$(wc -l < "$work/client.log")" -ge 10 ] && ! grep -q "^failed" "$work/client.log"'

out=$(mv health run web_http --server web --json 2>&1); status=$?
check "health run of the check, for the running server: its picked port checked (the old one is closed)" '[ $status -eq 0 ] && grep -q "HTTP 200" <<<"$out"'
out=$(mv health run web_http 2>&1); status=$?
check "health run of it for no server: fails, saying it has no port to check" '[ $status -ne 0 ] && grep -q "port .auto. is the port of the server it checks, and it is run for no server with a port" <<<"$out"'

# a written port cannot be shared: stop-then-start
cat >> "$work/spec.yaml" <<'YAML'
  - {name: fixed, parallel_safe: true}
YAML
sed -i 's/^deployment_settings.*//' "$work/spec.yaml"; echo 'deployment_settings: {monitoring_enabled: false}' >> "$work/spec.yaml"
out=$(mv deploy start "$work/spec.yaml" 2>&1); status=$?
printf 'variables:\n  version: "three"\n' > "$cfg/environments/test.yaml"
out=$(mv deploy start "$work/spec.yaml" --dry-run --json 2>&1)
check "a server of a written port is planned stop-then-start, one of port auto start-first" '[ $status -eq 0 ] && wait_for "[ \"\$(fetch $fixed_port)\" = 200 ]" 10 && python3 -c "
import json, sys
d = json.load(sys.stdin)[\"apply\"]
order = {s[\"server\"]: s.get(\"order\") for s in d[\"servers\"]}
assert order == {\"web\": \"start_first\", \"fixed\": \"stop_first\"}, order
" <<<"$out"'

server noport '  command: /bin/cat'
printf 'metadata: {name: noport, environment: test}\nservers:\n  - {name: noport, health_checks: [web_http]}\n' > "$work/noport.yaml"
out=$(mv deploy start "$work/noport.yaml" 2>&1); status=$?
check "a check of port: auto for a server of no port: refused at the check's file:line:col" '[ $status -eq 100 ] && grep -q "health-checks/web.yaml:7:[0-9]*: .*port .auto. is the port of the server it checks, and server .noport. names none" <<<"$out"'
rm "$cfg/servers/noport.yaml"

server stdio_auto '  command: /bin/cat
  port: auto'
printf 'metadata: {name: wrong, environment: test}\nservers:\n  - {name: stdio_auto}\n' > "$work/wrong.yaml"
out=$(mv deploy start "$work/wrong.yaml" 2>&1); status=$?
check "port auto on a stdio server: refused at file:line:col" '[ $status -eq 100 ] && grep -q "stdio_auto.yaml:[0-9]*:[0-9]*: .*run.port .auto. is for a server of transport http" <<<"$out"'
sed -i 's/port: auto/port: sometimes/' "$cfg/servers/stdio_auto.yaml"
out=$(mv deploy start "$work/wrong.yaml" 2>&1); status=$?
check "a port neither a number nor auto: refused, saying what it may be" '[ $status -eq 100 ] && grep -q "stdio_auto.yaml:[0-9]*:[0-9]*: .*must be an integer or .auto., not string .sometimes." <<<"$out"'

out=$(mv shutdown 2>&1); status=$?
check "shutdown: no server is left" '[ $status -eq 0 ] && [ -z "$(pgrep -f "http.server .* --directory $work/www")" ]'
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
