import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from vmm import VMM, Vm  # noqa: E402


def pytest_collection_modifyitems(config, items):
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        skip = pytest.mark.skip(reason="/dev/kvm is not available")
        for item in items:
            if "kvm" in item.keywords:
                item.add_marker(skip)


def pytest_configure(config):
    config.addinivalue_line("markers", "kvm: needs /dev/kvm")
    if not os.path.exists(VMM):
        raise pytest.UsageError(f"{VMM} is not built (run `make` first)")


@pytest.fixture
def vm_factory(tmp_path):
    """Starts VMs that are always killed and reaped at the end of the test."""
    vms = []

    def start(kernel, **kwargs):
        sub = tmp_path / f"vm{len(vms)}"
        sub.mkdir()
        vm = Vm(str(sub), kernel, **kwargs)
        vms.append(vm)
        return vm

    yield start
    for vm in vms:
        vm.close()


@pytest.fixture
def cluster_factory():
    """Two hosts in network namespaces, each with an agent; removed at the end.
    The state lives under a short /tmp path: VMM control sockets must fit
    the 108 bytes of a Unix socket address."""
    import shutil
    import tempfile

    from agents import Cluster

    clusters, workdirs = [], []

    def make(settings_a=None, settings_b=None, env_b=None, start=True, network=False):
        workdir = tempfile.mkdtemp(prefix="gwt-", dir="/tmp")
        workdirs.append(workdir)
        cluster = Cluster(workdir, settings_a, settings_b, network=network)
        clusters.append(cluster)
        return cluster.start(env_b=env_b) if start else cluster

    yield make
    for cluster in clusters:
        cluster.close()
    for workdir in workdirs:
        shutil.rmtree(workdir, ignore_errors=True)
