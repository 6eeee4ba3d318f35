/*
 * vCPU threads: one per vCPU, each running KVM_RUN in a loop and handing
 * port I/O and MMIO exits to the VM's buses.  Pause and stop requests reach a thread
 * through a signal whose handler sets kvm_run.immediate_exit (on the
 * thread itself), so a request can never be lost between the flag check
 * and KVM_RUN.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>

#include "base/log.h"
#include "vmm/vm_internal.h"

#define VCPU_KICK_SIGNAL SIGUSR1

static __thread struct kvm_run *this_thread_run;

static void kick_handler(int sig)
{
    (void)sig;
    if (this_thread_run)
        this_thread_run->immediate_exit = 1;
}

void vcpu_install_kick_handler(void)
{
    struct sigaction sa = { .sa_handler = kick_handler };
    sigemptyset(&sa.sa_mask);
    sigaction(VCPU_KICK_SIGNAL, &sa, NULL);
}

void vcpu_kick(struct vcpu *vcpu)
{
    if (vcpu->thread_started)
        pthread_kill(vcpu->thread, VCPU_KICK_SIGNAL);
}

static void handle_io(struct vcpu *vcpu)
{
    struct kvm_run *run = vcpu->run;
    uint8_t *data = (uint8_t *)run + run->io.data_offset;
    bool is_write = run->io.direction == KVM_EXIT_IO_OUT;
    static unsigned warned;

    for (uint32_t i = 0; i < run->io.count; i++, data += run->io.size) {
        if (!pio_bus_access(&vcpu->vm->pio, run->io.port, is_write, data, run->io.size) &&
            warned < 10) {
            warned++;
            LOG_WARN("vcpu", "vcpu=%u unhandled port %s 0x%x size %u", vcpu->index,
                     is_write ? "write" : "read", run->io.port, run->io.size);
        }
    }
}

static void handle_mmio(struct vcpu *vcpu)
{
    struct kvm_run *run = vcpu->run;
    static unsigned warned;
    unsigned len = run->mmio.len <= sizeof run->mmio.data ? run->mmio.len : 0;
    if (len && mmio_bus_access(&vcpu->vm->mmio, run->mmio.phys_addr, run->mmio.is_write,
                               run->mmio.data, len))
        return;
    if (!run->mmio.is_write)
        memset(run->mmio.data, 0xff, sizeof run->mmio.data);
    if (warned < 10) {
        warned++;
        LOG_WARN("vcpu", "vcpu=%u unhandled MMIO %s 0x%llx len %u", vcpu->index,
                 run->mmio.is_write ? "write" : "read", (unsigned long long)run->mmio.phys_addr,
                 run->mmio.len);
    }
}

/* Returns false when the VM must stop because of this exit.  Sets
 * *reenter when KVM must run once more to finish the instruction (port and
 * MMIO exits complete on the next KVM_RUN). */
static bool handle_exit(struct vcpu *vcpu, bool *reenter)
{
    struct kvm_run *run = vcpu->run;
    switch (run->exit_reason) {
    case KVM_EXIT_IO:
        handle_io(vcpu);
        *reenter = true;
        return true;
    case KVM_EXIT_MMIO:
        handle_mmio(vcpu);
        *reenter = true;
        return true;
    case KVM_EXIT_HLT:
    case KVM_EXIT_INTR:
        return true;
    case KVM_EXIT_SHUTDOWN:
        LOG_ERR("vcpu", "vcpu=%u guest shut down (triple fault)", vcpu->index);
        return false;
    case KVM_EXIT_FAIL_ENTRY:
        LOG_ERR("vcpu", "vcpu=%u VM entry failed, hardware reason 0x%llx", vcpu->index,
                (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
        return false;
    case KVM_EXIT_INTERNAL_ERROR:
        LOG_ERR("vcpu", "vcpu=%u KVM internal error, suberror %u", vcpu->index,
                run->internal.suberror);
        return false;
    case KVM_EXIT_SYSTEM_EVENT:
        LOG_INFO("vcpu", "vcpu=%u system event %u", vcpu->index, run->system_event.type);
        return false;
    default:
        LOG_ERR("vcpu", "vcpu=%u unexpected exit reason %u", vcpu->index, run->exit_reason);
        return false;
    }
}

static void *vcpu_thread(void *arg)
{
    struct vcpu *vcpu = arg;
    struct vm *vm = vcpu->vm;
    this_thread_run = vcpu->run;
    bool reenter = false;

    for (;;) {
        /* An I/O exit is finished only by the next KVM_RUN, so a vCPU never
         * parks (or has its state saved) between the two: with
         * immediate_exit set, KVM completes the instruction and returns. */
        bool requested = atomic_load(&vm->stop_requested) || atomic_load(&vm->pause_requested);
        if (requested && reenter) {
            vcpu->run->immediate_exit = 1;
        } else if (atomic_load(&vm->stop_requested)) {
            break;
        } else if (atomic_load(&vm->pause_requested)) {
            vm_vcpu_park(vm);
            continue;
        }
        /* A plain load first: the exchange is a locked instruction, and
         * this runs on every exit. */
        if (atomic_load_explicit(&vcpu->throttle_due, memory_order_relaxed) &&
            atomic_exchange(&vcpu->throttle_due, false))
            vcpu_throttle_sleep(vcpu);
        reenter = false;
        if (ioctl(vcpu->fd, KVM_RUN, 0) < 0) {
            if (errno == EINTR || errno == EAGAIN) {
                vcpu->run->immediate_exit = 0;
                continue;
            }
            LOG_ERR("vcpu", "vcpu=%u KVM_RUN: %s", vcpu->index, strerror(errno));
            vm_stop(vm, VM_EXIT_CODE_DIED);
            break;
        }
        if (!handle_exit(vcpu, &reenter)) {
            vm_stop(vm, VM_EXIT_CODE_DIED);
            break;
        }
    }
    this_thread_run = NULL;
    vm_vcpu_exited(vm);
    return NULL;
}

int vcpu_start(struct vcpu *vcpu)
{
    int rc = pthread_create(&vcpu->thread, NULL, vcpu_thread, vcpu);
    if (rc)
        return -rc;
    vcpu->thread_started = true;
    return 0;
}
