/*
 * System calls: the few things ring 3 needs ring 0 for.  Port I/O is
 * ring 0's alone here: PVM clears IOPL on the way to ring 3, so console
 * output and exit come through this door, one call per console line.
 * The door itself is `int3` (see VEC_SYSCALL in kernel.h).
 * Buffers are the workload's own memory (it can reach all RAM anyway);
 * lengths are clamped.
 */
#include "kernel.h"
#include "sdk.h"
#include "x86.h"

__attribute__((noreturn)) static void park(void)
{
    for (;;)
        __asm__ volatile("sti; hlt; cli" ::: "memory");
}

uint64_t syscall_dispatch(uint64_t nr, uint64_t a, uint64_t b)
{
    switch (nr) {
    case SYS_PARK:
        park();
    case SYS_WRITE:
        outsb(GW_PORT_CONSOLE, (const void *)a, b > 4096 ? 4096 : b);
        return 0;
    case SYS_IDLE:
        /* sti takes effect after the next instruction, so no interrupt
         * can slip in between it and hlt and leave us halted. */
        __asm__ volatile("sti; hlt; cli" ::: "memory");
        return 0;
    case SYS_EXIT:
        outl(GW_PORT_EXIT, (uint32_t)a);
        park();
    default:
        printf("kernel: unknown syscall %lu\n", (unsigned long)nr);
        sdk_exit(126);
    }
}
