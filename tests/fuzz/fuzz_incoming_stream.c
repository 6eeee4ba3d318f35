/*
 * libFuzzer target: arbitrary bytes as an incoming migration stream.
 *
 * The input is cut into records exactly as mig_conn_recv() cuts a socket
 * (u16 type | u16 flags | u32 length, length checked against
 * MIG_RECORD_MAX_BYTES before the payload is taken), and each record goes
 * to the decoder mig/incoming.c uses for its type:
 *
 *   HELLO    mig_hello_decode, then the shape check against the fake VM
 *   RAM      mig_ram_decode into a ramsink over a 1 MiB memfd (the
 *            receiver's path), and mig_ram_load into a plain 1 MiB buffer
 *   STATE    mig_machine_state_add for a 2-vCPU machine (the x86-vm and
 *            x86-vcpu TLV decoders of vmm/x86/cpustate.c)
 *   DIGEST   mig_digest_decode, then our own digest of the memfd as
 *            check_digest() makes it
 *   ERROR    mig_error_decode
 *
 * No sockets, no KVM.  Unlike the receiver, which stops at the first bad
 * record, the walk goes on after a decoder error (not after a framing
 * error), so one input reaches several decoders; the record-order rules of
 * incoming.c are not modelled.  Each payload is copied into a heap block
 * of exactly its length, so AddressSanitizer catches any read past the end
 * of a record (on the socket such a read would land in the receive buffer
 * and go unnoticed).
 *
 * Besides memory errors, the target aborts when a decoder breaks its own
 * contract: a failure without an error sentence, a success that re-encodes
 * differently, a RAM record whose pages did not land where it said, an
 * ERROR message with a non-printable byte.
 *
 * Build: meson setup -Dfuzz=true with CC=clang (tests/fuzz/meson.build);
 * run: fuzz_incoming_stream CORPUS_DIR (see scripts/run-tests.sh).
 */
#include <endian.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "mig/machine.h"
#include "mig/proto.h"
#include "mig/ramsink.h"
#include "vmm/x86/cpustate.h"

#define FUZZ_RAM_BYTES (1u << 20)
#define FUZZ_NCPUS 2

