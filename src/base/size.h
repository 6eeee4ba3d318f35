/* Parsing of human sizes ("512M", "4G", "4096") into bytes. */
#ifndef GW_BASE_SIZE_H
#define GW_BASE_SIZE_H

#include <stdint.h>

/* Parses a decimal number with an optional binary suffix K, M, G or T
 * (case-insensitive, optional trailing "iB"/"B").  Returns 0 and sets
 * *bytes, or -EINVAL for anything else (empty, negative, junk, overflow). */
int gw_parse_size(const char *text, uint64_t *bytes);

#endif
