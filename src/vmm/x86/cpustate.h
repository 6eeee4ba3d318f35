/*
 * The x86 CPU and VM state a live migration carries, as plain structs kept
 * apart from the live KVM objects (Firecracker's habit): save reads a
 * paused vCPU (or VM) into a struct, encode writes the struct as TLV items
 * (wire/tlv.h), decode checks and fills a struct from hostile bytes, and
 * load applies a struct to a fresh vCPU (or VM) on the destination.
 * Decode never touches KVM and load checks what it can before its first
 * ioctl, so a bad stream fails before anything is applied.
 *
 * A vCPU section is the items below, in any order: one format item and
 * one item per KVM state (all required).  KVM's x86 UAPI structs are
 * fixed-layout stable ABI and travel as raw bytes (x86 is little-endian on
 * both ends); the MSR item is written field by field.  Unknown items are
 * skipped unless flagged TLV_CRITICAL.
 *
 * Threads: save and load need the vCPU out of KVM_RUN (every vCPU of the
 * VM paused, in fact: vCPU events and the LAPIC see each other); call them
 * from the vCPU's thread or while the VM is paused.  KVM does not care
 * whether the VM state or the vCPUs load first (QEMU loads the irqchips
 * first); x86_vm_state_load sets the clock, so call it last, just before
 * resuming.  Encode and decode are pure and reentrant.
 */
#ifndef GW_VMM_X86_CPUSTATE_H
#define GW_VMM_X86_CPUSTATE_H

#include <linux/kvm.h>
#include <stdint.h>

#include "base/error.h"
#include "wire/buf.h"

#define X86_MAX_SAVED_MSRS 32
#define X86_XSAVE_MIN_BYTES 4096u           /* sizeof(struct kvm_xsave) */
#define X86_XSAVE_MAX_BYTES (64u << 10)     /* what decode accepts; load lets KVM judge */
#define X86_CPUSTATE_FORMAT 1               /* bumped only for incompatible changes */

/* Tags of a vCPU section. */
enum x86_vcpu_tag {
    X86_VCPU_TAG_FORMAT = 1,    /* u64: X86_CPUSTATE_FORMAT */
    X86_VCPU_TAG_REGS = 2,      /* struct kvm_regs */
    X86_VCPU_TAG_SREGS = 3,     /* struct kvm_sregs */
    X86_VCPU_TAG_XSAVE = 4,     /* xsave_bytes bytes of struct kvm_xsave */
    X86_VCPU_TAG_XCRS = 5,      /* struct kvm_xcrs */
    X86_VCPU_TAG_LAPIC = 6,     /* struct kvm_lapic_state */
    X86_VCPU_TAG_EVENTS = 7,    /* struct kvm_vcpu_events */
    X86_VCPU_TAG_MP_STATE = 8,  /* struct kvm_mp_state */
    X86_VCPU_TAG_DEBUGREGS = 9, /* struct kvm_debugregs */
    X86_VCPU_TAG_MSRS = 10,     /* u32 count, then count x (u32 index, u64 value), LE */
};

/* Tags of a VM section. */
enum x86_vm_tag {
    X86_VM_TAG_FORMAT = 1,      /* u64: X86_CPUSTATE_FORMAT */
    X86_VM_TAG_PIC_MASTER = 2,  /* struct kvm_irqchip, chip_id KVM_IRQCHIP_PIC_MASTER */
    X86_VM_TAG_PIC_SLAVE = 3,   /* struct kvm_irqchip, chip_id KVM_IRQCHIP_PIC_SLAVE */
    X86_VM_TAG_IOAPIC = 4,      /* struct kvm_irqchip, chip_id KVM_IRQCHIP_IOAPIC */
    X86_VM_TAG_PIT = 5,         /* struct kvm_pit_state2 */
    X86_VM_TAG_CLOCK = 6,       /* struct kvm_clock_data */
};

/* Everything of one vCPU.  xsave is owned (heap), xsave_bytes long. */
struct x86_vcpu_state {
    struct kvm_regs regs;
    struct kvm_sregs sregs;
    struct kvm_xsave *xsave;
    uint32_t xsave_bytes;       /* from KVM_CAP_XSAVE2, at least X86_XSAVE_MIN_BYTES */
    struct kvm_xcrs xcrs;
    struct kvm_lapic_state lapic;
    struct kvm_vcpu_events events;
    struct kvm_mp_state mp_state;
    struct kvm_debugregs debugregs;
    uint32_t nmsrs;
    struct {
        uint32_t index;
        uint64_t value;
    } msrs[X86_MAX_SAVED_MSRS];
};

void x86_vcpu_state_init(struct x86_vcpu_state *s);
void x86_vcpu_state_uninit(struct x86_vcpu_state *s);     /* frees xsave; s reusable */

/* Reads the whole state of the paused vCPU vcpu_fd; kvm_fd (/dev/kvm) gives
 * the xsave size and the MSRs this KVM lists.  Returns 0 or -errno with a
 * sentence in err; on error s holds a partial state (still uninit-able). */
int x86_vcpu_state_save(int kvm_fd, int vcpu_fd, struct x86_vcpu_state *s, struct gw_error *err);

/* Applies s to a fresh vCPU that has its CPUID set, in the order KVM needs
 * (regs, xsave, xcrs, sregs, lapic, msrs, mp_state, events, debugregs; see
 * cpustate.c).  Returns 0 or -errno with err naming the step (and the MSR,
 * for MSRs).  A failure after the first ioctl leaves the vCPU half loaded:
 * the migration fails and the destination VM is discarded. */
int x86_vcpu_state_load(int vcpu_fd, const struct x86_vcpu_state *s, struct gw_error *err);

/* Appends s's TLV items to w (errors latch in w).  s must have been saved
 * or decoded. */
void x86_vcpu_state_encode(const struct x86_vcpu_state *s, struct wbuf *w);

/* Reads TLV items from r up to its end into s (initialised).  Checks every
 * length, count and the MSR list; rejects unknown critical tags, duplicate
 * and missing items.  Returns 0, or -EPROTO (-ENOMEM) with err filled and
 * s unchanged. */
int x86_vcpu_state_decode(struct rbuf *r, struct x86_vcpu_state *s, struct gw_error *err);

/* The VM-wide state: in-kernel PIC pair, IOAPIC, PIT and kvmclock. */
struct x86_vm_state {
    struct kvm_irqchip pic_master, pic_slave, ioapic;
    struct kvm_pit_state2 pit;
    struct kvm_clock_data clock;
};

/* Reads the paused VM's state.  Returns 0 or -errno with err filled. */
int x86_vm_state_save(int vm_fd, struct x86_vm_state *s, struct gw_error *err);

/* Applies s: irqchips, PIT, then the clock (with only the flags KVM takes
 * on set: KVM_CLOCK_REALTIME, if the source had it, so KVM advances the
 * clock by the time elapsed since the save).  Returns 0 or -errno. */
int x86_vm_state_load(int vm_fd, const struct x86_vm_state *s, struct gw_error *err);

void x86_vm_state_encode(const struct x86_vm_state *s, struct wbuf *w);
/* Like x86_vcpu_state_decode, for a VM section; s is unchanged on error. */
int x86_vm_state_decode(struct rbuf *r, struct x86_vm_state *s, struct gw_error *err);

/* The MSRs a vCPU section may carry, in the order load writes them, and
 * the name of one (NULL if not in the list).  For tests and messages. */
extern const uint32_t x86_saved_msr_list[];
extern const unsigned x86_saved_msr_count;
const char *x86_msr_name(uint32_t index);

#endif
