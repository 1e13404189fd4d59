#!/usr/bin/env bash
# End-to-end tests of the mcpvisor CLI and mcpvisord --check, on copies of
# deploy/ with one fault each. Usage: test_cli.sh BUILD_DIR SOURCE_DIR
set -u
build=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)
mcpvisor="$build/mcpvisor"
mcpvisord="$build/mcpvisord"
work=$(mktemp -d "${TMPDIR:-/tmp}/mcpvisor-cli.XXXXXX")
trap 'rm -rf "$work"' EXIT
passed=0 failed=0

ok()   { passed=$((passed + 1)); echo "ok - $1"; }
bad()  { failed=$((failed + 1)); echo "FAIL - $1"; }

# run NAME EXPECTED_STATUS CMD... : runs CMD capturing $out (stdout+stderr)
run() {
	local name=$1 want=$2; shift 2
	out=$("$@" 2>&1); status=$?
	if [ "$status" -eq "$want" ]; then ok "$name (exit $status)"
	else bad "$name: exit $status, wanted $want"; printf '%s\n' "$out" | sed 's/^/    /'; fi
}
# expect NAME FIXED_STRING : $out must hold the string
expect() {
	if grep -qF -- "$2" <<<"$out"; then ok "$1"
	else bad "$1: output lacks: $2"; printf '%s\n' "$out" | sed 's/^/    /'; fi
}

# A fresh copy of deploy/ at $work/$1
copy() { rm -rf "$work/$1"; mkdir -p "$work/$1"; cp -r "$src/deploy/config" "$src/deploy/deployments" "$src/deploy/health-checks" "$work/$1/"; }

cd "$src"

# --- the examples are valid and plan
run "config validate passes on deploy/" 0 "$mcpvisor" config validate
expect "validate summary" "configuration is valid: 3 environments"
run "config list" 0 "$mcpvisor" config list
expect "list shows servers" "everything-http"
run "demo dry run" 0 "$mcpvisor" deploy start deploy/deployments/demo.yaml --dry-run
expect "dry run shows batches" "Batch 2 (parallel)"
expect "dry run shows order" "4. everything-http"
run "sequential dry run" 0 "$mcpvisor" deploy start deploy/deployments/demo.yaml -n --sequential
expect "sequential gives a batch per server" "Batch 4 (alone)"
run "dry run as JSON" 0 "$mcpvisor" deploy start deploy/deployments/demo.yaml --dry-run --json
if python3 -c 'import json,sys; d=json.loads(sys.stdin.read()); assert d["total_servers"]==4 and len(d["batches"])==2 and d["batches"][1]["servers"][1]["name"]=="everything-http"' <<<"$out"; then ok "plan JSON parses"; else bad "plan JSON"; fi
run "mcpvisord --check on the demo" 0 "$mcpvisord" --check deploy/deployments/demo.yaml
expect "check summary" "would start 4 servers in 2 batches"

# --- usage and help on every level
run "no command is a usage error" 2 "$mcpvisor"
run "unknown command" 2 "$mcpvisor" frobnicate
run "unknown config verb" 2 "$mcpvisor" config frobnicate
run "config show needs two operands" 2 "$mcpvisor" config show brave-search
run "bad --max-parallel" 2 "$mcpvisor" deploy start x.yaml -n --max-parallel 0
for cmd in "" "config" "config show" "config validate" "config list" "deploy" "deploy start" "deploy status" "deploy list" "deploy stop"; do
	# shellcheck disable=SC2086
	run "mcpvisor $cmd --help" 0 "$mcpvisor" $cmd --help
	expect "help of '$cmd' shows usage" "usage: mcpvisor"
done
run "mcpvisord --help" 0 "$mcpvisord" --help
# the verbs that need mcpvisord say so when none runs (a fresh state dir)
run "deploy stop without a daemon" 111 "$mcpvisor" --state-dir "$work/state" deploy stop deploy_20260101_000000_abcdef
expect "and why" "not running"
run "deploy status of an unknown id" 1 "$mcpvisor" --state-dir "$work/state" deploy status deploy_20260101_000000_abcdef
run "deploy status refuses a path as an id" 2 "$mcpvisor" --state-dir "$work/state" deploy status ../../etc/passwd
run "deploy list on an empty state" 0 "$mcpvisor" --state-dir "$work/state" deploy list

