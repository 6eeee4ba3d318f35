/*
 * virtio-net: the device behind a virtio-mmio window, moving frames
 * between a TAP and the guest's rings on its own I/O thread; see
 * virtio_net.h for threads, locks, pause and dirty tracking.  The codec
 * of its migration state section is at the end of this file.
 *
 * RX flow control: the TAP is watched for input only while the RX queue
 * has buffers.  When the guest has posted none, the TAP leaves the epoll
 * set and frames wait in the kernel's queue (dropped only by the kernel
 * when that fills); the driver's QueueNotify after a refill brings it
 * back.  The guest polls its used rings, so interrupts are raised (irqfd)
 * but nothing depends on them.
 *
 * Early frames: on the destination of a migration the TAP is open and on
 * the bridge before the guest arrives, so traffic for the VM reaches this
 * host during the whole transfer.  The TAP's own queue (500 frames) would
 * fill with the oldest of it (frames the source has answered long ago) and
 * then drop the newest, those sent while the guest was paused for the
 * switchover: exactly the ones only this copy can answer.  So until the VM
 * first runs here, the I/O thread reads the TAP itself and keeps the newest
 * EARLY_FRAMES in a ring, letting older ones go; once the VM runs they are
 * delivered first, in order, then the TAP again.
 *
 * Ready probes (include/godwit/ready_probe.h) read while holding are the
 * agents' proof that the data path reaches this process: they are counted
 * and remembered for net-stats, never held for the guest.
 */
#include "dev/virtio_net.h"

#include <errno.h>
#include <net/if.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <unistd.h>

#include "base/log.h"
#include "dev/rarp.h"
#include "godwit/ready_probe.h"
#include "wire/tlv.h"

#define BATCH_FRAMES 256        /* per queue per lock hold: bounds a quiesce's wait */
#define MAX_FRAME_BYTES 65535   /* TX frames above this are dropped (no GSO offered) */
#define EARLY_FRAMES 512        /* newest frames kept before the first run */
#define EARLY_FRAME_BYTES (VIRTIO_NET_HDR_BYTES + 1518)     /* header + a VLAN-tagged frame */

struct early_frame {
    uint32_t len;               /* including the 12-byte header */
    uint8_t data[EARLY_FRAME_BYTES];
};

enum { EV_STOP, EV_KICK, EV_TAP, EV_TIMER };

struct virtio_net {
    uint32_t index;
    char tap_name[IF_NAMESIZE];
    uint8_t mac[6];
    struct mmio_device mmio;
    struct vq_guest guest;
    int tap_fd, kick_fd, irq_fd, stop_fd, timer_fd, epoll_fd;
    pthread_t thread;
    bool thread_started;

    pthread_mutex_t lock;       /* guards everything below, and all guest RAM access */
    struct virtio_mmio t;
    bool running;               /* the VM runs: guest RAM may be touched */
    bool tap_armed;             /* the TAP is in the epoll set */
    uint16_t config_status;     /* VIRTIO_NET_S_* */
    bool announce_pending;      /* loaded from a migration: announce on the next run */
    bool announce_start;        /* the I/O thread starts the rounds */
    unsigned announce_round;    /* rounds sent so far */
    struct virtio_net_stats stats;
    unsigned warned;            /* rate limit of guest-triggered warnings */
    bool holding;               /* not run yet here: keep the newest TAP frames */
    struct early_frame *early;  /* ring of EARLY_FRAMES, or NULL */
    unsigned early_first, early_count;
    struct early_frame scratch; /* each frame is read here first, to tell a probe */
};

#define DEV_WARN(dev, fmt, ...)                                                       \
    do {                                                                              \
        if ((dev)->warned < 20) {                                                     \
            (dev)->warned++;                                                          \
            LOG_WARN("virtio-net", "net%u " fmt, (dev)->index, __VA_ARGS__);          \
        }                                                                             \
    } while (0)

static void signal_fd(int fd)
{
    uint64_t one = 1;
    ssize_t ignored = write(fd, &one, sizeof one);
    (void)ignored;
}

static void drain_fd(int fd)
{
    uint64_t count;
    ssize_t ignored = read(fd, &count, sizeof count);
    (void)ignored;
}

/* ---- transport callbacks (called with dev->lock held) ---- */

static void op_notify(void *opaque, uint32_t queue)
{
    (void)queue;
    struct virtio_net *dev = opaque;
    signal_fd(dev->kick_fd);
}

static void op_reset(void *opaque)
{
    struct virtio_net *dev = opaque;
    dev->config_status &= ~VIRTIO_NET_S_ANNOUNCE;
    signal_fd(dev->kick_fd);
}

static void op_changed(void *opaque)
{
    struct virtio_net *dev = opaque;
    signal_fd(dev->kick_fd);
}

