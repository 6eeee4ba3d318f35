/*
 * Entry points: _start (every vCPU, from the VMM), interrupt stubs, and
 * the drop to ring 3.
 */
    .section .text.entry, "ax"
    .global _start
_start:
    /* rdi = boot info, rsi = cpu index; switch to this vCPU's kernel stack */
    lea kernel_stacks(%rip), %rsp
    mov %rsi, %rax
    inc %rax
    shl $14, %rax               /* 16 KiB per vCPU */
    add %rax, %rsp
    call kmain
1:  hlt
    jmp 1b

    .text
/* Every stub leaves: error code (0 if the CPU pushed none), then vector. */
.macro ISR_NOERR vec
isr_exc_\vec:
    push $0
    push $\vec
    jmp isr_common
.endm
.macro ISR_ERR vec
isr_exc_\vec:
    push $\vec
    jmp isr_common
.endm

ISR_NOERR 0;  ISR_NOERR 1;  ISR_NOERR 2;  ISR_NOERR 3
ISR_NOERR 4;  ISR_NOERR 5;  ISR_NOERR 6;  ISR_NOERR 7
ISR_ERR 8;    ISR_NOERR 9;  ISR_ERR 10;   ISR_ERR 11
ISR_ERR 12;   ISR_ERR 13;   ISR_ERR 14;   ISR_NOERR 15
ISR_NOERR 16; ISR_ERR 17;   ISR_NOERR 18; ISR_NOERR 19
ISR_NOERR 20; ISR_ERR 21;   ISR_NOERR 22; ISR_NOERR 23
ISR_NOERR 24; ISR_NOERR 25; ISR_NOERR 26; ISR_NOERR 27
ISR_NOERR 28; ISR_ERR 29;   ISR_ERR 30;   ISR_NOERR 31

    .global isr_timer, isr_spurious
isr_timer:
    push $0
    push $32
    jmp isr_common
isr_spurious:
    push $0
    push $0xff
    jmp isr_common

isr_common:
    push %rax; push %rbx; push %rcx; push %rdx; push %rsi; push %rdi; push %rbp
    push %r8;  push %r9;  push %r10; push %r11; push %r12; push %r13; push %r14; push %r15
    mov %rsp, %rdi
    cld
    call isr_dispatch
    pop %r15; pop %r14; pop %r13; pop %r12; pop %r11; pop %r10; pop %r9; pop %r8
    pop %rbp; pop %rdi; pop %rsi; pop %rdx; pop %rcx; pop %rbx; pop %rax
    add $16, %rsp
    iretq

    .section .rodata
    .global isr_exception_stubs
    .balign 8
isr_exception_stubs:
    .irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    .quad isr_exc_\v
    .endr

    .text
/* enter_user(entry, user_rsp, cpu): iretq to ring 3 with IF=1. */
    .global enter_user
enter_user:
    push $0x1b                  /* SEL_UDATA */
    push %rsi
    push $0x202                 /* IF, reserved bit 1 */
    push $0x23                  /* SEL_UCODE */
    push %rdi
    mov %rdx, %rdi
    xor %eax, %eax
    xor %ebx, %ebx
    xor %ecx, %ecx
    xor %edx, %edx
    xor %esi, %esi
    xor %ebp, %ebp
    iretq

/* load_gdt_and_segments(gdtr, tss_selector) */
    .global load_gdt_and_segments
load_gdt_and_segments:
    lgdt (%rdi)
    mov $0x10, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    xor %eax, %eax
    mov %ax, %fs
    mov %ax, %gs
    ltr %si
    pop %rax                    /* return address */
    push $0x08
    push %rax
    lretq

    .section .note.GNU-stack, "", @progbits
