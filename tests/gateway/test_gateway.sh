#!/usr/bin/env bash
# mcpvisor-gateway with real clients and servers: the demo deployment's
# official MCP reference servers (stdio), the MCP Inspector CLI, the
# TypeScript SDK's client (tests/gateway/clients.js) and curl. Runs in a
# network namespace of its own, so that port 8780 is ours; a second one,
# joined by a veth pair, is the client beyond loopback the token is for.
# Usage: test_gateway.sh BUILD_DIR SOURCE_DIR
set -u
. "$(dirname "$0")/../lib/netns.sh"
own_netns "$0" "$@"
build=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)
mcpvisor="$build/mcpvisor"
work=$(mktemp -d "${TMPDIR:-/tmp}/mcpvisor-gw.XXXXXX")
state="$work/state"
modules="$src/deploy/mcp-servers/node_modules"
insp="$modules/.bin/mcp-inspector"
. "$src/tests/lib/check.sh"

cleanup() {
	pkill -TERM -f "mcpvisord --state-dir $state" 2>/dev/null
	wait_for "! pgrep -f \"mcpvisord --state-dir $state\" >/dev/null" 10
	pkill -KILL -f "$work/" 2>/dev/null
	[ -n "${remote:-}" ] && kill "$remote" 2>/dev/null
	[ -n "${KEEP:-}" ] && echo "# kept $work" || rm -rf "$work"
}
trap cleanup EXIT

if [ ! -x "$modules/.bin/mcp-server-everything" ] || [ ! -x "$insp" ]; then
	bad "the reference servers and the Inspector are not installed (bash deploy/install-deps.sh)"
	echo "$passed passed, $failed failed"
	exit 1
fi

