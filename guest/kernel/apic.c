/*
 * x2APIC: enable it and run the local timer periodically at TIMER_HZ.
 * Register access is by MSR (no MMIO page to map).  KVM's APIC timer
 * counts at 1 GHz, so with divide-by-1 the initial count is in ns.
 *
 * The timer is the only interrupt a guest takes.  Devices poll (their
 * I/O APIC pins stay masked, as at reset), and LINT0 is masked too: KVM
 * resets the boot CPU's LINT0 to ExtINT (virtual wire), so a device IRQ
 * would otherwise reach it through the unprogrammed 8259 PIC as vector
 * 0 + IRQ, i.e. as a CPU exception (virtio-net's config interrupt after a
 * migration arrived as "vector 5, bound range").
 */
#include "kernel.h"
#include "sdk.h"
#include "x86.h"

#define MSR_APIC_BASE 0x1b
#define APIC_BASE_EXTD (1ULL << 10)
#define APIC_BASE_EN (1ULL << 11)
#define MSR_X2APIC_ID 0x802
#define MSR_X2APIC_EOI 0x80b
#define MSR_X2APIC_SVR 0x80f
#define MSR_X2APIC_LVT_TIMER 0x832
#define MSR_X2APIC_LVT_LINT0 0x835
#define LVT_MASKED (1u << 16)
#define MSR_X2APIC_TIMER_INIT 0x838
#define MSR_X2APIC_TIMER_DIV 0x83e
#define LVT_TIMER_PERIODIC (1u << 17)
#define APIC_TIMER_HZ 1000000000ULL

void apic_timer_start(void)
{
    wrmsr(MSR_APIC_BASE, rdmsr(MSR_APIC_BASE) | APIC_BASE_EN | APIC_BASE_EXTD);
    wrmsr(MSR_X2APIC_SVR, 0x100 | VEC_SPURIOUS);
    wrmsr(MSR_X2APIC_LVT_LINT0, LVT_MASKED);
    wrmsr(MSR_X2APIC_TIMER_DIV, 0xb);   /* divide by 1 */
    wrmsr(MSR_X2APIC_LVT_TIMER, LVT_TIMER_PERIODIC | VEC_TIMER);
    wrmsr(MSR_X2APIC_TIMER_INIT, APIC_TIMER_HZ / TIMER_HZ);
}

void apic_eoi(void) { wrmsr(MSR_X2APIC_EOI, 0); }

unsigned apic_id(void) { return (unsigned)rdmsr(MSR_X2APIC_ID); }
