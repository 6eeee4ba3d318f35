"""virtio-net in godwit-vmm: --net errors, the device in `status`, RARP
announce frames on the TAP after an incoming migration (captured with an
AF_PACKET socket), and, with the guest's echo app, ping and UDP echo
before, during and after a live migration between two TAPs on a bridge.

Everything network lives in a network namespace made per test and
removed after it.  The VMMs run in it (`ip netns exec`: a TAP is found by
name in the opener's namespace); the test's own sockets are opened on a
thread that joined it with setns(2), which affects only that thread."""

import ctypes
import fcntl
import os
import re
import select
import socket
import struct
import subprocess
import threading
import time

import pytest

from vmm import BUILD, MEMTOUCH, VMM, Vm

pytestmark = pytest.mark.kvm

ECHO = os.path.join(BUILD, "guest", "echo.elf")
MAC = "52:54:00:12:34:56"
CLONE_NEWNET = 0x40000000
ETH_P_ALL = 0x0003


def ip(*args, check=True):
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check)


@pytest.fixture
def netns():
    if os.geteuid() != 0:
        pytest.skip("needs root for network namespaces and TAPs")
    name = f"gwtn{os.getpid() % 100000}"
    ip("netns", "del", name, check=False)
    ip("netns", "add", name)
    ip("-n", name, "link", "set", "lo", "up")
    yield name
    ip("netns", "del", name, check=False)


def add_tap(ns, name):
    ip("-n", ns, "tuntap", "add", "dev", name, "mode", "tap", "vnet_hdr")
    ip("-n", ns, "link", "set", name, "up")


def open_tap(name):
    """Opens the TAP name as the VMM would (IFF_TAP | IFF_NO_PI |
    IFF_VNET_HDR); call it through in_netns."""
    TUNSETIFF = 0x400454CA
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), 0x0002 | 0x1000 | 0x4000))
    return fd


