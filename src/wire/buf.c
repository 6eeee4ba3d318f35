/* Latched-error byte buffers; see buf.h. */
#include "wire/buf.h"

#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

void wbuf_init(struct wbuf *w) { *w = (struct wbuf){ 0 }; }

void wbuf_uninit(struct wbuf *w)
{
    free(w->data);
    *w = (struct wbuf){ 0 };
}

void wbuf_reset(struct wbuf *w)
{
    w->len = 0;
    w->err = 0;
}

uint8_t *wbuf_reserve(struct wbuf *w, size_t n)
{
    if (w->err)
        return NULL;
    if (n > SIZE_MAX / 2 - w->len) {
        w->err = -ENOMEM;
        return NULL;
    }
    if (w->len + n > w->cap) {
        size_t cap = w->cap ? w->cap : 256;
        while (cap < w->len + n)
            cap *= 2;
        uint8_t *data = realloc(w->data, cap);
        if (!data) {
            w->err = -ENOMEM;
            return NULL;
        }
        w->data = data;
        w->cap = cap;
    }
    uint8_t *p = w->data + w->len;
    w->len += n;
    return p;
}

void wbuf_put(struct wbuf *w, const void *p, size_t n)
{
    uint8_t *dst = wbuf_reserve(w, n);
    if (dst && n)
        memcpy(dst, p, n);
}

void wbuf_put_u8(struct wbuf *w, uint8_t v) { wbuf_put(w, &v, 1); }

void wbuf_put_u16(struct wbuf *w, uint16_t v)
{
    v = htole16(v);
    wbuf_put(w, &v, sizeof v);
}

void wbuf_put_u32(struct wbuf *w, uint32_t v)
{
    v = htole32(v);
    wbuf_put(w, &v, sizeof v);
}

void wbuf_put_u64(struct wbuf *w, uint64_t v)
{
    v = htole64(v);
    wbuf_put(w, &v, sizeof v);
}

void rbuf_init(struct rbuf *r, const void *data, size_t len)
{
    *r = (struct rbuf){ .data = data, .len = len };
}

const uint8_t *rbuf_take(struct rbuf *r, size_t n)
{
    if (r->err)
        return NULL;
    if (n > r->len - r->pos) {
        r->err = -EPROTO;
        return NULL;
    }
    const uint8_t *p = r->data + r->pos;
    r->pos += n;
    return p;
}

void rbuf_get(struct rbuf *r, void *p, size_t n)
{
    const uint8_t *src = rbuf_take(r, n);
    if (src)
        memcpy(p, src, n);
    else
        memset(p, 0, n);
}

uint8_t rbuf_get_u8(struct rbuf *r)
{
    uint8_t v;
    rbuf_get(r, &v, 1);
    return v;
}

uint16_t rbuf_get_u16(struct rbuf *r)
{
    uint16_t v;
    rbuf_get(r, &v, sizeof v);
    return le16toh(v);
}

uint32_t rbuf_get_u32(struct rbuf *r)
{
    uint32_t v;
    rbuf_get(r, &v, sizeof v);
    return le32toh(v);
}

uint64_t rbuf_get_u64(struct rbuf *r)
{
    uint64_t v;
    rbuf_get(r, &v, sizeof v);
    return le64toh(v);
}
