/*
 * Split virtqueues, device side; see virtqueue.h.  The rings are shared
 * with running vCPUs, so the indices the guest publishes are read with
 * acquire loads and the used index is published with a release store:
 * the guest must see a used element before the index that covers it, and
 * we must see a descriptor before trusting the avail index that names it.
 */
#include "dev/virtqueue.h"

#include <errno.h>
#include <string.h>

/* Ring layouts (virtio 1.1, 2.6): sizes in bytes for a ring of num. */
static uint64_t desc_bytes(uint16_t num) { return 16ULL * num; }
static uint64_t avail_bytes(uint16_t num) { return 6ULL + 2ULL * num; }
static uint64_t used_bytes(uint16_t num) { return 6ULL + 8ULL * num; }

void virtq_reset(struct virtq *vq, uint16_t num)
{
    *vq = (struct virtq){ .num = num };
}

int virtq_check(const struct virtq *vq, const struct vq_guest *g)
{
    if (vq->num == 0 || vq->num > VIRTQ_MAX_SIZE || (vq->num & (vq->num - 1)))
        return -EINVAL;
    if ((vq->desc_gpa & 15) || (vq->avail_gpa & 1) || (vq->used_gpa & 3))
        return -EINVAL;
    if (!vq_guest_ptr(g, vq->desc_gpa, desc_bytes(vq->num)) ||
        !vq_guest_ptr(g, vq->avail_gpa, avail_bytes(vq->num)) ||
        !vq_guest_ptr(g, vq->used_gpa, used_bytes(vq->num)))
        return -EINVAL;
    return 0;
}

static uint16_t load_u16_acquire(const void *p)
{
    return __atomic_load_n((const uint16_t *)p, __ATOMIC_ACQUIRE);
}

/* The avail ring's flags and idx; NULL if the ring left RAM (it cannot
 * once checked, but RAM is the only thing we trust). */
static const uint16_t *avail_ring(const struct virtq *vq, const struct vq_guest *g)
{
    return vq_guest_ptr(g, vq->avail_gpa, avail_bytes(vq->num));
}

bool virtq_has_avail(const struct virtq *vq, const struct vq_guest *g)
{
    const uint16_t *avail = vq->ready ? avail_ring(vq, g) : NULL;
    return avail && load_u16_acquire(&avail[1]) != vq->last_avail_idx;
}

bool virtq_wants_interrupt(const struct virtq *vq, const struct vq_guest *g)
{
    const uint16_t *avail = avail_ring(vq, g);
    return avail && !(__atomic_load_n(&avail[0], __ATOMIC_RELAXED) & VIRTQ_AVAIL_F_NO_INTERRUPT);
}

int virtq_pop(struct virtq *vq, const struct vq_guest *g, struct vq_chain *chain)
{
    const uint16_t *avail = avail_ring(vq, g);
    const struct vring_desc *table = vq_guest_ptr(g, vq->desc_gpa, desc_bytes(vq->num));
    if (!vq->ready || !avail || !table)
        return -EINVAL;
    uint16_t avail_idx = load_u16_acquire(&avail[1]);
    uint16_t pending = (uint16_t)(avail_idx - vq->last_avail_idx);
    if (pending == 0)
        return 0;
    if (pending > vq->num)
        return -EINVAL;         /* the driver claims more buffers than the ring holds */

    uint16_t head = __atomic_load_n(&avail[2 + vq->last_avail_idx % vq->num], __ATOMIC_RELAXED);
    if (head >= vq->num)
        return -EINVAL;
    chain->head = head;
    chain->nsegs = 0;
    chain->out_bytes = chain->in_bytes = 0;

    uint16_t index = head;
    /* A chain visits each descriptor at most once: more than num steps is a loop. */
    for (unsigned steps = 0;; steps++) {
        if (steps >= vq->num || chain->nsegs == VIRTQ_MAX_SEGS)
            return -EINVAL;
        struct vring_desc d;
        memcpy(&d, &table[index], sizeof d);     /* one snapshot: the guest may change it */
        if (d.flags & VIRTQ_DESC_F_INDIRECT)
            return -EINVAL;
        bool writable = d.flags & VIRTQ_DESC_F_WRITE;
        if (!writable && chain->in_bytes)
            return -EINVAL;     /* readable after writable (2.6.4.2) */
        void *host = vq_guest_ptr(g, d.addr, d.len);
        if (!host)
            return -EINVAL;
        if (d.len) {
            chain->segs[chain->nsegs++] =
                (struct vq_seg){ .host = host, .gpa = d.addr, .len = d.len, .writable = writable };
            if (writable)
                chain->in_bytes += d.len;
            else
                chain->out_bytes += d.len;
        }
        if (!(d.flags & VIRTQ_DESC_F_NEXT))
            break;
        if (d.next >= vq->num)
            return -EINVAL;
        index = d.next;
    }
    vq->last_avail_idx++;
    return 1;
}