# --- readiness notification: mcpvisord --notify-fd writes a newline once
# its control socket takes requests (what a CLI that starts it waits
# for, instead of polling); a descriptor it cannot own is refused
mkfifo "$work/notify"
"$mcpvisord" --state-dir "$work/nstate" --notify-fd 3 3>"$work/notify" >/dev/null 2>&1 &
nd=$!
if IFS= read -r -t 10 line <"$work/notify" && [ -z "$line" ]; then ok "--notify-fd: a newline when ready"; else bad "--notify-fd: no newline"; fi
run "and at that moment the control socket answers" 1 "$mcpvisor" --state-dir "$work/nstate" deploy stop deploy_20260101_000000_abcdef
expect "mcpvisord itself" "no such active deployment"
kill -TERM "$nd"; wait "$nd"
run "--notify-fd 1 is refused" 100 "$mcpvisord" --state-dir "$work/nstate" --notify-fd 1
run "--notify-fd of a closed descriptor is refused" 100 "$mcpvisord" --state-dir "$work/nstate" --notify-fd 9
expect "with the reason" "--notify-fd takes an open descriptor above 2"
# a CLI that starts its own daemon gives its request once that daemon
# says it is ready, and one that dies at start is said so, with its log
mkdir -p "$work/one/config/environments" "$work/one/config/servers"
echo "variables: {}" >"$work/one/config/environments/t.yaml"
printf 'name: nap\nserver_type: t\nrun:\n  command: /bin/sleep\n  args: ["60"]\n  readiness: process\n  start_seconds: 0\n' >"$work/one/config/servers/nap.yaml"
printf 'metadata: {name: one, environment: t}\nservers:\n  - {name: nap}\n' >"$work/one/spec.yaml"
run "deploy start with no daemon running starts one and deploys" 0 "$mcpvisor" --state-dir "$work/cstate" --config-dir "$work/one/config" deploy start "$work/one/spec.yaml" --no-monitoring
expect "to the end" "succeeded"
one_id=$(ls "$work/cstate/deployments" | grep '\.json$' | sed 's/\.json$//')
run "deploy status ID SERVER: that server's line, live" 0 "$mcpvisor" --state-dir "$work/cstate" deploy status "$one_id" nap
expect "with its pid" "pid $(pgrep -x -f '/bin/sleep 60' | head -1)"
run "an unknown server is refused" 1 "$mcpvisor" --state-dir "$work/cstate" deploy status "$one_id" npa
expect "with the nearest name" "no server 'npa' in $one_id; did you mean 'nap'?"
pkill -TERM -f "mcpvisord --state-dir $work/cstate --notify-fd 3"
for _ in $(seq 100); do pgrep -f "mcpvisord --state-dir $work/cstate" >/dev/null || break; sleep 0.05; done
# (its journal cannot be opened: a directory stands in its place)
mkdir -p "$work/dstate/logs" "$work/dstate/events.journal" && chmod 700 "$work/dstate"
run "a daemon that dies at start is said so" 111 "$mcpvisor" --state-dir "$work/dstate" --config-dir "$work/one/config" deploy start "$work/one/spec.yaml" --no-monitoring
expect "with where its log is" "before it was ready: see $work/dstate/logs/mcpvisord.log"
run "with no daemon, deploy status ID SERVER reads the record on disk" 0 "$mcpvisor" --state-dir "$work/cstate" deploy status "$one_id" nap
expect "the server's line" "nap"
run "and refuses an unknown server there too" 1 "$mcpvisor" --state-dir "$work/cstate" deploy status "$one_id" npa
expect "with the nearest name" "did you mean 'nap'?"

# --- a cycle
copy cycle
sed -i 's/    dependencies: \[\]/    dependencies: ["everything-http"]/' "$work/cycle/deployments/demo.yaml"
run "cycle fails validation" 100 "$mcpvisor" --config-dir "$work/cycle/config" config validate
expect "cycle message with the guide's words" "demo.yaml:8:11: error: Circular dependency detected in deployment plan involving 'memory': memory -> everything-http -> memory"
run "cycle fails the dry run" 100 "$mcpvisor" --config-dir "$work/cycle/config" deploy start "$work/cycle/deployments/demo.yaml" --dry-run
expect "dry run names the cycle" "Circular dependency detected"
run "mcpvisord --check refuses it" 100 "$mcpvisord" --config-dir "$work/cycle/config" --check "$work/cycle/deployments/demo.yaml"

