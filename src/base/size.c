/* Human size parsing; see size.h. */
#include "size.h"

#include <ctype.h>
#include <errno.h>
#include <strings.h>

int gw_parse_size(const char *text, uint64_t *bytes)
{
    if (!text || !isdigit((unsigned char)*text))
        return -EINVAL;

    uint64_t value = 0;
    const char *p = text;
    for (; isdigit((unsigned char)*p); p++) {
        unsigned digit = *p - '0';
        if (value > (UINT64_MAX - digit) / 10)
            return -EINVAL;
        value = value * 10 + digit;
    }

    unsigned shift = 0;
    switch (toupper((unsigned char)*p)) {
    case '\0': break;
    case 'K': shift = 10; break;
    case 'M': shift = 20; break;
    case 'G': shift = 30; break;
    case 'T': shift = 40; break;
    default: return -EINVAL;
    }
    if (shift) {
        p++;
        if (strcasecmp(p, "") && strcasecmp(p, "iB") && strcasecmp(p, "B"))
            return -EINVAL;
        if (value > (UINT64_MAX >> shift))
            return -EINVAL;
    }
    *bytes = value << shift;
    return 0;
}
