/*
 * The guest's page tables: an identity map of RAM (at least the first
 * 4 GiB) and of the device MMIO window, with 2 MiB pages, all of it
 * user-accessible.  Workloads run in ring 3 and must reach RAM and device
 * registers directly; this SDK is a test harness, not an OS, so there is
 * no protection between its kernel and its workload (as in the
 * kvm-unit-tests).
 */
#include "kernel.h"
#include "x86.h"

#define PTE_P (1ULL << 0)
#define PTE_W (1ULL << 1)
#define PTE_U (1ULL << 2)
#define PTE_PWT (1ULL << 3)
#define PTE_PCD (1ULL << 4)
#define PTE_PS (1ULL << 7)
#define MAX_MAPPED_GIB 64   /* the VMM accepts at most 64 GiB of RAM */

static uint64_t pml4[512] __attribute__((aligned(4096)));
static uint64_t pdpt_ram[512] __attribute__((aligned(4096)));
static uint64_t pd_ram[MAX_MAPPED_GIB][512] __attribute__((aligned(4096)));
static uint64_t pdpt_mmio[512] __attribute__((aligned(4096)));
static uint64_t pd_mmio[512] __attribute__((aligned(4096)));

void paging_build(uint64_t ram_bytes)
{
    uint64_t gib = (ram_bytes + (1ULL << 30) - 1) >> 30;
    if (gib < 4)
        gib = 4;
    if (gib > MAX_MAPPED_GIB)
        gib = MAX_MAPPED_GIB;

    pml4[0] = (uint64_t)pdpt_ram | PTE_P | PTE_W | PTE_U;
    for (uint64_t g = 0; g < gib; g++) {
        pdpt_ram[g] = (uint64_t)pd_ram[g] | PTE_P | PTE_W | PTE_U;
        for (uint64_t i = 0; i < 512; i++)
            pd_ram[g][i] = (g << 30) | (i << 21) | PTE_P | PTE_W | PTE_U | PTE_PS;
    }

    /* 1 GiB of device registers at GW_MMIO_BASE, uncached. */
    pml4[(GW_MMIO_BASE >> 39) & 511] = (uint64_t)pdpt_mmio | PTE_P | PTE_W | PTE_U;
    pdpt_mmio[(GW_MMIO_BASE >> 30) & 511] = (uint64_t)pd_mmio | PTE_P | PTE_W | PTE_U;
    for (uint64_t i = 0; i < 512; i++)
        pd_mmio[i] = (GW_MMIO_BASE + (i << 21)) | PTE_P | PTE_W | PTE_U | PTE_PS | PTE_PCD | PTE_PWT;
}

void paging_load(void)
{
    write_cr3((uint64_t)pml4);
}