/* Stops the run with a message: libFuzzer saves the input as a crash. */
#define CHECK(cond)                                                                   \
    do {                                                                              \
        if (!(cond)) {                                                                \
            fprintf(stderr, "%s:%d: contract broken: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                  \
        }                                                                             \
    } while (0)

/* Set up once: the destination's RAM twice (memfd + mapping, plain buffer). */
static int ram_fd = -1;
static uint8_t *ram_map;        /* MAP_SHARED view of ram_fd, for checking */
static uint8_t *ram_plain;

static void setup_once(void)
{
    if (ram_fd >= 0)
        return;
    ram_fd = memfd_create("fuzz-guest-ram", MFD_CLOEXEC);
    CHECK(ram_fd >= 0);
    CHECK(ftruncate(ram_fd, FUZZ_RAM_BYTES) == 0);
    ram_map = mmap(NULL, FUZZ_RAM_BYTES, PROT_READ, MAP_SHARED, ram_fd, 0);
    CHECK(ram_map != MAP_FAILED);
    ram_plain = calloc(1, FUZZ_RAM_BYTES);
    CHECK(ram_plain);
}

/* A failed decoder must say why, with its code. */
static void check_failure(int rc, const struct gw_error *err)
{
    CHECK(rc < 0);
    CHECK(err->code == rc);
    CHECK(memchr(err->msg, '\0', sizeof err->msg) != NULL);
    CHECK(err->msg[0] != '\0');
}

static void fuzz_hello(const uint8_t *p, size_t len)
{
    struct rbuf r;
    struct mig_hello h;
    struct gw_error err = { 0 };
    rbuf_init(&r, p, len);
    int rc = mig_hello_decode(&r, &h, &err);
    if (rc) {
        check_failure(rc, &err);
        return;
    }
    CHECK(h.version == MIG_VERSION && h.page_bytes == MIG_PAGE_BYTES);
    CHECK(len >= 36);
    struct wbuf w;
    wbuf_init(&w);
    mig_hello_encode(&h, &w);
    CHECK(w.err == 0 && w.len == 36 && memcmp(w.data, p, 36) == 0);
    wbuf_uninit(&w);
    /* What answer_hello() checks next. */
    volatile int shape_ok = h.ram_bytes == FUZZ_RAM_BYTES && h.ncpus == FUZZ_NCPUS;
    (void)shape_ok;
}

/* Wraps the ramsink: records what mig_ram_decode reported, to check it. */
struct page_log {
    struct ramsink *sink;
    uint32_t n;
    uint64_t gpa[MIG_BATCH_PAGES];
    const uint8_t *data[MIG_BATCH_PAGES];
};

static void log_page(void *opaque, uint64_t gpa, const uint8_t *data)
{
    struct page_log *pl = opaque;
    CHECK(pl->n < MIG_BATCH_PAGES);
    CHECK(gpa % MIG_PAGE_BYTES == 0 && gpa < FUZZ_RAM_BYTES &&
          FUZZ_RAM_BYTES - gpa >= MIG_PAGE_BYTES);
    pl->gpa[pl->n] = gpa;
    pl->data[pl->n] = data;
    pl->n++;
    ramsink_page(pl->sink, gpa, data);
}

static void fuzz_ram(const uint8_t *p, size_t len)
{
    static struct ramsink sink;
    static struct page_log plog;
    struct rbuf r;
    struct gw_error err = { 0 };
    uint64_t npages = 0;

    /* The receiver's path: decode into a sink, apply only a clean record. */
    ramsink_init(&sink, ram_fd);
    plog.sink = &sink;
    plog.n = 0;
    rbuf_init(&r, p, len);
    int rc = mig_ram_decode(&r, FUZZ_RAM_BYTES, log_page, &plog, &npages, &err);
    if (rc) {
        check_failure(rc, &err);
        CHECK(npages == 0);
        ramsink_discard(&sink);
    } else {
        CHECK(npages == plog.n);
        rc = ramsink_flush(&sink, &err);
        CHECK(rc == 0);
        /* Each page holds what its last entry in the record said. */
        for (uint32_t i = plog.n; i-- > 0;) {
            int later = 0;
            for (uint32_t k = i + 1; k < plog.n; k++)
                later |= plog.gpa[k] == plog.gpa[i];
            if (later)
                continue;
            const uint8_t *now = ram_map + plog.gpa[i];
            if (plog.data[i]) {
                CHECK(memcmp(now, plog.data[i], MIG_PAGE_BYTES) == 0);
            } else {
                for (uint32_t b = 0; b < MIG_PAGE_BYTES; b++)
                    CHECK(now[b] == 0);
            }
        }
    }

    /* The plain-buffer loader must agree on the verdict and the pages. */
    uint64_t npages2 = 0;
    struct gw_error err2 = { 0 };
    rbuf_init(&r, p, len);
    int rc2 = mig_ram_load(&r, ram_plain, FUZZ_RAM_BYTES, &npages2, &err2);
    CHECK(rc2 == rc);
    CHECK(npages2 == npages);
    if (rc2)
        check_failure(rc2, &err2);
    else
        for (uint32_t i = 0; i < plog.n; i++)
            CHECK(memcmp(ram_plain + plog.gpa[i], ram_map + plog.gpa[i], MIG_PAGE_BYTES) == 0);
}

static void check_vcpu_round_trip(const struct x86_vcpu_state *a)
{
    struct wbuf w;
    wbuf_init(&w);
    x86_vcpu_state_encode(a, &w);
    CHECK(w.err == 0);
    struct x86_vcpu_state b;
    x86_vcpu_state_init(&b);
    struct rbuf r;
    struct gw_error err = { 0 };
    rbuf_init(&r, w.data, w.len);
    CHECK(x86_vcpu_state_decode(&r, &b, &err) == 0);
    CHECK(!memcmp(&a->regs, &b.regs, sizeof a->regs));
    CHECK(!memcmp(&a->sregs, &b.sregs, sizeof a->sregs));
    CHECK(a->xsave_bytes == b.xsave_bytes && a->xsave && b.xsave);
    CHECK(!memcmp(a->xsave, b.xsave, a->xsave_bytes));
    CHECK(!memcmp(&a->xcrs, &b.xcrs, sizeof a->xcrs));
    CHECK(!memcmp(&a->lapic, &b.lapic, sizeof a->lapic));
    CHECK(!memcmp(&a->events, &b.events, sizeof a->events));
    CHECK(a->mp_state.mp_state == b.mp_state.mp_state);
    CHECK(!memcmp(&a->debugregs, &b.debugregs, sizeof a->debugregs));
    CHECK(a->nmsrs == b.nmsrs && a->nmsrs <= X86_MAX_SAVED_MSRS);
    for (uint32_t i = 0; i < a->nmsrs; i++) {
        CHECK(x86_msr_name(a->msrs[i].index) != NULL);
        CHECK(a->msrs[i].index == b.msrs[i].index && a->msrs[i].value == b.msrs[i].value);
    }
    x86_vcpu_state_uninit(&b);
    wbuf_uninit(&w);
}

static void check_vm_round_trip(const struct x86_vm_state *a)
{
    struct wbuf w;
    wbuf_init(&w);
    x86_vm_state_encode(a, &w);
    CHECK(w.err == 0);
    struct x86_vm_state b;
    struct rbuf r;
    struct gw_error err = { 0 };
    rbuf_init(&r, w.data, w.len);
    CHECK(x86_vm_state_decode(&r, &b, &err) == 0);
    CHECK(!memcmp(a, &b, sizeof b));
    wbuf_uninit(&w);
}

static void fuzz_state(struct mig_machine_state *s, const uint8_t *p, size_t len)
{
    /* Peek at the header (a copy of the rbuf) to know what add() filled. */
    struct rbuf r, peek;
    char name[MIG_SECTION_NAME_MAX + 1];
    uint32_t instance = 0, version = 0;
    rbuf_init(&r, p, len);
    peek = r;
    int have_header = !mig_section_header_decode(&peek, name, &instance, &version, NULL);
    int had_vm = s->have_vm;
    int had_vcpu = have_header && instance < s->ncpus ? s->have_vcpu[instance] : 0;

    struct gw_error err = { 0 };
    int rc = mig_machine_state_add(s, &r, &err);
    if (rc) {
        check_failure(rc, &err);
        CHECK(s->have_vm == had_vm);
        if (have_header && instance < s->ncpus)
            CHECK(s->have_vcpu[instance] == had_vcpu);
        return;
    }
    CHECK(have_header);
    if (!strcmp(name, MIG_SECTION_VM)) {
        CHECK(instance == 0 && !had_vm && s->have_vm);
        check_vm_round_trip(&s->vm);
    } else {
        CHECK(!strcmp(name, MIG_SECTION_VCPU));
        CHECK(instance < s->ncpus && !had_vcpu && s->have_vcpu[instance]);
        check_vcpu_round_trip(&s->vcpus[instance]);
    }
}

static void fuzz_digest(const uint8_t *p, size_t len)
{
    static struct mig_digest_region theirs[MIG_DIGEST_MAX_REGIONS];
    static struct mig_digest_region ours[MIG_DIGEST_MAX_REGIONS];
    struct rbuf r;
    struct gw_error err = { 0 };
    uint32_t n = 0;
    rbuf_init(&r, p, len);
    int rc = mig_digest_decode(&r, theirs, &n, &err);
    if (rc) {
        check_failure(rc, &err);
        return;
    }
    CHECK(n <= MIG_DIGEST_MAX_REGIONS && len == 4 + (size_t)n * 24);
    /* What check_digest() does next (the hashes depend on earlier inputs);
     * skipping the memfd's holes must not change our digest. */
    static struct mig_digest_region full[MIG_DIGEST_MAX_REGIONS];
    uint32_t n_ours = mig_digest_compute_fd(ram_fd, ram_map, FUZZ_RAM_BYTES, ours);
    CHECK(n_ours == 1);
    CHECK(mig_digest_compute(ram_map, FUZZ_RAM_BYTES, full) == 1);
    CHECK(!memcmp(ours, full, sizeof ours[0]));
    volatile int same = n == n_ours && !memcmp(theirs, ours, sizeof ours[0]);
    (void)same;
}

static void fuzz_error(const uint8_t *p, size_t len)
{
    char msg[200];
    struct rbuf r;
    rbuf_init(&r, p, len);
    memset(msg, 'X', sizeof msg);
    mig_error_decode(&r, msg, sizeof msg);
    size_t n = strnlen(msg, sizeof msg);
    CHECK(n < sizeof msg);
    CHECK(n == (len < sizeof msg - 1 ? len : sizeof msg - 1));
    for (size_t i = 0; i < n; i++)
        CHECK(msg[i] >= 0x20 && msg[i] < 0x7f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup_once();
    struct mig_machine_state state;
    CHECK(mig_machine_state_init(&state, FUZZ_NCPUS, NULL) == 0);

    size_t pos = 0;
    while (size - pos >= MIG_RECORD_HEADER_BYTES) {
        /* mig_conn_recv's framing: flags are ignored, length checked first. */
        uint16_t type;
        uint32_t len;
        memcpy(&type, data + pos, 2);
        memcpy(&len, data + pos + 4, 4);
        type = le16toh(type);
        len = le32toh(len);
        pos += MIG_RECORD_HEADER_BYTES;
        if (len > MIG_RECORD_MAX_BYTES || len > size - pos)
            break;      /* oversized: -EPROTO; short: the peer closed mid-record */

        uint8_t *payload = malloc(len ? len : 1);
        CHECK(payload);
        memcpy(payload, data + pos, len);
        pos += len;
        switch (type) {
        case MIG_REC_HELLO:
            fuzz_hello(payload, len);
            break;
        case MIG_REC_RAM:
            fuzz_ram(payload, len);
            break;
        case MIG_REC_STATE:
            fuzz_state(&state, payload, len);
            break;
        case MIG_REC_DIGEST:
            fuzz_digest(payload, len);
            break;
        case MIG_REC_ERROR:
            fuzz_error(payload, len);
            break;
        default:        /* PASS_END, COMPLETE: no payload is read; others refused */
            CHECK(mig_record_name(type) != NULL);
            break;
        }
        free(payload);
    }
    mig_machine_state_uninit(&state);
    return 0;
}
