#!/usr/bin/env python3
"""godwit live-migration benchmark: migrations over loopback between two
godwit-vmm processes, against one TCP stream as the reference.

Cases (every one with memtouch.elf, 2 vCPUs by default, 1 GiB and 4 GiB):
  idle  memtouch touches all of its RAM (rate=0) until its first sweep is
        done, then the guest is paused and migrated.  A paused guest
        dirties nothing, so this is the best case: one pass, then the
        switchover.  (The guest arrives paused on the destination, or
        running with older builds; it is resumed if needed, seen to run,
        and quit.)
  load  memtouch paced at --rate pages/s (default 50000, about 200 MB/s of
        dirtying) over all of its RAM, migrated while it runs, once its
        first sweep is complete.
  full  memtouch at full speed (rate=0), migrated while it runs with
        auto-converge on: it dirties faster than the link carries, so it
        converges only once its vCPUs are throttled (not in the default
        cases; ask with --cases full).

For each migration: total time, downtime (source freeze -> destination
resume), passes, bytes sent, throughput (bytes sent / total time), and
where the time went: first-pass and dirty-pass throughput (from
query-migrate polled every --poll-ms), bytes still queued in the TCP
connection when pre-copy ended, and the CPU time of the source's migration
thread and of the destination's receive thread.

References, measured in the same run:
  * one TCP stream over loopback, Python sender and a separate receiver
    process (the project's aim: migration throughput >= half of it);
  * the first write of a fresh memfd mapping, which is what the
    destination does to its guest RAM in the first pass.

Python 3 standard library only.  See bench/README.md.
"""

import argparse
import datetime
import hashlib
import json
import mmap
import os
import platform
import re
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

from benchlib import (BenchError, Control, ControlClosed, cleanup_children, foreign_vmms,
                      forget, on_sigterm, spawn)

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MIB = 1 << 20
GIB = 1 << 30
CLK_TCK = os.sysconf("SC_CLK_TCK")

PROGRESS_RE = re.compile(r"memtouch: t=(\d+)s pages/s=(\d+) sweeps=(\d+) written=(\d+)")
COMPLETED_RE = re.compile(
    r"migration=out completed total=(\d+)ms setup=(\d+)ms downtime=(\d+)ms passes=(\d+) "
    r"sent=(\d+)MiB pages=(\d+) zero_pages=(\d+)(?: downtime_us=(\d+))?")
SWITCHOVER_RE = re.compile(r"switchover took (\d+) ms on the source clock")
# Newer VMMs log the switchover's steps (microseconds) on one line.
SWITCHOVER_STEPS_RE = re.compile(r"migration=out switchover (.*)")
STEP_RE = re.compile(r"(\w+)=(\d+)(us)?")
OUT_FAILED_RE = re.compile(r"migration=out (failed|cancelled|unknown) after .*")
OUT_PROGRESS_RE = re.compile(
    r"migration=out progress state=(\w+) elapsed=(\d+)ms pass=(\d+) sent=(\d+)MiB "
    r"remaining=(\d+)MiB total=(\d+)MiB throughput=(\d+)MB/s dirty_rate=(\d+)pages/s "
    r"expected_downtime=(\d+)ms")
THROTTLE_RE = re.compile(r"auto-converge: .* vCPUs throttled (\d+)%")
IN_COMPLETED_RE = re.compile(
    r"migration=in completed: (\d+) pages in (\d+) passes, (\d+) MiB received")
FINAL_STATES = ("completed", "failed", "cancelled", "unknown")

# Every child process we started and have not reaped yet (PID 1 here does
# not reap orphans, and a leftover 4 GiB VMM would skew everything after).
_TMPDIRS = set()


# --------------------------------------------------------------------------
# Processes
# --------------------------------------------------------------------------

def reap(proc, timeout=10.0):
    """Waits up to timeout for proc, then kills it; always reaps.  Returns
    (exit status, True if it had to be killed)."""
    killed = False
    try:
        rc = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        killed = True
        try:
            proc.kill()
        except OSError:
            pass
        rc = proc.wait()
    forget(proc)
    return rc, killed


def make_tmpdir(cfg):
    d = tempfile.mkdtemp(prefix="godwit-migbench-")
    _TMPDIRS.add(d)
    return d


