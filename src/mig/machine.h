/*
 * The machine's non-RAM state as STATE sections: the VM-wide x86 state
 * (irqchip, PIT, clock) as "x86-vm", each vCPU as "x86-vcpu" and each
 * virtio-net device as "virtio-net", with its index as the instance.  Saving happens on a frozen VM; loading first
 * decodes every section into plain structs (struct mig_machine_state) and
 * only applies them to KVM once all are present and valid.
 */
#ifndef GW_MIG_MACHINE_H
#define GW_MIG_MACHINE_H

#include "base/error.h"
#include "dev/virtio_net.h"
#include "godwit/abi.h"
#include "mig/conn.h"
#include "vmm/vm.h"
#include "vmm/x86/cpustate.h"

#define MIG_SECTION_VM "x86-vm"
#define MIG_SECTION_VCPU "x86-vcpu"

/* Saves the frozen VM's state and sends it as STATE records. */
int mig_machine_send(struct vm *vm, struct mig_conn *conn, struct gw_error *err);

struct mig_machine_state {
    uint32_t ncpus;
    struct x86_vm_state vm;
    int have_vm;
    struct x86_vcpu_state *vcpus;       /* ncpus, owned */
    int *have_vcpu;                     /* ncpus flags, owned */
    struct virtio_net_state nets[GW_MAX_VIRTIO_DEVICES];
    int have_net[GW_MAX_VIRTIO_DEVICES];
};

int mig_machine_state_init(struct mig_machine_state *s, uint32_t ncpus, struct gw_error *err);
void mig_machine_state_uninit(struct mig_machine_state *s);
/* Decodes one STATE record payload into s.  -EPROTO with err for unknown
 * sections, bad instances, duplicates or bad contents. */
int mig_machine_state_add(struct mig_machine_state *s, struct rbuf *payload,
                          struct gw_error *err);
/* Checks every section arrived, then loads them into vm's KVM objects. */
int mig_machine_state_load(const struct mig_machine_state *s, struct vm *vm,
                           struct gw_error *err);

#endif
