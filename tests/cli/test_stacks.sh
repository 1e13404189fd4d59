#!/usr/bin/env bash
# Several stacks in one daemon, with real processes: two specs (two
# metadata.names) deployed at the same time both come up; deploying one
# again leaves the other's pids unchanged; a spec claiming a server of
# another running stack is refused, naming both, and disturbs neither;
# stopping one stack leaves the other running; reload needs a stack's
# name once several run; kill -9 of mcpvisord with three stacks running
# brings all three back on restart, each from its own current
# deployment.
# Usage: test_stacks.sh BUILD_DIR
set -u
build=$(cd "$1" && pwd)
mcpvisor="$build/mcpvisor"
mcpvisord="$build/mcpvisord"
work=$(mktemp -d "${TMPDIR:-/tmp}/mcpvisor-stacks.XXXXXX")
# shellcheck source=../lib/check.sh
. "$(dirname "$0")/../lib/check.sh"
trap 'pkill -KILL -f "mcpvisord --state-dir $work" 2>/dev/null; pkill -KILL -f "$work/" 2>/dev/null; pkill -KILL -f "/bin/sleep 743[0-9]" 2>/dev/null; rm -rf "$work"' EXIT

cfg="$work/config"
mkdir -p "$cfg/environments" "$cfg/servers"
# shellcheck source=../lib/server_file.sh
. "$(dirname "$0")/../lib/server_file.sh"
echo "variables: {level: info}" > "$cfg/environments/test.yaml"
# each server a sleep of its own number, so that its pid can be found
for s in a1:7431 a2:7432 b1:7433 b2:7434 c1:7435; do
	server "${s%%:*}" "  command: /bin/sleep
  args: [\"${s#*:}\"]
  environment:
    LEVEL: \"{{ env.level }}\""
done
# spec FILE NAME SERVER...: a stack of those servers
spec() {
	local file=$1 name=$2
	shift 2
	{
		echo "metadata: {name: $name, environment: test}"
		echo "servers:"
		for s; do echo "  - {name: $s, parallel_safe: true}"; done
		echo "deployment_settings: {monitoring_enabled: false}"
	} > "$work/$file.yaml"
}
spec alpha alpha a1 a2
spec beta beta b1 b2
spec gamma gamma c1
spec thief thief c1 a2
state="$work/state"
mv() { "$mcpvisor" --config-dir "$cfg" --state-dir "$state" "$@"; }
pid_of() { pgrep -x -f "/bin/sleep $1" || echo -; }
alpha_pids() { echo "$(pid_of 7431) $(pid_of 7432)"; }
beta_pids() { echo "$(pid_of 7433) $(pid_of 7434)"; }
col1() { awk '{print $1}' <<<"$1"; }
# the current deployment of stack $1, from the daemon's records
current_of() { mv status --json 2>/dev/null | python3 -c '
import json, sys
ids = {e["deployment_id"] for e in json.load(sys.stdin) if e["deployment"] == sys.argv[1]}
print(ids.pop() if len(ids) == 1 else "-")' "$1"; }

# the daemon first, so that the two deployments below race for nothing
# but the daemon's loop
"$mcpvisord" --state-dir "$state" >>"$work/daemon.log" 2>&1 &
check "mcpvisord answers" 'wait_for "mv status >/dev/null 2>&1; [ \$? -ne 3 ]" 10'

mv deploy start "$work/alpha.yaml" >"$work/alpha.out" 2>&1 &
apid=$!
mv deploy start "$work/beta.yaml" >"$work/beta.out" 2>&1 &
bpid=$!
wait $apid; astatus=$?
wait $bpid; bstatus=$?
check "two specs deployed at the same time both succeed" '[ $astatus -eq 0 ] && [ $bstatus -eq 0 ]'
a_before=$(alpha_pids); b_before=$(beta_pids)
check "their four servers run ($a_before, $b_before)" '! grep -q -- - <<<"$a_before $b_before"'
out=$(mv status 2>&1)
check "status shows both stacks" '[ "$(grep -c "^alpha .* ready " <<<"$out")" -eq 2 ] && [ "$(grep -c "^beta .* ready " <<<"$out")" -eq 2 ]'
alpha_id=$(current_of alpha); beta_id=$(current_of beta)
check "each stack has its own current deployment" '[ "$alpha_id" != - ] && [ "$beta_id" != - ] && [ "$alpha_id" != "$beta_id" ]'

out=$(mv deploy start "$work/beta.yaml" --force-recreate 2>&1); status=$?
b_after=$(beta_pids)
check "beta deployed again: replaced, alpha's pids unchanged" '[ $status -eq 0 ] && [ "$(alpha_pids)" = "$a_before" ] && [ "$(col1 "$b_after")" != "$(col1 "$b_before")" ] && ! grep -q -- - <<<"$b_after"'
check "the apply was over beta's own deployment, not alpha's" 'grep -q "over $beta_id" <<<"$out"'
beta_id=$(current_of beta)

out=$(mv deploy start "$work/thief.yaml" 2>&1); status=$?
check "a spec claiming a2, a server of running stack alpha, is refused" '[ $status -ne 0 ] && grep -q "server .a2. of stack thief .*is a server of stack alpha" <<<"$out"'
check "and nothing of either was disturbed: c1 never started" '[ "$(alpha_pids)" = "$a_before" ] && [ "$(beta_pids)" = "$b_after" ] && [ "$(pid_of 7435)" = - ]'
out=$(mv deploy start "$work/thief.yaml" --dry-run 2>&1); status=$?
check "its dry run says the same" '[ $status -ne 0 ] && grep -q "is a server of stack alpha" <<<"$out"'

out=$(mv reload --detach 2>&1); status=$?
check "reload without a stack, two running: refused, naming them" '[ $status -ne 0 ] && grep -q "2 stacks run (.*alpha.*): name the one to reload" <<<"$out"'
out=$(mv reload alpha 2>&1); status=$?
check "reload alpha: nothing changed, every pid kept" '[ $status -eq 0 ] && [ "$(alpha_pids)" = "$a_before" ] && [ "$(beta_pids)" = "$b_after" ]'
alpha_id=$(current_of alpha)

out=$(mv deploy stop "$alpha_id" 2>&1); status=$?
check "stopping alpha stops alpha only" '[ $status -eq 0 ] && [ "$(alpha_pids)" = "- -" ] && [ "$(beta_pids)" = "$b_after" ]'
out=$(mv deploy start "$work/thief.yaml" 2>&1); status=$?
check "with alpha stopped, a2's name is free: thief deploys" '[ $status -eq 0 ] && [ "$(pid_of 7432)" != - ] && [ "$(pid_of 7435)" != - ]'
mv deploy stop "$(current_of thief)" >/dev/null 2>&1

out=$(mv deploy start "$work/alpha.yaml" 2>&1) && out=$(mv deploy start "$work/gamma.yaml" 2>&1); status=$?
check "three stacks run: alpha, beta, gamma" '[ $status -eq 0 ] && ! grep -q -- - <<<"$(alpha_pids) $(beta_pids) $(pid_of 7435)"'
before="$(current_of alpha) $(current_of beta) $(current_of gamma)"
out=$(mv deploy list 2>&1)
check "deploy list: one row per stack, the one deployed last first" '[ "$(sed 1d <<<"$out" | awk "{print \$1}" | tr "\n" " ")" = "gamma alpha thief beta " ] && head -1 <<<"$out" | grep -q "^STACK  *REVISION "'
check "each at its current revision, its newest deployment named" 'mv deploy list --json | python3 -c "
import json, sys
rows = {r[\"stack\"]: r for r in json.load(sys.stdin)}
assert rows[\"thief\"][\"outcome\"] == \"stopped\", rows[\"thief\"]
assert rows[\"beta\"][\"revision\"] == 2 and rows[\"gamma\"][\"revision\"] == 1, rows
assert rows[\"alpha\"][\"id\"] == \"$(current_of alpha)\" and rows[\"alpha\"][\"deployments\"] >= 2, rows[\"alpha\"]
"'
pkill -KILL -f "mcpvisord --state-dir $state"
check "kill -9 of mcpvisord: every server stops with it" 'wait_for "[ \"\$(alpha_pids) \$(beta_pids) \$(pid_of 7435)\" = \"- - - - -\" ]" 10'
"$mcpvisord" --state-dir "$state" >>"$work/daemon.log" 2>&1 &
check "on restart, all three stacks come back" 'wait_for "! grep -q -- - <<<\"\$(alpha_pids) \$(beta_pids) \$(pid_of 7435)\"" 30'
check "each from its own current deployment" 'wait_for "python3 - \"$state\" $before <<\"PY\"
import glob, json, sys
recs = [json.load(open(p)) for p in glob.glob(sys.argv[1] + \"/deployments/*.json\")]
back = {r.get(\"restores\"): r for r in recs if r.get(\"restores\")}
sys.exit(0 if all(i in back and back[i][\"outcome\"] == \"succeeded\" for i in sys.argv[2:]) else 1)
PY" 30'
check "and the stopped stack thief stays stopped" '[ "$(mv status --json | python3 -c "import json,sys; print(sum(e[\"deployment\"] == \"thief\" for e in json.load(sys.stdin)))")" -eq 0 ]'

out=$(mv shutdown 2>&1); status=$?
check "shutdown stops every stack and exits 0" '[ $status -eq 0 ] && [ "$(alpha_pids) $(beta_pids) $(pid_of 7435)" = "- - - - -" ] && ! pgrep -f "mcpvisord --state-dir $state" >/dev/null'
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
