/*
 * Outgoing migration job; see outgoing.h for the contract and job.h for
 * the states.  One thread, linear code: connect, negotiate, first pass,
 * dirty passes until the downtime fits, switchover, hand-over.
 */
#include "mig/outgoing.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "mig/conn.h"
#include "mig/machine.h"
#include "mig/proto.h"

#define CONNECT_TIMEOUT_MS 10000
#define REPLY_TIMEOUT_MS 30000

struct mig_out {
    struct vm *vm;              /* borrowed */
    char uri[256];
    pthread_t thread;
    int done_fd;
    atomic_bool cancel;
    atomic_bool force_complete; /* switch over after this pass, uncapped */

    pthread_mutex_t lock;       /* guards policy, stats and cancel_fd */
    struct mig_policy policy;
    struct mig_stats stats;
    int cancel_fd;              /* the connection, for a cancel to shut; -1 once GO is sent */

    /* Job thread only. */
    struct mig_conn conn;
    struct wbuf batch;
    uint32_t batch_pages;
    uint64_t *dirty;            /* one bit per page */
    uint64_t start_ns, active_ns, last_log_ns, last_log_bytes;
    uint64_t pace_start_ns, pace_bytes;
    uint64_t rtt_ns;
    uint64_t features;          /* negotiated at HELLO */
    uint64_t period_bytes;      /* bytes sent at the last dirty sync (auto-converge) */
    unsigned dirty_high;        /* syncs that found the guest dirtying too fast */
};

const char *mig_state_name(enum mig_state state)
{
    static const char *const names[] = {
        [MIG_SETUP] = "setup",         [MIG_ACTIVE] = "active",
        [MIG_SWITCHOVER] = "switchover", [MIG_COMPLETED] = "completed",
        [MIG_FAILED] = "failed",       [MIG_CANCELLED] = "cancelled",
        [MIG_UNKNOWN] = "unknown",
    };
    return names[state];
}

bool mig_state_is_final(enum mig_state state)
{
    return state == MIG_COMPLETED || state == MIG_FAILED || state == MIG_CANCELLED ||
           state == MIG_UNKNOWN;
}

