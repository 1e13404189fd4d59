#!/usr/bin/env bash
# A stack's revisions, with a real daemon and real processes: each
# successful deployment is numbered and kept with its own files;
# mcpvisor history lists them; rollback start STACK --to-revision N,
# after the files on disk were edited, puts back exactly that revision
# (its server's argv and environment read in /proc), as an apply that
# leaves an unchanged server's pid alone and becomes the next revision,
# and so does rollback start DEPLOY_ID;
# revision_history bounds what is kept; a kill -9 of mcpvisord brings the
# stack back from that revision's files, not from the disk's; no secret's
# value is kept.
# Usage: test_revisions.sh BUILD_DIR
set -u
build=$(cd "$1" && pwd)
mcpvisor="$build/mcpvisor"
mcpvisord="$build/mcpvisord"
work=$(mktemp -d "${TMPDIR:-/tmp}/mcpvisor-revisions.XXXXXX")
# shellcheck source=../lib/check.sh
. "$(dirname "$0")/../lib/check.sh"
trap 'pkill -KILL -f "mcpvisord --state-dir $work" 2>/dev/null; pkill -KILL -f "$work/" 2>/dev/null; pkill -KILL -f "/bin/sleep 745[0-9]" 2>/dev/null; rm -rf "$work"' EXIT

cfg="$work/config"
mkdir -p "$cfg/environments" "$cfg/servers"
# shellcheck source=../lib/server_file.sh
. "$(dirname "$0")/../lib/server_file.sh"
# version N: the environment's level and the server's argument say N
version() {
	printf 'variables:\n  level: "%s"\nsecrets:\n  token: "REV_TOKEN"\n' "$2" > "$cfg/environments/test.yaml"
	server moving "  command: /bin/sleep
  args: [\"$1\"]
  environment:
    LEVEL: \"{{ env.level }}\"
    TOKEN: \"{{ env.token }}\""
}
server steady '  command: /bin/sleep
  args: ["7459"]'
cat > "$work/revs.yaml" <<'YAML'
metadata: {name: revs, environment: test}
servers:
  - {name: steady, parallel_safe: true}
  - {name: moving, parallel_safe: true}
deployment_settings: {monitoring_enabled: false, revision_history: 3}
YAML
state="$work/state"
mv() { "$mcpvisor" --config-dir "$cfg" --state-dir "$state" "$@"; }
export REV_TOKEN=the-token-value-1234
pid_of() { pgrep -x -f "/bin/sleep $1" || echo -; }
level_of() { tr '\0' '\n' < "/proc/$1/environ" | sed -n 's/^LEVEL=//p'; }
moving() { pgrep -f "^/bin/sleep 745[0-8]$" | head -1; }
revs() { mv history revs --json | python3 -c 'import json,sys; print(" ".join(str(r["revision"]) for r in json.load(sys.stdin)))'; }

"$mcpvisord" --state-dir "$state" >>"$work/daemon.log" 2>&1 &
check "mcpvisord answers" 'wait_for "mv status >/dev/null 2>&1; [ \$? -ne 3 ]" 10'
version 7451 one; out=$(mv deploy start "$work/revs.yaml" 2>&1); s1=$?
steady=$(pid_of 7459)
version 7452 two; out=$(mv deploy start "$work/revs.yaml" 2>&1); s2=$?
version 7453 three; out=$(mv deploy start "$work/revs.yaml" 2>&1); s3=$?
check "three deployments, each succeeded" '[ $s1 -eq 0 ] && [ $s2 -eq 0 ] && [ $s3 -eq 0 ] && [ "$(pid_of 7453)" != - ]'
out=$(mv history revs 2>&1); status=$?
check "history lists revisions 1, 2 and 3" '[ $status -eq 0 ] && [ "$(revs)" = "1 2 3" ] && grep -q "^3 .*moving changed" <<<"$out" && grep -q "^1 .*moving, steady added\|^1 .*steady, moving added" <<<"$out"'
check "each revision keeps its files" '[ -f "$state/stacks/revs/revisions/1/servers/moving.yaml" ] && grep -q "7451" "$state/stacks/revs/revisions/1/servers/moving.yaml" && grep -q "level: \"one\"" "$state/stacks/revs/revisions/1/environments/test.yaml"'
check "and no secret's value: references only" '! grep -rqF "$REV_TOKEN" "$state"'
check "deploy list gives each its revision" '[ "$(mv deploy list --all | grep -Ec "^deploy_[^ ]+ +revs +test +[a-z]+ +[a-z_]+ +[123] +[0-9]+/[0-9]+$")" -eq 3 ]'
check "no staging is left behind" '[ -z "$(ls -A "$state/stacks/revs/staging" 2>/dev/null)" ]'

# the files on disk move on, undeployed
version 7454 four
out=$(mv rollback start revs --to-revision 1 2>&1); status=$?
pid=$(moving)
check "rollback to revision 1 (two back, files edited since): exit 0" '[ $status -eq 0 ]'
check "its server runs revision 1's argv and environment" '[ -n "$pid" ] && [ "$(tr "\0" " " < /proc/$pid/cmdline)" = "/bin/sleep 7451 " ] && [ "$(level_of "$pid")" = one ]'
check "the unchanged server kept its pid" '[ "$(pid_of 7459)" = "$steady" ]'
check "the files on disk are untouched" 'grep -q 7454 "$cfg/servers/moving.yaml"'
out=$(mv history revs 2>&1)
check "it is revision 4, revision 1 again; only 3 are kept" '[ "$(revs)" = "2 3 4" ] && grep -q "^4 .*(revision 1 again)" <<<"$out"'
out=$(mv rollback start revs --to-revision 1 2>&1); status=$?
check "revision 1, no longer kept, is refused, saying so" '[ $status -ne 0 ] && grep -q "keeps no revision 1" <<<"$out"'
out=$(mv rollback start revs --to-revision 2 --servers moving 2>&1); status=$?
check "--to-revision with --servers: usage" '[ $status -eq 2 ]'
# rollback start DEPLOY_ID: back to what the current deployment replaced
# (revision 3), from that revision's own files too
current=$(mv history revs --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[-1]["deployment_id"])')
out=$(mv rollback start "$current" 2>&1); status=$?
pid=$(moving)
check "rollback start DEPLOY_ID: exit 0, revision 3's argv and environment, not the disk's" '[ $status -eq 0 ] && [ -n "$pid" ] && [ "$(tr "\0" " " < /proc/$pid/cmdline)" = "/bin/sleep 7453 " ] && [ "$(level_of "$pid")" = three ]'
out=$(mv history revs 2>&1)
check "it is revision 5, revision 3 again, both servers recreated (a rollback by hand replaces what it rolls back)" '[ "$(revs)" = "3 4 5" ] && grep -q "^5 .*moving, steady recreated (revision 3 again)\|^5 .*steady, moving recreated (revision 3 again)" <<<"$out" && [ "$(pid_of 7459)" != "$steady" ]'

pkill -KILL -f "mcpvisord --state-dir $state"
check "kill -9 of mcpvisord: its servers stop" 'wait_for "[ -z \"\$(moving)\" ] && [ \"\$(pid_of 7459)\" = - ]" 10'
"$mcpvisord" --state-dir "$state" >>"$work/daemon.log" 2>&1 &
check "on restart the stack comes back as revision 5 put it, not as the disk says" 'wait_for "[ \"\$(pid_of 7453)\" != - ]" 30 && [ "$(pid_of 7454)" = - ] && [ "$(level_of "$(pid_of 7453)")" = three ]'

out=$(mv shutdown 2>&1)
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
