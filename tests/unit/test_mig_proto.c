/*
 * Unit tests for the migration stream codec (mig/proto.h) and the parts of
 * mig/conn.h that need no network: URI parsing and record framing over a
 * socketpair.  Golden bytes pin the wire format described in
 * docs/protocol.md; every decoder is fed each truncation of a valid input
 * and the hostile cases its header promises to reject.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <xxhash.h>

#include "mig/conn.h"
#include "mig/job.h"
#include "mig/proto.h"

#define PAGE MIG_PAGE_BYTES

/* Four pages of guest RAM, page-aligned like the real thing. */
static uint8_t ram[4 * PAGE] __attribute__((aligned(4096)));

static void fill_pattern(void *p, size_t n, uint8_t seed)
{
    uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        b[i] = (uint8_t)(seed + i * 13);
}

static void put_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void assert_msg_has(const struct gw_error *err, const char *phrase)
{
    if (!strstr(err->msg, phrase))
        fail_msg("message '%s' lacks '%s'", err->msg, phrase);
}

/* ---- record names ------------------------------------------------------ */

static void test_record_names(void **state)
{
    (void)state;
    static const char *const names[] = { "HELLO", "HELLO_ACK", "RAM",      "PASS_END",
                                         "STATE", "DIGEST",    "COMPLETE", "READY",
                                         "GO",    "RESUMED",   "ERROR",    "PASS_ACK" };
    for (uint16_t t = MIG_REC_HELLO; t <= MIG_REC_PASS_ACK; t++)
        assert_string_equal(mig_record_name(t), names[t - 1]);
    assert_string_equal(mig_record_name(0), "unknown");
    assert_string_equal(mig_record_name(13), "unknown");
    assert_string_equal(mig_record_name(0xffff), "unknown");
}

/* ---- HELLO ------------------------------------------------------------- */

static const struct mig_hello golden_hello = {
    .version = MIG_VERSION,
    .features = MIG_FEATURE_DIGEST,
    .ram_bytes = 256ULL << 20,
    .ncpus = 2,
    .page_bytes = MIG_PAGE_BYTES,
};

/* The payload docs/protocol.md shows as its worked example. */
static const uint8_t golden_hello_bytes[] = {
    'G',  'O',  'D',  'W',  'I',  'T',  'M',  'G',     /* magic */
    0x01, 0x00, 0x00, 0x00,                             /* version 1 */
    0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,     /* features: DIGEST */
    0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00,     /* ram_bytes 256 MiB */
    0x02, 0x00, 0x00, 0x00,                             /* ncpus 2 */
    0x00, 0x10, 0x00, 0x00,                             /* page_bytes 4096 */
};

static void test_hello_encode_golden(void **state)
{
    (void)state;
    struct wbuf w;
    wbuf_init(&w);
    mig_hello_encode(&golden_hello, &w);
    assert_int_equal(w.err, 0);
    assert_int_equal(w.len, sizeof golden_hello_bytes);
    assert_memory_equal(w.data, golden_hello_bytes, sizeof golden_hello_bytes);
    wbuf_uninit(&w);
}

static int decode_hello(const uint8_t *data, size_t len, struct mig_hello *h,
                        struct gw_error *err)
{
    struct rbuf r;
    rbuf_init(&r, data, len);
    gw_error_clear(err);
    return mig_hello_decode(&r, h, err);
}

static void test_hello_decode_round_trip(void **state)
{
    (void)state;
    struct mig_hello h;
    struct gw_error err;
    assert_int_equal(decode_hello(golden_hello_bytes, sizeof golden_hello_bytes, &h, &err), 0);
    assert_int_equal(h.version, golden_hello.version);
    assert_true(h.features == golden_hello.features);
    assert_true(h.ram_bytes == golden_hello.ram_bytes);
    assert_int_equal(h.ncpus, golden_hello.ncpus);
    assert_int_equal(h.page_bytes, golden_hello.page_bytes);
}

static void test_hello_bad_magic_rejected(void **state)
{
    (void)state;
    uint8_t b[sizeof golden_hello_bytes];
    struct mig_hello h;
    struct gw_error err;
    for (size_t i = 0; i < 8; i++) {
        memcpy(b, golden_hello_bytes, sizeof b);
        b[i] ^= 0x20;                           /* "godwitmg" is not the magic either */
        assert_int_equal(decode_hello(b, sizeof b, &h, &err), -EPROTO);
        assert_int_equal(err.code, -EPROTO);
        assert_msg_has(&err, "bad magic");
    }
}

static void test_hello_wrong_version_rejected(void **state)
{
    (void)state;
    const uint32_t versions[] = { 0, 2, 0x01000000, UINT32_MAX };
    uint8_t b[sizeof golden_hello_bytes];
    struct mig_hello h;
    struct gw_error err;
    for (unsigned i = 0; i < 4; i++) {
        memcpy(b, golden_hello_bytes, sizeof b);
        put_le32(b + 8, versions[i]);
        assert_int_equal(decode_hello(b, sizeof b, &h, &err), -EPROTO);
        assert_msg_has(&err, "not supported");
    }
}

