/*
 * The KVM handles of one VM: /dev/kvm, the VM fd, the in-kernel irqchip
 * and PIT, the one memory slot holding guest RAM, and vCPU creation.
 *
 * Owns its fds; the guest memory it maps stays owned by the caller and must
 * outlive it.  Calls are made from the main thread during setup, and from
 * whoever drives dirty logging later (dirty.h); vCPU fds are handed to
 * their threads.
 */
#ifndef GW_VMM_KVM_H
#define GW_VMM_KVM_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"
#include "vmm/memory.h"

#define KVM_RAM_SLOT 0

struct kvm_vm {
    int kvm_fd;
    int vm_fd;
    int run_mmap_bytes;                 /* size of each vCPU's struct kvm_run mapping */
    const struct guest_memory *mem;     /* not owned */
    uint32_t slot_flags;                /* current flags of KVM_RAM_SLOT */
    bool manual_protect;                /* KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 enabled */
};

/* Opens /dev/kvm and creates a VM with an in-kernel irqchip and PIT.
 * Returns 0 or -errno with a sentence in err (e.g. no /dev/kvm). */
int kvm_vm_open(struct kvm_vm *vm, struct gw_error *err);
void kvm_vm_close(struct kvm_vm *vm);

/* Registers mem as KVM_RAM_SLOT at guest-physical 0 with the given flags. */
int kvm_vm_set_memory(struct kvm_vm *vm, const struct guest_memory *mem, uint32_t flags);

/* Creates vCPU index and maps its kvm_run.  Returns 0 or -errno. */
int kvm_vm_create_vcpu(struct kvm_vm *vm, uint32_t index, int *vcpu_fd, struct kvm_run **run,
                       struct gw_error *err);

/* The TSC frequency KVM gives this vCPU, in kHz, or 0 if unknown. */
uint64_t kvm_vcpu_tsc_khz(int vcpu_fd);

#endif
