/*
 * hello: the smallest workload.  The boot CPU prints a line from ring 3,
 * checks that the x2APIC timer ticks, and ends the VM with code 0.
 * With `crash=1` on the command line it executes an invalid instruction
 * instead, to exercise the kernel's fault report (exit code 128 + 6).
 */
#include "sdk.h"

void app_main(unsigned cpu)
{
    if (cpu != 0)
        return;
    printf("hello from ring %u on %u vCPU(s), %lu MiB of RAM, cmdline \"%s\"\n", sdk_cpl(),
           sdk_ncpus(), (unsigned long)(sdk_boot_info()->ram_bytes >> 20),
           sdk_boot_info()->cmdline);
    if (cmdline_get_u64("crash", 0))
        __asm__ volatile("ud2");

    uint64_t start = clock_ns(), first = timer_ticks(0);
    while (timer_ticks(0) < first + 2) {
        if (clock_ns() - start > 2000000000ULL) {
            printf("hello: the timer did not tick within 2 s\n");
            sdk_exit(3);
        }
        cpu_relax();
    }
    printf("hello: timer ticking (%lu ticks after %lu ms)\n", (unsigned long)timer_ticks(0),
           (unsigned long)((clock_ns() - start) / 1000000));
    sdk_exit(0);
}
