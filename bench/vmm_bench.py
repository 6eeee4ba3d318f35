#!/usr/bin/env python3
"""godwit-vmm micro-benchmarks: VM start time and guest dirty rate.

Measures
  1. VM start time: from the exec of godwit-vmm to the guest's first
     console line (hello: 1 vCPU / 64M; memtouch: 1 GiB, 1 and 2 vCPUs).
  2. Guest dirty rate of memtouch (--memory 1G, mem=512M), 1 and 2 vCPUs:
     (a) without dirty logging, (b) with KVM dirty logging on and a host
     loop calling dirty-log-sync every --sync-interval-ms.

Python 3 standard library only.  See bench/README.md for what the
figures mean.
"""

import argparse
import datetime
import json
import os
import platform
import queue
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

from benchlib import BenchError, Control, cleanup_children, foreign_vmms, forget, on_sigterm, spawn

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

PROGRESS_RE = re.compile(
    r"memtouch: t=(\d+)s pages/s=(\d+) sweeps=(\d+) written=(\d+)")

# Every child we started and have not reaped yet; cleaned up on exit/Ctrl-C.


class Monitor(threading.Thread):
    """Samples, every 0.25 s, whether a godwit-vmm that we did not start is
    running (another user or test suite on the same 2-core box would skew
    every figure).  Results are attributed to the configuration running at
    the time."""

    def __init__(self):
        super().__init__(daemon=True)
        self.lock = threading.Lock()
        self.current = None
        self.samples = {}       # name -> [samples, samples with a foreign VMM]
        self.foreign_seen = set()
        self.stop_event = threading.Event()

    def set_current(self, name):
        with self.lock:
            self.current = name
            self.samples.setdefault(name, [0, 0])

    def sample(self):
        foreign = foreign_vmms()
        with self.lock:
            if self.current is None:
                return
            counts = self.samples[self.current]
            counts[0] += 1
            if foreign:
                counts[1] += 1
                self.foreign_seen.update(foreign)

    def run(self):
        while not self.stop_event.wait(0.25):
            self.sample()

    def busy_fraction(self, name):
        with self.lock:
            n, busy = self.samples.get(name, [0, 0])
        return busy / n if n else 0.0


MONITOR = Monitor()


# --------------------------------------------------------------------------
# One VM process
# --------------------------------------------------------------------------

