/*
 * Where incoming pages go: into the guest's memfd with pwritev(), not
 * through the mapping.
 *
 * Why: a page the receiver touches through the mapping is first allocated
 * and zeroed by the kernel, then overwritten; profiling showed that
 * zeroing (clear_page) took ~40% of the receiver's time.  A full-page
 * write through the file lets shmem skip the clear, and contiguous pages
 * (a first pass is mostly contiguous) go out in one system call.  A zero
 * page becomes a hole again (FALLOC_FL_PUNCH_HOLE), which reads as zeros
 * and frees the memory.
 *
 * A sink collects one RAM record's pages (mig_page_fn) and applies them
 * with ramsink_flush() only after the whole record decoded cleanly, in
 * order.  One thread.
 */
#ifndef GW_MIG_RAMSINK_H
#define GW_MIG_RAMSINK_H

#include <stdint.h>
#include <sys/uio.h>

#include "base/error.h"
#include "mig/proto.h"

struct ramsink_op {
    uint64_t gpa;
    const uint8_t *data;        /* NULL: zero page; else points into the record */
};

struct ramsink {
    int memfd;                  /* not owned */
    uint32_t nops;
    struct ramsink_op ops[MIG_BATCH_PAGES];
    struct iovec iov[MIG_BATCH_PAGES];
};

void ramsink_init(struct ramsink *sink, int memfd);
/* A mig_page_fn: records one page (opaque is the sink). */
void ramsink_page(void *opaque, uint64_t gpa, const uint8_t *data);
/* Forgets the recorded pages (after a record failed to decode). */
void ramsink_discard(struct ramsink *sink);
/* Writes the recorded pages.  Returns 0 or -errno with err. */
int ramsink_flush(struct ramsink *sink, struct gw_error *err);

#endif