static void test_hello_wrong_page_size_rejected(void **state)
{
    (void)state;
    const uint32_t sizes[] = { 0, 512, 8192, 2u << 20, UINT32_MAX };
    uint8_t b[sizeof golden_hello_bytes];
    struct mig_hello h;
    struct gw_error err;
    for (unsigned i = 0; i < 5; i++) {
        memcpy(b, golden_hello_bytes, sizeof b);
        put_le32(b + 32, sizes[i]);
        assert_int_equal(decode_hello(b, sizeof b, &h, &err), -EPROTO);
        assert_msg_has(&err, "page size");
    }
}

static void test_hello_truncated_rejected_at_every_length(void **state)
{
    (void)state;
    struct mig_hello h;
    struct gw_error err;
    for (size_t len = 0; len < sizeof golden_hello_bytes; len++) {
        assert_int_equal(decode_hello(golden_hello_bytes, len, &h, &err), -EPROTO);
        assert_int_equal(err.code, -EPROTO);
        assert_msg_has(&err, len < 8 ? "bad magic" : "truncated HELLO");
    }
}

/* ---- RAM --------------------------------------------------------------- */

/* RAM record: page 0 all zero, page 1 a pattern. */
static void encode_zero_and_raw(struct wbuf *w, uint8_t *raw_page)
{
    static uint8_t zero_page[PAGE] __attribute__((aligned(8)));
    fill_pattern(raw_page, PAGE, 5);
    mig_ram_begin(w);
    mig_ram_put_page(w, 0, zero_page);
    mig_ram_put_page(w, PAGE, raw_page);
    mig_ram_end(w, 2);
    assert_int_equal(w->err, 0);
}

static int load_ram(const uint8_t *data, size_t len, uint64_t ram_bytes, uint64_t *npages,
                    struct gw_error *err)
{
    struct rbuf r;
    rbuf_init(&r, data, len);
    gw_error_clear(err);
    return mig_ram_load(&r, ram, ram_bytes, npages, err);
}

static void test_ram_batch_layout_and_round_trip(void **state)
{
    (void)state;
    static uint8_t raw_page[PAGE] __attribute__((aligned(8)));
    struct wbuf w;
    wbuf_init(&w);
    encode_zero_and_raw(&w, raw_page);

    /* u32 count, then (u64 gpa|ZERO), then (u64 gpa|RAW, 4096 bytes). */
    assert_int_equal(w.len, 4 + 8 + 8 + PAGE);
    static const uint8_t head[] = {
        0x02, 0x00, 0x00, 0x00,                             /* 2 pages */
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,     /* gpa 0, ZERO: no data */
        0x01, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,     /* gpa 0x1000, RAW */
    };
    assert_memory_equal(w.data, head, sizeof head);
    assert_memory_equal(w.data + sizeof head, raw_page, PAGE);

    memset(ram, 0xaa, sizeof ram);
    uint64_t npages = 10;
    struct gw_error err;
    assert_int_equal(load_ram(w.data, w.len, sizeof ram, &npages, &err), 0);
    assert_true(npages == 12);                  /* added, not assigned */
    static const uint8_t zero_page[PAGE];
    assert_memory_equal(ram, zero_page, PAGE);
    assert_memory_equal(ram + PAGE, raw_page, PAGE);
    for (size_t i = 2 * PAGE; i < sizeof ram; i++)
        if (ram[i] != 0xaa)
            fail_msg("byte 0x%zx outside the batch was written", i);
    wbuf_uninit(&w);
}

struct seen_pages {
    unsigned n;
    uint64_t gpa[8];
    const uint8_t *data[8];
};

static void record_page(void *opaque, uint64_t gpa, const uint8_t *data)
{
    struct seen_pages *seen = opaque;
    assert_true(seen->n < 8);
    seen->gpa[seen->n] = gpa;
    seen->data[seen->n] = data;
    seen->n++;
}

static void test_ram_decode_reports_pages_in_order(void **state)
{
    (void)state;
    static uint8_t raw_page[PAGE] __attribute__((aligned(8)));
    struct wbuf w;
    wbuf_init(&w);
    encode_zero_and_raw(&w, raw_page);
    wbuf_put_u64(&w, 2 * PAGE | MIG_PAGE_ZERO);         /* a third entry */
    put_le32(w.data, 3);

    struct seen_pages seen = { 0 };
    struct rbuf r;
    rbuf_init(&r, w.data, w.len);
    uint64_t npages = 0;
    struct gw_error err = { 0 };
    assert_int_equal(mig_ram_decode(&r, sizeof ram, record_page, &seen, &npages, &err), 0);
    assert_int_equal(seen.n, 3);
    assert_true(seen.gpa[0] == 0 && seen.data[0] == NULL);          /* ZERO: no data */
    assert_true(seen.gpa[1] == PAGE && seen.data[1] == w.data + 4 + 8 + 8);  /* in the record */
    assert_true(seen.gpa[2] == 2 * PAGE && seen.data[2] == NULL);
    assert_true(npages == 3);

    /* A bad third entry: the first two were reported, the count is not added. */
    w.data[w.len - 8] = 0x02;                           /* encoding 2 */
    memset(&seen, 0, sizeof seen);
    rbuf_init(&r, w.data, w.len);
    npages = 0;
    assert_int_equal(mig_ram_decode(&r, sizeof ram, record_page, &seen, &npages, &err),
                     -EPROTO);
    assert_int_equal(seen.n, 2);
    assert_true(npages == 0);
    wbuf_uninit(&w);
}