class VM:
    """A godwit-vmm child with its console on a pipe and an optional
    control socket.  Use as a context manager: the child is always
    stopped and reaped on exit, the temp dir always removed."""

    def __init__(self, vmm, kernel, memory, vcpus, cmdline, control=False,
                 timeout=30.0, log_level="warn"):
        self.tmpdir = tempfile.mkdtemp(prefix="godwit-bench-")
        self.sock_path = os.path.join(self.tmpdir, "ctl.sock") if control else None
        self.stderr_path = os.path.join(self.tmpdir, "stderr.log")
        self.argv = [vmm, "--kernel", kernel, "--memory", memory,
                     "--vcpus", str(vcpus), "--cmdline", cmdline,
                     "--log-level", log_level]
        if self.sock_path:
            self.argv += ["--control", self.sock_path]
        self.timeout = timeout
        self.proc = None
        self.t_exec = None
        self.deadline = None
        self.lines = queue.Queue()      # (monotonic time, text) or (time, None) at EOF
        self.console = []               # every line seen, for error reports
        self._reader = None
        self._ctl = None

    # -- lifecycle ---------------------------------------------------------

    def start(self):
        MONITOR.sample()        # short runs would otherwise get no sample
        self._stderr = open(self.stderr_path, "wb")
        self.t_exec = time.monotonic()
        self.proc = spawn(self.argv, stdout=subprocess.PIPE, stderr=self._stderr, bufsize=0)
        self.deadline = self.t_exec + self.timeout
        self._reader = threading.Thread(target=self._read_console, daemon=True)
        self._reader.start()
        return self

    def _read_console(self):
        fd = self.proc.stdout.fileno()
        buf = b""
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                chunk = b""
            now = time.monotonic()
            if not chunk:
                if buf:
                    self.lines.put((now, buf.decode(errors="replace")))
                self.lines.put((now, None))
                return
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                self.lines.put((now, line.decode(errors="replace").rstrip("\r")))

    def remaining(self):
        return self.deadline - time.monotonic()

    def readline(self, what="a console line"):
        """Next console line as (time, text); raises BenchError on EOF or
        when the VM's deadline passes."""
        left = self.remaining()
        if left <= 0:
            raise BenchError("timed out after %.0f s waiting for %s" % (self.timeout, what))
        try:
            t, text = self.lines.get(timeout=left)
        except queue.Empty:
            raise BenchError("timed out after %.0f s waiting for %s" % (self.timeout, what))
        if text is None:
            rc = self._poll_rc()
            raise BenchError("console closed (VMM exit status %s) while waiting for %s"
                             % (rc, what))
        self.console.append(text)
        return t, text

    def _poll_rc(self, wait=1.0):
        try:
            return self.proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            return "still running"

    def stderr_tail(self, n=5):
        try:
            with open(self.stderr_path, errors="replace") as f:
                return "".join(f.readlines()[-n:]).strip()
        except OSError:
            return ""

    def stop(self, graceful=True):
        """Quit over the control socket (if any), else kill; always reap."""
        if self.proc is None:
            return None
        if self.proc.poll() is None and graceful and self.sock_path:
            try:
                self.command("quit", timeout=2.0)
            except (BenchError, OSError):
                pass
            try:
                self.proc.wait(timeout=5.0)
            except subprocess.TimeoutExpired:
                pass
        if self.proc.poll() is None:
            self.proc.kill()
        rc = self.proc.wait()
        forget(self.proc)
        return rc

    def close(self):
        try:
            self.stop(graceful=False)
        finally:
            if self._ctl:
                self._ctl.close()
                self._ctl = None
            if self.proc is not None and self.proc.stdout:
                self.proc.stdout.close()
            if self._reader is not None:
                self._reader.join(timeout=2.0)
            if getattr(self, "_stderr", None):
                self._stderr.close()
            shutil.rmtree(self.tmpdir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()
        return False

    # -- control socket ----------------------------------------------------

    def connect(self):
        """A new connection to the control socket (waits for it to appear)."""
        while True:
            try:
                return Control(self.sock_path, timeout=max(0.1, min(5.0, self.remaining())))
            except OSError as e:
                if self.proc.poll() is not None:
                    raise BenchError("VMM exited (status %s) before its control socket "
                                     "was ready" % self.proc.returncode)
                if self.remaining() <= 0:
                    raise BenchError("control socket not ready: %s" % e)
                time.sleep(0.005)

    def command(self, cmd, timeout=5.0):
        if self._ctl is None:
            self._ctl = self.connect()
        return self._ctl.call(cmd, timeout=min(timeout, max(0.1, self.remaining())))


# --------------------------------------------------------------------------
# Measurements
# --------------------------------------------------------------------------

def summarize(values):
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values),
            "max": max(values), "n": len(values)}


def describe_failure(vm, err):
    msg = str(err)
    tail = vm.stderr_tail()
    if tail:
        msg += " | stderr: " + tail.replace("\n", " / ")
    return msg


def start_time_once(cfg, image, memory, vcpus, cmdline, use_control):
    """ms from exec to the first console line."""
    with VM(cfg.vmm, image, memory, vcpus, cmdline, control=use_control,
            timeout=cfg.timeout) as vm:
        try:
            t_line, text = vm.readline("the first console line")
            ms = (t_line - vm.t_exec) * 1000.0
            if use_control:
                rc = vm.stop(graceful=True)
            else:
                # hello exits by itself; drain the rest of its console.
                while True:
                    try:
                        vm.readline("the VM to exit")
                    except BenchError:
                        break
                rc = vm.stop(graceful=False)
            if rc != 0:
                raise BenchError("VMM exit status %s (first line %r)" % (rc, text))
            return ms, text
        except BenchError as e:
            raise BenchError(describe_failure(vm, e))


