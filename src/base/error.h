/*
 * A caller-owned error record: a negative errno plus one human sentence.
 *
 * Functions that a human may need to understand the failure of (argument
 * parsing, image loading, control requests) take a `struct gw_error *` and
 * fill it on failure; the caller decides where the sentence goes (stderr,
 * a JSON reply).  Internal helpers just return 0 or -errno.
 */
#ifndef GW_BASE_ERROR_H
#define GW_BASE_ERROR_H

#include <stdarg.h>

struct gw_error {
    int code;           /* 0, or a negative errno */
    char msg[256];
};

/* Records code and message; returns code so callers can `return gw_error_set(...)`.
 * err may be NULL. */
int gw_error_set(struct gw_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

void gw_error_clear(struct gw_error *err);     /* err may be NULL */

#endif
