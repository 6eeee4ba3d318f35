/*
 * Pure formatting for godwit: sizes, rates and durations for humans, the
 * live progress line and the final summary of a migration, and the escaping
 * of names into URL paths.  Reads the agent's JSON objects (docs/agent-api.md)
 * and tolerates missing or null fields (printed as "-"), because an older or
 * newer agent may send a different shape.  No I/O but the FILE * given.
 */
#ifndef GW_CLI_FORMAT_H
#define GW_CLI_FORMAT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define FMT_LEN 40      /* enough for any fmt_* short value */

/* Binary units: "512 B", "1 GiB", "1.03 GiB" (two decimals unless exact).
 * Return buf. */
const char *fmt_bytes(uint64_t bytes, char buf[FMT_LEN]);
/* A bandwidth cap in bytes/s: "unlimited" for 0, else "100 MiB/s". */
const char *fmt_bandwidth(uint64_t bytes_per_s, char buf[FMT_LEN]);
/* A time span for an ETA: "0.4 s", "42 s", "3m05s", "2h07m"; "-" if negative. */
const char *fmt_eta(double seconds, char buf[FMT_LEN]);

/* Fields of a JSON object: NULL / false when absent, null or of another type. */
const char *fmt_str(const json_t *obj, const char *key);
bool fmt_num(const json_t *obj, const char *key, double *value);

/* Whether a migration in this state has ended (completed, failed,
 * cancelled, unknown, aborted); NULL counts as not ended. */
bool fmt_migration_ended(const char *state);

/* The one-line progress of a migration, without newline, e.g.
 * "transferring  87.5%  812.0 MB/s  128.0 MiB left  ETA 0.2 s  downtime 160.2 ms  pass 2". */
void fmt_progress_line(const json_t *migration, char *buf, size_t size);

/* The closing lines of `godwit migrate`: outcome, figures from `result`,
 * `error`, or for an unknown outcome the hint and how to resolve. */
void fmt_summary(FILE *out, const json_t *migration);

/* Percent-encodes a path segment (all but A-Z a-z 0-9 - _ ~), so that a
 * name typed by the operator can never reach another path ("../hosts",
 * "vm1/start").  Returns 0, or -ENAMETOOLONG if it does not fit in size. */
int fmt_url_segment(const char *text, char *buf, size_t size);

#endif
