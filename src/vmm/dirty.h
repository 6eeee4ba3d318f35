/*
 * KVM dirty-page logging for guest RAM.
 *
 * Uses the dirty bitmap with manual protection (KVM_CAP_MANUAL_DIRTY_LOG_
 * PROTECT2): a sync reads the bitmap and then re-protects only the pages it
 * found dirty, so the cost of a pass follows the dirty set, not RAM size.
 * The migration engine drives it; so does the `dirty-log-*` control
 * requests used by the benchmark.  Not thread-safe: one caller at a time.
 */
#ifndef GW_VMM_DIRTY_H
#define GW_VMM_DIRTY_H

#include <stdint.h>

#include "vmm/kvm.h"

/* Turns logging on for KVM_RAM_SLOT (every page starts clean and
 * write-protected).  Returns 0 or -errno. */
int dirty_log_start(struct kvm_vm *vm);
int dirty_log_stop(struct kvm_vm *vm);

/* Number of 64-bit words a bitmap for vm's RAM needs. */
uint64_t dirty_bitmap_words(const struct kvm_vm *vm);

/* ORs the pages dirtied since the last sync into bitmap (one bit per 4 KiB
 * page) and re-arms tracking for them.  Sets *ndirty to the number of
 * pages found.  Returns 0 or -errno. */
int dirty_log_sync(struct kvm_vm *vm, uint64_t *bitmap, uint64_t *ndirty);

#endif
