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
