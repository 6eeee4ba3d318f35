"""Live migration between two godwit-vmm processes over loopback: a
memtouch guest moves while it runs and verifies every page on the
destination; failures before the switchover leave it running on the
source; the destination rejects bad streams."""

import os
import re
import signal
import socket
import struct
import time

import pytest

from vmm import MEMTOUCH, progress_lines

pytestmark = pytest.mark.kvm


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_pair(vm_factory, memory="1G", vcpus=2, cmdline="rate=50000 verify=12"):
    src = vm_factory(MEMTOUCH, memory=memory, vcpus=vcpus, cmdline=cmdline)
    uri = f"tcp:127.0.0.1:{free_port()}"
    dst = vm_factory(None, memory=memory, vcpus=vcpus, extra=["--incoming", uri])
    dst.control()       # waits until the destination listens (socket exists)
    return src, dst, uri


def wait_migration(vm, states=("completed", "failed", "cancelled", "unknown"), timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            r = vm.control().call("query-migrate")["result"]
        except (OSError, AssertionError):
            return None      # the source exited (it does once completed)
        if r["state"] in states:
            return r
        time.sleep(0.05)
    raise AssertionError("migration did not finish")


def completed_summary(src):
    assert src.wait(60) == 0, src.stderr_text()
    m = re.search(r"migration=out completed total=(\d+)ms setup=(\d+)ms downtime=(\d+)ms "
                  r"passes=(\d+)", src.stderr_text())
    assert m, src.stderr_text()
    return dict(total=int(m[1]), setup=int(m[2]), downtime=int(m[3]), passes=int(m[4]))


def assert_guest_continued_and_verified(dst, before_console):
    """The destination's guest keeps sweeping (no reboot) and verifies OK."""
    assert dst.wait(60) == 0, dst.console() + dst.stderr_text()
    after = dst.console()
    assert "memtouch: region" not in after, "the guest rebooted on the destination"
    lines = progress_lines(after)
    assert len(lines) >= 2, after
    last_src = progress_lines(before_console)[-1]
    assert lines[0]["written"] >= last_src["written"], "counters went backwards"
    assert lines[-1]["written"] > lines[0]["written"], "the guest did not keep sweeping"
    assert re.search(r"memtouch: verify OK \d+ pages", after), after


def test_migrate_memtouch_and_verify_on_destination(vm_factory):
    src, dst, uri = start_pair(vm_factory)
    src.wait_console(r"t=3s")
    r = src.control().call("migrate", uri=uri, verify_memory=True)
    assert r["ok"], r
    summary = completed_summary(src)
    assert_guest_continued_and_verified(dst, src.console())
    assert "memory digest verified" in dst.stderr_text()
    # The digest of 1 GiB on each side is inside the downtime (about 0.3 s
    # each); measured 700-1030 ms here (6 runs), so 1000 ms was too tight.
    assert summary["downtime"] < 1500


def test_migrate_full_speed_guest(vm_factory):
    """memtouch at full speed re-dirties its whole 1 GiB faster than any
    link here carries it, so it needs a generous downtime limit (or the
    auto-converge of a later stage)."""
    src, dst, uri = start_pair(vm_factory, cmdline="verify=25")
    src.wait_console(r"t=2s")
    assert src.control().call("migrate", uri=uri, max_downtime_ms=5000, verify_memory=True)["ok"]
    completed_summary(src)
    assert_guest_continued_and_verified(dst, src.console())


def test_auto_converge_throttles_a_full_speed_guest_into_the_limit(vm_factory):
    """The same full-speed guest with the default 100 ms limit converges
    only with auto-converge: its vCPUs are throttled step by step (20%,
    then 10 points more) until the passes catch up, and the guest runs at
    full speed again on the destination."""
    src, dst, uri = start_pair(vm_factory, cmdline="verify=25")
    src.wait_console(r"t=2s")
    ctl = src.control()
    r = ctl.call("migrate", uri=uri, auto_converge="yes")
    assert not r["ok"] and '"auto_converge" must be true or false' in r["error"]["message"]
    assert ctl.call("migrate", uri=uri, auto_converge=True, timeout_s=120)["ok"]
    summary = completed_summary(src)
    steps = [int(p) for p in re.findall(r"vCPUs throttled (\d+)%", src.stderr_text())]
    print(f"auto-converge: throttle steps {steps}, {summary}")
    assert steps and steps[0] == 20 and steps == sorted(steps), steps
    assert summary["downtime"] < 1000, summary
    assert_guest_continued_and_verified(dst, src.console())


def test_the_throttle_ends_when_the_migration_is_cancelled(vm_factory):
    """With 1 ms allowed, a full-speed guest never converges, so
    auto-converge keeps throttling it, a step about every second (32 MiB
    region, 64 MiB/s cap).  A cancel ends the migration and the throttle
    with it: the guest is back at full speed on the source."""
    src, dst, uri = start_pair(vm_factory, memory="256M", cmdline="mem=32M verify=25")
    src.wait_console(r"t=2s")
    ctl = src.control()
    assert ctl.call("migrate", uri=uri, auto_converge=True, max_bandwidth=64 << 20,
                    max_downtime_ms=1)["ok"]

    def throttle():
        return ctl.call("query-migrate")["result"].get("throttle_pct", 0)

    wait_for_value = time.monotonic() + 30
    while throttle() < 50:
        assert time.monotonic() < wait_for_value, "the throttle never reached 50%"
        time.sleep(0.2)
    n = len(progress_lines(src.console()))
    src.wait_console(r"memtouch: t=\d+s", start=len(src.console()))
    time.sleep(2.5)
    throttled = [p["rate"] for p in progress_lines(src.console())[n + 1:]]
    assert ctl.call("migrate-cancel")["ok"]
    r = wait_migration(src)
    assert r["state"] == "cancelled" and r["throttle_pct"] == 0, r
    n = len(progress_lines(src.console()))
    time.sleep(3.5)
    free = [p["rate"] for p in progress_lines(src.console())[n + 1:]]
    print(f"guest pages/s throttled {throttled}, after the cancel {free}")
    assert throttled and free and min(free) > 1.5 * max(throttled), (throttled, free)
    assert_source_runs_on_and_verifies(src)


def test_at_least_two_dirty_passes_and_vmm_written_pages_travel(vm_factory):
    """max_downtime 0 keeps pre-copy iterating; meanwhile the VMM itself
    writes a marker into guest RAM (outside memtouch's region).  Then the
    limit is raised with migrate-set.  The digest comparison at switchover
    proves the marker page was re-sent: a page the VMM wrote but did not
    send would make the destination's RAM differ."""
    src, dst, uri = start_pair(vm_factory, cmdline="mem=512M rate=50000 verify=14")
    src.wait_console(r"t=2s")
    ctl = src.control()
    assert ctl.call("migrate", uri=uri, max_downtime_ms=0, verify_memory=True)["ok"]
    wait_migration(src, states=("active",))
    marker_gpa = 900 << 20
    while ctl.call("query-migrate")["result"]["pass"] < 2:
        time.sleep(0.05)
    assert ctl.call("poke", gpa=marker_gpa, value=0x60D817)["ok"]
    while ctl.call("query-migrate")["result"]["pass"] < 4:
        time.sleep(0.05)
    r = ctl.call("migrate-set", max_downtime_ms=2000)
    assert r["ok"] and r["result"]["max_downtime_ms"] == 2000
    summary = completed_summary(src)
    assert summary["passes"] >= 4
    assert_guest_continued_and_verified(dst, src.console())


def test_a_paused_vm_arrives_paused(vm_factory):
    src, dst, uri = start_pair(vm_factory, memory="256M", cmdline="rate=20000 verify=8")
    src.wait_console(r"t=2s")
    ctl = src.control()
    assert ctl.call("pause")["ok"]
    assert ctl.call("migrate", uri=uri)["ok"]
    completed_summary(src)
    dctl = dst.control()
    assert dctl.call("status")["result"]["state"] == "paused"
    before = dst.console()
    time.sleep(1.5)
    assert dst.console() == before, "the guest ran on the destination while paused"
    assert dctl.call("resume")["ok"]
    assert_guest_continued_and_verified(dst, src.console())


def assert_source_runs_on_and_verifies(src):
    before = len(src.console())
    assert src.control().call("status")["result"]["state"] == "running"
    src.wait_console(r"memtouch: t=\d+s", start=before)
    assert src.wait(60) == 0, src.console()
    assert re.search(r"memtouch: verify OK \d+ pages", src.console())


def test_timeout_when_the_guest_cannot_converge(vm_factory):
    src, dst, uri = start_pair(vm_factory, memory="256M", cmdline="rate=50000 verify=10")
    src.wait_console(r"t=1s")
    assert src.control().call("migrate", uri=uri, max_bandwidth=1 << 20, max_downtime_ms=1,
                              timeout_s=2)["ok"]
    r = wait_migration(src)
    assert r["state"] == "failed"
    assert "did not converge within the 2 s timeout" in r["error"]
    assert dst.wait(30) == 1
    assert "incoming migration failed" in dst.stderr_text()
    assert_source_runs_on_and_verifies(src)


def test_force_complete_switches_over_a_guest_that_cannot_converge(vm_factory):
    """With 1 MiB/s and 1 ms allowed, this guest would run into its
    timeout; force-complete sends the rest uncapped and switches over,
    accepting the longer pause, and the guest verifies on the destination."""
    src, dst, uri = start_pair(vm_factory, memory="256M", cmdline="rate=50000 verify=10")
    src.wait_console(r"t=1s")
    ctl = src.control()
    r = ctl.call("migrate-force-complete")
    assert not r["ok"] and r["error"]["code"] == "wrong-state", r
    assert ctl.call("migrate", uri=uri, max_bandwidth=1 << 20, max_downtime_ms=1,
                    timeout_s=60)["ok"]
    wait_migration(src, states=("active",))
    time.sleep(1)
    assert ctl.call("migrate-force-complete")["ok"]
    summary = completed_summary(src)
    assert "switching over on request" in src.stderr_text()
    assert summary["downtime"] > 1       # far above the 1 ms policy: the price of forcing
    assert_guest_continued_and_verified(dst, src.console())


def test_cancel_mid_migration(vm_factory):
    src, dst, uri = start_pair(vm_factory, memory="256M", cmdline="rate=50000 verify=10")
    src.wait_console(r"t=1s")
    ctl = src.control()
    assert ctl.call("migrate", uri=uri, max_bandwidth=4 << 20)["ok"]
    wait_migration(src, states=("active",))
    time.sleep(0.5)
    assert ctl.call("migrate-cancel")["ok"]
    r = wait_migration(src)
    assert r["state"] == "cancelled"
    assert dst.wait(30) == 1
    assert_source_runs_on_and_verifies(src)


def test_cancel_while_the_destination_stalls_is_prompt(vm_factory):
    """A stopped destination stops reading: the source's send blocks on a
    full socket.  A cancel shuts the connection under it instead of waiting
    out the 30 s send timeout, and the VM runs on at the source."""
    src, dst, uri = start_pair(vm_factory, memory="256M", cmdline="rate=50000 verify=10")
    src.wait_console(r"t=1s")
    ctl = src.control()
    assert ctl.call("migrate", uri=uri, max_bandwidth=32 << 20)["ok"]
    wait_migration(src, states=("active",))
    os.kill(dst.proc.pid, signal.SIGSTOP)
    try:
        # Wait until the source is stuck: its byte count (updated once a
        # second) stops moving once the socket buffers are full.
        sent = None
        for _ in range(20):
            now = ctl.call("query-migrate")["result"]["bytes_sent"]
            if now == sent:
                break
            sent = now
            time.sleep(1.2)
        else:
            raise AssertionError("the source never stalled")
        started = time.monotonic()
        assert ctl.call("migrate-cancel")["ok"]
        r = wait_migration(src)
        took = time.monotonic() - started
    finally:
        os.kill(dst.proc.pid, signal.SIGCONT)
    assert r is not None, "the source stopped answering after the cancel: " + src.stderr_text()
    assert r["state"] == "cancelled", r
    assert took < 5, f"the cancel took {took:.1f} s"
    assert dst.wait(30) == 1
    assert_source_runs_on_and_verifies(src)


def test_destination_killed_then_second_migration_succeeds(vm_factory):
    src, dst, uri = start_pair(vm_factory, memory="256M", cmdline="rate=50000 verify=20")
    src.wait_console(r"t=1s")
    ctl = src.control()
    assert ctl.call("migrate", uri=uri, max_bandwidth=8 << 20)["ok"]
    wait_migration(src, states=("active",))
    time.sleep(0.5)
    dst.kill()
    r = wait_migration(src)
    assert r["state"] == "failed", r
    assert ctl.call("status")["result"]["state"] == "running"

    uri2 = f"tcp:127.0.0.1:{free_port()}"
    dst2 = vm_factory(None, memory="256M", vcpus=2, extra=["--incoming", uri2])
    dst2.control()
    assert ctl.call("migrate", uri=uri2, verify_memory=True)["ok"]
    completed_summary(src)
    assert_guest_continued_and_verified(dst2, src.console())


def test_a_second_migrate_while_one_runs_is_refused(vm_factory):
    src, dst, uri = start_pair(vm_factory, memory="256M", cmdline="rate=50000")
    ctl = src.control()
    assert ctl.call("migrate", uri=uri, max_bandwidth=1 << 20)["ok"]
    r = ctl.call("migrate", uri=uri)
    assert not r["ok"] and "already running" in r["error"]["message"]
    assert ctl.call("migrate-cancel")["ok"]


@pytest.mark.parametrize("args, phrase", [
    ({}, 'migrate needs "uri"'),
    ({"uri": "udp:1.2.3.4:5"}, "must look like tcp:HOST:PORT"),
    ({"uri": "tcp:127.0.0.1:99999"}, "port must be 1..65535"),
    ({"uri": "tcp:127.0.0.1:1", "max_downtime_ms": -5}, "must be a non-negative integer"),
    ({"uri": "tcp:127.0.0.1:1", "verify_memory": "yes"}, "must be true or false"),
])
def test_bad_migrate_requests(vm_factory, args, phrase):
    vm = vm_factory(MEMTOUCH, memory="64M", cmdline="rate=1000")
    r = vm.control().call("migrate", **args)
    assert not r["ok"] and phrase in r["error"]["message"]
    assert vm.control().call("status")["result"]["state"] == "running"


def test_connection_refused_fails_cleanly(vm_factory):
    vm = vm_factory(MEMTOUCH, memory="64M", cmdline="rate=1000")
    assert vm.control().call("migrate", uri=f"tcp:127.0.0.1:{free_port()}")["ok"]
    r = wait_migration(vm)
    assert r["state"] == "failed" and "cannot connect" in r["error"]
    assert vm.control().call("status")["result"]["state"] == "running"


# --- hostile streams fed to --incoming ---

def record(rtype, payload=b""):
    return struct.pack("<HHI", rtype, 0, len(payload)) + payload


def hello(version=1, ram=256 << 20, ncpus=1, magic=b"GODWITMG"):
    return record(1, magic + struct.pack("<IQQII", version, 0, ram, ncpus, 4096))


def feed(vm_factory, data, memory="256M"):
    uri_port = free_port()
    dst = vm_factory(None, memory=memory, vcpus=1,
                     extra=["--incoming", f"tcp:127.0.0.1:{uri_port}"])
    dst.control()
    with socket.create_connection(("127.0.0.1", uri_port)) as s:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        reply = b""
        s.settimeout(10)
        try:
            while chunk := s.recv(4096):
                reply += chunk
        except OSError:
            pass
    assert dst.wait(30) == 1, dst.stderr_text()
    return dst.stderr_text()


@pytest.mark.parametrize("data, phrase", [
    (b"", "peer closed the migration connection"),
    (hello()[:20], "peer closed the migration connection"),
    (hello(magic=b"NOTGODWT"), "bad magic"),
    (hello(version=99), "stream version 99 is not supported"),
    (hello(ram=512 << 20), "source has 512 MiB of RAM, this VM 256 MiB"),
    (hello(ncpus=4), "source has 4 vCPUs, this VM 1"),
    (record(3, struct.pack("<I", 0)), "stream starts with RAM, not HELLO"),
    (hello() + record(3, struct.pack("<IQ", 1, (1 << 40) | 1) + b"\0" * 4096),
     "outside guest RAM"),
    (hello() + record(3, struct.pack("<IQ", 1, 0x100000 | 7)), "unknown page encoding 7"),
    (hello() + record(3, struct.pack("<IQ", 2, 0x100000 | 1) + b"x" * 100),
     "truncated in page 0x100000"),
    (hello() + struct.pack("<HHI", 3, 0, 1 << 30), "exceeds the 16777216-byte limit"),
    (hello() + record(5, b"\x06x86-vm" + struct.pack("<II", 0, 7)), "has version 7"),
    (hello() + record(5, b"\x05bogus" + struct.pack("<II", 0, 1)), "unknown state section"),
    (hello() + record(7), "the stream carried no x86-vm section"),
    (hello() + record(42), "unexpected unknown record (type 42)"),
])
def test_incoming_rejects_bad_streams(vm_factory, data, phrase):
    err = feed(vm_factory, data)
    assert "incoming migration failed" in err
    assert phrase in err, err


def test_destination_dies_after_go_source_stays_frozen(vm_factory, monkeypatch):
    """The one ambiguous moment: GO was sent, RESUMED never came.  The
    destination may be running the guest, so the source must not: it stays
    frozen, says "unknown", and refuses an operator's resume."""
    src = vm_factory(MEMTOUCH, memory="256M", vcpus=2, cmdline="rate=20000")
    uri = f"tcp:127.0.0.1:{free_port()}"
    monkeypatch.setenv("GODWIT_TEST_FAULT", "die-after-go")
    dst = vm_factory(None, memory="256M", vcpus=2, extra=["--incoming", uri])
    monkeypatch.delenv("GODWIT_TEST_FAULT")
    dst.control()
    src.wait_console(r"t=1s")
    ctl = src.control()
    assert ctl.call("migrate", uri=uri)["ok"]
    r = wait_migration(src)
    assert r["state"] == "unknown", r
    assert dst.wait(30) == 99
    assert ctl.call("status")["result"]["state"] == "frozen"
    before = src.console()
    time.sleep(1.5)
    assert src.console() == before, "the source guest ran after GO"
    r = ctl.call("resume")
    assert not r["ok"] and r["error"]["code"] == "wrong-state"
    assert "outcome unknown after GO" in src.stderr_text()
    assert ctl.call("quit")["ok"]
    assert src.wait(10) == 0