def remove_tmpdir(cfg, d):
    _TMPDIRS.discard(d)
    if cfg.keep_logs:
        return
    shutil.rmtree(d, ignore_errors=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Vmm:
    """One godwit-vmm child; console, stderr and control socket in dir."""

    def __init__(self, cfg, name, dirpath, memory, vcpus, kernel=None, cmdline="",
                 incoming=None):
        self.cfg = cfg
        self.name = name
        self.console_path = os.path.join(dirpath, name + ".console")
        self.stderr_path = os.path.join(dirpath, name + ".stderr")
        self.sock_path = os.path.join(dirpath, name + ".sock")
        self.argv = [cfg.vmm, "--memory", memory, "--vcpus", str(vcpus),
                     "--console", self.console_path, "--control", self.sock_path,
                     "--log-level", "debug"]
        if kernel:
            self.argv += ["--kernel", kernel, "--cmdline", cmdline]
        if incoming:
            self.argv += ["--incoming", incoming]
        self.proc = None
        self.ctl = None
        self._stderr = None
        self.console_offset = 0

    def start(self):
        self._stderr = open(self.stderr_path, "wb")
        self.t_exec = time.monotonic()
        self.proc = spawn(self.argv, stdout=subprocess.DEVNULL, stderr=self._stderr)
        return self

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stderr_text(self):
        try:
            with open(self.stderr_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def stderr_tail(self, n=6):
        lines = self.stderr_text().strip().splitlines()
        return lines[-n:]

    def console_text(self):
        try:
            with open(self.console_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def connect(self, deadline):
        """Waits for the control socket and connects to it."""
        while True:
            if os.path.exists(self.sock_path):
                try:
                    self.ctl = Control(self.sock_path, timeout=5.0)
                    return self.ctl
                except OSError:
                    pass
            if not self.alive():
                raise BenchError("%s VMM exited (status %s) before its control socket was "
                                 "ready: %s" % (self.name, self.proc.returncode,
                                                " / ".join(self.stderr_tail())))
            if time.monotonic() > deadline:
                raise BenchError("%s VMM: control socket not ready in time" % self.name)
            time.sleep(0.01)

    def wait_stderr(self, pattern, deadline):
        while True:
            m = re.search(pattern, self.stderr_text())
            if m:
                return m
            if not self.alive():
                raise BenchError("%s VMM exited (status %s) before %r: %s"
                                 % (self.name, self.proc.returncode, pattern,
                                    " / ".join(self.stderr_tail())))
            if time.monotonic() > deadline:
                raise BenchError("%s VMM: timed out waiting for %r" % (self.name, pattern))
            time.sleep(0.01)

    def wait_progress(self, deadline, min_sweeps=0, after=0, what="a progress line"):
        """Waits for a memtouch progress line (past console offset `after`)
        with sweeps >= min_sweeps; returns (dict, console offset after it)."""
        while True:
            text = self.console_text()
            for m in PROGRESS_RE.finditer(text, after):
                if int(m.group(3)) >= min_sweeps:
                    return ({"t": int(m.group(1)), "pages_per_s": int(m.group(2)),
                             "sweeps": int(m.group(3)), "written": int(m.group(4))},
                            m.end())
            if "verify FAILED" in text or "memtouch: no free RAM" in text:
                raise BenchError("%s guest: %s" % (self.name, text.strip().splitlines()[-1]))
            if not self.alive():
                raise BenchError("%s VMM exited (status %s) while waiting for %s: %s"
                                 % (self.name, self.proc.returncode, what,
                                    " / ".join(self.stderr_tail())))
            if time.monotonic() > deadline:
                last = text.strip().splitlines()[-1:] or ["(empty console)"]
                raise BenchError("%s guest: timed out waiting for %s (last console line: %s)"
                                 % (self.name, what, last[0]))
            time.sleep(0.05)

    def close(self, graceful_timeout=0.0):
        """Quit (if asked and possible), else kill; always reap."""
        rc = None
        if self.proc is not None:
            if graceful_timeout and self.alive():
                try:
                    if self.ctl is None:
                        self.ctl = Control(self.sock_path, timeout=2.0)
                    self.ctl.call("quit", timeout=2.0)
                except (BenchError, OSError):
                    pass
                rc, _ = reap(self.proc, graceful_timeout)
            else:
                if self.alive():
                    self.proc.kill()
                rc, _ = reap(self.proc, 10.0)
        if self.ctl is not None:
            self.ctl.close()
            self.ctl = None
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None
        return rc


# --------------------------------------------------------------------------
# /proc sampling
# --------------------------------------------------------------------------

def thread_cpu(pid):
    """{tid: (comm, user ticks, system ticks)} of a live process ({} if gone)."""
    out = {}
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return out
    for tid in tids:
        try:
            with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                s = f.read()
        except OSError:
            continue
        comm = s[s.index("(") + 1:s.rindex(")")]
        rest = s[s.rindex(")") + 2:].split()
        out[int(tid)] = (comm, int(rest[11]), int(rest[12]))
    return out


def system_cpu():
    """The machine's CPU time so far, in ticks, from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    names = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal", "guest")
    return dict(zip(names, v))


def proc_ticks(pid):
    """user + system ticks of a process (all its threads, dead ones too)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            rest = f.read().rsplit(")", 1)[1].split()
        return int(rest[11]) + int(rest[12])
    except (OSError, IndexError, ValueError):
        return None


def self_ticks():
    t = os.times()
    return (t.user + t.system) * CLK_TCK


def busy_ticks(cpu):
    return sum(cpu[k] for k in ("user", "nice", "system", "irq", "softirq"))


def machine_load(interval=1.0):
    """CPU used by others (not this script) over interval, in % of one CPU."""
    c0, s0 = system_cpu(), self_ticks()
    time.sleep(interval)
    c1, s1 = system_cpu(), self_ticks()
    return max(0.0, busy_ticks(c1) - busy_ticks(c0) - (s1 - s0)) * 100.0 / (interval * CLK_TCK)


def wait_quiet(cfg, what):
    """Waits up to --wait-quiet seconds until no godwit-vmm that is not
    ours runs and the rest of the machine uses less than 25% of a CPU
    (another test suite or a fuzzer on this 2-core machine would skew
    every figure).  Returns the last load seen."""
    end = time.monotonic() + cfg.wait_quiet
    said = False
    while True:
        others = foreign_vmms()
        load = machine_load()
        if not others and load < 25.0:
            return load
        if time.monotonic() >= end:
            log(cfg, "  still busy (%.0f%% of a CPU, other godwit-vmm: %s); going on, the "
                "figures will be skewed" % (load, " ".join(map(str, others)) or "none"))
            return load
        if not said:
            log(cfg, "  waiting up to %.0f s before %s: others use %.0f%% of a CPU%s"
                % (cfg.wait_quiet, what, load, ", other godwit-vmm running (pids %s)"
                   % " ".join(map(str, others)) if others else ""))
            said = True


def system_cpu_share(before, after):
    """Share of all CPUs per category between two system_cpu() snapshots;
    guest time is also counted in user time, as /proc/stat does."""
    d = {k: after[k] - before.get(k, 0) for k in after}
    total = sum(v for k, v in d.items() if k != "guest") or 1
    return {k: round(100.0 * v / total, 1) for k, v in d.items()}


def tcp_queued_bytes(port):
    """Bytes queued in the established loopback TCP connection(s) on port:
    not yet acknowledged by the receiver's kernel (sender's tx_queue) plus
    received but not yet read by the application (receiver's rx_queue)."""
    total = 0
    try:
        with open("/proc/net/tcp") as f:
            next(f)
            for line in f:
                fields = line.split()
                if fields[3] == "0A":           # LISTEN
                    continue
                lport = int(fields[1].split(":")[1], 16)
                rport = int(fields[2].split(":")[1], 16)
                if port not in (lport, rport):
                    continue
                tx, rx = fields[4].split(":")
                total += int(tx, 16) + int(rx, 16)
    except (OSError, ValueError, IndexError, StopIteration):
        return None
    return total


def cpu_delta(before, after):
    """Per-thread CPU ticks used between two thread_cpu() snapshots."""
    out = {}
    for tid, (comm, u, s) in after.items():
        _, u0, s0 = before.get(tid, (comm, 0, 0))
        out[tid] = (comm, u - u0, s - s0, tid in before)
    return out


# --------------------------------------------------------------------------
# One migration
# --------------------------------------------------------------------------

def migrate_once(cfg, case, size):
    """Boots a memtouch source and a waiting destination, warms the guest
    up, migrates, checks the guest runs on the destination.  Returns a
    dict of figures; raises BenchError."""
    memory = "%dG" % size
    rate = cfg.rate if case == "load" else 0
    cmdline = "rate=%d progress=1" % rate
    tmp = make_tmpdir(cfg)
    src = dst = None
    res = {"case": case, "memory": memory, "vcpus": cfg.vcpus, "cmdline": cmdline,
           "tmpdir": tmp if cfg.keep_logs else None}
    try:
        # Destination first; retry if the free port was taken meanwhile.
        for attempt in range(3):
            port = free_port()
            uri = "tcp:127.0.0.1:%d" % port
            dst = Vmm(cfg, "dst", tmp, memory, cfg.vcpus, incoming=uri).start()
            try:
                dst.wait_stderr(r"migration=in waiting on", time.monotonic() + 30)
                break
            except BenchError:
                if "cannot listen" in dst.stderr_text() and attempt < 2:
                    dst.close()
                    continue
                raise
        dst.connect(time.monotonic() + 10)

        src = Vmm(cfg, "src", tmp, memory, cfg.vcpus, kernel=cfg.memtouch,
                  cmdline=cmdline).start()
        src.connect(time.monotonic() + 10)
        res["vmm_sha256"] = {"src": exe_sha256(src.pid), "dst": exe_sha256(dst.pid)}
        prog, _ = src.wait_progress(time.monotonic() + cfg.warm_timeout, min_sweeps=1,
                                    what="the first sweep over all RAM")
        res["warm_up"] = {"guest_t_s": prog["t"],
                          "host_s": round(time.monotonic() - src.t_exec, 2),
                          "sweeps": prog["sweeps"]}
        if case == "idle":
            st = src.ctl.call("pause", timeout=10.0)
            if st.get("state") != "paused":
                raise BenchError("pause left the VM %s" % st.get("state"))

        # ---- migrate and poll -------------------------------------------
        busy = bool(foreign_vmms())
        cpu0 = {"src": thread_cpu(src.pid), "dst": thread_cpu(dst.pid)}
        cpu_last = dict(cpu0)
        sys0 = system_cpu()
        ours0 = {"src": proc_ticks(src.pid), "dst": proc_ticks(dst.pid), "self": self_ticks()}
        src_ticks_last = ours0["src"]
        samples = []
        poll = cfg.poll_ms / 1000.0
        t0 = time.monotonic()
        src.ctl.call("migrate", {"uri": uri, "max_downtime_ms": cfg.max_downtime_ms,
                                 "timeout_s": cfg.migrate_timeout,
                                 "verify_memory": cfg.verify_memory,
                                 "auto_converge": case == "full"}, timeout=10.0)
        deadline = t0 + cfg.migrate_timeout + 30
        final = None
        next_busy_check = t0 + 0.5
        while True:
            now = time.monotonic()
            if now > deadline:
                raise BenchError("migration still running %d s after it started (state %s)"
                                 % (now - t0, samples[-1]["state"] if samples else "?"))
            try:
                q = src.ctl.call("query-migrate", timeout=5.0)
            except ControlClosed:
                break           # the source exits once the guest runs elsewhere
            t = time.monotonic()
            # Threads that end (the migration threads, at the very end)
            # keep their last figures.
            c_src, c_dst = thread_cpu(src.pid), thread_cpu(dst.pid)
            if c_src:
                cpu_last["src"] = {**cpu_last["src"], **c_src}
                cpu_last["t_src"] = t
                src_ticks_last = proc_ticks(src.pid) or src_ticks_last
            if c_dst:
                cpu_last["dst"] = {**cpu_last["dst"], **c_dst}
            samples.append({"t_ms": round((t - t0) * 1000, 1), "state": q.get("state"),
                            "pass": q.get("pass", 0), "bytes_sent": q.get("bytes_sent", 0),
                            "remaining_bytes": q.get("remaining_bytes", 0),
                            "dirty_pages_per_s": q.get("dirty_pages_per_s", 0),
                            "expected_downtime_ms": q.get("expected_downtime_ms", 0),
                            "queued_bytes": tcp_queued_bytes(port)})
            if q.get("state") in FINAL_STATES:
                final = q
                if q["state"] != "completed":
                    break
            if t >= next_busy_check:
                busy = busy or bool(foreign_vmms())
                next_busy_check = t + 0.5
            time.sleep(poll)
        t_end_poll = time.monotonic()
        sys1 = system_cpu()
        res["machine_cpu_pct"] = system_cpu_share(sys0, sys1)
        # CPU used by everything else on the machine during the migration,
        # in percent of one CPU (the machine has os.cpu_count() of them).
        # Under PVM the time a vCPU spends in the guest is not charged to
        # its thread, only to the machine's "guest" time: all of that is
        # taken to be ours (another VMM is flagged separately).
        ours = ((src_ticks_last - ours0["src"]) + (proc_ticks(dst.pid) - ours0["dst"])
                + (self_ticks() - ours0["self"]) + (sys1["guest"] - sys0["guest"]))
        res["others_cpu_pct"] = round(max(0.0, busy_ticks(sys1) - busy_ticks(sys0) - ours)
                                      * 100.0 / ((t_end_poll - t0) * CLK_TCK), 1)
        rc, killed = reap(src.proc, 30.0)
        src_err = src.stderr_text()
        m = COMPLETED_RE.search(src_err)
        if killed or rc != 0 or not m:
            lines = [l for l in src_err.splitlines()
                     if "migration=out" in l and "progress" not in l][-4:]
            state = final["state"] if final else "?"
            raise BenchError("migration did not complete (source exit status %s%s, last "
                             "query state %s): %s" % (rc, ", killed" if killed else "", state,
                                                      " / ".join(lines or src.stderr_tail())))

        # ---- figures from the source's log ----------------------------
        total_ms, setup_ms, downtime_ms, passes, sent_mib, pages, zero_pages = \
            (int(x) for x in m.groups()[:7])
        if m.group(8) is not None:      # newer VMMs also log microseconds
            downtime_ms = int(m.group(8)) / 1000.0
        bytes_sent = sent_mib * MIB
        if final and final.get("state") == "completed" and final.get("bytes_sent"):
            bytes_sent = final["bytes_sent"]
        sw = SWITCHOVER_RE.search(src_err)
        res.update({
            "total_ms": total_ms, "setup_ms": setup_ms, "downtime_ms": downtime_ms,
            "passes": passes, "bytes_sent": bytes_sent, "pages_sent": pages,
            "zero_pages": zero_pages,
            "throughput_Bps": bytes_sent * 1000.0 / total_ms if total_ms else None,
            "switchover_source_ms": int(sw.group(1)) if sw else None,
            "switchover_steps": switchover_steps(src_err),
            "completed_line": m.group(0),
            "progress_log": [dict(zip(("state", "elapsed_ms", "pass", "sent_mib",
                                       "remaining_mib", "total_mib", "throughput_MBps",
                                       "dirty_rate", "expected_downtime_ms"),
                                      (g if i == 0 else int(g)
                                       for i, g in enumerate(pm.groups()))))
                             for pm in OUT_PROGRESS_RE.finditer(src_err)],
            "foreign_vmm_seen": busy,
            # auto-converge: the throttle steps the source took, in order
            "throttle_steps": [int(t) for t in THROTTLE_RE.findall(src_err)],
        })
        res.update(pass_breakdown(samples))
        res["samples"] = samples if cfg.keep_samples else len(samples)

        # ---- CPU use during the migration ------------------------------
        window = (cpu_last.get("t_src", t_end_poll) - t0) or 1e-9
        res["cpu"] = cpu_figures(cpu0, cpu_last, src.pid, dst.pid, window)

        # ---- the guest must run on the destination -----------------------
        dm = dst.wait_stderr(IN_COMPLETED_RE.pattern, time.monotonic() + 10)
        res["dst_pages"], res["dst_passes"], res["dst_mib"] = (int(x) for x in dm.groups())
        st = dst.ctl.call("status", timeout=5.0)
        res["dst_state_after"] = st.get("state")
        if case == "idle" and st.get("state") == "paused":
            # Newer VMMs keep a guest that was paused on the source paused
            # on the destination; older ones start it.  Either way, resume
            # it to see it run.
            st = dst.ctl.call("resume", timeout=10.0)
        if st.get("state") != "running":
            raise BenchError("destination VM is %s after the migration" % st.get("state"))
        try:
            p, _ = dst.wait_progress(time.monotonic() + 3.0, what="a progress line on the "
                                     "destination")
            res["dst_guest_progress"] = p
        except BenchError as e:
            raise BenchError("guest does not seem to run on the destination: %s" % e)
        if "memtouch: region" in dst.console_text():
            raise BenchError("the guest rebooted on the destination")
        rc = dst.close(graceful_timeout=10.0)
        if rc != 0:
            raise BenchError("destination exited with status %s after quit: %s"
                             % (rc, " / ".join(dst.stderr_tail())))
        return res
    except BenchError as e:
        tails = []
        for v in (src, dst):
            if v is not None:
                tails.append("%s stderr: %s" % (v.name, " / ".join(v.stderr_tail(4))))
        raise BenchError("%s%s" % (e, ("\n      " + "\n      ".join(tails)) if tails else ""))
    finally:
        for v in (src, dst):
            if v is not None:
                v.close()
        remove_tmpdir(cfg, tmp)


def switchover_steps(stderr):
    """The source's switchover line as {step: value}, values in ms except
    last_pages; None if the VMM does not log it."""
    m = SWITCHOVER_STEPS_RE.search(stderr)
    if not m:
        return None
    out = {"line": m.group(0)}
    # "last_pages=N in Tus": the time to collect and send the last pages.
    text = re.sub(r"last_pages=(\d+) in (\d+)us", r"last_pages=\1 last_send=\2us", m.group(1))
    for k, v, us in STEP_RE.findall(text):
        out[k + "_ms" if us else k] = int(v) / 1000.0 if us else int(v)
    return out


def pass_breakdown(samples):
    """First-pass and dirty-pass figures from the query-migrate samples
    (granularity: the poll interval)."""
    out = {"first_pass_ms": None, "first_pass_Bps": None, "first_pass_bytes": None,
           "dirty_pass_ms": None, "dirty_pass_bytes": None, "dirty_pass_Bps": None,
           "queued_at_end_of_precopy": None, "queued_max": None}
    act = [s for s in samples if s["state"] == "active"]
    if not act:
        return out
    p1 = [s for s in act if s["pass"] == 1]
    later = [s for s in samples if s["pass"] >= 2 or s["state"] != "active"]
    later = [s for s in later if s["t_ms"] > act[0]["t_ms"]]
    if p1:
        end = later[0] if later else p1[-1]
        # Bytes and time of pass 1, from the first 'active' sample to the
        # first sample that is past it.
        out["first_pass_ms"] = end["t_ms"]     # from the migrate command
        if len(p1) >= 2 and p1[-1]["t_ms"] > p1[0]["t_ms"]:
            out["first_pass_Bps"] = ((p1[-1]["bytes_sent"] - p1[0]["bytes_sent"]) * 1000.0
                                     / (p1[-1]["t_ms"] - p1[0]["t_ms"]))
        out["first_pass_bytes"] = p1[-1]["bytes_sent"]
    dirty = [s for s in act if s["pass"] >= 2]
    if dirty and p1:
        out["dirty_pass_ms"] = dirty[-1]["t_ms"] - p1[-1]["t_ms"]
        out["dirty_pass_bytes"] = dirty[-1]["bytes_sent"] - p1[-1]["bytes_sent"]
        if out["dirty_pass_ms"] > 0:
            out["dirty_pass_Bps"] = out["dirty_pass_bytes"] * 1000.0 / out["dirty_pass_ms"]
    out["passes_seen"] = sorted({s["pass"] for s in act})
    q = [s["queued_bytes"] for s in act if s["queued_bytes"] is not None]
    if q:
        out["queued_at_end_of_precopy"] = q[-1]
        out["queued_max"] = max(q)
    return out


def cpu_figures(before, after, src_pid, dst_pid, window_s):
    """Percent of one CPU used during the migration by: the source's
    migration thread (the thread that appeared after `migrate`), its vCPU
    threads, the destination's receive thread (its busiest thread that
    existed before), and the rest."""
    ticks = window_s * CLK_TCK
    pct = lambda t: round(100.0 * t / ticks, 1) if ticks > 0 else None
    src = cpu_delta(before["src"], after["src"])
    dst = cpu_delta(before["dst"], after["dst"])
    out = {"window_s": round(window_s, 3)}
    mig = [(u, s) for tid, (c, u, s, old) in src.items() if not old and not c.startswith("kvm")]
    vcpu = [(u, s) for tid, (c, u, s, old) in src.items()
            if old and tid != src_pid and not c.startswith("kvm")]
    out["src_migration_thread_pct"] = pct(sum(u + s for u, s in mig))
    out["src_migration_thread_sys_pct"] = pct(sum(s for u, s in mig))
    out["src_vcpus_pct"] = pct(sum(u + s for u, s in vcpu))
    out["src_main_pct"] = pct(sum(u + s for tid, (c, u, s, old) in src.items() if tid == src_pid))
    recv = [(u + s, u, s) for tid, (c, u, s, old) in dst.items()
            if old and tid != dst_pid and not c.startswith("kvm")]
    if recv:
        tot, u, s = max(recv)
        out["dst_receive_thread_pct"] = pct(tot)
        out["dst_receive_thread_sys_pct"] = pct(s)
    return out


# --------------------------------------------------------------------------
# References
# --------------------------------------------------------------------------

def tcp_sink_main(argv):
    """Hidden mode (--tcp-sink RCVBUF CHUNK): accept one connection on a
    loopback port, read until EOF, print 'bytes end_time'."""
    rcvbuf, chunk = int(argv[0]), int(argv[1])
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(1)
    ls.settimeout(30)
    print(ls.getsockname()[1], flush=True)
    c, _ = ls.accept()
    if rcvbuf:
        c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    c.settimeout(30)
    buf = bytearray(chunk)
    mv = memoryview(buf)
    n = 0
    while True:
        k = c.recv_into(mv)
        if not k:
            break
        n += k
    end = time.monotonic()
    c.close()
    print("%d %.9f" % (n, end), flush=True)
    return 0


def read_line(fileobj, timeout):
    fd = fileobj.fileno()
    buf = b""
    end = time.monotonic() + timeout
    while not buf.endswith(b"\n"):
        left = end - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            raise BenchError("TCP sink did not answer in %.0f s" % timeout)
        b = os.read(fd, 4096)
        if not b:
            raise BenchError("TCP sink exited early")
        buf += b
    return buf.decode().strip()


def tcp_once(total, chunk, godwit_opts):
    """GB/s of one loopback TCP stream: this process sends `total` bytes in
    `chunk`-byte sendall() calls to a separate receiver process."""
    opt = 8 << 20 if godwit_opts else 0
    sink = spawn([sys.executable, os.path.abspath(__file__), "--tcp-sink", str(opt),
                  str(chunk)], stdout=subprocess.PIPE)
    try:
        port = int(read_line(sink.stdout, 10))
        s = socket.create_connection(("127.0.0.1", port), timeout=30)
        try:
            if godwit_opts:
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, opt)
            data = os.urandom(chunk)
            sent = 0
            t0 = time.monotonic()
            while sent < total:
                s.sendall(data)
                sent += chunk
            s.shutdown(socket.SHUT_WR)
            n, t_end = read_line(sink.stdout, 60).split()
        finally:
            s.close()
        if int(n) != sent:
            raise BenchError("TCP sink received %s of %d bytes" % (n, sent))
        return sent / (float(t_end) - t0)
    finally:
        reap(sink, 5.0)
        sink.stdout.close()


def memfd_once(total, chunk=MIB):
    """(first write, rewrite) throughput of a fresh shared memfd mapping in
    bytes/s: the destination's guest RAM is such a mapping, and its first
    pass writes every page of it for the first time."""
    fd = os.memfd_create("godwit-bench", os.MFD_CLOEXEC)
    try:
        os.ftruncate(fd, total)
        mm = mmap.mmap(fd, total, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        try:
            data = os.urandom(chunk)
            out = []
            for _ in range(2):
                t0 = time.monotonic()
                for off in range(0, total, chunk):
                    mm[off:off + chunk] = data
                out.append(total / (time.monotonic() - t0))
            return tuple(out)
        finally:
            mm.close()
    finally:
        os.close(fd)


def references(cfg):
    ref = {"tcp": {"bytes": cfg.tcp_bytes, "chunk": 4 * MIB, "samples_Bps": [], "errors": []},
           "tcp_godwit_opts": {"bytes": cfg.tcp_bytes, "chunk": MIB, "samples_Bps": [],
                               "errors": []},
           "memfd": {"bytes": cfg.tcp_bytes, "first_Bps": [], "rewrite_Bps": [], "errors": []}}
    for i in range(cfg.tcp_runs):
        for key, chunk, opts in (("tcp", 4 * MIB, False), ("tcp_godwit_opts", MIB, True)):
            try:
                ref[key]["samples_Bps"].append(tcp_once(cfg.tcp_bytes, chunk, opts))
            except (BenchError, OSError, ValueError) as e:
                ref[key]["errors"].append(str(e))
        try:
            first, again = memfd_once(cfg.tcp_bytes)
            ref["memfd"]["first_Bps"].append(first)
            ref["memfd"]["rewrite_Bps"].append(again)
        except OSError as e:
            ref["memfd"]["errors"].append(str(e))
    for key in ("tcp", "tcp_godwit_opts"):
        ref[key]["Bps"] = summarize(ref[key]["samples_Bps"])
    ref["memfd"]["first"] = summarize(ref["memfd"]["first_Bps"])
    ref["memfd"]["rewrite"] = summarize(ref["memfd"]["rewrite_Bps"])
    return ref


# --------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------

def log(cfg, msg):
    if not cfg.quiet:
        print(msg, file=sys.stderr, flush=True)


def summarize(values):
    values = [v for v in values if v is not None]
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "n": len(values)}


def fmt_range(s, scale=1.0, fmt="%.0f"):
    if not s:
        return "-"
    med, lo, hi = (fmt % (s[k] * scale) for k in ("median", "min", "max"))
    if s["n"] == 1 or lo == hi:
        return med
    return "%s (%s-%s)" % (med, lo, hi)


def table(headers, rows):
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows)]
    line = lambda r: "  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w)
                               for i, (c, w) in enumerate(zip(r, widths))).rstrip()
    return "\n".join([line(headers), line(["-" * w for w in widths])] + [line(r) for r in rows])


