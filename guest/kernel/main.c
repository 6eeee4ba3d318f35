/*
 * kmain: the boot CPU builds the shared tables (page tables, GDT, IDT),
 * then every vCPU loads them, starts its timer and drops to ring 3, where
 * the workload runs.  The other vCPUs wait for the boot CPU by spinning
 * on kernel_ready.
 */
#include "kernel.h"
#include "sdk.h"
#include "x86.h"

#define USER_STACK_BYTES 32768

uint8_t kernel_stacks[GW_MAX_VCPUS][16384] __attribute__((aligned(16)));
static uint8_t user_stacks[GW_MAX_VCPUS][USER_STACK_BYTES] __attribute__((aligned(16)));

const struct gw_boot_info *kernel_boot_info;
static volatile int kernel_ready;

void kmain(const struct gw_boot_info *info, unsigned cpu);

void kmain(const struct gw_boot_info *info, unsigned cpu)
{
    if (cpu == 0) {
        if (info->magic != GW_BOOT_MAGIC || info->version != GW_BOOT_VERSION) {
            printf("kernel: bad boot info (magic 0x%lx, version %u)\n",
                   (unsigned long)info->magic, info->version);
            sdk_exit(127);
        }
        kernel_boot_info = info;
        clock_init(info->tsc_khz);
        paging_build(info->ram_bytes);
        gdt_build(info->ncpus);
        idt_build();
        __atomic_store_n(&kernel_ready, 1, __ATOMIC_RELEASE);
    } else {
        while (!__atomic_load_n(&kernel_ready, __ATOMIC_ACQUIRE))
            cpu_relax();
    }

    paging_load();
    gdt_load(cpu);
    idt_load();
    apic_timer_start();
    enter_user(sdk_user_start, (uint64_t)user_stacks[cpu] + USER_STACK_BYTES, cpu);
}
