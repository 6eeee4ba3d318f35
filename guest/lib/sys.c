/*
 * The SDK's runtime: ring-3 entry wrapper, exit, console output, the
 * clock and the boot information.  All of it works from ring 3 as well as
 * from ring 0.
 */
#include "../kernel/kernel.h"
#include "sdk.h"
#include "x86.h"

static uint64_t clock_mult;     /* ns = tsc * clock_mult >> 32 */
static volatile int console_lock;

void clock_init(uint64_t tsc_khz)
{
    if (!tsc_khz)
        tsc_khz = 1000000;      /* unknown: assume 1 GHz rather than divide by zero */
    clock_mult = (1000000ULL << 32) / tsc_khz;
}

uint64_t clock_ns(void)
{
    return (uint64_t)(((unsigned __int128)rdtsc() * clock_mult) >> 32);
}

uint64_t timer_ticks(unsigned cpu) { return cpu < GW_MAX_VCPUS ? kernel_timer_ticks[cpu] : 0; }

const struct gw_boot_info *sdk_boot_info(void) { return kernel_boot_info; }
unsigned sdk_ncpus(void) { return kernel_boot_info->ncpus; }

uint64_t sdk_free_ram_start(void)
{
    return (kernel_boot_info->image_end + (2ULL << 20) - 1) & ~((2ULL << 20) - 1);
}

unsigned sdk_cpl(void)
{
    uint16_t cs;
    __asm__ volatile("mov %%cs, %0" : "=r"(cs));
    return cs & 3;
}

static uint64_t syscall2(uint64_t nr, uint64_t a, uint64_t b)
{
    __asm__ volatile("int3" : "+a"(nr) : "D"(a), "S"(b) : "memory");
    return nr;
}

void sdk_exit(int code)
{
    if (sdk_cpl() == 0)
        outl(GW_PORT_EXIT, (uint32_t)code);
    else
        syscall2(SYS_EXIT, (uint64_t)code, 0);
    for (;;)
        cpu_relax();    /* the VMM stops every vCPU */
}

/* Port I/O is ring 0's: PVM clears IOPL on the way to ring 3, so ring 3
 * asks the kernel (int $0x80), like a process asking its OS.  One string
 * instruction per line means one exit to the VMM per line.
 *
 * Ring 3 takes a spinlock around each line so vCPUs do not interleave.
 * Ring 0 prints only boot errors and fault reports and skips the lock: an
 * atomic exchange run by KVM's emulator was seen to hang under PVM, and a
 * fault report must get out even if the faulting vCPU held the lock. */
void console_write(const char *s, uint64_t n)
{
    if (sdk_cpl() == 0) {
        outsb(GW_PORT_CONSOLE, s, n);
        return;
    }
    while (__atomic_exchange_n(&console_lock, 1, __ATOMIC_ACQUIRE))
        cpu_relax();
    syscall2(SYS_WRITE, (uint64_t)s, n);
    __atomic_store_n(&console_lock, 0, __ATOMIC_RELEASE);
}

void sdk_idle(void)
{
    if (sdk_cpl() == 0)
        __asm__ volatile("sti; hlt; cli" ::: "memory");
    else
        syscall2(SYS_IDLE, 0, 0);
}

void sdk_user_start(unsigned cpu)
{
    app_main(cpu);
    syscall2(SYS_PARK, 0, 0);
    for (;;)
        cpu_relax();
}
