/*
 * One line per event: "TIME MODULE LEVEL message", on stderr.
 *
 * The level is global and can be changed at run time (gw_log_set_level);
 * messages above it cost one comparison.  Callers put `vm=` and
 * `migration=` fields in the message where they apply.  Thread-safe: each
 * line is written with one write(2).
 */
#ifndef GW_BASE_LOG_H
#define GW_BASE_LOG_H

enum gw_log_level { GW_LOG_ERROR, GW_LOG_WARN, GW_LOG_INFO, GW_LOG_DEBUG };

void gw_log_set_level(enum gw_log_level level);
enum gw_log_level gw_log_get_level(void);

void gw_log(const char *module, enum gw_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define LOG_ERR(mod, ...)   gw_log(mod, GW_LOG_ERROR, __VA_ARGS__)
#define LOG_WARN(mod, ...)  gw_log(mod, GW_LOG_WARN, __VA_ARGS__)
#define LOG_INFO(mod, ...)  gw_log(mod, GW_LOG_INFO, __VA_ARGS__)
#define LOG_DEBUG(mod, ...) gw_log(mod, GW_LOG_DEBUG, __VA_ARGS__)

#endif
