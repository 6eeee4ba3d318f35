/*
 * x86 vCPU and VM state for migration; see cpustate.h.
 *
 * Two halves.  The KVM half (save/load) knows which ioctls carry which
 * state and in what order KVM needs them; it is the only part that talks
 * to KVM.  The codec half (encode/decode) turns the plain structs into TLV
 * items and back, trusting nothing it reads: every length is checked
 * exactly, the MSR list only carries MSRs this build knows, and the
 * decoded struct replaces the caller's only once the whole section
 * checked out.  The migration engine (mig/) calls both halves; vmm/
 * decides nothing about streams.
 */
#include "vmm/x86/cpustate.h"

#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "wire/tlv.h"

/* The UAPI structs travel raw: pin their sizes so a header change that
 * would change the wire fails the build instead. */
_Static_assert(sizeof(struct kvm_regs) == 144, "kvm_regs layout");
_Static_assert(sizeof(struct kvm_sregs) == 312, "kvm_sregs layout");
_Static_assert(sizeof(struct kvm_xsave) == X86_XSAVE_MIN_BYTES, "kvm_xsave layout");
_Static_assert(sizeof(struct kvm_xcrs) == 392, "kvm_xcrs layout");
_Static_assert(sizeof(struct kvm_lapic_state) == 1024, "kvm_lapic_state layout");
_Static_assert(sizeof(struct kvm_vcpu_events) == 64, "kvm_vcpu_events layout");
_Static_assert(sizeof(struct kvm_mp_state) == 4, "kvm_mp_state layout");
_Static_assert(sizeof(struct kvm_debugregs) == 128, "kvm_debugregs layout");
_Static_assert(sizeof(struct kvm_irqchip) == 520, "kvm_irqchip layout");
_Static_assert(sizeof(struct kvm_pit_state2) == 112, "kvm_pit_state2 layout");
_Static_assert(sizeof(struct kvm_clock_data) == 48, "kvm_clock_data layout");

/* ---- the MSRs ---------------------------------------------------------- */

/* QEMU's kvm_put_msrs, cut to what a godwit guest can have, in the order
 * KVM_SET_MSRS must see them: the TSC before TSC_DEADLINE (a deadline is a
 * guest TSC value), ASYNC_PF_INT before ASYNC_PF_EN (enabling interrupt
 * delivery takes the vector from ASYNC_PF_INT).  Save keeps only those in
 * KVM_GET_MSR_INDEX_LIST.  Adding one changes what older receivers accept:
 * decode rejects MSRs it does not know rather than let a stream write any
 * MSR of the vCPU (VMX capabilities, ARCH_CAPABILITIES...). */
#define SAVED_MSRS(X)                                   \
    X(0x00000010, "IA32_TSC")                           \
    X(0x0000003b, "IA32_TSC_ADJUST")                    \
    X(0x00000174, "IA32_SYSENTER_CS")                   \
    X(0x00000175, "IA32_SYSENTER_ESP")                  \
    X(0x00000176, "IA32_SYSENTER_EIP")                  \
    X(0xc0000081, "STAR")                               \
    X(0xc0000082, "LSTAR")                              \
    X(0xc0000083, "CSTAR")                              \
    X(0xc0000084, "SFMASK")                             \
    X(0xc0000102, "KERNEL_GS_BASE")                     \
    X(0xc0000103, "TSC_AUX")                            \
    X(0x00000277, "IA32_PAT")                           \
    X(0x000001a0, "IA32_MISC_ENABLE")                   \
    X(0x4b564d00, "KVM_WALL_CLOCK_NEW")                 \
    X(0x4b564d01, "KVM_SYSTEM_TIME_NEW")                \
    X(0x00000011, "KVM_WALL_CLOCK")                     \
    X(0x00000012, "KVM_SYSTEM_TIME")                    \
    X(0x4b564d06, "KVM_ASYNC_PF_INT")                   \
    X(0x4b564d02, "KVM_ASYNC_PF_EN")                    \
    X(0x4b564d04, "KVM_PV_EOI_EN")                      \
    X(0x4b564d03, "KVM_STEAL_TIME")                     \
    X(0x4b564d05, "KVM_POLL_CONTROL")                   \
    X(0x000006e0, "IA32_TSC_DEADLINE")

