/*
 * The machine contract between godwit-vmm and the guests it runs.
 *
 * This header is the one thing the guest SDK (guest/) and the host side
 * share, so it uses only fixed-width types and no host or guest headers
 * beyond <stdint.h>.  A guest image is an ELF64 executable; the VMM loads
 * its PT_LOAD segments at their physical addresses and starts every vCPU
 * directly in 64-bit long mode at the ELF entry point with:
 *
 *   rdi = GW_BOOT_INFO_GPA   (the struct gw_boot_info below)
 *   rsi = vCPU index         (0 is the boot CPU)
 *   rsp = GW_BOOT_STACK_TOP(index), a small stack the VMM reserves
 *   rflags = 0x2 (interrupts off), CS = GW_BOOT_SEL_CODE, DS..SS = GW_BOOT_SEL_DATA
 *   paging on, identity map of [0, GW_BOOT_IDENTITY_BYTES) with 2 MiB
 *   supervisor pages, CR4.PAE|OSFXSR|OSXMMEXCPT, EFER.LME|LMA|NXE.
 *
 * Guest-physical memory below GW_GUEST_LOAD_MIN belongs to the VMM's boot
 * structures (boot info, boot GDT, boot page tables, boot stacks): a
 * segment that loads there is rejected.  Guest RAM is one contiguous range
 * [0, ram_bytes); device MMIO windows live at GW_MMIO_BASE and up, far
 * above any RAM size the VMM accepts, so they never overlap RAM.
 */
#ifndef GODWIT_ABI_H
#define GODWIT_ABI_H

#include <stdint.h>

#define GW_BOOT_INFO_GPA        0x1000ULL   /* one 4 KiB page */
#define GW_BOOT_GDT_GPA         0x2000ULL
#define GW_BOOT_PML4_GPA        0x3000ULL
#define GW_BOOT_PDPT_GPA        0x4000ULL
#define GW_BOOT_PD_GPA          0x5000ULL   /* 4 page directories */
#define GW_BOOT_IDENTITY_BYTES  (4ULL << 30)
#define GW_BOOT_STACKS_GPA      0x10000ULL  /* 4 KiB per vCPU */
#define GW_BOOT_STACK_BYTES     0x1000ULL
#define GW_BOOT_STACK_TOP(cpu)  (GW_BOOT_STACKS_GPA + ((cpu) + 1ULL) * GW_BOOT_STACK_BYTES)
#define GW_GUEST_LOAD_MIN       0x100000ULL /* 1 MiB: lowest address a segment may use */

#define GW_BOOT_SEL_CODE 0x08
#define GW_BOOT_SEL_DATA 0x10

#define GW_MAX_VCPUS    64
#define GW_MMIO_BASE    (1ULL << 40)        /* 1 TiB */

/* virtio-mmio devices (virtio 1.1, section 4.2, version 2 registers):
 * device n (n = 0, 1, ...) has its 4 KiB register window at
 * GW_VIRTIO_MMIO_BASE + n * GW_VIRTIO_MMIO_STRIDE and raises GSI
 * GW_VIRTIO_IRQ_BASE + n.  The boot block lists them in that order. */
#define GW_VIRTIO_MMIO_BASE   GW_MMIO_BASE
#define GW_VIRTIO_MMIO_STRIDE 0x1000ULL
#define GW_VIRTIO_IRQ_BASE    5
#define GW_MAX_VIRTIO_DEVICES 4

/* Port I/O devices. */
#define GW_PORT_CONSOLE 0x3f8   /* 8-bit writes: one byte of console output */
#define GW_PORT_EXIT    0x501   /* 32-bit write: end the VM with this exit code */

#define GW_BOOT_MAGIC   0x31544f4f42445747ULL /* "GWDBOOT1" little-endian */
#define GW_BOOT_VERSION 1
#define GW_CMDLINE_MAX  1024    /* including the terminating NUL */
#define GW_MAX_DEVICES  16

enum gw_device_type {
    GW_DEV_NONE = 0,
    GW_DEV_CONSOLE_PIO = 1,     /* base = port number */
    GW_DEV_EXIT_PIO = 2,        /* base = port number */
    GW_DEV_VIRTIO_MMIO = 3,     /* base = guest-physical address, size, irq */
};

struct gw_device_desc {
    uint32_t type;              /* enum gw_device_type */
    uint32_t irq;               /* GSI, 0 if none */
    uint64_t base;
    uint64_t size;
};

/* Written by the VMM at GW_BOOT_INFO_GPA before any vCPU runs; read-only
 * for the guest by convention.  Fits in one page (checked below). */
struct gw_boot_info {
    uint64_t magic;             /* GW_BOOT_MAGIC */
    uint32_t version;           /* GW_BOOT_VERSION */
    uint32_t size_bytes;        /* sizeof(struct gw_boot_info) */
    uint64_t ram_bytes;         /* guest RAM is [0, ram_bytes) */
    uint64_t tsc_khz;           /* TSC frequency, for the guest's clock */
    uint64_t image_end;         /* first byte above the loaded image */
    uint32_t ncpus;
    uint32_t ndevices;
    struct gw_device_desc devices[GW_MAX_DEVICES];
    char cmdline[GW_CMDLINE_MAX];
};

_Static_assert(sizeof(struct gw_boot_info) <= 4096, "boot info must fit in one page");
_Static_assert(GW_BOOT_STACK_TOP(GW_MAX_VCPUS - 1) <= GW_GUEST_LOAD_MIN,
               "boot stacks must stay below the image");

#endif
