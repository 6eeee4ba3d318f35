"""Guests boot, run in ring 3 on every vCPU, and end the VM with their
exit code; a guest fault is reported and ends the VM."""

import pytest

from vmm import HELLO, MEMTOUCH

pytestmark = pytest.mark.kvm


@pytest.mark.parametrize("vcpus", [1, 2, 8])
def test_hello_boots_and_exits_zero(vm_factory, vcpus):
    vm = vm_factory(HELLO, memory="64M", vcpus=vcpus, cmdline="greeting=yes", control=False)
    assert vm.wait(30) == 0
    console = vm.console()
    assert f'hello from ring 3 on {vcpus} vCPU(s), 64 MiB of RAM, cmdline "greeting=yes"' in console
    assert "hello: timer ticking" in console


def test_guest_fault_is_reported_and_ends_the_vm(vm_factory):
    vm = vm_factory(HELLO, cmdline="crash=1", control=False)
    assert vm.wait(30) == 128 + 6
    console = vm.console()
    assert "guest fault: vector 6 (invalid opcode)" in console
    assert "rip 0x" in console and "rax 0x" in console


def test_memtouch_1g_2vcpus_runs_and_verifies(vm_factory):
    vm = vm_factory(MEMTOUCH, memory="1G", vcpus=2, cmdline="verify=8", control=False)
    assert vm.wait(60) == 0, vm.console()
    console = vm.console()
    assert "on 2 vCPUs" in console
    from vmm import progress_lines
    lines = progress_lines(console)
    assert len(lines) >= 6
    # After the first sweep (first touch of fresh RAM) the guest runs at full speed.
    assert lines[-1]["sweeps"] >= 2
    assert "memtouch: verify OK 260608 pages" in console


def test_memtouch_detects_a_corrupted_page(vm_factory):
    """The proof has teeth: a page changed behind the guest's back fails verify."""
    # 2 vCPUs x 8192 pages at 2000 pages/s: in 4 s nobody reaches a share's end.
    vm = vm_factory(MEMTOUCH, memory="128M", vcpus=2, cmdline="mem=64M rate=2000 verify=4")
    m = vm.wait_console(r"region 0x([0-9a-f]+)-0x([0-9a-f]+) \((\d+) pages\)")
    start, npages = int(m[1], 16), int(m[3])
    victim = start + (npages // 2 - 10) * 4096      # near the end of cpu 0's share
    ctl = vm.control()
    assert ctl.call("poke", gpa=victim, value=0xDEADBEEF)["ok"]
    assert vm.wait(30) == 1
    assert (f"memtouch: verify FAILED at page {victim:#x} (cpu 0, sweep 0): expected 0 "
            f"found {0xDEADBEEF}") in vm.console()