static void test_ram_empty_batch_accepted(void **state)
{
    (void)state;
    static const uint8_t b[] = { 0, 0, 0, 0 };
    uint64_t npages = 0;
    struct gw_error err;
    assert_int_equal(load_ram(b, sizeof b, sizeof ram, &npages, &err), 0);
    assert_true(npages == 0);
}

static void test_page_is_zero_sees_every_byte(void **state)
{
    (void)state;
    static uint8_t page[PAGE] __attribute__((aligned(8)));
    memset(page, 0, sizeof page);
    assert_true(mig_page_is_zero(page));
    for (size_t i = 0; i < PAGE; i++) {
        page[i] = 0x01;
        if (mig_page_is_zero(page))
            fail_msg("a page with byte %zu set counts as zero", i);
        page[i] = 0;
    }
}

/* count entries of (gpa | ZERO), under the header count `claimed`. */
static void encode_zero_entries(struct wbuf *w, uint32_t claimed, uint32_t count)
{
    wbuf_put_u32(w, claimed);
    for (uint32_t i = 0; i < count; i++)
        wbuf_put_u64(w, (uint64_t)(i % 4) * PAGE | MIG_PAGE_ZERO);
}

static void test_ram_count_over_batch_rejected(void **state)
{
    (void)state;
    struct wbuf w;
    wbuf_init(&w);
    struct gw_error err;
    uint64_t npages = 0;

    encode_zero_entries(&w, MIG_BATCH_PAGES, MIG_BATCH_PAGES);
    assert_int_equal(load_ram(w.data, w.len, sizeof ram, &npages, &err), 0);
    assert_true(npages == MIG_BATCH_PAGES);

    const uint32_t counts[] = { MIG_BATCH_PAGES + 1, 0x10000, UINT32_MAX };
    for (unsigned i = 0; i < 3; i++) {
        wbuf_reset(&w);
        encode_zero_entries(&w, counts[i], MIG_BATCH_PAGES + 1);
        npages = 0;
        assert_int_equal(load_ram(w.data, w.len, sizeof ram, &npages, &err), -EPROTO);
        assert_msg_has(&err, "exceeds");
        assert_true(npages == 0);
    }
    wbuf_uninit(&w);
}

static void expect_entry_rejected(uint64_t word, uint64_t ram_bytes, const char *phrase)
{
    uint8_t b[4 + 8 + PAGE];
    memset(b, 0x33, sizeof b);                  /* room for a RAW page's data */
    put_le32(b, 1);
    put_le64(b + 4, word);
    uint64_t npages = 0;
    struct gw_error err;
    if (load_ram(b, sizeof b, ram_bytes, &npages, &err) != -EPROTO)
        fail_msg("entry 0x%llx accepted with %llu bytes of RAM", (unsigned long long)word,
                 (unsigned long long)ram_bytes);
    assert_msg_has(&err, phrase);
    assert_true(npages == 0);
}

static void test_ram_gpa_outside_ram_rejected(void **state)
{
    (void)state;
    const uint64_t encs[] = { MIG_PAGE_ZERO, MIG_PAGE_RAW };
    for (unsigned e = 0; e < 2; e++) {
        expect_entry_rejected(sizeof ram | encs[e], sizeof ram, "outside guest RAM");
        expect_entry_rejected((64ULL << 30) | encs[e], sizeof ram, "outside guest RAM");
        expect_entry_rejected(0xfffffffffffff000ULL | encs[e], sizeof ram, "outside guest RAM");
        expect_entry_rejected(0 | encs[e], 0, "outside guest RAM");
    }
}

static void test_ram_page_past_end_rejected(void **state)
{
    (void)state;
    /* RAM that ends inside its last page: gpa is below the end, gpa + 4096 is not. */
    const uint64_t ram_bytes = sizeof ram - 100;
    expect_entry_rejected(3 * PAGE | MIG_PAGE_ZERO, ram_bytes, "outside guest RAM");
    expect_entry_rejected(3 * PAGE | MIG_PAGE_RAW, ram_bytes, "outside guest RAM");
    expect_entry_rejected(0 | MIG_PAGE_RAW, PAGE - 1, "outside guest RAM");

    /* ...while the page before it still loads. */
    uint8_t b[4 + 8];
    put_le32(b, 1);
    put_le64(b + 4, 2 * PAGE | MIG_PAGE_ZERO);
    uint64_t npages = 0;
    struct gw_error err;
    assert_int_equal(load_ram(b, sizeof b, ram_bytes, &npages, &err), 0);
}

static void test_ram_unknown_encoding_rejected(void **state)
{
    (void)state;
    const uint64_t encs[] = { 2, 3, 0x100, 0xfff };
    for (unsigned i = 0; i < 4; i++)
        expect_entry_rejected(PAGE | encs[i], sizeof ram, "unknown page encoding");
}