# --- global options after the verb, the guide's automation form
run "options after the verb: --config-dir is taken there too" 100 "$mcpvisor" deploy start "$work/cycle/deployments/demo.yaml" --dry-run --environment production --config-dir "$work/cycle/config" --backup-dir "$work/backups" --verbose
expect "the cycle of that config dir is found" "Circular dependency detected"
run "--config-dir=DIR after the verb" 100 "$mcpvisor" config validate --config-dir="$work/cycle/config"
run "a global option after the verb without its value" 2 "$mcpvisor" config validate --config-dir
run "nothing after -- is taken" 2 "$mcpvisor" config validate -- --config-dir "$work/cycle/config"

# --- mcpvisor --help lists every verb of every command
main_help=$("$mcpvisor" --help)
missing_verbs=""
for group in config deploy health rollback monitor; do
	for verb in $("$mcpvisor" "$group" --help | awk '/^Commands:/{on=1; next} on && /^  [a-z]/{print $1}'); do
		grep -q "^  $group $verb" <<<"$main_help" || missing_verbs="$missing_verbs $group.$verb"
	done
done
if [ -z "$missing_verbs" ]; then ok "mcpvisor --help lists every verb"; else bad "mcpvisor --help lacks:$missing_verbs"; fi

# --- an unknown dependency
copy unknown
sed -i 's/dependencies: \["memory"\]/dependencies: ["memroy"]/' "$work/unknown/deployments/demo.yaml"
run "unknown dependency" 100 "$mcpvisor" --config-dir "$work/unknown/config" deploy start "$work/unknown/deployments/demo.yaml" -n
expect "unknown dependency located" "demo.yaml:29:20: error: server 'everything' depends on 'memroy', which this deployment does not list"

# --- an undefined template variable (the guide's message)
copy undefined
sed -i '/^  brave_api_key:/d' "$work/undefined/config/environments/production.yaml"
run "undefined variable" 100 "$mcpvisor" --config-dir "$work/undefined/config" config validate
expect "guide's template message" "brave-search.yaml:20:12: error: Template processing failed for 'api_key': undefined variable 'brave_api_key'"
run "config show reports it too" 100 "$mcpvisor" --config-dir "$work/undefined/config" config show brave-search production

# --- malformed YAML
copy malformed
printf 'variables:\n  a: [1, 2\n  b: 3\n' > "$work/malformed/config/environments/staging.yaml"
run "malformed YAML" 100 "$mcpvisor" --config-dir "$work/malformed/config" config validate
expect "YAML error located" "staging.yaml:3:4: error:"

# --- the guide's own server file, as written (it has no run: section):
# what a deploy would refuse, validate, the dry run and --check refuse first
copy guide
cat > "$work/guide/config/servers/brave-search.yaml" <<'YAML'
name: brave-search
server_type: search

base_config:
  timeout_seconds: 30
  retry_attempts: 3
  api:
    rate_limit_per_minute: 100

environment_overrides:
  production:
    timeout_seconds: 15
    api:
      rate_limit_per_minute: 500

templates:
  api_key: "{{ env.brave_api_key }}"
  timeout: "{{ config.timeout_seconds }}"

validation_rules:
  - "required:api_key"
  - "format:timeout_seconds:^[0-9]+$"
YAML
run "the guide's server file: config validate refuses it" 100 "$mcpvisor" --config-dir "$work/guide/config" config validate
expect "at file:line:col, with an example" "brave-search.yaml:1:1: error: missing required key 'run' in server file: mcpvisor does not know how to start this server; add, for example:"
expect "the example's lines" "      command: npx"
run "the guide's server file: the dry run refuses it" 100 "$mcpvisor" --config-dir "$work/guide/config" deploy start "$work/guide/deployments/mcp-production-deployment.yaml" --dry-run
expect "the dry run says the same" "brave-search.yaml:1:1: error: missing required key 'run'"
run "the guide's server file: mcpvisord --check refuses it" 100 "$mcpvisord" --config-dir "$work/guide/config" --check "$work/guide/deployments/mcp-production-deployment.yaml"
expect "--check says the same" "brave-search.yaml:1:1: error: missing required key 'run'"

