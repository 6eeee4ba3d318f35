/*
 * Split virtqueues (virtio 1.1, section 2.6), driver side, for a polling
 * driver: the rings live in guest RAM (identity-mapped, so the addresses
 * the device gets are these pointers), and the driver never takes an
 * interrupt: it asks the device for none (VIRTQ_AVAIL_F_NO_INTERRUPT)
 * and reads used->idx, which costs a RAM load, instead.
 *
 * This file knows nothing of the transport: the caller notifies the device
 * (an MMIO write) when vq_publish says so.  Pure code: the host compiles
 * it for unit tests.  x86 is little-endian like virtio 1.x, so ring fields
 * are used as they are.  One virtqueue belongs to one thread.
 */
#ifndef GW_GUEST_VIRTQUEUE_H
#define GW_GUEST_VIRTQUEUE_H

#include <stddef.h>
#include <stdint.h>

#include "godwit/virtio.h"

#define VQ_SIZE_MAX 256

/* The memory of one queue of up to VQ_SIZE_MAX entries: each ring on its
 * own page (more than the alignment virtio asks for). */
struct vq_mem {
    struct vring_desc desc[VQ_SIZE_MAX] __attribute__((aligned(4096)));
    struct {
        uint16_t flags;
        uint16_t idx;
        uint16_t ring[VQ_SIZE_MAX];
        uint16_t used_event;
    } avail __attribute__((aligned(4096)));
    struct {
        uint16_t flags;
        uint16_t idx;
        struct vring_used_elem ring[VQ_SIZE_MAX];
        uint16_t avail_event;
    } used __attribute__((aligned(4096)));
};

struct virtqueue {
    struct vq_mem *mem;         /* not owned */
    uint16_t size;              /* a power of two, <= VQ_SIZE_MAX */
    uint16_t avail_idx;         /* our next avail->idx (we are its only writer) */
    uint16_t last_used;         /* the next used entry to read */
    uint16_t notified_avail;    /* avail->idx as of our last notify */
};

/* The queue size to use when the device allows at most max entries:
 * min(max, VQ_SIZE_MAX) rounded down to a power of two; 0 if max is 0. */
unsigned vq_pick_size(uint32_t max);

/* Zeroes mem and sets up an empty queue of size entries (see vq_pick_size). */
void vq_init(struct virtqueue *vq, struct vq_mem *mem, unsigned size);

/* Adds the chain starting at descriptor head to the available ring; the
 * device sees it only after vq_publish. */
static inline void vq_push(struct virtqueue *vq, uint16_t head)
{
    vq->mem->avail.ring[vq->avail_idx & (vq->size - 1)] = head;
    vq->avail_idx++;
}

/* Makes the pushed entries visible to the device (stores avail->idx after
 * the ring entries). */
void vq_publish(struct virtqueue *vq);

/* After vq_publish: returns 1 if the device has entries it was not
 * notified of and wants notifications; the caller then notifies it and
 * calls vq_notified.  Returns 0 if nothing is new, or if the device asked
 * not to be notified (VIRTQ_USED_F_NO_NOTIFY: it polls, so it counts as
 * notified). */
int vq_should_notify(struct virtqueue *vq);
static inline void vq_notified(struct virtqueue *vq) { vq->notified_avail = vq->avail_idx; }

/* Entries the device surely knows of (those of our last notify) and has
 * not used yet.  A device that rereads avail->idx may use entries we never
 * notified: then it is 0, never a wrapped-around count. */
static inline unsigned vq_known_unused(const struct virtqueue *vq)
{
    int16_t d = (int16_t)(uint16_t)(vq->notified_avail - vq->last_used);
    return d > 0 ? (unsigned)d : 0;
}

/* Takes the next used entry: returns 1 and its id and len, or 0 if the
 * device has used nothing new.  The id is the device's word: check it. */
int vq_pop_used(struct virtqueue *vq, uint32_t *id, uint32_t *len);

#endif
