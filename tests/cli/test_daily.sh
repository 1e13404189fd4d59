#!/usr/bin/env bash
# The daily verbs with a real daemon: status (a table, --json, exit 3 for
# a named server that is down, "did you mean" for a name no deployment
# has), logs (-n, -f across a rotation, several servers), kill (a signal
# through the worker, an event, a restart per policy; exit 3 and 2 as
# status has them), shutdown (every server stopped, the daemon gone,
# exit 0).
# Usage: test_daily.sh BUILD_DIR
set -u
build=$(cd "$1" && pwd)
mcpvisor="$build/mcpvisor"
work=$(mktemp -d "${TMPDIR:-/tmp}/mcpvisor-daily.XXXXXX")
# shellcheck source=../lib/check.sh
. "$(dirname "$0")/../lib/check.sh"
trap 'pkill -KILL -f "$work/" 2>/dev/null; rm -rf "$work"' EXIT

cfg="$work/config"
mkdir -p "$cfg/environments" "$cfg/servers"
# shellcheck source=../lib/server_file.sh
. "$(dirname "$0")/../lib/server_file.sh"
echo "variables: {}" > "$cfg/environments/test.yaml"
# a line a tenth of a second, to a log rotated past 2 KiB
server talker '  command: /bin/sh
  args: ["-c", "i=0; while :; do i=$((i+1)); echo \"line $i of a talkative server, padded to be long enough\" >&2; sleep 0.02; done"]
  log_max_bytes: 2048'
server quiet '  command: /bin/sleep
  args: ["7401"]'
server oneshot '  command: /bin/sh
  args: ["-c", "echo done >&2"]
  restart: never'
