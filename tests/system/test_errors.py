"""Bad input to godwit-vmm: each case gets one clear error line and a
non-zero exit, never a crash or a hang."""

import os
import shutil
import subprocess

import pytest

from vmm import HELLO, VMM, run_vmm

USAGE = 2
SETUP_FAILED = 1


@pytest.mark.parametrize("args, phrase", [
    ([], "--kernel IMAGE is required"),
    (["--kernel", HELLO, "--memory", "0"], "memory size must not be zero"),
    (["--kernel", HELLO, "--memory", "1000"], "is not a multiple of the 4096-byte page"),
    (["--kernel", HELLO, "--memory", "1M"], "below the minimum"),
    (["--kernel", HELLO, "--memory", "65G"], "above the maximum of 64 GiB"),
    (["--kernel", HELLO, "--memory", "lots"], "'lots' is not a size"),
    (["--kernel", HELLO, "--vcpus", "0"], "--vcpus: '0' is not a number from 1 to 64"),
    (["--kernel", HELLO, "--vcpus", "65"], "--vcpus: '65' is not a number from 1 to 64"),
    (["--kernel", HELLO, "--vcpus", "two"], "--vcpus: 'two'"),
    (["--kernel", HELLO, "--cmdline", "x" * 1024], "--cmdline: 1024 bytes is longer than 1023"),
    (["--kernel", HELLO, "--frobnicate"], "unknown option '--frobnicate'"),
    (["--kernel", HELLO, "--memory"], "--memory needs a value"),
    (["--kernel", HELLO, "extra"], "unexpected argument 'extra'"),
    (["--kernel", HELLO, "--log-level", "loud"], "--log-level: 'loud'"),
])
def test_bad_arguments(args, phrase):
    code, out, err = run_vmm(args)
    assert code == USAGE
    assert phrase in err
    assert err.startswith("godwit-vmm: ")


def test_help_tells_the_truth():
    code, out, err = run_vmm(["--help"])
    assert code == 0
    for option in ["--kernel", "--memory", "--vcpus", "--cmdline", "--console", "--control",
                   "--log-level", "Exit status"]:
        assert option in out


def write(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def elf_with(tmp_path, name, offset, data):
    """hello.elf with some bytes overwritten."""
    image = bytearray(open(HELLO, "rb").read())
    image[offset:offset + len(data)] = data
    return write(tmp_path, name, bytes(image))


def kernel_error(kernel, memory="64M"):
    code, out, err = run_vmm(["--kernel", kernel, "--memory", memory])
    assert code == SETUP_FAILED, err
    return err



@pytest.mark.kvm
def test_missing_kernel_file(tmp_path):
    err = kernel_error(str(tmp_path / "nope.elf"))
    assert "cannot open kernel image" in err and "No such file or directory" in err


@pytest.mark.kvm
def test_kernel_is_a_directory(tmp_path):
    assert "is not a regular file" in kernel_error(str(tmp_path))


@pytest.mark.kvm
def test_empty_kernel(tmp_path):
    assert "is empty" in kernel_error(write(tmp_path, "empty.elf", b""))


@pytest.mark.kvm
def test_kernel_that_is_not_elf(tmp_path):
    assert "not an ELF file (bad magic)" in kernel_error(
        write(tmp_path, "text.elf", b"#!/bin/sh\necho this is not a kernel\n" * 10))


@pytest.mark.kvm
def test_truncated_elf(tmp_path):
    image = open(HELLO, "rb").read()
    assert "too short for an ELF header" in kernel_error(write(tmp_path, "t.elf", image[:40]))
    # Header intact, program headers cut off.
    assert "program headers lie outside the file" in kernel_error(
        write(tmp_path, "t2.elf", image[:64 + 10]))


@pytest.mark.kvm
def test_32bit_elf(tmp_path):
    assert "not a 64-bit ELF file" in kernel_error(elf_with(tmp_path, "e.elf", 4, b"\x01"))


@pytest.mark.kvm
def test_segment_outside_ram(tmp_path):
    # hello's image (with its bss) needs more than 2 MiB.
    assert "lies outside guest RAM" in kernel_error(HELLO, memory="2M")


@pytest.mark.kvm
def test_console_file_cannot_be_opened(tmp_path):
    code, out, err = run_vmm(["--kernel", HELLO, "--console", str(tmp_path / "no" / "dir.log")])
    assert code == SETUP_FAILED
    assert "cannot open console file" in err


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("unshare"),
                    reason="needs root and unshare to hide /dev/kvm")
def test_no_dev_kvm():
    """In a mount namespace whose /dev is empty, the VMM says so and exits."""
    p = subprocess.run(["unshare", "--mount", "sh", "-c",
                        f"mount -t tmpfs none /dev && exec {VMM} --kernel {HELLO}"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == SETUP_FAILED
    assert "cannot open /dev/kvm: No such file or directory" in p.stderr
