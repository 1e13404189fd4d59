#!/usr/bin/env bash
# Builds and runs every test: the warning-clean build with ctest, the same
# tests under AddressSanitizer and UndefinedBehaviorSanitizer, the fuzz
# targets for a bounded time, and the benchmarks (which print figures and
# assert nothing). FUZZ_SECONDS sets the time per fuzz target (default 30).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)
fuzz_seconds=${FUZZ_SECONDS:-30}

section() { printf '\n=== %s ===\n' "$*"; }

section "build (-Werror) and test"
cmake -S . -B build -DMCPVISOR_WERROR=ON >/dev/null
cmake --build build -j"$jobs"
ctest --test-dir build --output-on-failure -j"$jobs"

section "build with ASan+UBSan and test"
cmake -S . -B build-asan -DMCPVISOR_WERROR=ON -DMCPVISOR_SANITIZE=ON \
	-DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build-asan -j"$jobs"
# the soak's minute is the plain build's; under the sanitizers a shorter
# one checks the same invariants
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 SOAK_SECONDS=20 \
	ctest --test-dir build-asan --output-on-failure -j"$jobs"

section "an installed mcpvisor: a release build, cmake --install, moved, used"
bash tests/install/test_install.sh . build-release

section "deploy/kubernetes and deploy/ci, checked offline"
bash tests/deploy/test_manifests.sh

section "the container image: built with podman, run as PID 1"
bash tests/container/test_image.sh

section "fuzz (${fuzz_seconds}s per target, clang, libFuzzer+ASan+UBSan)"
CC=clang cmake -S . -B build-fuzz -DMCPVISOR_WERROR=ON -DMCPVISOR_FUZZ=ON \
	-DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build-fuzz -j"$jobs" --target fuzz_yaml fuzz_template fuzz_frame fuzz_mcp \
	fuzz_sse fuzz_hub fuzz_runspec fuzz_mcpmux fuzz_gwmessage
for target in yaml template frame mcp sse hub runspec mcpmux gwmessage; do
	corpus=$(mktemp -d)
	cp tests/fuzz/corpus/"$target"/* "$corpus"/
	status=0
	build-fuzz/fuzz_"$target" -max_total_time="$fuzz_seconds" \
		-rss_limit_mb=2048 -print_final_stats=1 "$corpus" \
		>"$corpus.log" 2>&1 || status=$?
	if [ "$status" -ne 0 ]; then
		tail -n 60 "$corpus.log"
		echo "fuzz_$target failed (status $status)"
		exit 1
	fi
	grep -E '^(Done|stat::number_of_executed_units)' "$corpus.log"
	rm -rf "$corpus" "$corpus.log"
done

section "benchmark: plan and render 10,000 servers with 50,000 edges"
build/bench_plan 10000 50000 5

section "benchmark: 1,000 http health checks at concurrency 100, beside wrk"
build/bench_health 1000 100 5

section "benchmark: rollback after a worker of an upgrade is killed"
python3 tests/bench/bench_rollback.py build --servers 1,50 --reps 3

section "benchmark: the monitor beside a Node.js ws broadcast server"
python3 tests/bench/bench_monitor.py build --clients 10,100,1000 --reps 3

section "benchmark: the cost of isolation, 200 servers, beside bwrap and s6"
python3 tests/bench/bench_isolation.py build --servers 200 --reps 3

section "benchmark: mcpvisor beside s6, runit and supervisord, 200 servers"
python3 tests/bench/bench_supervisors.py build --servers 200 --reps 3 \
	--samples 15 --idle 10