#define MSR_INDEX(index, name) index,
#define MSR_NAME(index, name) name,
const uint32_t x86_saved_msr_list[] = { SAVED_MSRS(MSR_INDEX) };
static const char *const saved_msr_names[] = { SAVED_MSRS(MSR_NAME) };
#define NSAVED_MSRS (sizeof x86_saved_msr_list / sizeof x86_saved_msr_list[0])
const unsigned x86_saved_msr_count = NSAVED_MSRS;
_Static_assert(NSAVED_MSRS <= X86_MAX_SAVED_MSRS, "X86_MAX_SAVED_MSRS too small");

static int msr_slot(uint32_t index)
{
    for (unsigned i = 0; i < NSAVED_MSRS; i++)
        if (x86_saved_msr_list[i] == index)
            return (int)i;
    return -1;
}

const char *x86_msr_name(uint32_t index)
{
    int i = msr_slot(index);
    return i < 0 ? NULL : saved_msr_names[i];
}

/* ---- the KVM half ------------------------------------------------------ */

/* Records a failed ioctl as "what: strerror"; returns -errno. */
static int kvm_fail(struct gw_error *err, const char *what)
{
    int e = errno ? errno : EIO;
    return gw_error_set(err, -e, "%s: %s", what, strerror(e));
}

static struct kvm_msrs *msrs_alloc(void)
{
    return calloc(1, sizeof(struct kvm_msrs) + X86_MAX_SAVED_MSRS * sizeof(struct kvm_msr_entry));
}

/* The xsave size KVM uses for this process's vCPUs: KVM_CAP_XSAVE2 (which
 * grows past 4096 bytes with AMX and the like), or 4096 without it. */
static int xsave_size(int kvm_fd, uint32_t *bytes, struct gw_error *err)
{
    if (ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE) <= 0)
        return gw_error_set(err, -ENOTSUP, "KVM lacks KVM_CAP_XSAVE");
    int size = ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE2);
    if (size < (int)X86_XSAVE_MIN_BYTES)
        size = X86_XSAVE_MIN_BYTES;
    if ((uint32_t)size > X86_XSAVE_MAX_BYTES)
        return gw_error_set(err, -ENOTSUP, "xsave state of %d bytes exceeds the %u we carry",
                            size, X86_XSAVE_MAX_BYTES);
    *bytes = (uint32_t)size;
    return 0;
}

/* Fills m with the saved MSRs that KVM lists, in our order. */
static int listed_msrs(int kvm_fd, struct kvm_msrs *m, struct gw_error *err)
{
    struct kvm_msr_list probe = { .nmsrs = 0 };
    if (ioctl(kvm_fd, KVM_GET_MSR_INDEX_LIST, &probe) < 0 && errno != E2BIG)
        return kvm_fail(err, "KVM_GET_MSR_INDEX_LIST");
    struct kvm_msr_list *list = calloc(1, sizeof *list + (probe.nmsrs + 1) * sizeof(uint32_t));
    if (!list)
        return gw_error_set(err, -ENOMEM, "out of memory for the MSR index list");
    list->nmsrs = probe.nmsrs + 1;
    if (ioctl(kvm_fd, KVM_GET_MSR_INDEX_LIST, list) < 0) {
        int rc = kvm_fail(err, "KVM_GET_MSR_INDEX_LIST");
        free(list);
        return rc;
    }
    m->nmsrs = 0;
    for (unsigned i = 0; i < NSAVED_MSRS; i++)
        for (uint32_t j = 0; j < list->nmsrs; j++)
            if (list->indices[j] == x86_saved_msr_list[i]) {
                m->entries[m->nmsrs++] = (struct kvm_msr_entry){ .index = x86_saved_msr_list[i] };
                break;
            }
    free(list);
    return 0;
}

void x86_vcpu_state_init(struct x86_vcpu_state *s) { memset(s, 0, sizeof *s); }

void x86_vcpu_state_uninit(struct x86_vcpu_state *s)
{
    free(s->xsave);
    x86_vcpu_state_init(s);
}

