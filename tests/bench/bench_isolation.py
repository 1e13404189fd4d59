#!/usr/bin/env python3
"""The cost of isolation: cold start of N servers (bench_server, which
stamps its own start) until every one runs, in one run:

  mcpvisor minimal   the worker's fixed sandbox only (session, rlimits,
                     no_new_privs, capabilities dropped), as root, no
                     filter, no cgroup limits, the host's filesystem
                     (run.user: root, sandbox.seccomp: none,
                     filesystem: host)
  mcpvisor filtered  and the default system call filter (seccomp)
  mcpvisor dynamic   and a dynamic user of its own (no run.user), which
                     its log directory is given to
  mcpvisor default   and the filesystem view, in a PID namespace of its
                     own (filesystem: strict): every default
  mcpvisor full      and a cgroup of its own with cpu_cores, memory_gb
                     and pids_max: the whole sandbox (cgroup, mount
                     and PID namespaces, seccomp, its own user)
  mcpvisor full+net  and a network namespace (network: none)
  bwrap              N processes each given a comparable view by
                     bubblewrap (new user, pid, network, ipc, uts and
                     mount namespaces, / read-only, its own /tmp, /dev,
                     /proc), started from one shell
  s6                 s6-svscan starting N bare services

Medians of REPS runs; the added cost per server of each mcpvisor variant
over the minimal one; ratios to s6 and bwrap. Nothing is asserted.

usage: bench_isolation.py BUILD_DIR [--servers N] [--reps R]
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

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_supervisors as bs  # noqa: E402


class Sandboxed(bs.Mcpvisor):
    """mcpvisor with the sandbox section SANDBOX in every server file."""

    def __init__(self, build, work, n, label, sandbox, user=None):
        # the directory of the log the servers stamp is their one
        # writable path: a dynamic user's, shared through their group
        logs = os.path.join(work, "log")
        os.makedirs(logs)
        super().__init__(build, work, n, stdio=False, sandbox=sandbox +
                         f"  writable_paths: [{json.dumps(logs)}]\n",
                         user=user, log=os.path.join(logs, "starts.log"))
        self.name = "mcpvisor " + label
        # its servers stamp the pids of their own namespace
        self.pid_namespace = "filesystem: host" not in sandbox


class Bwrap(bs.Peer):
    name = "bwrap"
    own = ("sh", "bwrap")

    def launch(self):
        argv = ["bwrap", "--unshare-all", "--die-with-parent",
                "--ro-bind", "/", "/", "--tmpfs", "/tmp", "--dev", "/dev",
                "--proc", "/proc", "--bind", self.work, self.work,
                self.server]
        script = " ".join(
            "%s s%d %s & " % (" ".join(argv), i, self.log)
            for i in range(self.n)) + "wait"
        self.proc = subprocess.Popen(["/bin/sh", "-c", script],
                                     stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL,
                                     start_new_session=True)

    def request_stop(self):
        os.killpg(self.proc.pid, signal.SIGTERM)

    def kill_all(self):
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()
            self.proc = None


def runs(p, reps):
    times = []
    for _ in range(reps):
        try:
            times.append(bs.cold_start(p))
            if isinstance(p, bs.Mcpvisor):
                bs.wait_until(p.reported_ready, 60)
            # a server in a PID namespace (bwrap's, or a worker's)
            # stamps the pid it has there: nothing to wait for by pid
            if not isinstance(p, Bwrap) and not getattr(p, "pid_namespace",
                                                        False):
                bs.stop_all(p)
        finally:
            p.kill_all()
    return times


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--servers", type=int, default=200)
    ap.add_argument("--reps", type=int, default=5)
    a = ap.parse_args()
    build = os.path.abspath(a.build)
    n = a.servers
    base = tempfile.mkdtemp(prefix="mcpvisor-bench-isolation.",
                            dir="/var/tmp")
    limits = "  limits: {cpu_cores: 1, memory_gb: 1, pids_max: 256}\n"
    # a dynamic user on the host's filesystem reaches bench_server and
    # its log as others may
    os.chmod(base, 0o755)
    variants = [
        ("minimal", "  seccomp: none\n  filesystem: host\n", "root"),
        ("filtered", "  filesystem: host\n", "root"),
        ("dynamic", "  filesystem: host\n", None),
        ("default", "  network: host\n", None),
        ("full", limits, None),
        ("full+net", "  network: none\n" + limits, None),
    ]
    results = {}
    try:
        peers = []
        for label, sandbox, user in variants:
            work = os.path.join(base, label)
            os.makedirs(work)
            peers.append(Sandboxed(build, work, n, label, sandbox, user))
        for cls, label in ((Bwrap, "bwrap"), (bs.S6, "s6")):
            work = os.path.join(base, label)
            os.makedirs(work)
            peers.append(cls(build, work, n))
        for p in peers:
            if isinstance(p, Bwrap) and shutil.which("bwrap") is None:
                print("# bwrap: not installed (apt-get install bubblewrap)")
                continue
            results[p.name] = runs(p, a.reps)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    med = {k: statistics.median(v) for k, v in results.items()}
    print(f"# cold start of {n} servers until every one runs, median of "
          f"{a.reps} (ms)")
    print(f"{'':22} {'ms':>9} {'per server':>11} {'vs s6':>7} "
          f"{'vs bwrap':>9}")
    for name, m in med.items():
        vs = []
        for peer in ("s6", "bwrap"):
            vs.append(f"{m / med[peer]:.2f}x" if peer in med else "-")
        print(f"{name:22} {m:9.1f} {m / n:10.3f}  {vs[0]:>7} {vs[1]:>9}")
    base_ms = med.get("mcpvisor minimal")
    for label in ("filtered", "dynamic", "default", "full", "full+net"):
        m = med.get("mcpvisor " + label)
        if base_ms is not None and m is not None:
            print(f"# {label} over minimal: {(m - base_ms) / n:+.3f} ms per "
                  f"server")


if __name__ == "__main__":
    main()
