/* Guest RAM backed by a shared memfd mapping; see memory.h. */
#include "memory.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int guest_memory_check_size(uint64_t bytes, struct gw_error *err)
{
    if (bytes == 0)
        return gw_error_set(err, -EINVAL, "memory size must not be zero");
    if (bytes % GW_PAGE_SIZE)
        return gw_error_set(err, -EINVAL, "memory size %llu is not a multiple of the %llu-byte page",
                            (unsigned long long)bytes, GW_PAGE_SIZE);
    if (bytes < GW_MEMORY_MIN_BYTES)
        return gw_error_set(err, -EINVAL, "memory size %llu is below the minimum of %llu MiB",
                            (unsigned long long)bytes, GW_MEMORY_MIN_BYTES >> 20);
    if (bytes > GW_MEMORY_MAX_BYTES)
        return gw_error_set(err, -EINVAL, "memory size %llu is above the maximum of %llu GiB",
                            (unsigned long long)bytes, GW_MEMORY_MAX_BYTES >> 30);
    return 0;
}

int guest_memory_init(struct guest_memory *mem, uint64_t bytes, struct gw_error *err)
{
    int rc = guest_memory_check_size(bytes, err);
    if (rc)
        return rc;

    mem->memfd = memfd_create("godwit-guest-ram", MFD_CLOEXEC);
    if (mem->memfd < 0)
        return gw_error_set(err, -errno, "memfd_create: %s", strerror(errno));
    if (ftruncate(mem->memfd, bytes) < 0) {
        rc = gw_error_set(err, -errno, "cannot size guest RAM to %llu bytes: %s",
                          (unsigned long long)bytes, strerror(errno));
        close(mem->memfd);
        return rc;
    }
    mem->host = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE,
                     mem->memfd, 0);
    if (mem->host == MAP_FAILED) {
        rc = gw_error_set(err, -errno, "cannot map guest RAM: %s", strerror(errno));
        close(mem->memfd);
        return rc;
    }
    mem->bytes = bytes;
    return 0;
}

void guest_memory_uninit(struct guest_memory *mem)
{
    if (mem->host && mem->host != MAP_FAILED)
        munmap(mem->host, mem->bytes);
    if (mem->memfd >= 0)
        close(mem->memfd);
    mem->host = NULL;
    mem->memfd = -1;
}