/* Save order (Firecracker's notes): KVM_GET_MP_STATE first, because it
 * makes KVM accept pending INIT/SIPI, which changes registers and LAPIC;
 * KVM_GET_VCPU_EVENTS last, as other GETs may still move events. */
int x86_vcpu_state_save(int kvm_fd, int vcpu_fd, struct x86_vcpu_state *s, struct gw_error *err)
{
    uint32_t xsave_bytes = 0;
    int rc = xsave_size(kvm_fd, &xsave_bytes, err);
    if (rc)
        return rc;
    if (!s->xsave || s->xsave_bytes != xsave_bytes) {
        free(s->xsave);
        s->xsave_bytes = 0;
        s->xsave = calloc(1, xsave_bytes);
        if (!s->xsave)
            return gw_error_set(err, -ENOMEM, "out of memory for %u bytes of xsave", xsave_bytes);
        s->xsave_bytes = xsave_bytes;
    }

    if (ioctl(vcpu_fd, KVM_GET_MP_STATE, &s->mp_state) < 0)
        return kvm_fail(err, "KVM_GET_MP_STATE");
    if (ioctl(vcpu_fd, KVM_GET_REGS, &s->regs) < 0)
        return kvm_fail(err, "KVM_GET_REGS");
    if (ioctl(vcpu_fd, KVM_GET_SREGS, &s->sregs) < 0)
        return kvm_fail(err, "KVM_GET_SREGS");
    if (xsave_bytes > X86_XSAVE_MIN_BYTES) {
        if (ioctl(vcpu_fd, KVM_GET_XSAVE2, s->xsave) < 0)
            return kvm_fail(err, "KVM_GET_XSAVE2");
    } else if (ioctl(vcpu_fd, KVM_GET_XSAVE, s->xsave) < 0) {
        return kvm_fail(err, "KVM_GET_XSAVE");
    }
    if (ioctl(vcpu_fd, KVM_GET_XCRS, &s->xcrs) < 0)
        return kvm_fail(err, "KVM_GET_XCRS");
    if (ioctl(vcpu_fd, KVM_GET_DEBUGREGS, &s->debugregs) < 0)
        return kvm_fail(err, "KVM_GET_DEBUGREGS");
    if (ioctl(vcpu_fd, KVM_GET_LAPIC, &s->lapic) < 0)
        return kvm_fail(err, "KVM_GET_LAPIC");

    struct kvm_msrs *m = msrs_alloc();
    if (!m)
        return gw_error_set(err, -ENOMEM, "out of memory for MSRs");
    rc = listed_msrs(kvm_fd, m, err);
    if (!rc) {
        int got = ioctl(vcpu_fd, KVM_GET_MSRS, m);
        if (got < 0)
            rc = kvm_fail(err, "KVM_GET_MSRS");
        else if ((uint32_t)got < m->nmsrs)
            rc = gw_error_set(err, -EIO, "KVM_GET_MSRS read %d of %u MSRs: cannot read %s (0x%x)",
                              got, m->nmsrs, x86_msr_name(m->entries[got].index),
                              m->entries[got].index);
    }
    if (!rc) {
        s->nmsrs = m->nmsrs;
        for (uint32_t i = 0; i < m->nmsrs; i++) {
            s->msrs[i].index = m->entries[i].index;
            s->msrs[i].value = m->entries[i].data;
        }
    }
    free(m);
    if (rc)
        return rc;

    if (ioctl(vcpu_fd, KVM_GET_VCPU_EVENTS, &s->events) < 0)
        return kvm_fail(err, "KVM_GET_VCPU_EVENTS");
    return 0;
}

/* Checks what decode checks, for a struct that may not have come from it. */
static int check_vcpu_state(const struct x86_vcpu_state *s, struct gw_error *err)
{
    if (!s->xsave || s->xsave_bytes < X86_XSAVE_MIN_BYTES || s->xsave_bytes > X86_XSAVE_MAX_BYTES)
        return gw_error_set(err, -EINVAL, "vCPU state has no valid xsave area (%u bytes)",
                            s->xsave_bytes);
    if (s->nmsrs > X86_MAX_SAVED_MSRS)
        return gw_error_set(err, -EINVAL, "vCPU state has %u MSRs, more than %u", s->nmsrs,
                            X86_MAX_SAVED_MSRS);
    if (s->xcrs.nr_xcrs > KVM_MAX_XCRS)
        return gw_error_set(err, -EINVAL, "vCPU state has %u XCRs, more than %u",
                            s->xcrs.nr_xcrs, KVM_MAX_XCRS);
    return 0;
}

