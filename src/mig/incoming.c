/*
 * Incoming migration; see incoming.h.  The receive loop treats the stream
 * as hostile: records arrive in a fixed grammar
 *
 *   HELLO (RAM | PASS_END)* (RAM | PASS_END | STATE | DIGEST)* COMPLETE  ... GO
 *
 * and anything else, any bad length, address or section fails the
 * migration with a message that is also sent back to the source.
 */
#include "mig/incoming.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
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
#include "mig/ramsink.h"

#define RECORD_TIMEOUT_MS 60000     /* a source silent this long is gone */

struct mig_in {
    struct vm *vm;              /* borrowed */
    pthread_mutex_t fd_lock;    /* guards listen_fd and conn.fd against mig_in_destroy */
    int listen_fd;
    struct mig_conn conn;
    pthread_t thread;
    int done_fd;
    int result;
    struct gw_error err;
    uint64_t pages, passes;
    uint64_t resumed_ns;        /* realtime of the guest's resume here */
    bool start_paused;          /* the guest was paused on the source */
    struct ramsink sink;
};

static uint64_t realtime_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static int answer_hello(struct mig_in *in, struct rbuf *r, uint64_t *features,
                        struct gw_error *err)
{
    struct mig_hello hello;
    const struct guest_memory *mem = vm_memory(in->vm);
    int rc = mig_hello_decode(r, &hello, err);
    if (!rc && hello.ram_bytes != mem->bytes)
        rc = gw_error_set(err, -EPROTO, "source has %llu MiB of RAM, this VM %llu MiB",
                          (unsigned long long)(hello.ram_bytes >> 20),
                          (unsigned long long)(mem->bytes >> 20));
    if (!rc && hello.ncpus != vm_ncpus(in->vm))
        rc = gw_error_set(err, -EPROTO, "source has %u vCPUs, this VM %u", hello.ncpus,
                          vm_ncpus(in->vm));
    if (rc)
        return rc;
    *features = hello.features & MIG_FEATURES_KNOWN;
    struct wbuf w;
    wbuf_init(&w);
    wbuf_put_u32(&w, MIG_VERSION);
    wbuf_put_u64(&w, *features);
    rc = mig_conn_send(&in->conn, MIG_REC_HELLO_ACK, &w, err);
    wbuf_uninit(&w);
    return rc;
}

static int check_digest(struct mig_in *in, struct rbuf *r, struct gw_error *err)
{
    const struct guest_memory *mem = vm_memory(in->vm);
    struct mig_digest_region *theirs = calloc(MIG_DIGEST_MAX_REGIONS, sizeof *theirs);
    struct mig_digest_region *ours = calloc(MIG_DIGEST_MAX_REGIONS, sizeof *ours);
    uint32_t n_theirs = 0;
    int rc = theirs && ours ? mig_digest_decode(r, theirs, &n_theirs, err)
                            : gw_error_set(err, -ENOMEM, "out of memory for the digest");
    if (!rc) {
        uint32_t n_ours = mig_digest_compute_fd(mem->memfd, mem->host, mem->bytes, ours);
        if (n_ours != n_theirs)
            rc = gw_error_set(err, -EPROTO, "digest covers %u regions, expected %u", n_theirs,
                              n_ours);
        for (uint32_t i = 0; !rc && i < n_ours; i++)
            if (memcmp(&ours[i], &theirs[i], sizeof ours[i]))
                rc = gw_error_set(err, -EPROTO,
                                  "memory digest mismatch in [0x%llx, +0x%llx): RAM did not "
                                  "arrive intact",
                                  (unsigned long long)ours[i].start,
                                  (unsigned long long)ours[i].bytes);
    }
    free(theirs);
    free(ours);
    if (!rc)
        LOG_INFO("mig", "migration=in memory digest verified (%u regions)", n_theirs);
    return rc;
}

