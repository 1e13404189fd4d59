#!/usr/bin/env bash
# deploy start of a spec that runs already is an apply, with a real
# daemon and real processes: a no-op apply replaces nothing (every pid
# kept); a change to one server of five replaces exactly that one; a
# server that follows its dependencies (restart_on_dependency_change) is
# replaced with a dependency, one that does not keeps its pid; a secret's
# new value replaces its server; a server left out of the spec is
# stopped; --force-recreate replaces them all; --dry-run shows each of
# these (added, changed with its keys, unchanged, removed) and starts
# nothing; mcpvisor reload and SIGHUP read the running deployment's files
# again and apply what changed. A stdio server is replaced
# start-new-then-stop-old (one that says upgrade_stop_first, the other way
# round), so that a failing new version leaves the running one untouched.
# --wait queues a deployment behind the one under way.
# Usage: test_apply.sh BUILD_DIR
set -u
build=$(cd "$1" && pwd)
mcpvisor="$build/mcpvisor"
work=$(mktemp -d "${TMPDIR:-/tmp}/mcpvisor-apply.XXXXXX")
# shellcheck source=../lib/check.sh
. "$(dirname "$0")/../lib/check.sh"
trap 'pkill -KILL -f "$work/" 2>/dev/null; pkill -KILL -f "/bin/sleep 74[0-9][0-9]" 2>/dev/null; rm -rf "$work"' EXIT

cfg="$work/config"
mkdir -p "$cfg/environments" "$cfg/servers"
# shellcheck source=../lib/server_file.sh
. "$(dirname "$0")/../lib/server_file.sh"
cat > "$cfg/environments/test.yaml" <<'YAML'
variables:
  level: info
secrets:
  token: "APPLY_TOKEN"
