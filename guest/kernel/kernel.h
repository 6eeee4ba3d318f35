/*
 * The guest kernel's internals: what ring 0 sets up before it drops each
 * vCPU into ring 3.  Everything here runs in KVM's instruction emulator
 * under PVM, so it does as little as it can.
 */
#ifndef GW_GUEST_KERNEL_H
#define GW_GUEST_KERNEL_H

#include <stdint.h>

#include "godwit/abi.h"

#define SEL_KCODE 0x08
#define SEL_KDATA 0x10
#define SEL_UDATA (0x18 | 3)
#define SEL_UCODE (0x20 | 3)
#define SEL_TSS(cpu) (0x28 + 16 * (cpu))

/* The system-call door is the breakpoint vector: under PVM, `int3` from
 * ring 3 reaches ring 0 through a DPL-3 gate, while `int $0x80` raises
 * #UD and `syscall` was seen to jump to LSTAR still in ring 3. */
#define VEC_SYSCALL 3
#define VEC_TIMER 32
#define VEC_SPURIOUS 0xff

/* System calls (`int3`): number in rax, arguments in rdi, rsi; result in rax. */
#define SYS_PARK 1      /* this vCPU has no more work: halt with interrupts on */
#define SYS_WRITE 2     /* console output: rdi = buffer, rsi = length */
#define SYS_EXIT 3      /* end the VM: rdi = exit code */
#define SYS_IDLE 4      /* halt until the next interrupt (at most one timer tick) */

struct trap_frame {
    uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
    uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
    uint64_t vector, error;
    uint64_t rip, cs, rflags, rsp, ss;      /* pushed by the CPU */
};

extern const struct gw_boot_info *kernel_boot_info;
extern volatile uint64_t kernel_timer_ticks[GW_MAX_VCPUS];

void paging_build(uint64_t ram_bytes);
void paging_load(void);
void gdt_build(unsigned ncpus);
void gdt_load(unsigned cpu);
void idt_build(void);
void idt_load(void);
void apic_timer_start(void);
void apic_eoi(void);
unsigned apic_id(void);
void clock_init(uint64_t tsc_khz);

/* entry.S */
extern const uint64_t isr_exception_stubs[32];
extern void isr_timer(void), isr_spurious(void);
uint64_t syscall_dispatch(uint64_t nr, uint64_t a, uint64_t b);
__attribute__((noreturn)) void enter_user(void (*entry)(unsigned), uint64_t rsp, unsigned cpu);
void load_gdt_and_segments(const void *gdtr, uint16_t tss_sel);

/* lib/sys.c */
void sdk_user_start(unsigned cpu);
void console_write(const char *s, uint64_t n);

#endif
