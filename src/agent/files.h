/*
 * Small file helpers for the agent's state directory: JSON records
 * written atomically (a crash leaves the old or the new file, never half
 * of one), directory trees made and removed, the tail of a log read.
 */
#ifndef GW_AGENT_FILES_H
#define GW_AGENT_FILES_H

#include <jansson.h>
#include <stddef.h>

/* Writes json to path through a temporary file and rename(2).  0 or -errno. */
int files_write_json(const char *path, json_t *json);
/* Reads a JSON object; NULL if missing or not JSON. */
json_t *files_read_json(const char *path);
/* mkdir -p with mode 0755.  0 or -errno. */
int files_make_dirs(const char *path);
/* rm -r of a directory holding plain files only (a VM's directory). */
int files_remove_dir(const char *path);
/* The last max_bytes of a file, malloc'd and NUL-terminated (len set);
 * NULL if it cannot be read. */
char *files_read_tail(const char *path, size_t max_bytes, size_t *len);
/* The last non-empty line of a file into out (size bytes); "" if none. */
void files_last_line(const char *path, char *out, size_t size);

#endif