static void op_config_read(void *opaque, uint32_t offset, uint8_t *data, unsigned size)
{
    struct virtio_net *dev = opaque;
    uint8_t config[VIRTIO_NET_CONFIG_BYTES];
    memcpy(config, dev->mac, 6);
    config[6] = dev->config_status & 0xff;
    config[7] = dev->config_status >> 8;
    config[8] = 1;              /* max_virtqueue_pairs */
    config[9] = 0;
    memcpy(data, config + offset, size);
}

static void op_irq(void *opaque)
{
    struct virtio_net *dev = opaque;
    signal_fd(dev->irq_fd);
}

static const struct virtio_mmio_ops net_ops = {
    .notify = op_notify,
    .reset = op_reset,
    .changed = op_changed,
    .config_read = op_config_read,
    .irq = op_irq,
};

static void mmio_read(void *opaque, uint64_t offset, uint8_t *data, unsigned size)
{
    struct virtio_net *dev = opaque;
    pthread_mutex_lock(&dev->lock);
    virtio_mmio_read(&dev->t, offset, data, size);
    pthread_mutex_unlock(&dev->lock);
}

static void mmio_write(void *opaque, uint64_t offset, const uint8_t *data, unsigned size)
{
    struct virtio_net *dev = opaque;
    pthread_mutex_lock(&dev->lock);
    virtio_mmio_write(&dev->t, offset, data, size);
    pthread_mutex_unlock(&dev->lock);
}

/* ---- queue processing (I/O thread, dev->lock held, dev->running) ---- */

static void broke_ring(struct virtio_net *dev, uint32_t queue, const char *what)
{
    DEV_WARN(dev, "queue %u: %s: device needs reset", queue, what);
    virtio_mmio_needs_reset(&dev->t);
}

/* Moves frames from the TAP into RX buffers.  Returns true if it stopped
 * at the batch limit; sets *starved when the guest has no buffer. */
static bool process_rx(struct virtio_net *dev, bool *pushed, bool *starved)
{
    struct virtq *vq = &dev->t.s.queues[VIRTIO_NET_RXQ];
    struct vq_chain chain;
    struct iovec iov[VIRTQ_MAX_SEGS];
    for (int n = 0; n < BATCH_FRAMES; n++) {
        int rc = virtq_pop(vq, &dev->guest, &chain);
        if (rc < 0) {
            broke_ring(dev, VIRTIO_NET_RXQ, "bad descriptor chain");
            return false;
        }
        if (rc == 0) {
            *starved = true;
            return false;
        }
        if (chain.out_bytes || chain.in_bytes < VIRTIO_NET_HDR_BYTES) {
            broke_ring(dev, VIRTIO_NET_RXQ, "RX buffer not writable or shorter than the header");
            return false;
        }
        unsigned niov = vq_chain_iov(&chain, true, 0, iov, VIRTQ_MAX_SEGS);
        ssize_t got = readv(dev->tap_fd, iov, (int)niov);
        if (got < 0 && (errno == EAGAIN || errno == EINTR)) {
            virtq_unpop(vq);
            return false;
        }
        if (got < 0) {
            /* The kernel consumed a frame it could not fit (EFAULT: the
             * buffer was too small), possibly after writing part of it. */
            vq_chain_dirty(&chain, &dev->guest, chain.in_bytes);
            virtq_unpop(vq);
            dev->stats.rx_dropped++;
            DEV_WARN(dev, "TAP read into a %llu-byte RX buffer failed: %s",
                     (unsigned long long)chain.in_bytes, strerror(errno));
            if (errno != EFAULT && errno != EINVAL)
                return false;
            continue;
        }
        vq_chain_dirty(&chain, &dev->guest, (uint64_t)got);
        uint8_t hdr[VIRTIO_NET_HDR_BYTES];
        vq_chain_read_in(&chain, 0, hdr, sizeof hdr);
        if ((size_t)got < VIRTIO_NET_HDR_BYTES + 14 || hdr[1] != 0) {
            /* A runt, or a GSO frame although no offload is enabled. */
            virtq_unpop(vq);
            dev->stats.rx_dropped++;
            continue;
        }
        /* Flags and GSO fields zero (nothing was negotiated), one buffer. */
        memset(hdr, 0, sizeof hdr);
        hdr[10] = 1;
        vq_chain_write(&chain, &dev->guest, 0, hdr, sizeof hdr);
        if (virtq_push(vq, &dev->guest, chain.head, (uint32_t)got)) {
            broke_ring(dev, VIRTIO_NET_RXQ, "used ring outside RAM");
            return false;
        }
        *pushed = true;
        dev->stats.rx_frames++;
        dev->stats.rx_bytes += (uint64_t)got - VIRTIO_NET_HDR_BYTES;
    }
    return true;
}

/* Sends one frame (header + data) to the TAP. */
static ssize_t tap_send(struct virtio_net *dev, struct iovec *iov, unsigned niov)
{
    ssize_t n;
    do
        n = writev(dev->tap_fd, iov, (int)niov);
    while (n < 0 && errno == EINTR);
    return n;
}

