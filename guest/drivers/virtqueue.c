/* Split virtqueues for a polling driver (see virtqueue.h). */
#include "virtqueue.h"

void *memset(void *s, int c, size_t n);

/* x86 keeps stores in order and loads in order, so ring updates need only
 * a compiler barrier; a store followed by a load of another location
 * (avail->idx, then used->flags) needs mfence. */
#define vq_compiler_barrier() __asm__ volatile("" ::: "memory")
#define vq_full_barrier() __asm__ volatile("mfence" ::: "memory")

unsigned vq_pick_size(uint32_t max)
{
    unsigned size = max < VQ_SIZE_MAX ? max : VQ_SIZE_MAX;
    while (size & (size - 1))
        size &= size - 1;       /* drop low bits down to the top one */
    return size;
}

void vq_init(struct virtqueue *vq, struct vq_mem *mem, unsigned size)
{
    memset(mem, 0, sizeof *mem);
    mem->avail.flags = VIRTQ_AVAIL_F_NO_INTERRUPT;
    vq->mem = mem;
    vq->size = (uint16_t)size;
    vq->avail_idx = 0;
    vq->last_used = 0;
    vq->notified_avail = 0;
}

void vq_publish(struct virtqueue *vq)
{
    vq_compiler_barrier();              /* ring entries before the index */
    *(volatile uint16_t *)&vq->mem->avail.idx = vq->avail_idx;
}

int vq_should_notify(struct virtqueue *vq)
{
    if (vq->notified_avail == vq->avail_idx)
        return 0;
    vq_full_barrier();                  /* avail->idx before reading used->flags */
    if (*(volatile uint16_t *)&vq->mem->used.flags & VIRTQ_USED_F_NO_NOTIFY) {
        vq_notified(vq);
        return 0;
    }
    return 1;
}

int vq_pop_used(struct virtqueue *vq, uint32_t *id, uint32_t *len)
{
    uint16_t used_idx = *(volatile uint16_t *)&vq->mem->used.idx;
    if (used_idx == vq->last_used)
        return 0;
    vq_compiler_barrier();              /* the index before the entry it covers */
    const volatile struct vring_used_elem *e = &vq->mem->used.ring[vq->last_used & (vq->size - 1)];
    *id = e->id;
    *len = e->len;
    vq->last_used++;
    return 1;
}
