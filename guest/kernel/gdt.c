/*
 * One GDT for all vCPUs: kernel and user code/data, then one TSS
 * descriptor per vCPU.  The TSS gives each vCPU the kernel stack that
 * interrupts from ring 3 land on.  It has no I/O bitmap: ring 3 does no
 * port I/O (PVM would not let it), the kernel does it on its behalf.
 */
#include "kernel.h"

struct tss {
    uint32_t reserved0;
    uint64_t rsp0, rsp1, rsp2;
    uint64_t reserved1;
    uint64_t ist[7];
    uint64_t reserved2;
    uint16_t reserved3;
    uint16_t iomap_base;
} __attribute__((packed));

struct gdtr {
    uint16_t limit;
    uint64_t base;
} __attribute__((packed));

extern uint8_t kernel_stacks[GW_MAX_VCPUS][16384];

static uint64_t gdt[5 + 2 * GW_MAX_VCPUS] __attribute__((aligned(16)));
static struct tss tss[GW_MAX_VCPUS] __attribute__((aligned(16)));

void gdt_build(unsigned ncpus)
{
    gdt[0] = 0;
    gdt[SEL_KCODE / 8] = 0x00af9a000000ffffULL;
    gdt[SEL_KDATA / 8] = 0x00cf92000000ffffULL;
    gdt[SEL_UDATA / 8] = 0x00cff2000000ffffULL;
    gdt[SEL_UCODE / 8] = 0x00affa000000ffffULL;

    for (unsigned cpu = 0; cpu < ncpus && cpu < GW_MAX_VCPUS; cpu++) {
        struct tss *t = &tss[cpu];
        t->rsp0 = (uint64_t)kernel_stacks[cpu] + sizeof kernel_stacks[cpu];
        t->iomap_base = sizeof *t;

        uint64_t base = (uint64_t)t, limit = sizeof *t - 1;
        unsigned slot = SEL_TSS(cpu) / 8;
        gdt[slot] = (limit & 0xffff) | ((base & 0xffffff) << 16) | (0x89ULL << 40) |
                    (((limit >> 16) & 0xf) << 48) | (((base >> 24) & 0xff) << 56);
        gdt[slot + 1] = base >> 32;
    }
}

void gdt_load(unsigned cpu)
{
    struct gdtr gdtr = { .limit = sizeof gdt - 1, .base = (uint64_t)gdt };
    load_gdt_and_segments(&gdtr, SEL_TSS(cpu));
}