static bool process_tx(struct virtio_net *dev, bool *pushed)
{
    struct virtq *vq = &dev->t.s.queues[VIRTIO_NET_TXQ];
    struct vq_chain chain;
    struct iovec iov[VIRTQ_MAX_SEGS + 1];
    for (int n = 0; n < BATCH_FRAMES; n++) {
        int rc = virtq_pop(vq, &dev->guest, &chain);
        if (rc < 0) {
            broke_ring(dev, VIRTIO_NET_TXQ, "bad descriptor chain");
            return false;
        }
        if (rc == 0)
            return false;
        uint64_t frame = chain.out_bytes >= VIRTIO_NET_HDR_BYTES
                             ? chain.out_bytes - VIRTIO_NET_HDR_BYTES : 0;
        if (frame < 14 || frame > MAX_FRAME_BYTES) {
            DEV_WARN(dev, "TX frame of %llu bytes dropped", (unsigned long long)frame);
            dev->stats.tx_dropped++;
        } else {
            /* The guest's header must say "nothing to offload"; send a
             * clean one rather than trust it with the host kernel. */
            uint8_t hdr[VIRTIO_NET_HDR_BYTES] = { 0 };
            iov[0] = (struct iovec){ .iov_base = hdr, .iov_len = sizeof hdr };
            unsigned niov = 1 + vq_chain_iov(&chain, false, VIRTIO_NET_HDR_BYTES, iov + 1,
                                             VIRTQ_MAX_SEGS);
            if (tap_send(dev, iov, niov) < 0) {
                DEV_WARN(dev, "TAP write failed: %s", strerror(errno));
                dev->stats.tx_dropped++;
            } else {
                dev->stats.tx_frames++;
                dev->stats.tx_bytes += frame;
            }
        }
        if (virtq_push(vq, &dev->guest, chain.head, 0)) {
            broke_ring(dev, VIRTIO_NET_TXQ, "used ring outside RAM");
            return false;
        }
        *pushed = true;
    }
    return true;
}

static void process_ctrl(struct virtio_net *dev, bool *pushed)
{
    struct virtq *vq = &dev->t.s.queues[VIRTIO_NET_CTRLQ];
    struct vq_chain chain;
    for (int n = 0; n < 16; n++) {
        int rc = virtq_pop(vq, &dev->guest, &chain);
        if (rc < 0) {
            broke_ring(dev, VIRTIO_NET_CTRLQ, "bad descriptor chain");
            return;
        }
        if (rc == 0)
            return;
        uint8_t cmd[2];
        uint32_t written = 0;
        if (chain.in_bytes < 1 || vq_chain_read(&chain, 0, cmd, sizeof cmd)) {
            DEV_WARN(dev, "control command of %llu+%llu bytes ignored",
                     (unsigned long long)chain.out_bytes, (unsigned long long)chain.in_bytes);
        } else {
            uint8_t ack = VIRTIO_NET_ERR;
            if (cmd[0] == VIRTIO_NET_CTRL_ANNOUNCE && cmd[1] == VIRTIO_NET_CTRL_ANNOUNCE_ACK) {
                ack = VIRTIO_NET_OK;
                if (dev->config_status & VIRTIO_NET_S_ANNOUNCE) {
                    dev->config_status &= ~VIRTIO_NET_S_ANNOUNCE;
                    dev->t.s.config_generation++;
                    LOG_INFO("virtio-net", "net%u guest acknowledged the announce", dev->index);
                }
            }
            vq_chain_write(&chain, &dev->guest, chain.in_bytes - 1, &ack, 1);
            written = 1;
            dev->stats.ctrl_commands++;
        }
        if (virtq_push(vq, &dev->guest, chain.head, written)) {
            broke_ring(dev, VIRTIO_NET_CTRLQ, "used ring outside RAM");
            return;
        }
        *pushed = true;
    }
}

static void announce_round(struct virtio_net *dev)
{
    uint8_t frame[VIRTIO_NET_HDR_BYTES + RARP_FRAME_BYTES] = { 0 };
    rarp_build(frame + VIRTIO_NET_HDR_BYTES, dev->mac);
    struct iovec iov = { .iov_base = frame, .iov_len = sizeof frame };
    bool sent = tap_send(dev, &iov, 1) >= 0;
    char mac[18];
    virtio_net_format_mac(dev->mac, mac);
    dev->announce_round++;
    dev->stats.announce_rounds++;

    bool guest = false;
    if (dev->announce_round == 1 && virtio_mmio_live(&dev->t) &&
        (dev->t.s.driver_features & (1ULL << VIRTIO_NET_F_GUEST_ANNOUNCE))) {
        dev->config_status |= VIRTIO_NET_S_ANNOUNCE;
        virtio_mmio_config_changed(&dev->t);
        guest = true;
    }
    LOG_INFO("virtio-net", "net%u announce round %u/%u: RARP from %s on %s%s%s", dev->index,
             dev->announce_round, RARP_ROUNDS, mac, dev->tap_name, sent ? "" : " (send failed)",
             guest ? "; asked the guest to announce" : "");

    int delay = rarp_round_delay_ms(dev->announce_round);
    if (delay > 0) {
        struct itimerspec its = { .it_value = { .tv_sec = delay / 1000,
                                                .tv_nsec = (delay % 1000) * 1000000L } };
        timerfd_settime(dev->timer_fd, 0, &its, NULL);
    }
}

