"""godwitd and the godwit CLI: two hosts in network namespaces, real VMs.

Each test makes its own cluster (tests/system/agents.py).  Guests run
memtouch with check=1, so every second they pause their sweeps, verify
every page and print "memtouch: check OK"; a test proves a migrated guest
intact by waiting for a check that ran on the destination.
"""
import os
import signal
import time

import pytest

from agents import wait_for
from vmm import MEMTOUCH

pytestmark = pytest.mark.kvm

VM_MEMORY = "256M"
GUEST = "rate=20000 check=1"


def create_vm(host, name="vm1", cmdline=GUEST, memory=VM_MEMORY, start=True):
    status, body = host.api("POST", "/v1/vms", {"name": name, "kernel": MEMTOUCH,
                                                 "memory": memory, "vcpus": 2,
                                                 "cmdline": cmdline})
    assert status == 201, body
    if start:
        status, body = host.api("POST", f"/v1/vms/{name}/start")
        assert status == 200, body
        assert body["state"] == "running"
    return body


def checks(host, vm="vm1"):
    return host.console(vm).count("memtouch: check OK")


def wait_check(host, vm="vm1", after=0, timeout=20):
    """Waits until the guest on host has verified itself more than `after` times."""
    return wait_for(lambda: checks(host, vm) > after, timeout, f"a memtouch check on {host.name}")


def start_migration(src, dst_name, vm="vm1", **policy):
    status, body = src.api("POST", "/v1/migrations", {"vm": vm, "to": dst_name, **policy})
    assert status == 201, body
    assert body["state"] == "transferring"
    return body["id"]


def assert_only_on(cluster, host, vm="vm1"):
    """The VM runs on host, and only there: one VMM, one record.  (Right
    after a migration the other host may still be retiring its old VMM,
    with the VM shown as "migrated", for a moment.)"""
    other = cluster.b if host is cluster.a else cluster.a
    body = host.vm(vm)
    assert body and body["state"] == "running" and body["vmm_state"] == "running", body
    wait_for(lambda: other.vm(vm) is None, 10, f"{other.name} to retire {vm}")
    assert vm not in other.vm_dirs()
    assert len(cluster.vm_copies(vm)) == 1, cluster.vm_copies(vm)


def test_vm_lifecycle(cluster_factory):
    cluster = cluster_factory()
    a = cluster.a
    create_vm(a, start=False)
    assert a.vm("vm1")["state"] == "stopped"
    status, body = a.api("POST", "/v1/vms", {"name": "vm1", "kernel": MEMTOUCH})
    assert status == 409 and body["error"]["code"] == "already-exists"
    status, body = a.api("POST", "/v1/vms/vm1/start")
    assert status == 200 and body["pid"] > 0
    status, body = a.api("POST", "/v1/vms/vm1/start")
    assert status == 409 and body["error"]["code"] == "wrong-state"
    wait_check(a)
    status, text = a.api("GET", "/v1/vms/vm1/console?bytes=4096")
    assert status == 200 and "memtouch: check OK" in text
    status, body = a.api("DELETE", "/v1/vms/vm1")
    assert status == 409 and body["error"]["code"] == "wrong-state"
    status, body = a.api("POST", "/v1/vms/vm1/stop")
    assert status == 200 and body["state"] == "stopped" and body["exit_code"] == 0
    assert cluster.vm_copies("vm1") == []
    status, body = a.api("DELETE", "/v1/vms/vm1")
    assert status == 200
    assert a.api("GET", "/v1/vms")[1] == {"vms": []}
    assert a.vm_dirs() == []


def test_migrate_there_and_back(cluster_factory):
    cluster = cluster_factory()
    a, b = cluster.a, cluster.b
    create_vm(a)
    wait_check(a)

    mig = start_migration(a, "host-b", verify_memory=True)
    done = a.wait_migration(mig, ("completed", "failed", "cancelled", "unknown"))
    assert done["state"] == "completed", done
    assert done["result"]["passes"] >= 1 and done["result"]["downtime_ms"] > 0
    assert_only_on(cluster, b)
    assert b.migration(mig)["state"] == "completed"
    wait_check(b)                                   # verified on host-b
    assert "memtouch: region" not in b.console("vm1")   # it did not boot again

    mig_back = start_migration(b, "host-a")
    done = b.wait_migration(mig_back, ("completed", "failed", "cancelled", "unknown"))
    assert done["state"] == "completed", done
    assert_only_on(cluster, a)
    wait_check(a)                                   # verified on host-a again
    assert "FAILED" not in a.console("vm1")


FINAL = ("completed", "failed", "cancelled", "unknown")
SLOW = {"max_bandwidth": 8 << 20}   # 8 MB/s: a 256 MiB guest takes ~30 s, time to interfere


