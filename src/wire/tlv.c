/* Tag-length-value items; see tlv.h. */
#include "wire/tlv.h"

#include <endian.h>
#include <errno.h>
#include <string.h>

void tlv_put(struct wbuf *w, uint16_t tag, uint16_t flags, const void *data, uint32_t len)
{
    wbuf_put_u16(w, tag);
    wbuf_put_u16(w, flags);
    wbuf_put_u32(w, len);
    wbuf_put(w, data, len);
}

void tlv_put_u64(struct wbuf *w, uint16_t tag, uint16_t flags, uint64_t value)
{
    value = htole64(value);
    tlv_put(w, tag, flags, &value, sizeof value);
}

int tlv_next(struct rbuf *r, struct tlv_item *item)
{
    if (r->err)
        return r->err;
    if (rbuf_left(r) == 0)
        return 0;
    item->tag = rbuf_get_u16(r);
    item->flags = rbuf_get_u16(r);
    item->len = rbuf_get_u32(r);
    item->data = rbuf_take(r, item->len);
    return r->err ? r->err : 1;
}

int tlv_copy_exact(const struct tlv_item *item, void *dst, uint32_t len)
{
    if (item->len != len)
        return -EPROTO;
    memcpy(dst, item->data, len);
    return 0;
}

int tlv_get_u64(const struct tlv_item *item, uint64_t *value)
{
    uint64_t v;
    int rc = tlv_copy_exact(item, &v, sizeof v);
    if (!rc)
        *value = le64toh(v);
    return rc;
}
