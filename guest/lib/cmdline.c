/* Reading "key=value" words from the boot command line. */
#include "sdk.h"

int cmdline_get(const char *key, char *buf, size_t size)
{
    const char *p = sdk_boot_info()->cmdline;
    size_t klen = strlen(key);
    while (*p) {
        while (*p == ' ')
            p++;
        const char *word = p;
        while (*p && *p != ' ')
            p++;
        size_t wlen = (size_t)(p - word);
        if (wlen >= klen && !strncmp(word, key, klen) && (wlen == klen || word[klen] == '=')) {
            const char *value = wlen == klen ? word + klen : word + klen + 1;
            size_t vlen = (size_t)(p - value);
            if (vlen >= size)
                vlen = size - 1;
            memcpy(buf, value, vlen);
            buf[vlen] = '\0';
            return 1;
        }
    }
    return 0;
}

uint64_t cmdline_get_u64(const char *key, uint64_t def)
{
    char value[64];
    if (!cmdline_get(key, value, sizeof value))
        return def;
    uint64_t v = 0;
    const char *p = value;
    if (*p < '0' || *p > '9')
        goto bad;
    for (; *p >= '0' && *p <= '9'; p++)
        v = v * 10 + (uint64_t)(*p - '0');
    switch (*p) {
    case 'K': case 'k': v <<= 10; p++; break;
    case 'M': case 'm': v <<= 20; p++; break;
    case 'G': case 'g': v <<= 30; p++; break;
    }
    if (*p)
        goto bad;
    return v;
bad:
    printf("cmdline: %s=%s is not a number\n", key, value);
    sdk_exit(2);
}