/* If f is an agent's ready probe: counts it, remembers its text, and
 * returns true (it is not for the guest).  Lock held. */
static bool take_ready_probe(struct virtio_net *dev, const struct early_frame *f)
{
    const uint8_t *eth = f->data + VIRTIO_NET_HDR_BYTES;
    size_t len = f->len - VIRTIO_NET_HDR_BYTES, prefix = strlen(READY_PROBE_PREFIX);
    if (((unsigned)eth[12] << 8 | eth[13]) != READY_PROBE_ETHERTYPE ||
        memcmp(eth, dev->mac, 6) || len < 14 + prefix ||
        memcmp(eth + 14, READY_PROBE_PREFIX, prefix))
        return false;
    /* The text: printable bytes up to the NUL padding (or the end). */
    char *text = dev->stats.last_ready_probe;
    size_t n = 0;
    for (const uint8_t *p = eth + 14; p < eth + len && n < sizeof dev->stats.last_ready_probe - 1;
         p++, n++) {
        if (*p < 0x20 || *p > 0x7e)
            break;
        text[n] = (char)*p;
    }
    text[n] = '\0';
    dev->stats.ready_probes++;
    return true;
}

/* Before the first run: reads whatever the TAP has, keeping the newest
 * EARLY_FRAMES.  Lock held. */
static void hold_early_frames(struct virtio_net *dev)
{
    struct early_frame *in = &dev->scratch;
    for (;;) {
        ssize_t got = read(dev->tap_fd, in->data, EARLY_FRAME_BYTES);
        if (got < 0)
            return;             /* EAGAIN: all read; anything else: try on the next wakeup */
        if ((size_t)got < VIRTIO_NET_HDR_BYTES + 14)
            continue;           /* a runt */
        in->len = (uint32_t)got;
        if (take_ready_probe(dev, in))
            continue;
        unsigned slot = (dev->early_first + dev->early_count) % EARLY_FRAMES;
        if (dev->early_count == EARLY_FRAMES) {     /* full: the oldest goes */
            slot = dev->early_first;
            dev->early_first = (dev->early_first + 1) % EARLY_FRAMES;
            dev->early_count--;
            dev->stats.early_discarded++;
        }
        memcpy(&dev->early[slot], in, sizeof(in->len) + in->len);
        dev->early_count++;
        dev->stats.early_held++;
    }
}

/* After the first run: moves held frames into RX buffers, oldest first.
 * Returns false when the guest has no buffer left.  Lock held, running. */
static bool deliver_early_frames(struct virtio_net *dev, bool *pushed)
{
    struct virtq *vq = &dev->t.s.queues[VIRTIO_NET_RXQ];
    while (dev->early_count) {
        struct early_frame *f = &dev->early[dev->early_first];
        struct vq_chain chain;
        int rc = virtq_pop(vq, &dev->guest, &chain);
        if (rc <= 0) {
            if (rc < 0)
                broke_ring(dev, VIRTIO_NET_RXQ, "bad descriptor chain");
            return false;
        }
        if (chain.out_bytes || chain.in_bytes < VIRTIO_NET_HDR_BYTES) {
            virtq_unpop(vq);
            broke_ring(dev, VIRTIO_NET_RXQ, "RX buffer not writable or too short");
            return false;
        }
        if (chain.in_bytes < f->len) {
            virtq_unpop(vq);
            dev->stats.rx_dropped++;        /* the guest's buffers are too small for it */
        } else {
            memset(f->data, 0, VIRTIO_NET_HDR_BYTES);
            f->data[10] = 1;                /* num_buffers */
            if (vq_chain_write(&chain, &dev->guest, 0, f->data, f->len) ||
                virtq_push(vq, &dev->guest, chain.head, f->len)) {
                broke_ring(dev, VIRTIO_NET_RXQ, "RX buffer outside RAM");
                return false;
            }
            *pushed = true;
            dev->stats.rx_frames++;
            dev->stats.rx_bytes += f->len - VIRTIO_NET_HDR_BYTES;
        }
        dev->early_first = (dev->early_first + 1) % EARLY_FRAMES;
        dev->early_count--;
    }
    return true;
}

/* Puts the TAP in or out of the epoll set.  Lock held. */
static void arm_tap(struct virtio_net *dev, bool want)
{
    if (want == dev->tap_armed)
        return;
    struct epoll_event ev = { .events = want ? EPOLLIN : 0, .data.u32 = EV_TAP };
    if (epoll_ctl(dev->epoll_fd, EPOLL_CTL_MOD, dev->tap_fd, &ev) == 0)
        dev->tap_armed = want;
}