/* Receives until COMPLETE; fills state.  Returns 0 or -errno with err. */
static int receive(struct mig_in *in, struct mig_machine_state *state, struct gw_error *err)
{
    const struct guest_memory *mem = vm_memory(in->vm);
    uint64_t features = 0;
    bool hello_done = false, digest_checked = false;
    for (;;) {
        uint16_t type;
        struct rbuf r;
        int rc = mig_conn_recv(&in->conn, &type, &r, RECORD_TIMEOUT_MS, err);
        if (rc)
            return rc;
        if (!hello_done && type != MIG_REC_HELLO)
            return gw_error_set(err, -EPROTO, "stream starts with %s, not HELLO",
                                mig_record_name(type));
        switch (type) {
        case MIG_REC_HELLO:
            if (hello_done)
                return gw_error_set(err, -EPROTO, "second HELLO in the stream");
            rc = answer_hello(in, &r, &features, err);
            hello_done = true;
            break;
        case MIG_REC_RAM:
            if (digest_checked)
                return gw_error_set(err, -EPROTO, "RAM record after the DIGEST that vouched for RAM");
            rc = mig_ram_decode(&r, mem->bytes, ramsink_page, &in->sink, &in->pages, err);
            if (rc)
                ramsink_discard(&in->sink);
            else
                rc = ramsink_flush(&in->sink, err);
            break;
        case MIG_REC_PASS_END: {
            /* Everything before it is applied (records are handled in
             * order): say so, echoing the pass number. */
            uint32_t pass = rbuf_get_u32(&r);
            if (r.err)
                return gw_error_set(err, -EPROTO, "truncated PASS_END record");
            struct wbuf w;
            wbuf_init(&w);
            wbuf_put_u32(&w, pass);
            rc = mig_conn_send(&in->conn, MIG_REC_PASS_ACK, &w, err);
            wbuf_uninit(&w);
            in->passes++;
            break;
        }
        case MIG_REC_STATE:
            rc = mig_machine_state_add(state, &r, err);
            break;
        case MIG_REC_DIGEST:
            if (!(features & MIG_FEATURE_DIGEST) || digest_checked)
                return gw_error_set(err, -EPROTO, "unexpected DIGEST record");
            rc = check_digest(in, &r, err);
            digest_checked = true;
            break;
        case MIG_REC_COMPLETE:
            if ((features & MIG_FEATURE_DIGEST) && !digest_checked)
                return gw_error_set(err, -EPROTO, "the source promised a digest and sent none");
            in->start_paused = rbuf_left(&r) && (rbuf_get_u8(&r) & MIG_COMPLETE_PAUSED);
            return 0;
        case MIG_REC_ERROR: {
            char msg[200];
            mig_error_decode(&r, msg, sizeof msg);
            return gw_error_set(err, -ECANCELED, "the source aborted: %s", msg);
        }
        default:
            return gw_error_set(err, -EPROTO, "unexpected %s record (type %u) in the stream",
                                mig_record_name(type), type);
        }
        if (rc)
            return rc;
    }
}

/* After READY: wait for GO, then start the guest and say so. */
static int hand_over(struct mig_in *in, struct gw_error *err)
{
    int rc = mig_conn_send(&in->conn, MIG_REC_READY, NULL, err);
    uint16_t type;
    struct rbuf r;
    if (!rc)
        rc = mig_conn_recv(&in->conn, &type, &r, RECORD_TIMEOUT_MS, err);
    if (!rc && type != MIG_REC_GO)
        rc = gw_error_set(err, -EPROTO, "the source sent %s instead of GO",
                          mig_record_name(type));
    if (rc)
        return rc;
    /* Fault injection for the tests of the one ambiguous moment: this host
     * dies after GO and before RESUMED.  The source must stay frozen. */
    const char *fault = getenv("GODWIT_TEST_FAULT");
    if (fault && !strcmp(fault, "die-after-go")) {
        LOG_WARN("mig", "migration=in GODWIT_TEST_FAULT=die-after-go: exiting now");
        _exit(99);
    }
    uint64_t resumed = realtime_ns();
    in->resumed_ns = resumed;
    rc = vm_start(in->vm, in->start_paused, err);
    if (rc)
        return rc;
    struct wbuf w;
    wbuf_init(&w);
    wbuf_put_u64(&w, resumed);
    /* The guest runs here now, whatever happens to this message: a lost
     * RESUMED leaves the source frozen, never running. */
    if (mig_conn_send(&in->conn, MIG_REC_RESUMED, &w, err))
        LOG_WARN("mig", "migration=in guest resumed, but RESUMED did not reach the source: %s",
                 err->msg);
    wbuf_uninit(&w);
    return 0;
}