# --- a mistyped spec path says the file cannot be opened, with or
# without --dry-run (and starts no daemon)
run "a mistyped spec path" 100 "$mcpvisor" --state-dir "$work/typo-state" deploy start deploy/deployments/dmeo.yaml
expect "says it cannot be opened" "deploy/deployments/dmeo.yaml: error: cannot open: No such file or directory"
run "the same with --dry-run" 100 "$mcpvisor" deploy start deploy/deployments/dmeo.yaml --dry-run
expect "in the same words" "deploy/deployments/dmeo.yaml: error: cannot open: No such file or directory"
if [ -e "$work/typo-state/control.sock" ]; then bad "a mistyped path started a daemon"; else ok "a mistyped path started no daemon"; fi

# --- what would never apply is an error, with a "did you mean"
copy typos
sed -i 's/^  production:/  prodution:/' "$work/typos/config/servers/memory.yaml"
mkdir -p "$work/typos/config/hooks/pre-deploi.d" "$work/typos/config/hooks/pre-deploy.d"
run "an override for no environment, a hook folder of no phase" 100 "$mcpvisor" --config-dir "$work/typos/config" config validate
expect "the override, located, with its likely environment" "memory.yaml:10:3: error: environment_overrides for 'prodution', which is no environment (no environments/prodution.yaml); did you mean 'production'?"
expect "the hook folder, with its likely phase" "hooks: error: 'pre-deploi.d' is not a hook phase's folder, and would never run; did you mean 'pre-deploy.d'?"
if grep -q "'pre-deploy.d' is not" <<<"$out"; then bad "a phase's own folder is refused"; else ok "a phase's own folder is accepted"; fi

# --- Jinja statements in a server file render, per environment; what
# is not Jinja a configuration needs is an error at file:line:col
copy jinja
cat >> "$work/jinja/config/servers/memory.yaml" <<'YAML'
templates:
  verbosity: "{% if env.log_level == 'DEBUG' %}verbose{% elif env.log_level %}{{ env.log_level | lower }}{% else %}quiet{% endif %}"
  port_list: "{% for p in [1] %}{% endfor %}"
YAML
run "a template that is not the Jinja we speak is refused" 100 "$mcpvisor" --config-dir "$work/jinja/config" config validate
expect "at its file, line and column" "memory.yaml:29:14: error: Template processing failed for 'port_list': expected a value at '[1] %}"
sed -i '/port_list/d' "$work/jinja/config/servers/memory.yaml"
run "if/elif/else render per environment: development" 0 "$mcpvisor" --config-dir "$work/jinja/config" config show memory development --json
if python3 -c 'import json,sys; assert json.load(sys.stdin)["config"]["verbosity"]=="verbose"' <<<"$out" 2>/dev/null; then ok "development is verbose (its log_level is DEBUG)"; else bad "development's verbosity: $out"; fi
run "and production" 0 "$mcpvisor" --config-dir "$work/jinja/config" config show memory production --json
prod_level=$(sed -n 's/^  log_level: "\(.*\)"/\1/p' "$work/jinja/config/environments/production.yaml" | tr 'A-Z' 'a-z')
if python3 -c 'import json,sys; assert json.load(sys.stdin)["config"]["verbosity"]==sys.argv[1]' "$prod_level" <<<"$out" 2>/dev/null; then ok "production's is its log_level, lower-cased ($prod_level)"; else bad "production's verbosity: $out"; fi

# --- every error in a file, not only the first
copy several
cat > "$work/several/config/servers/memory.yaml" <<'YAML'
name: memory
server_typ: knowledge
run:
  comand: x
  restart: sometimes
sandbox:
  network: off
