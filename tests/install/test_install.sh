#!/usr/bin/env bash
# An installed mcpvisor, not only a source tree: a release build (no test
# hooks), installed with cmake --install --prefix into a directory that
# is then moved, used from there by a user who is not in the source tree.
# Usage: test_install.sh SOURCE_DIR [BUILD_DIR]
set -u
src=$(cd "$1" && pwd)
build=${2:-$src/build-release}
work=$(mktemp -d "${TMPDIR:-/tmp}/mcpvisor-install.XXXXXX")
passed=0 failed=0
ok()  { passed=$((passed + 1)); echo "ok - $1"; }
bad() { failed=$((failed + 1)); echo "FAIL - $1"; }
check() { if eval "$2"; then ok "$1"; else bad "$1"; fi; }
cleanup() {
	[ -n "${state:-}" ] && pkill -KILL -f "mcpvisord --state-dir $state" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

cmake -S "$src" -B "$build" -DMCPVISOR_TESTS=OFF -DMCPVISOR_WERROR=ON \
	-DCMAKE_BUILD_TYPE=Release >/dev/null || { echo "configure failed"; exit 1; }
cmake --build "$build" -j"$(nproc)" >/dev/null || { echo "build failed"; exit 1; }
cmake --install "$build" --prefix "$work/first" >/dev/null || { echo "install failed"; exit 1; }
# moved after the install: nothing may depend on the prefix it was given
mv "$work/first" "$work/opt"
p=$work/opt

check "the programs are in place" '[ -x $p/bin/mcpvisor ] && [ -x $p/sbin/mcpvisord ] && [ -x $p/libexec/mcpvisor/mcpvisor-worker ] && [ -x $p/libexec/mcpvisor/mcpvisor-monitor ] && [ -x $p/libexec/mcpvisor/mcpvisor-gateway ]'
check "and the man pages" '[ -f $p/share/man/man1/mcpvisor.1 ] && [ -f $p/share/man/man5/mcpvisor.yaml.5 ] && [ -f $p/share/man/man8/mcpvisor-gateway.8 ]'
unit=$p/lib/systemd/system/mcpvisord.service
check "the systemd unit, naming the installed mcpvisord" 'grep -q "^ExecStart=/usr/local/sbin/mcpvisord " $unit || grep -q "^ExecStart=.*/sbin/mcpvisord --state-dir" $unit'
if command -v systemd-analyze >/dev/null 2>&1; then
	out=$(systemd-analyze verify "$unit" 2>&1 | grep -v -e "not executable" -e "No such file" -e "Failed to" -e "Command 'man " -e "^$" || true)
	check "systemd-analyze verify finds nothing wrong with it" '[ -z "$out" ]'
fi

# outside a source tree: /etc/mcpvisor (root) or ~/.config/mcpvisor, said
out=$(cd / && env -u MCPVISOR_CONFIG_DIR HOME="$work/home" "$p/bin/mcpvisor" config validate 2>&1); status=$?
if [ "$(id -u)" -eq 0 ]; then want=/etc/mcpvisor/config; else want=$work/home/.config/mcpvisor/config; fi
if [ -d "$want" ]; then
	check "config validate from / reads $want, and says so" 'grep -qF "$want" <<<"$out"'
else
	check "config validate from / says it read $want (which is not there)" '[ $status -eq 100 ] && grep -qF "configuration in $want is invalid" <<<"$out"'
fi

# a project of the user's own, deployed through the installed CLI: it
# starts the installed daemon, which starts the installed worker
proj=$work/project
mkdir -p "$proj/config/environments" "$proj/config/servers" "$proj/deployments" "$work/home"
printf 'variables: {}\n' > "$proj/config/environments/prod.yaml"
printf 'name: napper\nserver_type: demo\nrun:\n  command: sleep\n  args: ["3141"]\n  readiness: process\n  start_seconds: 0\n' > "$proj/config/servers/napper.yaml"
printf 'metadata: {name: installed, environment: prod}\nservers:\n  - {name: napper}\n' > "$proj/deployments/installed.yaml"
state=$work/state
out=$(cd "$work/home" && PATH=/usr/bin:/bin "$p/bin/mcpvisor" --config-dir "$proj/config" --state-dir "$state" deploy start "$proj/deployments/installed.yaml" 2>&1); status=$?
check "the installed CLI deploys, starting the installed daemon" '[ $status -eq 0 ]'
dpid=$(pgrep -f "mcpvisord --state-dir $state" | head -1)
check "that daemon is the installed mcpvisord" '[ -n "$dpid" ] && [ "$(readlink /proc/$dpid/exe)" = "$p/sbin/mcpvisord" ]'
wpid=$(pgrep -P "$dpid" -f mcpvisor-worker | head -1)
check "and its worker the installed one" '[ -n "$wpid" ] && [ "$(readlink /proc/$wpid/exe)" = "$p/libexec/mcpvisor/mcpvisor-worker" ]'
check "the server runs" 'pgrep -f "sleep 3141" >/dev/null'
"$p/bin/mcpvisor" --state-dir "$state" deploy stop "$("$p/bin/mcpvisor" --state-dir "$state" deploy list --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')" >/dev/null 2>&1
pkill -TERM -f "mcpvisord --state-dir $state"
for _ in $(seq 50); do pgrep -f "mcpvisord --state-dir $state" >/dev/null || break; sleep 0.1; done
state=""

# a CLI that cannot find its daemon says so
mkdir -p "$work/lonely/bin"
cp "$p/bin/mcpvisor" "$work/lonely/bin/"
out=$(PATH=/usr/bin:/bin "$work/lonely/bin/mcpvisor" --config-dir "$proj/config" --state-dir "$work/lonely-state" deploy start "$proj/deployments/installed.yaml" 2>&1); status=$?
check "a CLI with no daemon to find says where it looked" '[ $status -ne 0 ] && grep -q "cannot find mcpvisord to start (looked at" <<<"$out"'

# the plugin header, found through pkg-config, builds a plugin
pc=$(find "$p" -name mcpvisor.pc | head -1)
cflags=$(PKG_CONFIG_PATH=$(dirname "$pc") pkg-config --cflags mcpvisor 2>/dev/null | xargs)
printf '#include <mcpvisor/plugin.h>\nint mcpvisor_plugin_abi(void) { return MCPVISOR_PLUGIN_ABI; }\n' > "$work/plugin.c"
check "pkg-config --cflags mcpvisor points at the installed header" '[ -n "$pc" ] && [ "$(realpath "${cflags#-I}")" = "$(realpath "$p/include")" ]'
check "and a plugin builds with it" 'cc $cflags -Wall -Werror -shared -fPIC -o "$work/plugin.so" "$work/plugin.c"'

# bash completion
comp=$p/share/bash-completion/completions/mcpvisor
words=$(bash -c '. "$1"; COMP_WORDS=(mcpvisor dep); COMP_CWORD=1; _mcpvisor; echo "${COMPREPLY[*]}"' _ "$comp" 2>/dev/null)
verbs=$(bash -c '. "$1"; COMP_WORDS=(mcpvisor --state-dir /x rollback ""); COMP_CWORD=4; _mcpvisor; echo "${COMPREPLY[*]}"' _ "$comp" 2>/dev/null)
check "bash completion completes commands and verbs" '[ "$words" = deploy ] && [ "$verbs" = "list status start approve" ]'

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