static uint64_t now_ns(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static uint64_t mono_ns(void) { return now_ns(CLOCK_MONOTONIC); }

static void set_state(struct mig_out *job, enum mig_state state)
{
    pthread_mutex_lock(&job->lock);
    LOG_INFO("mig", "migration=out state %s -> %s", mig_state_name(job->stats.state),
             mig_state_name(state));
    job->stats.state = state;
    pthread_mutex_unlock(&job->lock);
}

static struct mig_policy policy_now(struct mig_out *job)
{
    pthread_mutex_lock(&job->lock);
    struct mig_policy p = job->policy;
    pthread_mutex_unlock(&job->lock);
    return p;
}

/* Between batches: cancel and (before switchover) the timeout. */
static int check_abort(struct mig_out *job, struct gw_error *err)
{
    if (atomic_load(&job->cancel))
        return gw_error_set(err, -ECANCELED, "cancelled");
    struct mig_policy p = policy_now(job);
    uint64_t elapsed_ms = (mono_ns() - job->start_ns) / 1000000;
    if (p.timeout_s && elapsed_ms > p.timeout_s * 1000)
        return gw_error_set(err, -ETIMEDOUT, "did not converge within the %llu s timeout",
                            (unsigned long long)p.timeout_s);
    return 0;
}

/* Keeps the average rate since pacing began under the policy's cap, in
 * naps short enough that a cancel is noticed quickly. */
static void pace(struct mig_out *job, uint64_t bytes)
{
    uint64_t cap = atomic_load(&job->force_complete) ? 0 : policy_now(job).max_bandwidth;
    job->pace_bytes += bytes;
    if (!cap) {
        job->pace_start_ns = mono_ns();
        job->pace_bytes = 0;
        return;
    }
    for (;;) {
        uint64_t due = job->pace_start_ns + mig_ns_for(job->pace_bytes, cap);
        uint64_t now = mono_ns();
        if (now >= due || atomic_load(&job->cancel) || atomic_load(&job->force_complete))
            return;
        uint64_t nap = due - now < 50000000ULL ? due - now : 50000000ULL;
        struct timespec ts = { 0, (long)nap };
        nanosleep(&ts, NULL);
    }
}

static void log_progress(struct mig_out *job, bool force)
{
    uint64_t now = mono_ns();
    if (!force && now - job->last_log_ns < 1000000000ULL)
        return;
    pthread_mutex_lock(&job->lock);
    struct mig_stats *s = &job->stats;
    s->elapsed_ms = (now - job->start_ns) / 1000000;
    s->bytes_sent = job->conn.bytes_sent;
    if (now > job->last_log_ns)
        s->throughput_bps = mig_per_second(s->bytes_sent - job->last_log_bytes,
                                           now - job->last_log_ns);
    LOG_INFO("mig", "migration=out progress state=%s elapsed=%llums pass=%u sent=%lluMiB "
             "remaining=%lluMiB total=%lluMiB throughput=%lluMB/s dirty_rate=%llupages/s "
             "expected_downtime=%llums throttle=%u%%",
             mig_state_name(s->state), (unsigned long long)s->elapsed_ms, s->pass,
             (unsigned long long)(s->bytes_sent >> 20),
             (unsigned long long)(s->remaining_bytes >> 20),
             (unsigned long long)(s->total_bytes >> 20),
             (unsigned long long)(s->throughput_bps / 1000000),
             (unsigned long long)s->dirty_pages_per_s,
             (unsigned long long)s->expected_downtime_ms, vm_get_throttle(job->vm));
    pthread_mutex_unlock(&job->lock);
    job->last_log_ns = now;
    job->last_log_bytes = job->conn.bytes_sent;
}

static int flush_batch(struct mig_out *job, struct gw_error *err)
{
    if (!job->batch_pages)
        return 0;
    mig_ram_end(&job->batch, job->batch_pages);
    uint64_t before = job->conn.bytes_sent;
    int rc = mig_conn_send(&job->conn, MIG_REC_RAM, &job->batch, err);
    pthread_mutex_lock(&job->lock);
    job->stats.pages_sent += job->batch_pages;
    job->stats.bytes_sent = job->conn.bytes_sent;
    if (job->stats.remaining_bytes >= (uint64_t)job->batch_pages * MIG_PAGE_BYTES)
        job->stats.remaining_bytes -= (uint64_t)job->batch_pages * MIG_PAGE_BYTES;
    pthread_mutex_unlock(&job->lock);
    wbuf_reset(&job->batch);
    job->batch_pages = 0;
    if (rc)
        return rc;
    /* The cap shields the host's network while the guest runs; once it is
     * frozen, every byte held back is downtime. */
    if (job->stats.state == MIG_ACTIVE)
        pace(job, job->conn.bytes_sent - before);
    log_progress(job, false);
    return job->stats.state == MIG_ACTIVE ? check_abort(job, err) : 0;
}

/* Queues one page; skip_zero drops all-zero pages (first pass only: the
 * destination's RAM starts zeroed). */
static int queue_page(struct mig_out *job, uint64_t pfn, bool skip_zero, struct gw_error *err)
{
    const struct guest_memory *mem = vm_memory(job->vm);
    const uint8_t *page = mem->host + pfn * MIG_PAGE_BYTES;
    if (skip_zero && mig_page_is_zero(page)) {
        pthread_mutex_lock(&job->lock);
        job->stats.zero_pages++;
        pthread_mutex_unlock(&job->lock);
        return 0;
    }
    if (!job->batch_pages)
        mig_ram_begin(&job->batch);
    mig_ram_put_page(&job->batch, pfn * MIG_PAGE_BYTES, page);
    if (++job->batch_pages == MIG_BATCH_PAGES)
        return flush_batch(job, err);
    return 0;
}

static int expect_record(struct mig_out *job, uint16_t want, struct rbuf *r,
                         struct gw_error *err);

/* Ends a pass and waits until the destination has applied it.  Without
 * the wait, megabytes of a pass can still sit in the connection when the
 * VM freezes, and the guest stays frozen while the destination drains
 * them (measured: ~15 MiB, 55 ms, for an idle 4 GiB guest).  The wait also
 * makes the bandwidth we measure end to end. */
static int end_pass(struct mig_out *job, uint32_t pass, struct gw_error *err)
{
    int rc = flush_batch(job, err);
    if (rc)
        return rc;
    struct wbuf w;
    wbuf_init(&w);
    wbuf_put_u32(&w, pass);
    rc = mig_conn_send(&job->conn, MIG_REC_PASS_END, &w, err);
    wbuf_uninit(&w);
    struct rbuf r;
    if (!rc)
        rc = expect_record(job, MIG_REC_PASS_ACK, &r, err);
    if (!rc && rbuf_get_u32(&r) != pass)
        rc = gw_error_set(err, -EPROTO, "destination acknowledged the wrong pass");
    return rc;
}

/* Pass 1: every page that holds data.  Ranges the memfd never allocated
 * (holes) are skipped without reading them, so an idle 4 GiB guest costs
 * what it actually uses. */
static int send_first_pass(struct mig_out *job, struct gw_error *err)
{
    const struct guest_memory *mem = vm_memory(job->vm);
    off_t pos = 0, size = (off_t)mem->bytes;
    while (pos < size) {
        off_t data = lseek(mem->memfd, pos, SEEK_DATA);
        if (data < 0)
            break;      /* ENXIO: no data after pos */
        off_t hole = lseek(mem->memfd, data, SEEK_HOLE);
        if (hole < 0 || hole > size)
            hole = size;
        for (uint64_t pfn = data / MIG_PAGE_BYTES; pfn < (uint64_t)hole / MIG_PAGE_BYTES; pfn++) {
            int rc = queue_page(job, pfn, true, err);
            if (rc)
                return rc;
        }
        pos = hole;
    }
    return end_pass(job, 1, err);
}

/* Sends and clears every page set in job->dirty. */
static int send_dirty_pages(struct mig_out *job, uint32_t pass, struct gw_error *err)
{
    uint64_t words = vm_dirty_bitmap_words(job->vm);
    for (uint64_t w = 0; w < words; w++) {
        uint64_t bits = job->dirty[w];
        job->dirty[w] = 0;
        while (bits) {
            int bit = __builtin_ctzll(bits);
            bits &= bits - 1;
            int rc = queue_page(job, w * 64 + bit, false, err);
            if (rc)
                return rc;
        }
    }
    return end_pass(job, pass, err);
}

static int negotiate(struct mig_out *job, struct gw_error *err)
{
    const struct guest_memory *mem = vm_memory(job->vm);
    struct mig_hello hello = {
        .version = MIG_VERSION,
        .features = policy_now(job).verify_memory ? MIG_FEATURE_DIGEST : 0,
        .ram_bytes = mem->bytes,
        .ncpus = vm_ncpus(job->vm),
        .page_bytes = MIG_PAGE_BYTES,
    };
    struct wbuf w;
    wbuf_init(&w);
    mig_hello_encode(&hello, &w);
    uint64_t sent_at = mono_ns();
    int rc = mig_conn_send(&job->conn, MIG_REC_HELLO, &w, err);
    wbuf_uninit(&w);
    if (rc)
        return rc;

    uint16_t type;
    struct rbuf r;
    rc = mig_conn_recv(&job->conn, &type, &r, REPLY_TIMEOUT_MS, err);
    if (rc)
        return rc;
    job->rtt_ns = mono_ns() - sent_at;
    if (type == MIG_REC_ERROR) {
        char msg[200];
        mig_error_decode(&r, msg, sizeof msg);
        return gw_error_set(err, -EPROTO, "destination refused: %s", msg);
    }
    if (type != MIG_REC_HELLO_ACK)
        return gw_error_set(err, -EPROTO, "destination answered %s instead of HELLO_ACK",
                            mig_record_name(type));
    uint32_t version = rbuf_get_u32(&r);
    job->features = rbuf_get_u64(&r) & hello.features;   /* what both sides agreed */
    if (r.err || version != MIG_VERSION)
        return gw_error_set(err, -EPROTO, "bad HELLO_ACK from the destination");
    return 0;
}

/* Expected downtime for sending ndirty pages now: at the bandwidth seen
 * so far, plus a fixed cost for freezing, state and the hand-over round
 * trips (1 ms plus three round trips, measured at HELLO). */
static uint64_t expected_downtime_ms(struct mig_out *job, uint64_t ndirty)
{
    uint64_t elapsed = mono_ns() - job->active_ns;
    uint64_t sent = job->conn.bytes_sent;
    uint64_t bw = mig_per_second(sent, elapsed);     /* bytes/s */
    uint64_t fixed_ms = 1 + 3 * job->rtt_ns / 1000000;
    if (!bw)
        return UINT64_MAX;
    return ndirty * (MIG_PAGE_BYTES + 8) * 1000 / bw + fixed_ms;
}

static int sync_dirty(struct mig_out *job, uint64_t *ndirty, uint64_t pass_ns,
                      struct gw_error *err)
{
    int rc = vm_dirty_sync(job->vm, job->dirty, ndirty);
    if (rc)
        return gw_error_set(err, rc, "dirty log sync failed: %s", strerror(-rc));
    uint64_t expected = expected_downtime_ms(job, *ndirty);
    pthread_mutex_lock(&job->lock);
    job->stats.remaining_bytes = *ndirty * MIG_PAGE_BYTES;
    job->stats.dirty_pages_per_s = mig_per_second(*ndirty, pass_ns);
    job->stats.expected_downtime_ms = expected;
    pthread_mutex_unlock(&job->lock);
    return 0;
}

/* Receives one record and requires it to be `want`; an ERROR from the
 * destination becomes err. */
static int expect_record(struct mig_out *job, uint16_t want, struct rbuf *r,
                         struct gw_error *err)
{
    uint16_t type;
    int rc = mig_conn_recv(&job->conn, &type, r, REPLY_TIMEOUT_MS, err);
    if (rc)
        return rc;
    if (type == MIG_REC_ERROR) {
        char msg[200];
        mig_error_decode(r, msg, sizeof msg);
        return gw_error_set(err, -EPROTO, "destination failed: %s", msg);
    }
    if (type != want)
        return gw_error_set(err, -EPROTO, "destination sent %s, expected %s",
                            mig_record_name(type), mig_record_name(want));
    return 0;
}

static int send_digest(struct mig_out *job, struct gw_error *err)
{
    const struct guest_memory *mem = vm_memory(job->vm);
    struct mig_digest_region *regions = calloc(MIG_DIGEST_MAX_REGIONS, sizeof *regions);
    if (!regions)
        return gw_error_set(err, -ENOMEM, "out of memory for the digest");
    uint32_t n = mig_digest_compute_fd(mem->memfd, mem->host, mem->bytes, regions);
    struct wbuf w;
    wbuf_init(&w);
    mig_digest_encode(regions, n, &w);
    int rc = mig_conn_send(&job->conn, MIG_REC_DIGEST, &w, err);
    wbuf_uninit(&w);
    free(regions);
    return rc;
}

/*
 * Freeze, send the rest, and hand over.  Returns the final state.  Before
 * GO goes out, a failure thaws the VM (FAILED); after GO, only RESUMED
 * proves the destination runs, and without it the source must stay
 * frozen (UNKNOWN): two running copies is the one unforgivable failure.
 */
static enum mig_state switchover(struct mig_out *job, uint32_t pass, struct gw_error *err)
{
    set_state(job, MIG_SWITCHOVER);
    uint64_t pause_ns = now_ns(CLOCK_REALTIME), t[6];
    LOG_INFO("mig", "migration=out freezing the VM at realtime %llu.%09llu",
             (unsigned long long)(pause_ns / 1000000000ULL),
             (unsigned long long)(pause_ns % 1000000000ULL));
    t[0] = mono_ns();
    if (vm_freeze(job->vm, err))
        return MIG_FAILED;
    t[1] = mono_ns();

    uint64_t ndirty = 0;
    struct rbuf r;
    int rc = sync_dirty(job, &ndirty, 0, err);
    if (!rc)
        rc = send_dirty_pages(job, pass, err);
    t[2] = mono_ns();
    if (!rc)
        rc = mig_machine_send(job->vm, &job->conn, err);
    t[3] = mono_ns();
    if (!rc && (job->features & MIG_FEATURE_DIGEST))
        rc = send_digest(job, err);
    t[4] = mono_ns();
    if (!rc) {
        struct wbuf w;
        wbuf_init(&w);
        wbuf_put_u8(&w, vm_frozen_from_paused(job->vm) ? MIG_COMPLETE_PAUSED : 0);
        rc = mig_conn_send(&job->conn, MIG_REC_COMPLETE, &w, err);
        wbuf_uninit(&w);
    }
    if (!rc)
        rc = expect_record(job, MIG_REC_READY, &r, err);
    t[5] = mono_ns();
    LOG_INFO("mig", "migration=out switchover freeze=%lluus last_pages=%llu in %lluus "
             "state=%lluus digest=%lluus load_and_ready=%lluus",
             (unsigned long long)(t[1] - t[0]) / 1000, (unsigned long long)ndirty,
             (unsigned long long)(t[2] - t[1]) / 1000, (unsigned long long)(t[3] - t[2]) / 1000,
             (unsigned long long)(t[4] - t[3]) / 1000, (unsigned long long)(t[5] - t[4]) / 1000);
    /* The last moment a cancel counts: after GO only RESUMED decides. */
    pthread_mutex_lock(&job->lock);
    bool cancelled = atomic_load(&job->cancel);
    job->cancel_fd = -1;
    pthread_mutex_unlock(&job->lock);
    if (!rc && cancelled)
        rc = gw_error_set(err, -ECANCELED, "cancelled");
    if (rc) {
        struct gw_error thaw_err = { 0 };
        if (vm_thaw(job->vm, &thaw_err))
            LOG_ERR("mig", "migration=out cannot thaw the VM: %s", thaw_err.msg);
        return cancelled ? MIG_CANCELLED : MIG_FAILED;
    }

    if (mig_conn_send(&job->conn, MIG_REC_GO, NULL, err) ||
        expect_record(job, MIG_REC_RESUMED, &r, err)) {
        LOG_ERR("mig", "migration=out outcome unknown after GO (%s): the VM stays frozen here; "
                "check whether the destination runs it before quitting or resuming", err->msg);
        return MIG_UNKNOWN;
    }
    uint64_t resumed_ns = rbuf_get_u64(&r);     /* 0 if the record is short */
    vm_mark_migrated(job->vm, NULL);
    pthread_mutex_lock(&job->lock);
    job->stats.downtime_us = !r.err && resumed_ns > pause_ns ? (resumed_ns - pause_ns) / 1000 : 0;
    job->stats.downtime_ms = job->stats.downtime_us / 1000;
    job->stats.total_ms = (mono_ns() - job->start_ns) / 1000000;
    pthread_mutex_unlock(&job->lock);
    return MIG_COMPLETED;
}

/*
 * Auto-converge, by QEMU's rule: when the guest dirtied more than half of
 * what the link carried since the last sync, for the second time, its
 * vCPUs are throttled 20%, then 10 points more each time, up to 99%.
 * Without the policy (or once it is turned off) the throttle is 0.
 */
static void adjust_throttle(struct mig_out *job, uint64_t ndirty)
{
    uint64_t sent = job->conn.bytes_sent - job->period_bytes;
    job->period_bytes = job->conn.bytes_sent;
    unsigned pct = vm_get_throttle(job->vm), next = pct;
    if (!policy_now(job).auto_converge)
        next = 0;
    else if (ndirty * MIG_PAGE_BYTES > sent / 2 && ++job->dirty_high >= 2) {
        job->dirty_high = 0;
        next = pct ? pct + 10 : 20;
        if (next > VM_THROTTLE_MAX)
            next = VM_THROTTLE_MAX;
    }
    if (next != pct && vm_set_throttle(job->vm, next) == 0)
        LOG_INFO("mig", "migration=out auto-converge: %llu MiB dirtied while %llu MiB were "
                 "sent; vCPUs throttled %u%%", (unsigned long long)(ndirty >> 8),
                 (unsigned long long)(sent >> 20), next);
}

static enum mig_state run(struct mig_out *job, struct gw_error *err)
{
    if (mig_conn_connect(&job->conn, job->uri, CONNECT_TIMEOUT_MS, err))
        return MIG_FAILED;
    pthread_mutex_lock(&job->lock);
    job->cancel_fd = job->conn.fd;
    pthread_mutex_unlock(&job->lock);
    if (negotiate(job, err))
        return atomic_load(&job->cancel) ? MIG_CANCELLED : MIG_FAILED;
    pthread_mutex_lock(&job->lock);
    job->stats.setup_ms = (mono_ns() - job->start_ns) / 1000000;
    pthread_mutex_unlock(&job->lock);

    job->dirty = calloc(vm_dirty_bitmap_words(job->vm), sizeof *job->dirty);
    if (!job->dirty) {
        gw_error_set(err, -ENOMEM, "out of memory for the dirty bitmap");
        return MIG_FAILED;
    }
    int rc = vm_dirty_start(job->vm);
    if (rc) {
        gw_error_set(err, rc, "cannot start dirty logging: %s", strerror(-rc));
        return MIG_FAILED;
    }
    set_state(job, MIG_ACTIVE);
    job->active_ns = job->pace_start_ns = mono_ns();

    uint32_t pass = 1;
    pthread_mutex_lock(&job->lock);
    job->stats.pass = pass;
    pthread_mutex_unlock(&job->lock);
    uint64_t pass_start = mono_ns();
    if (send_first_pass(job, err))
        return atomic_load(&job->cancel) ? MIG_CANCELLED : MIG_FAILED;

    for (;;) {
        uint64_t ndirty;
        if (sync_dirty(job, &ndirty, mono_ns() - pass_start, err))
            return MIG_FAILED;
        adjust_throttle(job, ndirty);
        uint64_t expected = expected_downtime_ms(job, ndirty);
        if (expected <= policy_now(job).max_downtime_ms)
            break;
        if (atomic_load(&job->force_complete)) {
            LOG_INFO("mig", "migration=out switching over on request: %llu dirty pages, "
                     "expected downtime %llums", (unsigned long long)ndirty,
                     (unsigned long long)expected);
            break;
        }
        if (check_abort(job, err))
            return atomic_load(&job->cancel) ? MIG_CANCELLED : MIG_FAILED;
        pass_start = mono_ns();
        pthread_mutex_lock(&job->lock);
        job->stats.pass = ++pass;
        pthread_mutex_unlock(&job->lock);
        if (send_dirty_pages(job, pass, err))
            return atomic_load(&job->cancel) ? MIG_CANCELLED : MIG_FAILED;
    }
    return switchover(job, pass + 1, err);
}

static void *job_thread(void *arg)
{
    struct mig_out *job = arg;
    struct gw_error err = { 0 };
    enum mig_state final = run(job, &err);
    vm_set_throttle(job->vm, 0);    /* here or there, the guest runs at full speed again */

    if (final != MIG_COMPLETED && vm_get_state(job->vm) != VM_FROZEN)
        vm_dirty_stop(job->vm);
    log_progress(job, true);
    pthread_mutex_lock(&job->lock);
    job->stats.state = final;
    job->stats.total_ms = (mono_ns() - job->start_ns) / 1000000;
    job->stats.bytes_sent = job->conn.bytes_sent;
    if (final != MIG_COMPLETED)
        snprintf(job->stats.error, sizeof job->stats.error, "%s", err.msg);
    struct mig_stats s = job->stats;
    pthread_mutex_unlock(&job->lock);

    if (final == MIG_COMPLETED)
        LOG_INFO("mig", "migration=out completed total=%llums setup=%llums downtime=%llums "
                 "passes=%u sent=%lluMiB pages=%llu zero_pages=%llu downtime_us=%llu",
                 (unsigned long long)s.total_ms, (unsigned long long)s.setup_ms,
                 (unsigned long long)s.downtime_ms, s.pass,
                 (unsigned long long)(s.bytes_sent >> 20), (unsigned long long)s.pages_sent,
                 (unsigned long long)s.zero_pages, (unsigned long long)s.downtime_us);
    else
        LOG_ERR("mig", "migration=out %s after %llums: %s%s", mig_state_name(final),
                (unsigned long long)s.total_ms, err.msg,
                final == MIG_UNKNOWN ? "" : "; the VM keeps running here");
    if ((final == MIG_FAILED || final == MIG_CANCELLED) && job->conn.fd >= 0) {
        /* Best effort: tell the destination why, so it exits with a reason. */
        struct wbuf w;
        struct gw_error ignored;
        wbuf_init(&w);
        mig_error_encode(err.msg, &w);
        mig_conn_send(&job->conn, MIG_REC_ERROR, &w, &ignored);
        wbuf_uninit(&w);
    }
    pthread_mutex_lock(&job->lock);
    job->cancel_fd = -1;
    pthread_mutex_unlock(&job->lock);
    mig_conn_close(&job->conn);
    uint64_t one = 1;
    ssize_t ignored = write(job->done_fd, &one, sizeof one);
    (void)ignored;
    return NULL;
}

struct mig_out *mig_out_start(struct vm *vm, const char *uri, const struct mig_policy *policy,
                              struct gw_error *err)
{
    struct mig_out *job = calloc(1, sizeof *job);
    if (!job) {
        gw_error_set(err, -ENOMEM, "out of memory");
        return NULL;
    }
    char host[256], port[16];
    if (mig_uri_parse(uri, host, sizeof host, port, sizeof port, err)) {
        free(job);
        return NULL;
    }
    job->vm = vm;
    snprintf(job->uri, sizeof job->uri, "%s", uri);
    job->policy = *policy;
    job->conn.fd = -1;
    job->cancel_fd = -1;
    job->stats.state = MIG_SETUP;
    job->stats.total_bytes = vm_memory(vm)->bytes;
    job->start_ns = job->last_log_ns = mono_ns();
    job->done_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    pthread_mutex_init(&job->lock, NULL);
    wbuf_init(&job->batch);
    int rc = pthread_create(&job->thread, NULL, job_thread, job);
    if (rc) {
        gw_error_set(err, -rc, "cannot start the migration thread");
        close(job->done_fd);
        free(job);
        return NULL;
    }
    LOG_INFO("mig", "migration=out started to %s max_downtime=%llums bandwidth=%llu timeout=%llus",
             uri, (unsigned long long)policy->max_downtime_ms,
             (unsigned long long)policy->max_bandwidth, (unsigned long long)policy->timeout_s);
    return job;
}

void mig_out_destroy(struct mig_out *job)
{
    if (!job)
        return;
    mig_out_cancel(job);
    pthread_join(job->thread, NULL);
    wbuf_uninit(&job->batch);
    free(job->dirty);
    close(job->done_fd);
    pthread_mutex_destroy(&job->lock);
    free(job);
}

void mig_out_cancel(struct mig_out *job)
{
    pthread_mutex_lock(&job->lock);
    atomic_store(&job->cancel, true);
    /* A send blocked by a stalled destination would sit out its 30 s
     * timeout: shut the connection under it.  Never after GO (cancel_fd
     * is -1 then): only RESUMED can tell what happened. */
    if (job->cancel_fd >= 0)
        shutdown(job->cancel_fd, SHUT_RDWR);
    pthread_mutex_unlock(&job->lock);
}

int mig_out_force_complete(struct mig_out *job, struct gw_error *err)
{
    struct mig_stats s;
    mig_out_query(job, &s);
    if (s.state != MIG_SETUP && s.state != MIG_ACTIVE)
        return gw_error_set(err, -EBUSY, "the migration is %s: nothing to force",
                            mig_state_name(s.state));
    if (!atomic_exchange(&job->force_complete, true))
        LOG_INFO("mig", "migration=out force-complete requested in pass %u", s.pass);
    return 0;
}

void mig_out_get_policy(struct mig_out *job, struct mig_policy *policy)
{
    *policy = policy_now(job);
}

void mig_out_set_policy(struct mig_out *job, const struct mig_policy *policy)
{
    pthread_mutex_lock(&job->lock);
    job->policy = *policy;
    pthread_mutex_unlock(&job->lock);
}

void mig_out_query(struct mig_out *job, struct mig_stats *stats)
{
    pthread_mutex_lock(&job->lock);
    *stats = job->stats;
    stats->throttle_pct = vm_get_throttle(job->vm);     /* the VM's, not a copy */
    if (!mig_state_is_final(stats->state)) {
        stats->elapsed_ms = (mono_ns() - job->start_ns) / 1000000;
    } else {
        stats->elapsed_ms = stats->total_ms;
    }
    pthread_mutex_unlock(&job->lock);
}

int mig_out_done_fd(const struct mig_out *job) { return job->done_fd; }

int mig_out_recover(struct mig_out *job, struct gw_error *err)
{
    pthread_mutex_lock(&job->lock);
    enum mig_state state = job->stats.state;
    pthread_mutex_unlock(&job->lock);
    if (state != MIG_UNKNOWN)
        return gw_error_set(err, -EBUSY, "the migration is %s, not unknown", mig_state_name(state));
    int rc = vm_thaw(job->vm, err);
    if (rc)
        return rc;
    vm_dirty_stop(job->vm);
    pthread_mutex_lock(&job->lock);
    job->stats.state = MIG_FAILED;
    snprintf(job->stats.error, sizeof job->stats.error,
             "recovered by the operator: the destination never ran the guest");
    pthread_mutex_unlock(&job->lock);
    LOG_WARN("mig", "migration=out recovered by the operator: the VM runs here again");
    return 0;
}