/* Load order, from what KVM does on each SET:
 *  - KVM_SET_REGS drops any pending exception, so it precedes
 *    KVM_SET_VCPU_EVENTS, which restores it;
 *  - xsave, then XCR0 (QEMU's order; XCR0 is checked against CPUID only);
 *  - KVM_SET_SREGS restores the APIC base MSR (xAPIC/x2APIC mode, which
 *    decides how the LAPIC ID register reads), so it precedes KVM_SET_LAPIC;
 *  - KVM_SET_LAPIC precedes the MSRs: IA32_TSC_DEADLINE is dropped unless
 *    the LAPIC timer is already in TSC-deadline mode;
 *  - KVM_SET_MP_STATE refuses INIT/SIPI states while events (SMM) say they
 *    are blocked, so it precedes KVM_SET_VCPU_EVENTS, which restores SMM,
 *    the latched INIT, NMI and interrupt shadow on top of everything;
 *  - debug registers last (independent).
 * KVM reads as many xsave bytes as *its* vCPU size, which may exceed the
 * source's, so xsave goes through a zero-padded buffer of the largest size
 * we carry; KVM then rejects features the destination lacks (xstate_bv). */
int x86_vcpu_state_load(int vcpu_fd, const struct x86_vcpu_state *s, struct gw_error *err)
{
    int rc = check_vcpu_state(s, err);
    if (rc)
        return rc;
    uint8_t *xsave = calloc(1, X86_XSAVE_MAX_BYTES);
    struct kvm_msrs *m = msrs_alloc();
    if (!xsave || !m) {
        rc = gw_error_set(err, -ENOMEM, "out of memory loading vCPU state");
        goto out;
    }
    memcpy(xsave, s->xsave, s->xsave_bytes);
    m->nmsrs = s->nmsrs;
    for (uint32_t i = 0; i < s->nmsrs; i++)
        m->entries[i] = (struct kvm_msr_entry){ .index = s->msrs[i].index,
                                                .data = s->msrs[i].value };

    if (ioctl(vcpu_fd, KVM_SET_REGS, &s->regs) < 0) {
        rc = kvm_fail(err, "KVM_SET_REGS");
        goto out;
    }
    if (ioctl(vcpu_fd, KVM_SET_XSAVE, xsave) < 0) {
        rc = kvm_fail(err, s->xsave_bytes > X86_XSAVE_MIN_BYTES
                               ? "KVM_SET_XSAVE (of a large xsave area)" : "KVM_SET_XSAVE");
        goto out;
    }
    if (s->xcrs.nr_xcrs && ioctl(vcpu_fd, KVM_SET_XCRS, &s->xcrs) < 0) {
        rc = kvm_fail(err, "KVM_SET_XCRS");
        goto out;
    }
    if (ioctl(vcpu_fd, KVM_SET_SREGS, &s->sregs) < 0) {
        rc = kvm_fail(err, "KVM_SET_SREGS");
        goto out;
    }
    if (ioctl(vcpu_fd, KVM_SET_LAPIC, &s->lapic) < 0) {
        rc = kvm_fail(err, "KVM_SET_LAPIC");
        goto out;
    }
    int set = ioctl(vcpu_fd, KVM_SET_MSRS, m);
    if (set < 0) {
        rc = kvm_fail(err, "KVM_SET_MSRS");
        goto out;
    }
    if ((uint32_t)set < m->nmsrs) {
        uint32_t index = m->entries[set].index;
        const char *name = x86_msr_name(index);
        rc = gw_error_set(err, -EINVAL, "KVM_SET_MSRS refused MSR %s (0x%x) = 0x%llx",
                          name ? name : "?", index, (unsigned long long)m->entries[set].data);
        goto out;
    }
    if (ioctl(vcpu_fd, KVM_SET_MP_STATE, &s->mp_state) < 0) {
        rc = kvm_fail(err, "KVM_SET_MP_STATE");
        goto out;
    }
    if (ioctl(vcpu_fd, KVM_SET_VCPU_EVENTS, &s->events) < 0) {
        rc = kvm_fail(err, "KVM_SET_VCPU_EVENTS");
        goto out;
    }
    if (ioctl(vcpu_fd, KVM_SET_DEBUGREGS, &s->debugregs) < 0) {
        rc = kvm_fail(err, "KVM_SET_DEBUGREGS");
        goto out;
    }
out:
    free(xsave);
    free(m);
    return rc;
}

