/* Shared between vm.c and vcpu.c only: the VM's insides. */
#ifndef GW_VMM_VM_INTERNAL_H
#define GW_VMM_VM_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdatomic.h>

#include "dev/exitdev.h"
#include "dev/pio.h"
#include "dev/serial.h"
#include "dev/virtio_net.h"
#include "godwit/abi.h"
#include "vmm/kvm.h"
#include "vmm/memory.h"
#include "vmm/mmio.h"
#include "vmm/vm.h"

struct vcpu {
    struct vm *vm;
    uint32_t index;
    int fd;
    struct kvm_run *run;        /* touched only by this vCPU's thread */
    pthread_t thread;
    bool thread_started;
    atomic_bool throttle_due;   /* kicked by the throttle: sleep before the next slice */
};

/* A device's view of the VM's run state: run when the VM enters RUNNING,
 * quiesce when it leaves it (pause, freeze, stop).  Called under vm->lock,
 * so hooks must never take it; quiesce returns once the device no longer
 * touches guest RAM. */
struct vm_device_hooks {
    void (*run)(void *opaque);
    void (*quiesce)(void *opaque);
    void *opaque;
};

#define VM_MAX_DEVICE_HOOKS GW_MAX_VIRTIO_DEVICES

struct vm {
    struct vm_config config;
    struct guest_memory mem;
    struct kvm_vm kvm;
    struct pio_bus pio;
    struct serial serial;
    struct exitdev exitdev;
    struct mmio_bus mmio;
    struct virtio_net *nets[GW_MAX_VIRTIO_DEVICES];     /* owned */
    uint32_t nnets;
    struct vm_device_hooks hooks[VM_MAX_DEVICE_HOOKS];  /* fixed before vCPUs start */
    uint32_t nhooks;
    struct vcpu *vcpus;
    uint32_t ncpus;
    int stopped_eventfd;
    uint64_t started_ns;

    /* Read by vCPU threads without the lock at the top of each run-loop
     * iteration; written under lock. */
    atomic_bool pause_requested;
    atomic_bool stop_requested;

    pthread_mutex_t lock;       /* guards state, nparked, nexited, exit_code */
    pthread_cond_t cond;        /* signalled when any of those change */
    enum vm_state state;
    enum vm_state thaw_to;      /* where vm_thaw returns (valid in VM_FROZEN) */
    uint32_t nparked;           /* vCPU threads parked for a pause */
    uint32_t nexited;           /* vCPU threads that left their loop */
    int exit_code;
    bool exit_code_set;

    /* Pages written by the VMM, one bit each; allocated by vm_dirty_start,
     * set by vm_write_guest with atomic OR, drained by vm_dirty_sync. */
    _Atomic uint64_t *vmm_dirty;
    atomic_bool vmm_dirty_on;

    /* vCPU throttling (throttle.c): the thread starts with the first
     * non-zero throttle (under lock) and ends with the VM. */
    atomic_uint throttle_pct;
    atomic_bool throttle_quit;
    pthread_t throttle_thread;
    bool throttle_started;
};

/* vcpu.c */
int vcpu_start(struct vcpu *vcpu);
void vcpu_kick(struct vcpu *vcpu);
void vcpu_install_kick_handler(void);

/* throttle.c */
/* Called by a vCPU thread the throttle kicked: sleeps its share. */
void vcpu_throttle_sleep(struct vcpu *vcpu);
/* Stops the throttle thread (before the vCPUs are torn down). */
void vm_throttle_uninit(struct vm *vm);

/* vm.c, called by vCPU threads */
void vm_vcpu_park(struct vm *vm);
void vm_vcpu_exited(struct vm *vm);

#endif