def bench_start_time(cfg, name, image, memory, vcpus, cmdline, use_control):
    MONITOR.set_current(name)
    for i in range(cfg.warmup):
        try:
            ms, _ = start_time_once(cfg, image, memory, vcpus, cmdline, use_control)
            log(cfg, "  %s warm-up run: %.1f ms (discarded)" % (name, ms))
        except BenchError as e:
            log(cfg, "  %s warm-up run: FAILED: %s" % (name, e))
    samples, errors, first = [], [], None
    for i in range(cfg.runs):
        try:
            ms, text = start_time_once(cfg, image, memory, vcpus, cmdline, use_control)
            samples.append(ms)
            first = first or text
            log(cfg, "  %s run %d: %.1f ms" % (name, i + 1, ms))
        except BenchError as e:
            errors.append(str(e))
            log(cfg, "  %s run %d: FAILED: %s" % (name, i + 1, e))
    return {"name": name, "image": os.path.basename(image), "memory": memory,
            "vcpus": vcpus, "cmdline": cmdline, "samples_ms": samples,
            "ms": summarize(samples), "errors": errors, "first_line": first,
            "foreign_vmm_fraction": MONITOR.busy_fraction(name)}


def next_progress(vm, what):
    while True:
        t, text = vm.readline(what)
        m = PROGRESS_RE.search(text)
        if m:
            return t, {"t": int(m.group(1)), "pages_per_s": int(m.group(2)),
                       "sweeps": int(m.group(3)), "written": int(m.group(4))}
        if "verify FAILED" in text:
            raise BenchError(text)


def warm_up(vm):
    """Waits until the first sweep has finished (sweeps >= 1); returns the
    progress line that showed it."""
    while True:
        t, p = next_progress(vm, "memtouch to finish its first sweep")
        if p["sweeps"] >= 1:
            return t, p


class SyncLoop(threading.Thread):
    """dirty-log-sync every interval on its own control connection."""

    def __init__(self, conn, interval_s, deadline):
        super().__init__(daemon=True)
        self.conn = conn
        self.interval = interval_s
        self.deadline = deadline
        self.stop_event = threading.Event()
        self.syncs = []         # (t_sent, t_reply, dirty_pages)
        self.error = None
        self.t_start = None
        self.t_end = None

    def run(self):
        try:
            self.t_start = time.monotonic()
            next_t = self.t_start + self.interval
            while not self.stop_event.is_set():
                delay = next_t - time.monotonic()
                if delay > 0 and self.stop_event.wait(delay):
                    break
                if time.monotonic() > self.deadline:
                    raise BenchError("sync loop ran past the VM's deadline")
                t0 = time.monotonic()
                res = self.conn.call("dirty-log-sync", timeout=5.0)
                t1 = time.monotonic()
                self.syncs.append((t0, t1, int(res["dirty_pages"])))
                next_t += self.interval
                if next_t < t1:         # fell behind: do not burst
                    next_t = t1
        except Exception as e:          # reported by the main thread
            self.error = e
        finally:
            self.t_end = time.monotonic()