def wait_transferring(host, mig):
    """Until the transfer is under way (some bytes sent)."""
    return wait_for(lambda: (lambda m: m if m["state"] == "transferring" and m["progress"]
                             and m["progress"]["bytes_sent"] > 0 else None)(host.migration(mig)),
                    15, f"migration {mig} to transfer")


def assert_rolled_back(cluster, mig_state):
    """The VM runs on host-a, untouched, and host-b holds no trace."""
    a, b = cluster.a, cluster.b
    assert_only_on(cluster, a)
    assert b.vmm_pids() == []
    assert b.vm_dirs() == []
    seen = checks(a)
    wait_check(a, after=seen)
    assert "FAILED" not in a.console("vm1")


def test_cancel(cluster_factory):
    cluster = cluster_factory()
    a, b = cluster.a, cluster.b
    create_vm(a)
    mig = start_migration(a, "host-b", **SLOW)
    wait_transferring(a, mig)
    assert b.vm("vm1")["state"] == "incoming"
    status, body = a.api("POST", f"/v1/migrations/{mig}/cancel")
    assert status == 200, body
    done = a.wait_migration(mig, FINAL)
    assert done["state"] == "cancelled", done
    wait_for(lambda: b.vmm_pids() == [], 10, "the incoming VMM to go")
    assert b.migration(mig)["state"] == "aborted"
    assert_rolled_back(cluster, "cancelled")
    status, body = a.api("POST", f"/v1/migrations/{mig}/cancel")
    assert status == 409 and body["error"]["code"] == "wrong-state"


def test_destination_agent_killed(cluster_factory):
    cluster = cluster_factory()
    a, b = cluster.a, cluster.b
    create_vm(a)
    mig = start_migration(a, "host-b", **SLOW)
    wait_transferring(a, mig)
    b.kill(signal.SIGKILL)
    done = a.wait_migration(mig, FINAL, timeout=30)
    assert done["state"] == "failed", done
    assert "lost contact" in done["error"]
    # The incoming VMM lost its stream and exited; the restarted agent
    # removes what is left of the attempt.
    wait_for(lambda: b.vmm_pids() == [], 10, "the incoming VMM to exit")
    b.start()
    wait_for(lambda: b.vm_dirs() == [], 10, "host-b to remove the attempt")
    assert_rolled_back(cluster, "failed")
    assert b.api("GET", "/v1/vms")[1] == {"vms": []}
    # A later migration succeeds.
    again = start_migration(a, "host-b")
    assert a.wait_migration(again, FINAL)["state"] == "completed"
    assert_only_on(cluster, b)
    wait_check(b)


def test_source_agent_restarted(cluster_factory):
    """The documented outcome: the VMMs carry on; the restarted agent
    watches the job again and finishes it (here: completes it)."""
    cluster = cluster_factory()
    a, b = cluster.a, cluster.b
    create_vm(a)
    vmm_pid = a.vm("vm1")["pid"]
    mig = start_migration(a, "host-b", **SLOW)
    wait_transferring(a, mig)
    a.kill(signal.SIGKILL)
    time.sleep(1)
    assert len(cluster.vm_copies("vm1")) == 2       # source runs, destination waits
    a.start()
    shown = a.vm("vm1")
    assert shown["pid"] == vmm_pid and shown["migration"] == mig   # adopted, still migrating
    status, body = a.api("PATCH", f"/v1/migrations/{mig}", {"max_bandwidth": 0})
    assert status == 200, body
    done = a.wait_migration(mig, FINAL)
    assert done["state"] == "completed", done
    assert_only_on(cluster, b)
    wait_check(b)


def test_unknown_outcome_then_keep_source(cluster_factory):
    """The destination VMM dies right after GO: nobody knows whether it ran
    the guest.  The source stays paused and the operator decides."""
    cluster = cluster_factory(env_b={"GODWIT_TEST_FAULT": "die-after-go"})
    a = cluster.a
    create_vm(a)
    mig = start_migration(a, "host-b")
    done = a.wait_migration(mig, FINAL)
    assert done["state"] == "unknown", done
    assert "--keep destination" in done["hint"] and "--keep source" in done["hint"]
    assert a.vm("vm1")["vmm_state"] == "frozen"
    status, body = a.api("POST", f"/v1/migrations/{mig}/resolve", {"keep": "sideways"})
    assert status == 400 and body["error"]["code"] == "bad-request"
    status, body = a.api("POST", f"/v1/migrations/{mig}/resolve", {"keep": "source"})
    assert status == 200 and body["state"] == "failed", body
    assert_rolled_back(cluster, "failed")