YAML
run "several errors" 100 "$mcpvisor" --config-dir "$work/several/config" config validate
expect "missing key" "memory.yaml:1:1: error: missing required key 'server_type' in server file"
expect "typo suggested" "memory.yaml:2:1: error: unknown key 'server_typ' in server file (did you mean 'server_type'?)"
expect "nested typo" "memory.yaml:4:3: error: unknown key 'comand' in run (did you mean 'command'?)"
expect "bad enum" "memory.yaml:5:12: error: 'restart' must be one of always, on-failure, never, not 'sometimes'"
expect "off is no YAML 1.1 boolean here, and no network mode" "memory.yaml:7:12: error: 'network' must be one of host, none, not 'off'"
expect "the server that needs it is reported missing" "no server file for 'memory'"

# --- a failed validation rule
copy rule
sed -i 's|memory_file: "{{ env.data_dir }}/memory.jsonl"|memory_file: "{{ env.data_dir }}/memory.txt"|' "$work/rule/config/servers/memory.yaml"
run "failed validation rule" 100 "$mcpvisor" --config-dir "$work/rule/config" deploy start "$work/rule/deployments/demo.yaml" -n
expect "rule failure names server, rule and value" "memory.yaml:15:5: error: server 'memory' (development): rule 'format:memory_file:^/.+\\.jsonl\$' failed: value '/tmp/mcpvisor-demo/memory.txt' does not match"

# --- secrets never leave in clear
secret="sk-TEST-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
copy secret
sed -i 's|  - "format:timeout:^\[0-9\]+\$"|  - "format:timeout:^[0-9]+$"\n  - "format:api_key:^BSA"|' "$work/secret/config/servers/brave-search.yaml"
export BRAVE_API_KEY="$secret" DB_PASSWORD="$secret-db" API_KEY="$secret-api"
all="$work/everything-mcpvisor-wrote"
: > "$all"
marker="$work/before-the-run"
touch "$marker"; sleep 0.01
(
	cd "$work/secret"
	c=(--config-dir config)
	# the unchanged examples: show succeeds, with the secret in it
	"$mcpvisor" --config-dir "$src/deploy/config" --verbose config show brave-search production
	"$mcpvisor" --config-dir "$src/deploy/config" config show brave-search production --json
	"$mcpvisor" --config-dir "$src/deploy/config" deploy start "$src/deploy/deployments/mcp-production-deployment.yaml" -n --json
	# with a rule the secret fails
	"$mcpvisor" "${c[@]}" --verbose config validate
	"$mcpvisor" "${c[@]}" config validate --json
	"$mcpvisor" "${c[@]}" config list --json
	"$mcpvisor" "${c[@]}" --verbose deploy start deployments/mcp-production-deployment.yaml --dry-run
	"$mcpvisor" "${c[@]}" deploy start deployments/mcp-production-deployment.yaml --dry-run --json
	"$mcpvisord" "${c[@]}" --verbose --check deployments/mcp-production-deployment.yaml
) >>"$all" 2>&1
out=$(cat "$all")
expect "the secret's rule failed, redacted" "rule 'format:api_key:^BSA' failed: value *** does not match"
expect "config show redacts" 'api_key: "***"'
expect "the secret passed to the server is redacted too" 'BRAVE_API_KEY: "***"'
written=$(find "$work/secret" "$src/deploy" -newer "$marker" 2>/dev/null)
if grep -rqF -- "$secret" "$all" "$work/secret"; then bad "secret value found in what mcpvisor wrote"; grep -rnF -- "$secret" "$all" "$work/secret" | head -5
else ok "no secret value in any output or file"; fi
if [ -z "$written" ]; then ok "no file written by config verbs or --dry-run"; else bad "files written: $written"; fi
unset BRAVE_API_KEY DB_PASSWORD API_KEY

# --- a secret that is unset: validate warns, a dry run refuses
run "production needs its secrets" 100 "$mcpvisor" deploy start deploy/deployments/mcp-production-deployment.yaml -n
expect "and says which variable" "environment variable BRAVE_API_KEY is empty or unset"

