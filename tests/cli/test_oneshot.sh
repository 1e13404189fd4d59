#!/usr/bin/env bash
# What running in a container or a pipeline needs, with real processes:
# a one-shot deployment (`mcpvisord --init --once`, `mcpvisor deploy start
# --once`) that deploys, waits for readiness and the health checks, stops
# in order and exits with the outcome; secrets from files (NAME_FILE, a
# directory such as a Kubernetes Secret volume or $CREDENTIALS_DIRECTORY),
# seen by the server and nowhere else; and what a sandbox asks of the host
# refused when planned if the host cannot give it.
# Usage: test_oneshot.sh BUILD_DIR
set -u
build=$(cd "$1" && pwd)
mcpvisor="$build/mcpvisor"
mcpvisord="$build/mcpvisord"
work=$(mktemp -d "${TMPDIR:-/tmp}/mcpvisor-oneshot.XXXXXX")
trap 'pkill -KILL -f "$work/" 2>/dev/null; rm -rf "$work"' EXIT
# shellcheck source=../lib/check.sh
. "$(dirname "$0")/../lib/check.sh"

cfg="$work/config"
mkdir -p "$cfg/environments" "$cfg/servers" "$work/deployments" "$work/data"
# shellcheck source=../lib/server_file.sh
. "$(dirname "$0")/../lib/server_file.sh"
cat > "$cfg/environments/test.yaml" <<YAML
variables:
  data: "$work/data"
secrets:
  token: "ONESHOT_TOKEN"
YAML
# the server writes what it was given where the test can read it, and
# runs on until stopped
server keeper "  command: /bin/sh
  args: [\"-c\", \"printf %s \\\"\$TOKEN\\\" > {{ env.data }}/seen; exec sleep 3600\"]
  environment:
    TOKEN: \"{{ env.token }}\"
  restart: always"
printf 'sandbox:\n  writable_paths: ["{{ env.data }}"]\n' >> "$cfg/servers/keeper.yaml"
server helper "  command: /bin/sleep
  args: [\"3600\"]"
cat > "$work/deployments/pair.yaml" <<'YAML'
metadata: {name: pair, environment: test}
servers:
  - {name: helper}
  - {name: keeper, dependencies: [helper]}
deployment_settings: {monitoring_enabled: false}
YAML
secret="tok-$$-$RANDOM-never-logged"
printf '%s\n' "$secret" > "$work/token.txt"
chmod 0600 "$work/token.txt"

# --- mcpvisord --init --once: deploy, stop in order, exit 0
state="$work/s1"
out=$(env -u ONESHOT_TOKEN ONESHOT_TOKEN_FILE="$work/token.txt" "$mcpvisord" \
	--state-dir "$state" --config-dir "$cfg" --no-monitoring --once \
	--init "$work/deployments/pair.yaml" 2>&1); status=$?
check "mcpvisord --init --once: exit 0 once deployed and stopped" '[ $status -eq 0 ] && grep -q "succeeded: stopping it (--once)" <<<"$out" && grep -q "deployment_stopped" <<<"$out"'
check "it stopped in reverse order: keeper before helper" 'awk "/keeper: server_exited/ { k = NR } /helper: server_exited/ { h = NR } END { exit !(k && h && k < h) }" <<<"$out"'
check "the server was given the secret of ONESHOT_TOKEN_FILE, its trailing newline left out" '[ "$(cat "$work/data/seen")" = "$secret" ]'
check "the secret is in no log, record or journal of the state directory" '! grep -rqF -- "$secret" "$state" && ! grep -qF -- "$secret" <<<"$out"'
check "nothing of it is left running" '! pgrep -f "$state" >/dev/null'

# --- a directory of secrets, a file per variable (--secrets-dir)
rm -f "$work/data/seen"
mkdir -m 0700 "$work/secrets"
printf '%s' "$secret-dir" > "$work/secrets/ONESHOT_TOKEN"
out=$(env -u ONESHOT_TOKEN "$mcpvisord" --state-dir "$work/s2" --config-dir "$cfg" \
	--no-monitoring --once --secrets-dir "$work/secrets" \
	--init "$work/deployments/pair.yaml" 2>&1); status=$?
check "--secrets-dir: the file named as the variable gives the secret" '[ $status -eq 0 ] && [ "$(cat "$work/data/seen")" = "$secret-dir" ]'
rm -f "$work/data/seen"
out=$(env -u ONESHOT_TOKEN CREDENTIALS_DIRECTORY="$work/secrets" "$mcpvisord" \
	--state-dir "$work/s3" --config-dir "$cfg" --no-monitoring --once \
	--init "$work/deployments/pair.yaml" 2>&1); status=$?
check "\$CREDENTIALS_DIRECTORY (systemd's LoadCredential=) is the default directory" '[ $status -eq 0 ] && [ "$(cat "$work/data/seen")" = "$secret-dir" ]'
rm -f "$work/data/seen"
out=$(ONESHOT_TOKEN=from-env "$mcpvisord" --state-dir "$work/s3" --config-dir "$cfg" \
	--no-monitoring --once --secrets-dir "$work/secrets" \
	--init "$work/deployments/pair.yaml" 2>&1); status=$?
check "the variable itself comes before the directory" '[ $status -eq 0 ] && [ "$(cat "$work/data/seen")" = from-env ]'

# --- what cannot be used is refused at plan time, at the secret's line
for c in both missing relative directory; do
	case $c in
	both) e=(ONESHOT_TOKEN=x ONESHOT_TOKEN_FILE="$work/token.txt"); why="both ONESHOT_TOKEN and ONESHOT_TOKEN_FILE are set" ;;
	missing) e=(ONESHOT_TOKEN_FILE="$work/absent"); why="ONESHOT_TOKEN_FILE=$work/absent: No such file or directory" ;;
	relative) e=(ONESHOT_TOKEN_FILE=token.txt); why="ONESHOT_TOKEN_FILE=token.txt: not an absolute path" ;;
	directory) e=(ONESHOT_TOKEN_FILE="$work/secrets"); why="not a regular file" ;;
	esac
	out=$(env -u ONESHOT_TOKEN "${e[@]}" "$mcpvisord" --state-dir "$work/s4" \
		--config-dir "$cfg" --no-monitoring --once \
		--init "$work/deployments/pair.yaml" 2>&1); status=$?
	check "secret from a file, $c: refused (exit 100) at environments/test.yaml:4:10, saying why" '[ $status -eq 100 ] && grep -qF "environments/test.yaml:4:10: error: secret token: " <<<"$out" && grep -qF -- "$why" <<<"$out"'
