#!/usr/bin/env bash
# sandbox.filesystem, inside real servers: under strict (the default
# where mcpvisord may make mount and PID namespaces) the root is
# read-only, /tmp private, /home empty, /dev minimal, /proc shows only the
# server's own processes, the state directory is invisible, and only the
# writable paths take writes; readable_paths and hidden_paths add to and
# take from the view; filesystem: host sees what the strict server does
# not; the pids mcpvisord reports are its own, and a worker's death takes
# its whole namespace with it; a mcpvisord that cannot make the
# namespaces refuses strict written out, at its line, and gives the
# host's filesystem by default.
# Usage: test_fsview.sh BUILD_DIR
set -u
build=$(cd "$1" && pwd)
mcpvisor="$build/mcpvisor"
mcpvisord="$build/mcpvisord"
work=$(mktemp -d "${TMPDIR:-/tmp}/mcpvisor-fsview.XXXXXX")
# shellcheck source=../lib/check.sh
. "$(dirname "$0")/../lib/check.sh"
trap 'pkill -KILL -f "$work/" 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$work" "$host_file" /var/tmp/mcpvisor-fsview-$$ /tmp/mcpvisor-fsview-mine.*' EXIT

# the host server, a dynamic user, reaches its script as others may
chmod 0755 "$work"
cfg="$work/config"
mkdir -p "$cfg/environments" "$cfg/servers" "$work/out" "$work/ro" "$work/hidden"
# shellcheck source=../lib/server_file.sh
. "$(dirname "$0")/../lib/server_file.sh"
echo "variables: {}" > "$cfg/environments/test.yaml"
host_file=/tmp/mcpvisor-fsview-host-$$
echo "the host's" > "$host_file"
touch /var/tmp/mcpvisor-fsview-$$
echo "readable" > "$work/ro/data"
echo "not for servers" > "$work/hidden/secret"
# what a server sees, one line per question, then it stays up
cat > "$work/probe.sh" <<'SH'
#!/bin/sh
out=$1
{
	echo "usr=$( (: > /usr/mcpvisor-fsview) 2>/dev/null && echo written || echo refused)"
	echo "etc=$( (: > /etc/mcpvisor-fsview) 2>/dev/null && echo written || echo refused)"
	echo "host_tmp=$(cat "$2" 2>/dev/null || echo invisible)"
	echo "var_tmp=$(ls -A /var/tmp | grep -c mcpvisor-fsview)"
	echo "tmp_writable=$( (echo x > /tmp/mcpvisor-fsview-mine.$$ && cat /tmp/mcpvisor-fsview-mine.$$) 2>/dev/null || echo no)"
	echo "home=$(ls -A /home /root 2>/dev/null | grep -vc ':$\|^$')"
	echo "home_write=$( (: > /home/x) 2>/dev/null && echo written || echo refused)"
	echo "dev=$(ls /dev | tr '\n' ' ')"
	echo "procs=$(ps -e -o comm= | tr '\n' ' ')"
	echo "pid=$$"
	echo "state=$(ls -A "$3" 2>/dev/null | wc -l)"
	echo "readable=$(cat "$4/ro/data" 2>/dev/null)"
	echo "readable_write=$( (: >> "$4/ro/data") 2>/dev/null && echo written || echo refused)"
	echo "hidden=$(cat "$4/hidden/secret" 2>/dev/null || echo hidden)"
	echo "writable=$(echo mine > "$out/written" && echo written)"
	echo "tree=$(ls "$4" | tr '\n' ' ')"
	echo "id=$(id -u):$(id -g)"
} > "$out/report.$$" 2>&1
mv "$out/report.$$" "$out/report"
exec sleep 7421
SH
probe_server() { # name, mode, extra sandbox lines
	server "$1" "  command: /bin/sh
  args: [\"$work/probe.sh\", \"$work/out/$1\", \"$host_file\", \"$work/state\", \"$work\"]"
	mkdir -p "$work/out/$1"
	printf 'sandbox:\n  writable_paths: ["%s"]\n  readable_paths: ["%s/probe.sh", "%s/ro"]\n%s' \
	    "$work/out/$1" "$work" "$work" "${2:-}" >> "$cfg/servers/$1.yaml"
}
probe_server strict "  hidden_paths: [\"$work/hidden\"]
"
probe_server host "  filesystem: host
"
# a server that says run.user: root, and one sharing a writable path
# another dynamic user took first
probe_server rooted
sed -i 's/^  readiness: process/  user: root\n&/' "$cfg/servers/rooted.yaml"
server sharing "  command: /bin/sh
  args: [\"-c\", \"echo shared > $work/out/strict/shared; exec sleep 7424\"]"
printf 'sandbox:\n  writable_paths: ["%s"]\n' "$work/out/strict" >> "$cfg/servers/sharing.yaml"
# a writable path of root's with something in it: not taken over
mkdir -p "$work/out/notmine" && echo root > "$work/out/notmine/kept"
probe_server notmine
# a server ready by sd_notify, from inside its view
server notified "  command: /bin/sh
  args: [\"-c\", \"sleep 0.2; systemd-notify --ready 2>/dev/null || python3 -c 'import os,socket; s=socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.connect(os.environ[\\\"NOTIFY_SOCKET\\\"]); s.send(b\\\"READY=1\\\")'; exec sleep 7422\"]
  readiness: notify"
cat > "$work/spec.yaml" <<'YAML'
metadata: {name: fsv, environment: test}
servers:
  - {name: strict, parallel_safe: true}
  - {name: host, parallel_safe: true}
  - {name: notified, parallel_safe: true}
  - {name: rooted, parallel_safe: true}
  - {name: sharing, dependencies: [strict]}
  - {name: notmine, parallel_safe: true}
deployment_settings: {monitoring_enabled: false}
YAML
state="$work/state"
mv() { "$mcpvisor" --config-dir "$cfg" --state-dir "$state" "$@"; }
out=$(mv deploy start "$work/spec.yaml" 2>&1); status=$?
check "six servers, strict, host, notified from inside a view, rooted, sharing and notmine, come up" '[ $status -eq 0 ]'
wait_for "[ -s \"$work/out/strict/report\" ] && [ -s \"$work/out/host/report\" ] && [ -s \"$work/out/rooted/report\" ]" 10
r() { sed -n "s/^$2=//p" "$work/out/$1/report"; }
out=$(cat "$work/out/strict/report")
check "strict: writing to /usr and /etc fails" '[ "$(r strict usr)$(r strict etc)" = refusedrefused ]'
check "strict: a file the test wrote to the host's /tmp is invisible, /var/tmp is private" '[ "$(r strict host_tmp)" = invisible ] && [ "$(r strict var_tmp)" = 0 ]'
check "strict: its own /tmp is writable" '[ "$(r strict tmp_writable)" = x ]'
check "strict: /home and /root are empty and read-only" '[ "$(r strict home)" = 0 ] && [ "$(r strict home_write)" = refused ]'
check "strict: /dev holds only null zero full random urandom tty, shm and the std* links" '[ "$(r strict dev)" = "fd full null random shm stderr stdin stdout tty urandom zero " ]'
# the probe's shell, its subshell, ps and tr, under the worker
check "strict: ps shows only the server's processes, under its worker as init (pid 1)" '[ "$(r strict pid)" -gt 1 ] && [ "$(r strict procs)" = "mcpvisor-worker sh sh ps tr " ]'
check "strict: the state directory is invisible" '[ "$(r strict state)" = 0 ]'
check "strict: a readable path reads, and refuses writes" '[ "$(r strict readable)" = readable ] && [ "$(r strict readable_write)" = refused ]'
check "strict: a hidden path is hidden" '[ "$(r strict hidden)" = hidden ]'
check "strict: the writable path takes writes, which the host sees" '[ "$(r strict writable)" = written ] && [ "$(cat "$work/out/strict/written")" = mine ]'
check "strict: of the test's directory only the paths named are there" '[ "$(r strict tree)" = "out probe.sh ro " ]'
out=$(cat "$work/out/host/report")
check "host: the same server sees the host's /tmp and many processes, and, a dynamic user, not the state directory" '[ "$(r host host_tmp)" = "the host'"'"'s" ] && [ "$(r host state)" = 0 ] && [ "$(r host procs | wc -w)" -gt 10 ]'
out=$(cat "$work/out/rooted/report")
check "rooted: run.user: root runs as root, and, strict, still without the state directory" '[ "$(r rooted id)" = 0:0 ] && [ "$(r rooted state)" = 0 ]'

# no root by default: a dynamic user per server, recorded, owning its
# writable path
uid_of() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$state/dynamic-users.json" "$1" 2>/dev/null; }
out=$(cat "$state/dynamic-users.json" 2>&1)
su=$(uid_of strict); hu=$(uid_of host)
check "strict and host run as dynamic users of their own (61184-65518, group 65519), as dynamic-users.json says" '[ -n "$su" ] && [ "$(r strict id)" = "$su:65519" ] && [ "$(r host id)" = "$hu:65519" ] && [ "$su" != "$hu" ] && [ "$su" -ge 61184 ] && [ "$su" -le 65518 ]'
check "no dynamic user for the server that says root" '[ -z "$(uid_of rooted)" ]'
check "dynamic-users.json is root's, mode 0600" '[ "$(stat -c %u:%a "$state/dynamic-users.json")" = 0:600 ]'
check "the writable path the test made empty is the server's now, shared through the group (02770)" '[ "$(stat -c %u:%g:%a "$work/out/strict")" = "$su:65519:2770" ]'
check "a second server (sharing) writes the path the first owns, through the group" 'wait_for "[ -s \"$work/out/strict/shared\" ]" 10 && [ "$(stat -c %u "$work/out/strict/shared")" = "$(uid_of sharing)" ]'
check "a writable path of root's, not empty, is not taken: the server cannot write it, and the log says why" '[ "$(stat -c %u "$work/out/notmine")" = 0 ] && [ -z "$(r notmine writable)" ] && cat "$state"/logs/*.log | grep -q "writable path $work/out/notmine belongs to uid 0 and is not empty"'
check "strict: a server ready by NOTIFY_SOCKET from inside its view is ready" 'mv status notified 2>&1 | grep -q ready'

# the pids mcpvisord reports are the host's
spid() { mv status strict --json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)[0].get("pid", ""))' 2>/dev/null; }
pid=$(spid)
out=$(mv status strict --json 2>&1)
check "status shows the server's pid as the host sees it (its NSpid's first)" '[ -n "$pid" ] && grep -q "^NSpid:[[:space:]]*$pid[[:space:]]*$(r strict pid)\$" /proc/"$pid"/status'
check "the sandbox_applied event says what the view is" 'grep -q "\"filesystem\":{\"mode\":\"strict\",\"root\":\"read-only\",\"tmp\":\"private\",\"home\":\"hidden\",\"dev\":\"private\",\"proc\":\"own PID namespace\"" "$state/events.journal" && grep -q "\"filesystem\":\"host\"" "$state/events.journal"'
worker=$(awk '/^PPid:/ {print $2}' /proc/"$pid"/status)
kill -KILL "$worker"
check "a worker killed takes its whole PID namespace: the server is gone" 'wait_for "! kill -0 $pid 2>/dev/null" 5'
check "and a new worker starts it again in a new view" 'wait_for "p=\$(spid); [ -n \"\$p\" ] && [ \"\$p\" != $pid ]" 30'
check "as the same dynamic user" '[ "$(awk "/^Uid:/ {print \$2}" /proc/"$(spid)"/status)" = "$su" ]'
mv shutdown >/dev/null 2>&1

# without CAP_SYS_ADMIN: strict written out is refused when planned, and
# the default is the host's filesystem
server plain "  command: /bin/sleep
  args: [\"7423\"]"
printf 'metadata: {name: plain, environment: test}\nservers:\n  - {name: plain}\ndeployment_settings: {monitoring_enabled: false}\n' > "$work/plain.yaml"
probe_server asks "  filesystem: strict
"
printf 'metadata: {name: asks, environment: test}\nservers:\n  - {name: asks}\n' > "$work/asks.yaml"
noadmin() { setpriv --bounding-set -sys_admin --inh-caps -sys_admin -- "$@"; }
out=$(noadmin "$mcpvisord" --config-dir "$cfg" --check "$work/asks.yaml" 2>&1); status=$?
check "without CAP_SYS_ADMIN: filesystem: strict refused at servers/asks.yaml:11:15 (exit 100)" '[ $status -eq 100 ] && grep -q "servers/asks.yaml:11:15: error: server .asks.: sandbox.filesystem: strict needs a mount and a PID namespace" <<<"$out"'
state2="$work/state2"
out=$(noadmin "$mcpvisor" --config-dir "$cfg" --state-dir "$state2" deploy start "$work/plain.yaml" 2>&1); status=$?
check "without CAP_SYS_ADMIN: a server that does not ask gets the host's filesystem" '[ $status -eq 0 ] && wait_for "grep -q \"\\\"filesystem\\\":\\\"host\\\"\" \"$state2/events.journal\"" 5'
"$mcpvisor" --state-dir "$state2" shutdown >/dev/null 2>&1

# a path that is not absolute: refused when planned, at its line
probe_server relative "  hidden_paths: [\"etc/shadow\"]
"
printf 'metadata: {name: rel, environment: test}\nservers:\n  - {name: relative}\n' > "$work/rel.yaml"
out=$("$mcpvisord" --config-dir "$cfg" --check "$work/rel.yaml" 2>&1); status=$?
check "hidden_paths: [etc/shadow]: refused at servers/relative.yaml:11:18 (exit 100)" '[ $status -eq 100 ] && grep -q "servers/relative.yaml:11:18: error: sandbox.hidden_paths: .etc/shadow. is not an absolute path" <<<"$out"'

# a command the view hides: a warning that names the fix
server hidden-command "  command: $work/probe.sh"
printf 'metadata: {name: hc, environment: test}\nservers:\n  - {name: hidden-command}\n' > "$work/hc.yaml"
out=$("$mcpvisord" --config-dir "$cfg" --check "$work/hc.yaml" 2>&1); status=$?
check "a command under /tmp, not among readable_paths: warned at servers/hidden-command.yaml:4:12, with the fix" '[ $status -eq 0 ] && grep -q "servers/hidden-command.yaml:4:12: warning: server .hidden-command.: $work/probe.sh is under /tmp, which its filesystem view (sandbox.filesystem: strict) hides: add it to sandbox.readable_paths" <<<"$out"'

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
