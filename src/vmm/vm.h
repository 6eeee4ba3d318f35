/*
 * One virtual machine: guest RAM, the KVM VM, its vCPU threads and its
 * devices, and the state machine that the control socket drives.
 *
 *            vm_start            vm_pause
 *   CREATED ----------> RUNNING ----------> PAUSED
 *                          ^                  |
 *                          +------------------+
 *                              vm_resume
 *
 *   RUNNING, PAUSED --(guest exit | quit | fatal vCPU error)--> STOPPED
 *   CREATED --vm_stop--> STOPPED
 *
 * Threads: the main thread calls everything here; vCPU threads only run
 * guest code and report exits.  vm_stop() may be called from any thread.
 * The VM owns everything it creates.
 */
#ifndef GW_VMM_VM_H
#define GW_VMM_VM_H

#include <stdint.h>

#include "base/error.h"

enum vm_state {
    VM_CREATED,     /* memory, image and devices ready; no vCPU has run */
    VM_RUNNING,     /* vCPU threads are running guest code */
    VM_PAUSED,      /* every vCPU thread is parked outside KVM_RUN */
    VM_STOPPED,     /* the guest exited, was quit, or died; vCPU threads ended */
};

/* Exit code of a VM that died (triple fault, KVM internal error). */
#define VM_EXIT_CODE_DIED 125

struct vm_config {
    const char *kernel_path;
    uint64_t memory_bytes;
    uint32_t ncpus;
    const char *cmdline;
    int console_fd;             /* not owned */
};

struct vm_status {
    enum vm_state state;
    uint32_t ncpus;
    uint64_t memory_bytes;
    uint64_t uptime_ms;         /* since vm_start; 0 before */
    int exit_code;              /* meaningful in VM_STOPPED */
};

struct vm;

/* Builds the VM: KVM, RAM, image, boot block, devices, vCPUs (not started).
 * Returns NULL with err filled on failure. */
struct vm *vm_create(const struct vm_config *config, struct gw_error *err);
/* Stops the VM if needed, joins its threads and frees everything.  NULL ok. */
void vm_destroy(struct vm *vm);

/* State transitions; each returns 0, or -EBUSY with err if the VM is not in
 * the state the transition starts from. */
int vm_start(struct vm *vm, struct gw_error *err);
int vm_pause(struct vm *vm, struct gw_error *err);   /* returns once all vCPUs are parked */
int vm_resume(struct vm *vm, struct gw_error *err);

/* Asks every vCPU to stop; the VM reaches VM_STOPPED with exit_code once
 * they have.  The first call's code wins.  Any thread. */
void vm_stop(struct vm *vm, int exit_code);

/* An fd that becomes readable when the VM reaches VM_STOPPED (for epoll). */
int vm_stopped_fd(const struct vm *vm);

void vm_get_status(struct vm *vm, struct vm_status *status);
const char *vm_state_name(enum vm_state state);

struct kvm_vm *vm_kvm(struct vm *vm);



/* Registers of one vCPU, for debugging guests.  Only while VM_PAUSED;
 * returns 0, -EBUSY or -EINVAL (no such vCPU). */
struct vm_vcpu_regs {
    uint64_t rip, rsp, rflags, rax, cr0, cr2, cr3, cr4, efer;
    uint16_t cs;
};
int vm_get_vcpu_regs(struct vm *vm, uint32_t index, struct vm_vcpu_regs *regs);

/* Copies len bytes into guest RAM at gpa (bounds-checked); for device
 * emulation and test hooks.  Returns 0 or -EFAULT. */
int vm_write_guest(struct vm *vm, uint64_t gpa, const void *data, uint64_t len);

#endif