def test_agent_restart_adopts_running_vms(cluster_factory):
    cluster = cluster_factory()
    a = cluster.a
    create_vm(a)
    pid = a.vm("vm1")["pid"]
    a.kill(signal.SIGTERM)
    assert cluster.vm_copies("vm1") == [pid]        # the VM outlives its agent
    a.start()
    shown = a.vm("vm1")
    assert shown["pid"] == pid and shown["vmm_state"] == "running"
    status, body = a.api("POST", "/v1/vms/vm1/stop")     # not our child any more
    assert status == 200 and body["state"] == "stopped"
    assert cluster.vm_copies("vm1") == []


def error_code(reply):
    status, body = reply
    assert isinstance(body, dict) and "error" in body, reply
    assert set(body["error"]) == {"code", "message"} and body["error"]["message"]
    return status, body["error"]["code"]


def test_bad_requests_change_nothing(cluster_factory):
    cluster = cluster_factory(settings_b={"max_incoming": 1})
    a, b = cluster.a, cluster.b
    create_vm(a)
    create_vm(a, name="vm2")
    create_vm(a, name="vm3", start=False)

    assert error_code(a.api("POST", "/v1/migrations", {"vm": "nope", "to": "host-b"})) == \
        (404, "not-found")
    assert error_code(a.api("POST", "/v1/migrations", {"vm": "vm1", "to": "host-z"})) == \
        (404, "unknown-host")
    assert error_code(a.api("POST", "/v1/migrations", {"vm": "vm1", "to": "host-a"})) == \
        (400, "bad-request")
    assert error_code(a.api("POST", "/v1/migrations", raw="{not json")) == (400, "bad-json")
    assert error_code(a.api("POST", "/v1/migrations", {"vm": "vm1"})) == (400, "bad-request")
    assert error_code(a.api("POST", "/v1/migrations", {"vm": "vm1", "to": "host-b",
                                                       "max_downtime_ms": -5})) == \
        (400, "bad-request")
    assert error_code(a.api("POST", "/v1/migrations", {"vm": "vm3", "to": "host-b"})) == \
        (409, "wrong-state")
    assert error_code(a.api("GET", "/v1/migrations/m-000000000000")) == (404, "not-found")
    assert error_code(a.api("GET", "/v1/nothing")) == (404, "not-found")
    assert error_code(a.api("POST", "/v1/vms", {"name": "Bad Name", "kernel": MEMTOUCH})) == \
        (400, "bad-request")
    assert error_code(a.api("POST", "/v1/vms", {"name": "vm9", "kernel": "/nonexistent"})) == \
        (400, "bad-request")
    assert a.api("GET", "/v1/migrations")[1] == {"migrations": []}

    mig = start_migration(a, "host-b", **SLOW)
    assert error_code(a.api("POST", "/v1/migrations", {"vm": "vm1", "to": "host-b"})) == \
        (409, "wrong-state")
    status, code = error_code(a.api("POST", "/v1/migrations", {"vm": "vm2", "to": "host-b"}))
    assert (status, code) == (429, "busy")
    # Nothing changed: one migration, vm2 untouched, host-b holds only vm1's attempt.
    assert [m["id"] for m in a.api("GET", "/v1/migrations")[1]["migrations"]] == [mig]
    assert a.vm("vm2")["migration"] is None and a.vm("vm2")["vmm_state"] == "running"
    assert b.vm_dirs() == ["vm1"]
    assert a.api("POST", f"/v1/migrations/{mig}/cancel")[0] == 200
    assert a.wait_migration(mig, FINAL)["state"] == "cancelled"


def test_migration_finishes_while_source_agent_is_away(cluster_factory):
    """The source agent dies; the VMMs finish the migration without it.
    The destination adopts the guest without waiting for a commit, and the
    restarted source agent completes the job and retires its VMM."""
    from vmm import Control

    cluster = cluster_factory()
    a, b = cluster.a, cluster.b
    create_vm(a)
    mig = start_migration(a, "host-b", **SLOW)
    wait_transferring(a, mig)
    a.kill(signal.SIGKILL)
    ctl = Control(os.path.join(a.state_dir, "vms", "vm1", "control.sock"))
    assert ctl.call("migrate-set", max_bandwidth=0)["ok"]
    wait_for(lambda: (b.vm("vm1") or {}).get("state") == "running"
             and (b.vm("vm1") or {}).get("migration") is None, 60, "host-b to run the guest")
    wait_for(lambda: ctl.call("query-migrate")["result"]["state"] == "completed", 10,
             "the source VMM to report completed")
    ctl.close()
    a.start()
    done = a.wait_migration(mig, FINAL)
    assert done["state"] == "completed" and done["result"]["passes"] >= 1, done
    wait_for(lambda: a.vm("vm1") is None, 10, "host-a to forget the VM")
    assert_only_on(cluster, b)
    wait_check(b)
