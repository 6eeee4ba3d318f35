#!/usr/bin/env python3
"""Packets lost in a migration: the default (early) cutover against the
legacy late one.

Three hosts in network namespaces (the system tests' Cluster with
network=True: a fabric bridge, one godwitd per host building its bridge and
VXLAN overlay).  A VM on host-a runs `echo` (plus memtouch's sweeps with
--load); host-c runs godwit-probe against it at --rate requests/s for
--seconds, and a third of the way in the VM migrates to host-b (then back
to host-a for the next run).  For each cutover mode: lost requests, longest
gap without answers, duplicates and the migration's downtime, per run and
as medians of --runs runs.

Python 3 standard library only; needs root and /dev/kvm.
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
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "system"))
sys.path.insert(0, HERE)

from agents import Cluster, wait_for  # noqa: E402
from benchlib import BenchError, on_sigterm  # noqa: E402
from vmm import BUILD  # noqa: E402

ECHO = os.path.join(BUILD, "guest", "echo.elf")
PROBE = os.path.join(BUILD, "bench", "godwit-probe")
VM_IP = "10.99.0.11"


def probe(client, rate, count, wait_ms=1000):
    r = subprocess.run(["ip", "netns", "exec", client.ns, PROBE, "--to", f"{VM_IP}:7",
                        "--rate", str(rate), "--count", str(count), "--wait-ms", str(wait_ms),
                        "--json"], capture_output=True, text=True, timeout=count / rate + 60)
    if not r.stdout:
        raise BenchError(f"probe: {r.stderr}")
    return json.loads(r.stdout)


def one_run(cluster, src, dst, args, cutover):
    results = {}

    def run_probe():
        results["probe"] = probe(cluster.c, args.rate, int(args.rate * args.seconds))

    thread = threading.Thread(target=run_probe)
    thread.start()
    time.sleep(args.seconds / 3)
    status, body = src.api("POST", "/v1/migrations", {"vm": "vm1", "to": dst.name,
                                                       "cutover": cutover})
    if status != 201:
        raise BenchError(f"migrate: {body}")
    done = src.wait_migration(body["id"], ("completed", "failed", "cancelled", "unknown"),
                              timeout=120)
    thread.join()
    if done["state"] != "completed":
        raise BenchError(f"migration {done['state']}: {done['error']}")
    wait_for(lambda: src.vm("vm1") is None, 10, "the source to retire the VM")
    return results["probe"], done["result"]["downtime_ms"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--rate", type=int, default=10000)
    parser.add_argument("--seconds", type=float, default=6)
    parser.add_argument("--load", action="store_true", help="memtouch sweeps in the guest too")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, on_sigterm)
    workdir = tempfile.mkdtemp(prefix="gwc-", dir="/tmp")
    cluster = Cluster(workdir, network=True).start()
    rows = {"early": [], "late": []}
    try:
        c = cluster.c
        subprocess.run(["ip", "-n", c.ns, "addr", "add", "10.99.0.1/24", "dev", "gwbr0"],
                       check=True)
        cmdline = f"ip={VM_IP}/24" + (" mem=128M rate=5000 check=2" if args.load else "")
        status, body = cluster.a.api("POST", "/v1/vms", {
            "name": "vm1", "kernel": ECHO, "memory": "256M", "vcpus": 2, "cmdline": cmdline,
            "nic": {"mac": "52:54:00:99:00:11", "ip": f"{VM_IP}/24"}})
        if status != 201:
            raise BenchError(f"create: {body}")
        cluster.a.api("POST", "/v1/vms/vm1/start")
        wait_for(lambda: probe(c, 100, 20, wait_ms=300)["answered"] > 0, 30, "echo to answer")
        here, there = cluster.a, cluster.b
        for run in range(args.runs):
            for cutover in ("early", "late"):
                result, downtime = one_run(cluster, here, there, args, cutover)
                rows[cutover].append((result, downtime))
                print(f"run {run + 1} {cutover:5}: lost {result['lost']:5} of {result['sent']}, "
                      f"longest gap {result['longest_gap_ms']:7.1f} ms, duplicated "
                      f"{result['duplicated']:5}, downtime {downtime:.1f} ms"
                      f"{'  lost at ' + ' '.join(result['lost_at']) if result['lost'] else ''}",
                      flush=True)
                here, there = there, here
    finally:
        cluster.close()
        shutil.rmtree(workdir, ignore_errors=True)
    print()
    for cutover, rs in rows.items():
        if not rs:
            continue
        print(f"{cutover:5} cutover, median of {len(rs)} at {args.rate}/s: lost "
              f"{statistics.median(r[0]['lost'] for r in rs):.0f}, longest gap "
              f"{statistics.median(r[0]['longest_gap_ms'] for r in rs):.1f} ms, duplicated "
              f"{statistics.median(r[0]['duplicated'] for r in rs):.0f}, downtime "
              f"{statistics.median(r[1] for r in rs):.1f} ms")


if __name__ == "__main__":
    main()
