"""Networking through the agents: VM ports on a VXLAN overlay between
hosts, and a migration that loses no packet.

Three hosts in network namespaces on a fabric bridge (tests/system/
agents.py, network=True); each agent builds its bridge (gwbr0) and VXLAN
device.  host-c is the client: it gets 10.99.0.1/24 on its bridge and runs
godwit-probe, which sends UDP requests with sequence numbers to the VM's
`echo` guest and counts what comes back.
"""
import json
import os
import re
import subprocess
import threading
import time

import pytest

from agents import wait_for
from vmm import BUILD

pytestmark = pytest.mark.kvm

ECHO = os.path.join(BUILD, "guest", "echo.elf")
PROBE = os.path.join(BUILD, "bench", "godwit-probe")
VM_IP = "10.99.0.11"
VM_MAC = "52:54:00:99:00:11"


def needs_network_guest():
    if not os.path.exists(ECHO):
        pytest.skip("the echo guest is not built")
    help_text = subprocess.run([os.path.join(BUILD, "src", "godwit-vmm"), "--help"],
                               capture_output=True, text=True).stdout
    if "--net" not in help_text:
        pytest.skip("godwit-vmm has no --net")


def network_cluster(cluster_factory):
    cluster = cluster_factory(network=True)
    c = cluster.c
    subprocess.run(["ip", "-n", c.ns, "addr", "add", "10.99.0.1/24", "dev", "gwbr0"], check=True)
    subprocess.run(["ip", "-n", c.ns, "link", "set", "gwbr0", "up"], check=True)
    return cluster


def create_echo_vm(host, name="vm1", ip=VM_IP, mac=VM_MAC, extra="", start=True, memory="256M"):
    status, body = host.api("POST", "/v1/vms", {
        "name": name, "kernel": ECHO, "memory": memory, "vcpus": 2,
        "cmdline": f"ip={ip}/24 {extra}".strip(), "nic": {"mac": mac, "ip": f"{ip}/24"}})
    assert status == 201, body
    if start:
        status, body = host.api("POST", f"/v1/vms/{name}/start")
        assert status == 200, body
    return body


def probe(client, rate, count, wait_ms=1000, target=VM_IP):
    r = subprocess.run(["ip", "netns", "exec", client.ns, PROBE, "--to", f"{target}:7",
                        "--rate", str(rate), "--count", str(count), "--wait-ms", str(wait_ms),
                        "--json"], capture_output=True, text=True, timeout=count / rate + 60)
    assert r.stdout, r.stderr
    return json.loads(r.stdout)


def answers(client, target=VM_IP):
    """Whether the VM answers a short probe (it may need a moment after boot)."""
    return probe(client, 100, 20, wait_ms=300, target=target)["answered"] > 0


def test_ping_and_udp_from_another_host(cluster_factory):
    needs_network_guest()
    cluster = network_cluster(cluster_factory)
    a, c = cluster.a, cluster.c
    create_echo_vm(a)
    wait_for(lambda: answers(c), 20, "the echo guest to answer")
    ping = subprocess.run(["ip", "netns", "exec", c.ns, "ping", "-c", "3", "-i", "0.2", VM_IP],
                          capture_output=True, text=True)
    assert ping.returncode == 0, ping.stdout + ping.stderr
    result = probe(c, 1000, 2000)
    assert result["lost"] == 0 and result["duplicated"] == 0, result
    ports = {p["name"]: p for p in c.api("GET", "/v1/ports")[1]["ports"]}
    assert ports["vm1"]["chassis"] == "host-a" and ports["vm1"]["state"] == "up"
    assert ports["vm1"]["mac"] == VM_MAC


def peer_counts(host, name):
    """The last (sent, answered, duplicated) an echo guest with peer= printed;
    answered counts distinct sequence numbers."""
    counts = re.findall(r"peer_sent=(\d+) peer_answered=(\d+) peer_duplicated=(\d+)",
                        host.console(name))
    return tuple(map(int, counts[-1])) if counts else (0, 0, 0)


