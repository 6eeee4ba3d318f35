/* Migration stream codec; see proto.h and docs/protocol.md. */
#include "mig/proto.h"

#include <errno.h>
#include <string.h>
#include <endian.h>
#include <sys/types.h>
#include <unistd.h>
#include <xxhash.h>

const char *mig_record_name(uint16_t type)
{
    static const char *const names[] = {
        [MIG_REC_HELLO] = "HELLO",       [MIG_REC_HELLO_ACK] = "HELLO_ACK",
        [MIG_REC_RAM] = "RAM",           [MIG_REC_PASS_END] = "PASS_END",
        [MIG_REC_STATE] = "STATE",       [MIG_REC_DIGEST] = "DIGEST",
        [MIG_REC_COMPLETE] = "COMPLETE", [MIG_REC_READY] = "READY",
        [MIG_REC_GO] = "GO",             [MIG_REC_RESUMED] = "RESUMED",
        [MIG_REC_ERROR] = "ERROR",       [MIG_REC_PASS_ACK] = "PASS_ACK",
    };
    return type < sizeof names / sizeof names[0] && names[type] ? names[type] : "unknown";
}

void mig_hello_encode(const struct mig_hello *h, struct wbuf *w)
{
    wbuf_put(w, MIG_MAGIC, 8);
    wbuf_put_u32(w, h->version);
    wbuf_put_u64(w, h->features);
    wbuf_put_u64(w, h->ram_bytes);
    wbuf_put_u32(w, h->ncpus);
    wbuf_put_u32(w, h->page_bytes);
}

int mig_hello_decode(struct rbuf *r, struct mig_hello *h, struct gw_error *err)
{
    const uint8_t *magic = rbuf_take(r, 8);
    if (!magic || memcmp(magic, MIG_MAGIC, 8))
        return gw_error_set(err, -EPROTO, "not a godwit migration stream (bad magic)");
    h->version = rbuf_get_u32(r);
    h->features = rbuf_get_u64(r);
    h->ram_bytes = rbuf_get_u64(r);
    h->ncpus = rbuf_get_u32(r);
    h->page_bytes = rbuf_get_u32(r);
    if (r->err)
        return gw_error_set(err, -EPROTO, "truncated HELLO record");
    if (rbuf_left(r))
        return gw_error_set(err, -EPROTO, "%zu stray bytes after HELLO", rbuf_left(r));
    if (h->version != MIG_VERSION)
        return gw_error_set(err, -EPROTO, "stream version %u is not supported (this side speaks %u)",
                            h->version, MIG_VERSION);
    if (h->page_bytes != MIG_PAGE_BYTES)
        return gw_error_set(err, -EPROTO, "page size %u is not %u", h->page_bytes, MIG_PAGE_BYTES);
    return 0;
}

int mig_page_is_zero(const uint8_t *page)
{
    const uint64_t *words = (const uint64_t *)page;
    uint64_t acc = 0;
    for (unsigned i = 0; i < MIG_PAGE_BYTES / 8; i += 8)
        acc |= words[i] | words[i + 1] | words[i + 2] | words[i + 3] | words[i + 4] |
               words[i + 5] | words[i + 6] | words[i + 7];
    return acc == 0;
}

void mig_ram_begin(struct wbuf *w) { wbuf_put_u32(w, 0); }

void mig_ram_put_page(struct wbuf *w, uint64_t gpa, const uint8_t *page)
{
    if (mig_page_is_zero(page)) {
        wbuf_put_u64(w, gpa | MIG_PAGE_ZERO);
        return;
    }
    wbuf_put_u64(w, gpa | MIG_PAGE_RAW);
    wbuf_put(w, page, MIG_PAGE_BYTES);
}

void mig_ram_end(struct wbuf *w, uint32_t count)
{
    if (!w->err && w->len >= 4) {
        uint32_t le = htole32(count);
        memcpy(w->data, &le, sizeof le);
    }
}

