"""The guest's network side: echo.elf drives godwit-vmm's virtio-net over a
TAP in a network namespace of its own; it answers ping and UDP echoes
(every sequence number comes back), runs memtouch's sweeps beside the
traffic, and after a live migration announces itself (gratuitous ARP) on
the destination's TAP.

VMMs run under `ip netns exec` (which also gives them the namespace's
/sys, where the VMM checks its TAP); the test's own sockets enter the
namespace through setns(2) on this thread, and a socket stays in the
namespace it was made in."""

import ctypes
import os
import re
import socket
import struct
import subprocess
import time
import uuid
from contextlib import contextmanager

import pytest

from vmm import BUILD, VMM, Vm

pytestmark = pytest.mark.kvm

ECHO = os.path.join(BUILD, "guest", "echo.elf")
GUEST_IP, HOST_IP = "10.0.0.10", "10.0.0.1"
GUEST_MAC = "52:54:00:00:00:10"
CLONE_NEWNET = 0x40000000


def vmm_has_net():
    try:
        out = subprocess.run([VMM, "--help"], capture_output=True, text=True, timeout=10)
    except OSError:
        return False
    return "--net" in out.stdout + out.stderr


@pytest.fixture(autouse=True)
def needs_net():
    if not vmm_has_net():
        pytest.skip("godwit-vmm has no --net")
    if os.geteuid() != 0:
        pytest.skip("needs root for network namespaces and TAPs")
    if not os.path.exists(ECHO):
        pytest.skip("echo.elf is not built")


class Netns:
    """A network namespace with TAPs, removed (with them) at close."""

    def __init__(self):
        self.name = "gwn-" + uuid.uuid4().hex[:8]
        subprocess.run(["ip", "netns", "add", self.name], check=True)
        self.ip("link", "set", "lo", "up")
        self.libc = ctypes.CDLL(None, use_errno=True)

    def ip(self, *args):
        subprocess.run(["ip", "-n", self.name, *args], check=True, capture_output=True)

    def add_tap(self, name, addr=None):
        self.ip("tuntap", "add", "dev", name, "mode", "tap", "vnet_hdr")
        self.ip("link", "set", name, "up")
        if addr:
            self.ip("addr", "add", addr, "dev", name)

    @contextmanager
    def entered(self):
        """Runs the body in the namespace (this thread only)."""
        orig = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        target = os.open(f"/run/netns/{self.name}", os.O_RDONLY)
        try:
            if self.libc.setns(target, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns")
            try:
                yield
            finally:
                if self.libc.setns(orig, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), "setns back")
        finally:
            os.close(orig)
            os.close(target)

    def close(self):
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True)


@pytest.fixture
def netns():
    ns = Netns()
    yield ns
    ns.close()


@pytest.fixture
def ns_vm_factory(tmp_path):
    """Starts VMMs in a namespace; always killed and reaped at the end."""
    vms = []

    def start(ns, kernel, **kwargs):
        sub = tmp_path / f"nsvm{len(vms)}"
        sub.mkdir()
        vm = Vm(str(sub), kernel, netns=ns.name, **kwargs)
        vms.append(vm)
        return vm

    yield start
    for vm in vms:
        vm.close()


def start_echo(ns_vm_factory, ns, cmdline="", vcpus=2, memory="256M", tap="gtap0"):
    ns.add_tap(tap, f"{HOST_IP}/24")
    vm = ns_vm_factory(ns, ECHO, memory=memory, vcpus=vcpus,
                       cmdline=f"ip={GUEST_IP}/24 {cmdline}",
                       extra=["--net", f"tap={tap},mac={GUEST_MAC}"])
    vm.wait_console(rf"echo: {GUEST_IP} on {GUEST_MAC}")
    return vm


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ping(ns, count=5, timeout=2.0):
    """ICMP echo over a raw socket (no ping binary here); returns the RTTs in us."""
    with ns.entered():
        s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    s.settimeout(timeout)
    ident, rtts = os.getpid() & 0xFFFF, []
    try:
        for seq in range(count):
            data = bytes(range(56))
            head = struct.pack("!BBHHH", 8, 0, 0, ident, seq)
            packet = struct.pack("!BBHHH", 8, 0, checksum(head + data), ident, seq) + data
            t0 = time.monotonic()
            s.sendto(packet, (GUEST_IP, 0))
            while True:
                reply = s.recv(2048)
                ihl = (reply[0] & 15) * 4
                kind, _, _, rid, rseq = struct.unpack("!BBHHH", reply[ihl:ihl + 8])
                if kind == 0 and rid == ident and rseq == seq:
                    assert reply[ihl + 8:] == data
                    rtts.append((time.monotonic() - t0) * 1e6)
                    break
    finally:
        s.close()
    return rtts