U=http://127.0.0.1:8780/servers/everything/mcp
H=(-H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream')
init='{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"curl","version":"1"}}}'
gwlog() { cat "$state"/logs/gateway_*.log 2>/dev/null; }
servers() { curl -s -m 5 http://127.0.0.1:8780/servers; }
field() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
pid_of() { servers | field "[s for s in d if s['name']=='$1'][0]['pid']" 2>/dev/null; }
ready_names() { servers | field "','.join(sorted(s['name'] for s in d if s['state']=='ready'))" 2>/dev/null; }
pids_now() { servers | field "','.join('%s=%s' % (s['name'], s['pid']) for s in sorted(d, key=lambda s: s['name']))" 2>/dev/null; }
# a session: its id, from initialize's answer
open_session() {
	curl -s -m 10 -D "$work/h" -o "$work/init.out" "${H[@]}" -d "$init" "${1:-$U}" &&
		tr -d '\r' <"$work/h" | awk 'tolower($1)=="mcp-session-id:"{print $2}'
}
post() { curl -s -m 30 -o "$work/post.out" -w "%{http_code}" "${H[@]}" "$@"; }

# --- 1. the demo, its stdio servers behind the gateway (bound to every
# address, so that the namespace beyond loopback can try it)
"$build/mcpvisord" --state-dir "$state" --gateway-bind 0.0.0.0 \
	--init "$src/deploy/deployments/demo.yaml" --config-dir "$src/deploy/config" \
	>"$work/daemon.log" 2>&1 &
check "the demo deploys, and the gateway serves its three stdio servers, ready" \
	'wait_for "[ \"\$(ready_names)\" = everything,filesystem,memory ]" 60'
out=$(gwlog)
check "the gateway runs unprivileged: no capabilities, no_new_privs" 'gp=$(pgrep -f "mcpvisor-gateway --channel-fd 3 --state-dir $state"); grep -q "^NoNewPrivs:\s1" /proc/$gp/status && grep -q "^CapEff:\s0000000000000000" /proc/$gp/status'
out=$("$mcpvisor" --state-dir "$state" gateway list 2>&1)
check "gateway list: each server, its state and URL" 'grep -q "^everything .*ready .*http://127.0.0.1:8780/servers/everything/mcp" <<<"$out" && grep -q "^memory " <<<"$out"'
out=$("$mcpvisor" --state-dir "$state" gateway client-config everything 2>&1)
check "gateway client-config: the mcpServers JSON, at the gateway's URL" '[ "$(field "d[\"mcpServers\"][\"everything\"][\"url\"]" <<<"$out")" = "$U" ]'
"$mcpvisor" --state-dir "$state" gateway client-config everythin >/dev/null 2>&1; s=$?
check "gateway client-config of a server it does not serve: refused" '[ $s -ne 0 ]'

# --- 2. the MCP Inspector CLI, an independent client, through the gateway
for srv in everything memory filesystem; do
	out=$(timeout 60 "$insp" --cli "http://127.0.0.1:8780/servers/$srv/mcp" --transport http --method tools/list 2>&1)
	theirs=$(timeout 60 "$insp" --cli "$modules/.bin/mcp-server-$srv" $( [ $srv = everything ] && echo stdio ) $( [ $srv = filesystem ] && echo "$work" ) --method tools/list 2>/dev/null | field "sorted(t['name'] for t in d['tools'])")
	ours=$(sed -n '/^{/,$p' <<<"$out" | field "sorted(t['name'] for t in d['tools'])" 2>/dev/null)
	check "Inspector: tools/list of $srv through the gateway, as the server lists them itself" '[ -n "$ours" ] && [ "$ours" = "$theirs" ]'
done
out=$(timeout 60 "$insp" --cli "$U" --transport http --method tools/call --tool-name echo --tool-arg message=through-the-gateway 2>&1)
check "Inspector: tools/call echo through the gateway" 'grep -q "Echo: through-the-gateway" <<<"$out"'

# --- 3. many sessions on one process, each its own
out=$(timeout 120 node "$src/tests/gateway/clients.js" echo "$U" 100 5 2>&1)
check "100 concurrent sessions calling echo: each gets exactly its own answers" 'grep -q "100 sessions, 500 calls, each answered its own" <<<"$out"'
out=$(timeout 60 node "$src/tests/gateway/clients.js" progress "$U" 2>&1)
check "progress of a long-running tool reaches only its caller" 'grep -q "each to its caller" <<<"$out"'

# --- 4. Streamable HTTP, by the letter
sid=$(open_session)
check "initialize: 200, the server's own handshake, and an unguessable Mcp-Session-Id" '[ ${#sid} -eq 32 ] && grep -q "\"serverInfo\"" "$work/init.out" && grep -q "\"protocolVersion\":\"2025-11-25\"" "$work/init.out"'
check "a notification: 202" '[ "$(post -H "Mcp-Session-Id: $sid" -d "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}" $U)" = 202 ]'
check "a request without a session: 400" '[ "$(post -d "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/list\"}" $U)" = 400 ]'
check "a request of an unknown session: 404" '[ "$(post -H "Mcp-Session-Id: 0123456789abcdef0123456789abcdef" -d "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\"}" $U)" = 404 ]'
check "an unsupported MCP-Protocol-Version: 400, naming it" '[ "$(post -H "Mcp-Session-Id: $sid" -H "MCP-Protocol-Version: 1999-01-01" -d "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\"}" $U)" = 400 ] && grep -q 1999-01-01 "$work/post.out"'
check "a supported one: the request is answered as JSON" '[ "$(post -H "Mcp-Session-Id: $sid" -H "MCP-Protocol-Version: 2025-06-18" -d "{\"jsonrpc\":\"2.0\",\"id\":\"p\",\"method\":\"ping\"}" $U)" = 200 ] && grep -q "\"id\":\"p\"" "$work/post.out"'
check "a foreign Origin: 403 (DNS rebinding)" '[ "$(post -H "Origin: http://evil.example" -d "$init" $U)" = 403 ]'
check "a loopback Origin on our port: served" '[ "$(post -H "Origin: http://localhost:8780" -d "$init" $U)" = 200 ]'
check "a batch: 400, and why" '[ "$(post -H "Mcp-Session-Id: $sid" -d "[{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\"}]" $U)" = 400 ] && grep -q "one message per POST" "$work/post.out"'
check "not JSON: 400, a parse error" '[ "$(post -H "Mcp-Session-Id: $sid" -d "{nope" $U)" = 400 ] && grep -q "\-32700" "$work/post.out"'
head -c 5000000 /dev/zero | tr '\0' ' ' >"$work/big.json"
check "an oversized body: 413, and the gateway serves on" '[ "$(post -H "Mcp-Session-Id: $sid" --data-binary @"$work/big.json" $U)" = 413 ] && [ "$(post -H "Mcp-Session-Id: $sid" -d "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"ping\"}" $U)" = 200 ]'
check "GET /servers/NAME/mcp without accepting an event stream: 406" '[ "$(curl -s -o /dev/null -w "%{http_code}" -H "Accept: application/json" -H "Mcp-Session-Id: $sid" $U)" = 406 ]'
check "an unknown server: 404, naming it" '[ "$(post -d "$init" http://127.0.0.1:8780/servers/nope/mcp)" = 404 ] && grep -q "no server .nope." "$work/post.out"'
check "DELETE ends the session: 200, then 404" '[ "$(curl -s -o /dev/null -w "%{http_code}" -X DELETE -H "Mcp-Session-Id: $sid" $U)" = 200 ] && [ "$(post -H "Mcp-Session-Id: $sid" -d "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"ping\"}" $U)" = 404 ]'

# --- 5. the server killed mid-request: an error at once, 404 after, and
# a fresh initialize works against the restarted process
sid=$(open_session)
old=$(pid_of everything)
( post -H "Mcp-Session-Id: $sid" -d '{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"trigger-long-running-operation","arguments":{"duration":30,"steps":3}}}' $U >"$work/long.code"; cp "$work/post.out" "$work/long.out" ) &
longpid=$!
sleep 1
t0=$(date +%s%N)
kill -9 "$old"
wait $longpid
t1=$(date +%s%N)
check "kill -9 of the server mid-request: the call fails at once with a JSON-RPC error" '[ $(( (t1 - t0) / 1000000 )) -lt 3000 ] && grep -q "\"id\":9,\"error\"" "$work/long.out" && grep -q "server process ended" "$work/long.out"'
check "its session answers 404 afterwards" '[ "$(post -H "Mcp-Session-Id: $sid" -d "{\"jsonrpc\":\"2.0\",\"id\":10,\"method\":\"ping\"}" $U)" = 404 ]'
check "the server is restarted, and ready behind the gateway again" 'wait_for "[ -n \"\$(pid_of everything)\" ] && [ \"\$(pid_of everything)\" != $old ] && servers | grep -q \"\\\"name\\\":\\\"everything\\\",[^}]*\\\"state\\\":\\\"ready\\\"\"" 30'
sid=$(open_session)
check "a fresh initialize works against the new process" '[ ${#sid} -eq 32 ] && [ "$(post -H "Mcp-Session-Id: $sid" -d "{\"jsonrpc\":\"2.0\",\"id\":11,\"method\":\"tools/call\",\"params\":{\"name\":\"echo\",\"arguments\":{\"message\":\"again\"}}}" $U)" = 200 ] && grep -q "Echo: again" "$work/post.out"'

# --- 6. kill -9 of the gateway: it comes back; no server restarted
before=$(pids_now)
gp=$(pgrep -f "mcpvisor-gateway --channel-fd 3 --state-dir $state")
kill -9 "$gp"
check "kill -9 of the gateway: mcpvisord starts another" 'wait_for "p=\$(pgrep -f \"mcpvisor-gateway --channel-fd 3 --state-dir $state\") && [ \"\$p\" != $gp ] && servers | grep -q ready" 20'
check "every server kept its process, and is served again" 'wait_for "[ \"\$(pids_now)\" = \"$before\" ]" 10'
out=$(timeout 60 node "$src/tests/gateway/clients.js" echo "$U" 3 2 2>&1)
check "and clients are served by the new gateway" 'grep -q "3 sessions, 6 calls" <<<"$out"'

# --- 7. beyond loopback: the token, from another network namespace
remote_netns mg 10.78.0 7778
token=$(cat "$state/gateway.token")
rpost() { nsenter -t "$remote" -n curl -s -m 10 -o /dev/null -w "%{http_code}" "${H[@]}" "$@" -d "$init" http://10.78.0.1:8780/servers/everything/mcp; }
check "the token file is the daemon's alone (0600)" '[ "$(stat -c %a "$state/gateway.token")" = 600 ]'
check "remote, without the token: 401" '[ "$(rpost)" = 401 ]'
check "remote, with a wrong token: 401" '[ "$(rpost -H "Authorization: Bearer 0000")" = 401 ]'
check "remote, with the token: served" '[ "$(rpost -H "Authorization: Bearer $token")" = 200 ]'
check "the refusals name the peer; the token is never logged" 'gwlog | grep -q "refused .* from 10.78.0.2" && ! gwlog | grep -q "$token" && ! grep -q "$token" "$work/daemon.log"'

# --- 8. what the gateway offers of a server: gateway.tools, in a project
# of its own beside the demo (its daemon's gateway on another port)
mkdir -p "$work/filtered"
proj="$work/filtered/config"
cp -r "$src/deploy/config" "$proj"
# the environments find the servers' programs beside their directory
ln -s "$src/deploy/mcp-servers" "$work/filtered/mcp-servers"
cat >>"$proj/servers/everything.yaml" <<'YAML'

gateway:
  tools:
    allow: [echo, get-sum, get-env]
    deny: [get-env]
YAML
printf 'metadata: {name: filtered, environment: development}\nservers:\n  - {name: everything, health_checks: [mcp_stdio_ready]}\n' >"$work/filtered.yaml"
fstate="$work/fstate"
# the programs from the checkout: the copy under $work is outside a
# server's view of the host
MCPVISOR_MCP_BIN="$src/deploy/mcp-servers/node_modules/.bin" \
"$build/mcpvisord" --state-dir "$fstate" --gateway-port 18781 --monitor-port 18766 \
	--init "$work/filtered.yaml" --config-dir "$proj" --checks-dir "$src/deploy/health-checks" >"$work/fdaemon.log" 2>&1 &
FU=http://127.0.0.1:18781/servers/everything/mcp
fready() { curl -s http://127.0.0.1:18781/servers | grep -q '"state":"ready"'; }
check "a server with gateway.tools is served" 'wait_for fready 60'
out=$(timeout 60 "$insp" --cli "$FU" --transport http --method tools/list 2>&1)
check "the Inspector lists only what it allows and does not deny" '[ "$(sed -n "/^{/,\$p" <<<"$out" | field "\",\".join(sorted(t[\"name\"] for t in d[\"tools\"]))")" = echo,get-sum ]'
out=$(timeout 60 "$insp" --cli "$FU" --transport http --method tools/call --tool-name get-env 2>&1)
check "a tool it denies is refused, saying why" 'grep -q "tool .get-env. is not offered through the gateway" <<<"$out"'
out=$(timeout 60 "$insp" --cli "$FU" --transport http --method tools/call --tool-name get-sum --tool-arg a=2 --tool-arg b=3 2>&1)
check "one it allows is served" 'grep -q "5" <<<"$out"'
# an upgrade of it while a client calls in a loop: start-new-then-stop-
# old, the new version ready before the old one stops, the client served
# throughout but for the session that ends with the old process
fmv() { MCPVISOR_MCP_BIN="$src/deploy/mcp-servers/node_modules/.bin" "$mcpvisor" --state-dir "$fstate" --config-dir "$proj" --checks-dir "$src/deploy/health-checks" "$@"; }
from=$(( $(wc -l < "$fstate/events.journal") + 1 ))
timeout 60 node "$src/tests/gateway/clients.js" loop "$FU" 8 >"$work/loop.out" 2>"$work/loop.err" &
looper=$!
sleep 2
sed -i 's/allow: \[echo, get-sum, get-env\]/allow: [echo, get-sum, get-env, get-tiny-image]/' "$proj/servers/everything.yaml"
out=$(fmv deploy start "$work/filtered.yaml" 2>&1); s=$?
wait $looper
# the first of the server's events after $from is the new version's
seq=$(tail -n +"$from" "$fstate/events.journal" | python3 -c '
import json, sys
new = None
for line in sys.stdin:
    e = json.loads(line)
    if e.get("server_name") == "everything" and e["event_type"] in ("server_started", "server_ready", "server_exited"):
        new = new or e["deployment_id"]
        print(("new" if e["deployment_id"] == new else "old") + ":" + e["event_type"])' | tr '\n' ' ')
check "upgraded while a client calls in a loop: the new version ready before the old one stopped ($seq)" '[ $s -eq 0 ] && grep -q "upgrade_started_beside" <<<"$out" && [ "$seq" = "new:server_started new:server_ready old:server_exited " ]'
read -r _ calls _ lfailed _ reconnects < "$work/loop.out"
check "the client was served throughout: $calls calls, $lfailed failed (the session of the old process: $(head -c 200 "$work/loop.err"))" '[ "${calls:-0}" -ge 20 ] && [ "${lfailed:-9}" -le 1 ] && [ "${reconnects:-9}" -le 1 ]'
out=$(timeout 60 "$insp" --cli "$FU" --transport http --method tools/list 2>&1)
check "and the new version is what the gateway serves" 'sed -n "/^{/,\$p" <<<"$out" | grep -q get-tiny-image'
printf 'name: web\nserver_type: t\nrun:\n  command: sleep\n  args: ["9"]\n  transport: http\n  port: 9999\ngateway:\n  tools: {deny: [x]}\n' >"$proj/servers/web.yaml"
printf 'metadata: {name: web, environment: development}\nservers:\n  - {name: web}\n' >"$work/web.yaml"
out=$("$build/mcpvisord" --check "$work/web.yaml" --config-dir "$proj" 2>&1); s=$?
check "gateway: on an http server is refused at its file:line:col, with the reason" '[ $s -ne 0 ] && grep -q "servers/web.yaml:[0-9]*:[0-9]*: error: gateway: the gateway serves stdio servers" <<<"$out"'
pkill -TERM -f "mcpvisord --state-dir $fstate"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
