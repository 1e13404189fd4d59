#!/usr/bin/env python3
"""Rollback benchmark: a worker of an upgrade is killed; how soon does the
rollback start, and how soon is the previous version healthy again?

For N servers (1 and 50 by default), version 1 is deployed (each server
ready by its readiness descriptor, then by a health check), then version 2,
whose servers take 30 s to be ready. While they wait, one of their workers
is killed with SIGKILL: the deployment fails, and the rollback stops the
new version and starts version 1 again, checked healthy. Measured from the
kill (CLOCK_REALTIME, as the journal's timestamps are, to the millisecond):

  start     the rollback_started event
  complete  the rollback_completed event
  own       version 1's own time from start to every server healthy (its
            first deployment), to compare 'complete' with

Per strategy (immediate stops the new version in order, aggressive kills
it). Medians printed; nothing asserted. No peer supervisor rolls back, so
there is no column for one.

usage: bench_rollback.py BUILD_DIR [--servers 1,50] [--reps R]
"""
import argparse
import datetime
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time


def iso_ms(ts):
    """ms since the epoch of an ISO timestamp with milliseconds."""
    d = datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ")
    return d.replace(tzinfo=datetime.timezone.utc).timestamp() * 1000


def events(state, dep_id):
    out = []
    try:
        with open(os.path.join(state, "events.journal")) as f:
            for line in f:
                e = json.loads(line)
                if e.get("deployment_id") == dep_id:
                    out.append(e)
    except FileNotFoundError:
        pass
    return out


def record(state, dep_id):
    try:
        with open(os.path.join(state, "deployments", dep_id + ".json")) as f:
            return json.load(f)
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def wait(cond, seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        v = cond()
        if v:
            return v
        time.sleep(0.005)
    return None


def project(root, n):
    cfg = os.path.join(root, "config")
    for d in ("environments", "servers"):
        os.makedirs(os.path.join(cfg, d), exist_ok=True)
    os.makedirs(os.path.join(root, "deployments"), exist_ok=True)
    os.makedirs(os.path.join(root, "health-checks"), exist_ok=True)
    os.makedirs(os.path.join(root, "data"), exist_ok=True)
    with open(os.path.join(cfg, "environments", "bench.yaml"), "w") as f:
        f.write('variables:\n  data: "%s/data"\n' % root)
    with open(os.path.join(root, "health-checks", "c.yaml"), "w") as f:
        f.write('health_checks:\n  - name: "up"\n    type: "file_system"\n'
                '    retry_attempts: 0\n    config: { path: "%s/data" }\n'
                % root)
    servers = []
    for i in range(n):
        name = "s%d" % i
        with open(os.path.join(cfg, "servers", name + ".yaml"), "w") as f:
            f.write(
                "name: %s\nserver_type: bench\n"
                "base_config:\n  version: \"{{ env('V') or '1' }}\"\n"
                "run:\n  command: sh\n"
                "  args: [\"-c\", \"[ {{ config.version }} = 2 ] && sleep 30;"
                " echo >&5; exec sleep 100000\"]\n"
                "  readiness: fd\n  readiness_fd: 5\n"
                "  stop_timeout_seconds: 1\n"
                # its check looks at data/ from inside the server's view
                "sandbox:\n  readable_paths: [\"%s/data\"]\n" % (name, root))
        servers.append("  - {name: %s, parallel_safe: true, timeout_seconds:"
                       " 60, retry_attempts: 0, health_checks: [up]}"
                       % name)
    spec = os.path.join(root, "deployments", "bench.yaml")
    with open(spec, "w") as f:
        f.write("metadata: {name: bench, environment: bench}\nservers:\n%s\n"
                "deployment_settings:\n  max_parallel: 0\n"
                % "\n".join(servers))
    return cfg, spec


def cli(build, cfg, state, *args, env=None):
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([os.path.join(build, "mcpvisor"), "--config-dir",
                           cfg, "--state-dir", state] + list(args), env=e,
                          capture_output=True, text=True, timeout=300)


def last_id(build, cfg, state):
    r = cli(build, cfg, state, "deploy", "list", "--json")
    return json.loads(r.stdout)[0]["id"]


def one(build, n, strategy, reps):
    root = tempfile.mkdtemp(prefix="bench-rollback.", dir="/var/tmp")
    cfg, spec = project(root, n)
    state = os.path.join(root, "state")
    # what it started goes, however it ends (sys.exit included)
    try:
        r = cli(build, cfg, state, "deploy", "start", spec, env={"V": "1"})
        if r.returncode != 0:
            sys.exit("bench_rollback: version 1 did not deploy: " + r.stderr)
        v1 = last_id(build, cfg, state)
        ev = events(state, v1)
        t0 = next(iso_ms(e["timestamp"]) for e in ev
                  if e["event_type"] == "deployment_started")
        t1 = next(iso_ms(e["timestamp"]) for e in ev
                  if e["event_type"] == "deployment_completed")
        own = t1 - t0
        starts, completes = [], []
        for _ in range(reps):
            r = cli(build, cfg, state, "deploy", "start", spec, "--detach",
                    "--strategy", strategy, env={"V": "2"})
            v2 = r.stdout.strip()
            # every new server started (waiting for its readiness): kill one
            def started():
                rec = record(state, v2)
                if rec is None:
                    return None
                pids = [s.get("worker_pid") for s in rec["servers"]
                        if s.get("server_pid")]
                return pids if len(pids) == n else None
            pids = wait(started, 60)
            if not pids:
                sys.exit("bench_rollback: version 2 did not start")
            kill_ms = time.time() * 1000
            os.kill(pids[-1], signal.SIGKILL)

            def finished():
                return next((e for e in events(state, v2)
                             if e["event_type"] in ("rollback_completed",
                                                    "rollback_failed")), None)
            end = wait(finished, 120)
            if end is None or end["event_type"] != "rollback_completed":
                sys.exit("bench_rollback: the rollback did not complete")
            begin = next(e for e in events(state, v2)
                         if e["event_type"] == "rollback_started")
            starts.append(iso_ms(begin["timestamp"]) - kill_ms)
            completes.append(iso_ms(end["timestamp"]) - kill_ms)
        return own, statistics.median(starts), statistics.median(completes)
    finally:
        cli(build, cfg, state, "shutdown")
        subprocess.run(["pkill", "-KILL", "-f", "mcpvisord --state-dir " +
                        state])
        subprocess.run(["rm", "-rf", root])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--servers", default="1,50")
    ap.add_argument("--reps", type=int, default=3)
    a = ap.parse_args()
    build = os.path.abspath(a.build)
    print("Rollback after a worker of an upgrade is killed; medians of %d "
          "(ms, from the kill)" % a.reps)
    print("  %-8s %-11s %10s %12s %14s %10s" % ("servers", "strategy",
          "start", "complete", "v1 own start", "excess"))
    for n in [int(x) for x in a.servers.split(",")]:
        for strategy in ("immediate", "aggressive"):
            own, start, complete = one(build, n, strategy, a.reps)
            print("  %-8d %-11s %10.1f %12.1f %14.1f %10.1f" % (
                n, strategy, start, complete, own, complete - own))
            sys.stdout.flush()
    print("  targets: start within 10 ms; complete within v1's own start "
          "plus 50 ms (excess < 50)")


if __name__ == "__main__":
    main()
