"""Two-host clusters for system tests: network namespaces, agents, the CLI.

A Cluster makes two network namespaces joined by a veth pair (host-a at
10.N.0.1, host-b at 10.N.0.2) and runs one godwitd in each, as children of
the test process.  Everything it made goes away in close(): agents, every
VMM they started (found through /proc, since VMMs outlive agents on
purpose), the namespaces and the state directories.
"""
import http.client
import json
import os
import signal
import socket
import subprocess
import time

from vmm import BUILD

GODWITD = os.path.join(BUILD, "src", "godwitd")
GODWIT = os.path.join(BUILD, "src", "cli", "godwit")
PEER_PORT = 7070


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=30):
        super().__init__("localhost", timeout=timeout)
        self.socket_path = path

    def connect(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self.socket_path)
        self.sock = sock


def wait_for(predicate, timeout, what, interval=0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def vmm_processes(marker):
    """Live (non-zombie) godwit-vmm processes whose command line holds marker."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
            with open(f"/proc/{pid}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state in ("Z", "X") or not argv or not argv[0].endswith(b"godwit-vmm"):
            continue
        if any(marker.encode() in a for a in argv):
            found.append(int(pid))
    return found


class Host:
    def __init__(self, name, ns, ip, workdir, cluster_lines, settings, extra_lines=()):
        self.name, self.ns, self.ip = name, ns, ip
        self.workdir = workdir
        self.state_dir = os.path.join(workdir, "state")
        self.socket = os.path.join(workdir, "api.sock")
        self.config = os.path.join(workdir, "godwitd.ini")
        self.log_path = os.path.join(workdir, "godwitd.log")
        self.proc = None
        lines = ["[host]", f"name = {name}", f"state_dir = {self.state_dir}",
                 f"api_socket = {self.socket}", "[migration]", "ports = 49152-49215"]
        lines += [f"{k} = {v}" for k, v in settings.items()]
        lines += ["[cluster]"] + cluster_lines + list(extra_lines)
        with open(self.config, "w") as f:
            f.write("\n".join(lines) + "\n")

    # --- the agent process ---
    def start(self, env=None):
        log = open(self.log_path, "a")
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", self.ns, GODWITD, "--config", self.config],
            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
        log.close()
        wait_for(self.answers, 10, f"godwitd on {self.name}")

    def answers(self):
        if self.proc and self.proc.poll() is not None:
            raise AssertionError(f"godwitd on {self.name} exited {self.proc.returncode}:\n"
                                 + self.log())
        try:
            return self.api("GET", "/v1/host", timeout=1)[0] == 200
        except OSError:
            return False

    def kill(self, sig=signal.SIGKILL):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=10)
        self.proc = None

    def log(self):
        try:
            with open(self.log_path) as f:
                return f.read()
        except OSError:
            return ""

    # --- talking to it ---
    def api(self, method, path, body=None, raw=None, timeout=60):
        """(status, parsed JSON or text) of one request to the local API."""
        conn = UnixHTTPConnection(self.socket, timeout=timeout)
        try:
            data = raw if raw is not None else (json.dumps(body) if body is not None else None)
            conn.request(method, path, body=data)
            resp = conn.getresponse()
            text = resp.read().decode()
            try:
                return resp.status, json.loads(text)
            except ValueError:
                return resp.status, text
        finally:
            conn.close()

    def cli(self, *args, timeout=120, stdin=subprocess.DEVNULL):
        return subprocess.run([GODWIT, "--socket", self.socket, *args], capture_output=True,
                              text=True, timeout=timeout, stdin=stdin)

    def vm(self, name):
        status, body = self.api("GET", f"/v1/vms/{name}")
        return body if status == 200 else None

    def migration(self, mig_id):
        status, body = self.api("GET", f"/v1/migrations/{mig_id}")
        assert status == 200, body
        return body

    def wait_migration(self, mig_id, states, timeout=60):
        return wait_for(lambda: (lambda m: m if m["state"] in states else None)(
            self.migration(mig_id)), timeout, f"migration {mig_id} to reach {states}")

    def console(self, vm):
        try:
            with open(os.path.join(self.state_dir, "vms", vm, "console.log")) as f:
                return f.read()
        except OSError:
            return ""

    def vm_dirs(self):
        try:
            return sorted(os.listdir(os.path.join(self.state_dir, "vms")))
        except OSError:
            return []

    def vmm_pids(self):
        return vmm_processes(self.state_dir + "/")


def run(*cmd):
    subprocess.run(cmd, check=True, capture_output=True)


class Cluster:
    """Hosts in network namespaces, each with an agent.

    Two hosts (host-a, host-b) are joined by a veth pair.  With network=True
    a third, host-c, joins them (the client host of network tests): every
    host then has one leg on a fabric bridge in its own namespace (the
    underlay), and the agents build their bridge and VXLAN overlay on it
    ([network] bridge = gwbr0)."""

    def __init__(self, workdir, settings_a=None, settings_b=None, network=False):
        tag = f"{os.getpid() % 100000}{int(time.monotonic() * 1000) % 1000}"
        subnet = 100 + os.getpid() % 150
        names = ["host-a", "host-b"] + (["host-c"] if network else [])
        self.ns = [f"gwt-{tag}-{n[-1]}" for n in names]
        ips = [f"10.{subnet}.0.{i + 1}" for i in range(len(names))]
        self.fabric = None
        for ns in self.ns:
            run("ip", "netns", "add", ns)
            run("ip", "-n", ns, "link", "set", "lo", "up")
        if network:
            self.fabric = f"gwt-{tag}-f"
            run("ip", "netns", "add", self.fabric)
            run("ip", "-n", self.fabric, "link", "add", "fabric", "type", "bridge")
            run("ip", "-n", self.fabric, "link", "set", "fabric", "up")
            for i, (ns, ip) in enumerate(zip(self.ns, ips)):
                leg = f"leg{i}"
                run("ip", "link", "add", "under0", "netns", ns, "type", "veth",
                    "peer", "name", leg, "netns", self.fabric)
                run("ip", "-n", self.fabric, "link", "set", leg, "master", "fabric", "up")
                run("ip", "-n", ns, "addr", "add", f"{ip}/24", "dev", "under0")
                run("ip", "-n", ns, "link", "set", "under0", "up")
        else:
            veth = [f"gwa{tag}"[:15], f"gwb{tag}"[:15]]
            run("ip", "link", "add", veth[0], "netns", self.ns[0], "type", "veth",
                "peer", "name", veth[1], "netns", self.ns[1])
            for ns, dev, ip in zip(self.ns, veth, ips):
                run("ip", "-n", ns, "addr", "add", f"{ip}/24", "dev", dev)
                run("ip", "-n", ns, "link", "set", dev, "up")
        cluster_lines = [f"{n} = {ip}:{PEER_PORT}" for n, ip in zip(names, ips)]
        self.hosts = []
        for i, (name, ns, ip) in enumerate(zip(names, self.ns, ips)):
            settings = dict((settings_a, settings_b, None)[i] or {})
            network_lines = ["[network]", "bridge = gwbr0", "vxlan = gwvx0"] if network else []
            workdir_host = os.path.join(workdir, name)
            os.makedirs(workdir_host)
            self.hosts.append(Host(name, ns, ip, workdir_host, cluster_lines, settings,
                                   network_lines))
        self.a, self.b = self.hosts[0], self.hosts[1]
        self.c = self.hosts[2] if network else None

    def start(self, env_b=None):
        for host in self.hosts:
            host.start(env=env_b if host is self.b else None)
        return self

    def vm_copies(self, vm):
        """Running VMMs of this VM on any host."""
        return [pid for host in self.hosts
                for pid in vmm_processes(f"{host.state_dir}/vms/{vm}/control.sock")]

    def close(self):
        for host in self.hosts:
            host.kill(signal.SIGTERM)
        for host in self.hosts:
            for pid in host.vmm_pids():
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        for ns in self.ns + ([self.fabric] if self.fabric else []):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
