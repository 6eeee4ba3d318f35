/* Incoming pages into the guest memfd; see ramsink.h for why. */
#include "mig/ramsink.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

void ramsink_init(struct ramsink *sink, int memfd)
{
    sink->memfd = memfd;
    sink->nops = 0;
}

void ramsink_page(void *opaque, uint64_t gpa, const uint8_t *data)
{
    struct ramsink *sink = opaque;
    if (sink->nops < MIG_BATCH_PAGES)   /* mig_ram_decode never exceeds it */
        sink->ops[sink->nops++] = (struct ramsink_op){ gpa, data };
}

void ramsink_discard(struct ramsink *sink) { sink->nops = 0; }

/* Writes n iovecs of whole pages at offset, looping over short writes. */
static int write_run(int fd, struct iovec *iov, int n, uint64_t offset, struct gw_error *err)
{
    while (n > 0) {
        ssize_t done = pwritev(fd, iov, n, (off_t)offset);
        if (done < 0 && errno == EINTR)
            continue;
        if (done <= 0)
            return gw_error_set(err, done < 0 ? -errno : -EIO, "cannot write guest RAM: %s",
                                done < 0 ? strerror(errno) : "short write");
        offset += (uint64_t)done;
        while (n > 0 && (size_t)done >= iov->iov_len) {
            done -= (ssize_t)iov->iov_len;
            iov++;
            n--;
        }
        if (n > 0 && done > 0) {
            iov->iov_base = (uint8_t *)iov->iov_base + done;
            iov->iov_len -= (size_t)done;
        }
    }
    return 0;
}

int ramsink_flush(struct ramsink *sink, struct gw_error *err)
{
    int rc = 0;
    uint32_t i = 0;
    while (!rc && i < sink->nops) {
        const struct ramsink_op *op = &sink->ops[i];
        if (!op->data) {
            if (fallocate(sink->memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                          (off_t)op->gpa, MIG_PAGE_BYTES) < 0)
                rc = gw_error_set(err, -errno, "cannot zero guest page 0x%llx: %s",
                                  (unsigned long long)op->gpa, strerror(errno));
            i++;
            continue;
        }
        /* The longest run of raw pages at consecutive addresses. */
        int n = 0;
        uint64_t start = op->gpa;
        while (i < sink->nops && sink->ops[i].data &&
               sink->ops[i].gpa == start + (uint64_t)n * MIG_PAGE_BYTES) {
            sink->iov[n] = (struct iovec){ (void *)sink->ops[i].data, MIG_PAGE_BYTES };
            n++;
            i++;
        }
        rc = write_run(sink->memfd, sink->iov, n, start, err);
    }
    sink->nops = 0;
    return rc;
}
