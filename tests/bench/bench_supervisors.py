#!/usr/bin/env python3
"""Supervisor benchmark: mcpvisor beside s6, runit and supervisord.

The same workload under each, in one run: N servers (tests/bench/
bench_server.c, which stamps its own start with CLOCK_MONOTONIC), and

  cold start    launch of the supervisor until every server runs
  restart       SIGKILL of a server until its new process runs
  worker crash  SIGKILL of an mcpvisor worker until the failure is in
                the journal (mcpvisor only)
  memory        PSS of the supervisor's own processes, per server
  idle          wakeups and CPU of those processes with nothing happening
  stop          the request to stop all until every server is gone

Medians are printed, and ratios to mcpvisor. Nothing is asserted: this is
a measurement, not a test. State lives on disk (under /var/tmp).

usage: bench_supervisors.py BUILD_DIR [--servers N] [--reps R]
                            [--samples S] [--idle SECONDS] [--only NAMES]
"""
import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time


def now_ns():
    return time.monotonic_ns()


def read_log(path):
    """{id: (pid, ns)} of the latest start of each server."""
    starts = {}
    try:
        with open(path) as f:
            for line in f:
                parts = line.split()
                if len(parts) == 3:
                    starts[parts[0]] = (int(parts[1]), int(parts[2]))
    except FileNotFoundError:
        pass
    return starts


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def descendants(root):
    """root and every process below it."""
    children = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(d))
            except (FileNotFoundError, ProcessLookupError, ValueError):
                pass
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except FileNotFoundError:
        return ""


def pss_kib(pid):
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return 0