int x86_vm_state_save(int vm_fd, struct x86_vm_state *s, struct gw_error *err)
{
    memset(s, 0, sizeof *s);
    s->pic_master.chip_id = KVM_IRQCHIP_PIC_MASTER;
    s->pic_slave.chip_id = KVM_IRQCHIP_PIC_SLAVE;
    s->ioapic.chip_id = KVM_IRQCHIP_IOAPIC;
    if (ioctl(vm_fd, KVM_GET_IRQCHIP, &s->pic_master) < 0)
        return kvm_fail(err, "KVM_GET_IRQCHIP (PIC master)");
    if (ioctl(vm_fd, KVM_GET_IRQCHIP, &s->pic_slave) < 0)
        return kvm_fail(err, "KVM_GET_IRQCHIP (PIC slave)");
    if (ioctl(vm_fd, KVM_GET_IRQCHIP, &s->ioapic) < 0)
        return kvm_fail(err, "KVM_GET_IRQCHIP (IOAPIC)");
    if (ioctl(vm_fd, KVM_GET_PIT2, &s->pit) < 0)
        return kvm_fail(err, "KVM_GET_PIT2");
    if (ioctl(vm_fd, KVM_GET_CLOCK, &s->clock) < 0)
        return kvm_fail(err, "KVM_GET_CLOCK");
    return 0;
}

int x86_vm_state_load(int vm_fd, const struct x86_vm_state *s, struct gw_error *err)
{
    if (s->pic_master.chip_id != KVM_IRQCHIP_PIC_MASTER ||
        s->pic_slave.chip_id != KVM_IRQCHIP_PIC_SLAVE || s->ioapic.chip_id != KVM_IRQCHIP_IOAPIC)
        return gw_error_set(err, -EINVAL, "VM state has irqchips in the wrong slots");
    /* KVM_GET_CLOCK reports TSC_STABLE and HOST_TSC as facts about the
     * source host; on set only REALTIME means something ("advance by the
     * realtime elapsed since"), and host_tsc must not travel. */
    struct kvm_clock_data clock = { .clock = s->clock.clock };
    if (s->clock.flags & KVM_CLOCK_REALTIME) {
        clock.flags = KVM_CLOCK_REALTIME;
        clock.realtime = s->clock.realtime;
    }

    if (ioctl(vm_fd, KVM_SET_IRQCHIP, &s->pic_master) < 0)
        return kvm_fail(err, "KVM_SET_IRQCHIP (PIC master)");
    if (ioctl(vm_fd, KVM_SET_IRQCHIP, &s->pic_slave) < 0)
        return kvm_fail(err, "KVM_SET_IRQCHIP (PIC slave)");
    if (ioctl(vm_fd, KVM_SET_IRQCHIP, &s->ioapic) < 0)
        return kvm_fail(err, "KVM_SET_IRQCHIP (IOAPIC)");
    if (ioctl(vm_fd, KVM_SET_PIT2, &s->pit) < 0)
        return kvm_fail(err, "KVM_SET_PIT2");
    if (ioctl(vm_fd, KVM_SET_CLOCK, &clock) < 0)
        return kvm_fail(err, "KVM_SET_CLOCK");
    return 0;
}

/* ---- the codec half ---------------------------------------------------- */

#define MSR_WIRE_BYTES 12u      /* u32 index, u64 value */

