"""The godwit CLI against real agents: output, events and exit codes
(0 done, 1 failed and safe, 2 usage, 3 outcome unknown, 4 agent unreachable)."""
import json
import signal
import subprocess
import time

import pytest

from agents import GODWIT, wait_for
from vmm import MEMTOUCH

pytestmark = pytest.mark.kvm


def cli_ok(host, *args):
    r = host.cli(*args)
    assert r.returncode == 0, (args, r.stdout, r.stderr)
    return r.stdout


def make_vm(host, name="vm1"):
    cli_ok(host, "vm", "create", name, "--kernel", MEMTOUCH, "--memory", "256M", "--vcpus", "2",
           "--cmdline", "rate=20000 check=1")
    cli_ok(host, "vm", "start", name)


def test_vm_and_host_commands(cluster_factory):
    cluster = cluster_factory()
    a = cluster.a
    make_vm(a)
    listing = cli_ok(a, "vm", "list")
    assert "vm1" in listing and "running" in listing
    shown = json.loads(cli_ok(a, "-o", "json", "vm", "show", "vm1"))
    assert shown["state"] == "running" and shown["vcpus"] == 2
    wait_for(lambda: "check OK" in cli_ok(a, "vm", "console", "vm1"), 20, "a guest check")
    hosts = cli_ok(a, "host", "list")
    assert "host-b" in hosts and "up" in hosts
    cluster.b.kill()
    hosts = cli_ok(a, "host", "list")
    assert "down" in hosts
    r = a.cli("vm", "delete", "vm1")
    assert r.returncode == 1 and "wrong-state" in r.stderr
    cli_ok(a, "vm", "stop", "vm1")
    cli_ok(a, "vm", "delete", "vm1")
    assert "vm1" not in cli_ok(a, "vm", "list")


def test_migrate_json_events(cluster_factory):
    cluster = cluster_factory()
    a, b = cluster.a, cluster.b
    make_vm(a)
    r = a.cli("-o", "json", "migrate", "vm1", "--to", "host-b", "--max-downtime", "50")
    assert r.returncode == 0, r.stderr
    events = [json.loads(line) for line in r.stdout.splitlines()]
    assert events[0]["event"] == "started" and events[-1]["event"] == "done"
    done = events[-1]["migration"]
    assert done["state"] == "completed" and done["policy"]["max_downtime_ms"] == 50
    assert done["result"]["passes"] >= 1
    assert b.vm("vm1")["state"] == "running"
    wait_for(lambda: a.vm("vm1") is None, 10, "host-a to retire vm1")
    text = cli_ok(a, "migration", "show", done["id"])
    assert "completed" in text