def in_netns(ns, fn, *args):
    """Runs fn(*args) on a thread inside namespace ns; returns its result."""
    out = {}

    def body():
        libc = ctypes.CDLL(None, use_errno=True)
        fd = os.open(f"/run/netns/{ns}", os.O_RDONLY)
        try:
            if libc.setns(fd, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns")
        finally:
            os.close(fd)
        try:
            out["value"] = fn(*args)
        except BaseException as e:  # noqa: BLE001 - re-raised on the caller's thread
            out["error"] = e

    t = threading.Thread(target=body)
    t.start()
    t.join()
    if "error" in out:
        raise out["error"]
    return out["value"]


class NsThread(threading.Thread):
    """A thread living in namespace ns, running fn(stop_event) -> result."""

    def __init__(self, ns, fn):
        super().__init__(daemon=True)
        self.ns, self.fn, self.stop = ns, fn, threading.Event()
        self.result, self.error = None, None
        self.ready = threading.Event()

    def run(self):
        libc = ctypes.CDLL(None, use_errno=True)
        fd = os.open(f"/run/netns/{self.ns}", os.O_RDONLY)
        libc.setns(fd, CLONE_NEWNET)
        os.close(fd)
        try:
            self.result = self.fn(self.stop, self.ready)
        except BaseException as e:  # noqa: BLE001
            self.error = e
            self.ready.set()

    def finish(self, timeout=10):
        self.stop.set()
        self.join(timeout)
        if self.error:
            raise self.error
        return self.result


@pytest.fixture
def ns_vms(tmp_path):
    vms = []

    def start(ns, kernel, **kw):
        d = tmp_path / f"vm{len(vms)}"
        d.mkdir()
        vm = Vm(str(d), kernel, netns=ns, **kw)
        vms.append(vm)
        return vm

    yield start
    for vm in vms:
        vm.close()


def run_in_ns(ns, *args, timeout=30):
    p = subprocess.run(["ip", "netns", "exec", ns, VMM, *args], capture_output=True, text=True,
                       timeout=timeout)
    return p.returncode, p.stderr


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def net_stats(vm):
    r = vm.control().call("net-stats")
    assert r["ok"], r
    return r["result"]["net"]


# ---- arguments and set-up errors ----

@pytest.mark.parametrize("value, message", [
    ("tap=x,mac=53:54:00:12:34:56", "not a unicast MAC"),
    ("tap=x,mac=00:00:00:00:00:00", "not a unicast MAC"),
    ("tap=x,mac=52:54:00:12:34", "not a unicast MAC"),
    ("tap=x", "needs mac="),
    ("mac=52:54:00:12:34:56", "exactly one of tap=IFNAME or fd=N"),
    ("tap=x,fd=3,mac=52:54:00:12:34:56", "exactly one of tap=IFNAME or fd=N"),
    ("tap=x,mac=52:54:00:12:34:56,speed=10", "unknown key 'speed'"),
    ("tap=x,mac", "not KEY=VALUE"),
    ("tap=,mac=52:54:00:12:34:56", "not an interface name"),
    ("tap=this-name-is-too-long,mac=52:54:00:12:34:56", "not an interface name"),
])
def test_bad_net_values_are_usage_errors(value, message):
    p = subprocess.run([VMM, "--kernel", MEMTOUCH, "--net", value], capture_output=True,
                       text=True, timeout=10)
    assert p.returncode == 2, p.stderr
    assert message in p.stderr


def test_duplicate_and_too_many_devices():
    base = [VMM, "--kernel", MEMTOUCH]
    p = subprocess.run(base + ["--net", "tap=a,mac=52:54:00:00:00:01",
                               "--net", "tap=a,mac=52:54:00:00:00:02"],
                       capture_output=True, text=True, timeout=10)
    assert p.returncode == 2 and "same TAP" in p.stderr
    p = subprocess.run(base + ["--net", "tap=a,mac=52:54:00:00:00:01",
                               "--net", "tap=b,mac=52:54:00:00:00:01"],
                       capture_output=True, text=True, timeout=10)
    assert p.returncode == 2 and "same MAC" in p.stderr
    many = []
    for i in range(5):
        many += ["--net", f"tap=t{i},mac=52:54:00:00:00:0{i + 1}"]
    p = subprocess.run(base + many, capture_output=True, text=True, timeout=10)
    assert p.returncode == 2 and "at most 4" in p.stderr


def test_missing_busy_and_non_tap_interfaces(netns):
    rc, err = run_in_ns(netns, "--kernel", MEMTOUCH, "--net", f"tap=nosuch0,mac={MAC}")
    assert rc == 1 and "TAP nosuch0 does not exist" in err, err
    rc, err = run_in_ns(netns, "--kernel", MEMTOUCH, "--net", f"tap=lo,mac={MAC}")
    assert rc == 1 and "not a TAP" in err, err

    # Busy: something else holds the TAP (a TAP without multi-queue takes one opener).
    add_tap(netns, "gwtap0")
    fd = in_netns(netns, open_tap, "gwtap0")
    try:
        rc, err = run_in_ns(netns, "--kernel", MEMTOUCH, "--net", f"tap=gwtap0,mac={MAC}")
        assert rc == 1 and "TAP gwtap0 is busy" in err, err
    finally:
        os.close(fd)


def test_status_lists_the_device(netns, ns_vms):
    add_tap(netns, "gwtap0")
    add_tap(netns, "gwtap1")
    vm = ns_vms(netns, MEMTOUCH, cmdline="rate=1000 verify=30",
                extra=["--net", f"tap=gwtap0,mac={MAC}", "--net", "tap=gwtap1,mac=52:54:00:00:00:02"])
    st = vm.control().call("status")["result"]
    assert [d["tap"] for d in st["net"]] == ["gwtap0", "gwtap1"]
    assert [d["mac"] for d in st["net"]] == [MAC, "52:54:00:00:00:02"]
    assert st["net"][0]["rx_frames"] == 0 and st["net"][0]["status"] == 0
    log = vm.stderr_text()
    assert "net0: virtio-net mac=52:54:00:12:34:56 tap=gwtap0 mmio=0x10000000000 irq=5" in log
    assert "net1: virtio-net mac=52:54:00:00:00:02 tap=gwtap1 mmio=0x10000001000 irq=6" in log
    assert "KVM_IOEVENTFD failed" not in log


def test_inherited_tap_fd(netns, tmp_path):
    """fd=N: the VMM adopts a TAP fd its parent opened (in the namespace),
    finds its name, and refuses an fd that is not a TAP."""
    add_tap(netns, "gwtap0")
    fd = in_netns(netns, open_tap, "gwtap0")
    sock = str(tmp_path / "vmm.sock")
    proc = subprocess.Popen([VMM, "--kernel", MEMTOUCH, "--cmdline", "rate=1000 verify=30",
                             "--console", str(tmp_path / "console"), "--control", sock,
                             "--net", f"fd={fd},mac={MAC}"],
                            pass_fds=[fd], stderr=subprocess.PIPE, text=True)
    os.close(fd)
    try:
        wait_for(lambda: os.path.exists(sock) or proc.poll() is not None, 10, "the VMM")
        from vmm import Control
        ctl = Control(sock)
        st = ctl.call("status")["result"]
        assert st["net"][0]["tap"] == "gwtap0" and st["net"][0]["mac"] == MAC
        ctl.call("quit")
        ctl.close()
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    devnull = os.open("/dev/null", os.O_RDONLY)
    try:
        p = subprocess.run([VMM, "--kernel", MEMTOUCH, "--net", f"fd={devnull},mac={MAC}"],
                           pass_fds=[devnull], capture_output=True, text=True, timeout=10)
    finally:
        os.close(devnull)
    assert p.returncode == 1 and "is not a TUN/TAP fd" in p.stderr, p.stderr


# ---- announce after an incoming migration ----

def capture(ifname, seconds):
    """Returns a function for NsThread: every frame seen on ifname as (t, bytes)."""
    def fn(stop, ready):
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        s.bind((ifname, 0))
        ready.set()
        frames, deadline = [], None
        while True:
            if stop.is_set() and deadline is None:
                deadline = time.monotonic() + seconds
            if deadline and time.monotonic() > deadline:
                break
            r, _, _ = select.select([s], [], [], 0.05)
            if r:
                data, addr = s.recvfrom(4096)
                frames.append((time.monotonic(), data))
        s.close()
        return frames
    return fn


def rarp_frames(frames, mac):
    m = bytes.fromhex(mac.replace(":", ""))
    return [(t, f) for t, f in frames if f[12:14] == b"\x80\x35" and f[6:12] == m]


def start_migration_pair(ns_vms, netns, kernel, cmdline, dst_mac=MAC):
    add_tap(netns, "gwtapa")
    add_tap(netns, "gwtapb")
    src = ns_vms(netns, kernel, cmdline=cmdline, extra=["--net", f"tap=gwtapa,mac={MAC}"])
    uri = f"tcp:127.0.0.1:{free_port()}"
    dst = ns_vms(netns, None, extra=["--incoming", uri, "--net", f"tap=gwtapb,mac={dst_mac}"])
    dst.control()
    src.control()
    return src, dst, uri


def wait_source_gone(src):
    """Waits for the migration to end; the source exits once it completed."""
    deadline = time.monotonic() + 60
    while src.proc.poll() is None and time.monotonic() < deadline:
        try:
            r = src.control().call("query-migrate")["result"]
        except (OSError, AssertionError, ValueError):
            # The source exited under us: drop the half-used connection
            # (its unsent bytes would fail again at close).
            try:
                src._control.close()
            except OSError:
                pass
            src._control = None
            break
        assert r["state"] not in ("failed", "cancelled", "unknown"), r
        time.sleep(0.05)
    assert src.wait(10) == 0, src.stderr_text()
    assert "migration=out completed" in src.stderr_text()


def test_rarp_announce_after_incoming_migration(netns, ns_vms):
    src, dst, uri = start_migration_pair(ns_vms, netns, MEMTOUCH, "rate=2000 verify=30")
    src.wait_console(r"t=1s")
    cap = NsThread(netns, capture("gwtapb", 1.5))
    cap.start()
    cap.ready.wait(5)
    assert src.control().call("migrate", uri=uri)["ok"]
    wait_source_gone(src)
    wait_for(lambda: "announce round 5/5" in dst.stderr_text(), 10, "5 announce rounds")
    frames = rarp_frames(cap.finish(), MAC)
    assert len(frames) == 5, frames
    f = frames[0][1]
    assert f[:6] == b"\xff" * 6
    assert f[14:22] == bytes.fromhex("0001080006040003")
    assert f[22:28] == bytes.fromhex(MAC.replace(":", "")) == f[32:38]
    gaps = [(b[0] - a[0]) * 1000 for a, b in zip(frames, frames[1:])]
    for gap, want in zip(gaps, (50, 150, 250, 350)):
        assert want - 10 <= gap <= want + 100, gaps
    lines = re.findall(r"net0 announce round \d/5: RARP from 52:54:00:12:34:56 on gwtapb",
                       dst.stderr_text())
    assert len(lines) == 5
    st = net_stats(dst)[0]
    assert st["announce_rounds"] == 5
    # Nothing on the source's TAP: it never announces.
    assert "announce" not in src.stderr_text()


def send_frames(ifname, frames):
    """Returns a function for in_netns: sends frames out of ifname (into
    the TAP's reader), in batches the TAP's queue (500) can hold."""
    def fn():
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
        s.bind((ifname, 0))
        for i, frame in enumerate(frames):
            s.send(frame)
            if i % 100 == 99:
                time.sleep(0.02)
        s.close()
    return fn


def test_incoming_vmm_holds_early_frames_and_takes_ready_probes(netns, ns_vms):
    """Before its guest arrives, an incoming VMM reads its TAP: it keeps the
    newest 512 frames for the guest and takes the agents' ready probes
    (to its own MAC, ethertype 0x88b5, "godwit ready probe ...") out of
    them, reporting the last one's text."""
    # No IPv6: the kernel's own solicitations would be frames we did not send.
    subprocess.run(["ip", "netns", "exec", netns, "sysctl", "-qw",
                    "net.ipv6.conf.default.disable_ipv6=1"], check=True)
    add_tap(netns, "gwtapb")
    dst = ns_vms(netns, None, extra=["--incoming", f"tcp:127.0.0.1:{free_port()}",
                                     "--net", f"tap=gwtapb,mac={MAC}"])
    dst.control()
    st = net_stats(dst)[0]
    assert (st["ready_probes"], st["last_ready_probe"], st["early_held"]) == (0, "", 0)
    mac = bytes.fromhex(MAC.replace(":", ""))
    other = bytes.fromhex("525400123457")
    src = bytes.fromhex("020000000001")

    def frame(dst_mac, ethertype, payload):
        return dst_mac + src + struct.pack("!H", ethertype) + payload.ljust(64, b"\0")

    frames = [frame(mac, 0x88b5, b"godwit ready probe m-%d" % i) for i in range(3)]
    frames += [frame(other, 0x88b5, b"godwit ready probe m-x"),   # not to this VM
               frame(mac, 0x88b5, b"someone else's experiment")]
    frames += [frame(mac, 0x0800, b"frame %d" % i) for i in range(600)]
    in_netns(netns, send_frames("gwtapb", frames))
    st = wait_for(lambda: (lambda s: s if s["early_held"] >= 602 else None)(net_stats(dst)[0]),
                  10, "the VMM to read every frame")
    assert st["ready_probes"] == 3
    assert st["last_ready_probe"] == "godwit ready probe m-2"
    assert st["early_held"] == 602 and st["early_discarded"] == 602 - 512


def test_mac_mismatch_fails_the_migration_and_the_source_runs_on(netns, ns_vms):
    src, dst, uri = start_migration_pair(ns_vms, netns, MEMTOUCH, "rate=2000 verify=30",
                                         dst_mac="52:54:00:12:34:57")
    src.wait_console(r"t=1s")
    assert src.control().call("migrate", uri=uri)["ok"]
    r = wait_for(lambda: (lambda s: s if s["state"] in ("failed", "completed") else None)(
        src.control().call("query-migrate")["result"]), 30, "the migration to end")
    assert r["state"] == "failed"
    assert "the source's MAC is 52:54:00:12:34:56, this VM's is 52:54:00:12:34:57" in r["error"]
    assert src.control().call("status")["result"]["state"] == "running"


def test_device_count_mismatch_fails_the_migration(netns, ns_vms):
    add_tap(netns, "gwtapa")
    src = ns_vms(netns, MEMTOUCH, cmdline="rate=2000 verify=30",
                 extra=["--net", f"tap=gwtapa,mac={MAC}"])
    uri = f"tcp:127.0.0.1:{free_port()}"
    dst = ns_vms(netns, None, extra=["--incoming", uri])
    dst.control()
    src.wait_console(r"t=1s")
    assert src.control().call("migrate", uri=uri)["ok"]
    r = wait_for(lambda: (lambda s: s if s["state"] in ("failed", "completed") else None)(
        src.control().call("query-migrate")["result"]), 30, "the migration to end")
    assert r["state"] == "failed"
    assert "the source has virtio-net device 0, this VM has 0" in r["error"]


# ---- with the guest's echo app ----

needs_echo = pytest.mark.skipif(not os.path.exists(ECHO), reason="guest echo app not built")

GUEST_IP = "10.0.0.10"


def udp_echo_rounds(n, size=64, timeout=1.0):
    """In the namespace: n UDP echo exchanges; returns RTTs in µs."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    rtts = []
    for i in range(n):
        payload = (b"%06d" % i) + b"x" * (size - 6)
        t = time.perf_counter()
        s.sendto(payload, (GUEST_IP, 7))
        try:
            while True:
                data, _ = s.recvfrom(65536)
                if data == payload:
                    rtts.append((time.perf_counter() - t) * 1e6)
                    break
        except socket.timeout:
            pass
    s.close()
    return rtts


def icmp_checksum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack(f"!{len(b) // 2}H", b))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


def ping(n, timeout=1.0):
    """In the namespace: n ICMP echo requests; returns RTTs in µs."""
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    s.settimeout(timeout)
    rtts = []
    for seq in range(n):
        pkt = struct.pack("!BBHHH", 8, 0, 0, 0x6777, seq) + b"godwit-ping-payload!"
        pkt = pkt[:2] + struct.pack("!H", icmp_checksum(pkt)) + pkt[4:]
        t = time.perf_counter()
        s.sendto(pkt, (GUEST_IP, 0))
        try:
            while True:
                data, _ = s.recvfrom(2048)
                icmp = data[(data[0] & 0xF) * 4:]
                if icmp[0] == 0 and struct.unpack("!HH", icmp[4:8]) == (0x6777, seq):
                    rtts.append((time.perf_counter() - t) * 1e6)
                    break
        except socket.timeout:
            pass
    s.close()
    return rtts


def stats_line(name, rtts):
    rtts = sorted(rtts)
    return (f"{name}: {len(rtts)} replies, RTT min {rtts[0]:.0f} µs, median "
            f"{rtts[len(rtts) // 2]:.0f} µs, max {rtts[-1]:.0f} µs")


@needs_echo
def test_ping_and_udp_echo(netns, ns_vms):
    add_tap(netns, "gwtap0")
    ip("-n", netns, "addr", "add", "10.0.0.1/24", "dev", "gwtap0")
    vm = ns_vms(netns, ECHO, cmdline=f"ip={GUEST_IP}/24", extra=["--net", f"tap=gwtap0,mac={MAC}"])
    vm.wait_console(r"echo: 10\.0\.0\.10")
    udp = in_netns(netns, udp_echo_rounds, 200)
    icmp = in_netns(netns, ping, 50)
    print(stats_line("udp", udp))
    print(stats_line("icmp", icmp))
    assert len(udp) >= 195 and len(icmp) >= 48
    big = in_netns(netns, udp_echo_rounds, 20, 1400)
    assert len(big) >= 19
    st = net_stats(vm)[0]
    assert st["rx_frames"] >= 250 and st["tx_frames"] >= 250, st
    assert st["status"] == 15 and st["rx_dropped"] == 0


def pinger(interval_s=0.005):
    """NsThread body: UDP echo every interval; returns [(send_t, got_reply)]."""
    def fn(stop, ready):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setblocking(False)
        sent, answered, seq = {}, set(), 0
        ready.set()
        next_t = time.monotonic()
        while not stop.is_set():
            now = time.monotonic()
            if now >= next_t:
                s.sendto(b"%08d" % seq, (GUEST_IP, 7))
                sent[seq] = now
                seq += 1
                next_t = now + interval_s
            r, _, _ = select.select([s], [], [], max(0.0, next_t - time.monotonic()))
            if r:
                try:
                    while True:
                        data, _ = s.recvfrom(2048)
                        answered.add(int(data[:8]))
                except (BlockingIOError, ValueError):
                    pass
        time.sleep(0.3)
        try:
            while True:
                data, _ = s.recvfrom(2048)
                answered.add(int(data[:8]))
        except (BlockingIOError, ValueError):
            pass
        s.close()
        return [(sent[i], i in answered) for i in sorted(sent)]
    return fn


@needs_echo
def test_migrate_while_pinging(netns, ns_vms):
    ip("-n", netns, "link", "add", "gwbr0", "type", "bridge")
    ip("-n", netns, "link", "set", "gwbr0", "up")
    ip("-n", netns, "addr", "add", "10.0.0.1/24", "dev", "gwbr0")
    src, dst, uri = start_migration_pair(ns_vms, netns, ECHO, f"ip={GUEST_IP}/24")
    for tap in ("gwtapa", "gwtapb"):
        ip("-n", netns, "link", "set", tap, "master", "gwbr0")
    src.wait_console(r"echo: 10\.0\.0\.10")
    assert len(in_netns(netns, udp_echo_rounds, 20)) >= 19

    p = NsThread(netns, pinger())
    p.start()
    p.ready.wait(5)
    time.sleep(1.0)
    t_migrate = time.monotonic()
    # verify_memory: the digest at switchover fails the migration if the
    # device wrote any page (RX buffers, used rings) without marking it dirty.
    # max_downtime 0 keeps pre-copy iterating while echoes flow, so pages
    # the device writes between passes must be re-sent; then let it finish.
    ctl = src.control()
    assert ctl.call("migrate", uri=uri, verify_memory=True, max_downtime_ms=0)["ok"]
    wait_for(lambda: ctl.call("query-migrate")["result"]["pass"] >= 4, 20, "4 passes")
    assert ctl.call("migrate-set", max_downtime_ms=500)["ok"]
    wait_source_gone(src)
    assert "memory digest verified" in dst.stderr_text()
    m = re.search(r"migration=out completed .* downtime_us=(\d+)", src.stderr_text())
    time.sleep(2.0)
    results = p.finish()

    before = [ok for t, ok in results if t < t_migrate]
    after = [ok for t, ok in results if t > time.monotonic() - 1.5]
    assert sum(before) >= 0.95 * len(before), "lost echoes before the migration"
    assert after and sum(after) >= 0.95 * len(after), "the guest does not answer after it moved"
    # The longest run of unanswered probes: the outage seen by a client.
    longest, run = 0.0, []
    for t, ok in results:
        if ok:
            if len(run) > 1:
                longest = max(longest, run[-1] - run[0])
            run = []
        else:
            run.append(t)
    print(f"migration downtime {m[1] if m else '?'} us; longest outage seen by the pinger "
          f"{longest * 1000:.0f} ms; {sum(ok for _, ok in results)}/{len(results)} answered")
    assert longest < 2.0
    wait_for(lambda: "announce round 5/5" in dst.stderr_text(), 10, "announce rounds")
    st = net_stats(dst)[0]
    assert st["rx_frames"] > 0 and st["tx_frames"] > 0
    assert st["driver_features"] & (1 << 21), "the echo driver should take GUEST_ANNOUNCE"
    assert "guest acknowledged the announce" in dst.stderr_text()
    assert st["config_status"] == 1