def dirty_rate_once(cfg, vcpus, with_log):
    cmdline = "mem=%s progress=1" % cfg.dirty_mem
    with VM(cfg.vmm, cfg.memtouch, cfg.dirty_memory, vcpus, cmdline, control=True,
            timeout=cfg.timeout) as vm:
        try:
            t_warm, p_warm = warm_up(vm)
            warm = {"first_sweep_done_by_s": p_warm["t"],
                    "host_s_from_exec": round(t_warm - vm.t_exec, 3)}
            if not with_log:
                lines = [next_progress(vm, "a progress line")[1]
                         for _ in range(cfg.samples)]
                rates = [p["pages_per_s"] for p in lines]
                vm.stop(graceful=True)
                return {"guest_pages_per_s": statistics.mean(rates),
                        "guest_samples": rates, "warm_up": warm}

            ctl = vm.connect()
            try:
                ctl.call("dirty-log-start")
                t_log_on = time.monotonic()
                loop = SyncLoop(ctl, cfg.sync_interval_ms / 1000.0, vm.deadline)
                loop.start()
                try:
                    # A progress line covers the guest's previous second; only
                    # lines whose whole second lies after dirty-log-start count.
                    rates = []
                    while len(rates) < cfg.samples:
                        try:
                            t, p = next_progress(vm, "a progress line with dirty logging on")
                        except BenchError as e:
                            if loop.error:
                                raise BenchError("%s (sync loop: %s)" % (e, loop.error))
                            raise
                        if loop.error:
                            raise BenchError("sync loop: %s" % loop.error)
                        if t - 1.0 >= t_log_on + 0.02:
                            rates.append(p["pages_per_s"])
                finally:
                    loop.stop_event.set()
                    loop.join(timeout=10.0)
                if loop.is_alive():
                    raise BenchError("sync loop did not stop")
                if loop.error:
                    raise BenchError("sync loop: %s" % loop.error)
                ctl.call("dirty-log-stop")
            finally:
                ctl.close()
            syncs = loop.syncs
            if not syncs:
                raise BenchError("no dirty-log-sync completed")
            elapsed = syncs[-1][1] - t_log_on
            total = sum(s[2] for s in syncs)
            lat = [(s[1] - s[0]) * 1000.0 for s in syncs]
            vm.stop(graceful=True)
            return {"guest_pages_per_s": statistics.mean(rates),
                    "guest_samples": rates, "warm_up": warm,
                    "host_dirty_pages_per_s": total / elapsed if elapsed > 0 else None,
                    "host_dirty_pages_total": total,
                    "host_window_s": elapsed,
                    "syncs": len(syncs),
                    "sync_ms_median": statistics.median(lat),
                    "sync_ms_max": max(lat),
                    "sync_period_ms_actual": elapsed * 1000.0 / len(syncs)}
        except BenchError as e:
            raise BenchError(describe_failure(vm, e))


def bench_dirty_rate(cfg, vcpus, with_log):
    name = "memtouch %d vCPU%s, %s" % (vcpus, "s" if vcpus > 1 else "",
                                       "dirty log + sync" if with_log else "no dirty log")
    res = {"name": name, "vcpus": vcpus, "dirty_logging": with_log,
           "memory": cfg.dirty_memory, "mem": cfg.dirty_mem, "runs": [], "errors": []}
    if with_log:
        res["sync_interval_ms"] = cfg.sync_interval_ms
    MONITOR.set_current(name)
    for i in range(cfg.dirty_runs):
        try:
            r = dirty_rate_once(cfg, vcpus, with_log)
            res["runs"].append(r)
            msg = "  %s run %d: guest %s pages/s" % (name, i + 1, fmt_rate(r["guest_pages_per_s"]))
            if with_log:
                msg += ", host %s pages/s (%d syncs, median %.2f ms each)" % (
                    fmt_rate(r["host_dirty_pages_per_s"]), r["syncs"], r["sync_ms_median"])
            log(cfg, msg)
        except BenchError as e:
            res["errors"].append(str(e))
            log(cfg, "  %s run %d: FAILED: %s" % (name, i + 1, e))
    runs = res["runs"]
    res["guest_pages_per_s"] = summarize([r["guest_pages_per_s"] for r in runs])
    if with_log:
        res["host_dirty_pages_per_s"] = summarize(
            [r["host_dirty_pages_per_s"] for r in runs if r["host_dirty_pages_per_s"]])
        res["sync_ms_median"] = summarize([r["sync_ms_median"] for r in runs])
    res["foreign_vmm_fraction"] = MONITOR.busy_fraction(name)
    return res


# --------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------

def log(cfg, msg):
    if not cfg.quiet:
        print(msg, file=sys.stderr, flush=True)


