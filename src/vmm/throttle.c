/*
 * vCPU throttling, for auto-converge: a guest that dirties memory faster
 * than a migration carries it is slowed down until the pre-copy passes
 * catch up.
 *
 * The scheme is QEMU's: at a throttle of p percent, a timer thread kicks
 * every vCPU out of KVM_RUN once per cycle, and each vCPU then sleeps
 * THROTTLE_SLICE_MS * p / (100 - p) before it runs its next slice.  So a
 * vCPU runs THROTTLE_SLICE_MS, then sleeps its share, whatever it does.
 * The kick is the same signal a pause uses (vcpu.c), so no request is lost
 * between a check and KVM_RUN.  A vCPU sleeps in short naps and wakes at
 * once for a pause or stop, or when the throttle drops to 0.
 */
#include <errno.h>
#include <time.h>

#include "base/log.h"
#include "vmm/vm_internal.h"

#define THROTTLE_SLICE_MS 10        /* a vCPU runs this long between sleeps */
#define THROTTLE_NAP_MS 2           /* a sleeping vCPU checks its flags this often */

static void sleep_ms(unsigned ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static void *throttle_thread(void *arg)
{
    struct vm *vm = arg;
    while (!atomic_load(&vm->throttle_quit)) {
        unsigned pct = atomic_load(&vm->throttle_pct);
        if (!pct) {
            sleep_ms(THROTTLE_SLICE_MS);
            continue;
        }
        for (uint32_t i = 0; i < vm->ncpus; i++) {
            atomic_store(&vm->vcpus[i].throttle_due, true);
            vcpu_kick(&vm->vcpus[i]);
        }
        /* One cycle: the slice the vCPU runs plus the share it sleeps. */
        sleep_ms(THROTTLE_SLICE_MS * 100 / (100 - pct));
    }
    return NULL;
}

void vcpu_throttle_sleep(struct vcpu *vcpu)
{
    struct vm *vm = vcpu->vm;
    unsigned pct = atomic_load(&vm->throttle_pct);
    if (!pct)
        return;
    unsigned left = THROTTLE_SLICE_MS * pct / (100 - pct);
    while (left && atomic_load(&vm->throttle_pct) && !atomic_load(&vm->pause_requested) &&
           !atomic_load(&vm->stop_requested)) {
        unsigned nap = left < THROTTLE_NAP_MS ? left : THROTTLE_NAP_MS;
        sleep_ms(nap);
        left -= nap;
    }
}

int vm_set_throttle(struct vm *vm, unsigned pct)
{
    if (pct > VM_THROTTLE_MAX)
        pct = VM_THROTTLE_MAX;
    pthread_mutex_lock(&vm->lock);
    int rc = 0;
    if (pct && !vm->throttle_started) {
        rc = -pthread_create(&vm->throttle_thread, NULL, throttle_thread, vm);
        vm->throttle_started = rc == 0;
    }
    unsigned before = atomic_exchange(&vm->throttle_pct, rc ? 0 : pct);
    pthread_mutex_unlock(&vm->lock);
    if (!rc && before != pct)
        LOG_INFO("vm", "vCPU throttle %u%% -> %u%%", before, pct);
    return rc;
}

unsigned vm_get_throttle(struct vm *vm) { return atomic_load(&vm->throttle_pct); }

void vm_throttle_uninit(struct vm *vm)
{
    atomic_store(&vm->throttle_pct, 0);
    if (vm->throttle_started) {
        atomic_store(&vm->throttle_quit, true);
        pthread_join(vm->throttle_thread, NULL);
        vm->throttle_started = false;
    }
}