def udp_echoes(ns, count, window=16, size=64, port=7, timeout=2.0):
    """Sends count datagrams (8-byte sequence number + padding), at most
    window unanswered; returns (sequence numbers back, seconds)."""
    with ns.entered():
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    s.connect((GUEST_IP, port))
    back, sent, pad = set(), 0, bytes(size - 8)
    t0 = time.monotonic()
    try:
        while len(back) < count:
            while sent < count and sent - len(back) < window:
                s.send(struct.pack("!Q", sent) + pad)
                sent += 1
            try:
                reply = s.recv(2048)
            except socket.timeout:
                break
            assert len(reply) == size and reply[8:] == pad
            back.add(struct.unpack("!Q", reply[:8])[0])
    finally:
        s.close()
    return back, time.monotonic() - t0


def echo_counters(console):
    lines = re.findall(r"echo: t=\d+s rx=(\d+) tx=(\d+) udp=(\d+) udp/s=\d+ ping=(\d+) arp=(\d+) "
                       r"drops=(\d+)", console)
    return [dict(zip(("rx", "tx", "udp", "ping", "arp", "drops"), map(int, m))) for m in lines]


def test_ping_and_udp_echo(ns_vm_factory, netns):
    vm = start_echo(ns_vm_factory, netns, vcpus=1)
    rtts = ping(netns, count=5)
    assert len(rtts) == 5
    back, _ = udp_echoes(netns, 1000, window=1)
    assert back == set(range(1000))
    back, seconds = udp_echoes(netns, 20000, window=32)
    assert back == set(range(20000))
    assert 20000 / seconds > 5000, f"only {20000 / seconds:.0f} echoes/s"
    # A datagram the full MTU long comes back whole.
    back, _ = udp_echoes(netns, 10, window=1, size=1472)
    assert back == set(range(10))
    # The guest counts what it answered, and reports it once a second.
    vm.wait_console(r"echo: t=\d+s rx=\d+ tx=\d+ udp=21010 ")
    counters = echo_counters(vm.console())[-1]
    assert counters["ping"] == 5 and counters["drops"] == 0 and counters["arp"] >= 1


def test_echo_with_memtouch_verifies(ns_vm_factory, netns):
    vm = start_echo(ns_vm_factory, netns, cmdline="mem=64M rate=20000 check=1 verify=6")
    assert "on 1 vCPUs" in vm.wait_console(r"memtouch: region .*").group(0)
    assert len(ping(netns, count=3)) == 3
    back, _ = udp_echoes(netns, 1000, window=8)
    assert back == set(range(1000))
    assert vm.wait(30) == 0, vm.console()
    console = vm.console()
    assert re.search(r"memtouch: check OK 16384 pages", console)
    assert "memtouch: verify OK 16384 pages" in console
    assert re.search(r"memtouch: t=\d+s pages/s=\d+ sweeps=\d+ written=\d+", console)


def test_echo_needs_an_address_and_a_nic(vm_factory):
    vm = vm_factory(ECHO, memory="64M", cmdline="port=7", control=False)
    assert vm.wait(30) == 2
    assert "echo: needs ip=" in vm.console()
    vm = vm_factory(ECHO, memory="64M", cmdline=f"ip={GUEST_IP}/24", control=False)
    assert vm.wait(30) == 3
    assert "echo: no virtio-net device" in vm.console()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_announce_after_migration(ns_vm_factory, netns):
    """After a live migration the guest sends a gratuitous ARP on the
    destination's TAP, acknowledges the announce, and echoes on."""
    src = start_echo(ns_vm_factory, netns, cmdline="mem=32M rate=5000 check=1")
    netns.add_tap("gtap1")
    with netns.entered():
        port = free_port()
        sniff = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0806))
        sniff.bind(("gtap1", 0))
    dst = ns_vm_factory(netns, None, memory="256M", vcpus=2,
                        extra=["--incoming", f"tcp:127.0.0.1:{port}",
                               "--net", f"tap=gtap1,mac={GUEST_MAC}"])
    sniff.settimeout(5)
    try:
        src.wait_console(r"memtouch: check OK")
        back, _ = udp_echoes(netns, 200, window=4)
        assert back == set(range(200))
        dst.control()
        reply = src.control().call("migrate", uri=f"tcp:127.0.0.1:{port}")
        assert reply["ok"], reply
        dst.wait_console(r"echo: announce")
        mac = bytes.fromhex(GUEST_MAC.replace(":", ""))
        guest_ip = socket.inet_aton(GUEST_IP)
        deadline = time.monotonic() + 5
        while True:
            assert time.monotonic() < deadline, "no gratuitous ARP on the destination's TAP"
            frame = sniff.recv(2048)
            arp = frame[14:42]
            if (frame[6:12] == mac and frame[:6] == b"\xff" * 6 and arp[6:8] == b"\x00\x01"
                    and arp[14:18] == guest_ip and arp[24:28] == guest_ip):
                break
        dst.wait_console(r"memtouch: check OK", start=0)
    finally:
        sniff.close()
    assert src.wait(30) == 0
    assert "guest fault" not in dst.console()
