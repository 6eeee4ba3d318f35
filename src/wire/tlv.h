/*
 * Tag-length-value items, the body of every saved-state section.
 *
 *   u16 tag | u16 flags | u32 length | length bytes
 *
 * A loader walks the items with tlv_next(): it fills what it knows, skips
 * unknown items, and fails on an unknown item flagged TLV_CRITICAL (the
 * sender says "you cannot be correct without understanding this").  This
 * is how a state format grows without version lockstep.
 */
#ifndef GW_WIRE_TLV_H
#define GW_WIRE_TLV_H

#include <stdint.h>

#include "wire/buf.h"

#define TLV_CRITICAL 0x0001

struct tlv_item {
    uint16_t tag;
    uint16_t flags;
    uint32_t len;
    const uint8_t *data;    /* points into the rbuf's memory */
};

void tlv_put(struct wbuf *w, uint16_t tag, uint16_t flags, const void *data, uint32_t len);
void tlv_put_u64(struct wbuf *w, uint16_t tag, uint16_t flags, uint64_t value);

/* Reads the next item.  Returns 1 with *item filled, 0 at the end of the
 * buffer, or -EPROTO if the item is truncated (latched in r). */
int tlv_next(struct rbuf *r, struct tlv_item *item);

/* Copies an item of exactly len bytes into dst; -EPROTO if its length differs. */
int tlv_copy_exact(const struct tlv_item *item, void *dst, uint32_t len);
/* Reads an 8-byte item as a little-endian u64; -EPROTO if not 8 bytes. */
int tlv_get_u64(const struct tlv_item *item, uint64_t *value);

#endif
