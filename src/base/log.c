/* Line-oriented logging to stderr; see log.h. */
#include "log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

static _Atomic int current_level = GW_LOG_INFO;

static const char *const level_names[] = { "error", "warn", "info", "debug" };

void gw_log_set_level(enum gw_log_level level) { current_level = level; }
enum gw_log_level gw_log_get_level(void) { return current_level; }

void gw_log(const char *module, enum gw_log_level level, const char *fmt, ...)
{
    if ((int)level > current_level)
        return;

    char line[1024];
    struct timespec now;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "%02d:%02d:%02d.%03ld %s %s ", tm.tm_hour,
                     tm.tm_min, tm.tm_sec, now.tv_nsec / 1000000, module,
                     level_names[level]);

    va_list ap;
    va_start(ap, fmt);
    n += vsnprintf(line + n, sizeof line - n - 1, fmt, ap);
    va_end(ap);
    if (n > (int)sizeof line - 2)
        n = sizeof line - 2;
    line[n++] = '\n';
    ssize_t ignored = write(STDERR_FILENO, line, n);
    (void)ignored;
}
