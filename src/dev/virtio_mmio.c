/*
 * The virtio-mmio register file; see virtio_mmio.h for the status state
 * machine.  Every value the driver writes is kept as written and checked
 * where it is used: queue sizes and addresses when the queue is made
 * ready (a bad one sets DEVICE_NEEDS_RESET instead of readying it),
 * features when the driver sets FEATURES_OK.
 */
#include "dev/virtio_mmio.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "base/log.h"

static _Atomic unsigned warned;     /* rate limit for guest-triggered log lines (all devices) */
#define WARN_GUEST(...)                                      \
    do {                                                     \
        if (warned < 20) {                                   \
            warned++;                                        \
            LOG_WARN("virtio", __VA_ARGS__);                 \
        }                                                    \
    } while (0)

static void reset(struct virtio_mmio *t)
{
    t->s = (struct virtio_mmio_state){ 0 };
    for (uint32_t q = 0; q < VIRTIO_MMIO_MAX_QUEUES; q++)
        virtq_reset(&t->s.queues[q], q < t->nqueues ? VIRTQ_MAX_SIZE : 0);
}

void virtio_mmio_init(struct virtio_mmio *t, uint32_t device_id, uint64_t device_features,
                      uint32_t nqueues, uint32_t config_bytes, const struct vq_guest *guest,
                      const struct virtio_mmio_ops *ops, void *opaque)
{
    *t = (struct virtio_mmio){
        .device_id = device_id,
        .device_features = device_features | (1ULL << VIRTIO_F_VERSION_1),
        .nqueues = nqueues > VIRTIO_MMIO_MAX_QUEUES ? VIRTIO_MMIO_MAX_QUEUES : nqueues,
        .config_bytes = config_bytes,
        .guest = guest,
        .ops = ops,
        .opaque = opaque,
    };
    reset(t);
}

bool virtio_mmio_live(const struct virtio_mmio *t)
{
    return (t->s.status & VIRTIO_STATUS_DRIVER_OK) && !(t->s.status & VIRTIO_STATUS_NEEDS_RESET);
}

void virtio_mmio_raise(struct virtio_mmio *t, uint32_t bits)
{
    t->s.interrupt_status |= bits;
    if (t->ops->irq)
        t->ops->irq(t->opaque);
}

void virtio_mmio_config_changed(struct virtio_mmio *t)
{
    t->s.config_generation++;
    virtio_mmio_raise(t, VIRTIO_INT_CONFIG);
}

void virtio_mmio_needs_reset(struct virtio_mmio *t)
{
    if (t->s.status & VIRTIO_STATUS_NEEDS_RESET)
        return;
    t->s.status |= VIRTIO_STATUS_NEEDS_RESET;
    /* Only a driver past DRIVER_OK is told (4.2.2.1); before, it will
     * read the status anyway. */
    if (t->s.status & VIRTIO_STATUS_DRIVER_OK)
        virtio_mmio_config_changed(t);
}

static struct virtq *selected_queue(struct virtio_mmio *t)
{
    return t->s.queue_sel < t->nqueues ? &t->s.queues[t->s.queue_sel] : NULL;
}

static uint32_t read_reg(struct virtio_mmio *t, uint64_t offset)
{
    struct virtq *vq = selected_queue(t);
    switch (offset) {
    case VIRTIO_MMIO_MAGIC_VALUE: return VIRTIO_MMIO_MAGIC;
    case VIRTIO_MMIO_VERSION_REG: return VIRTIO_MMIO_VERSION;
    case VIRTIO_MMIO_DEVICE_ID: return t->device_id;
    case VIRTIO_MMIO_VENDOR_ID: return VIRTIO_MMIO_VENDOR;
    case VIRTIO_MMIO_DEVICE_FEATURES:
        if (t->s.device_features_sel > 1)
            return 0;
        return (uint32_t)(t->device_features >> (32 * t->s.device_features_sel));
    case VIRTIO_MMIO_QUEUE_NUM_MAX: return vq ? VIRTQ_MAX_SIZE : 0;
    case VIRTIO_MMIO_QUEUE_READY: return vq ? vq->ready : 0;
    case VIRTIO_MMIO_INTERRUPT_STATUS: return t->s.interrupt_status;
    case VIRTIO_MMIO_STATUS: return t->s.status;
    case VIRTIO_MMIO_CONFIG_GENERATION: return t->s.config_generation;
    default:
        return 0;       /* write-only or reserved */
    }
}