YAML
# each server a sleep of its own number, so that its pid can be found
for s in a:7411 b:7412 c:7413 d:7414 e:7415; do
	server "${s%%:*}" "  command: /bin/sleep
  args: [\"${s#*:}\"]
  environment:
    LEVEL: \"{{ env.level }}\""
done
# f holds a secret in its environment
server f '  command: /bin/sleep
  args: ["7416"]
  environment:
    TOKEN: "{{ env.token }}"'
spec() {
	cat > "$work/spec.yaml" <<YAML
metadata: {name: applied, environment: test}
servers:
  - {name: a, parallel_safe: true}
  - {name: b, parallel_safe: true, retry_attempts: 0}
  - {name: c, parallel_safe: true, upgrade_stop_first: true}
  - {name: d, parallel_safe: true, dependencies: [c], restart_on_dependency_change: true}
  - {name: e, parallel_safe: true, dependencies: [c]}
$1
deployment_settings: {monitoring_enabled: false}
YAML
}
spec "  - {name: f, parallel_safe: true}"
state="$work/state"
mv() { "$mcpvisor" --config-dir "$cfg" --state-dir "$state" "$@"; }
export APPLY_TOKEN=first-token-value
pids() { for n in 7411 7412 7413 7414 7415 7416; do p=$(pgrep -x -f "/bin/sleep $n"); echo "${p:--}"; done | tr '\n' ' '; }
# whether every deployment but the newest is over (the next apply is
# taken only then)
settled() { python3 -c '
import json, glob, sys
recs = sorted((json.load(open(p)) for p in glob.glob(sys.argv[1] + "/deployments/*.json")), key=lambda r: r["started_at"])
sys.exit(0 if all(r["state"] == "done" for r in recs[:-1]) else 1)' "$state"; }
# the events of server $1 since journal line $2, as "deployment:type"
# (the deployment as old or new: $3 is the new one's id)
seq_of() { tail -n +"$2" "$state/events.journal" | python3 -c '
import json, sys
for line in sys.stdin:
    e = json.loads(line)
    if e.get("server_name") == sys.argv[1] and e["event_type"] in ("server_started", "server_ready", "server_exited"):
        print(("new" if e["deployment_id"] == sys.argv[2] else "old") + ":" + e["event_type"])' "$1" "$3" | tr '\n' ' '; }
journal_at() { echo $(( $(wc -l < "$state/events.journal") + 1 )); }
newest() { "$mcpvisor" --state-dir "$state" deploy list --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])'; }
# the one pid of column N of a pids line
col() { awk -v n="$2" '{print $n}' <<<"$1"; }
# whether pids line $1 has $before's pid in each column named after it
kept() { local now=$1 i; shift; for i; do [ "$(col "$now" "$i")" = "$(col "$before" "$i")" ] || return 1; done; }
# deploys the spec again, once every deployment before it is over: its
# output and status, its first journal line, the pids after
apply_now() {
	from=$(journal_at)
	out=$(mv deploy start "$work/spec.yaml" "$@" 2>&1); status=$?
	wait_for settled 10
	after=$(pids)
}

out=$(mv deploy start "$work/spec.yaml" 2>&1); status=$?
before=$(pids)
check "first deployment: six servers up ($before)" '[ $status -eq 0 ] && ! grep -q -- - <<<"$before"'

out=$(mv deploy start "$work/spec.yaml" --dry-run 2>&1); status=$?
check "dry run of the same spec: every server unchanged, kept as it runs" '[ $status -eq 0 ] && grep -q "^Over the running deployment deploy_" <<<"$out" && [ "$(grep -c "^  unchanged .* kept as it runs" <<<"$out")" -eq 6 ]'
check "and it started nothing" '[ "$(pids)" = "$before" ] && [ "$(ls "$state"/deployments/*.json | wc -l)" -eq 1 ]'

out=$(mv deploy start "$work/spec.yaml" 2>&1); status=$?
check "no-op apply: succeeded, every pid unchanged" '[ $status -eq 0 ] && [ "$(pids)" = "$before" ]'
check "the apply said so: 0 to replace, 6 unchanged" 'grep -q "over deploy_[^ ]*: 0 to replace, 6 unchanged, 0 added, 0 removed" <<<"$out" && [ "$(grep -c "\"event_type\":\"server_kept\"" "$state/events.journal")" -eq 6 ]'

# b's environment changes: b alone is replaced
sed -i 's/LEVEL: "{{ env.level }}"/LEVEL: "debug"/' "$cfg/servers/b.yaml"
out=$(mv deploy start "$work/spec.yaml" --dry-run --json 2>&1); status=$?
check "dry run --json: b changed (run.environment.LEVEL, started first: a stdio server), five unchanged" '[ $status -eq 0 ] && python3 -c "
import json, sys
d = json.load(sys.stdin)[\"apply\"]
ch = {s[\"server\"]: (s[\"change\"], s[\"keys\"]) for s in d[\"servers\"]}
assert ch[\"b\"] == (\"changed\", [\"run.environment.LEVEL\"]), ch
assert [s.get(\"order\") for s in d[\"servers\"] if s[\"server\"] == \"b\"] == [\"start_first\"], d
assert sorted(n for n, (c, k) in ch.items() if c == \"unchanged\") == [\"a\", \"c\", \"d\", \"e\", \"f\"], ch
assert d[\"removed\"] == []
" <<<"$out"'
apply_now
b_seq=$(seq_of b "$from" "$(newest)")
check "start-new-then-stop-old: b's new version was ready before the old one stopped ($b_seq)" '[ "$b_seq" = "new:server_started new:server_ready old:server_exited " ]'
check "apply of one changed server: b alone has a new pid ($before -> $after)" '[ $status -eq 0 ] && [ "$(col "$after" 2)" != "$(col "$before" 2)" ] && [ "$(col "$after" 2)" != - ] && kept "$after" 1 3 4 5 6'
check "the event names what changed" 'grep -q "\"event_type\":\"server_changed\".*\"server_name\":\"b\"" "$state/events.journal" && grep -q " b  *server_changed  *to be replaced (changed): run.environment.LEVEL$" <<<"$out"'
check "the record says which were kept and which changed" 'python3 -c "
import json, glob, os, sys
rec = max((json.load(open(p)) for p in glob.glob(\"$state/deployments/*.json\")), key=lambda r: r[\"started_at\"])
ch = {s[\"name\"]: s.get(\"change\") for s in rec[\"servers\"]}
assert ch == {\"a\": \"unchanged\", \"b\": \"changed\", \"c\": \"unchanged\", \"d\": \"unchanged\", \"e\": \"unchanged\", \"f\": \"unchanged\"}, ch
"'

# c changes: d follows it (restart_on_dependency_change), e does not
before=$after
sed -i 's/LEVEL: "{{ env.level }}"/LEVEL: "warning"/' "$cfg/servers/c.yaml"
apply_now
c_seq=$(seq_of c "$from" "$(newest)")
check "upgrade_stop_first: c's old version stopped before its new one started ($c_seq)" '[ "$c_seq" = "old:server_exited new:server_started new:server_ready " ]'
check "c changed: c and d (which follows it) replaced; a, b, e, f kept" '[ $status -eq 0 ] && [ "$(col "$after" 3)" != "$(col "$before" 3)" ] && [ "$(col "$after" 4)" != "$(col "$before" 4)" ] && kept "$after" 1 2 5 6'
check "d was replaced for its dependency" 'grep -q " d  *server_changed  *to be replaced (follows_dependency): dependency c$" <<<"$out"'

# a secret's new value: f, and only f, is replaced, and nothing says it
before=$after
export APPLY_TOKEN=second-token-value
apply_now
check "a secret's new value replaces its server alone" '[ $status -eq 0 ] && [ "$(col "$after" 6)" != "$(col "$before" 6)" ] && kept "$after" 1 2 3 4 5'
check "named masked, never in clear" 'grep -q " f  *server_changed  *to be replaced (changed): run.environment.TOKEN$" <<<"$out" && ! grep -rq "first-token-value\|second-token-value" "$state/events.journal" "$state/deployments" "$state/logs"'

# f left out: stopped once the rest is ready; the rest kept
before=$after
spec ""
out=$(mv deploy start "$work/spec.yaml" --dry-run 2>&1)
check "dry run: f removed" 'grep -q "^  removed  *f  *stopped once the rest is ready" <<<"$out"'
# (the deployment it replaced stops what it alone ran once it succeeded:
# apply_now waits for that)
apply_now
check "a server left out of the spec is stopped; the rest keep their pids" '[ $status -eq 0 ] && [ "$(col "$after" 6)" = - ] && kept "$after" 1 2 3 4 5'

# --force-recreate: every one replaced
before=$after
out=$(mv deploy start "$work/spec.yaml" --dry-run --force-recreate 2>&1)
check "dry run --force-recreate: five recreated" '[ "$(grep -c "^  recreated " <<<"$out")" -eq 5 ]'
apply_now --force-recreate
check "--force-recreate: every server has a new pid" '[ $status -eq 0 ] && for i in 1 2 3 4 5; do [ "$(col "$after" $i)" != "$(col "$before" $i)" ] && [ "$(col "$after" $i)" != - ] || exit 1; done'
# --wait: while a deployment is under way, another waits its turn (each
# server's old version takes its 2 s stdin grace to stop: a sleep does not
# read its input)
wait_for settled 10
mv deploy start "$work/spec.yaml" --force-recreate --detach >/dev/null 2>&1
out=$(mv deploy start "$work/spec.yaml" 2>&1); status=$?
check "deploy start while another is under way: refused, naming it, exit 1" '[ $status -eq 1 ] && grep -Eq "deployment deploy_[^ ]* (of (stack )?[^ ]* )?is (active|being prepared)" <<<"$out"'
out=$(mv deploy start "$work/spec.yaml" --wait 2>&1); status=$?
check "with --wait: it waits for that one, then applies (exit 0)" '[ $status -eq 0 ] && grep -q "^mcpvisor deploy start: waiting: deployment deploy_" <<<"$out" && grep -q "0 to replace, 5 unchanged" <<<"$out"'
wait_for settled 10
out=$(mv deploy start "$work/spec.yaml" --dry-run --wait 2>&1); status=$?
check "--dry-run --wait: refused, exit 2" '[ $status -eq 2 ] && grep -q "a dry run starts none" <<<"$out"'
out=$(mv deploy start "$work/spec.yaml" --once --force-recreate 2>&1); status=$?
check "--once --force-recreate: refused, exit 2" '[ $status -eq 2 ] && grep -q "takes no --force-recreate" <<<"$out"'

# reload: the running deployment's files read again, what changed applied
wait_for settled 10
before=$(pids)
sed -i 's/LEVEL: "{{ env.level }}"/LEVEL: "error"/' "$cfg/servers/a.yaml"
out=$(mv reload 2>&1); status=$?
wait_for settled 10
after=$(pids)
check "mcpvisor reload: a (edited) alone replaced, exit 0" '[ $status -eq 0 ] && grep -q " a  *server_changed  *to be replaced (changed): run.environment.LEVEL$" <<<"$out" && [ "$(col "$after" 1)" != "$(col "$before" 1)" ] && kept "$after" 2 3 4 5'
wait_for settled 10
out=$(mv reload 2>&1); status=$?
check "reload with nothing changed: nothing replaced" '[ $status -eq 0 ] && grep -q "0 to replace, 5 unchanged" <<<"$out" && [ "$(pids)" = "$after" ]'
wait_for settled 10
before=$(pids)
sed -i 's/LEVEL: "{{ env.level }}"/LEVEL: "notice"/' "$cfg/servers/e.yaml"
applies=$(grep -c '"event_type":"apply_planned"' "$state/events.journal")
daemon=$(pgrep -f "mcpvisord --state-dir $state")
kill -HUP "$daemon"
check "SIGHUP to mcpvisord: the same reload, e (edited) replaced" 'wait_for "[ \$(grep -c \"\\\"event_type\\\":\\\"apply_planned\\\"\" \"$state/events.journal\") -gt $applies ] && [ \"\$(col \"\$(pids)\" 5)\" != \"$(col "$before" 5)\" ] && [ \"\$(col \"\$(pids)\" 5)\" != - ]" 15 && kept "$(pids)" 1 2 3 4'
check "mcpvisord still runs, and its log says why it reloaded" 'kill -0 "$daemon" && grep -q "SIGHUP: reloading stack applied.s files as deploy_" "$state/logs/mcpvisord.log"'
wait_for settled 10

# an apply whose one changed server fails is rolled back: that server's
# running version comes back, and what the apply kept is given back as it
# runs, pids and all
before=$(pids)
cp "$cfg/servers/b.yaml" "$work/b.yaml.good"
server b '  command: /bin/sh
  args: ["-c", "exit 3"]
  start_seconds: 1'
apply_now
check "a failing apply: exit 1, rolled back" '[ $status -eq 1 ] && grep -q "rollback_completed\|rollback_succeeded\|rolled back" <<<"$out"'
check "every server runs on with its pid, b too: its new version started beside it and never replaced it" 'kept "$after" 1 2 3 4 5'
cp "$work/b.yaml.good" "$cfg/servers/b.yaml"

# a dry run whose files are wrong: refused with the file, nothing moves
before=$(pids)
printf 'run:\n  command: [unclosed\n' > "$cfg/servers/e.yaml"
out=$(mv deploy start "$work/spec.yaml" --dry-run 2>&1); status=$?
check "dry run of a broken server file: exit 100, file:line:col; nothing moved" '[ $status -eq 100 ] && grep -q "e.yaml:[0-9]*:[0-9]*" <<<"$out" && [ "$(pids)" = "$before" ]'

mv shutdown >/dev/null 2>&1
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