static void test_ram_truncated_rejected_at_every_length(void **state)
{
    (void)state;
    static uint8_t raw_page[PAGE] __attribute__((aligned(8)));
    struct wbuf w;
    wbuf_init(&w);
    encode_zero_and_raw(&w, raw_page);
    for (size_t len = 0; len < w.len; len++) {
        uint64_t npages = 0;
        struct gw_error err;
        if (load_ram(w.data, len, sizeof ram, &npages, &err) != -EPROTO)
            fail_msg("a RAM record cut to %zu of %zu bytes was accepted", len, w.len);
        assert_msg_has(&err, "truncated");
        assert_true(npages == 0);
    }
    wbuf_uninit(&w);
}

static void test_ram_trailing_bytes_rejected(void **state)
{
    (void)state;
    static uint8_t raw_page[PAGE] __attribute__((aligned(8)));
    struct wbuf w;
    wbuf_init(&w);
    encode_zero_and_raw(&w, raw_page);
    const size_t extra[] = { 1, 7, 8, PAGE };
    for (unsigned i = 0; i < 4; i++) {
        struct wbuf t;
        wbuf_init(&t);
        wbuf_put(&t, w.data, w.len);
        for (size_t k = 0; k < extra[i]; k++)
            wbuf_put_u8(&t, 0);
        uint64_t npages = 0;
        struct gw_error err;
        assert_int_equal(load_ram(t.data, t.len, sizeof ram, &npages, &err), -EPROTO);
        assert_msg_has(&err, "stray bytes");
        assert_true(npages == 0);
        wbuf_uninit(&t);
    }
    wbuf_uninit(&w);
}

/* ---- STATE section headers --------------------------------------------- */

static int decode_section(const uint8_t *data, size_t len, char *name, uint32_t *instance,
                          uint32_t *version, struct gw_error *err)
{
    struct rbuf r;
    rbuf_init(&r, data, len);
    gw_error_clear(err);
    return mig_section_header_decode(&r, name, instance, version, err);
}

static void test_section_header_golden_and_round_trip(void **state)
{
    (void)state;
    struct wbuf w;
    wbuf_init(&w);
    mig_section_begin(&w, "x86-vcpu", 3, 1);
    wbuf_put(&w, "TLV", 3);                     /* the body follows the header */
    static const uint8_t golden[] = {
        0x08, 'x', '8', '6', '-', 'v', 'c', 'p', 'u',       /* name */
        0x03, 0x00, 0x00, 0x00,                             /* instance 3 */
        0x01, 0x00, 0x00, 0x00,                             /* version 1 */
        'T', 'L', 'V',
    };
    assert_int_equal(w.len, sizeof golden);
    assert_memory_equal(w.data, golden, sizeof golden);

    char name[MIG_SECTION_NAME_MAX + 1];
    uint32_t instance = 0, version = 0;
    struct gw_error err;
    struct rbuf r;
    rbuf_init(&r, w.data, w.len);
    assert_int_equal(mig_section_header_decode(&r, name, &instance, &version, &err), 0);
    assert_string_equal(name, "x86-vcpu");
    assert_int_equal(instance, 3);
    assert_int_equal(version, 1);
    assert_int_equal(rbuf_left(&r), 3);         /* positioned at the body */
    wbuf_uninit(&w);
}

static void test_section_name_lengths(void **state)
{
    (void)state;
    char name[MIG_SECTION_NAME_MAX + 1];
    uint32_t instance, version;
    struct gw_error err;
    uint8_t b[1 + 40 + 8];

    for (unsigned len = 0; len <= 40; len++) {
        memset(b, 0, sizeof b);
        b[0] = (uint8_t)len;
        memset(b + 1, 'a', len);
        int rc = decode_section(b, 1 + len + 8, name, &instance, &version, &err);
        if (len >= 1 && len <= MIG_SECTION_NAME_MAX) {
            assert_int_equal(rc, 0);
            assert_int_equal(strlen(name), len);
        } else {
            assert_int_equal(rc, -EPROTO);
            assert_msg_has(&err, "name of");
        }
    }

    /* A length byte of 255 with only 40 bytes behind it is truncated. */
    b[0] = 255;
    assert_int_equal(decode_section(b, sizeof b, name, &instance, &version, &err), -EPROTO);
    assert_msg_has(&err, "truncated");
}

static void test_section_name_must_be_printable(void **state)
{
    (void)state;
    const uint8_t bad[] = { 0x00, 0x09, 0x0a, 0x1f, ' ', 0x7f, 0x80, 0xff };
    char name[MIG_SECTION_NAME_MAX + 1];
    uint32_t instance, version;
    struct gw_error err;
    for (unsigned i = 0; i < sizeof bad; i++) {
        uint8_t b[1 + 6 + 8] = { 6, 'x', '8', '6', '-', 'v', 'm' };
        b[1 + (i % 6)] = bad[i];
        assert_int_equal(decode_section(b, sizeof b, name, &instance, &version, &err), -EPROTO);
        assert_msg_has(&err, "not printable");
    }
    uint8_t edge[1 + 2 + 8] = { 2, '!', '~' };      /* 0x21 and 0x7e are allowed */
    assert_int_equal(decode_section(edge, sizeof edge, name, &instance, &version, &err), 0);
    assert_string_equal(name, "!~");
}