static void set_addr_half(uint64_t *addr, bool high, uint32_t value)
{
    if (high)
        *addr = (*addr & 0xffffffffULL) | ((uint64_t)value << 32);
    else
        *addr = (*addr & ~0xffffffffULL) | value;
}

static void write_queue_ready(struct virtio_mmio *t, struct virtq *vq, uint32_t value)
{
    if (!value) {
        vq->ready = false;
        return;
    }
    if (vq->ready)
        return;
    if (virtq_check(vq, t->guest)) {
        WARN_GUEST("queue %u set up with bad size %u or rings desc=0x%llx driver=0x%llx "
                   "device=0x%llx: device needs reset",
                   t->s.queue_sel, vq->num, (unsigned long long)vq->desc_gpa,
                   (unsigned long long)vq->avail_gpa, (unsigned long long)vq->used_gpa);
        virtio_mmio_needs_reset(t);
        return;
    }
    vq->ready = true;
}

static void write_status(struct virtio_mmio *t, uint32_t value)
{
    if (value == 0) {
        reset(t);
        if (t->ops->reset)
            t->ops->reset(t->opaque);
        return;
    }
    value &= VIRTIO_STATUS_KNOWN;
    uint32_t old = t->s.status;
    if ((value & VIRTIO_STATUS_FEATURES_OK) && !(old & VIRTIO_STATUS_FEATURES_OK)) {
        uint64_t f = t->s.driver_features;
        if ((f & ~t->device_features) || !(f & (1ULL << VIRTIO_F_VERSION_1))) {
            WARN_GUEST("driver features 0x%llx refused (offered 0x%llx, VERSION_1 required)",
                       (unsigned long long)f, (unsigned long long)t->device_features);
            value &= ~VIRTIO_STATUS_FEATURES_OK;
        }
    }
    /* DRIVER_OK without FEATURES_OK is a driver bug: refuse to go live. */
    if ((value & VIRTIO_STATUS_DRIVER_OK) && !(value & VIRTIO_STATUS_FEATURES_OK))
        value &= ~VIRTIO_STATUS_DRIVER_OK;
    t->s.status = value | (old & VIRTIO_STATUS_NEEDS_RESET);
}

static void write_reg(struct virtio_mmio *t, uint64_t offset, uint32_t value)
{
    struct virtq *vq = selected_queue(t);
    bool queue_locked = !vq || vq->ready;   /* queue registers change only while not ready */
    switch (offset) {
    case VIRTIO_MMIO_DEVICE_FEATURES_SEL: t->s.device_features_sel = value; return;
    case VIRTIO_MMIO_DRIVER_FEATURES_SEL: t->s.driver_features_sel = value; return;
    case VIRTIO_MMIO_DRIVER_FEATURES:
        if (t->s.driver_features_sel <= 1 && !(t->s.status & VIRTIO_STATUS_FEATURES_OK)) {
            unsigned shift = 32 * t->s.driver_features_sel;
            t->s.driver_features = (t->s.driver_features & ~(0xffffffffULL << shift)) |
                                   ((uint64_t)value << shift);
        }
        return;
    case VIRTIO_MMIO_QUEUE_SEL: t->s.queue_sel = value; return;
    case VIRTIO_MMIO_QUEUE_NUM:
        if (!queue_locked)
            vq->num = value > 0xffff ? 0 : (uint16_t)value;    /* checked at QueueReady */
        return;
    case VIRTIO_MMIO_QUEUE_READY:
        if (vq)
            write_queue_ready(t, vq, value);
        break;
    case VIRTIO_MMIO_QUEUE_NOTIFY:
        if (value < t->nqueues && t->ops->notify)
            t->ops->notify(t->opaque, value);
        return;
    case VIRTIO_MMIO_INTERRUPT_ACK: t->s.interrupt_status &= ~value; return;
    case VIRTIO_MMIO_STATUS: write_status(t, value); break;
    case VIRTIO_MMIO_QUEUE_DESC_LOW:
    case VIRTIO_MMIO_QUEUE_DESC_HIGH:
        if (!queue_locked)
            set_addr_half(&vq->desc_gpa, offset == VIRTIO_MMIO_QUEUE_DESC_HIGH, value);
        return;
    case VIRTIO_MMIO_QUEUE_DRIVER_LOW:
    case VIRTIO_MMIO_QUEUE_DRIVER_HIGH:
        if (!queue_locked)
            set_addr_half(&vq->avail_gpa, offset == VIRTIO_MMIO_QUEUE_DRIVER_HIGH, value);
        return;
    case VIRTIO_MMIO_QUEUE_DEVICE_LOW:
    case VIRTIO_MMIO_QUEUE_DEVICE_HIGH:
        if (!queue_locked)
            set_addr_half(&vq->used_gpa, offset == VIRTIO_MMIO_QUEUE_DEVICE_HIGH, value);
        return;
    default:
        WARN_GUEST("write 0x%x to read-only or reserved register 0x%llx", value,
                   (unsigned long long)offset);
        return;
    }
    if (t->ops->changed)
        t->ops->changed(t->opaque);
}

