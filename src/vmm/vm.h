/*
 * One virtual machine: guest RAM, the KVM VM, its vCPU threads and its
 * devices, and the state machine that the control socket and the
 * migration engine drive.
 *
 *   CREATED --+  vm_start             vm_pause
 *             +-----------> RUNNING -----------> PAUSED   (vm_start(paused): straight here)
 *   INCOMING -+               ^   <-----------    |
 *                             |     vm_resume     |
 *                   vm_freeze |  vm_thaw          | vm_freeze
 *                             v     (back to where it came from)
 *                           FROZEN <--------------+
 *                             |
 *                             +--vm_mark_migrated--> MIGRATED
 *
 *   any state --(guest exit | quit | fatal vCPU error | vm_stop)--> STOPPED
 *
 * INCOMING is a VM built for an incoming migration: fresh zeroed RAM, no
 * image; the migration engine loads its state, then starts it.  FROZEN is
 * the switchover pause: vCPUs parked like PAUSED, but only the migration
 * engine may leave it, so an operator's `resume` cannot run a VM whose
 * state is being sent.  MIGRATED means the destination runs the guest now:
 * this copy must never run again.
 *
 * Threads: the main thread and the migration thread call the transitions;
 * vCPU threads only run guest code and report exits.  vm_stop() may be
 * called from any thread.  The VM owns everything it creates.
 */
#ifndef GW_VMM_VM_H
#define GW_VMM_VM_H

#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"
#include "vmm/memory.h"

enum vm_state {
    VM_CREATED,     /* memory, image and devices ready; no vCPU has run */
    VM_RUNNING,     /* vCPU threads are running guest code */
    VM_PAUSED,      /* every vCPU thread is parked outside KVM_RUN */
    VM_STOPPED,     /* the guest exited, was quit, or died; vCPU threads ended */
    VM_INCOMING,    /* fresh RAM awaiting an incoming migration; no vCPU has run */
    VM_FROZEN,      /* parked for a migration's switchover; only the engine leaves it */
    VM_MIGRATED,    /* the destination runs the guest; this copy never runs again */
};

/* Exit code of a VM that died (triple fault, KVM internal error). */
#define VM_EXIT_CODE_DIED 125

/* One virtio-net device (device n = its index in vm_config.nets): a TAP
 * opened by name, or an inherited TAP fd (tap NULL). */
struct vm_net_config {
    const char *tap;            /* interface name, or NULL */
    int fd;                     /* used when tap is NULL; owned by the VM once created */
    uint8_t mac[6];
};

struct vm_config {
    const char *kernel_path;
    uint64_t memory_bytes;
    uint32_t ncpus;
    const char *cmdline;
    int console_fd;             /* not owned */
    int incoming;               /* build for an incoming migration (no image) */
    const struct vm_net_config *nets;   /* nnets entries, <= GW_MAX_VIRTIO_DEVICES */
    uint32_t nnets;
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
int vm_start(struct vm *vm, bool paused, struct gw_error *err);  /* paused: straight to PAUSED */
int vm_pause(struct vm *vm, struct gw_error *err);   /* returns once all vCPUs are parked */
int vm_resume(struct vm *vm, struct gw_error *err);

/* Switchover: park the vCPUs (from RUNNING or PAUSED) so the migration
 * engine can save their state; vm_thaw returns to the state before;
 * vm_mark_migrated ends the VM's life here.  Same return convention. */
int vm_freeze(struct vm *vm, struct gw_error *err);
int vm_thaw(struct vm *vm, struct gw_error *err);
int vm_mark_migrated(struct vm *vm, struct gw_error *err);
/* True if the VM is frozen and was paused (not running) before. */
bool vm_frozen_from_paused(struct vm *vm);

/* Asks every vCPU to stop; the VM reaches VM_STOPPED with exit_code once
 * they have.  The first call's code wins.  Any thread. */
void vm_stop(struct vm *vm, int exit_code);

/* Throttles every vCPU to run only (100 - pct)% of the time, to slow a
 * guest's dirtying for auto-converge: each runs 10 ms, then sleeps its
 * share.  0 ends it; above VM_THROTTLE_MAX is clamped.  Returns 0 or
 * -errno if the throttle thread cannot start. */
#define VM_THROTTLE_MAX 99
int vm_set_throttle(struct vm *vm, unsigned pct);
unsigned vm_get_throttle(struct vm *vm);

/* An fd that becomes readable when the VM reaches VM_STOPPED (for epoll). */
int vm_stopped_fd(const struct vm *vm);

void vm_get_status(struct vm *vm, struct vm_status *status);
const char *vm_state_name(enum vm_state state);

struct kvm_vm *vm_kvm(struct vm *vm);
const struct guest_memory *vm_memory(const struct vm *vm);
uint32_t vm_ncpus(const struct vm *vm);
int vm_vcpu_fd(const struct vm *vm, uint32_t index);
enum vm_state vm_get_state(struct vm *vm);

/* Dirty tracking for migration: KVM's dirty log plus every page the VMM
 * itself writes into guest RAM (vm_write_guest, device emulation), which
 * KVM cannot see.  vm_dirty_sync ORs both into bitmap (one bit per page,
 * vm_dirty_bitmap_words() words), re-arms tracking, and sets *ndirty to
 * the number of bits now set in bitmap.  One caller at a
 * time; vm_write_guest may run concurrently on any thread. */
int vm_dirty_start(struct vm *vm);
void vm_dirty_stop(struct vm *vm);
uint64_t vm_dirty_bitmap_words(const struct vm *vm);
int vm_dirty_sync(struct vm *vm, uint64_t *bitmap, uint64_t *ndirty);



/* Registers of one vCPU, for debugging guests.  Only while VM_PAUSED;
 * returns 0, -EBUSY or -EINVAL (no such vCPU). */
struct vm_vcpu_regs {
    uint64_t rip, rsp, rflags, rax, cr0, cr2, cr3, cr4, efer;
    uint16_t cs;
};
int vm_get_vcpu_regs(struct vm *vm, uint32_t index, struct vm_vcpu_regs *regs);

/* Copies len bytes into guest RAM at gpa (bounds-checked) and marks the
 * pages dirty for migration; for device emulation and test hooks.  Any
 * thread.  Returns 0 or -EFAULT. */
int vm_write_guest(struct vm *vm, uint64_t gpa, const void *data, uint64_t len);

/* Marks [gpa, gpa + len) dirty for migration after the VMM wrote it in
 * place (devices writing RX buffers and used rings through host
 * pointers).  Ranges outside RAM are ignored.  Any thread, lock-free. */
void vm_mark_dirty(struct vm *vm, uint64_t gpa, uint64_t len);

/* The VM's virtio-net devices, in device order (for migration and the
 * control API).  Owned by the VM. */
struct virtio_net;
uint32_t vm_net_count(const struct vm *vm);
struct virtio_net *vm_net(const struct vm *vm, uint32_t index);

#endif
