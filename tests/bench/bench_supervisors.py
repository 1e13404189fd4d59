#!/usr/bin/env python3
"""Supervisor benchmark: mcpvisor beside s6, runit and supervisord.

The same workload under each, in one run: N servers (tests/bench/
bench_server.c, which stamps its own start with CLOCK_MONOTONIC), and

  cold start    launch of the supervisor until every server runs, with
                the state (and service) directories on disk (/var/tmp)
                and on tmpfs (/dev/shm), mcpvisor also starting each
                server through the same sh run script s6 and runit use
  restart       SIGKILL of a server until its new process runs
  status        SIGKILL of a server until the status command shows its
                new pid (deploy status, s6-svstat, sv status)
  worker crash  SIGKILL of an mcpvisor worker until the failure is in
                the journal (mcpvisor only)
  memory        PSS of the supervisor's own processes per extra server:
                (total at N minus total at 1) / (N - 1)
  idle          wakeups and CPU of those processes with nothing happening
                (mcpvisor with --no-monitoring and as packaged: its
                monitor on, no client connected)
  stop          the request to stop all until every server is gone, for
                servers that end at EOF on stdin and for servers that
                ignore it
  CLI           mcpvisor deploy start of N through the CLI (starting its
                own daemon, and with one running; following live, and
                detached) against mcpvisord --init (mcpvisor only)

Medians are printed, and ratios to mcpvisor. Nothing is asserted: this is
a measurement, not a test.

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

    def __init__(self, build, work, n, log=None):
        self.build, self.work, self.n = build, work, n
        self.log = log or os.path.join(work, "starts.log")
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
    """sh: each server started through a run script, as s6 and runit
    start theirs; stdio: servers that end at EOF on stdin (an MCP stdio
    server's way), else servers that ignore it; monitoring: as packaged
    (its monitor runs), else --no-monitoring; fork_server: workers
    cloned from the fork server (the default), else each exec'd."""
    name = "mcpvisor"
    own = ("mcpvisord", "mcpvisor-worker", "mcpvisor-monitor")

    def __init__(self, build, work, n, sh=False, stdio=True,
                 monitoring=False, monitor_port=18765, fork_server=True,
                 sandbox="  filesystem: host\n", user="root", log=None):
        super().__init__(build, work, n, log)
        self.monitoring = monitoring
        self.fork_server = fork_server
        cfg = os.path.join(work, "config")
        os.makedirs(os.path.join(cfg, "environments"))
        os.makedirs(os.path.join(cfg, "servers"))
        with open(os.path.join(cfg, "environments", "bench.yaml"), "w") as f:
            f.write("variables: {}\n")
        flag = ["--stdio"] if stdio else []
        for i in range(n):
            argv = [self.server, f"s{i}", self.log] + flag
            if sh:
                script = os.path.join(work, f"run-s{i}")
                with open(script, "w") as f:
                    f.write("#!/bin/sh\nexec " + " ".join(argv) + "\n")
                os.chmod(script, 0o755)
                argv = ["/bin/sh", script]
            with open(os.path.join(cfg, "servers", f"s{i}.yaml"), "w") as f:
                f.write(f"name: s{i}\nserver_type: bench\nrun:\n"
                        f"  command: {argv[0]}\n"
                        f"  args: {json.dumps(argv[1:])}\n"
                        "  restart: always\n  restart_delay_ms: 0\n"
                        "  max_deaths: 0\n  stop_timeout_seconds: 5\n"
                        # up at exec, as s6 and runit say without a
                        # readiness notification
                        "  readiness: process\n  start_seconds: 0\n"
                        # as root, as the peers run theirs; None: a
                        # dynamic user of its own (the default)
                        + (f"  user: {user}\n" if user else "") +
                        # the supervisor's own cost, beside peers that
                        # isolate nothing: the filesystem view's is
                        # bench_isolation.py's to measure
                        "sandbox:\n" + sandbox)
        self.spec = os.path.join(work, "spec.yaml")
        with open(self.spec, "w") as f:
            f.write("metadata: {name: bench, environment: bench}\n"
                    f"deployment_settings: {{monitor_port: {monitor_port}}}\n"
                    "servers:\n")
            for i in range(n):
                f.write(f"  - {{name: s{i}, parallel_safe: true}}\n")
        self.cfg = cfg
        self.state = os.path.join(work, "state")
        self.cli = os.path.join(build, "mcpvisor")

    def launch(self):
        shutil.rmtree(self.state, ignore_errors=True)
        self.errlog = open(os.path.join(self.work, "mcpvisord.log"), "w")
        self.proc = subprocess.Popen(
            [os.path.join(self.build, "mcpvisord"), "--init", self.spec,
             "--config-dir", self.cfg, "--state-dir", self.state,
             "--grace", "30"] +
            ([] if self.monitoring else ["--no-monitoring"]) +
            ([] if self.fork_server else ["--no-fork-server"]),
            stdout=self.errlog, stderr=self.errlog)

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

    def deployment_id(self):
        for name in os.listdir(os.path.join(self.state, "deployments")):
            if name.endswith(".json"):
                return name[:-5]
        return None

    def status_pid(self, sid):
        # "  s0    ready    attempts 1  restarts 0  pid 12582": the
        # server's line, as s6-svstat and sv status give one service's
        out = subprocess.run(
            [self.cli, "--state-dir", self.state, "deploy", "status",
             self._id, sid], capture_output=True, text=True).stdout
        for line in out.splitlines():
            words = line.split()
            if words[:1] == [sid] and "pid" in words:
                try:
                    return int(words[words.index("pid") + 1])
                except (ValueError, IndexError):
                    return None
        return None

    def status_prepare(self):
        self._id = self.deployment_id()

    # --- through the CLI (own_daemon: the CLI starts it; else one runs)

    def cli_deploy(self, detach):
        return subprocess.Popen(
            [self.cli, "--state-dir", self.state, "--config-dir", self.cfg,
             "deploy", "start", self.spec, "--no-monitoring"] +
            (["--detach"] if detach else []),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def daemon_start(self):
        self.errlog = open(os.path.join(self.work, "mcpvisord.log"), "w")
        self.proc = subprocess.Popen(
            [os.path.join(self.build, "mcpvisord"), "--state-dir",
             self.state, "--no-monitoring"], stdout=self.errlog,
            stderr=self.errlog)
        wait_until(lambda: os.path.exists(
            os.path.join(self.state, "control.sock")), 10)

    def daemon_stop(self):
        pids = [pid for pid, _ in read_log(self.log).values()]
        subprocess.run(["pkill", "-TERM", "-f",
                        "mcpvisord --state-dir " + self.state])
        wait_until(lambda: not any(alive(x) for x in pids) and
                   subprocess.run(["pgrep", "-f", "mcpvisord --state-dir " +
                                   self.state],
                                  stdout=subprocess.DEVNULL).returncode != 0,
                   60)
        if self.proc is not None:
            self.proc.wait()
            self.proc = None


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

    def status_prepare(self):
        pass

    def status_pid(self, sid):
        out = subprocess.run(["s6-svstat", "-p", os.path.join(
            self.scan, sid)], capture_output=True, text=True).stdout
        try:
            return int(out.split()[0])
        except (ValueError, IndexError):
            return None


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

    def status_prepare(self):
        pass

    def status_pid(self, sid):
        # "run: DIR: (pid N) 5s; ..."
        out = subprocess.run(["sv", "status", os.path.join(self.dir, sid)],
                             capture_output=True, text=True).stdout
        try:
            return int(out.split("(pid ", 1)[1].split(")", 1)[0])
        except (ValueError, IndexError):
            return None


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

    def status_prepare(self):
        pass

    def status_pid(self, sid):
        # "s0   RUNNING   pid 123, uptime 0:00:05"
        out = subprocess.run(["supervisorctl", "-c", self.conf, "status",
                              sid], capture_output=True, text=True).stdout
        try:
            return int(out.split("pid ", 1)[1].split(",", 1)[0])
        except (ValueError, IndexError):
            return None


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


def status_freshness(p, samples):
    """SIGKILL of a server until the status command shows its new pid:
    each command runs to its end; the time is taken when the first one
    that shows the new pid has printed."""
    out = []
    p.status_prepare()
    ids = sorted(read_log(p.log))[-samples:]
    for sid in ids:
        old, _ = read_log(p.log)[sid]
        t0 = now_ns()
        os.kill(old, signal.SIGKILL)
        end = time.monotonic() + 10
        while time.monotonic() < end:
            pid = p.status_pid(sid)
            if pid is not None and pid not in (old, -1, 0):
                break
        else:
            raise RuntimeError(f"{p.name}: status never showed {sid} back")
        out.append((now_ns() - t0) / 1e6)
        time.sleep(0.05)
    return out


def own_pss_total(p):
    return sum(pss_kib(x) for x in p.own_pids())


def pss_at_one(kind, build, base, **kw):
    """Total own PSS with one server: the fixed cost the per-server
    figure leaves out."""
    work = os.path.join(base, kind.name + "-one" +
                        "".join(f"-{k}" for k in sorted(kw)))
    os.makedirs(work)
    p = kind(build, work, 1, **kw)
    try:
        cold_start(p)
        if kind is Mcpvisor:
            wait_until(p.reported_ready, 60)
        time.sleep(1.0)
        return own_pss_total(p)
    finally:
        p.kill_all()


def cold_only(p, reps, status=None):
    """Cold starts (each then stopped) and the stops' times; with status,
    that many status freshness samples in the first."""
    cold, stops, fresh = [], [], []
    for rep in range(reps):
        try:
            cold.append(cold_start(p))
            if isinstance(p, Mcpvisor):
                wait_until(p.reported_ready, 60)
            if status and rep == 0:
                time.sleep(1.2)
                fresh = status_freshness(p, status)
                time.sleep(1.2)
            stops.append(stop_all(p))
        finally:
            p.kill_all()
    return (cold, stops, fresh) if status else (cold, stops)


def cli_runs(build, base, n, reps):
    """mcpvisor deploy start of n servers through the CLI, against
    mcpvisord --init, until the deployment is reported complete; and,
    with a daemon running, until every server runs, following live and
    detached."""
    work = os.path.join(base, "cli")
    os.makedirs(work)
    p = Mcpvisor(build, work, n)
    r = {"init": [], "cli_own_daemon": [], "cli_daemon_running": [],
         "running_follow": [], "running_detach": []}
    for _ in range(reps):
        # --init, until it reports the deployment complete
        try:
            if os.path.exists(p.log):
                os.unlink(p.log)
            t0 = now_ns()
            p.launch()
            if not wait_until(p.reported_ready, 120):
                raise RuntimeError("--init: not ready")
            r["init"].append((now_ns() - t0) / 1e6)
            stop_all(p)
        finally:
            p.kill_all()
        # the CLI, starting its own daemon: until it exits, successful
        shutil.rmtree(p.state, ignore_errors=True)
        if os.path.exists(p.log):
            os.unlink(p.log)
        t0 = now_ns()
        if p.cli_deploy(detach=False).wait() != 0:
            raise RuntimeError("CLI deploy start failed")
        r["cli_own_daemon"].append((now_ns() - t0) / 1e6)
        p.daemon_stop()
        subprocess.run(["pkill", "-KILL", "-f", p.server + " "],
                       stderr=subprocess.DEVNULL)
        # a daemon running: following live, then detached
        for follow in (True, False):
            shutil.rmtree(p.state, ignore_errors=True)
            if os.path.exists(p.log):
                os.unlink(p.log)
            p.daemon_start()
            t0 = now_ns()
            cli = p.cli_deploy(detach=not follow)
            if not wait_until(lambda: len(read_log(p.log)) >= n, 120):
                raise RuntimeError("CLI: not all servers started")
            running = (max(ns for _, ns in read_log(p.log).values()) -
                       t0) / 1e6
            if cli.wait() != 0:
                raise RuntimeError("CLI deploy start failed")
            if follow:
                r["cli_daemon_running"].append((now_ns() - t0) / 1e6)
                r["running_follow"].append(running)
            else:
                r["running_detach"].append(running)
            p.daemon_stop()
    return r


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
    tools = {"s6": "s6-svscan", "runit": "runsvdir",
             "supervisord": "supervisord"}
    names = [x for x in a.only.split(",")
             if x == "mcpvisor" or shutil.which(tools[x]) is not None]
    for x in a.only.split(","):
        if x not in names:
            print(f"# {x}: not installed, skipped")
    results = {}
    disk = tempfile.mkdtemp(prefix="mcpvisor-bench.", dir="/var/tmp")
    tmpfs = tempfile.mkdtemp(prefix="mcpvisor-bench.", dir="/dev/shm")
    n = a.servers
    try:
        for name in names:
            work = os.path.join(disk, name)
            os.makedirs(work)
            p = kinds[name](build, work, n)
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
                        r["pss_total"] = own_pss_total(p)
                        r["procs"] = len(own)
                        r["wakeups"], r["cpu_ms"] = idle(p, a.idle)
                        r["status"] = status_freshness(
                            p, 10 if name != "supervisord" else 3)
                        time.sleep(1.2)
                        if name == "mcpvisor":
                            r["worker_crash"] = worker_crash(p, 5)
                            time.sleep(1.0)
                    r["stop"].append(stop_all(p))
                finally:
                    p.kill_all()
            r["pss_one"] = pss_at_one(kinds[name], build, disk)
            r["pss"] = (r["pss_total"] - r["pss_one"]) / max(1, n - 1)
            if name in ("mcpvisor", "s6", "runit"):
                w = os.path.join(tmpfs, name)
                os.makedirs(w)
                # with the state on tmpfs, status freshness too: on disk
                # it includes the fsyncs of the restart's journal line
                # and record, which mcpvisord makes and s6 does not
                r["cold_tmpfs"], _, r["status_tmpfs"] = cold_only(
                    kinds[name](build, w, n), a.reps, status=10)
            if name == "mcpvisor":
                for where, base in (("", disk), ("_tmpfs", tmpfs)):
                    w = os.path.join(base, "mcpvisor-sh")
                    os.makedirs(w)
                    r["cold_sh" + where], _ = cold_only(
                        Mcpvisor(build, w, n, sh=True), a.reps)
                # servers that ignore EOF on stdin: stdin closed, then
                # TERM after its grace
                w = os.path.join(disk, "mcpvisor-nostdio")
                os.makedirs(w)
                _, r["stop_ignore_eof"] = cold_only(
                    Mcpvisor(build, w, n, stdio=False), a.reps)
                # what the fork server saves: every worker exec'd
                w = os.path.join(disk, "mcpvisor-exec")
                os.makedirs(w)
                px = Mcpvisor(build, w, n, fork_server=False)
                r["cold_exec"], _ = cold_only(px, a.reps)
                try:
                    cold_start(px)
                    wait_until(px.reported_ready, 60)
                    time.sleep(1.0)
                    r["pss_total_exec"] = own_pss_total(px)
                finally:
                    px.kill_all()
                r["pss_one_exec"] = pss_at_one(Mcpvisor, build, disk,
                                               fork_server=False)
                r["pss_exec"] = (r["pss_total_exec"] - r["pss_one_exec"]) \
                    / max(1, n - 1)
                # as packaged: its monitor on, nobody connected
                w = os.path.join(disk, "mcpvisor-packaged")
                os.makedirs(w)
                pk = Mcpvisor(build, w, n, monitoring=True)
                try:
                    cold_start(pk)
                    wait_until(pk.reported_ready, 60)
                    time.sleep(1.5)
                    r["packaged_procs"] = len(pk.own_pids())
                    r["wakeups_packaged"], r["cpu_ms_packaged"] = idle(
                        pk, a.idle)
                finally:
                    pk.kill_all()
                r["cli"] = cli_runs(build, disk, n, a.reps)
            results[name] = r
            print(f"# {name}: done", file=sys.stderr)
    finally:
        for base in (disk, tmpfs):
            subprocess.run(["pkill", "-KILL", "-f", base],
                           stderr=subprocess.DEVNULL)
            shutil.rmtree(base, ignore_errors=True)
    report(results, a, n)


def report(results, a, n):
    med = statistics.median
    m = results.get("mcpvisor")
    print(f"\nSupervisors with {n} servers on this machine "
          f"({os.cpu_count()} cores); medians")
    cols = list(results)
    heads = []
    for c in cols:
        heads.append(c)
        if c == "mcpvisor":
            heads.append("mcpvisor sh")
    print(f"{'':40}" + "".join(f"{h:>13}" for h in heads))

    def row(label, fn, fn_sh=None, fmt="{:.2f}"):
        cells = []
        for c in cols:
            r = results[c]
            for f in ([fn, fn_sh] if c == "mcpvisor" else [fn]):
                try:
                    v = f(r) if f is not None else None
                except (KeyError, statistics.StatisticsError):
                    v = None
                cells.append(f"{fmt.format(v):>13}" if v is not None
                             else f"{'-':>13}")
        print(f"{label:40}" + "".join(cells))

    row("cold start, all running, disk (ms)", lambda r: med(r["cold"]),
        lambda r: med(r["cold_sh"]))
    row("cold start, all running, tmpfs (ms)",
        lambda r: med(r["cold_tmpfs"]), lambda r: med(r["cold_sh_tmpfs"]))
    row("crash -> restart (ms)", lambda r: med(r["restart"]), fmt="{:.3f}")
    row("crash -> status shows new pid (ms)", lambda r: med(r["status"]),
        fmt="{:.2f}")
    row("  the same, state on tmpfs (ms)", lambda r: med(r["status_tmpfs"]),
        fmt="{:.2f}")
    row("stop all, servers end at EOF (ms)", lambda r: med(r["stop"]))
    row("stop all, servers ignore EOF (ms)",
        lambda r: med(r.get("stop_ignore_eof") or r["stop"]))
    row("memory: own PSS per extra server (KiB)", lambda r: r["pss"],
        fmt="{:.1f}")
    row(f"  own PSS total at {n} (KiB)", lambda r: r["pss_total"],
        fmt="{:.0f}")
    row("  own PSS total at 1 (KiB)", lambda r: r["pss_one"], fmt="{:.0f}")
    row("  own processes", lambda r: r["procs"], fmt="{:d}")
    row(f"idle {a.idle:g} s: wakeups, --no-monitoring",
        lambda r: r["wakeups"], fmt="{:d}")
    row(f"idle {a.idle:g} s: wakeups, as packaged",
        lambda r: r.get("wakeups_packaged", r["wakeups"]), fmt="{:d}")
    row(f"idle {a.idle:g} s: CPU (ms), --no-monitoring",
        lambda r: r["cpu_ms"], fmt="{:.0f}")
    row(f"idle {a.idle:g} s: CPU (ms), as packaged",
        lambda r: r.get("cpu_ms_packaged", r["cpu_ms"]), fmt="{:.0f}")
    if m is not None and "cold_exec" in m:
        print(f"\nmcpvisor with every worker exec'd (--no-fork-server): "
              f"cold start on disk {med(m['cold_exec']):.1f} ms "
              f"(fork server: {med(m['cold']):.1f}), PSS per extra server "
              f"{m['pss_exec']:.1f} KiB (fork server: {m['pss']:.1f})")
    if m is not None and "worker_crash" in m:
        print(f"{'worker crash -> journaled (ms)':40}"
              f"{med(m['worker_crash']):>13.3f}")
    if m is not None and "cli" in m:
        c = m["cli"]
        print(f"\nmcpvisor: deploy of {n} until reported complete (ms)")
        print(f"  mcpvisord --init                      {med(c['init']):9.1f}")
        print(f"  mcpvisor deploy start, own daemon     "
              f"{med(c['cli_own_daemon']):9.1f}"
              f"   ({med(c['cli_own_daemon']) / med(c['init']):.2f}x --init)")
        print(f"  mcpvisor deploy start, daemon running "
              f"{med(c['cli_daemon_running']):9.1f}"
              f"   ({med(c['cli_daemon_running']) / med(c['init']):.2f}x"
              " --init)")
        print(f"  all running, following live           "
              f"{med(c['running_follow']):9.1f}")
        print(f"  all running, --detach                 "
              f"{med(c['running_detach']):9.1f}"
              f"   (live tail costs "
              f"{med(c['running_follow']) / med(c['running_detach']):.2f}x)")
    if m is not None:
        print("\nratios, peer / mcpvisor (above 1: mcpvisor is ahead)")
        for c in cols:
            if c == "mcpvisor":
                continue
            pr = results[c]
            parts = [f"cold disk {med(pr['cold']) / med(m['cold']):.2f}"]
            if "cold_tmpfs" in pr:
                parts.append(f"cold tmpfs "
                             f"{med(pr['cold_tmpfs']) / med(m['cold_tmpfs']):.2f}"
                             f" (vs sh {med(pr['cold_tmpfs']) / med(m['cold_sh_tmpfs']):.2f})")
            parts.append(f"cold disk vs sh "
                         f"{med(pr['cold']) / med(m['cold_sh']):.2f}")
            parts.append(f"restart {med(pr['restart']) / med(m['restart']):.2f}")
            parts.append(f"status {med(pr['status']) / med(m['status']):.2f}")
            if "status_tmpfs" in pr:
                parts.append(f"status tmpfs "
                             f"{med(pr['status_tmpfs']) / med(m['status_tmpfs']):.2f}")
            parts.append(f"stop {med(pr['stop']) / med(m['stop']):.2f}")
            parts.append(f"PSS/extra {pr['pss'] / m['pss']:.2f}")
            print(f"  {c:12} " + "   ".join(parts))
    print("\nraw:", json.dumps(results))


if __name__ == "__main__":
    main()
