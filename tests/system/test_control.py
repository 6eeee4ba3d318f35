"""The control socket: status, pause/resume (the guest really stops),
quit, and clear errors for bad requests."""

import json
import time

import pytest

from vmm import MEMTOUCH, progress_lines

pytestmark = pytest.mark.kvm


def test_status_reports_state_vcpus_memory_uptime(vm_factory):
    vm = vm_factory(MEMTOUCH, memory="128M", vcpus=2, cmdline="rate=1000")
    r = vm.control().call("status")
    assert r["ok"]
    res = r["result"]
    assert res["state"] == "running"
    assert res["vcpus"] == 2
    assert res["memory_bytes"] == 128 << 20
    time.sleep(0.3)
    assert vm.control().call("status")["result"]["uptime_ms"] >= 300


def test_pause_stops_the_guest_and_resume_continues(vm_factory):
    rate = 20000
    vm = vm_factory(MEMTOUCH, memory="128M", vcpus=2, cmdline=f"mem=64M rate={rate}")
    vm.wait_console(r"t=2s")
    ctl = vm.control()
    r = ctl.call("pause")
    assert r["ok"] and r["result"]["state"] == "paused"
    assert ctl.call("status")["result"]["state"] == "paused"
    before = vm.console()
    time.sleep(3)
    assert vm.console() == before, "the guest printed while paused"

    r = ctl.call("resume")
    assert r["ok"] and r["result"]["state"] == "running"
    vm.wait_console(r"memtouch: t=\d+s", start=len(before))
    vm.wait_console(r"memtouch: t=\d+s[^\n]*\n[^\n]*memtouch: t=\d+s", start=len(before))
    last_before = progress_lines(before)[-1]
    after = progress_lines(vm.console()[len(before):])
    # Had the guest kept running during the 3 s pause, it would have written
    # about 3 * rate more pages by the first line after resume.
    assert after[0]["written"] - last_before["written"] < 1.6 * rate
    assert after[1]["written"] > after[0]["written"], "the guest did not continue"


def test_pause_twice_and_resume_running_are_refused(vm_factory):
    vm = vm_factory(MEMTOUCH, memory="64M", cmdline="rate=1000")
    ctl = vm.control()
    r = ctl.call("resume")
    assert not r["ok"] and r["error"]["code"] == "wrong-state"
    assert "running" in r["error"]["message"]
    assert ctl.call("pause")["ok"]
    r = ctl.call("pause")
    assert not r["ok"] and r["error"]["code"] == "wrong-state"
    assert ctl.call("resume")["ok"]


def test_quit_ends_the_vm_cleanly(vm_factory):
    vm = vm_factory(MEMTOUCH, memory="64M", cmdline="rate=1000")
    vm.wait_console("region")
    assert vm.control().call("quit", ) == {"ok": True, "result": {}}
    assert vm.wait(10) == 0
    assert "quit requested" in vm.stderr_text()


def test_quit_while_paused(vm_factory):
    vm = vm_factory(MEMTOUCH, memory="64M", cmdline="rate=1000")
    ctl = vm.control()
    assert ctl.call("pause")["ok"]
    assert ctl.call("quit")["ok"]
    assert vm.wait(10) == 0


@pytest.mark.parametrize("line, code, phrase", [
    (b"this is not json", "bad-json", "invalid JSON"),
    (b"[1, 2]", "bad-json", "must be a JSON object"),
    (b'{"args": {}}', "bad-request", 'no "cmd"'),
    (b'{"cmd": 5}', "bad-request", '"cmd" must be a string'),
    (b'{"cmd": "status", "args": 3}', "bad-request", '"args" must be an object'),
    (b'{"cmd": "reboot"}', "unknown-command", "unknown command 'reboot'"),
    (b'{"cmd": "poke", "args": {"gpa": 1099511627776, "value": 1}}', "bad-request",
     "outside guest RAM"),
])
def test_bad_requests_get_clear_errors_and_change_nothing(vm_factory, line, code, phrase):
    vm = vm_factory(MEMTOUCH, memory="64M", cmdline="rate=1000")
    ctl = vm.control()
    r = ctl.send_raw(line)
    assert r["ok"] is False
    assert r["error"]["code"] == code
    assert phrase in r["error"]["message"]
    # The VM is untouched and the connection still works.
    assert ctl.call("status")["result"]["state"] == "running"


def test_request_id_is_echoed(vm_factory):
    vm = vm_factory(MEMTOUCH, memory="64M", cmdline="rate=1000")
    r = vm.control().send_raw(json.dumps({"cmd": "status", "id": "abc"}).encode())
    assert r["id"] == "abc" and r["ok"]
    r = vm.control().send_raw(json.dumps({"cmd": "nope", "id": 42}).encode())
    assert r["id"] == 42 and not r["ok"]
