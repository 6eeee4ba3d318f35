/*
 * x86-64 boot: the VMM, not the guest, puts every vCPU in long mode.
 *
 * Entering long mode from real mode needs a sequence of mode switches that
 * the guest's ring 0 would run in KVM's instruction emulator here (slow
 * but, more to the point, pointless): the VMM writes a GDT and identity
 * page tables into guest RAM and loads the final register state directly,
 * as kvmtool does for its 64-bit boot and Firecracker for its PVH entry.
 * The register contract is in godwit/abi.h.
 */
#ifndef GW_VMM_X86_BOOT_H
#define GW_VMM_X86_BOOT_H

#include <stdint.h>

#include "base/error.h"

/* Writes the boot GDT and page tables (GW_BOOT_GDT_GPA..GW_BOOT_PD_GPA).
 * ram must hold at least GW_GUEST_LOAD_MIN bytes. */
void x86_boot_write_tables(uint8_t *ram);

/* Gives vcpu_fd the host's supported CPUID (with its APIC id = cpu) and the
 * long-mode register state to start at entry.  Returns 0 or -errno. */
int x86_boot_setup_vcpu(int kvm_fd, int vcpu_fd, uint32_t cpu, uint64_t entry,
                        struct gw_error *err);

#endif