def test_two_vms_on_two_hosts(cluster_factory):
    needs_network_guest()
    cluster = network_cluster(cluster_factory)
    a, b, c = cluster.a, cluster.b, cluster.c
    # vm1 on host-a talks to vm2 on host-b itself: ARP, then 100 UDP
    # requests a second across the overlay, answered by vm2's echo.
    create_echo_vm(a, extra="peer=10.99.0.12")
    create_echo_vm(b, name="vm2", ip="10.99.0.12", mac="52:54:00:99:00:12")
    for ip in (VM_IP, "10.99.0.12"):
        wait_for(lambda: answers(c, target=ip), 20, f"{ip} to answer")
        assert probe(c, 1000, 1000, target=ip)["lost"] == 0
    wait_for(lambda: peer_counts(a, "vm1")[1] >= 200, 20, "vm2 to answer 200 of vm1's requests")
    sent, answered, _ = peer_counts(a, "vm1")
    assert sent - answered <= 2, (sent, answered)   # at most the ones in flight

    # vm2 moves to host-a while vm1 keeps talking to it: the VM-to-VM path
    # changes from the overlay to host-a's bridge, and loses nothing.
    status, body = b.api("POST", "/v1/migrations", {"vm": "vm2", "to": "host-a"})
    assert status == 201, body
    done = b.wait_migration(body["id"], ("completed", "failed", "cancelled", "unknown"))
    assert done["state"] == "completed", done
    before = peer_counts(a, "vm1")[0]
    wait_for(lambda: peer_counts(a, "vm1")[0] >= before + 200, 20, "200 more requests")
    sent, answered, duplicated = peer_counts(a, "vm1")
    print(f"vm1 -> vm2 across vm2's migration: {sent} sent, {answered} answered, "
          f"{duplicated} duplicated")
    assert sent - answered <= 2, (sent, answered)


def migrate_under_probe(cluster, rate, seconds, cutover):
    a, c = cluster.a, cluster.c
    results = {}

    def run_probe():
        results["probe"] = probe(c, rate, rate * seconds)

    thread = threading.Thread(target=run_probe)
    thread.start()
    time.sleep(seconds / 3)
    status, body = a.api("POST", "/v1/migrations", {"vm": "vm1", "to": "host-b",
                                                     "cutover": cutover})
    assert status == 201, body
    done = a.wait_migration(body["id"], ("completed", "failed", "cancelled", "unknown"))
    thread.join()
    assert done["state"] == "completed", done
    return results["probe"], done


def test_migration_loses_no_packet(cluster_factory):
    needs_network_guest()
    cluster = network_cluster(cluster_factory)
    a, b, c = cluster.a, cluster.b, cluster.c
    create_echo_vm(a, extra="mem=64M rate=5000 check=1")
    wait_for(lambda: answers(c), 20, "the echo guest to answer")
    result, done = migrate_under_probe(cluster, 2000, 9, "early")
    barrier = re.search(r"ready: the probe reached the VMM on host-b in (\d+ ms.*)", a.log())
    assert barrier, "the early cutover passes the ready barrier"
    print(f"early cutover: {result}, downtime {done['result']['downtime_ms']:.1f} ms, "
          f"ready barrier {barrier[1]}")
    assert result["lost"] == 0, result
    assert result["longest_gap_ms"] < done["result"]["downtime_ms"] + 250, (result, done)
    ports = {p["name"]: p for p in c.api("GET", "/v1/ports")[1]["ports"]}
    assert ports["vm1"]["chassis"] == "host-b" and ports["vm1"]["additional_chassis"] == ""
    wait_for(lambda: a.vm("vm1") is None, 10, "host-a to retire vm1")
    assert "FAILED" not in b.console("vm1")


def links(host):
    out = subprocess.run(["ip", "-n", host.ns, "-o", "link", "show"], capture_output=True,
                         text=True, check=True).stdout
    return [line.split(":")[1].strip().split("@")[0] for line in out.splitlines()]


def test_ready_barrier_refuses_a_path_that_does_not_work(cluster_factory):
    """The destination is ready only once the VMM there has read the probe:
    with host-b's overlay device down nothing reaches it, the migration
    fails before the switchover, and the VM runs on where it was."""
    needs_network_guest()
    cluster = network_cluster(cluster_factory)
    a, b, c = cluster.a, cluster.b, cluster.c
    create_echo_vm(a)
    wait_for(lambda: answers(c), 20, "the echo guest to answer")
    subprocess.run(["ip", "-n", b.ns, "link", "set", "gwvx0", "down"], check=True)
    # The barrier runs before the request returns: the refusal is its answer.
    status, body = a.api("POST", "/v1/migrations", {"vm": "vm1", "to": "host-b"})
    assert status == 500 and body["error"]["code"] == "failed", body
    assert "host-b is not ready: a probe frame to the VM's MAC did not reach its VMM" \
        in body["error"]["message"], body
    assert a.vm("vm1")["state"] == "running"
    wait_for(lambda: b.vm("vm1") is None and "gw-vm1" not in links(b), 10,
             "host-b to remove what it prepared")
    ports = {p["name"]: p for p in a.api("GET", "/v1/ports")[1]["ports"]}
    assert ports["vm1"]["chassis"] == "host-a" and ports["vm1"]["additional_chassis"] == ""

    # Repaired, the next attempt proves the path and completes.
    subprocess.run(["ip", "-n", b.ns, "link", "set", "gwvx0", "up"], check=True)
    assert probe(c, 1000, 1000)["lost"] == 0
    status, body = a.api("POST", "/v1/migrations", {"vm": "vm1", "to": "host-b"})
    assert status == 201, body
    done = a.wait_migration(body["id"], ("completed", "failed", "cancelled", "unknown"))
    assert done["state"] == "completed", done
    assert f"migration={body['id']} ready: the probe reached the VMM on host-b" in a.log()


