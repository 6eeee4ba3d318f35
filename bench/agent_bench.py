#!/usr/bin/env python3
"""What the control plane adds to a migration.

The same migration, run two ways between two hosts in network namespaces
(the system tests' Cluster: a veth pair, one godwitd per host):

  agent   POST /v1/migrations to host-a's agent, then poll GET
          /v1/migrations/ID until it is completed.  The agents prepare
          the destination (capacity check, incoming VMM), start the
          transfer, watch it, commit and retire the source VMM.
  direct  what a script does without agents: start `godwit-vmm --incoming`
          in host-b's namespace, wait for its control socket, send
          `migrate` to the source VMM's control socket, poll
          query-migrate until it is completed.

Both clocks start at the request and stop when the client sees
"completed"; both poll every --poll-ms.  The transfer itself varies by
several hundred ms from run to run (the guest keeps dirtying memory), so
besides the end-to-end medians the script reports the time spent outside
the VMMs' transfer (end to end minus the source VMM's own total_ms): that
is what the agents add.  The guest is memtouch on
--memory with 2 vCPUs at --rate pages/s, migrated once its first sweep is
done.  Reports the median of --runs runs of each, and the difference.

Python 3 standard library only; needs root (namespaces) and /dev/kvm.
"""
import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "system"))
sys.path.insert(0, HERE)

from agents import Cluster, wait_for  # noqa: E402
from benchlib import BenchError, Control, foreign_vmms, on_sigterm  # noqa: E402
from vmm import MEMTOUCH, VMM  # noqa: E402


def wait_first_sweep(console_path, timeout=60):
    def swept():
        try:
            with open(console_path) as f:
                return "sweeps=1" in f.read() or "sweeps=2" in f.read()
        except OSError:
            return False
    wait_for(swept, timeout, "the guest's first sweep", interval=0.1)


def agent_run(cluster, args, poll_s):
    a = cluster.a
    status, body = a.api("POST", "/v1/vms", {"name": "bench", "kernel": MEMTOUCH,
                                              "memory": args.memory, "vcpus": 2,
                                              "cmdline": f"rate={args.rate}"})
    if status != 201:
        raise BenchError(f"create: {body}")
    a.api("POST", "/v1/vms/bench/start")
    wait_first_sweep(os.path.join(a.state_dir, "vms", "bench", "console.log"))
    t0 = time.monotonic()
    status, body = a.api("POST", "/v1/migrations", {"vm": "bench", "to": "host-b"})
    if status != 201:
        raise BenchError(f"migrate: {body}")
    while True:
        mig = a.migration(body["id"])
        if mig["state"] not in ("preparing", "transferring", "switchover"):
            break
        time.sleep(poll_s)
    elapsed_ms = (time.monotonic() - t0) * 1000
    if mig["state"] != "completed":
        raise BenchError(f"agent migration ended {mig['state']}: {mig['error']}")
    cluster.b.api("POST", "/v1/vms/bench/stop")
    cluster.b.api("DELETE", "/v1/vms/bench")
    return elapsed_ms, mig["result"]["total_ms"], mig["result"]["downtime_ms"]


def direct_run(cluster, args, poll_s, workdir):
    a, b = cluster.a, cluster.b
    src_sock, dst_sock = f"{workdir}/src.sock", f"{workdir}/dst.sock"
    for path in (src_sock, dst_sock):
        if os.path.exists(path):
            os.unlink(path)
    src = subprocess.Popen(["ip", "netns", "exec", a.ns, VMM, "--kernel", MEMTOUCH,
                            "--memory", args.memory, "--vcpus", "2", "--stay-after-migration",
                            "--cmdline",
                            f"rate={args.rate}", "--control", src_sock, "--console",
                            f"{workdir}/src.log"], stderr=subprocess.DEVNULL)
    dst = None
    try:
        wait_for(lambda: os.path.exists(src_sock), 10, "the source VMM")
        wait_first_sweep(f"{workdir}/src.log")
        t0 = time.monotonic()
        dst = subprocess.Popen(["ip", "netns", "exec", b.ns, VMM, "--incoming",
                                f"tcp:{b.ip}:49300", "--memory", args.memory, "--vcpus", "2",
                                "--control", dst_sock, "--console", f"{workdir}/dst.log"],
                               stderr=subprocess.DEVNULL)
        wait_for(lambda: os.path.exists(dst_sock), 10, "the incoming VMM", interval=0.005)
        ctl = Control(src_sock, 5.0)
        ctl.call("migrate", {"uri": f"tcp:{b.ip}:49300"})
        while True:
            q = ctl.call("query-migrate")
            if q["state"] not in ("setup", "active", "switchover"):
                break
            time.sleep(poll_s)
        elapsed_ms = (time.monotonic() - t0) * 1000
        ctl.close()
        if q["state"] != "completed":
            raise BenchError(f"direct migration ended {q['state']}: {q.get('error')}")
        return elapsed_ms, q["total_ms"], q["downtime_us"] / 1000
    finally:
        for proc in (src, dst):
            if proc and proc.poll() is None:
                proc.kill()
            if proc:
                proc.wait()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--memory", default="1G")
    parser.add_argument("--rate", type=int, default=20000, help="guest pages/s (default 20000)")
    parser.add_argument("--poll-ms", type=float, default=20)
    parser.add_argument("--logs", default="/tmp/agent-bench-logs",
                        help="where the agents' logs are copied (default %(default)s)")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, on_sigterm)
    if foreign_vmms():
        print("warning: other godwit-vmm processes run and will skew the figures",
              file=sys.stderr)
    workdir = tempfile.mkdtemp(prefix="gwb-", dir="/tmp")
    cluster = Cluster(workdir).start()
    results = {"agent": [], "direct": []}
    try:
        for run in range(args.runs):
            for how in ("direct", "agent"):
                if how == "agent":
                    r = agent_run(cluster, args, args.poll_ms / 1000)
                else:
                    r = direct_run(cluster, args, args.poll_ms / 1000, workdir)
                results[how].append(r)
                print(f"run {run + 1} {how:6}: seen completed after {r[0]:7.1f} ms "
                      f"(VMM total {r[1]} ms, downtime {r[2]:.1f} ms)", flush=True)
    finally:
        cluster.close()
        os.makedirs(args.logs, exist_ok=True)
        for host in cluster.hosts:
            shutil.copy(host.log_path, os.path.join(args.logs, f"{host.name}.log"))
        shutil.rmtree(workdir, ignore_errors=True)
    med = {how: statistics.median(r[0] for r in rs) for how, rs in results.items()}
    vmm = {how: statistics.median(r[1] for r in rs) for how, rs in results.items()}
    outside = {how: statistics.median(r[0] - r[1] for r in rs) for how, rs in results.items()}
    print(f"\nmedian of {args.runs}: agent {med['agent']:.1f} ms, direct {med['direct']:.1f} ms "
          f"end to end (the VMMs' own transfer: agent {vmm['agent']:.0f} ms, direct "
          f"{vmm['direct']:.0f} ms)")
    print(f"time outside the VMMs' transfer (request to 'completed' seen, minus the VMM's "
          f"total): agent {outside['agent']:.1f} ms, direct {outside['direct']:.1f} ms; "
          f"the control plane adds {outside['agent'] - outside['direct']:.1f} ms")


if __name__ == "__main__":
    main()