def case_label(case, size, cfg):
    if case == "idle":
        return "idle %dG (paused)" % size
    if case == "full":
        return "full %dG (auto-converge)" % size
    return "load %dG (%dK pages/s)" % (size, cfg.rate // 1000)


def case_summary(c):
    runs = c["runs"]
    g = lambda k: summarize([r.get(k) for r in runs])
    gc = lambda k: summarize([r["cpu"].get(k) for r in runs if r.get("cpu")])
    return {"total_ms": g("total_ms"), "downtime_ms": g("downtime_ms"), "passes": g("passes"),
            "sent_MiB": summarize([r["bytes_sent"] / MIB for r in runs]),
            "throughput_Bps": g("throughput_Bps"), "setup_ms": g("setup_ms"),
            "first_pass_ms": g("first_pass_ms"), "first_pass_Bps": g("first_pass_Bps"),
            "dirty_pass_ms": g("dirty_pass_ms"),
            "dirty_pass_MiB": summarize([r["dirty_pass_bytes"] / MIB for r in runs
                                         if r.get("dirty_pass_bytes") is not None]),
            "dirty_pass_Bps": g("dirty_pass_Bps"),
            "queued_MiB_at_end_of_precopy": summarize(
                [r["queued_at_end_of_precopy"] / MIB for r in runs
                 if r.get("queued_at_end_of_precopy") is not None]),
            "switchover_source_ms": g("switchover_source_ms"),
            "last_pages": summarize([(r.get("switchover_steps") or {}).get("last_pages")
                                     for r in runs]),
            "last_send_ms": summarize([(r.get("switchover_steps") or {}).get("last_send_ms")
                                       for r in runs]),
            "load_and_ready_ms": summarize([(r.get("switchover_steps") or {})
                                            .get("load_and_ready_ms") for r in runs]),
            "src_migration_thread_pct": gc("src_migration_thread_pct"),
            "src_vcpus_pct": gc("src_vcpus_pct"),
            "dst_receive_thread_pct": gc("dst_receive_thread_pct"),
            "dst_receive_thread_sys_pct": gc("dst_receive_thread_sys_pct")}


def aims(report):
    out = {}
    tcp = report["references"].get("tcp", {}).get("Bps")
    half = tcp["median"] / 2 if tcp else None
    rows = []
    for c in report["cases"]:
        s = c["summary"]
        if not s["throughput_Bps"] or not half:
            continue
        med = s["throughput_Bps"]["median"]
        rows.append({"case": c["label"], "throughput_Bps": med,
                     "share_of_tcp": med / tcp["median"], "met": med >= half})
    out["throughput"] = {"tcp_median_Bps": tcp and tcp["median"], "needed_Bps": half,
                         "cases": rows, "met": bool(rows) and all(r["met"] for r in rows)}
    rows = []
    for c in report["cases"]:
        if c["case"] != "idle" or not c["summary"]["downtime_ms"]:
            continue
        d = c["summary"]["downtime_ms"]
        rows.append({"case": c["label"], "median_ms": d["median"], "max_ms": d["max"],
                     "met": d["median"] < 10, "every_run_met": d["max"] < 10})
    out["idle_downtime"] = {"limit_ms": 10, "cases": rows,
                            "met": bool(rows) and all(r["met"] for r in rows)}
    return out


def render(report, cfg):
    b = report["vmm_binary"]
    used = report.get("builds_used") or []
    parts = ["%s, %d CPUs (%s), %s; godwit-vmm sha256 %s (file at start: built %s)"
             % (report["date"], report["machine"]["cpus"],
                report["machine"].get("cpu_model") or "?",
                "/".join(report["machine"].get("kvm_modules") or ["no kvm module?"]),
                (used[0] if len(used) == 1 else b["sha256"])[:12], b["mtime"])]
    if len(used) > 1:
        parts[0] += ("\nWARNING: godwit-vmm was rebuilt while the benchmark ran; the runs "
                     "used %d builds (%s): see vmm_sha256 per run in the JSON"
                     % (len(used), ", ".join(h[:12] for h in used)))
    elif report.get("vmm_binary_changed"):
        parts[0] += ("\nnote: godwit-vmm was rebuilt after the last run (now sha256 %s)"
                     % report["vmm_binary_changed"][:12])
    ref = report["references"]
    if ref:
        lines = ["References (%d runs each, median (min-max)):" % cfg.tcp_runs]
        t = ref["tcp"].get("Bps")
        lines.append("  one TCP stream over loopback, %d MiB in 4 MiB sendall()s, receiver in "
                     "another process:  %s GB/s" % (cfg.tcp_bytes // MIB,
                                                    fmt_range(t, 1e-9, "%.2f")))
        t = ref["tcp_godwit_opts"].get("Bps")
        lines.append("  same with godwit's socket options (TCP_NODELAY, 8 MiB SO_SNDBUF/RCVBUF),"
                     " 1 MiB writes:  %s GB/s" % fmt_range(t, 1e-9, "%.2f"))
        m = ref["memfd"]
        lines.append("  first write of a fresh %d MiB memfd mapping (like the destination's "
                     "guest RAM):  %s GB/s; rewrite: %s GB/s"
                     % (cfg.tcp_bytes // MIB, fmt_range(m.get("first"), 1e-9, "%.2f"),
                        fmt_range(m.get("rewrite"), 1e-9, "%.1f")))
        for key in ("tcp", "tcp_godwit_opts", "memfd"):
            for e in ref[key]["errors"]:
                lines.append("  %s FAILED: %s" % (key, e))
        parts.append("\n".join(lines))

    cases = report["cases"]
    if cases:
        rows, rows2 = [], []
        for c in cases:
            s = c["summary"]
            ok = "%d/%d" % (len(c["runs"]), len(c["runs"]) + len(c["errors"]))
            busy = fmt_range(summarize([r.get("others_cpu_pct") for r in c["runs"]]))
            if any(r.get("foreign_vmm_seen") for r in c["runs"]):
                busy += " *"
            rows.append([c["label"], fmt_range(s["total_ms"]), fmt_range(s["downtime_ms"], fmt="%.1f"),
                         fmt_range(s["passes"]), fmt_range(s["sent_MiB"]),
                         fmt_range(s["throughput_Bps"], 1e-6), ok, busy])
            rows2.append([c["label"], fmt_range(s["first_pass_ms"]),
                          fmt_range(s["first_pass_Bps"], 1e-6),
                          fmt_range(s["dirty_pass_ms"]), fmt_range(s["dirty_pass_MiB"]),
                          fmt_range(s["dirty_pass_Bps"], 1e-6),
                          fmt_range(s["queued_MiB_at_end_of_precopy"], 1, "%.1f"),
                          fmt_range(s["last_pages"]),
                          fmt_range(s["last_send_ms"], 1, "%.1f"),
                          fmt_range(s["load_and_ready_ms"], 1, "%.1f"),
                          fmt_range(s["src_migration_thread_pct"]),
                          fmt_range(s["dst_receive_thread_pct"]),
                          fmt_range(s["dst_receive_thread_sys_pct"])])
        parts.append(
            "Live migration over loopback: memtouch, %d vCPUs, max_downtime_ms=%d%s; "
            "median (min-max) of %d run%s\n"
            % (cfg.vcpus, cfg.max_downtime_ms, ", verify_memory" if cfg.verify_memory else "",
               cfg.runs, "s" if cfg.runs > 1 else "")
            + table(["case", "total ms", "downtime ms", "passes", "sent MiB", "MB/s", "ok",
                     "others %CPU"], rows))
        parts.append(
            "Where the time goes (from query-migrate every %g ms and /proc)\n" % cfg.poll_ms
            + table(["case", "pass1 ms", "pass1 MB/s", "dirty ms", "dirty MiB", "dirty MB/s",
                     "queued MiB", "last pages", "send ms", "READY wait ms", "src mig %CPU", "dst recv %CPU", "of it sys"],
                    rows2))
    a = report.get("aims")
    if a:
        lines = ["Aims:"]
        th = a["throughput"]
        if th["tcp_median_Bps"]:
            lines.append("  throughput >= half of one TCP stream (%.2f GB/s, so >= %.0f MB/s):"
                         " %s" % (th["tcp_median_Bps"] / 1e9, th["needed_Bps"] / 1e6,
                                  "MET" if th["met"] else "NOT MET"))
            for r in th["cases"]:
                lines.append("    %-24s %6.0f MB/s = %3.0f%% of TCP  %s"
                             % (r["case"], r["throughput_Bps"] / 1e6, 100 * r["share_of_tcp"],
                                "met" if r["met"] else "not met"))
        dt = a["idle_downtime"]
        if dt["cases"]:
            lines.append("  idle guest switches over in < 10 ms: %s"
                         % ("MET" if dt["met"] else "NOT MET"))
            for r in dt["cases"]:
                lines.append("    %-24s median %.0f ms, max %.0f ms  %s%s"
                             % (r["case"], r["median_ms"], r["max_ms"],
                                "met" if r["met"] else "not met",
                                "" if r["every_run_met"] or not r["met"]
                                else " (not in every run)"))
        if len(lines) > 1:
            parts.append("\n".join(lines))
    steps = [(c["label"], r.get("throttle_steps")) for c in cases for r in c["runs"]
             if r.get("throttle_steps")]
    if steps:
        parts.append("Auto-converge, the vCPU throttle steps of each run:\n" + "\n".join(
            "  %s: %s" % (label, " -> ".join("%d%%" % t for t in s)) for label, s in steps))
    errs = [(c["label"], e) for c in cases for e in c["errors"]]
    if errs:
        parts.append("Failures:\n" + "\n".join("  %s: %s" % (n, e) for n, e in errs))
    if any(r.get("foreign_vmm_seen") for c in cases for r in c["runs"]):
        parts.append("*: another godwit-vmm (not started by this benchmark) ran during the "
                     "migration; those figures are skewed by CPU contention.")
    return "\n\n".join(parts)


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------

def parse_size(text):
    m = re.fullmatch(r"(\d+)([KMG]?)", text.strip().upper())
    if not m:
        raise argparse.ArgumentTypeError("bad size %r" % text)
    return int(m.group(1)) << {"": 0, "K": 10, "M": 20, "G": 30}[m.group(2)]


def parse_args(argv):
    ap = argparse.ArgumentParser(
        description="Benchmarks godwit live migration over loopback (idle and loaded "
                    "memtouch guests, 1 and 4 GiB) against one TCP stream.",
        epilog="What each figure means: bench/README.md.  Exit status 0 if every run "
               "succeeded, 1 if any failed, 130 if interrupted.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--build", default=os.path.join(REPO_ROOT, "build"),
                    help="meson build directory (holds src/godwit-vmm and guest/memtouch.elf)")
    ap.add_argument("--runs", type=int, default=3, help="migrations per case")
    ap.add_argument("--quick", action="store_true",
                    help="1 run of the 1 GiB cases only (and 1 reference run)")
    ap.add_argument("--sizes", default="1,4", help="guest RAM sizes in GiB, comma-separated")
    ap.add_argument("--cases", default="idle,load",
                    help="which cases, comma-separated: idle, load, full")
    ap.add_argument("--vcpus", type=int, default=2)
    ap.add_argument("--rate", type=int, default=50000,
                    help="memtouch rate (pages/s, whole VM) for the load case")
    ap.add_argument("--max-downtime-ms", type=int, default=100)
    ap.add_argument("--verify-memory", action="store_true",
                    help="migrate with verify_memory (adds a digest of all RAM to the downtime)")
    ap.add_argument("--poll-ms", type=float, default=20.0,
                    help="query-migrate period while a migration runs")
    ap.add_argument("--warm-timeout", type=float, default=120.0,
                    help="seconds for a guest to boot and finish its first sweep")
    ap.add_argument("--migrate-timeout", type=int, default=120,
                    help="timeout_s given to migrate; the benchmark gives up 30 s later")
    ap.add_argument("--tcp-bytes", type=parse_size, default=GIB,
                    help="bytes per TCP (and memfd) reference run")
    ap.add_argument("--tcp-runs", type=int, default=5,
                    help="reference runs (1 with --quick unless given)")
    ap.add_argument("--no-reference", action="store_true", help="skip the reference runs")
    ap.add_argument("--wait-quiet", type=float, default=120.0, metavar="S",
                    help="before each measurement, wait up to S seconds while a godwit-vmm "
                         "that this script did not start runs or other processes use more "
                         "than 25%% of a CPU")
    ap.add_argument("--json", metavar="FILE", help="also write every figure as JSON to FILE")
    ap.add_argument("--keep-samples", action="store_true",
                    help="put every query-migrate sample into the JSON")
    ap.add_argument("--keep-logs", action="store_true",
                    help="keep each run's temp dir (VMM stderr and consoles)")
    ap.add_argument("--quiet", action="store_true", help="no per-run progress on stderr")
    cfg = ap.parse_args(argv)
    try:
        cfg.sizes = [int(x) for x in cfg.sizes.split(",") if x.strip()]
    except ValueError:
        ap.error("--sizes takes whole GiB, e.g. 1,4")
    cfg.cases = [x.strip() for x in cfg.cases.split(",") if x.strip()]
    if not cfg.cases or any(c not in ("idle", "load", "full") for c in cfg.cases):
        ap.error("--cases takes idle, load and full, comma-separated")
    if cfg.quick:
        cfg.runs = 1
        cfg.sizes = [1]
        if not any(a.startswith("--tcp-runs") for a in argv):
            cfg.tcp_runs = 1
    if cfg.runs < 1 or cfg.tcp_runs < 1 or not cfg.sizes or min(cfg.sizes) < 1:
        ap.error("--runs, --tcp-runs and --sizes must be at least 1")
    if cfg.tcp_bytes < 4 * MIB or cfg.tcp_bytes % (4 * MIB):
        ap.error("--tcp-bytes must be a multiple of 4 MiB")
    cfg.build = os.path.abspath(cfg.build)
    cfg.vmm = os.path.join(cfg.build, "src", "godwit-vmm")
    cfg.memtouch = os.path.join(cfg.build, "guest", "memtouch.elf")
    for path in (cfg.vmm, cfg.memtouch):
        if not os.path.exists(path):
            ap.error("%s not found (build with `ninja -C %s`)" % (path, cfg.build))
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        ap.error("/dev/kvm is not available")
    return cfg


def machine_info():
    info = {"host": platform.node(), "kernel": platform.release(), "cpus": os.cpu_count(),
            "python": platform.python_version()}
    try:
        with open("/proc/cpuinfo") as f:
            m = re.search(r"model name\s*:\s*(.*)", f.read())
            info["cpu_model"] = m.group(1).strip() if m else None
        with open("/proc/meminfo") as f:
            info["mem_total_kib"] = int(re.search(r"MemTotal:\s*(\d+)", f.read()).group(1))
    except (OSError, AttributeError):
        pass
    info["kvm_modules"] = sorted(m for m in ("kvm", "kvm_pvm", "kvm_intel", "kvm_amd")
                                 if os.path.isdir("/sys/module/" + m))
    info["loadavg_at_start"] = os.getloadavg()
    return info


def exe_sha256(pid):
    """sha256 of the binary a process runs (even if the file was replaced
    since by a rebuild)."""
    return file_sha256("/proc/%d/exe" % pid)


def file_sha256(path):
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    except OSError:
        return None
    return h.hexdigest()


def binary_info(path):
    """sha256 and mtime of the VMM binary: the code changes, the figures
    belong to one build."""
    st = os.stat(path)
    return {"path": path, "sha256": file_sha256(path),
            "mtime": datetime.datetime.fromtimestamp(st.st_mtime).astimezone()
            .isoformat(timespec="seconds")}


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--tcp-sink"]:
        return tcp_sink_main(argv[1:])
    cfg = parse_args(argv)
    # Ctrl-C / SIGTERM -> KeyboardInterrupt even if started with SIGINT
    # ignored (background job): the VMs must not be left behind.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, on_sigterm)
    report = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": machine_info(),
        "vmm_binary": binary_info(cfg.vmm),
        "config": {k: getattr(cfg, k) for k in
                   ("build", "runs", "sizes", "cases", "vcpus", "rate", "max_downtime_ms",
                    "verify_memory", "poll_ms", "warm_timeout", "migrate_timeout",
                    "tcp_bytes", "tcp_runs")},
        "references": {}, "cases": [],
    }
    others = foreign_vmms()
    if others:
        log(cfg, "warning: %d other godwit-vmm process(es) running (pids %s); figures will "
            "be skewed" % (len(others), " ".join(map(str, others))))
    try:
        if not cfg.no_reference:
            wait_quiet(cfg, "the references")
            log(cfg, "references: TCP over loopback and memfd first write (%d runs)"
                % cfg.tcp_runs)
            report["references"] = references(cfg)
            t = report["references"]["tcp"].get("Bps")
            if t:
                log(cfg, "  TCP %.2f GB/s" % (t["median"] / 1e9))
        cases = [{"case": case, "size_gib": size, "label": case_label(case, size, cfg),
                  "runs": [], "errors": []} for size in cfg.sizes for case in cfg.cases]
        report["cases"] = cases
        # Round-robin over the cases, so slow drifts of the machine spread
        # over all of them.
        for i in range(cfg.runs):
            for c in cases:
                load = wait_quiet(cfg, "%s run %d" % (c["label"], i + 1))
                try:
                    r = migrate_once(cfg, c["case"], c["size_gib"])
                    r["others_cpu_pct_before"] = round(load, 1)
                    c["runs"].append(r)
                    log(cfg, "  %s run %d: total %d ms, downtime %d ms, %d passes, %.0f MiB, "
                        "%.0f MB/s (pass 1 %s MB/s)%s"
                        % (c["label"], i + 1, r["total_ms"], r["downtime_ms"], r["passes"],
                           r["bytes_sent"] / MIB, r["throughput_Bps"] / 1e6,
                           "%.0f" % (r["first_pass_Bps"] / 1e6) if r["first_pass_Bps"]
                           else "?", ", logs in " + r["tmpdir"] if r["tmpdir"] else ""))
                except BenchError as e:
                    c["errors"].append(str(e))
                    log(cfg, "  %s run %d: FAILED: %s" % (c["label"], i + 1, e))
                except Exception as e:      # a bug here: report it, go on
                    c["errors"].append("internal error: %r" % e)
                    log(cfg, "  %s run %d: INTERNAL ERROR: %r" % (c["label"], i + 1, e))
        for c in cases:
            c["summary"] = case_summary(c)
        report["aims"] = aims(report)
    except KeyboardInterrupt:
        cleanup_children()
        print("\ninterrupted; VMs stopped", file=sys.stderr)
        return 130
    finally:
        cleanup_children()
        for d in list(_TMPDIRS):
            remove_tmpdir(cfg, d)

    now = binary_info(cfg.vmm)["sha256"]
    if now != report["vmm_binary"]["sha256"]:
        report["vmm_binary_changed"] = now
    report["builds_used"] = sorted({h for c in report["cases"] for r in c["runs"]
                                    for h in (r.get("vmm_sha256") or {}).values() if h})
    print(render(report, cfg))
    if cfg.json:
        with open(cfg.json, "w") as f:
            json.dump(report, f, indent=2)
            f.write("\n")
    failed = any(c["errors"] for c in report["cases"]) or any(
        report["references"].get(k, {}).get("errors") for k in ("tcp", "tcp_godwit_opts",
                                                                "memfd"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