def test_exit_codes(cluster_factory, tmp_path):
    cluster = cluster_factory(env_b={"GODWIT_TEST_FAULT": "die-after-go"})
    a = cluster.a
    make_vm(a)
    # 2: usage, nothing sent
    for args in (["migrate", "vm1"], ["vm", "frobnicate"], ["migrate", "vm1", "--to", "host-b",
                                                           "--bandwidth", "fast"]):
        r = a.cli(*args)
        assert r.returncode == 2, (args, r.stderr)
        assert r.stderr
    # 1: refused, nothing changed
    r = a.cli("migrate", "nope", "--to", "host-b")
    assert r.returncode == 1 and "not-found" in r.stderr
    r = a.cli("migrate", "vm1", "--to", "host-z")
    assert r.returncode == 1 and "unknown-host" in r.stderr
    # 4: no agent
    r = subprocess.run([GODWIT, "--socket", str(tmp_path / "none.sock"), "vm", "list"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 4 and "cannot reach godwitd" in r.stderr
    # 3: the destination VMM dies right after GO
    r = a.cli("migrate", "vm1", "--to", "host-b")
    assert r.returncode == 3, (r.stdout, r.stderr)
    assert "--keep source" in r.stdout + r.stderr
    mig = a.api("GET", "/v1/migrations")[1]["migrations"][0]["id"]
    shown = cli_ok(a, "migration", "show", mig)
    assert "unknown" in shown and "--keep destination" in shown
    cli_ok(a, "migration", "resolve", mig, "--keep", "source")
    assert a.vm("vm1")["vmm_state"] == "running"


def test_sigint_cancels_without_a_terminal(cluster_factory):
    cluster = cluster_factory()
    a, b = cluster.a, cluster.b
    make_vm(a)
    proc = subprocess.Popen([GODWIT, "--socket", a.socket, "-o", "json", "migrate", "vm1",
                             "--to", "host-b", "--bandwidth", "8M"], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for(lambda: b.vm("vm1") is not None, 15, "the destination to prepare")
    time.sleep(1)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, (out, err)
    done = json.loads(out.splitlines()[-1])
    assert done["event"] == "done" and done["migration"]["state"] == "cancelled"
    assert a.vm("vm1")["vmm_state"] == "running"
    wait_for(lambda: b.vm_dirs() == [], 10, "host-b to remove the attempt")


def test_force_complete_a_migration_that_cannot_converge(cluster_factory):
    """1 MiB/s and 1 ms allowed: this migration would only time out.  Forced,
    it switches over with whatever pause the rest takes, and the guest's
    checks go on passing on host-b."""
    cluster = cluster_factory()
    a, b = cluster.a, cluster.b
    make_vm(a)
    out = cli_ok(a, "-o", "json", "migrate", "vm1", "--to", "host-b", "--bandwidth", "1M",
                 "--max-downtime", "1", "--timeout", "120", "--detach")
    mig = json.loads(out)["id"]
    wait_for(lambda: a.migration(mig)["state"] == "transferring", 15, "the transfer to start")
    r = a.cli("migration", "force-complete", "nope")
    assert r.returncode == 1 and "not-found" in r.stderr
    forced = cli_ok(a, "migration", "force-complete", mig)
    assert "switching over after the current pass" in forced
    done = a.wait_migration(mig, ("completed", "failed", "cancelled", "unknown"), timeout=60)
    assert done["state"] == "completed", done
    assert done["result"]["downtime_ms"] > 1      # the price of forcing, above the policy
    before = b.console("vm1").count("check OK")
    wait_for(lambda: b.console("vm1").count("check OK") > before, 20, "a check on host-b")
    assert "FAILED" not in b.console("vm1")
    r = a.cli("migration", "force-complete", mig)
    assert r.returncode == 1 and "wrong-state" in r.stderr


def test_auto_converge_switched_on_mid_migration(cluster_factory):
    """A guest dirtying at full speed does not converge under the default
    100 ms limit; `migration set --auto-converge on` throttles its vCPUs
    and the migration completes."""
    cluster = cluster_factory()
    a, b = cluster.a, cluster.b
    cli_ok(a, "vm", "create", "vm1", "--kernel", MEMTOUCH, "--memory", "256M", "--vcpus", "2",
           "--cmdline", "check=1")
    cli_ok(a, "vm", "start", "vm1")
    wait_for(lambda: "check OK" in a.console("vm1"), 30, "a first full sweep and check")
    r = a.cli("migrate", "vm1", "--to", "host-b", "--auto-converge", "maybe")
    assert r.returncode == 2 and "is not on or off" in r.stderr
    mig = json.loads(cli_ok(a, "-o", "json", "migrate", "vm1", "--to", "host-b",
                            "--timeout", "120", "--detach"))["id"]
    wait_for(lambda: (a.migration(mig).get("progress") or {}).get("pass", 0) >= 3, 30,
             "a few passes without converging")
    assert a.migration(mig)["state"] == "transferring"
    cli_ok(a, "migration", "set", mig, "--auto-converge", "on")
    assert "auto-converge:     on" in cli_ok(a, "migration", "show", mig)
    done = a.wait_migration(mig, ("completed", "failed", "cancelled", "unknown"), timeout=100)
    assert done["state"] == "completed", done
    assert done["policy"]["auto_converge"] is True
    before = b.console("vm1").count("check OK")
    wait_for(lambda: b.console("vm1").count("check OK") > before, 20, "a check on host-b")
    assert "FAILED" not in b.console("vm1")
