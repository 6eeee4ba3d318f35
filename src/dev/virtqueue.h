/*
 * Split virtqueues (virtio 1.1, section 2.6), device side.
 *
 * A virtqueue lives in guest RAM: a descriptor table, the driver's
 * "available" ring and the device's "used" ring.  This module reads the
 * first two and writes the third through a struct vq_guest, which gives
 * bounds-checked host pointers into guest RAM and marks every byte the
 * device writes dirty for migration (KVM's dirty log cannot see writes
 * made by the VMM).  Everything the guest wrote is hostile: ring
 * addresses, indices, descriptor addresses, lengths, flags and next links
 * are checked before use, and a bad one is reported as -EINVAL so the
 * device can set DEVICE_NEEDS_RESET; nothing here trusts the guest enough
 * to crash.  No indirect descriptors and no event index (neither feature
 * is offered).
 *
 * Pure logic over a memory view: unit-tested against a malloc'd "guest".
 * Not thread-safe; the owning device serialises calls.
 */
#ifndef GW_DEV_VIRTQUEUE_H
#define GW_DEV_VIRTQUEUE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "godwit/virtio.h"
#include "vmm/memory.h"

#define VIRTQ_MAX_SIZE 256      /* QueueNumMax of our devices */
#define VIRTQ_MAX_SEGS 64       /* longest descriptor chain we accept */


/* The device's window on guest RAM.  mark_dirty may be NULL (tests). */
struct vq_guest {
    const struct guest_memory *mem;     /* not owned */
    void (*mark_dirty)(void *opaque, uint64_t gpa, uint64_t len);
    void *opaque;
};

/* Returns a host pointer to [gpa, gpa + len) or NULL if outside RAM. */
static inline void *vq_guest_ptr(const struct vq_guest *g, uint64_t gpa, uint64_t len)
{
    return guest_memory_ptr(g->mem, gpa, len);
}

static inline void vq_guest_dirty(const struct vq_guest *g, uint64_t gpa, uint64_t len)
{
    if (g->mark_dirty && len)
        g->mark_dirty(g->opaque, gpa, len);
}

/* One queue's transport state: what the driver programmed plus the
 * device's two ring positions.  Plain data, saved as is for migration. */
struct virtq {
    uint16_t num;               /* ring size, a power of 2 <= VIRTQ_MAX_SIZE */
    bool ready;
    uint64_t desc_gpa, avail_gpa, used_gpa;
    uint16_t last_avail_idx;    /* next avail entry the device will take */
    uint16_t used_idx;          /* next used entry the device will write */
};

/* One segment of a popped chain; host points into guest RAM. */
struct vq_seg {
    void *host;
    uint64_t gpa;
    uint32_t len;
    bool writable;
};

struct vq_chain {
    uint16_t head;
    unsigned nsegs;
    uint64_t out_bytes;         /* device-readable */
    uint64_t in_bytes;          /* device-writable (they follow the readable ones) */
    struct vq_seg segs[VIRTQ_MAX_SEGS];
};

/* Resets a queue to "not set up" with size num (QueueNumMax). */
void virtq_reset(struct virtq *vq, uint16_t num);

/* Checks the programmed size and ring addresses (alignment, inside RAM).
 * Returns 0 or -EINVAL.  Call before marking the queue ready. */
int virtq_check(const struct virtq *vq, const struct vq_guest *g);

/* Takes the next available chain.  Returns 1 with *chain filled, 0 if the
 * ring is empty, or -EINVAL if the guest broke the ring (an index that
 * runs more than num ahead, a head or next out of range, a loop, an
 * address or length outside RAM, an indirect descriptor, a readable
 * descriptor after a writable one, a chain over VIRTQ_MAX_SEGS). */
int virtq_pop(struct virtq *vq, const struct vq_guest *g, struct vq_chain *chain);

/* Gives back the chain popped last (its buffer was not used after all). */
void virtq_unpop(struct virtq *vq);

/* Returns the used-ring entry for head with len bytes written, publishes
 * the new used index (release order) and marks the ring dirty.  Returns 0
 * or -EINVAL if the ring moved outside RAM. */
int virtq_push(struct virtq *vq, const struct vq_guest *g, uint16_t head, uint32_t len);

/* True if the driver has not asked for silence (VIRTQ_AVAIL_F_NO_INTERRUPT). */
bool virtq_wants_interrupt(const struct virtq *vq, const struct vq_guest *g);

/* True if the driver has made buffers available that were not popped yet. */
bool virtq_has_avail(const struct virtq *vq, const struct vq_guest *g);

/* Copies len bytes at byte offset off of the chain's readable part into
 * dst.  Returns 0, or -EINVAL if the readable part is shorter. */
int vq_chain_read(const struct vq_chain *chain, uint64_t off, void *dst, uint64_t len);
/* The same for the writable part (what the device wrote there). */
int vq_chain_read_in(const struct vq_chain *chain, uint64_t off, void *dst, uint64_t len);
/* Copies len bytes into the chain's writable part at byte offset off and
 * marks them dirty.  Returns 0, or -EINVAL if it is shorter. */
int vq_chain_write(const struct vq_chain *chain, const struct vq_guest *g, uint64_t off,
                   const void *src, uint64_t len);
/* Marks the first len bytes of the writable part dirty (after a readv
 * straight into it). */
void vq_chain_dirty(const struct vq_chain *chain, const struct vq_guest *g, uint64_t len);
/* Fills iov with the readable (want_writable false) or writable segments,
 * skipping the first skip bytes.  Returns the number of entries. */
unsigned vq_chain_iov(const struct vq_chain *chain, bool want_writable, uint64_t skip,
                      struct iovec *iov, unsigned max);

#endif
