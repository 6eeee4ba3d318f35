/* State-directory file helpers (see files.h). */
#include "agent/files.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int files_write_json(const char *path, json_t *json)
{
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        return -ENAMETOOLONG;
    if (json_dump_file(json, tmp, JSON_INDENT(2) | JSON_SORT_KEYS))
        return -EIO;
    if (rename(tmp, path) < 0) {
        int rc = -errno;
        unlink(tmp);
        return rc;
    }
    return 0;
}

json_t *files_read_json(const char *path)
{
    json_t *json = json_load_file(path, 0, NULL);
    if (json && !json_is_object(json)) {
        json_decref(json);
        return NULL;
    }
    return json;
}

int files_make_dirs(const char *path)
{
    char buf[PATH_MAX];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return -ENAMETOOLONG;
    for (char *p = buf + 1; ; p++) {
        if (*p == '/' || *p == '\0') {
            char saved = *p;
            *p = '\0';
            if (mkdir(buf, 0755) < 0 && errno != EEXIST)
                return -errno;
            *p = saved;
            if (!saved)
                return 0;
        }
    }
}

int files_remove_dir(const char *path)
{
    DIR *dir = opendir(path);
    if (!dir)
        return errno == ENOENT ? 0 : -errno;
    struct dirent *entry;
    while ((entry = readdir(dir))) {
        if (!strcmp(entry->d_name, ".") || !strcmp(entry->d_name, ".."))
            continue;
        unlinkat(dirfd(dir), entry->d_name, 0);
    }
    closedir(dir);
    return rmdir(path) < 0 ? -errno : 0;
}

char *files_read_tail(const char *path, size_t max_bytes, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    struct stat st;
    char *buf = NULL;
    if (fstat(fd, &st) == 0) {
        size_t size = (size_t)st.st_size;
        size_t want = size < max_bytes ? size : max_bytes;
        buf = malloc(want + 1);
        ssize_t n = buf ? pread(fd, buf, want, (off_t)(size - want)) : -1;
        if (n < 0) {
            free(buf);
            buf = NULL;
        } else {
            buf[n] = '\0';
            *len = (size_t)n;
        }
    }
    close(fd);
    return buf;
}

void files_last_line(const char *path, char *out, size_t size)
{
    size_t len = 0;
    char *tail = files_read_tail(path, 4096, &len);
    out[0] = '\0';
    if (!tail)
        return;
    while (len && (tail[len - 1] == '\n' || tail[len - 1] == '\r'))
        tail[--len] = '\0';
    char *start = strrchr(tail, '\n');
    snprintf(out, size, "%s", start ? start + 1 : tail);
    free(tail);
}