static void test_section_header_truncated_rejected_at_every_length(void **state)
{
    (void)state;
    struct wbuf w;
    wbuf_init(&w);
    mig_section_begin(&w, "x86-vm", 0, 1);
    char name[MIG_SECTION_NAME_MAX + 1];
    uint32_t instance, version;
    struct gw_error err;
    for (size_t len = 0; len < w.len; len++) {
        assert_int_equal(decode_section(w.data, len, name, &instance, &version, &err), -EPROTO);
        assert_msg_has(&err, "truncated");
    }
    assert_int_equal(decode_section(w.data, w.len, name, &instance, &version, &err), 0);
    wbuf_uninit(&w);
}

/* ---- DIGEST ------------------------------------------------------------ */

/* The documented region hash, computed independently: XXH3-64 (one shot)
 * over (u64 LE address, 4096 bytes) of each non-zero page of [from, to). */
static uint64_t reference_region_hash(const uint8_t *mem, uint64_t from, uint64_t to)
{
    uint8_t *cat = malloc((to - from) / PAGE * (8 + PAGE) + 1);
    assert_non_null(cat);
    size_t len = 0;
    static const uint8_t zero[PAGE];
    for (uint64_t gpa = from; gpa < to; gpa += PAGE) {
        if (!memcmp(mem + gpa, zero, PAGE))
            continue;
        put_le64(cat + len, gpa);
        memcpy(cat + len + 8, mem + gpa, PAGE);
        len += 8 + PAGE;
    }
    uint64_t h = XXH3_64bits(cat, len);
    free(cat);
    return h;
}

static void test_digest_compute_one_region(void **state)
{
    (void)state;
    memset(ram, 0, sizeof ram);
    fill_pattern(ram + PAGE, PAGE, 9);          /* pages 1 and 3 hold data */
    ram[3 * PAGE + 100] = 1;
    struct mig_digest_region regions[MIG_DIGEST_MAX_REGIONS];
    assert_int_equal(mig_digest_compute(ram, sizeof ram, regions), 1);
    assert_true(regions[0].start == 0);
    assert_true(regions[0].bytes == sizeof ram);
    assert_true(regions[0].hash == reference_region_hash(ram, 0, sizeof ram));
    assert_int_equal(mig_digest_compute(ram, 0, regions), 0);
}

static void test_digest_ignores_zero_pages(void **state)
{
    (void)state;
    struct mig_digest_region a[MIG_DIGEST_MAX_REGIONS], b[MIG_DIGEST_MAX_REGIONS];
    memset(ram, 0, sizeof ram);
    mig_digest_compute(ram, sizeof ram, a);
    assert_true(a[0].hash == XXH3_64bits(NULL, 0));     /* all zero: nothing hashed */

    /* Same data at another address: a different hash (addresses count). */
    ram[PAGE] = 7;
    mig_digest_compute(ram, sizeof ram, a);
    ram[PAGE] = 0;
    ram[2 * PAGE] = 7;
    mig_digest_compute(ram, sizeof ram, b);
    assert_true(a[0].hash != b[0].hash);
}

static void test_digest_compute_fd_matches_mapping(void **state)
{
    (void)state;
    const uint64_t bytes = 64 * PAGE;
    int fd = memfd_create("test-digest", MFD_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, (off_t)bytes), 0);
    uint8_t *mem = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    assert_true(mem != MAP_FAILED);
    fill_pattern(mem + 5 * PAGE, 3 * PAGE, 1);          /* data among holes */
    mem[40 * PAGE] = 0xff;
    memset(mem + 50 * PAGE, 0, PAGE);                   /* allocated, but zero */

    struct mig_digest_region a[MIG_DIGEST_MAX_REGIONS], b[MIG_DIGEST_MAX_REGIONS];
    assert_int_equal(mig_digest_compute_fd(fd, mem, bytes, a), 1);
    assert_int_equal(mig_digest_compute(mem, bytes, b), 1);
    assert_memory_equal(a, b, sizeof a[0]);
    assert_true(a[0].hash == reference_region_hash(mem, 0, bytes));
    munmap(mem, bytes);
    close(fd);
}

static void test_digest_compute_splits_at_64_mib(void **state)
{
    (void)state;
    const uint64_t bytes = MIG_DIGEST_REGION_BYTES + PAGE;
    uint8_t *big = calloc(1, bytes);
    assert_non_null(big);
    big[bytes - 1] = 1;
    struct mig_digest_region regions[MIG_DIGEST_MAX_REGIONS];
    assert_int_equal(mig_digest_compute(big, bytes, regions), 2);
    assert_true(regions[0].start == 0 && regions[0].bytes == MIG_DIGEST_REGION_BYTES);
    assert_true(regions[0].hash == XXH3_64bits(NULL, 0));
    assert_true(regions[1].start == MIG_DIGEST_REGION_BYTES && regions[1].bytes == PAGE);
    assert_true(regions[1].hash == reference_region_hash(big, MIG_DIGEST_REGION_BYTES, bytes));
    free(big);
}

static int decode_digest(const uint8_t *data, size_t len, struct mig_digest_region *regions,
                         uint32_t *n, struct gw_error *err)
{
    struct rbuf r;
    rbuf_init(&r, data, len);
    gw_error_clear(err);
    return mig_digest_decode(&r, regions, n, err);
}