def fmt_rate(v):
    if v is None:
        return "-"
    if v >= 1e6:
        return "%.2fM" % (v / 1e6)
    if v >= 1e3:
        return "%.1fK" % (v / 1e3)
    return "%.0f" % v


def fmt_busy(r):
    f = r.get("foreign_vmm_fraction") or 0.0
    return "%d%%" % round(f * 100) if f else "-"


def fmt_ms(v):
    return "-" if v is None else "%.1f" % v


def table(headers, rows):
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows)]
    out = ["  ".join(str(h).ljust(w) if i == 0 else str(h).rjust(w)
                     for i, (h, w) in enumerate(zip(headers, widths))),
           "  ".join("-" * w for w in widths)]
    for r in rows:
        out.append("  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w)
                             for i, (c, w) in enumerate(zip(r, widths))))
    return "\n".join(out)


def render(report):
    parts = []
    st = report.get("start_time", [])
    if st:
        rows = []
        for r in st:
            s = r["ms"]
            ok = "%d/%d" % (len(r["samples_ms"]), len(r["samples_ms"]) + len(r["errors"]))
            rows.append([r["name"], fmt_ms(s and s["median"]), fmt_ms(s and s["min"]),
                         fmt_ms(s and s["max"]), ok, fmt_busy(r)])
        parts.append("VM start time (exec -> first console line), ms\n"
                     + table(["config", "median", "min", "max", "ok", "busy"], rows))
    dr = report.get("dirty_rate", [])
    if dr:
        rows = []
        for r in dr:
            g = r["guest_pages_per_s"]
            h = r.get("host_dirty_pages_per_s")
            sm = r.get("sync_ms_median")
            ok = "%d/%d" % (len(r["runs"]), len(r["runs"]) + len(r["errors"]))
            rows.append([r["name"],
                         fmt_rate(g and g["median"]),
                         (fmt_rate(g["min"]) + ".." + fmt_rate(g["max"])) if g else "-",
                         fmt_rate(h["median"]) if h else "-",
                         ("%.2f" % sm["median"]) if sm else "-",
                         ok, fmt_busy(r)])
        parts.append("Guest dirty rate, memtouch --memory %s mem=%s, pages/s "
                     "(sync every %d ms when logging)\n"
                     % (report["config"]["dirty_memory"], report["config"]["dirty_mem"],
                        report["config"]["sync_interval_ms"])
                     + table(["config", "guest median", "guest range", "host dirty/s",
                              "sync ms", "ok", "busy"], rows))
    if any(r.get("foreign_vmm_fraction") for r in st + dr):
        parts.append("busy: share of the time another godwit-vmm (not started by this "
                     "benchmark) was running;\n      figures with busy > 0% are skewed by "
                     "CPU contention.")
    errs = [(r["name"], e) for r in st + dr for e in r["errors"]]
    if errs:
        parts.append("Failures:\n" + "\n".join("  %s: %s" % (n, e) for n, e in errs))
    return "\n\n".join(parts)


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------

