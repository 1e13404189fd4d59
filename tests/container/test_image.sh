#!/usr/bin/env bash
# The container image, built and run as a user would: a Debian 12 base made
# by mmdebstrap from Debian's packages (kept between runs in a cache),
# imported into podman as debian:12 and debian:12-slim, then
# `podman build --isolation chroot` of deploy/container/Dockerfile from this
# tree (build folders and node_modules in it, which .dockerignore must keep
# out). `podman run` cannot start a container on this machine's cgroup
# v1/v2 hybrid, so the image's root filesystem is unpacked and its
# entrypoint started as a runtime would: its own pid, mount and network
# namespaces, proc, a tmpfs /tmp, a /dev of its own, the image's user,
# working directory and environment. Checked: the demo becomes ready
# (/readyz, /livez, the HEALTHCHECK command); SIGTERM stops it in reverse
# order within the grace with status 0; an orphan inside is reaped; a
# failing deployment exits non-zero; the Job's `deploy start --once` exits
# 0; a server asking for a network namespace is refused at plan time.
#
# Needs root, podman, buildah's chroot isolation and mmdebstrap
# (deploy/install-deps.sh installs them) and Debian's mirror.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD

fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok - $*"; }

[ "$(id -u)" = 0 ] || fail "needs root (podman build, namespaces, chroot)"
for tool in podman mmdebstrap unshare nsenter curl python3; do
	command -v "$tool" >/dev/null || fail "$tool is missing (deploy/install-deps.sh)"
done

work=$(mktemp -d /tmp/mcpvisor-image.XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
	rm -f "$repo"/deploy/container/ca/test-host-*.crt
	for m in $(awk -v r="$work/" 'index($2, r) == 1 { print $2 }' /proc/mounts | sort -r); do
		umount -l "$m" 2>/dev/null || true
	done
	rm -rf "$work"
}
trap cleanup EXIT