static void test_digest_encode_decode_round_trip(void **state)
{
    (void)state;
    const struct mig_digest_region in[2] = {
        { 0, 0x4000000, 0x1122334455667788ULL },
        { 0x4000000, 0x1000, 0x99aabbccddeeff00ULL },
    };
    struct wbuf w;
    wbuf_init(&w);
    mig_digest_encode(in, 2, &w);
    assert_int_equal(w.len, 4 + 2 * 24);
    static const uint8_t head[] = {
        0x02, 0x00, 0x00, 0x00,                             /* 2 regions */
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,     /* start */
        0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00,     /* bytes */
        0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11,     /* xxh3 */
    };
    assert_memory_equal(w.data, head, sizeof head);

    struct mig_digest_region out[MIG_DIGEST_MAX_REGIONS];
    uint32_t n = 0;
    struct gw_error err;
    assert_int_equal(decode_digest(w.data, w.len, out, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_memory_equal(out, in, sizeof in);

    /* The empty digest (no RAM) is valid too. */
    wbuf_reset(&w);
    mig_digest_encode(in, 0, &w);
    assert_int_equal(decode_digest(w.data, w.len, out, &n, &err), 0);
    assert_int_equal(n, 0);
    wbuf_uninit(&w);
}

static void test_digest_count_mismatch_rejected(void **state)
{
    (void)state;
    const struct mig_digest_region in[2] = { { 0, 1, 2 }, { 3, 4, 5 } };
    struct wbuf w;
    wbuf_init(&w);
    mig_digest_encode(in, 2, &w);
    struct mig_digest_region out[MIG_DIGEST_MAX_REGIONS];
    uint32_t n;
    struct gw_error err;

    const uint32_t claims[] = { 0, 1, 3 };      /* fewer: trailing bytes; more: truncated */
    for (unsigned i = 0; i < 3; i++) {
        put_le32(w.data, claims[i]);
        assert_int_equal(decode_digest(w.data, w.len, out, &n, &err), -EPROTO);
        assert_msg_has(&err, "does not match its count");
    }

    put_le32(w.data, MIG_DIGEST_MAX_REGIONS + 1);   /* over the limit, before any read */
    assert_int_equal(decode_digest(w.data, w.len, out, &n, &err), -EPROTO);
    assert_msg_has(&err, "bad DIGEST record");
    put_le32(w.data, UINT32_MAX);
    assert_int_equal(decode_digest(w.data, w.len, out, &n, &err), -EPROTO);

    put_le32(w.data, 2);
    for (size_t len = 0; len < w.len; len++)
        assert_int_equal(decode_digest(w.data, len, out, &n, &err), -EPROTO);
    wbuf_uninit(&w);
}

/* ---- ERROR ------------------------------------------------------------- */

static void error_decode(const void *data, size_t len, char *msg, size_t size)
{
    struct rbuf r;
    rbuf_init(&r, data, len);
    mig_error_decode(&r, msg, size);
}

static void test_error_round_trip(void **state)
{
    (void)state;
    struct wbuf w;
    wbuf_init(&w);
    mig_error_encode("source has 256 MiB of RAM, this VM 128 MiB", &w);
    assert_int_equal(w.len, strlen("source has 256 MiB of RAM, this VM 128 MiB"));  /* no NUL */
    char msg[200];
    error_decode(w.data, w.len, msg, sizeof msg);
    assert_string_equal(msg, "source has 256 MiB of RAM, this VM 128 MiB");
    error_decode(w.data, 0, msg, sizeof msg);
    assert_string_equal(msg, "");
    wbuf_uninit(&w);
}

static void test_error_decode_sanitises(void **state)
{
    (void)state;
    static const uint8_t raw[] = { 'o', 'k', 0x00, '\n', 0x1b, '[', '2', 'J', 0x7f, 0x80,
                                   0xc3, 0xa9, '~', ' ' };
    char msg[64];
    memset(msg, 'X', sizeof msg);
    error_decode(raw, sizeof raw, msg, sizeof msg);
    assert_string_equal(msg, "ok???[2J????~ ");
    for (size_t i = 0; msg[i]; i++)
        assert_true(msg[i] >= 0x20 && msg[i] < 0x7f);
}

static void test_error_decode_truncates_to_buffer(void **state)
{
    (void)state;
    char msg[4];
    error_decode("abcdef", 6, msg, sizeof msg);
    assert_string_equal(msg, "abc");
    error_decode("ab", 2, msg, 1);
    assert_string_equal(msg, "");
}

/* ---- URIs -------------------------------------------------------------- */

static void test_uri_parse_accepts(void **state)
{
    (void)state;
    const struct {
        const char *uri, *host, *port;
    } ok[] = {
        { "tcp:127.0.0.1:4444", "127.0.0.1", "4444" },
        { "tcp:[::1]:4444", "::1", "4444" },
        { "tcp:localhost:1", "localhost", "1" },
        { "tcp:0.0.0.0:65535", "0.0.0.0", "65535" },
        { "tcp:[fe80::1%eth0]:80", "fe80::1%eth0", "80" },
    };
    for (unsigned i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        char host[256], port[16];
        struct gw_error err = { 0 };
        if (mig_uri_parse(ok[i].uri, host, sizeof host, port, sizeof port, &err))
            fail_msg("'%s' rejected: %s", ok[i].uri, err.msg);
        assert_string_equal(host, ok[i].host);
        assert_string_equal(port, ok[i].port);
    }
}

static void test_uri_parse_rejects(void **state)
{
    (void)state;
    const char *const bad[] = {
        "127.0.0.1:4444",       /* no scheme */
        "udp:127.0.0.1:4444",
        "TCP:127.0.0.1:4444",
        "tcp:127.0.0.1",        /* no port */
        "tcp:127.0.0.1:",
        "tcp:localhost",
        "tcp:host:0",
        "tcp:host:65536",
        "tcp:host:99999999999999",
        "tcp:host:abc",
        "tcp:host:12ab",
        "tcp:host:-1",
        "tcp::4444",            /* empty host */
        "tcp:",
        "",
    };
    for (unsigned i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char host[256], port[16];
        struct gw_error err = { 0 };
        if (mig_uri_parse(bad[i], host, sizeof host, port, sizeof port, &err) != -EINVAL)
            fail_msg("'%s' accepted as host '%s' port '%s'", bad[i], host, port);
        assert_int_equal(err.code, -EINVAL);
        assert_true(err.msg[0] != '\0');
    }
}

static void test_uri_parse_checks_buffer_sizes(void **state)
{
    (void)state;
    char host[8], port[16];
    struct gw_error err;
    assert_int_equal(mig_uri_parse("tcp:1234567:80", host, sizeof host, port, sizeof port, &err),
                     0);
    assert_int_equal(mig_uri_parse("tcp:12345678:80", host, sizeof host, port, sizeof port,
                                   &err), -EINVAL);
    assert_msg_has(&err, "too long");
    assert_int_equal(mig_uri_parse("tcp:h:80", host, sizeof host, port, 2, &err), -EINVAL);
}

/* ---- record framing (mig_conn over a socketpair) ----------------------- */

struct pair {
    struct mig_conn a, b;       /* a sends, b receives (or both ways) */
};

static void pair_open(struct pair *p)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    p->a = (struct mig_conn){ .fd = sv[0], .in = malloc(MIG_RECORD_MAX_BYTES) };
    p->b = (struct mig_conn){ .fd = sv[1], .in = malloc(MIG_RECORD_MAX_BYTES) };
    assert_non_null(p->a.in);
    assert_non_null(p->b.in);
}

static void pair_close(struct pair *p)
{
    mig_conn_close(&p->a);
    mig_conn_close(&p->b);
}

static void test_record_header_golden(void **state)
{
    (void)state;
    struct pair p;
    pair_open(&p);
    struct wbuf w;
    wbuf_init(&w);
    mig_hello_encode(&golden_hello, &w);
    struct gw_error err = { 0 };
    assert_int_equal(mig_conn_send(&p.a, MIG_REC_HELLO, &w, &err), 0);
    assert_int_equal(mig_conn_send(&p.a, MIG_REC_COMPLETE, NULL, &err), 0);
    assert_true(p.a.bytes_sent == 8 + 36 + 8);

    uint8_t got[8 + 36 + 8];
    size_t done = 0;
    while (done < sizeof got) {
        ssize_t n = read(p.b.fd, got + done, sizeof got - done);
        assert_true(n > 0);
        done += (size_t)n;
    }
    /* type 1 (HELLO), flags 0, length 36; then COMPLETE with no payload. */
    static const uint8_t header[] = { 0x01, 0x00, 0x00, 0x00, 0x24, 0x00, 0x00, 0x00 };
    static const uint8_t complete[] = { 0x07, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00 };
    assert_memory_equal(got, header, 8);
    assert_memory_equal(got + 8, golden_hello_bytes, 36);
    assert_memory_equal(got + 44, complete, 8);
    wbuf_uninit(&w);
    pair_close(&p);
}

static void test_record_send_recv_round_trip(void **state)
{
    (void)state;
    struct pair p;
    pair_open(&p);
    struct wbuf w;
    wbuf_init(&w);
    mig_error_encode("boom", &w);
    struct gw_error err = { 0 };
    assert_int_equal(mig_conn_send(&p.a, MIG_REC_ERROR, &w, &err), 0);
    assert_int_equal(mig_conn_send(&p.a, MIG_REC_READY, NULL, &err), 0);

    uint16_t type = 0;
    struct rbuf r;
    assert_int_equal(mig_conn_recv(&p.b, &type, &r, 1000, &err), 0);
    assert_int_equal(type, MIG_REC_ERROR);
    assert_int_equal(r.len, 4);
    assert_memory_equal(r.data, "boom", 4);
    assert_int_equal(mig_conn_recv(&p.b, &type, &r, 1000, &err), 0);
    assert_int_equal(type, MIG_REC_READY);
    assert_int_equal(r.len, 0);
    assert_true(p.b.bytes_received == 8 + 4 + 8);

    /* A payload whose build failed is not sent. */
    w.err = -ENOMEM;
    assert_int_equal(mig_conn_send(&p.a, MIG_REC_ERROR, &w, &err), -ENOMEM);
    wbuf_uninit(&w);
    pair_close(&p);
}

static void test_record_oversized_rejected_before_payload(void **state)
{
    (void)state;
    struct pair p;
    pair_open(&p);
    uint8_t header[8] = { MIG_REC_RAM, 0, 0, 0 };
    put_le32(header + 4, MIG_RECORD_MAX_BYTES + 1);
    assert_int_equal(write(p.a.fd, header, sizeof header), 8);
    uint16_t type;
    struct rbuf r;
    struct gw_error err = { 0 };
    assert_int_equal(mig_conn_recv(&p.b, &type, &r, 1000, &err), -EPROTO);
    assert_msg_has(&err, "exceeds");

    /* Exactly the limit is a legal length (here: cut short by the peer). */
    put_le32(header + 4, MIG_RECORD_MAX_BYTES);
    assert_int_equal(write(p.a.fd, header, sizeof header), 8);
    assert_int_equal(write(p.a.fd, "xy", 2), 2);
    shutdown(p.a.fd, SHUT_WR);
    assert_int_equal(mig_conn_recv(&p.b, &type, &r, 1000, &err), -ECONNRESET);
    pair_close(&p);
}

static void test_record_recv_timeout_and_close(void **state)
{
    (void)state;
    struct pair p;
    pair_open(&p);
    uint16_t type;
    struct rbuf r;
    struct gw_error err = { 0 };
    assert_int_equal(mig_conn_recv(&p.b, &type, &r, 20, &err), -ETIMEDOUT);

    /* Half a header, then the peer goes away. */
    assert_int_equal(write(p.a.fd, "\x01\x00\x00", 3), 3);
    assert_int_equal(mig_conn_recv(&p.b, &type, &r, 20, &err), -ETIMEDOUT);
    shutdown(p.a.fd, SHUT_WR);
    assert_int_equal(mig_conn_recv(&p.b, &type, &r, 1000, &err), -ECONNRESET);
    pair_close(&p);
}

/* Rates over a long migration: 19 GB sent in 15 s is about 1.27 GB/s,
 * not what 64-bit bytes * 10^9 made of it. */
static void test_rates_do_not_overflow(void **state)
{
    (void)state;
    assert_int_equal(mig_per_second(19000000000ULL, 15000000000ULL), 1266666666ULL);
    assert_int_equal(mig_per_second(4096, 1000000), 4096000);
    assert_int_equal(mig_per_second(5, 0), 0);
    /* 40 GB at a 1 GB/s cap are due 40 s after pacing began. */
    assert_int_equal(mig_ns_for(40000000000ULL, 1000000000ULL), 40000000000ULL);
    assert_int_equal(mig_ns_for(123, 0), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_record_names),
        cmocka_unit_test(test_hello_encode_golden),
        cmocka_unit_test(test_hello_decode_round_trip),
        cmocka_unit_test(test_hello_bad_magic_rejected),
        cmocka_unit_test(test_hello_wrong_version_rejected),
        cmocka_unit_test(test_hello_wrong_page_size_rejected),
        cmocka_unit_test(test_hello_truncated_rejected_at_every_length),
        cmocka_unit_test(test_ram_batch_layout_and_round_trip),
        cmocka_unit_test(test_ram_decode_reports_pages_in_order),
        cmocka_unit_test(test_ram_empty_batch_accepted),
        cmocka_unit_test(test_page_is_zero_sees_every_byte),
        cmocka_unit_test(test_ram_count_over_batch_rejected),
        cmocka_unit_test(test_ram_gpa_outside_ram_rejected),
        cmocka_unit_test(test_ram_page_past_end_rejected),
        cmocka_unit_test(test_ram_unknown_encoding_rejected),
        cmocka_unit_test(test_ram_truncated_rejected_at_every_length),
        cmocka_unit_test(test_ram_trailing_bytes_rejected),
        cmocka_unit_test(test_section_header_golden_and_round_trip),
        cmocka_unit_test(test_section_name_lengths),
        cmocka_unit_test(test_section_name_must_be_printable),
        cmocka_unit_test(test_section_header_truncated_rejected_at_every_length),
        cmocka_unit_test(test_digest_compute_one_region),
        cmocka_unit_test(test_digest_ignores_zero_pages),
        cmocka_unit_test(test_digest_compute_fd_matches_mapping),
        cmocka_unit_test(test_digest_compute_splits_at_64_mib),
        cmocka_unit_test(test_digest_encode_decode_round_trip),
        cmocka_unit_test(test_digest_count_mismatch_rejected),
        cmocka_unit_test(test_error_round_trip),
        cmocka_unit_test(test_error_decode_sanitises),
        cmocka_unit_test(test_error_decode_truncates_to_buffer),
        cmocka_unit_test(test_uri_parse_accepts),
        cmocka_unit_test(test_uri_parse_rejects),
        cmocka_unit_test(test_uri_parse_checks_buffer_sizes),
        cmocka_unit_test(test_record_header_golden),
        cmocka_unit_test(test_record_send_recv_round_trip),
        cmocka_unit_test(test_record_oversized_rejected_before_payload),
        cmocka_unit_test(test_record_recv_timeout_and_close),
        cmocka_unit_test(test_rates_do_not_overflow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
