/* Caller-owned error records; see error.h. */
#include "error.h"

#include <stdio.h>
#include <string.h>

int gw_error_set(struct gw_error *err, int code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->code = code;
    }
    return code;
}

void gw_error_clear(struct gw_error *err)
{
    if (!err)
        return;
    err->code = 0;
    err->msg[0] = '\0';
}
