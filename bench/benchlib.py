"""What the benchmark scripts share: their errors, a control-socket
client, the registry of child processes (so an interrupted run kills and
reaps every VMM it started: PID 1 here does not reap orphans), and the
check for godwit-vmm processes someone else started (they would skew
every figure on a 2-core machine)."""

import json
import os
import socket
import subprocess
import threading
import time


class BenchError(Exception):
    """One measurement failed (a VM hung, died, or said something odd)."""


class ControlClosed(BenchError):
    """The control socket closed (the source VMM exits after migrating)."""


class Control:
    """One JSON-lines connection to a VMM's control socket; every read and
    write has a timeout."""

    def __init__(self, path, timeout):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        try:
            self.sock.connect(path)
        except OSError:
            self.sock.close()
            raise
        self.buf = b""

    def call(self, cmd, args=None, timeout=5.0):
        """The result of a successful request; BenchError otherwise."""
        req = {"cmd": cmd}
        if args:
            req["args"] = args
        end = time.monotonic() + timeout
        try:
            self.sock.settimeout(timeout)
            self.sock.sendall(json.dumps(req).encode() + b"\n")
            while b"\n" not in self.buf:
                left = end - time.monotonic()
                if left <= 0:
                    raise socket.timeout()
                self.sock.settimeout(left)
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise ControlClosed("control socket closed during '%s'" % cmd)
                self.buf += chunk
        except socket.timeout:
            raise BenchError("no reply to '%s' within %.1f s" % (cmd, timeout))
        except (BrokenPipeError, ConnectionResetError) as e:
            raise ControlClosed("control '%s': %s" % (cmd, e))
        except OSError as e:
            raise BenchError("control '%s': %s" % (cmd, e))
        line, self.buf = self.buf.split(b"\n", 1)
        reply = json.loads(line)
        if not reply.get("ok"):
            raise BenchError("'%s' refused: %s" % (cmd, reply.get("error", reply)))
        return reply.get("result", {})

    def close(self):
        self.sock.close()



_LIVE = set()
_LIVE_LOCK = threading.Lock()


def spawn(argv, **kwargs):
    """Popen in its own session (a Ctrl-C on the terminal reaches only the
    script, which stops the children itself), remembered for cleanup."""
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, close_fds=True,
                            start_new_session=True, **kwargs)
    with _LIVE_LOCK:
        _LIVE.add(proc)
    return proc


def forget(proc):
    """The caller has reaped proc."""
    with _LIVE_LOCK:
        _LIVE.discard(proc)


def cleanup_children(timeout=10.0):
    """Kills and reaps every child still registered."""
    with _LIVE_LOCK:
        procs = list(_LIVE)
    for p in procs:
        if p.poll() is None:
            try:
                p.kill()
            except OSError:
                pass
    for p in procs:
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass
        forget(p)


def on_sigterm(signum, frame):
    """SIGTERM handler: unwind like Ctrl-C, so cleanup runs."""
    raise KeyboardInterrupt()


def foreign_vmms():
    """pids of godwit-vmm processes that this script did not start."""
    me = os.getpid()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % entry, "rb") as f:
                argv0 = f.read().split(b"\0", 1)[0]
            if os.path.basename(argv0) != b"godwit-vmm":
                continue
            with open("/proc/%s/stat" % entry) as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if ppid != me:
            found.append(int(entry))
    return found