int mig_ram_decode(struct rbuf *r, uint64_t ram_bytes, mig_page_fn page, void *opaque,
                   uint64_t *npages, struct gw_error *err)
{
    uint32_t count = rbuf_get_u32(r);
    if (r->err)
        return gw_error_set(err, -EPROTO, "truncated RAM record");
    if (count > MIG_BATCH_PAGES)
        return gw_error_set(err, -EPROTO, "RAM record of %u pages exceeds %u", count,
                            MIG_BATCH_PAGES);
    for (uint32_t i = 0; i < count; i++) {
        uint64_t word = rbuf_get_u64(r);
        uint64_t gpa = word & ~(uint64_t)(MIG_PAGE_BYTES - 1), enc = word & (MIG_PAGE_BYTES - 1);
        if (r->err)
            return gw_error_set(err, -EPROTO, "RAM record truncated at page %u of %u", i, count);
        if (gpa >= ram_bytes || ram_bytes - gpa < MIG_PAGE_BYTES)
            return gw_error_set(err, -EPROTO, "page address 0x%llx is outside guest RAM",
                                (unsigned long long)gpa);
        const uint8_t *data = NULL;
        if (enc == MIG_PAGE_RAW) {
            data = rbuf_take(r, MIG_PAGE_BYTES);
            if (!data)
                return gw_error_set(err, -EPROTO, "RAM record truncated in page 0x%llx",
                                    (unsigned long long)gpa);
        } else if (enc != MIG_PAGE_ZERO) {
            return gw_error_set(err, -EPROTO, "unknown page encoding %llu",
                                (unsigned long long)enc);
        }
        page(opaque, gpa, data);
    }
    if (rbuf_left(r))
        return gw_error_set(err, -EPROTO, "%zu stray bytes after a RAM record", rbuf_left(r));
    *npages += count;
    return 0;
}

static void copy_page(void *opaque, uint64_t gpa, const uint8_t *data)
{
    uint8_t *ram = opaque;
    if (data)
        memcpy(ram + gpa, data, MIG_PAGE_BYTES);
    else
        memset(ram + gpa, 0, MIG_PAGE_BYTES);
}

int mig_ram_load(struct rbuf *r, uint8_t *ram, uint64_t ram_bytes, uint64_t *npages,
                 struct gw_error *err)
{
    return mig_ram_decode(r, ram_bytes, copy_page, ram, npages, err);
}

void mig_section_begin(struct wbuf *w, const char *name, uint32_t instance, uint32_t version)
{
    size_t len = strlen(name);
    wbuf_put_u8(w, (uint8_t)len);
    wbuf_put(w, name, len);
    wbuf_put_u32(w, instance);
    wbuf_put_u32(w, version);
}

int mig_section_header_decode(struct rbuf *r, char name[MIG_SECTION_NAME_MAX + 1],
                              uint32_t *instance, uint32_t *version, struct gw_error *err)
{
    uint8_t len = rbuf_get_u8(r);
    const uint8_t *text = rbuf_take(r, len);
    *instance = rbuf_get_u32(r);
    *version = rbuf_get_u32(r);
    if (r->err)
        return gw_error_set(err, -EPROTO, "truncated STATE section header");
    if (len == 0 || len > MIG_SECTION_NAME_MAX)
        return gw_error_set(err, -EPROTO, "state section name of %u bytes", len);
    for (unsigned i = 0; i < len; i++)
        if (text[i] < 0x21 || text[i] > 0x7e)
            return gw_error_set(err, -EPROTO, "state section name is not printable");
    memcpy(name, text, len);
    name[len] = '\0';
    return 0;
}