void x86_vcpu_state_encode(const struct x86_vcpu_state *s, struct wbuf *w)
{
    const uint16_t crit = TLV_CRITICAL;
    tlv_put_u64(w, X86_VCPU_TAG_FORMAT, crit, X86_CPUSTATE_FORMAT);
    tlv_put(w, X86_VCPU_TAG_REGS, crit, &s->regs, sizeof s->regs);
    tlv_put(w, X86_VCPU_TAG_SREGS, crit, &s->sregs, sizeof s->sregs);
    if (s->xsave)
        tlv_put(w, X86_VCPU_TAG_XSAVE, crit, s->xsave, s->xsave_bytes);
    tlv_put(w, X86_VCPU_TAG_XCRS, crit, &s->xcrs, sizeof s->xcrs);
    tlv_put(w, X86_VCPU_TAG_LAPIC, crit, &s->lapic, sizeof s->lapic);
    tlv_put(w, X86_VCPU_TAG_EVENTS, crit, &s->events, sizeof s->events);
    tlv_put(w, X86_VCPU_TAG_MP_STATE, crit, &s->mp_state, sizeof s->mp_state);
    tlv_put(w, X86_VCPU_TAG_DEBUGREGS, crit, &s->debugregs, sizeof s->debugregs);

    uint8_t msrs[4 + X86_MAX_SAVED_MSRS * MSR_WIRE_BYTES];
    uint32_t n = s->nmsrs <= X86_MAX_SAVED_MSRS ? s->nmsrs : X86_MAX_SAVED_MSRS;
    uint32_t v32 = htole32(n);
    memcpy(msrs, &v32, 4);
    for (uint32_t i = 0; i < n; i++) {
        uint8_t *p = msrs + 4 + i * MSR_WIRE_BYTES;
        uint64_t v64 = htole64(s->msrs[i].value);
        v32 = htole32(s->msrs[i].index);
        memcpy(p, &v32, 4);
        memcpy(p + 4, &v64, 8);
    }
    tlv_put(w, X86_VCPU_TAG_MSRS, crit, msrs, 4 + n * MSR_WIRE_BYTES);
}

/* What decode knows of each tag of a section: its name, its exact length
 * (0: checked by the case itself) and where its bytes go. */
struct item_rule {
    const char *name;
    uint32_t len;
    void *dst;
};

/* The common walk: copies fixed-size items to their rules, hands the rest
 * (rule len 0) to var(), skips unknown optional items, and enforces
 * "known tags at most once, all of them present".  Returns 0 or -EPROTO
 * (or var()'s code) with err filled. */
static int decode_items(struct rbuf *r, const char *section, const struct item_rule *rules,
                        unsigned nrules,
                        int (*var)(const struct tlv_item *it, void *ctx, struct gw_error *err),
                        void *ctx, struct gw_error *err)
{
    uint32_t seen = 0;
    struct tlv_item it;
    int rc;
    while ((rc = tlv_next(r, &it)) == 1) {
        const struct item_rule *rule = it.tag < nrules ? &rules[it.tag] : NULL;
        if (!rule || !rule->name) {
            if (it.flags & TLV_CRITICAL)
                return gw_error_set(err, -EPROTO, "%s has an unknown critical item (tag %u)",
                                    section, it.tag);
            continue;
        }
        if (seen & (1u << it.tag))
            return gw_error_set(err, -EPROTO, "%s has its %s item twice", section, rule->name);
        seen |= 1u << it.tag;
        if (rule->len) {
            if (tlv_copy_exact(&it, rule->dst, rule->len))
                return gw_error_set(err, -EPROTO, "%s item %s is %u bytes, expected %u", section,
                                    rule->name, it.len, rule->len);
        } else {
            rc = var(&it, ctx, err);
            if (rc)
                return rc;
        }
    }
    if (rc < 0)
        return gw_error_set(err, -EPROTO, "%s is truncated: an item overruns its %zu bytes",
                            section, r->len);
    for (unsigned tag = 1; tag < nrules; tag++)
        if (rules[tag].name && !(seen & (1u << tag)))
            return gw_error_set(err, -EPROTO, "%s lacks its %s item", section, rules[tag].name);
    return 0;
}

static int decode_format(const struct tlv_item *it, const char *section, struct gw_error *err)
{
    uint64_t format;
    if (tlv_get_u64(it, &format))
        return gw_error_set(err, -EPROTO, "%s format item is %u bytes, expected 8", section,
                            it->len);
    if (format != X86_CPUSTATE_FORMAT)
        return gw_error_set(err, -EPROTO, "%s has format %llu; this build reads %u", section,
                            (unsigned long long)format, X86_CPUSTATE_FORMAT);
    return 0;
}

