/*
 * ELF64 guest image checks and loading.
 *
 * Pure logic over a byte buffer, so it is unit-tested without KVM: the
 * image comes from a file the operator named, and every header field is
 * checked before anything is copied into guest RAM.
 */
#ifndef GW_VMM_ELF_H
#define GW_VMM_ELF_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

struct elf_image {
    uint64_t entry;         /* guest-physical entry point */
    uint64_t load_end;      /* first byte above the highest segment */
    unsigned nsegments;     /* PT_LOAD segments */
};

/* Validates an x86-64 ELF executable for a guest with ram_bytes of RAM:
 * headers inside the file, every PT_LOAD inside [GW_GUEST_LOAD_MIN,
 * ram_bytes) and its file bytes inside the file, entry inside an
 * executable segment.  Returns 0 and fills *image, or -ENOEXEC with err. */
int elf_check(const void *file, size_t file_bytes, uint64_t ram_bytes,
              struct elf_image *image, struct gw_error *err);

/* elf_check(), then copies each segment to ram (which has ram_bytes) and
 * zeroes its tail up to p_memsz.  Nothing is written unless all checks pass. */
int elf_load(const void *file, size_t file_bytes, uint8_t *ram, uint64_t ram_bytes,
             struct elf_image *image, struct gw_error *err);

#endif
