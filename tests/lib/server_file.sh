# Sourced by the shell suites: server NAME RUN writes $cfg/servers/NAME.yaml
# with RUN as its run section (indented two spaces), and $server_sandbox,
# when a suite sets it, as its sandbox section (the paths of the suite's
# directory its servers may see: the default view hides the host's /tmp).
# The suites' servers are plain programs, not MCP servers: ready by
# running, at once, unless the section says how.
server() {
	local run=$2
	case $run in *readiness:*) ;; *) run="$run
  readiness: process";; esac
	case $run in *start_seconds:*) ;; *) run="$run
  start_seconds: 0";; esac
	printf 'name: %s\nserver_type: test\nrun:\n%s\n' "$1" "$run" > "$cfg/servers/$1.yaml"
	[ -z "${server_sandbox:-}" ] || printf 'sandbox:\n%s\n' "$server_sandbox" >> "$cfg/servers/$1.yaml"
}