void virtq_unpop(struct virtq *vq)
{
    vq->last_avail_idx--;
}

int virtq_push(struct virtq *vq, const struct vq_guest *g, uint16_t head, uint32_t len)
{
    uint8_t *used = vq_guest_ptr(g, vq->used_gpa, used_bytes(vq->num));
    if (!used)
        return -EINVAL;
    uint16_t slot = vq->used_idx % vq->num;
    struct vring_used_elem elem = { .id = head, .len = len };
    memcpy(used + 4 + 8ULL * slot, &elem, sizeof elem);
    vq->used_idx++;
    __atomic_store_n((uint16_t *)(used + 2), vq->used_idx, __ATOMIC_RELEASE);
    vq_guest_dirty(g, vq->used_gpa + 4 + 8ULL * slot, sizeof elem);
    vq_guest_dirty(g, vq->used_gpa + 2, 2);
    return 0;
}

static int chain_read(const struct vq_chain *chain, bool writable, uint64_t off, void *dst,
                      uint64_t len)
{
    uint8_t *out = dst;
    for (unsigned i = 0; i < chain->nsegs && len; i++) {
        const struct vq_seg *s = &chain->segs[i];
        if (s->writable != writable)
            continue;
        if (off >= s->len) {
            off -= s->len;
            continue;
        }
        uint64_t n = s->len - off < len ? s->len - off : len;
        memcpy(out, (uint8_t *)s->host + off, n);
        out += n;
        len -= n;
        off = 0;
    }
    return len ? -EINVAL : 0;
}

int vq_chain_read(const struct vq_chain *chain, uint64_t off, void *dst, uint64_t len)
{
    return chain_read(chain, false, off, dst, len);
}

int vq_chain_read_in(const struct vq_chain *chain, uint64_t off, void *dst, uint64_t len)
{
    return chain_read(chain, true, off, dst, len);
}

int vq_chain_write(const struct vq_chain *chain, const struct vq_guest *g, uint64_t off,
                   const void *src, uint64_t len)
{
    const uint8_t *in = src;
    for (unsigned i = 0; i < chain->nsegs && len; i++) {
        const struct vq_seg *s = &chain->segs[i];
        if (!s->writable)
            continue;
        if (off >= s->len) {
            off -= s->len;
            continue;
        }
        uint64_t n = s->len - off < len ? s->len - off : len;
        memcpy((uint8_t *)s->host + off, in, n);
        vq_guest_dirty(g, s->gpa + off, n);
        in += n;
        len -= n;
        off = 0;
    }
    return len ? -EINVAL : 0;
}

void vq_chain_dirty(const struct vq_chain *chain, const struct vq_guest *g, uint64_t len)
{
    for (unsigned i = 0; i < chain->nsegs && len; i++) {
        const struct vq_seg *s = &chain->segs[i];
        if (!s->writable)
            continue;
        uint64_t n = s->len < len ? s->len : len;
        vq_guest_dirty(g, s->gpa, n);
        len -= n;
    }
}

unsigned vq_chain_iov(const struct vq_chain *chain, bool want_writable, uint64_t skip,
                      struct iovec *iov, unsigned max)
{
    unsigned n = 0;
    for (unsigned i = 0; i < chain->nsegs && n < max; i++) {
        const struct vq_seg *s = &chain->segs[i];
        if (s->writable != want_writable)
            continue;
        if (skip >= s->len) {
            skip -= s->len;
            continue;
        }
        iov[n++] = (struct iovec){ .iov_base = (uint8_t *)s->host + skip, .iov_len = s->len - skip };
        skip = 0;
    }
    return n;
}
