/*
 * Byte buffers with a latched error, for codecs (Redis's rio habit).
 *
 * A wbuf grows as it is written; an rbuf reads a fixed span of memory.
 * Either latches its first error (-ENOMEM, or -EPROTO for a read past the
 * end) and then ignores further calls, so codec code stays linear: write
 * or read a whole frame, then check buf->err once.  Integers are
 * little-endian on the wire.  Not thread-safe; the owner frees.
 */
#ifndef GW_WIRE_BUF_H
#define GW_WIRE_BUF_H

#include <stddef.h>
#include <stdint.h>

struct wbuf {
    uint8_t *data;      /* owned */
    size_t len, cap;
    int err;
};

void wbuf_init(struct wbuf *w);
void wbuf_uninit(struct wbuf *w);
void wbuf_reset(struct wbuf *w);        /* len = 0, err = 0; keeps the memory */

/* Appends n bytes and returns where they go (for the caller to fill), or
 * NULL once the buffer has an error. */
uint8_t *wbuf_reserve(struct wbuf *w, size_t n);
void wbuf_put(struct wbuf *w, const void *p, size_t n);
void wbuf_put_u8(struct wbuf *w, uint8_t v);
void wbuf_put_u16(struct wbuf *w, uint16_t v);
void wbuf_put_u32(struct wbuf *w, uint32_t v);
void wbuf_put_u64(struct wbuf *w, uint64_t v);

struct rbuf {
    const uint8_t *data;    /* not owned */
    size_t len, pos;
    int err;
};

void rbuf_init(struct rbuf *r, const void *data, size_t len);
static inline size_t rbuf_left(const struct rbuf *r) { return r->err ? 0 : r->len - r->pos; }

/* Returns a pointer to the next n bytes and consumes them, or NULL (and
 * latches -EPROTO) if fewer are left. */
const uint8_t *rbuf_take(struct rbuf *r, size_t n);
void rbuf_get(struct rbuf *r, void *p, size_t n);   /* zero-fills p on error */
uint8_t rbuf_get_u8(struct rbuf *r);                /* 0 on error */
uint16_t rbuf_get_u16(struct rbuf *r);
uint32_t rbuf_get_u32(struct rbuf *r);
uint64_t rbuf_get_u64(struct rbuf *r);

#endif