void virtio_mmio_read(struct virtio_mmio *t, uint64_t offset, uint8_t *data, unsigned size)
{
    memset(data, 0, size);
    if (offset >= VIRTIO_MMIO_CONFIG) {
        uint64_t off = offset - VIRTIO_MMIO_CONFIG;
        if (off < t->config_bytes && size <= t->config_bytes - off && t->ops->config_read)
            t->ops->config_read(t->opaque, (uint32_t)off, data, size);
        return;
    }
    if (size != 4 || (offset & 3)) {
        WARN_GUEST("%u-byte read of register 0x%llx ignored", size, (unsigned long long)offset);
        return;
    }
    uint32_t v = read_reg(t, offset);
    memcpy(data, &v, 4);
}

void virtio_mmio_write(struct virtio_mmio *t, uint64_t offset, const uint8_t *data,
                       unsigned size)
{
    if (offset >= VIRTIO_MMIO_CONFIG)
        return;         /* net config space is read-only */
    if (size != 4 || (offset & 3)) {
        WARN_GUEST("%u-byte write to register 0x%llx ignored", size, (unsigned long long)offset);
        return;
    }
    uint32_t v;
    memcpy(&v, data, 4);
    write_reg(t, offset, v);
}

int virtio_mmio_state_check(const struct virtio_mmio *t, const struct virtio_mmio_state *s,
                            char *msg, unsigned msg_bytes)
{
    if (s->status & ~VIRTIO_STATUS_KNOWN) {
        snprintf(msg, msg_bytes, "status 0x%x has unknown bits", s->status);
        return -EINVAL;
    }
    if (s->driver_features & ~t->device_features) {
        snprintf(msg, msg_bytes, "driver features 0x%llx are not all offered here (0x%llx)",
                 (unsigned long long)s->driver_features, (unsigned long long)t->device_features);
        return -EINVAL;
    }
    if (s->interrupt_status & ~(VIRTIO_INT_VRING | VIRTIO_INT_CONFIG)) {
        snprintf(msg, msg_bytes, "interrupt status 0x%x has unknown bits", s->interrupt_status);
        return -EINVAL;
    }
    for (uint32_t q = 0; q < VIRTIO_MMIO_MAX_QUEUES; q++) {
        const struct virtq *vq = &s->queues[q];
        if (q >= t->nqueues && (vq->ready || vq->num)) {
            snprintf(msg, msg_bytes, "queue %u does not exist here", q);
            return -EINVAL;
        }
        if (vq->num > VIRTQ_MAX_SIZE) {
            snprintf(msg, msg_bytes, "queue %u has size %u, more than %u", q, vq->num,
                     VIRTQ_MAX_SIZE);
            return -EINVAL;
        }
        if (vq->ready && virtq_check(vq, t->guest)) {
            snprintf(msg, msg_bytes, "queue %u (size %u) has rings outside guest RAM or "
                     "misaligned", q, vq->num);
            return -EINVAL;
        }
        /* The device can never be more than a ring ahead of the driver. */
        if (vq->ready && (uint16_t)(vq->last_avail_idx - vq->used_idx) > vq->num) {
            snprintf(msg, msg_bytes, "queue %u has %u buffers in flight, more than its size",
                     q, (uint16_t)(vq->last_avail_idx - vq->used_idx));
            return -EINVAL;
        }
    }
    return 0;
}