# a server that notes each SIGHUP in a file of the test's
mkdir -p "$work/hupdir"
server catcher "  command: /bin/sh
  args: [\"-c\", \"trap 'echo hup >> $work/hupdir/hups' HUP; while :; do sleep 0.1; done\"]"
printf 'sandbox:\n  writable_paths: ["%s/hupdir"]\n' "$work" >> "$cfg/servers/catcher.yaml"
# app depends on db; picky refuses to come up once told to (up 1 s
# counts as started)
server db '  command: /bin/sleep
  args: ["7402"]'
server app '  command: /bin/sleep
  args: ["7403"]'
server picky "  command: /bin/sh
  args: [\"-c\", \"[ -e $work/hupdir/refuse ] && exit 4; exec sleep 7404\"]
  start_seconds: 1
  readiness: process"
printf 'sandbox:\n  readable_paths: ["%s/hupdir"]\n' "$work" >> "$cfg/servers/picky.yaml"
cat > "$work/spec.yaml" <<'YAML'
metadata: {name: daily, environment: test}
servers:
  - {name: talker, parallel_safe: true}
  - {name: quiet, parallel_safe: true}
  - {name: oneshot, parallel_safe: true}
  - {name: catcher, parallel_safe: true}
  - {name: db, parallel_safe: true}
  - {name: app, parallel_safe: true, dependencies: [db]}
  - {name: picky, parallel_safe: true}
deployment_settings: {monitoring_enabled: false}
YAML
state="$work/state"
mv() { "$mcpvisor" --config-dir "$cfg" --state-dir "$state" "$@"; }
out=$(mv deploy start "$work/spec.yaml" 2>&1)
wait_for "mv status --json | grep -q '\"state\":	\"exited\"'" 10

out=$(mv status 2>&1); status=$?
check "status: a table of every server, exit 0" '[ $status -eq 0 ] && grep -q "^STACK *SERVER *STATE *PID *UPTIME *RESTARTS *HEALTH *URL" <<<"$out" && grep -q "^daily *quiet *ready *[0-9]* *0m0[0-9]s *0 *- *http://127.0.0.1:[0-9]*/servers/quiet/mcp$" <<<"$out"'
quiet_pid=$(pgrep -x -f "/bin/sleep 7401")
check "with the server's own pid" 'grep -q "quiet *ready *$quiet_pid " <<<"$out"'
out=$(mv status --json 2>&1)
check "status --json parses: seven servers, their states, the gateway URL of each" 'python3 -c "
import json, sys
d = {x[\"server\"]: x for x in json.loads(sys.stdin.read())}
assert set(d) == {\"talker\", \"quiet\", \"oneshot\", \"catcher\", \"db\", \"app\", \"picky\"}, d
assert d[\"quiet\"][\"state\"] == \"ready\" and d[\"quiet\"][\"pid\"] == $quiet_pid
import re
assert re.match(r\"http://127[.]0[.]0[.]1:[0-9]+/servers/quiet/mcp\$\", d[\"quiet\"].get(\"url\", \"\")), d[\"quiet\"]
assert d[\"oneshot\"][\"state\"] == \"exited\"
" <<<"$out"'
out=$(mv status quiet 2>&1); status=$?
check "status of a running server: exit 0" '[ $status -eq 0 ]'
out=$(mv status quiet oneshot 2>&1); status=$?
check "status naming one that is not running: exit 3 (systemctl's)" '[ $status -eq 3 ]'
out=$(mv status quite 2>&1); status=$?
check "status of a name no deployment has: did you mean, exit 2" '[ $status -eq 2 ] && grep -q "no server .quite.; did you mean .quiet.?" <<<"$out"'

out=$(mv logs -n 3 talker 2>&1); status=$?
check "logs -n 3: the last three lines" '[ $status -eq 0 ] && [ "$(wc -l <<<"$out")" -eq 3 ] && grep -q "^line [0-9]* of a talkative" <<<"$out"'
out=$(mv logs -n 1 talker oneshot 2>&1)
check "logs of two servers: each line says whose" 'grep -q "^talker | line" <<<"$out" && grep -q "^oneshot | done" <<<"$out"'
# (itself, not a function's subshell, which would take the signal)
"$mcpvisor" --state-dir "$state" logs -f -n 0 talker >"$work/followed" 2>&1 &
follower=$!
sleep 3
kill -TERM "$follower"; wait "$follower"
first=$(head -n 1 "$work/followed" | awk '{print $2}')
last=$(tail -n 1 "$work/followed" | awk '{print $2}')
count=$(wc -l < "$work/followed")
check "logs -f across rotations (2 KiB each, several in 3 s): every line once, none lost ($count lines, $first to $last)" '[ -e "$state/servers/talker/output.log.1" ] && [ "$count" -gt 50 ] && [ $((last - first + 1)) -eq "$count" ]'
out=$(mv logs nobody 2>&1); status=$?
check "logs of a server that never ran: exit 2, saying so" '[ $status -eq 2 ] && grep -q "no server .nobody. has run here" <<<"$out"'

# kill: a signal through the worker; a server that dies of it comes back
server_hup="$work/hupdir/hups"
out=$(mv kill -s HUP catcher 2>&1); status=$?
check "kill -s HUP: the server's trap ran, it still runs, exit 0" '[ $status -eq 0 ] && grep -q "SIGHUP sent to catcher (pid [0-9]*)" <<<"$out" && wait_for "grep -q hup \"$server_hup\"" 5 && mv status catcher >/dev/null'
check "the event says which signal, which pid, who asked" 'grep -q "\"event_type\":\"server_signalled\".*\"signal\":\"HUP\".*\"requester_uid\":0" "$state/events.journal"'
out=$(mv kill quiet 2>&1); status=$?
check "kill (TERM by default): exit 0" '[ $status -eq 0 ] && grep -q "SIGTERM sent to quiet (pid $quiet_pid)" <<<"$out"'
check "and the server, dead of it, is restarted (restart: always) with a new pid" 'wait_for "p=\$(pgrep -x -f \"/bin/sleep 7401\"); [ -n \"\$p\" ] && [ \"\$p\" != $quiet_pid ]" 10'
out=$(mv kill -s USR1 quiet oneshot 2>&1); status=$?
check "kill naming one that is not running: exit 3, nothing sent" '[ $status -eq 3 ] && grep -q "server .oneshot. is not running (exited)" <<<"$out" && [ "$(grep -c server_signalled "$state/events.journal")" -eq 2 ]'
out=$(mv kill quite 2>&1); status=$?
check "kill of a name the deployment has not: did you mean, exit 2" '[ $status -eq 2 ] && grep -q "no server .quite.; did you mean .quiet.?" <<<"$out"'
out=$(mv kill -s STOP quiet 2>&1); status=$?
check "kill -s STOP (not one of the seven): refused, exit 2" '[ $status -eq 2 ] && grep -q "no signal .STOP." <<<"$out"'

# stop, start, restart: in dependency order, answered when done
pid_of() { pgrep -x -f "/bin/sleep $1"; }
db_pid=$(pid_of 7402); app_pid=$(pid_of 7403)
# the order servers of the daily deployment stopped or became ready in
order() { python3 -c '
import json, sys
seen = []
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e.get("event_type") == sys.argv[2] and e.get("server_name") in ("db", "app"):
        seen.append(e["server_name"])
print(" ".join(seen[int(sys.argv[3]):]))' "$state/events.journal" "$@"; }
out=$(mv stop db 2>&1); status=$?
check "stop db while app (its dependent) runs: refused, exit 1, naming it; nothing stopped" '[ $status -eq 1 ] && grep -q "server .db. has a running dependent, .app.: stop it first, or stop with dependents (-d)" <<<"$out" && [ "$(pid_of 7402)" = "$db_pid" ] && [ "$(pid_of 7403)" = "$app_pid" ]'
stopped_before=$(order server_exited 0 | wc -w)
out=$(mv stop -d db 2>&1); status=$?
check "stop -d db: app, then db, stopped; exit 0 once both are" '[ $status -eq 0 ] && grep -q "^stopping app, db" <<<"$out" && [ "$(order server_exited "$stopped_before")" = "app db" ] && ! pid_of 7402 >/dev/null && ! pid_of 7403 >/dev/null'
out=$(mv status db 2>&1); status=$?
check "status of the stopped db: stopped, exit 3" '[ $status -eq 3 ] && grep -q "db *stopped" <<<"$out"'
ready_before=$(order server_ready 0 | wc -w)
out=$(mv start app 2>&1); status=$?
check "start app: db (its dependency) first, then app; exit 0 once both are ready" '[ $status -eq 0 ] && grep -q "^starting db, app" <<<"$out" && [ "$(order server_ready "$ready_before")" = "db app" ] && mv status db app >/dev/null'
db_pid=$(pid_of 7402); app_pid=$(pid_of 7403)
out=$(mv restart db 2>&1); status=$?
check "restart db: a new db, ready, exit 0; app keeps its pid" '[ $status -eq 0 ] && [ -n "$(pid_of 7402)" ] && [ "$(pid_of 7402)" != "$db_pid" ] && [ "$(pid_of 7403)" = "$app_pid" ] && mv status db >/dev/null'
check "the events say who asked for what" 'grep -q "\"event_type\":\"server_stop_requested\".*\"action\":\"restart\".*\"requester_uid\":0" "$state/events.journal" && grep -q "server_action_completed" "$state/events.journal"'
touch "$work/hupdir/refuse"
out=$(mv restart picky 2>&1); status=$?
check "restart of a server that does not come back: exit 1, saying why" '[ $status -eq 1 ] && grep -q "mcpvisor restart: failed: picky: " <<<"$out" && grep -q "server_action_failed" "$state/events.journal"'
out=$(mv restart dbb 2>&1); status=$?
check "restart of a name the deployment has not: did you mean, exit 2" '[ $status -eq 2 ] && grep -q "no server .dbb.; did you mean .db.?" <<<"$out"'

out=$(mv shutdown 2>&1); status=$?
check "shutdown: exit 0 once mcpvisord is gone" '[ $status -eq 0 ] && grep -q "stopped every deployment and exited" <<<"$out" && ! pgrep -f "mcpvisord --state-dir $state" >/dev/null'
check "and no server is left" '! pgrep -x -f "/bin/sleep 7401" >/dev/null && ! pgrep -f "talkative server" >/dev/null'
check "the record says it stopped in order" 'grep -q "deployment_stopped" "$state/events.journal"'
out=$(mv status 2>&1); status=$?
check "status with no mcpvisord: exit 3" '[ $status -eq 3 ] && grep -q "not running" <<<"$out"'
out=$(mv shutdown 2>&1); status=$?
check "shutdown with none running: exit 0, saying so" '[ $status -eq 0 ] && grep -q "not running" <<<"$out"'

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
