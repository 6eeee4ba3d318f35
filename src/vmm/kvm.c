/* KVM VM and vCPU handles; see kvm.h. */
#include "vmm/kvm.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

/* KVM wants three pages for its real-mode TSS; guest RAM may cover them,
 * but the TSS pages are only used by VMX real-mode emulation, which our
 * long-mode guests never enter. */
#define KVM_TSS_GPA 0xfffbd000UL

int kvm_vm_open(struct kvm_vm *vm, struct gw_error *err)
{
    *vm = (struct kvm_vm){ .kvm_fd = -1, .vm_fd = -1 };

    vm->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (vm->kvm_fd < 0)
        return gw_error_set(err, -errno, "cannot open /dev/kvm: %s", strerror(errno));

    int version = ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0);
    if (version != KVM_API_VERSION) {
        kvm_vm_close(vm);
        return gw_error_set(err, -ENOTSUP, "/dev/kvm speaks API version %d, not %d", version,
                            KVM_API_VERSION);
    }
    vm->run_mmap_bytes = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);

    vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
    if (vm->vm_fd < 0) {
        int rc = gw_error_set(err, -errno, "KVM_CREATE_VM: %s", strerror(errno));
        kvm_vm_close(vm);
        return rc;
    }

    const char *step = NULL;
    if (ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, KVM_TSS_GPA) < 0)
        step = "KVM_SET_TSS_ADDR";
    else if (ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0)
        step = "KVM_CREATE_IRQCHIP";
    else {
        struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
        if (ioctl(vm->vm_fd, KVM_CREATE_PIT2, &pit) < 0)
            step = "KVM_CREATE_PIT2";
    }
    if (step) {
        int rc = gw_error_set(err, -errno, "%s: %s", step, strerror(errno));
        kvm_vm_close(vm);
        return rc;
    }
    return 0;
}

void kvm_vm_close(struct kvm_vm *vm)
{
    if (vm->vm_fd >= 0)
        close(vm->vm_fd);
    if (vm->kvm_fd >= 0)
        close(vm->kvm_fd);
    vm->vm_fd = vm->kvm_fd = -1;
}

int kvm_vm_set_memory(struct kvm_vm *vm, const struct guest_memory *mem, uint32_t flags)
{
    struct kvm_userspace_memory_region region = {
        .slot = KVM_RAM_SLOT,
        .flags = flags,
        .guest_phys_addr = 0,
        .memory_size = mem->bytes,
        .userspace_addr = (uintptr_t)mem->host,
    };
    if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0)
        return -errno;
    vm->mem = mem;
    vm->slot_flags = flags;
    return 0;
}

int kvm_vm_create_vcpu(struct kvm_vm *vm, uint32_t index, int *vcpu_fd, struct kvm_run **run,
                       struct gw_error *err)
{
    int fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, (unsigned long)index);
    if (fd < 0)
        return gw_error_set(err, -errno, "KVM_CREATE_VCPU %u: %s", index, strerror(errno));
    void *map = mmap(NULL, vm->run_mmap_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED) {
        int rc = gw_error_set(err, -errno, "mmap kvm_run of vCPU %u: %s", index, strerror(errno));
        close(fd);
        return rc;
    }
    *vcpu_fd = fd;
    *run = map;
    return 0;
}

uint64_t kvm_vcpu_tsc_khz(int vcpu_fd)
{
    int khz = ioctl(vcpu_fd, KVM_GET_TSC_KHZ, 0);
    return khz > 0 ? (uint64_t)khz : 0;
}