def cpu_and_switches(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        ticks = int(fields[11]) + int(fields[12])
        switches = 0
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(("voluntary_ctxt", "nonvoluntary_ctxt")):
                    switches += int(line.split()[1])
        return ticks, switches
    except (FileNotFoundError, ProcessLookupError):
        return 0, 0


class Peer:
    """One supervisor under test. Subclasses write the configuration,
    launch it, ask it to stop everything, and name their own processes."""
    name = "?"
    own = ()            # comm names of the supervisor's processes

    def __init__(self, build, work, n):
        self.build, self.work, self.n = build, work, n
        self.log = os.path.join(work, "starts.log")
        self.server = os.path.join(build, "bench_server")
        self.proc = None

    def launch(self):
        raise NotImplementedError

    def request_stop(self):
        raise NotImplementedError

    def own_pids(self):
        return [p for p in descendants(self.proc.pid) if comm(p) in self.own]

    def kill_all(self):
        if self.proc is not None and self.proc.poll() is None:
            for p in reversed(descendants(self.proc.pid)):
                try:
                    os.kill(p, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            self.proc.wait()
        subprocess.run(["pkill", "-KILL", "-f", self.server + " "],
                       stderr=subprocess.DEVNULL)
        self.proc = None


class Mcpvisor(Peer):
    name = "mcpvisor"
    own = ("mcpvisord", "mcpvisor-worker")

    def __init__(self, build, work, n):
        super().__init__(build, work, n)
        cfg = os.path.join(work, "config")
        os.makedirs(os.path.join(cfg, "environments"))
        os.makedirs(os.path.join(cfg, "servers"))
        with open(os.path.join(cfg, "environments", "bench.yaml"), "w") as f:
            f.write("variables: {}\n")
        for i in range(n):
            with open(os.path.join(cfg, "servers", f"s{i}.yaml"), "w") as f:
                f.write(f"name: s{i}\nserver_type: bench\nrun:\n"
                        f"  command: {self.server}\n"
                        f"  args: [\"s{i}\", \"{self.log}\", \"--stdio\"]\n"
                        "  restart: always\n  restart_delay_ms: 0\n"
                        "  max_deaths: 0\n  stop_timeout_seconds: 5\n"
                        # up at exec, as s6 and runit say without a
                        # readiness notification
                        "  readiness: process\n  start_seconds: 0\n")
        self.spec = os.path.join(work, "spec.yaml")
        with open(self.spec, "w") as f:
            f.write("metadata: {name: bench, environment: bench}\nservers:\n")
            for i in range(n):
                f.write(f"  - {{name: s{i}, parallel_safe: true}}\n")
        self.cfg = cfg
        self.state = os.path.join(work, "state")

    def launch(self):
        shutil.rmtree(self.state, ignore_errors=True)
        self.errlog = open(os.path.join(self.work, "mcpvisord.log"), "w")
        self.proc = subprocess.Popen(
            [os.path.join(self.build, "mcpvisord"), "--init", self.spec,
             "--config-dir", self.cfg, "--state-dir", self.state,
             "--grace", "30", "--no-monitoring"], stdout=self.errlog,
            stderr=self.errlog)

    def reported_ready(self):
        try:
            with open(os.path.join(self.work, "mcpvisord.log")) as f:
                return "deployment_completed" in f.read()
        except FileNotFoundError:
            return False

    def request_stop(self):
        self.proc.send_signal(signal.SIGTERM)

    def journal_has(self, needle):
        try:
            with open(os.path.join(self.state, "events.journal")) as f:
                return needle in f.read()
        except FileNotFoundError:
            return False


class S6(Peer):
    name = "s6"
    own = ("s6-svscan", "s6-supervise")

    def __init__(self, build, work, n):
        super().__init__(build, work, n)
        self.scan = os.path.join(work, "scan")
        os.makedirs(self.scan)
        for i in range(n):
            d = os.path.join(self.scan, f"s{i}")
            os.makedirs(d)
            with open(os.path.join(d, "run"), "w") as f:
                f.write(f"#!/bin/sh\nexec {self.server} s{i} {self.log} "
                        "--notify=3\n")
            os.chmod(os.path.join(d, "run"), 0o755)
            # without readiness notification s6-supervise waits a second
            # before every restart; with it, none once up for a second
            with open(os.path.join(d, "notification-fd"), "w") as f:
                f.write("3\n")

    def launch(self):
        for i in range(self.n):
            shutil.rmtree(os.path.join(self.scan, f"s{i}", "supervise"),
                          ignore_errors=True)
        shutil.rmtree(os.path.join(self.scan, ".s6-svscan"),
                      ignore_errors=True)
        self.proc = subprocess.Popen(["s6-svscan", self.scan],
                                     stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)

    def request_stop(self):
        # s6-svc takes one service; stopping all is svscan's job: each
        # s6-supervise brings its service down and exits
        subprocess.run(["s6-svscanctl", "-t", self.scan])


class Runit(Peer):
    name = "runit"
    own = ("runsvdir", "runsv")

    def __init__(self, build, work, n):
        super().__init__(build, work, n)
        self.dir = os.path.join(work, "service")
        os.makedirs(self.dir)
        for i in range(n):
            d = os.path.join(self.dir, f"s{i}")
            os.makedirs(d)
            with open(os.path.join(d, "run"), "w") as f:
                f.write(f"#!/bin/sh\nexec {self.server} s{i} {self.log}\n")
            os.chmod(os.path.join(d, "run"), 0o755)

    def launch(self):
        for i in range(self.n):
            shutil.rmtree(os.path.join(self.dir, f"s{i}", "supervise"),
                          ignore_errors=True)
        self.proc = subprocess.Popen(["runsvdir", "-P", self.dir],
                                     stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)

    def request_stop(self):
        subprocess.run(["sv", "down"] + [os.path.join(self.dir, f"s{i}")
                                         for i in range(self.n)],
                       stdout=subprocess.DEVNULL)


class Supervisord(Peer):
    name = "supervisord"
    own = ("supervisord",)

    def __init__(self, build, work, n):
        super().__init__(build, work, n)
        self.conf = os.path.join(work, "supervisord.conf")
        sock = os.path.join(work, "supervisor.sock")
        with open(self.conf, "w") as f:
            f.write(f"[unix_http_server]\nfile={sock}\n\n"
                    f"[supervisord]\nnodaemon=true\nlogfile={work}/sd.log\n"
                    f"pidfile={work}/sd.pid\nchildlogdir={work}\n\n"
                    "[rpcinterface:supervisor]\nsupervisor.rpcinterface_"
                    "factory = supervisor.rpcinterface:make_main_rpc"
                    "interface\n\n"
                    f"[supervisorctl]\nserverurl=unix://{sock}\n\n")
            for i in range(n):
                f.write(f"[program:s{i}]\ncommand={self.server} s{i} "
                        f"{self.log}\nstartsecs=0\nautorestart=true\n"
                        "startretries=1000\nstdout_logfile=NONE\n"
                        "stderr_logfile=NONE\n\n")

    def launch(self):
        self.proc = subprocess.Popen(["supervisord", "-c", self.conf],
                                     stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)

    def own_pids(self):
        return [self.proc.pid]

    def request_stop(self):
        subprocess.run(["supervisorctl", "-c", self.conf, "stop", "all"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_until(cond, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.0005)
    return False


def cold_start(p):
    if os.path.exists(p.log):
        os.unlink(p.log)
    t0 = now_ns()
    p.launch()
    if not wait_until(lambda: len(read_log(p.log)) >= p.n, 120):
        raise RuntimeError(f"{p.name}: not all {p.n} servers started")
    return (max(ns for _, ns in read_log(p.log).values()) - t0) / 1e6


def restart_latency(p, samples):
    out = []
    starts = read_log(p.log)
    ids = sorted(starts)[:samples]
    for sid in ids:
        pid, _ = read_log(p.log)[sid]
        t0 = now_ns()
        os.kill(pid, signal.SIGKILL)
        if not wait_until(lambda: read_log(p.log)[sid][1] > t0, 10):
            raise RuntimeError(f"{p.name}: {sid} was not restarted")
        out.append((read_log(p.log)[sid][1] - t0) / 1e6)
    return out


def stop_all(p):
    pids = [pid for pid, _ in read_log(p.log).values()]
    t0 = now_ns()
    p.request_stop()
    if not wait_until(lambda: not any(alive(x) for x in pids), 60):
        raise RuntimeError(f"{p.name}: servers still running after stop")
    return (now_ns() - t0) / 1e6


def idle(p, seconds):
    pids = p.own_pids()
    before = [cpu_and_switches(x) for x in pids]
    time.sleep(seconds)
    after = [cpu_and_switches(x) for x in pids]
    ticks = sum(a[0] - b[0] for a, b in zip(after, before))
    switches = sum(a[1] - b[1] for a, b in zip(after, before))
    return switches, ticks * 1000 / os.sysconf("SC_CLK_TCK")


def worker_crash(p, samples):
    """mcpvisor: SIGKILL of a worker until worker_crashed is journaled."""
    out = []
    for i in range(samples):
        workers = [x for x in descendants(p.proc.pid)
                   if comm(x) == "mcpvisor-worker"]
        victim = workers[i % len(workers)]
        needle = f"worker {victim} "
        t0 = now_ns()
        os.kill(victim, signal.SIGKILL)
        if not wait_until(lambda: p.journal_has(needle), 10):
            raise RuntimeError("worker crash not recorded")
        out.append((now_ns() - t0) / 1e6)
        time.sleep(0.5)     # let the root start its next worker
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--servers", type=int, default=200)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--samples", type=int, default=15)
    ap.add_argument("--idle", type=float, default=10)
    ap.add_argument("--only", default="mcpvisor,s6,runit,supervisord")
    a = ap.parse_args()
    build = os.path.abspath(a.build)
    kinds = {"mcpvisor": Mcpvisor, "s6": S6, "runit": Runit,
             "supervisord": Supervisord}
    results = {}
    base = tempfile.mkdtemp(prefix="mcpvisor-bench.", dir="/var/tmp")
    try:
        for name in a.only.split(","):
            if name != "mcpvisor" and shutil.which(
                    {"s6": "s6-svscan", "runit": "runsvdir",
                     "supervisord": "supervisord"}[name]) is None:
                print(f"# {name}: not installed, skipped")
                continue
            work = os.path.join(base, name)
            os.makedirs(work)
            p = kinds[name](build, work, a.servers)
            r = {"cold": [], "stop": [], "restart": []}
            for rep in range(a.reps):
                try:
                    r["cold"].append(cold_start(p))
                    if name == "mcpvisor":
                        wait_until(p.reported_ready, 60)
                    if rep == 0:
                        time.sleep(1.2)  # past every restart throttle
                        r["restart"] = restart_latency(
                            p, a.samples if name != "supervisord"
                            else max(3, a.samples // 3))
                        time.sleep(1.0)
                        own = p.own_pids()
                        r["pss"] = sum(pss_kib(x) for x in own) / a.servers
                        r["procs"] = len(own)
                        r["wakeups"], r["cpu_ms"] = idle(p, a.idle)
                        if name == "mcpvisor":
                            r["worker_crash"] = worker_crash(p, 5)
                            time.sleep(1.0)
                    r["stop"].append(stop_all(p))
                finally:
                    p.kill_all()
            results[name] = r
            print(f"# {name}: done", file=sys.stderr)
    finally:
        subprocess.run(["pkill", "-KILL", "-f", base],
                       stderr=subprocess.DEVNULL)
        shutil.rmtree(base, ignore_errors=True)

    med = statistics.median
    m = results.get("mcpvisor")
    print(f"\nSupervisors with {a.servers} servers on this machine "
          f"({os.cpu_count()} cores); medians")
    cols = list(results)
    print(f"{'':34}" + "".join(f"{c:>13}" for c in cols))

    def row(label, fn, fmt="{:.2f}"):
        vals = [fn(results[c]) for c in cols]
        print(f"{label:34}" + "".join(
            f"{fmt.format(v):>13}" if v is not None else f"{'-':>13}"
            for v in vals))
        return vals

    row("cold start, all running (ms)", lambda r: med(r["cold"]))
    row("crash -> restart (ms)", lambda r: med(r["restart"]), "{:.3f}")
    row("stop all (ms)", lambda r: med(r["stop"]))
    row("memory: own PSS per server (KiB)", lambda r: r["pss"], "{:.1f}")
    row("  own processes", lambda r: r["procs"], "{:d}")
    row(f"idle {a.idle:g} s: wakeups", lambda r: r["wakeups"], "{:d}")
    row(f"idle {a.idle:g} s: CPU (ms)", lambda r: r["cpu_ms"], "{:.0f}")
    if m is not None and "worker_crash" in m:
        print(f"{'worker crash -> journaled (ms)':34}"
              f"{med(m['worker_crash']):>13.3f}")
    if m is not None:
        print("\nratios, peer / mcpvisor (above 1: mcpvisor is ahead)")
        for c in cols:
            if c == "mcpvisor":
                continue
            pr = results[c]
            print(f"  {c:12} cold start {med(pr['cold']) / med(m['cold']):.2f}"
                  f"   restart {med(pr['restart']) / med(m['restart']):.2f}"
                  f"   stop {med(pr['stop']) / med(m['stop']):.2f}"
                  f"   PSS {pr['pss'] / m['pss']:.2f}")
    print("\nraw:", json.dumps(results))


if __name__ == "__main__":
    main()