static int decode_msrs(const struct tlv_item *it, struct x86_vcpu_state *t, struct gw_error *err)
{
    uint32_t n;
    if (it->len < 4)
        return gw_error_set(err, -EPROTO, "vCPU state msrs item is %u bytes, too short", it->len);
    memcpy(&n, it->data, 4);
    n = le32toh(n);
    if (n > X86_MAX_SAVED_MSRS)
        return gw_error_set(err, -EPROTO, "vCPU state carries %u MSRs, more than %u", n,
                            X86_MAX_SAVED_MSRS);
    if (it->len != 4 + n * MSR_WIRE_BYTES)
        return gw_error_set(err, -EPROTO, "vCPU state msrs item is %u bytes, expected %u for %u",
                            it->len, 4 + n * MSR_WIRE_BYTES, n);
    uint32_t have = 0;      /* bit per x86_saved_msr_list slot */
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *p = it->data + 4 + i * MSR_WIRE_BYTES;
        uint32_t index;
        uint64_t value;
        memcpy(&index, p, 4);
        memcpy(&value, p + 4, 8);
        index = le32toh(index);
        int slot = msr_slot(index);
        if (slot < 0)
            return gw_error_set(err, -EPROTO, "vCPU state carries MSR 0x%x, which is not one "
                                "this build migrates", index);
        if (have & (1u << slot))
            return gw_error_set(err, -EPROTO, "vCPU state carries MSR %s twice",
                                saved_msr_names[slot]);
        have |= 1u << slot;
        t->msrs[i].index = index;
        t->msrs[i].value = le64toh(value);
    }
    t->nmsrs = n;
    return 0;
}

static int vcpu_var_item(const struct tlv_item *it, void *ctx, struct gw_error *err)
{
    struct x86_vcpu_state *t = ctx;
    switch (it->tag) {
    case X86_VCPU_TAG_FORMAT:
        return decode_format(it, "vCPU state", err);
    case X86_VCPU_TAG_XSAVE:
        if (it->len < X86_XSAVE_MIN_BYTES || it->len > X86_XSAVE_MAX_BYTES)
            return gw_error_set(err, -EPROTO, "vCPU state xsave item is %u bytes, not %u..%u",
                                it->len, X86_XSAVE_MIN_BYTES, X86_XSAVE_MAX_BYTES);
        t->xsave = malloc(it->len);
        if (!t->xsave)
            return gw_error_set(err, -ENOMEM, "out of memory for %u bytes of xsave", it->len);
        memcpy(t->xsave, it->data, it->len);
        t->xsave_bytes = it->len;
        return 0;
    case X86_VCPU_TAG_MSRS:
        return decode_msrs(it, t, err);
    }
    return gw_error_set(err, -EPROTO, "vCPU state item %u has no decoder", it->tag);
}

int x86_vcpu_state_decode(struct rbuf *r, struct x86_vcpu_state *s, struct gw_error *err)
{
    struct x86_vcpu_state t;
    x86_vcpu_state_init(&t);
    const struct item_rule rules[] = {
        [X86_VCPU_TAG_FORMAT] = { "format", 0, NULL },
        [X86_VCPU_TAG_REGS] = { "regs", sizeof t.regs, &t.regs },
        [X86_VCPU_TAG_SREGS] = { "sregs", sizeof t.sregs, &t.sregs },
        [X86_VCPU_TAG_XSAVE] = { "xsave", 0, NULL },
        [X86_VCPU_TAG_XCRS] = { "xcrs", sizeof t.xcrs, &t.xcrs },
        [X86_VCPU_TAG_LAPIC] = { "lapic", sizeof t.lapic, &t.lapic },
        [X86_VCPU_TAG_EVENTS] = { "events", sizeof t.events, &t.events },
        [X86_VCPU_TAG_MP_STATE] = { "mp_state", sizeof t.mp_state, &t.mp_state },
        [X86_VCPU_TAG_DEBUGREGS] = { "debugregs", sizeof t.debugregs, &t.debugregs },
        [X86_VCPU_TAG_MSRS] = { "msrs", 0, NULL },
    };
    int rc = decode_items(r, "vCPU state", rules, sizeof rules / sizeof rules[0], vcpu_var_item,
                          &t, err);
    if (!rc && t.xcrs.nr_xcrs > KVM_MAX_XCRS)
        rc = gw_error_set(err, -EPROTO, "vCPU state has %u XCRs, more than %u", t.xcrs.nr_xcrs,
                          KVM_MAX_XCRS);
    if (!rc && t.mp_state.mp_state > KVM_MP_STATE_SIPI_RECEIVED &&
        t.mp_state.mp_state != KVM_MP_STATE_AP_RESET_HOLD)
        rc = gw_error_set(err, -EPROTO, "vCPU state has mp_state %u, not an x86 one",
                          t.mp_state.mp_state);
    if (rc) {
        free(t.xsave);
        return rc;
    }
    free(s->xsave);
    *s = t;
    return 0;
}

