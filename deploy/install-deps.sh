#!/usr/bin/env bash
# Installs what mcpvisor needs to build, test and run its demo, on Debian 12
# as root: the compilers and libraries from Debian, and the official MCP
# reference servers from npm into deploy/mcp-servers/node_modules (so that
# a deployment later needs no network). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
	build-essential cmake pkg-config clang
	libyaml-dev libcurl4-openssl-dev libcjson-dev libwebsockets-dev
	libcmocka-dev libcap-dev libssl-dev libpcre2-dev libseccomp-dev
	python3 mandoc ca-certificates curl procps util-linux
	# the peers of the supervisor and isolation benchmarks (tests/bench/)
	s6 runit supervisor bubblewrap
	# real peers of the health-check tests, and the ceiling of their
	# benchmark
	nginx-light redis-server wrk
	# the monitor's tests: a browser for the dashboard, Prometheus' own
	# parser for /metrics, network namespaces for a remote client
	chromium python3-prometheus-client iproute2
	# the container image's test: a Debian base from Debian's packages,
	# built and unpacked with podman (tests/container)
	podman buildah mmdebstrap
)
missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
		missing+=("$p")
done
# Node.js may come from Debian or elsewhere; only its absence matters
command -v npm >/dev/null || missing+=(nodejs npm)
if [ ${#missing[@]} -gt 0 ]; then
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The reference servers, pinned in deploy/mcp-servers/package.json, and
# the monitor tests' clients (ws, playwright-core), in tests/monitor, and
# the manifest checks' tools (kustomize, kubernetes-models,
# action-validator), in tests/deploy.
for d in deploy/mcp-servers tests/monitor tests/deploy; do
	( cd "$d" &&
	  npm install --no-audit --no-fund --no-package-lock --loglevel=error )
done
