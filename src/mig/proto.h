/*
 * The migration stream: what travels between two godwit-vmm processes
 * (format described in docs/protocol.md).
 *
 * Every message is a record: u16 type | u16 flags | u32 length | payload.
 * Pure codec functions over wire/buf.h buffers live here, so the decoder
 * can be unit-tested and fuzzed without sockets or KVM; mig/conn.h moves
 * records over a socket.  Decoders treat the input as hostile: every
 * length, guest address, count and version is checked before use.
 */
#ifndef GW_MIG_PROTO_H
#define GW_MIG_PROTO_H

#include <stdint.h>

#include "base/error.h"
#include "wire/buf.h"

#define MIG_MAGIC "GODWITMG"            /* 8 bytes, first thing in HELLO */
#define MIG_VERSION 1
#define MIG_RECORD_HEADER_BYTES 8
#define MIG_RECORD_MAX_BYTES (16u << 20)
#define MIG_PAGE_BYTES 4096u
#define MIG_BATCH_PAGES 256              /* pages per RAM record, at most */

enum mig_record_type {
    MIG_REC_HELLO = 1,      /* src -> dst: magic, version, features, machine shape */
    MIG_REC_HELLO_ACK = 2,  /* dst -> src: accepted version and features */
    MIG_REC_RAM = 3,        /* src -> dst: a batch of pages */
    MIG_REC_PASS_END = 4,   /* src -> dst: end of a pre-copy pass (sync marker) */
    MIG_REC_STATE = 5,      /* src -> dst: one named, versioned state section */
    MIG_REC_DIGEST = 6,     /* src -> dst: xxh3 of guest RAM, for verification */
    MIG_REC_COMPLETE = 7,   /* src -> dst: everything sent; load it */
    MIG_REC_READY = 8,      /* dst -> src: loaded and checked; waiting for GO */
    MIG_REC_GO = 9,         /* src -> dst: resume the guest */
    MIG_REC_RESUMED = 10,   /* dst -> src: guest running; realtime ns of resume */
    MIG_REC_ERROR = 11,     /* either way: the migration failed; a message */
    MIG_REC_PASS_ACK = 12,  /* dst -> src: the pass named in PASS_END is applied */
};

/* Feature bits, negotiated in HELLO/HELLO_ACK. */
#define MIG_FEATURE_DIGEST (1ULL << 0)  /* source sends DIGEST before COMPLETE */
#define MIG_FEATURES_KNOWN MIG_FEATURE_DIGEST

/* COMPLETE's optional u8 of flags (an empty COMPLETE means 0). */
#define MIG_COMPLETE_PAUSED 0x01    /* the guest was paused: keep it paused */

/* Page encodings, in the low bits of each page entry's address word. */
#define MIG_PAGE_ZERO 0
#define MIG_PAGE_RAW 1

const char *mig_record_name(uint16_t type);

struct mig_hello {
    uint32_t version;
    uint64_t features;
    uint64_t ram_bytes;
    uint32_t ncpus;
    uint32_t page_bytes;
};
void mig_hello_encode(const struct mig_hello *h, struct wbuf *w);
/* Checks magic and field sanity (not compatibility: the caller compares
 * the machine shape with its own).  -EPROTO with err on failure. */
int mig_hello_decode(struct rbuf *r, struct mig_hello *h, struct gw_error *err);

/* RAM records: u32 count, then per page u64 (gpa | encoding) and, for RAW,
 * 4096 bytes.  mig_ram_put_page picks ZERO for an all-zero page. */
void mig_ram_begin(struct wbuf *w);                         /* count placeholder */
void mig_ram_put_page(struct wbuf *w, uint64_t gpa, const uint8_t *page);
void mig_ram_end(struct wbuf *w, uint32_t count);
/* Decodes a RAM record for a guest of ram_bytes: checks every entry
 * (alignment, range, encoding, length) and calls page() for each, in
 * order, with data = NULL for a zero page.  Returns 0 and adds the page
 * count to *npages, or -EPROTO with err (page() may have been called for
 * the entries before the bad one). */
typedef void (*mig_page_fn)(void *opaque, uint64_t gpa, const uint8_t *data);
int mig_ram_decode(struct rbuf *r, uint64_t ram_bytes, mig_page_fn page, void *opaque,
                   uint64_t *npages, struct gw_error *err);
/* mig_ram_decode that copies into ram (ram_bytes long). */
int mig_ram_load(struct rbuf *r, uint8_t *ram, uint64_t ram_bytes, uint64_t *npages,
                 struct gw_error *err);
int mig_page_is_zero(const uint8_t *page);

/* STATE records: u8 name length, name, u32 instance, u32 version, then the
 * section's TLV items (the rest of the record). */
#define MIG_SECTION_NAME_MAX 32
void mig_section_begin(struct wbuf *w, const char *name, uint32_t instance, uint32_t version);
int mig_section_header_decode(struct rbuf *r, char name[MIG_SECTION_NAME_MAX + 1],
                              uint32_t *instance, uint32_t *version, struct gw_error *err);

/* DIGEST records: u32 count, then count x (u64 start, u64 bytes, u64 xxh3).
 * A region's hash is XXH3-64 over (u64 address, 4096 bytes) of every page
 * in it that is not all zeros, in address order: zero pages and never-
 * allocated memory do not count, so neither side has to read (and so
 * allocate) the holes of its RAM. */
#define MIG_DIGEST_MAX_REGIONS 1024
#define MIG_DIGEST_REGION_BYTES (64ULL << 20)
struct mig_digest_region {
    uint64_t start, bytes, hash;
};
/* Fills regions (caller allocates MIG_DIGEST_MAX_REGIONS) over all of ram;
 * returns their count.  With memfd >= 0 (ram's backing file) holes are
 * skipped without being read. */
uint32_t mig_digest_compute_fd(int memfd, const uint8_t *ram, uint64_t ram_bytes,
                               struct mig_digest_region *regions);
uint32_t mig_digest_compute(const uint8_t *ram, uint64_t ram_bytes,
                            struct mig_digest_region *regions);
void mig_digest_encode(const struct mig_digest_region *regions, uint32_t n, struct wbuf *w);
int mig_digest_decode(struct rbuf *r, struct mig_digest_region *regions, uint32_t *n,
                      struct gw_error *err);

/* ERROR records: a UTF-8 message (the rest of the record). */
void mig_error_encode(const char *message, struct wbuf *w);
void mig_error_decode(struct rbuf *r, char *message, size_t size);

#endif