def test_late_cutover_is_reported(cluster_factory):
    needs_network_guest()
    cluster = network_cluster(cluster_factory)
    c = cluster.c
    create_echo_vm(cluster.a)
    wait_for(lambda: answers(c), 20, "the echo guest to answer")
    result, done = migrate_under_probe(cluster, 2000, 9, "late")
    print(f"late cutover: lost {result['lost']} of {result['sent']}, longest gap "
          f"{result['longest_gap_ms']:.1f} ms, downtime {done['result']['downtime_ms']:.1f} ms")
    assert result["answered"] > 0


def error_of(reply):
    status, body = reply
    assert "error" in body, reply
    return status, body["error"]["code"]


def test_bad_port_definitions_change_nothing(cluster_factory):
    needs_network_guest()
    cluster = network_cluster(cluster_factory)
    a, b = cluster.a, cluster.b
    create_echo_vm(a, start=False)
    base = {"kernel": ECHO, "memory": "64M"}
    # duplicate MAC, duplicate IP (also across hosts: bindings are cluster-wide)
    assert error_of(b.api("POST", "/v1/vms", {**base, "name": "x1", "nic": {
        "mac": VM_MAC, "ip": "10.99.0.50/24"}})) == (409, "already-exists")
    assert error_of(a.api("POST", "/v1/vms", {**base, "name": "x2", "nic": {
        "mac": "52:54:00:99:00:50", "ip": f"{VM_IP}/24"}})) == (409, "already-exists")
    # malformed definitions
    for nic in ({"mac": "zz:54:00:00:00:01", "ip": "10.99.0.51/24"},
                {"mac": "01:00:5e:00:00:01", "ip": "10.99.0.51/24"},
                {"mac": "52:54:00:00:00:01", "ip": "999.1.1.1/24"},
                {"mac": "52:54:00:00:00:01"},
                {"mac": "52:54:00:00:00:01", "ip": "10.99.0.51/24", "tap": "x" * 20}):
        assert error_of(a.api("POST", "/v1/vms", {**base, "name": "x3", "nic": nic})) == \
            (400, "bad-request"), nic
    # a TAP name already taken on the host: the start fails, nothing half-made
    subprocess.run(["ip", "-n", a.ns, "tuntap", "add", "dev", "gw-vm1", "mode", "tap"],
                   check=True)
    status, code = error_of(a.api("POST", "/v1/vms/vm1/start"))
    assert code == "already-exists" and status == 409
    assert a.vm("vm1")["state"] == "stopped" and a.vmm_pids() == []
    names = [p["name"] for p in a.api("GET", "/v1/ports")[1]["ports"]]
    assert names == ["vm1"]
    assert [v["name"] for v in a.api("GET", "/v1/vms")[1]["vms"]] == ["vm1"]


def test_a_host_without_network_refuses_nics(cluster_factory):
    cluster = cluster_factory()     # no [network]: no bridge
    status, body = cluster.a.api("POST", "/v1/vms", {
        "name": "vm1", "kernel": ECHO if os.path.exists(ECHO) else "/bin/true",
        "nic": {"mac": VM_MAC, "ip": f"{VM_IP}/24"}})
    assert status == 400 and "bridge" in body["error"]["message"], body


def test_a_vm_whose_guest_exited_starts_again(cluster_factory):
    """A guest that exits on its own takes its port down on every host, and
    its TAP is the agent's to reuse when it starts again."""
    needs_network_guest()
    cluster = network_cluster(cluster_factory)
    a, c = cluster.a, cluster.c

    def port_on(host):
        return {p["name"]: p for p in host.api("GET", "/v1/ports")[1]["ports"]}["vm1"]

    create_echo_vm(a, extra="mem=16M verify=2")
    wait_for(lambda: a.vm("vm1")["state"] == "stopped", 20, "the guest to exit")
    assert a.vm("vm1")["exit_code"] == 0
    for host in (a, cluster.b, c):
        wait_for(lambda: port_on(host)["state"] == "down" and port_on(host)["chassis"] == "",
                 10, f"{host.name} to see the port down")
    status, body = a.api("POST", "/v1/vms/vm1/start")
    assert status == 200, body
    wait_for(lambda: answers(c), 20, "the restarted guest to answer")
    for host in (a, cluster.b, c):
        assert port_on(host)["state"] == "up" and port_on(host)["chassis"] == "host-a"