/* One pass over the queues.  Lock held.  Returns true if work is left. */
static bool process(struct virtio_net *dev)
{
    if (dev->announce_start && dev->running) {
        dev->announce_start = false;
        dev->announce_round = 0;
        announce_round(dev);
    }
    if (!dev->running && dev->holding) {
        arm_tap(dev, true);
        hold_early_frames(dev);
        return false;
    }
    if (!dev->running || !virtio_mmio_live(&dev->t)) {
        arm_tap(dev, false);
        return false;
    }
    struct virtq *q = dev->t.s.queues;
    bool more = false, rx_pushed = false, tx_pushed = false, ctrl_pushed = false;
    bool starved = false;
    if (q[VIRTIO_NET_CTRLQ].ready)
        process_ctrl(dev, &ctrl_pushed);
    if (q[VIRTIO_NET_TXQ].ready && virtio_mmio_live(&dev->t))
        more |= process_tx(dev, &tx_pushed);
    if (dev->holding && q[VIRTIO_NET_RXQ].ready && virtio_mmio_live(&dev->t)) {
        if (deliver_early_frames(dev, &rx_pushed)) {
            LOG_INFO("virtio-net", "net%u delivered the frames that arrived before the guest: "
                     "%llu held, %llu older ones let go", dev->index,
                     (unsigned long long)dev->stats.early_held,
                     (unsigned long long)dev->stats.early_discarded);
            dev->holding = false;
            free(dev->early);
            dev->early = NULL;
        } else {
            starved = true;
        }
    }
    if (!dev->holding && q[VIRTIO_NET_RXQ].ready && virtio_mmio_live(&dev->t))
        more |= process_rx(dev, &rx_pushed, &starved);

    bool irq = (rx_pushed && virtq_wants_interrupt(&q[VIRTIO_NET_RXQ], &dev->guest)) ||
               (tx_pushed && virtq_wants_interrupt(&q[VIRTIO_NET_TXQ], &dev->guest)) ||
               (ctrl_pushed && virtq_wants_interrupt(&q[VIRTIO_NET_CTRLQ], &dev->guest));
    if (irq)
        virtio_mmio_raise(&dev->t, VIRTIO_INT_VRING);
    arm_tap(dev, virtio_mmio_live(&dev->t) && q[VIRTIO_NET_RXQ].ready && !starved);
    return more && virtio_mmio_live(&dev->t);
}

static void *io_thread(void *arg)
{
    struct virtio_net *dev = arg;
    bool more = false;
    for (;;) {
        struct epoll_event evs[4];
        int n = epoll_wait(dev->epoll_fd, evs, 4, more ? 0 : -1);
        if (n < 0 && errno != EINTR) {
            LOG_ERR("virtio-net", "net%u epoll_wait: %s", dev->index, strerror(errno));
            return NULL;
        }
        bool timer = false;
        for (int i = 0; i < n; i++) {
            switch (evs[i].data.u32) {
            case EV_STOP: return NULL;
            case EV_KICK: drain_fd(dev->kick_fd); break;
            case EV_TIMER: drain_fd(dev->timer_fd); timer = true; break;
            default: break;
            }
        }
        pthread_mutex_lock(&dev->lock);
        if (timer && dev->announce_round > 0 && dev->announce_round < RARP_ROUNDS)
            announce_round(dev);
        more = process(dev);
        pthread_mutex_unlock(&dev->lock);
    }
}

/* ---- life cycle ---- */