# --- the base image: Debian 12 from Debian's packages ---
cache=${XDG_CACHE_HOME:-$HOME/.cache}/mcpvisor-tests
base_tar=$cache/debian12-base.tar
mkdir -p "$cache"
if [ ! -s "$base_tar" ] || [ -n "$(find "$base_tar" -mtime +7)" ]; then
	mirror=$(awk '$1 == "URIs:" && $2 ~ /debian$/ { print $2; exit }' \
		/etc/apt/sources.list.d/*.sources 2>/dev/null || true)
	mirror=${mirror:-http://deb.debian.org/debian}
	start=$(date +%s)
	mmdebstrap --quiet --variant=apt --mode=root bookworm "$cache/new.tar" \
		"$mirror" || fail "mmdebstrap of bookworm from $mirror"
	mv "$cache/new.tar" "$base_tar"
	echo "# base made by mmdebstrap in $(( $(date +%s) - start )) s"
fi
for tag in docker.io/library/debian:12 docker.io/library/debian:12-slim; do
	podman image exists "$tag" || podman import -q "$base_tar" "$tag" >/dev/null
done

# --- the build, from a tree with build folders in it ---
ls -d build*/CMakeCache.txt >/dev/null 2>&1 ||
	fail "no build*/CMakeCache.txt here: the .dockerignore case needs one (build first)"
# a TLS-inspecting proxy between us and the npm registry (as on CI's
# machines) is trusted by the build stage through deploy/container/ca/
for crt in /usr/local/share/ca-certificates/*.crt; do
	[ -e "$crt" ] && cp "$crt" "$repo/deploy/container/ca/test-host-$(basename "$crt")"
done
# HEALTHCHECK is a Docker image format field: OCI's has none
image_build() {
	local context=$1 what=$2 start
	start=$(date +%s)
	podman build --isolation chroot --format docker --layers -q \
		-f "$context/deploy/container/Dockerfile" -t localhost/mcpvisor:test \
		"$context" >"$work/build.log" 2>&1 ||
		{ tail -n 40 "$work/build.log"; fail "podman build from $what"; }
	pass "image built from $what in $(( $(date +%s) - start )) s"
}
# a clean tree: what git has (and what it does not ignore), nothing built
mkdir "$work/clean"
git ls-files -z --cached --others --exclude-standard |
	tar -c --null -T - -f - | tar -x -C "$work/clean"
cp deploy/container/ca/test-host-*.crt "$work/clean/deploy/container/ca/" 2>/dev/null || true
image_build "$work/clean" "a clean tree"
image_build "$repo" "this tree, with its build folders ($(ls -d build* | tr '\n' ' '))"
podman image inspect localhost/mcpvisor:test >"$work/inspect.json"
python3 - "$work/inspect.json" >"$work/image.env" <<'EOF'
import json, shlex, sys
i = json.load(open(sys.argv[1]))[0]
c = i["Config"]
print("image_user=%s" % shlex.quote(c.get("User", "")))
print("image_workdir=%s" % shlex.quote(c.get("WorkingDir", "/")))
print("image_entrypoint=(%s)" % " ".join(map(shlex.quote, c.get("Entrypoint") or [])))
print("image_cmd=(%s)" % " ".join(map(shlex.quote, c.get("Cmd") or [])))
print("image_env=(%s)" % " ".join(map(shlex.quote, c.get("Env") or [])))
print("image_stopsignal=%s" % shlex.quote(c.get("StopSignal", "SIGTERM")))
hc = (i.get("Healthcheck") or c.get("Healthcheck") or {}).get("Test") or []
print("image_healthcheck=(%s)" % " ".join(map(shlex.quote, hc[1:] if hc[:1] == ["CMD"] else [])))
EOF
# shellcheck disable=SC1091
. "$work/image.env"
[ "$image_user" = mcpvisor ] || fail "the image runs as '$image_user', not mcpvisor"
[ "$image_stopsignal" = SIGTERM ] || fail "STOPSIGNAL $image_stopsignal"
[ ${#image_healthcheck[@]} -gt 0 ] || fail "no HEALTHCHECK command"
pass "image: user $image_user, STOPSIGNAL $image_stopsignal, a HEALTHCHECK, entrypoint ${image_entrypoint[0]}"

root=$work/rootfs
mkdir "$root"
cid=$(podman create -q localhost/mcpvisor:test 2>/dev/null)
podman export "$cid" | tar -x -C "$root"
podman rm -f "$cid" >/dev/null 2>&1
node_version=$(chroot "$root" /opt/node/bin/node --version)
case $node_version in v2[0-9].*) ;; *) fail "the image's node is $node_version" ;; esac
pass "the image's Node.js is $node_version (the reference servers need 20)"
uid=$(awk -F: -v u="$image_user" '$1 == u { print $3 ":" $4 }' "$root/etc/passwd")

# Runs the image's entrypoint with arguments "$@" (the image's CMD when
# none) as PID 1 of new pid, mount and network namespaces; its host pid
# (the namespace's init) in $init_pid, its output in $work/out.N.
run_count=0
container_start() {
	local args=("$@") out
	[ ${#args[@]} -gt 0 ] || args=("${image_cmd[@]}")
	run_count=$((run_count + 1))
	out=$work/out.$run_count
	unshare --pid --fork --mount --net --propagation private \
		/bin/sh -c '
		root=$1 uid=$2 workdir=$3; shift 3
		ip link set lo up 2>/dev/null || true
		mount --bind "$root" "$root"
		mount -t proc proc "$root/proc"
		mount -t tmpfs -o mode=1777 tmpfs "$root/tmp"
		mount -t tmpfs -o mode=0755 tmpfs "$root/dev"
		for d in null zero full random urandom tty; do
			touch "$root/dev/$d"; mount --bind "/dev/$d" "$root/dev/$d"
		done
		mkdir -p "$root/dev/shm" && mount -t tmpfs tmpfs "$root/dev/shm"
		cd "$root$workdir"
		exec chroot --userspec="$uid" "$root" /usr/bin/env -i "$@"
		' sh "$root" "$uid" "$image_workdir" "${image_env[@]}" \
		"${image_entrypoint[@]}" "${args[@]}" >"$out" 2>&1 &
	unshare_pid=$!
	pids+=("$unshare_pid")
	for _ in $(seq 100); do
		init_pid=$(pgrep -P "$unshare_pid" | head -n 1 || true)
		[ -n "$init_pid" ] && break
		sleep 0.05
	done
	[ -n "$init_pid" ] || fail "the container did not start"
}
# a command in the running container's namespaces (its network: the
# monitor listens there), as the image's user
inside() {
	nsenter -t "$init_pid" -p -m -n -r -w -S "${uid%:*}" -G "${uid#*:}" \
		/usr/bin/env -i "${image_env[@]}" "$@"
}
wait_ready() {
	for _ in $(seq 600); do
		if nsenter -t "$init_pid" -n curl -sf http://127.0.0.1:8765/readyz \
			>"$work/readyz" 2>/dev/null; then
			return 0
		fi
		kill -0 "$unshare_pid" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

# --- the default command: the demo, ready, then stopped as docker stop does ---
container_start
wait_ready || { cat "$work/out.$run_count"; fail "the demo did not become ready"; }
pass "the demo is ready: $(cat "$work/readyz")"
nsenter -t "$init_pid" -n curl -sf http://127.0.0.1:8765/livez >/dev/null ||
	fail "/livez"
inside "${image_healthcheck[@]}" >"$work/hc" || fail "the HEALTHCHECK command: $(cat "$work/hc")"
pass "/livez answers, and the HEALTHCHECK command says: $(cat "$work/hc")"
[ "$(awk '/^PPid/ { print $2 }' "/proc/$init_pid/status")" = "$unshare_pid" ] &&
	[ "$(awk '/^NSpid/ { print $NF }' "/proc/$init_pid/status")" = 1 ] ||
	fail "mcpvisord is not PID 1 of its namespace"

# an orphan: started inside and left by its parent, reparented to PID 1
inside /bin/sh -c 'sleep 1.5 & exit 0'
sleep 0.3
orphans=$(ps -o pid=,stat=,args= --ppid "$init_pid" | awk '$3 == "sleep" { print $1 }')
[ -n "$orphans" ] || fail "the orphan did not come to PID 1"
sleep 2
for p in $orphans; do
	[ ! -e "/proc/$p" ] || fail "orphan $p was not reaped ($(awk '/^State/ { print $2 }' "/proc/$p/status"))"
done
pass "an orphan inside was reaped by PID 1"

start_ns=$(date +%s%N)
kill -TERM "$init_pid"
status=0
wait "$unshare_pid" || status=$?
elapsed_ms=$(( ($(date +%s%N) - start_ns) / 1000000 ))
[ "$status" = 0 ] || { tail -n 20 "$work/out.$run_count"; fail "SIGTERM: exit status $status"; }
[ "$elapsed_ms" -lt 10000 ] || fail "SIGTERM: stopped in $elapsed_ms ms, past docker stop's 10 s"
# reverse dependency order: everything-http (after memory and filesystem)
# and everything (after memory) end before memory does
order=$(grep -o '[a-z-]*: server_exited' "$work/out.$run_count" | cut -d: -f1 | tr '\n' ' ')
python3 - "$order" <<'EOF' || fail "stop order: $order"
import sys
o = sys.argv[1].split()
assert set(o) == {"memory", "filesystem", "everything", "everything-http"}, o
assert o.index("everything-http") < min(o.index("memory"), o.index("filesystem")), o
assert o.index("everything") < o.index("memory"), o
EOF
pass "SIGTERM: stopped in reverse order ($order) in $elapsed_ms ms, status 0"

# --- a failing deployment: a server whose program is not there ---
cat >"$root/etc/mcpvisor/config/servers/missing.yaml" <<'EOF'
name: missing
server_type: test
run:
  command: /opt/missing/bin/server
  transport: stdio
  restart: never
sandbox:
  network: host
EOF
cat >"$root/etc/mcpvisor/deployments/failing.yaml" <<'EOF'
metadata:
  name: failing
  environment: development
servers:
  - name: missing
    timeout_seconds: 5
    retry_attempts: 1
deployment_settings:
  health_checks_enabled: false
  monitoring_enabled: false
EOF
container_start /etc/mcpvisor/deployments/failing.yaml
status=0
timeout 60 tail --pid="$unshare_pid" -f /dev/null || true
wait "$unshare_pid" || status=$?
[ "$status" != 0 ] || { cat "$work/out.$run_count"; fail "a failing deployment exited 0"; }
pass "a failing deployment exits $status"

# --- a server asking for its own network namespace, which needs
# CAP_SYS_ADMIN the container lacks: refused when planned ---
sed -i 's/network: host/network: none/' "$root/etc/mcpvisor/config/servers/missing.yaml"
container_start /etc/mcpvisor/deployments/failing.yaml
status=0
wait "$unshare_pid" || status=$?
grep -q "missing.yaml:[0-9]*:[0-9]*: error: .*network: none needs a network namespace" \
	"$work/out.$run_count" || { cat "$work/out.$run_count"; fail "no plan-time refusal"; }
[ "$status" = 100 ] || fail "a refused plan exits $status, not 100"
pass "network: none without CAP_SYS_ADMIN refused at plan time (status 100)"

# --- the Kubernetes Job's command: deploy, check, stop, exit ---
image_entrypoint=(/opt/mcpvisor/bin/mcpvisor --state-dir /var/lib/mcpvisor)
container_start deploy start /etc/mcpvisor/deployments/demo.yaml --once --no-monitoring
status=0
wait "$unshare_pid" || status=$?
[ "$status" = 0 ] || { tail -n 30 "$work/out.$run_count"; fail "deploy start --once: status $status"; }
grep -q "deployment_stopped" "$work/out.$run_count" || fail "--once did not stop in order"
pass "mcpvisor deploy start --once in the image: deployed, stopped, status 0"

echo "container image: all passed"
