/*
 * Interrupts and exceptions.  An exception prints the vector and the
 * registers and ends the VM with code 128 + vector; the timer counts ticks
 * per vCPU; the breakpoint vector is the workload's system-call door
 * (syscall.c).
 */
#include "kernel.h"
#include "sdk.h"
#include "x86.h"

struct idt_gate {
    uint16_t offset_low;
    uint16_t selector;
    uint8_t ist;
    uint8_t type_attr;
    uint16_t offset_mid;
    uint32_t offset_high;
    uint32_t zero;
} __attribute__((packed));

struct idtr {
    uint16_t limit;
    uint64_t base;
} __attribute__((packed));

#define GATE_INTERRUPT_DPL0 0x8e
#define GATE_INTERRUPT_DPL3 0xee

static struct idt_gate idt[256] __attribute__((aligned(16)));
volatile uint64_t kernel_timer_ticks[GW_MAX_VCPUS];

static const char *const exception_names[32] = {
    "divide error", "debug", "NMI", "breakpoint", "overflow", "bound range",
    "invalid opcode", "device not available", "double fault", "coprocessor overrun",
    "invalid TSS", "segment not present", "stack fault", "general protection",
    "page fault", "reserved", "x87 FPU error", "alignment check", "machine check",
    "SIMD FP exception", "virtualization", "control protection",
};

static void set_gate(unsigned vector, uint64_t handler, uint8_t type_attr)
{
    idt[vector] = (struct idt_gate){
        .offset_low = handler & 0xffff,
        .selector = SEL_KCODE,
        .type_attr = type_attr,
        .offset_mid = (handler >> 16) & 0xffff,
        .offset_high = handler >> 32,
    };
}

void idt_build(void)
{
    for (unsigned v = 0; v < 32; v++)
        set_gate(v, isr_exception_stubs[v],
                 v == VEC_SYSCALL ? GATE_INTERRUPT_DPL3 : GATE_INTERRUPT_DPL0);
    set_gate(VEC_TIMER, (uint64_t)isr_timer, GATE_INTERRUPT_DPL0);
    set_gate(VEC_SPURIOUS, (uint64_t)isr_spurious, GATE_INTERRUPT_DPL0);
}

void idt_load(void)
{
    struct idtr idtr = { .limit = sizeof idt - 1, .base = (uint64_t)idt };
    __asm__ volatile("lidt %0" ::"m"(idtr));
}

__attribute__((noreturn)) static void report_fault(const struct trap_frame *f)
{
    const char *name = f->vector < 32 && exception_names[f->vector] ? exception_names[f->vector]
                                                                     : "unknown";
    printf("guest fault: vector %lu (%s) error 0x%lx on cpu %u\n", (unsigned long)f->vector, name,
           (unsigned long)f->error, apic_id());
    printf("  rip 0x%lx cs 0x%lx rflags 0x%lx rsp 0x%lx ss 0x%lx cr2 0x%lx\n",
           (unsigned long)f->rip, (unsigned long)f->cs, (unsigned long)f->rflags,
           (unsigned long)f->rsp, (unsigned long)f->ss, (unsigned long)read_cr2());
    printf("  rax 0x%lx rbx 0x%lx rcx 0x%lx rdx 0x%lx rsi 0x%lx rdi 0x%lx rbp 0x%lx\n",
           (unsigned long)f->rax, (unsigned long)f->rbx, (unsigned long)f->rcx,
           (unsigned long)f->rdx, (unsigned long)f->rsi, (unsigned long)f->rdi,
           (unsigned long)f->rbp);
    printf("  r8 0x%lx r9 0x%lx r10 0x%lx r11 0x%lx r12 0x%lx r13 0x%lx r14 0x%lx r15 0x%lx\n",
           (unsigned long)f->r8, (unsigned long)f->r9, (unsigned long)f->r10,
           (unsigned long)f->r11, (unsigned long)f->r12, (unsigned long)f->r13,
           (unsigned long)f->r14, (unsigned long)f->r15);
    sdk_exit(128 + (int)(f->vector & 0x7f));
}

void isr_dispatch(struct trap_frame *f);

void isr_dispatch(struct trap_frame *f)
{
    switch (f->vector) {
    case VEC_TIMER: {
        unsigned cpu = apic_id();
        if (cpu < GW_MAX_VCPUS)
            kernel_timer_ticks[cpu]++;
        apic_eoi();
        return;
    }
    case VEC_SPURIOUS:
        return;
    case VEC_SYSCALL:
        f->rax = syscall_dispatch(f->rax, f->rdi, f->rsi);
        return;
    default:
        report_fault(f);
    }
}