static int add_fd(struct virtio_net *dev, int fd, uint32_t events, uint32_t tag)
{
    struct epoll_event ev = { .events = events, .data.u32 = tag };
    return epoll_ctl(dev->epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

struct virtio_net *virtio_net_create(const struct virtio_net_params *p, struct gw_error *err)
{
    struct virtio_net *dev = calloc(1, sizeof *dev);
    if (!dev) {
        gw_error_set(err, -ENOMEM, "out of memory");
        return NULL;
    }
    dev->index = p->index;
    snprintf(dev->tap_name, sizeof dev->tap_name, "%s", p->tap_name ? p->tap_name : "?");
    memcpy(dev->mac, p->mac, 6);
    dev->guest = (struct vq_guest){ .mem = p->mem, .mark_dirty = p->mark_dirty,
                                    .opaque = p->dirty_opaque };
    dev->mmio = (struct mmio_device){ .name = "virtio-net", .base = p->mmio_base,
                                      .size = VIRTIO_MMIO_WINDOW_BYTES, .opaque = dev,
                                      .read = mmio_read, .write = mmio_write };
    dev->config_status = VIRTIO_NET_S_LINK_UP;
    if (p->hold_early_frames) {
        dev->early = calloc(EARLY_FRAMES, sizeof *dev->early);
        if (!dev->early) {
            free(dev);
            gw_error_set(err, -ENOMEM, "out of memory for early frames");
            return NULL;
        }
        dev->holding = true;
    }
    virtio_mmio_init(&dev->t, VIRTIO_ID_NET, VIRTIO_NET_FEATURES, VIRTIO_NET_NQUEUES,
                     VIRTIO_NET_CONFIG_BYTES, &dev->guest, &net_ops, dev);
    pthread_mutex_init(&dev->lock, NULL);

    dev->tap_fd = -1;
    dev->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    dev->irq_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    dev->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    dev->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    dev->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    int rc = 0;
    if (dev->kick_fd < 0 || dev->irq_fd < 0 || dev->stop_fd < 0 || dev->timer_fd < 0 ||
        dev->epoll_fd < 0)
        rc = -errno;
    if (!rc)
        rc = add_fd(dev, dev->stop_fd, EPOLLIN, EV_STOP);
    if (!rc)
        rc = add_fd(dev, dev->kick_fd, EPOLLIN, EV_KICK);
    if (!rc)
        rc = add_fd(dev, dev->timer_fd, EPOLLIN, EV_TIMER);
    if (!rc)
        rc = add_fd(dev, p->tap_fd, 0, EV_TAP);     /* armed once RX has buffers */
    if (!rc) {
        dev->tap_fd = p->tap_fd;
        rc = -pthread_create(&dev->thread, NULL, io_thread, dev);
        if (!rc && dev->holding)
            signal_fd(dev->kick_fd);    /* arms the TAP at once to hold early frames */
    }
    if (rc) {
        gw_error_set(err, rc, "cannot set up virtio-net device %u: %s", p->index, strerror(-rc));
        dev->tap_fd = -1;       /* still the caller's */
        virtio_net_destroy(dev);
        return NULL;
    }
    dev->thread_started = true;
    return dev;
}

void virtio_net_destroy(struct virtio_net *dev)
{
    if (!dev)
        return;
    if (dev->thread_started) {
        signal_fd(dev->stop_fd);
        pthread_join(dev->thread, NULL);
    }
    int fds[] = { dev->tap_fd, dev->kick_fd, dev->irq_fd, dev->stop_fd, dev->timer_fd,
                  dev->epoll_fd };
    for (unsigned i = 0; i < sizeof fds / sizeof fds[0]; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    pthread_mutex_destroy(&dev->lock);
    free(dev->early);
    free(dev);
}

const struct mmio_device *virtio_net_mmio(const struct virtio_net *dev) { return &dev->mmio; }
int virtio_net_irq_fd(const struct virtio_net *dev) { return dev->irq_fd; }
int virtio_net_kick_fd(const struct virtio_net *dev) { return dev->kick_fd; }
const uint8_t *virtio_net_mac(const struct virtio_net *dev) { return dev->mac; }
const char *virtio_net_tap_name(const struct virtio_net *dev) { return dev->tap_name; }

void virtio_net_run(struct virtio_net *dev)
{
    pthread_mutex_lock(&dev->lock);
    dev->running = true;
    if (dev->announce_pending) {
        dev->announce_pending = false;
        dev->announce_start = true;
    }
    pthread_mutex_unlock(&dev->lock);
    signal_fd(dev->kick_fd);
}

void virtio_net_quiesce(struct virtio_net *dev)
{
    /* Taking the lock waits out a batch in progress; the I/O thread checks
     * running under the same lock before it touches guest RAM again. */
    pthread_mutex_lock(&dev->lock);
    dev->running = false;
    pthread_mutex_unlock(&dev->lock);
    signal_fd(dev->kick_fd);    /* let it take the TAP out of its epoll set */
}

void virtio_net_get_stats(struct virtio_net *dev, struct virtio_net_stats *stats)
{
    pthread_mutex_lock(&dev->lock);
    *stats = dev->stats;
    stats->status = dev->t.s.status;
    stats->config_status = dev->config_status;
    stats->driver_features = dev->t.s.driver_features;
    pthread_mutex_unlock(&dev->lock);
}

void virtio_net_save(struct virtio_net *dev, struct virtio_net_state *state)
{
    pthread_mutex_lock(&dev->lock);
    *state = (struct virtio_net_state){ .transport = dev->t.s,
                                        .config_status = dev->config_status };
    memcpy(state->mac, dev->mac, 6);
    pthread_mutex_unlock(&dev->lock);
}

int virtio_net_check(struct virtio_net *dev, const struct virtio_net_state *state,
                     struct gw_error *err)
{
    char mine[18], theirs[18], msg[160];
    if (memcmp(state->mac, dev->mac, 6)) {
        virtio_net_format_mac(dev->mac, mine);
        virtio_net_format_mac(state->mac, theirs);
        return gw_error_set(err, -EINVAL, "virtio-net %u: the source's MAC is %s, this VM's "
                            "is %s (start the destination with the same --net mac=)",
                            dev->index, theirs, mine);
    }
    if (state->config_status & ~(VIRTIO_NET_S_LINK_UP | VIRTIO_NET_S_ANNOUNCE))
        return gw_error_set(err, -EINVAL, "virtio-net %u: config status 0x%x has unknown bits",
                            dev->index, state->config_status);
    pthread_mutex_lock(&dev->lock);
    int rc = virtio_mmio_state_check(&dev->t, &state->transport, msg, sizeof msg);
    pthread_mutex_unlock(&dev->lock);
    if (rc)
        return gw_error_set(err, rc, "virtio-net %u: %s", dev->index, msg);
    return 0;
}

int virtio_net_load(struct virtio_net *dev, const struct virtio_net_state *state,
                    struct gw_error *err)
{
    int rc = virtio_net_check(dev, state, err);
    if (rc)
        return rc;
    pthread_mutex_lock(&dev->lock);
    dev->t.s = state->transport;
    dev->config_status = state->config_status | VIRTIO_NET_S_LINK_UP;
    dev->announce_pending = true;
    pthread_mutex_unlock(&dev->lock);
    return 0;
}

int virtio_net_parse_mac(const char *text, uint8_t mac[6])
{
    unsigned v[6];
    char tail;
    if (strlen(text) != 17 ||
        sscanf(text, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
               &tail) != 6)
        return -EINVAL;
    for (int i = 0; i < 6; i++) {
        /* sscanf's %x takes signs and spaces: insist on two hex digits. */
        const char *p = text + 3 * i;
        if (!strchr("0123456789abcdefABCDEF", p[0]) || !strchr("0123456789abcdefABCDEF", p[1]) ||
            !p[0] || !p[1] || (i < 5 && p[2] != ':'))
            return -EINVAL;
        mac[i] = (uint8_t)v[i];
    }
    if (mac[0] & 1)
        return -EINVAL;         /* multicast */
    static const uint8_t zero[6];
    return memcmp(mac, zero, 6) ? 0 : -EINVAL;
}

void virtio_net_format_mac(const uint8_t mac[6], char buf[18])
{
    snprintf(buf, 18, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4],
             mac[5]);
}

/* ---- the migration state section (docs/protocol.md, "virtio-net") ----
 *
 * Items, all sent TLV_CRITICAL:
 *   1 format      u64, VIRTIO_NET_STATE_FORMAT
 *   2 transport   32 bytes: u32 status, device_features_sel,
 *                 driver_features_sel, queue_sel, interrupt_status,
 *                 config_generation; u64 driver_features
 *   3 queues      u32 n (= 3), then n x 32 bytes: u16 num, u8 ready,
 *                 u8 0, u64 desc, u64 driver, u64 device, u16
 *                 last_avail_idx, u16 used_idx
 *   4 mac         6 bytes
 *   5 net_status  u16, config status (LINK_UP, ANNOUNCE)
 */
enum { TAG_FORMAT = 1, TAG_TRANSPORT, TAG_QUEUES, TAG_MAC, TAG_NET_STATUS, TAG_COUNT };
#define TRANSPORT_BYTES 32
#define QUEUE_BYTES 32

void virtio_net_state_encode(const struct virtio_net_state *s, struct wbuf *w)
{
    const uint16_t crit = TLV_CRITICAL;
    const struct virtio_mmio_state *t = &s->transport;
    tlv_put_u64(w, TAG_FORMAT, crit, VIRTIO_NET_STATE_FORMAT);

    struct wbuf item;
    wbuf_init(&item);
    wbuf_put_u32(&item, t->status);
    wbuf_put_u32(&item, t->device_features_sel);
    wbuf_put_u32(&item, t->driver_features_sel);
    wbuf_put_u32(&item, t->queue_sel);
    wbuf_put_u32(&item, t->interrupt_status);
    wbuf_put_u32(&item, t->config_generation);
    wbuf_put_u64(&item, t->driver_features);
    tlv_put(w, TAG_TRANSPORT, crit, item.data, (uint32_t)item.len);

    wbuf_reset(&item);
    wbuf_put_u32(&item, VIRTIO_NET_NQUEUES);
    for (unsigned q = 0; q < VIRTIO_NET_NQUEUES; q++) {
        const struct virtq *vq = &t->queues[q];
        wbuf_put_u16(&item, vq->num);
        wbuf_put_u8(&item, vq->ready);
        wbuf_put_u8(&item, 0);
        wbuf_put_u64(&item, vq->desc_gpa);
        wbuf_put_u64(&item, vq->avail_gpa);
        wbuf_put_u64(&item, vq->used_gpa);
        wbuf_put_u16(&item, vq->last_avail_idx);
        wbuf_put_u16(&item, vq->used_idx);
    }
    tlv_put(w, TAG_QUEUES, crit, item.data, (uint32_t)item.len);
    if (item.err && !w->err)
        w->err = item.err;
    wbuf_uninit(&item);

    tlv_put(w, TAG_MAC, crit, s->mac, 6);
    uint8_t st[2] = { s->config_status & 0xff, s->config_status >> 8 };
    tlv_put(w, TAG_NET_STATUS, crit, st, 2);
}

static int decode_item(const struct tlv_item *it, struct virtio_net_state *s,
                       struct gw_error *err)
{
    static const uint32_t sizes[TAG_COUNT] = { 0, 8, TRANSPORT_BYTES, 0, 6, 2 };
    static const char *const names[TAG_COUNT] = { 0, "format", "transport", "queues", "mac",
                                                  "net_status" };
    if (sizes[it->tag] && it->len != sizes[it->tag])
        return gw_error_set(err, -EPROTO, "virtio-net item %s is %u bytes, expected %u",
                            names[it->tag], it->len, sizes[it->tag]);
    struct rbuf r;
    rbuf_init(&r, it->data, it->len);
    struct virtio_mmio_state *t = &s->transport;
    switch (it->tag) {
    case TAG_FORMAT: {
        uint64_t format = rbuf_get_u64(&r);
        if (format != VIRTIO_NET_STATE_FORMAT)
            return gw_error_set(err, -EPROTO, "virtio-net state has format %llu; this build "
                                "reads %u", (unsigned long long)format, VIRTIO_NET_STATE_FORMAT);
        return 0;
    }
    case TAG_TRANSPORT:
        t->status = rbuf_get_u32(&r);
        t->device_features_sel = rbuf_get_u32(&r);
        t->driver_features_sel = rbuf_get_u32(&r);
        t->queue_sel = rbuf_get_u32(&r);
        t->interrupt_status = rbuf_get_u32(&r);
        t->config_generation = rbuf_get_u32(&r);
        t->driver_features = rbuf_get_u64(&r);
        return 0;
    case TAG_QUEUES: {
        uint32_t n = rbuf_get_u32(&r);
        if (r.err || n != VIRTIO_NET_NQUEUES || it->len != 4 + n * QUEUE_BYTES)
            return gw_error_set(err, -EPROTO, "virtio-net queues item of %u bytes does not "
                                "hold %d queues", it->len, VIRTIO_NET_NQUEUES);
        for (uint32_t q = 0; q < n; q++) {
            struct virtq *vq = &t->queues[q];
            vq->num = rbuf_get_u16(&r);
            uint8_t ready = rbuf_get_u8(&r), pad = rbuf_get_u8(&r);
            if (ready > 1 || pad)
                return gw_error_set(err, -EPROTO, "virtio-net queue %u has ready byte %u and "
                                    "reserved byte %u", q, ready, pad);
            vq->ready = ready;
            vq->desc_gpa = rbuf_get_u64(&r);
            vq->avail_gpa = rbuf_get_u64(&r);
            vq->used_gpa = rbuf_get_u64(&r);
            vq->last_avail_idx = rbuf_get_u16(&r);
            vq->used_idx = rbuf_get_u16(&r);
        }
        return 0;
    }
    case TAG_MAC: rbuf_get(&r, s->mac, 6); return 0;
    case TAG_NET_STATUS: s->config_status = rbuf_get_u16(&r); return 0;
    }
    return 0;
}

int virtio_net_state_decode(struct rbuf *r, struct virtio_net_state *state,
                            struct gw_error *err)
{
    struct virtio_net_state s = { 0 };
    uint32_t seen = 0;
    struct tlv_item it;
    int rc;
    while ((rc = tlv_next(r, &it)) == 1) {
        if (it.tag == 0 || it.tag >= TAG_COUNT) {
            if (it.flags & TLV_CRITICAL)
                return gw_error_set(err, -EPROTO, "virtio-net state has an unknown critical "
                                    "item (tag %u)", it.tag);
            continue;
        }
        if (seen & (1u << it.tag))
            return gw_error_set(err, -EPROTO, "virtio-net state has item %u twice", it.tag);
        seen |= 1u << it.tag;
        rc = decode_item(&it, &s, err);
        if (rc)
            return rc;
    }
    if (rc < 0)
        return gw_error_set(err, -EPROTO, "virtio-net state is truncated: an item overruns "
                            "its %zu bytes", r->len);
    for (unsigned tag = 1; tag < TAG_COUNT; tag++)
        if (!(seen & (1u << tag)))
            return gw_error_set(err, -EPROTO, "virtio-net state lacks item %u", tag);
    /* Structural checks here; checks against the device and RAM in virtio_net_check. */
    if (s.transport.status & ~VIRTIO_STATUS_KNOWN)
        return gw_error_set(err, -EPROTO, "virtio-net status 0x%x has unknown bits",
                            s.transport.status);
    for (unsigned q = 0; q < VIRTIO_NET_NQUEUES; q++)
        if (s.transport.queues[q].num > VIRTQ_MAX_SIZE)
            return gw_error_set(err, -EPROTO, "virtio-net queue %u has size %u, more than %u",
                                q, s.transport.queues[q].num, VIRTQ_MAX_SIZE);
    *state = s;
    return 0;
}