# --- health checks: register, list, run
hs=(--state-dir "$work/hstate")
cat > "$work/extra-checks.yaml" <<'YAML'
health_checks:
  - name: "disk_ok"
    type: "file_system"
    tags: ["extra"]
    config: { path: "/tmp", check_readable: true }
  - name: "cmd_ok"
    type: "command"
    retry_attempts: 0
    tags: ["extra"]
    config: { command: "sh", args: ["-c", "echo all good"], expected_output: "good" }
  - name: "cmd_bad"
    type: "command"
    retry_attempts: 0
    tags: ["extra"]
    config: { command: "false" }
  - name: "warn_bad"
    type: "command"
    retry_attempts: 0
    critical: false
    tags: ["extra"]
    config: { command: "sh", args: ["-c", "echo degraded; exit 2"] }
YAML
printf 'health_checks:\n  - name: "x"\n    type: "tcp"\n    config: { host: "h", prot: 1 }\n' > "$work/bad-checks.yaml"
printf 'health_checks:\n  - name: "tcp_connectivity"\n    type: "command"\n    config: { command: "true" }\n' > "$work/dup-checks.yaml"
run "health list" 0 "$mcpvisor" "${hs[@]}" health list
expect "health list shows the standard checks" "mcp_everything_tools     mcp"
run "health register: a bad file" 100 "$mcpvisor" "${hs[@]}" health register "$work/bad-checks.yaml"
expect "health register names file, line and column" "bad-checks.yaml:4:"
expect "and the key" "prot"
run "health register: a name already taken" 100 "$mcpvisor" "${hs[@]}" health register "$work/dup-checks.yaml"
expect "health register says where" "'tcp_connectivity' is already defined in"
run "health register" 0 "$mcpvisor" "${hs[@]}" health register "$work/extra-checks.yaml"
expect "health register names the checks" "registered 4 health checks"
if [ "$(stat -c %a "$work/hstate/health-checks/extra-checks.yaml" 2>/dev/null)" = 600 ]; then ok "the registered copy is private (0600)"; else bad "registered copy mode"; fi
run "health register again replaces" 0 "$mcpvisor" "${hs[@]}" health register "$work/extra-checks.yaml"
run "health list --json" 0 "$mcpvisor" "${hs[@]}" health list --json
if python3 -c 'import json,sys; d=json.loads(sys.stdin.read()); n=[c["name"] for c in d]; assert len(d)==12 and "cmd_ok" in n and [c for c in d if c["name"]=="cmd_ok"][0]["registered"]' <<<"$out"; then ok "health list --json: 8 standard + 4 registered"; else bad "health list --json"; fi
run "health run one" 0 "$mcpvisor" "${hs[@]}" health run cmd_ok
expect "health run prints the result" "cmd_ok"
expect "with the output" "all good"
run "health run: a failing critical check" 1 "$mcpvisor" "${hs[@]}" health run cmd_bad
expect "says why" "exited with status 1"
run "health run: a failing non-critical check warns" 0 "$mcpvisor" "${hs[@]}" health run warn_bad
expect "the warning" "degraded"
run "health run --tags --json" 1 "$mcpvisor" "${hs[@]}" health run --tags extra --json
if python3 -c 'import json,sys; d=json.loads(sys.stdin.read()); assert len(d["results"])==4 and d["passed"]==2 and d["failed_critical"]==1 and d["failed_noncritical"]==1' <<<"$out"; then ok "health run --json counts"; else bad "health run --json"; printf '%s\n' "$out" | head -20; fi
run "health run: an unknown check" 100 "$mcpvisor" "${hs[@]}" health run nope
expect "names it" "no health check named 'nope'"
run "health run: nothing selected" 2 "$mcpvisor" "${hs[@]}" health run
run "health run: a template without its server" 100 "$mcpvisor" "${hs[@]}" health run tcp_connectivity
expect "names the variable" "undefined variable 'config.port'"
run "health run: MCP over stdio needs a server" 100 "$mcpvisor" "${hs[@]}" health run mcp_stdio_ready
expect "says so" "name the server with --server"
if [ -x deploy/mcp-servers/node_modules/.bin/mcp-server-everything ]; then
	# other suites run server-everything too: ours is one that was not
	# there before the run
	before=$(pgrep -f "mcp-server-everything stdio" | sort)
	run "health run: MCP over stdio against server-everything" 0 "$mcpvisor" "${hs[@]}" health run mcp_everything_tools --server everything --environment development
	expect "the handshake's version and server" "MCP 2025-11-25, mcp-servers/everything"
	if [ -n "$(comm -13 <(echo "$before") <(pgrep -f "mcp-server-everything stdio" | sort) | grep .)" ]; then bad "the server started for the run is still running"; else ok "the server started for the run is gone"; fi