void x86_vm_state_encode(const struct x86_vm_state *s, struct wbuf *w)
{
    const uint16_t crit = TLV_CRITICAL;
    tlv_put_u64(w, X86_VM_TAG_FORMAT, crit, X86_CPUSTATE_FORMAT);
    tlv_put(w, X86_VM_TAG_PIC_MASTER, crit, &s->pic_master, sizeof s->pic_master);
    tlv_put(w, X86_VM_TAG_PIC_SLAVE, crit, &s->pic_slave, sizeof s->pic_slave);
    tlv_put(w, X86_VM_TAG_IOAPIC, crit, &s->ioapic, sizeof s->ioapic);
    tlv_put(w, X86_VM_TAG_PIT, crit, &s->pit, sizeof s->pit);
    tlv_put(w, X86_VM_TAG_CLOCK, crit, &s->clock, sizeof s->clock);
}

static int vm_var_item(const struct tlv_item *it, void *ctx, struct gw_error *err)
{
    (void)ctx;
    if (it->tag == X86_VM_TAG_FORMAT)
        return decode_format(it, "VM state", err);
    return gw_error_set(err, -EPROTO, "VM state item %u has no decoder", it->tag);
}

int x86_vm_state_decode(struct rbuf *r, struct x86_vm_state *s, struct gw_error *err)
{
    struct x86_vm_state t;
    memset(&t, 0, sizeof t);
    const struct item_rule rules[] = {
        [X86_VM_TAG_FORMAT] = { "format", 0, NULL },
        [X86_VM_TAG_PIC_MASTER] = { "pic_master", sizeof t.pic_master, &t.pic_master },
        [X86_VM_TAG_PIC_SLAVE] = { "pic_slave", sizeof t.pic_slave, &t.pic_slave },
        [X86_VM_TAG_IOAPIC] = { "ioapic", sizeof t.ioapic, &t.ioapic },
        [X86_VM_TAG_PIT] = { "pit", sizeof t.pit, &t.pit },
        [X86_VM_TAG_CLOCK] = { "clock", sizeof t.clock, &t.clock },
    };
    int rc = decode_items(r, "VM state", rules, sizeof rules / sizeof rules[0], vm_var_item, &t,
                          err);
    if (rc)
        return rc;
    if (t.pic_master.chip_id != KVM_IRQCHIP_PIC_MASTER ||
        t.pic_slave.chip_id != KVM_IRQCHIP_PIC_SLAVE || t.ioapic.chip_id != KVM_IRQCHIP_IOAPIC)
        return gw_error_set(err, -EPROTO, "VM state has an irqchip item with the wrong chip id");
    if (t.pit.flags & ~(uint32_t)(KVM_PIT_FLAGS_HPET_LEGACY | KVM_PIT_FLAGS_SPEAKER_DATA_ON))
        return gw_error_set(err, -EPROTO, "VM state has unknown PIT flags 0x%x", t.pit.flags);
    for (int i = 0; i < 3; i++)     /* modes 0-5, or 0xff: never programmed */
        if (t.pit.channels[i].mode > 5 && t.pit.channels[i].mode != 0xff)
            return gw_error_set(err, -EPROTO, "VM state has PIT channel %d in mode %u", i,
                                t.pit.channels[i].mode);
    *s = t;
    return 0;
}