done

# --- through a running daemon: the request's NAME_FILE, read by
# mcpvisord (only its own user and root may ask it for a deployment)
rm -f "$work/data/seen"
out=$(env -u ONESHOT_TOKEN ONESHOT_TOKEN_FILE="$work/token.txt" "$mcpvisor" \
	--config-dir "$cfg" --state-dir "$work/s5" deploy start \
	"$work/deployments/pair.yaml" 2>&1); status=$?
check "deploy start with ONESHOT_TOKEN_FILE in the caller's environment: the server gets it" '[ $status -eq 0 ] && [ "$(cat "$work/data/seen")" = "$secret" ]'
check "the daemon it started keeps none of it in its environment" '! tr "\0" "\n" < /proc/$(pgrep -f "mcpvisord --state-dir $work/s5" | head -1)/environ | grep -q ONESHOT_TOKEN'
out=$("$mcpvisor" --config-dir "$cfg" --state-dir "$work/s5" deploy start \
	"$work/deployments/pair.yaml" --once 2>&1); status=$?
check "deploy start --once where a daemon runs: refused, saying use another state directory" '[ $status -eq 2 ] && grep -q "give it another --state-dir" <<<"$out"'
pkill -TERM -f "mcpvisord --state-dir $work/s5"

# --- mcpvisor deploy start --once: the CLI becomes mcpvisord --init --once
rm -f "$work/data/seen"
out=$(ONESHOT_TOKEN=cli-once "$mcpvisor" --config-dir "$cfg" --state-dir "$work/s6" \
	deploy start "$work/deployments/pair.yaml" --once --no-monitoring 2>&1); status=$?
check "deploy start --once: exit 0, the servers stopped, no daemon left" '[ $status -eq 0 ] && [ "$(cat "$work/data/seen")" = cli-once ] && grep -q deployment_stopped <<<"$out" && ! pgrep -f "$work/s6" >/dev/null'
for flag in --detach --dry-run --json --no-rollback; do
	out=$("$mcpvisor" --config-dir "$cfg" --state-dir "$work/s6" deploy start \
		"$work/deployments/pair.yaml" --once $flag 2>&1); status=$?
	check "deploy start --once $flag: refused with the reason (exit 2)" '[ $status -eq 2 ] && grep -qe "takes no $flag" <<<"$out"'
