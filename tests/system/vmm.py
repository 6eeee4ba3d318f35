"""Helpers for system tests: start godwit-vmm as a child, talk to its
control socket, read its console.  Every VMM is started as our own child
and always reaped (PID 1 here does not reap orphans)."""

import json
import os
import re
import socket
import subprocess
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("GODWIT_BUILD", os.path.join(REPO, "build"))
VMM = os.path.join(BUILD, "src", "godwit-vmm")
HELLO = os.path.join(BUILD, "guest", "hello.elf")
MEMTOUCH = os.path.join(BUILD, "guest", "memtouch.elf")


class Control:
    """A JSON-lines control client."""

    def __init__(self, path, timeout=10.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.file = self.sock.makefile("rwb")

    def send_raw(self, line: bytes) -> dict:
        self.file.write(line + b"\n")
        self.file.flush()
        reply = self.file.readline()
        assert reply, "control socket closed without a reply"
        return json.loads(reply)

    def call(self, cmd, **args) -> dict:
        req = {"cmd": cmd}
        if args:
            req["args"] = args
        return self.send_raw(json.dumps(req).encode())

    def close(self):
        self.file.close()
        self.sock.close()


class Vm:
    """One godwit-vmm process with its console in a file."""

    def __init__(self, tmp_path, kernel, memory="64M", vcpus=1, cmdline="", control=True,
                 extra=(), netns=None):
        """netns: run the VMM in that network namespace (`ip netns exec`):
        a TAP is found by name in the namespace of the process opening it."""
        self.console_path = os.path.join(tmp_path, "console.log")
        self.stderr_path = os.path.join(tmp_path, "vmm.err")
        self.control_path = os.path.join(tmp_path, "vmm.sock") if control else None
        argv = [VMM, "--memory", memory, "--vcpus", str(vcpus), "--cmdline", cmdline,
                "--console", self.console_path, *extra]
        if netns:
            argv = ["ip", "netns", "exec", netns, *argv]
        if kernel:
            argv += ["--kernel", kernel]
        if control:
            argv += ["--control", self.control_path]
        self.stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=self.stderr)
        self._control = None

    def control(self) -> Control:
        if self._control is None:
            deadline = time.monotonic() + 10
            while not os.path.exists(self.control_path):
                assert self.proc.poll() is None, f"VMM exited early: {self.stderr_text()}"
                assert time.monotonic() < deadline, "control socket never appeared"
                time.sleep(0.01)
            self._control = Control(self.control_path)
        return self._control

    def console(self) -> str:
        try:
            with open(self.console_path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def stderr_text(self) -> str:
        with open(self.stderr_path, errors="replace") as f:
            return f.read()

    def wait_console(self, pattern, timeout=30.0, start=0) -> re.Match:
        """Waits until the console (from offset start) matches pattern."""
        deadline = time.monotonic() + timeout
        while True:
            m = re.search(pattern, self.console()[start:])
            if m:
                return m
            if self.proc.poll() is not None:
                m = re.search(pattern, self.console()[start:])
                if m:
                    return m
                raise AssertionError(f"VMM exited ({self.proc.returncode}) before {pattern!r};"
                                     f" console:\n{self.console()}\nstderr:\n{self.stderr_text()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {pattern!r}; console:\n"
                                     f"{self.console()}")
            time.sleep(0.05)

    def wait(self, timeout=60.0) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"VMM did not exit in {timeout}s; console:\n{self.console()}")

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()

    def close(self):
        if self._control:
            self._control.close()
        self.kill()
        self.stderr.close()


def run_vmm(args, timeout=30):
    """Runs godwit-vmm to completion; returns (exit code, stdout, stderr)."""
    p = subprocess.run([VMM, *args], capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def progress_lines(console):
    """memtouch progress lines as dicts {t, rate, sweeps, written}."""
    return [dict(t=int(m[1]), rate=int(m[2]), sweeps=int(m[3]), written=int(m[4]))
            for m in re.finditer(r"memtouch: t=(\d+)s pages/s=(\d+) sweeps=(\d+) written=(\d+)",
                                 console)]