static void hash_pages(XXH3_state_t *state, const uint8_t *ram, uint64_t from, uint64_t to)
{
    /* Whole pages only: RAM is page-aligned, a partial tail cannot exist. */
    for (uint64_t gpa = from; gpa + MIG_PAGE_BYTES <= to; gpa += MIG_PAGE_BYTES) {
        if (mig_page_is_zero(ram + gpa))
            continue;
        uint64_t le = htole64(gpa);
        XXH3_64bits_update(state, &le, sizeof le);
        XXH3_64bits_update(state, ram + gpa, MIG_PAGE_BYTES);
    }
}

static uint64_t region_hash(XXH3_state_t *state, int memfd, const uint8_t *ram, uint64_t start,
                            uint64_t end)
{
    XXH3_64bits_reset(state);
    uint64_t pos = start;
    while (pos < end) {
        uint64_t data = pos, hole = end;
        if (memfd >= 0) {
            off_t d = lseek(memfd, (off_t)pos, SEEK_DATA);
            if (d < 0 || (uint64_t)d >= end)
                break;                  /* only holes left in this region */
            off_t h = lseek(memfd, d, SEEK_HOLE);
            data = (uint64_t)d;
            hole = h < 0 || (uint64_t)h > end ? end : (uint64_t)h;
        }
        hash_pages(state, ram, data, hole);
        pos = hole;
    }
    return XXH3_64bits_digest(state);
}

uint32_t mig_digest_compute_fd(int memfd, const uint8_t *ram, uint64_t ram_bytes,
                               struct mig_digest_region *regions)
{
    uint32_t n = 0;
    uint64_t step = MIG_DIGEST_REGION_BYTES;
    while (ram_bytes / step >= MIG_DIGEST_MAX_REGIONS)
        step *= 2;
    XXH3_state_t *state = XXH3_createState();
    if (!state)
        return 0;
    for (uint64_t start = 0; start < ram_bytes; start += step, n++) {
        uint64_t bytes = ram_bytes - start < step ? ram_bytes - start : step;
        regions[n] = (struct mig_digest_region){
            start, bytes, region_hash(state, memfd, ram, start, start + bytes) };
    }
    XXH3_freeState(state);
    return n;
}

uint32_t mig_digest_compute(const uint8_t *ram, uint64_t ram_bytes,
                            struct mig_digest_region *regions)
{
    return mig_digest_compute_fd(-1, ram, ram_bytes, regions);
}

void mig_digest_encode(const struct mig_digest_region *regions, uint32_t n, struct wbuf *w)
{
    wbuf_put_u32(w, n);
    for (uint32_t i = 0; i < n; i++) {
        wbuf_put_u64(w, regions[i].start);
        wbuf_put_u64(w, regions[i].bytes);
        wbuf_put_u64(w, regions[i].hash);
    }
}

int mig_digest_decode(struct rbuf *r, struct mig_digest_region *regions, uint32_t *n,
                      struct gw_error *err)
{
    *n = rbuf_get_u32(r);
    if (r->err || *n > MIG_DIGEST_MAX_REGIONS)
        return gw_error_set(err, -EPROTO, "bad DIGEST record (%u regions)", *n);
    for (uint32_t i = 0; i < *n; i++) {
        regions[i].start = rbuf_get_u64(r);
        regions[i].bytes = rbuf_get_u64(r);
        regions[i].hash = rbuf_get_u64(r);
    }
    if (r->err || rbuf_left(r))
        return gw_error_set(err, -EPROTO, "DIGEST record length does not match its count");
    return 0;
}

void mig_error_encode(const char *message, struct wbuf *w)
{
    wbuf_put(w, message, strlen(message));
}

void mig_error_decode(struct rbuf *r, char *message, size_t size)
{
    if (size == 0)
        return;
    size_t n = rbuf_left(r) < size - 1 ? rbuf_left(r) : size - 1;
    const uint8_t *text = rbuf_take(r, n);
    for (size_t i = 0; i < n; i++)
        message[i] = text[i] >= 0x20 && text[i] < 0x7f ? (char)text[i] : '?';
    message[n] = '\0';
}
