/*
 * Guest RAM: one memfd, mapped shared into the VMM.
 *
 * A memfd (rather than anonymous memory) lets later stages hand the same
 * pages to another mapping: the migration engine reads them, post-copy
 * registers them with userfaultfd.  Pages are allocated by the kernel on
 * first touch, so a large guest that never writes most of its RAM costs
 * little.  Every guest-physical access from the VMM goes through
 * guest_memory_ptr(), which checks the range (Solo5's habit).
 */
#ifndef GW_VMM_MEMORY_H
#define GW_VMM_MEMORY_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

#define GW_PAGE_SIZE 4096ULL
#define GW_MEMORY_MIN_BYTES (2ULL << 20)    /* boot structures + a small image */
#define GW_MEMORY_MAX_BYTES (64ULL << 30)

struct guest_memory {
    int memfd;
    uint8_t *host;      /* owned mapping of [0, bytes) */
    uint64_t bytes;
};

/* Checks a requested RAM size: non-zero, page-aligned, within the limits.
 * Returns 0 or -EINVAL with a sentence in err. */
int guest_memory_check_size(uint64_t bytes, struct gw_error *err);

/* Creates the memfd and mapping.  Returns 0 or -errno with err filled. */
int guest_memory_init(struct guest_memory *mem, uint64_t bytes, struct gw_error *err);
void guest_memory_uninit(struct guest_memory *mem);

/* Host pointer for [gpa, gpa + len), or NULL if any byte lies outside RAM. */
static inline void *guest_memory_ptr(const struct guest_memory *mem, uint64_t gpa, uint64_t len)
{
    if (gpa > mem->bytes || len > mem->bytes - gpa)
        return NULL;
    return mem->host + gpa;
}

#endif