else
	bad "server-everything is not installed (bash deploy/install-deps.sh)"
fi
run "rollback list: no snapshots yet" 0 "$mcpvisor" "${hs[@]}" rollback list
expect "says where it looked" "no snapshots in $work/hstate/backups"
run "rollback list --json" 0 "$mcpvisor" "${hs[@]}" rollback list --json
expect "an empty array" "[]"
run "rollback status: not an id" 2 "$mcpvisor" "${hs[@]}" rollback status ../../etc/passwd
run "rollback status: no such rollback" 1 "$mcpvisor" "${hs[@]}" rollback status rollback_20260101_000000000_abcdef
expect "says so" "no such rollback"
run "rollback approve: no daemon" 111 "$mcpvisor" "${hs[@]}" rollback approve rollback_20260101_000000000_abcdef
run "deploy start: an unknown strategy" 2 "$mcpvisor" "${hs[@]}" deploy start deploy/deployments/demo.yaml --strategy sideways
expect "names the five" "immediate, batch, graceful, aggressive or manual"
run "rollback start: not a deployment id" 2 "$mcpvisor" "${hs[@]}" rollback start rollback_20260101_000000000_abcdef
run "rollback start: an unknown strategy" 2 "$mcpvisor" "${hs[@]}" rollback start deploy_20260101_000000000_abcdef --strategy sideways
run "rollback start: no daemon" 111 "$mcpvisor" "${hs[@]}" rollback start deploy_20260101_000000000_abcdef --servers a,b
for cmd in "health" "health register" "health list" "health run" "rollback" "rollback list" "rollback status" "rollback approve" "rollback start"; do
	# shellcheck disable=SC2086
	run "mcpvisor $cmd --help" 0 "$mcpvisor" $cmd --help
	expect "help of '$cmd' shows usage" "usage: mcpvisor"
done

# --- security: each protection and the exposure score
run "security memory development" 0 "$mcpvisor" security memory development
expect "its own network namespace is on" "on  network        a namespace of its own, loopback only"
expect "the default filter is on" "on  seccomp        the default filter (denied calls fail with EPERM)"
expect "no run.user: a dynamic user" "on  user           a dynamic user of its own (no run.user): uid 61184-65518 when mcpvisord is root, else mcpvisord's"
expect "the filesystem view and its PID namespace are on by default" "on  filesystem     strict (default): read-only, private /tmp, /dev; 1 writable path"
expect "the score and its level" "-> exposure 0.5 SAFE"
run "security as JSON" 0 "$mcpvisor" security everything-http production --json
if python3 -c 'import json,sys; d=json.loads(sys.stdin.read()); p={x["name"]: x for x in d["protections"]}; assert len(p)==8 and not p["network"]["on"] and abs(sum(x["exposure"] for x in d["protections"])-d["exposure"])<0.06 and p["filesystem"]["on"] and p["pid_namespace"]["on"] and d["level"]=="OK", d' <<<"$out"; then ok "security JSON: 8 protections summing to the score"; else bad "security JSON"; fi
copy sec
sed -i 's/^  network: .*/  network: none\n  seccomp: none/' "$work/sec/config/servers/memory.yaml"
run "security with seccomp: none" 0 "$mcpvisor" --config-dir "$work/sec/config" security memory development
expect "1.5 more exposed" "-> exposure 2.0 OK"
run "security of no such server" 100 "$mcpvisor" security memroy development
expect "says so" "no server 'memroy'"
run "config validate --max-exposure 1.5: the servers above it fail" 100 "$mcpvisor" config validate --max-exposure 1.5
expect "naming server, environment and score" "servers/brave-search.yaml:3:7: error: server 'brave-search' in staging: exposure 2.0 OK, above --max-exposure 1.5"
run "config validate --max-exposure 10: none above" 0 "$mcpvisor" config validate --max-exposure=10
run "config validate --max-exposure 11: refused" 2 "$mcpvisor" config validate --max-exposure 11

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