def parse_args(argv):
    ap = argparse.ArgumentParser(
        description="Benchmarks godwit-vmm: VM start time and memtouch guest dirty "
                    "rate with and without KVM dirty logging.",
        epilog="What each figure means: bench/README.md.  Exit status 0 if every run "
               "succeeded, 1 if any failed, 130 if interrupted.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--build", default=os.path.join(REPO_ROOT, "build"),
                    help="meson build directory (holds src/godwit-vmm and guest/*.elf)")
    ap.add_argument("--runs", type=int, default=5,
                    help="runs per start-time configuration")
    ap.add_argument("--warmup", type=int, default=1,
                    help="discarded start-time runs before the measured ones")
    ap.add_argument("--dirty-runs", type=int, default=3,
                    help="runs (fresh VMs) per dirty-rate configuration")
    ap.add_argument("--samples", type=int, default=3,
                    help="progress lines (seconds) averaged per dirty-rate run")
    ap.add_argument("--sync-interval-ms", type=float, default=50.0,
                    help="period of the dirty-log-sync loop")
    ap.add_argument("--dirty-memory", default="1G", help="--memory for dirty-rate VMs")
    ap.add_argument("--dirty-mem", default="512M", help="memtouch mem= for dirty-rate VMs")
    ap.add_argument("--timeout", type=float, default=30.0,
                    help="seconds before a VM is considered hung and killed")
    ap.add_argument("--only", choices=["start", "dirty"],
                    help="run only one of the two benchmarks")
    ap.add_argument("--json", metavar="FILE", help="also write the figures as JSON to FILE")
    ap.add_argument("--quiet", action="store_true", help="no per-run progress on stderr")
    cfg = ap.parse_args(argv)
    if cfg.runs < 1 or cfg.dirty_runs < 1 or cfg.samples < 1 or cfg.warmup < 0:
        ap.error("--runs, --dirty-runs and --samples must be at least 1")
    if cfg.sync_interval_ms <= 0:
        ap.error("--sync-interval-ms must be positive")
    cfg.build = os.path.abspath(cfg.build)
    cfg.vmm = os.path.join(cfg.build, "src", "godwit-vmm")
    cfg.hello = os.path.join(cfg.build, "guest", "hello.elf")
    cfg.memtouch = os.path.join(cfg.build, "guest", "memtouch.elf")
    for path in (cfg.vmm, cfg.hello, cfg.memtouch):
        if not os.path.exists(path):
            ap.error("%s not found (build with `ninja -C %s`)" % (path, cfg.build))
    return cfg


def main(argv=None):
    cfg = parse_args(sys.argv[1:] if argv is None else argv)
    # Ctrl-C / SIGTERM -> KeyboardInterrupt even if the shell started us
    # with SIGINT ignored (background job): the VMs must not be left behind.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, on_sigterm)
    report = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": {"host": platform.node(), "kernel": platform.release(),
                    "cpus": os.cpu_count()},
        "config": {"build": cfg.build, "runs": cfg.runs, "warmup": cfg.warmup, "dirty_runs": cfg.dirty_runs,
                   "samples": cfg.samples, "sync_interval_ms": cfg.sync_interval_ms,
                   "dirty_memory": cfg.dirty_memory, "dirty_mem": cfg.dirty_mem,
                   "timeout_s": cfg.timeout},
        "start_time": [], "dirty_rate": [],
    }
    MONITOR.start()
    others = foreign_vmms()
    if others:
        log(cfg, "warning: %d other godwit-vmm process(es) running (pids %s); figures "
            "will be skewed" % (len(others), " ".join(map(str, others))))
    report["machine"]["loadavg_at_start"] = os.getloadavg()
    try:
        if cfg.only in (None, "start"):
            log(cfg, "VM start time (%d runs each)" % cfg.runs)
            report["start_time"] = [
                bench_start_time(cfg, "hello 1 vCPU 64M", cfg.hello, "64M", 1, "", False),
                bench_start_time(cfg, "memtouch 1 vCPU 1G", cfg.memtouch, "1G", 1,
                                 "progress=1", True),
                bench_start_time(cfg, "memtouch 2 vCPUs 1G", cfg.memtouch, "1G", 2,
                                 "progress=1", True),
            ]
        if cfg.only in (None, "dirty"):
            log(cfg, "Guest dirty rate (%d runs each)" % cfg.dirty_runs)
            for with_log in (False, True):
                for vcpus in (1, 2):
                    report["dirty_rate"].append(bench_dirty_rate(cfg, vcpus, with_log))
    except KeyboardInterrupt:
        cleanup_children()
        print("\ninterrupted; VMs stopped", file=sys.stderr)
        return 130
    finally:
        MONITOR.stop_event.set()
        cleanup_children()

    report["foreign_vmm_pids"] = sorted(MONITOR.foreign_seen)
    print(render(report))
    if cfg.json:
        with open(cfg.json, "w") as f:
            json.dump(report, f, indent=2)
            f.write("\n")
    failed = any(r["errors"] for r in report["start_time"] + report["dirty_rate"])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