done

# a failing deployment: exit 1, nothing left
server broken "  command: /bin/sh
  args: [\"-c\", \"exit 7\"]
  start_seconds: 2
  restart: never"
printf 'metadata: {name: failing, environment: test}\nservers:\n  - {name: helper}\n  - {name: broken, retry_attempts: 1}\n' > "$work/deployments/failing.yaml"
out=$(ONESHOT_TOKEN=x "$mcpvisor" --config-dir "$cfg" --state-dir "$work/s7" \
	deploy start "$work/deployments/failing.yaml" --once --no-monitoring 2>&1); status=$?
check "deploy start --once of a failing deployment: exit 1, nothing left" '[ $status -eq 1 ] && grep -q deployment_failed <<<"$out" && ! pgrep -f "$work/s7" >/dev/null'

# require_mfa holds a deployment for a second person: --once cannot wait
cat >> "$cfg/environments/test.yaml" <<'YAML'
security_policies:
  require_mfa: true
YAML
out=$(ONESHOT_TOKEN=x "$mcpvisord" --state-dir "$work/s8" --config-dir "$cfg" \
	--no-monitoring --once --init "$work/deployments/pair.yaml" 2>&1); status=$?
check "--once with require_mfa: fails at once, saying why" '[ $status -eq 1 ] && grep -q "require_mfa holds a deployment until a second person approves it, which --once cannot wait for" <<<"$out"'

# --- a sandbox asking the host for what it cannot give: refused when
# planned, at the file's line (an unprivileged daemon cannot make a
# network namespace)
sed -i '/require_mfa/d; /security_policies/d' "$cfg/environments/test.yaml"
server isolated "  command: /bin/sleep
  args: [\"3600\"]"
printf 'sandbox:\n  network: none\n' >> "$cfg/servers/isolated.yaml"
printf 'metadata: {name: iso, environment: test}\nservers:\n  - {name: isolated}\n' > "$work/deployments/iso.yaml"
chmod -R o+rX "$work"
chmod o+x "$(dirname "$work")"
out=$(setpriv --reuid=65534 --regid=65534 --clear-groups env ONESHOT_TOKEN=x \
	"$mcpvisord" --config-dir "$cfg" --check "$work/deployments/iso.yaml" 2>&1); status=$?
check "network: none where no network namespace can be made: refused by --check (exit 100) at servers/isolated.yaml:9:12" '[ $status -eq 100 ] && grep -q "servers/isolated.yaml:9:12: error: server .isolated.: sandbox.network: none needs a network namespace of its own" <<<"$out" && grep -q "Operation not permitted" <<<"$out"'
out=$(ONESHOT_TOKEN=x "$mcpvisord" --config-dir "$cfg" --check "$work/deployments/iso.yaml" 2>&1); status=$?
check "and planned where it can (root)" '[ $status -eq 0 ]'
# a user of its own, capabilities kept: mcpvisord's to give, or refused
server privileged "  command: /bin/sleep
  args: [\"3600\"]
  user: nobody"
printf 'sandbox:\n  capabilities: [CAP_NET_BIND_SERVICE]\n' >> "$cfg/servers/privileged.yaml"
printf 'metadata: {name: priv, environment: test}\nservers:\n  - {name: privileged}\n' > "$work/deployments/priv.yaml"
chmod -R o+rX "$work"
out=$(setpriv --reuid=65534 --regid=65534 --clear-groups env ONESHOT_TOKEN=x \
	"$mcpvisord" --config-dir "$cfg" --check "$work/deployments/priv.yaml" 2>&1); status=$?
check "run.user and sandbox.capabilities from an unprivileged daemon: refused when planned, each at its line" '[ $status -eq 100 ] && grep -q "servers/privileged.yaml:6:9: error: server .privileged.: a user or group of its own needs CAP_SETUID and CAP_SETGID" <<<"$out" && grep -q "servers/privileged.yaml:10:18: error: server .privileged.: keeping CAP_NET_BIND_SERVICE needs mcpvisord to hold it and CAP_SETPCAP" <<<"$out"'
out=$(ONESHOT_TOKEN=x "$mcpvisord" --config-dir "$cfg" --check "$work/deployments/priv.yaml" 2>&1); status=$?
check "and planned where mcpvisord holds them (root)" '[ $status -eq 0 ]'

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
