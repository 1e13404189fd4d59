#!/usr/bin/env python3
"""Events delivered per second and the latency from mcpvisord emitting an
event to a WebSocket client receiving it, through mcpvisor-monitor and,
in the same run, through a Node.js broadcast server on the ws library fed
the same events the same way. Clients are the ws library's
(tests/monitor/client.js), the same for both.

    bench_monitor.py BUILD_DIR [--clients 10,100,1000] [--reps 3]
                     [--clients-per-process 50]

Two workloads per client count: a burst (as fast as mcpvisord emits) for
the delivered rate, and a steady 10,000 events/s for latency; meanwhile
mcpvisord is pinged over its control socket, to show how long its loop
ever waits. Figures are medians over the reps; ratios are mcpvisor's over
ws's (a rate above 1 and a latency below 1 favour mcpvisor)."""
import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(HERE))
CLIENT = os.path.join(SRC, "tests", "monitor", "client.js")
CONTROL = os.path.join(SRC, "tests", "monitor", "control.py")
WS_MODULE = os.path.join(SRC, "tests", "monitor", "node_modules", "ws")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, seconds=10):
    end = time.time() + seconds
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit("nothing listens on port %d" % port)


def cpu_seconds(pid):
    """User plus system CPU time of pid so far."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_clients(port, clients, per_process, events, rate, state, server_pid):
    """Connects clients (in processes of at most per_process), has
    mcpvisord emit events at rate, and returns (deliveries/s, p50 ms,
    p99 ms, pings, gaps, server CPU microseconds per delivered message)."""
    procs = []
    left = clients
    env = dict(os.environ, NODE_PATH=os.path.dirname(WS_MODULE))
    while left > 0:
        n = min(per_process, left)
        left -= n
        procs.append(subprocess.Popen(
            ["node", CLIENT, "ws://127.0.0.1:%d/" % port, "--clients", str(n),
             "--until-synthetic", str(events), "--timeout", "120000",
             "--latency"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            env=env, text=True))
    time.sleep(1.0 + clients / 400)	# every client connected
    pinger = subprocess.Popen([sys.executable, CONTROL, state, "pings",
                               str(max(2, events / max(rate, 10000) + 1))],
                              stdout=subprocess.PIPE, text=True)
    t0 = time.perf_counter()
    cpu0 = cpu_seconds(server_pid)
    subprocess.run([sys.executable, CONTROL, state, "synthetic", str(events),
                    str(rate)], check=True)
    results = [json.loads(p.communicate()[0].strip().splitlines()[-1])
               for p in procs]
    elapsed = time.perf_counter() - t0
    cpu = cpu_seconds(server_pid) - cpu0
    pings = json.loads(pinger.communicate()[0])
    received = sum(r["received"] for r in results)
    gaps = sum(r["gaps"] for r in results)
    p50 = statistics.median(r["p50_ms"] for r in results if r["p50_ms"])
    p99 = max(r["p99_ms"] for r in results if r["p99_ms"])
    return (received / elapsed, p50, p99, pings, gaps,
            cpu * 1e6 / max(1, received))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--clients", default="10,100,1000")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--burst", type=int, default=20000)
    ap.add_argument("--steady-seconds", type=float, default=2)
    # One Node.js process reading 100 sockets saturates a core before
    # mcpvisor-monitor does, and then measures itself; two share the load.
    ap.add_argument("--clients-per-process", type=int, default=50)
    args = ap.parse_args()
    build = os.path.abspath(args.build)
    per_process = args.clients_per_process
    work = tempfile.mkdtemp(prefix="mcpvisor-bench-mon.")
    state = os.path.join(work, "state")
    mport, wport = free_port(), free_port()
    daemon = subprocess.Popen([os.path.join(build, "mcpvisord"), "--state-dir",
                               state, "--monitor-port", str(mport)],
                              stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        wait_port(mport)
        peer = subprocess.Popen(["node", os.path.join(HERE, "ws_broadcast.js"),
                                 state, str(wport)],
                                env=dict(os.environ, WS_MODULE=WS_MODULE),
                                stdout=subprocess.DEVNULL)
        wait_port(wport)
        out = subprocess.run(["pgrep", "-f", "mcpvisor-monitor --channel-fd 3 "
                              "--state-dir " + state], capture_output=True,
                             text=True).stdout.split()
        pids = {"mcpvisor": int(out[0]), "ws": peer.pid}
        rows = []
        for clients in [int(c) for c in args.clients.split(",")]:
            burst = args.burst if clients <= 100 else args.burst // 10
            steady = int(10000 * args.steady_seconds)
            for name, port in (("mcpvisor", mport), ("ws", wport)):
                rates, p50s, p99s, pmax, cpus, gaps = [], [], [], [], [], 0
                for _ in range(args.reps):
                    rate, _, _, ping, g, us = run_clients(
                        port, clients, per_process, burst, 0, state,
                        pids[name])
                    rates.append(rate)
                    cpus.append(us)
                    gaps += g
                    if clients <= 100:
                        _, p50, p99, ping, g, _ = run_clients(
                            port, clients, per_process, steady, 10000,
                            state, pids[name])
                        p50s.append(p50)
                        p99s.append(p99)
                        pmax.append(ping["max_ms"])
                        gaps += g
                rows.append((clients, name, statistics.median(rates),
                             statistics.median(p50s) if p50s else None,
                             statistics.median(p99s) if p99s else None,
                             max(pmax) if pmax else None, gaps,
                             statistics.median(cpus)))
                print("# %4d clients, %-8s delivered %9.0f/s  p50 %s  p99 %s"
                      "  server CPU %.2f us/message  gaps %d" % (
                          rows[-1][0], name, rows[-1][2],
                          "%.2f ms" % rows[-1][3] if rows[-1][3] else "-",
                          "%.2f ms" % rows[-1][4] if rows[-1][4] else "-",
                          rows[-1][7], gaps), flush=True)
        print()
        print("%7s  %-9s %12s %12s %10s %10s %14s %6s" % (
            "clients", "server", "delivered/s", "CPU/message", "p50*", "p99*",
            "root ping max*", "gaps"))
        for r in rows:
            print("%7d  %-9s %12.0f %9.2f us %10s %10s %14s %6d" % (
                r[0], r[1], r[2], r[7], "%.2f ms" % r[3] if r[3] else "-",
                "%.2f ms" % r[4] if r[4] else "-",
                "%.1f ms" % r[5] if r[5] else "-", r[6]))
        print("* at a steady 10,000 events/s (1,000 clients: burst only)")
        print()
        for clients in sorted(set(r[0] for r in rows)):
            m = [r for r in rows if r[0] == clients and r[1] == "mcpvisor"][0]
            w = [r for r in rows if r[0] == clients and r[1] == "ws"][0]
            line = ("%4d clients: delivered rate mcpvisor/ws %.2f, server "
                    "CPU per message %.2f") % (clients, m[2] / w[2],
                                               m[7] / w[7])
            if m[4] and w[4]:
                line += ", p99 at 10,000 events/s mcpvisor/ws %.2f" % (
                    m[4] / w[4])
            print(line)
        print("targets: rate ratio >= 2 at 100 clients; p99 < 5 ms at "
              "10,000 events/s; root ping: mcpvisord's loop, which the "
              "monitor never holds (it includes emitting the events)")
        peer.send_signal(signal.SIGTERM)
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