static void *incoming_thread(void *arg)
{
    struct mig_in *in = arg;
    struct gw_error *err = &in->err;
    struct mig_machine_state state;
    struct mig_conn conn;
    int rc = mig_conn_accept(&conn, in->listen_fd, err);
    pthread_mutex_lock(&in->fd_lock);
    in->listen_fd = -1;         /* mig_conn_accept closed it */
    if (!rc)
        in->conn = conn;
    pthread_mutex_unlock(&in->fd_lock);
    if (!rc) {
        LOG_INFO("mig", "migration=in accepted a connection");
        rc = mig_machine_state_init(&state, vm_ncpus(in->vm), err);
        if (!rc) {
            rc = receive(in, &state, err);
            if (!rc)
                rc = mig_machine_state_load(&state, in->vm, err);
            mig_machine_state_uninit(&state);
        }
        if (!rc)
            rc = hand_over(in, err);
        else if (in->conn.fd >= 0) {
            struct wbuf w;
            struct gw_error ignored;
            wbuf_init(&w);
            mig_error_encode(err->msg, &w);
            mig_conn_send(&in->conn, MIG_REC_ERROR, &w, &ignored);
            wbuf_uninit(&w);
        }
    }
    in->result = rc;
    if (!rc)
        LOG_INFO("mig", "migration=in completed: %llu pages in %llu passes, %llu MiB received; "
                 "guest %s since realtime %llu.%09llu",
                 (unsigned long long)in->pages, (unsigned long long)in->passes,
                 (unsigned long long)(in->conn.bytes_received >> 20),
                 in->start_paused ? "paused (as on the source)" : "running",
                 (unsigned long long)(in->resumed_ns / 1000000000ULL),
                 (unsigned long long)(in->resumed_ns % 1000000000ULL));
    pthread_mutex_lock(&in->fd_lock);
    mig_conn_close(&in->conn);
    pthread_mutex_unlock(&in->fd_lock);
    uint64_t one = 1;
    ssize_t ignored = write(in->done_fd, &one, sizeof one);
    (void)ignored;
    return NULL;
}

struct mig_in *mig_in_start(struct vm *vm, const char *uri, struct gw_error *err)
{
    struct mig_in *in = calloc(1, sizeof *in);
    if (!in) {
        gw_error_set(err, -ENOMEM, "out of memory");
        return NULL;
    }
    in->vm = vm;
    in->conn.fd = -1;
    pthread_mutex_init(&in->fd_lock, NULL);
    ramsink_init(&in->sink, vm_memory(vm)->memfd);
    in->listen_fd = mig_listen(uri, err);
    if (in->listen_fd < 0) {
        free(in);
        return NULL;
    }
    in->done_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    int rc = pthread_create(&in->thread, NULL, incoming_thread, in);
    if (rc) {
        gw_error_set(err, -rc, "cannot start the incoming migration thread");
        close(in->listen_fd);
        close(in->done_fd);
        free(in);
        return NULL;
    }
    LOG_INFO("mig", "migration=in waiting on %s", uri);
    return in;
}

void mig_in_destroy(struct mig_in *in)
{
    if (!in)
        return;
    /* Unblock accept() or recv() if the thread still waits. */
    pthread_mutex_lock(&in->fd_lock);
    if (in->listen_fd >= 0)
        shutdown(in->listen_fd, SHUT_RDWR);
    if (in->conn.fd >= 0)
        shutdown(in->conn.fd, SHUT_RDWR);
    pthread_mutex_unlock(&in->fd_lock);
    pthread_join(in->thread, NULL);
    pthread_mutex_destroy(&in->fd_lock);
    close(in->done_fd);
    free(in);
}

int mig_in_done_fd(const struct mig_in *in) { return in->done_fd; }

int mig_in_result(struct mig_in *in, struct gw_error *err)
{
    if (in->result)
        gw_error_set(err, in->result, "%s", in->err.msg);
    return in->result;
}
