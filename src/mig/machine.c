/* Machine state sections for migration; see machine.h. */
#include "mig/machine.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mig/proto.h"
#include "vmm/kvm.h"

#define SECTION_VERSION 1

static int send_section(struct mig_conn *conn, struct wbuf *w, struct gw_error *err)
{
    int rc = mig_conn_send(conn, MIG_REC_STATE, w, err);
    wbuf_reset(w);
    return rc;
}

int mig_machine_send(struct vm *vm, struct mig_conn *conn, struct gw_error *err)
{
    struct kvm_vm *kvm = vm_kvm(vm);
    struct wbuf w;
    wbuf_init(&w);

    struct x86_vm_state vms;
    int rc = x86_vm_state_save(kvm->vm_fd, &vms, err);
    if (!rc) {
        mig_section_begin(&w, MIG_SECTION_VM, 0, SECTION_VERSION);
        x86_vm_state_encode(&vms, &w);
        rc = send_section(conn, &w, err);
    }
    for (uint32_t i = 0; !rc && i < vm_ncpus(vm); i++) {
        struct x86_vcpu_state cpu;
        x86_vcpu_state_init(&cpu);
        rc = x86_vcpu_state_save(kvm->kvm_fd, vm_vcpu_fd(vm, i), &cpu, err);
        if (!rc) {
            mig_section_begin(&w, MIG_SECTION_VCPU, i, SECTION_VERSION);
            x86_vcpu_state_encode(&cpu, &w);
            rc = send_section(conn, &w, err);
        }
        x86_vcpu_state_uninit(&cpu);
    }
    /* The devices are quiesced (the VM is frozen): their rings are still. */
    for (uint32_t i = 0; !rc && i < vm_net_count(vm); i++) {
        struct virtio_net_state net;
        virtio_net_save(vm_net(vm, i), &net);
        mig_section_begin(&w, VIRTIO_NET_SECTION, i, VIRTIO_NET_SECTION_VERSION);
        virtio_net_state_encode(&net, &w);
        rc = send_section(conn, &w, err);
    }
    wbuf_uninit(&w);
    return rc;
}

int mig_machine_state_init(struct mig_machine_state *s, uint32_t ncpus, struct gw_error *err)
{
    *s = (struct mig_machine_state){ .ncpus = ncpus };
    s->vcpus = calloc(ncpus, sizeof *s->vcpus);
    s->have_vcpu = calloc(ncpus, sizeof *s->have_vcpu);
    if (!s->vcpus || !s->have_vcpu) {
        mig_machine_state_uninit(s);
        return gw_error_set(err, -ENOMEM, "out of memory for vCPU state");
    }
    for (uint32_t i = 0; i < ncpus; i++)
        x86_vcpu_state_init(&s->vcpus[i]);
    return 0;
}

void mig_machine_state_uninit(struct mig_machine_state *s)
{
    for (uint32_t i = 0; s->vcpus && i < s->ncpus; i++)
        x86_vcpu_state_uninit(&s->vcpus[i]);
    free(s->vcpus);
    free(s->have_vcpu);
    *s = (struct mig_machine_state){ 0 };
}

int mig_machine_state_add(struct mig_machine_state *s, struct rbuf *payload,
                          struct gw_error *err)
{
    char name[MIG_SECTION_NAME_MAX + 1];
    uint32_t instance, version;
    int rc = mig_section_header_decode(payload, name, &instance, &version, err);
    if (rc)
        return rc;
    if (version != SECTION_VERSION)
        return gw_error_set(err, -EPROTO, "state section %s has version %u, this side reads %u",
                            name, version, SECTION_VERSION);

    struct gw_error inner = { 0 };
    if (!strcmp(name, MIG_SECTION_VM)) {
        if (instance != 0 || s->have_vm)
            return gw_error_set(err, -EPROTO, "unexpected %s section instance %u", name, instance);
        rc = x86_vm_state_decode(payload, &s->vm, &inner);
        s->have_vm = !rc;
    } else if (!strcmp(name, MIG_SECTION_VCPU)) {
        if (instance >= s->ncpus || s->have_vcpu[instance])
            return gw_error_set(err, -EPROTO, "unexpected %s section for vCPU %u (VM has %u)",
                                name, instance, s->ncpus);
        rc = x86_vcpu_state_decode(payload, &s->vcpus[instance], &inner);
        s->have_vcpu[instance] = !rc;
    } else if (!strcmp(name, VIRTIO_NET_SECTION)) {
        if (instance >= GW_MAX_VIRTIO_DEVICES || s->have_net[instance])
            return gw_error_set(err, -EPROTO, "unexpected %s section instance %u", name, instance);
        rc = virtio_net_state_decode(payload, &s->nets[instance], &inner);
        s->have_net[instance] = !rc;
    } else {
        return gw_error_set(err, -EPROTO, "unknown state section '%s'", name);
    }
    if (rc)
        return gw_error_set(err, rc, "state section %s/%u: %s", name, instance, inner.msg);
    return 0;
}

int mig_machine_state_load(const struct mig_machine_state *s, struct vm *vm,
                           struct gw_error *err)
{
    if (!s->have_vm)
        return gw_error_set(err, -EPROTO, "the stream carried no %s section", MIG_SECTION_VM);
    for (uint32_t i = 0; i < s->ncpus; i++)
        if (!s->have_vcpu[i])
            return gw_error_set(err, -EPROTO, "the stream carried no state for vCPU %u", i);

    /* Devices: the same set on both sides, every section valid here,
     * before anything is applied. */
    uint32_t nnets = vm_net_count(vm);
    for (uint32_t i = 0; i < GW_MAX_VIRTIO_DEVICES; i++) {
        if (i < nnets && !s->have_net[i])
            return gw_error_set(err, -EPROTO, "this VM has virtio-net device %u, the source "
                                "sent no state for it (start both with the same --net)", i);
        if (i >= nnets && s->have_net[i])
            return gw_error_set(err, -EPROTO, "the source has virtio-net device %u, this VM "
                                "has %u (start both with the same --net)", i, nnets);
        if (i < nnets) {
            int rc = virtio_net_check(vm_net(vm, i), &s->nets[i], err);
            if (rc)
                return rc;
        }
    }

    struct kvm_vm *kvm = vm_kvm(vm);
    for (uint32_t i = 0; i < s->ncpus; i++) {
        int rc = x86_vcpu_state_load(vm_vcpu_fd(vm, i), &s->vcpus[i], err);
        if (rc)
            return rc;
    }
    for (uint32_t i = 0; i < nnets; i++) {
        int rc = virtio_net_load(vm_net(vm, i), &s->nets[i], err);
        if (rc)
            return rc;
    }
    /* The clock last: as close to the resume as possible. */
    return x86_vm_state_load(kvm->vm_fd, &s->vm, err);
}
