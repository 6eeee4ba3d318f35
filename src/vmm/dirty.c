/* KVM dirty bitmap harvesting with manual re-protection; see dirty.h. */
#include "vmm/dirty.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

int dirty_log_start(struct kvm_vm *vm)
{
    if (!vm->manual_protect) {
        struct kvm_enable_cap cap = {
            .cap = KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2,
            .args[0] = KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE,
        };
        if (ioctl(vm->vm_fd, KVM_ENABLE_CAP, &cap) < 0)
            return -errno;
        vm->manual_protect = true;
    }
    return kvm_vm_set_memory(vm, vm->mem, vm->slot_flags | KVM_MEM_LOG_DIRTY_PAGES);
}

int dirty_log_stop(struct kvm_vm *vm)
{
    return kvm_vm_set_memory(vm, vm->mem, vm->slot_flags & ~KVM_MEM_LOG_DIRTY_PAGES);
}

uint64_t dirty_bitmap_words(const struct kvm_vm *vm)
{
    uint64_t npages = vm->mem->bytes / GW_PAGE_SIZE;
    return (npages + 63) / 64;
}

int dirty_log_sync(struct kvm_vm *vm, uint64_t *bitmap, uint64_t *ndirty)
{
    if (!(vm->slot_flags & KVM_MEM_LOG_DIRTY_PAGES))
        return -EINVAL;

    uint64_t words = dirty_bitmap_words(vm);
    uint64_t *fresh = calloc(words, sizeof *fresh);
    if (!fresh)
        return -ENOMEM;

    int rc = 0;
    struct kvm_dirty_log get = { .slot = KVM_RAM_SLOT, .dirty_bitmap = fresh };
    if (ioctl(vm->vm_fd, KVM_GET_DIRTY_LOG, &get) < 0) {
        rc = -errno;
        goto out;
    }

    /* Clear (re-protect) in runs of 64-page words that have dirty bits:
     * KVM wants first_page and num_pages multiples of 64. */
    uint64_t count = 0, npages = vm->mem->bytes / GW_PAGE_SIZE;
    for (uint64_t w = 0; w < words; w++) {
        if (!fresh[w])
            continue;
        uint64_t run_start = w;
        while (w + 1 < words && fresh[w + 1])
            w++;
        for (uint64_t i = run_start; i <= w; i++) {
            count += __builtin_popcountll(fresh[i]);
            bitmap[i] |= fresh[i];
        }
        uint64_t first = run_start * 64, num = (w + 1 - run_start) * 64;
        if (first + num > npages)
            num = npages - first;
        struct kvm_clear_dirty_log clear = {
            .slot = KVM_RAM_SLOT,
            .first_page = first,
            .num_pages = (uint32_t)num,
            .dirty_bitmap = &fresh[run_start],
        };
        if (ioctl(vm->vm_fd, KVM_CLEAR_DIRTY_LOG, &clear) < 0) {
            rc = -errno;
            goto out;
        }
    }
    *ndirty = count;
out:
    free(fresh);
    return rc;
}
