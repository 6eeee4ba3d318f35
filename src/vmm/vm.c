/*
 * The VM object: builds a machine from a vm_config and runs its state
 * machine (diagram in vm.h).  vCPU thread bodies live in vcpu.c; the x86
 * boot state in x86/boot.c; devices in dev/; this file wires them together
 * and owns the transitions.  Devices with threads of their own (virtio-net)
 * follow the state through hooks that set_state() calls: they may touch
 * guest RAM only while the VM is RUNNING.
 */
#include "vmm/vm.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "dev/backend/tap.h"
#include "godwit/abi.h"
#include "vmm/bootinfo.h"
#include "vmm/dirty.h"
#include "vmm/elf.h"
#include "vmm/vm_internal.h"
#include "vmm/x86/boot.h"

static uint64_t monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

const char *vm_state_name(enum vm_state state)
{
    switch (state) {
    case VM_CREATED: return "created";
    case VM_RUNNING: return "running";
    case VM_PAUSED: return "paused";
    case VM_STOPPED: return "stopped";
    case VM_INCOMING: return "incoming";
    case VM_FROZEN: return "frozen";
    case VM_MIGRATED: return "migrated";
    }
    return "?";
}

/* The one place the state changes.  Caller holds vm->lock. */
static int set_state(struct vm *vm, enum vm_state from, enum vm_state to, struct gw_error *err)
{
    if (vm->state != from)
        return gw_error_set(err, -EBUSY, "VM is %s, not %s", vm_state_name(vm->state),
                            vm_state_name(from));
    LOG_DEBUG("vm", "state %s -> %s", vm_state_name(from), vm_state_name(to));
    vm->state = to;
    /* Leaving RUNNING: devices stop touching guest RAM before the caller
     * (pause, or a migration about to read RAM) goes on. */
    for (uint32_t i = 0; i < vm->nhooks; i++) {
        if (from == VM_RUNNING && to != VM_RUNNING)
            vm->hooks[i].quiesce(vm->hooks[i].opaque);
        else if (from != VM_RUNNING && to == VM_RUNNING)
            vm->hooks[i].run(vm->hooks[i].opaque);
    }
    pthread_cond_broadcast(&vm->cond);
    return 0;
}

static void on_guest_exit(void *opaque, int code)
{
    struct vm *vm = opaque;
    LOG_INFO("vm", "guest requested exit with code %d", code);
    vm_stop(vm, code);
}

static int load_image(struct vm *vm, struct elf_image *image, struct gw_error *err)
{
    const char *path = vm->config.kernel_path;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return gw_error_set(err, -errno, "cannot open kernel image %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return gw_error_set(err, -EINVAL, "kernel image %s is not a regular file", path);
    }
    if (st.st_size == 0) {
        close(fd);
        return gw_error_set(err, -ENOEXEC, "kernel image %s is empty", path);
    }
    void *file = mmap(NULL, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (file == MAP_FAILED)
        return gw_error_set(err, -errno, "cannot read kernel image %s: %s", path, strerror(errno));

    struct gw_error elf_err = { 0 };
    int rc = elf_load(file, st.st_size, vm->mem.host, vm->mem.bytes, image, &elf_err);
    munmap(file, st.st_size);
    if (rc)
        return gw_error_set(err, rc, "kernel image %s: %s", path, elf_err.msg);
    return 0;
}

static int write_boot_info(struct vm *vm, const struct elf_image *image, uint64_t tsc_khz,
                           struct gw_error *err)
{
    struct gw_device_desc devices[2 + GW_MAX_VIRTIO_DEVICES] = {
        { .type = GW_DEV_CONSOLE_PIO, .base = GW_PORT_CONSOLE, .size = 8 },
        { .type = GW_DEV_EXIT_PIO, .base = GW_PORT_EXIT, .size = 4 },
    };
    uint32_t ndevices = 2;
    for (uint32_t i = 0; i < vm->nnets; i++)
        devices[ndevices++] = (struct gw_device_desc){
            .type = GW_DEV_VIRTIO_MMIO, .irq = GW_VIRTIO_IRQ_BASE + i,
            .base = GW_VIRTIO_MMIO_BASE + i * GW_VIRTIO_MMIO_STRIDE, .size = 0x1000 };
    struct bootinfo_params params = {
        .ram_bytes = vm->mem.bytes,
        .tsc_khz = tsc_khz,
        .image_end = image->load_end,
        .ncpus = vm->ncpus,
        .cmdline = vm->config.cmdline,
        .devices = devices,
        .ndevices = ndevices,
    };
    return bootinfo_build(guest_memory_ptr(&vm->mem, GW_BOOT_INFO_GPA, 4096), &params, err);
}

static void net_mark_dirty(void *opaque, uint64_t gpa, uint64_t len)
{
    vm_mark_dirty(opaque, gpa, len);
}

static void net_run(void *opaque) { virtio_net_run(opaque); }
static void net_quiesce(void *opaque) { virtio_net_quiesce(opaque); }

/* Wires device n's interrupt (irqfd on its GSI) and, if KVM here takes
 * it, its QueueNotify register (ioeventfd: a notify wakes the device's
 * thread without a userspace exit; without it the MMIO exit path does
 * the same, only slower). */
static int wire_net_kvm(struct vm *vm, uint32_t n, struct gw_error *err)
{
    struct virtio_net *dev = vm->nets[n];
    struct kvm_irqfd irqfd = { .fd = (uint32_t)virtio_net_irq_fd(dev),
                               .gsi = GW_VIRTIO_IRQ_BASE + n };
    if (ioctl(vm->kvm.vm_fd, KVM_IRQFD, &irqfd) < 0)
        return gw_error_set(err, -errno, "KVM_IRQFD for virtio-net %u: %s", n, strerror(errno));
    struct kvm_ioeventfd ioev = {
        .addr = GW_VIRTIO_MMIO_BASE + n * GW_VIRTIO_MMIO_STRIDE + VIRTIO_MMIO_QUEUE_NOTIFY,
        .len = 4,
        .fd = virtio_net_kick_fd(dev),
    };
    if (ioctl(vm->kvm.vm_fd, KVM_IOEVENTFD, &ioev) < 0)
        LOG_WARN("vm", "net%u: KVM_IOEVENTFD failed (%s): queue notifications take MMIO exits",
                 n, strerror(errno));
    return 0;
}

static int create_net(struct vm *vm, uint32_t n, struct gw_error *err)
{
    const struct vm_net_config *nc = &vm->config.nets[n];
    char name[IF_NAMESIZE] = "";
    int fd = nc->tap ? tap_open(nc->tap, err) : nc->fd;
    if (fd < 0)
        return fd;
    if (!nc->tap) {
        int rc = tap_adopt_fd(fd, err);
        if (rc)
            return rc;
        tap_ifname(fd, name);
    }
    struct virtio_net_params params = {
        .index = n,
        .tap_fd = fd,
        .tap_name = nc->tap ? nc->tap : name,
        .mmio_base = GW_VIRTIO_MMIO_BASE + n * GW_VIRTIO_MMIO_STRIDE,
        .mem = &vm->mem,
        .mark_dirty = net_mark_dirty,
        .dirty_opaque = vm,
        .hold_early_frames = vm->config.incoming,
    };
    memcpy(params.mac, nc->mac, 6);
    vm->nets[n] = virtio_net_create(&params, err);
    if (!vm->nets[n]) {
        if (nc->tap)
            close(fd);
        return err->code;
    }
    vm->nnets = n + 1;
    int rc = mmio_bus_add(&vm->mmio, virtio_net_mmio(vm->nets[n]));
    if (rc)
        return gw_error_set(err, rc, "cannot map virtio-net %u: %s", n, strerror(-rc));
    vm->hooks[vm->nhooks++] = (struct vm_device_hooks){
        .run = net_run, .quiesce = net_quiesce, .opaque = vm->nets[n] };
    char mac[18];
    virtio_net_format_mac(nc->mac, mac);
    LOG_INFO("vm", "net%u: virtio-net mac=%s tap=%s mmio=0x%llx irq=%u", n, mac,
             params.tap_name, (unsigned long long)params.mmio_base, GW_VIRTIO_IRQ_BASE + n);
    return wire_net_kvm(vm, n, err);
}

static int create_devices(struct vm *vm, struct gw_error *err)
{
    serial_init(&vm->serial, GW_PORT_CONSOLE, vm->config.console_fd);
    exitdev_init(&vm->exitdev, GW_PORT_EXIT, on_guest_exit, vm);
    int rc = pio_bus_add(&vm->pio, &vm->serial.pio);
    if (!rc)
        rc = pio_bus_add(&vm->pio, &vm->exitdev.pio);
    if (rc)
        return gw_error_set(err, rc, "cannot register devices: %s", strerror(-rc));
    if (vm->config.nnets > GW_MAX_VIRTIO_DEVICES)
        return gw_error_set(err, -EINVAL, "%u network devices is more than %d",
                            vm->config.nnets, GW_MAX_VIRTIO_DEVICES);
    for (uint32_t n = 0; n < vm->config.nnets; n++) {
        rc = create_net(vm, n, err);
        if (rc)
            return rc;
    }
    return 0;
}

static int create_vcpus(struct vm *vm, uint64_t entry, uint64_t *tsc_khz, struct gw_error *err)
{
    vm->vcpus = calloc(vm->ncpus, sizeof *vm->vcpus);
    if (!vm->vcpus)
        return gw_error_set(err, -ENOMEM, "out of memory for vCPUs");
    for (uint32_t i = 0; i < vm->ncpus; i++)
        vm->vcpus[i] = (struct vcpu){ .vm = vm, .index = i, .fd = -1 };
    for (uint32_t i = 0; i < vm->ncpus; i++) {
        struct vcpu *vcpu = &vm->vcpus[i];
        int rc = kvm_vm_create_vcpu(&vm->kvm, i, &vcpu->fd, &vcpu->run, err);
        if (!rc)
            rc = x86_boot_setup_vcpu(vm->kvm.kvm_fd, vcpu->fd, i, entry, err);
        if (rc)
            return rc;
    }
    *tsc_khz = kvm_vcpu_tsc_khz(vm->vcpus[0].fd);
    return 0;
}

struct vm *vm_create(const struct vm_config *config, struct gw_error *err)
{
    if (config->ncpus == 0 || config->ncpus > GW_MAX_VCPUS) {
        gw_error_set(err, -EINVAL, "vCPU count %u is outside 1..%d", config->ncpus, GW_MAX_VCPUS);
        return NULL;
    }
    struct vm *vm = calloc(1, sizeof *vm);
    if (!vm) {
        gw_error_set(err, -ENOMEM, "out of memory");
        return NULL;
    }
    vm->config = *config;
    vm->ncpus = config->ncpus;
    vm->mem.memfd = -1;
    vm->kvm.kvm_fd = vm->kvm.vm_fd = -1;
    vm->state = config->incoming ? VM_INCOMING : VM_CREATED;
    pthread_mutex_init(&vm->lock, NULL);
    pthread_cond_init(&vm->cond, NULL);
    vm->stopped_eventfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

    /* An incoming VM gets everything from the migration stream: its RAM
     * must stay zero, because the sender skips pages that are zero. */
    struct elf_image image = { 0 };
    uint64_t tsc_khz = 0;
    int rc = kvm_vm_open(&vm->kvm, err);
    if (!rc)
        rc = guest_memory_init(&vm->mem, config->memory_bytes, err);
    if (!rc && !config->incoming)
        rc = load_image(vm, &image, err);
    if (!rc && (rc = kvm_vm_set_memory(&vm->kvm, &vm->mem, 0)))
        gw_error_set(err, rc, "cannot give guest RAM to KVM: %s", strerror(-rc));
    if (!rc)
        rc = create_devices(vm, err);
    if (!rc)
        rc = create_vcpus(vm, image.entry, &tsc_khz, err);
    if (!rc && !config->incoming) {
        x86_boot_write_tables(vm->mem.host);
        rc = write_boot_info(vm, &image, tsc_khz, err);
    }
    if (rc) {
        vm_destroy(vm);
        return NULL;
    }
    vcpu_install_kick_handler();
    return vm;
}

int vm_start(struct vm *vm, bool paused, struct gw_error *err)
{
    pthread_mutex_lock(&vm->lock);
    int rc = set_state(vm, vm->state == VM_INCOMING ? VM_INCOMING : VM_CREATED,
                       paused ? VM_PAUSED : VM_RUNNING, err);
    if (!rc)
        vm->started_ns = monotonic_ns();
    /* Paused: the threads park before their first KVM_RUN. */
    atomic_store(&vm->pause_requested, paused);
    pthread_mutex_unlock(&vm->lock);
    if (rc)
        return rc;

    for (uint32_t i = 0; i < vm->ncpus; i++) {
        rc = vcpu_start(&vm->vcpus[i]);
        if (rc) {
            LOG_ERR("vm", "cannot start vCPU thread %u: %s", i, strerror(-rc));
            vm_stop(vm, VM_EXIT_CODE_DIED);
            /* threads never started count as exited */
            pthread_mutex_lock(&vm->lock);
            vm->nexited += vm->ncpus - i - 1;
            pthread_mutex_unlock(&vm->lock);
            vm_vcpu_exited(vm);
            return gw_error_set(err, rc, "cannot start vCPU thread %u", i);
        }
    }
    if (paused) {       /* PAUSED promises every thread is parked */
        pthread_mutex_lock(&vm->lock);
        while (vm->nparked + vm->nexited < vm->ncpus)
            pthread_cond_wait(&vm->cond, &vm->lock);
        pthread_mutex_unlock(&vm->lock);
    }
    return 0;
}

bool vm_frozen_from_paused(struct vm *vm)
{
    pthread_mutex_lock(&vm->lock);
    bool paused = vm->state == VM_FROZEN && vm->thaw_to == VM_PAUSED;
    pthread_mutex_unlock(&vm->lock);
    return paused;
}

/* Parks every vCPU thread outside KVM_RUN.  Caller holds vm->lock.
 * Returns 0, or -EBUSY if the VM stopped meanwhile. */
static int park_vcpus(struct vm *vm)
{
    atomic_store(&vm->pause_requested, true);
    for (uint32_t i = 0; i < vm->ncpus; i++)
        vcpu_kick(&vm->vcpus[i]);
    while (vm->nparked + vm->nexited < vm->ncpus)
        pthread_cond_wait(&vm->cond, &vm->lock);
    return vm->nexited ? -EBUSY : 0;
}

/* Lets parked vCPU threads run again.  Caller holds vm->lock. */
static void unpark_vcpus(struct vm *vm)
{
    atomic_store(&vm->pause_requested, false);
    pthread_cond_broadcast(&vm->cond);
}

int vm_pause(struct vm *vm, struct gw_error *err)
{
    pthread_mutex_lock(&vm->lock);
    int rc = vm->state == VM_RUNNING ? 0
             : gw_error_set(err, -EBUSY, "VM is %s, not running", vm_state_name(vm->state));
    if (!rc && park_vcpus(vm))
        rc = gw_error_set(err, -EBUSY, "VM stopped while pausing");
    if (!rc)
        rc = set_state(vm, VM_RUNNING, VM_PAUSED, err);
    pthread_mutex_unlock(&vm->lock);
    return rc;
}

int vm_resume(struct vm *vm, struct gw_error *err)
{
    pthread_mutex_lock(&vm->lock);
    int rc = set_state(vm, VM_PAUSED, VM_RUNNING, err);
    if (!rc)
        unpark_vcpus(vm);
    pthread_mutex_unlock(&vm->lock);
    return rc;
}

int vm_freeze(struct vm *vm, struct gw_error *err)
{
    pthread_mutex_lock(&vm->lock);
    enum vm_state from = vm->state;
    int rc = 0;
    if (from != VM_RUNNING && from != VM_PAUSED)
        rc = gw_error_set(err, -EBUSY, "VM is %s, not running or paused", vm_state_name(from));
    if (!rc && from == VM_RUNNING && park_vcpus(vm))
        rc = gw_error_set(err, -EBUSY, "VM stopped while freezing");
    if (!rc) {
        vm->thaw_to = from;
        rc = set_state(vm, from, VM_FROZEN, err);
    }
    pthread_mutex_unlock(&vm->lock);
    return rc;
}

int vm_thaw(struct vm *vm, struct gw_error *err)
{
    pthread_mutex_lock(&vm->lock);
    int rc = set_state(vm, VM_FROZEN, vm->thaw_to, err);
    if (!rc && vm->thaw_to == VM_RUNNING)
        unpark_vcpus(vm);
    pthread_mutex_unlock(&vm->lock);
    return rc;
}

int vm_mark_migrated(struct vm *vm, struct gw_error *err)
{
    pthread_mutex_lock(&vm->lock);
    int rc = set_state(vm, VM_FROZEN, VM_MIGRATED, err);
    pthread_mutex_unlock(&vm->lock);
    return rc;
}

void vm_vcpu_park(struct vm *vm)
{
    pthread_mutex_lock(&vm->lock);
    vm->nparked++;
    pthread_cond_broadcast(&vm->cond);
    while (atomic_load(&vm->pause_requested) && !atomic_load(&vm->stop_requested))
        pthread_cond_wait(&vm->cond, &vm->lock);
    vm->nparked--;
    pthread_mutex_unlock(&vm->lock);
}

void vm_stop(struct vm *vm, int exit_code)
{
    pthread_mutex_lock(&vm->lock);
    if (!vm->exit_code_set) {
        vm->exit_code = exit_code;
        vm->exit_code_set = true;
    }
    atomic_store(&vm->stop_requested, true);
    pthread_cond_broadcast(&vm->cond);
    enum vm_state before = vm->state;
    bool never_started = before == VM_CREATED || before == VM_INCOMING;
    pthread_mutex_unlock(&vm->lock);

    for (uint32_t i = 0; i < vm->ncpus; i++)
        vcpu_kick(&vm->vcpus[i]);
    if (never_started) {
        pthread_mutex_lock(&vm->lock);
        set_state(vm, before, VM_STOPPED, NULL);
        pthread_mutex_unlock(&vm->lock);
        uint64_t one = 1;
        ssize_t ignored = write(vm->stopped_eventfd, &one, sizeof one);
        (void)ignored;
    }
}

void vm_vcpu_exited(struct vm *vm)
{
    pthread_mutex_lock(&vm->lock);
    vm->nexited++;
    pthread_cond_broadcast(&vm->cond);
    bool last = vm->nexited == vm->ncpus;
    if (last)
        set_state(vm, vm->state, VM_STOPPED, NULL);
    pthread_mutex_unlock(&vm->lock);
    if (last) {
        uint64_t one = 1;
        ssize_t ignored = write(vm->stopped_eventfd, &one, sizeof one);
        (void)ignored;
    }
}

int vm_stopped_fd(const struct vm *vm) { return vm->stopped_eventfd; }

struct kvm_vm *vm_kvm(struct vm *vm) { return &vm->kvm; }
const struct guest_memory *vm_memory(const struct vm *vm) { return &vm->mem; }
uint32_t vm_ncpus(const struct vm *vm) { return vm->ncpus; }
int vm_vcpu_fd(const struct vm *vm, uint32_t index) { return vm->vcpus[index].fd; }

enum vm_state vm_get_state(struct vm *vm)
{
    pthread_mutex_lock(&vm->lock);
    enum vm_state state = vm->state;
    pthread_mutex_unlock(&vm->lock);
    return state;
}

void vm_get_status(struct vm *vm, struct vm_status *status)
{
    pthread_mutex_lock(&vm->lock);
    *status = (struct vm_status){
        .state = vm->state,
        .ncpus = vm->ncpus,
        .memory_bytes = vm->config.memory_bytes,
        .uptime_ms = vm->started_ns ? (monotonic_ns() - vm->started_ns) / 1000000 : 0,
        .exit_code = vm->exit_code,
    };
    pthread_mutex_unlock(&vm->lock);
}

void vm_destroy(struct vm *vm)
{
    if (!vm)
        return;
    if (vm->vcpus) {
        vm_stop(vm, 0);
        vm_throttle_uninit(vm);     /* it kicks vCPU threads: it goes first */
        for (uint32_t i = 0; i < vm->ncpus; i++) {
            struct vcpu *vcpu = &vm->vcpus[i];
            if (vcpu->thread_started)
                pthread_join(vcpu->thread, NULL);
            if (vcpu->run)
                munmap(vcpu->run, vm->kvm.run_mmap_bytes);
            if (vcpu->fd >= 0)
                close(vcpu->fd);
        }
        free(vm->vcpus);
    }
    /* After the vCPUs (they may be in an MMIO handler), before RAM goes. */
    for (uint32_t i = 0; i < vm->nnets; i++)
        virtio_net_destroy(vm->nets[i]);
    if (vm->serial.pio.write)
        serial_uninit(&vm->serial);
    kvm_vm_close(&vm->kvm);
    guest_memory_uninit(&vm->mem);
    free((void *)vm->vmm_dirty);
    if (vm->stopped_eventfd >= 0)
        close(vm->stopped_eventfd);
    pthread_mutex_destroy(&vm->lock);
    pthread_cond_destroy(&vm->cond);
    free(vm);
}

int vm_get_vcpu_regs(struct vm *vm, uint32_t index, struct vm_vcpu_regs *out)
{
    if (index >= vm->ncpus)
        return -EINVAL;
    pthread_mutex_lock(&vm->lock);
    bool paused = vm->state == VM_PAUSED;
    pthread_mutex_unlock(&vm->lock);
    if (!paused)
        return -EBUSY;

    struct kvm_regs regs;
    struct kvm_sregs sregs;
    int fd = vm->vcpus[index].fd;
    if (ioctl(fd, KVM_GET_REGS, &regs) < 0 || ioctl(fd, KVM_GET_SREGS, &sregs) < 0)
        return -errno;
    *out = (struct vm_vcpu_regs){
        .rip = regs.rip, .rsp = regs.rsp, .rflags = regs.rflags, .rax = regs.rax,
        .cr0 = sregs.cr0, .cr2 = sregs.cr2, .cr3 = sregs.cr3, .cr4 = sregs.cr4,
        .efer = sregs.efer, .cs = sregs.cs.selector,
    };
    return 0;
}

int vm_write_guest(struct vm *vm, uint64_t gpa, const void *data, uint64_t len)
{
    void *dst = guest_memory_ptr(&vm->mem, gpa, len);
    if (!dst)
        return -EFAULT;
    memcpy(dst, data, len);
    vm_mark_dirty(vm, gpa, len);
    return 0;
}

void vm_mark_dirty(struct vm *vm, uint64_t gpa, uint64_t len)
{
    /* Called after the write: a sync that races with us re-sends the page
     * in the next pass at worst, never misses it. */
    if (!len || !atomic_load(&vm->vmm_dirty_on) || !guest_memory_ptr(&vm->mem, gpa, len))
        return;
    for (uint64_t pfn = gpa / GW_PAGE_SIZE; pfn <= (gpa + len - 1) / GW_PAGE_SIZE; pfn++)
        atomic_fetch_or(&vm->vmm_dirty[pfn / 64], 1ULL << (pfn % 64));
}

uint32_t vm_net_count(const struct vm *vm) { return vm->nnets; }

struct virtio_net *vm_net(const struct vm *vm, uint32_t index)
{
    return index < vm->nnets ? vm->nets[index] : NULL;
}

uint64_t vm_dirty_bitmap_words(const struct vm *vm) { return dirty_bitmap_words(&vm->kvm); }

int vm_dirty_start(struct vm *vm)
{
    if (!vm->vmm_dirty) {
        vm->vmm_dirty = calloc(vm_dirty_bitmap_words(vm), sizeof *vm->vmm_dirty);
        if (!vm->vmm_dirty)
            return -ENOMEM;
    }
    int rc = dirty_log_start(&vm->kvm);
    if (!rc)
        atomic_store(&vm->vmm_dirty_on, true);
    return rc;
}

void vm_dirty_stop(struct vm *vm)
{
    atomic_store(&vm->vmm_dirty_on, false);
    dirty_log_stop(&vm->kvm);
}

int vm_dirty_sync(struct vm *vm, uint64_t *bitmap, uint64_t *ndirty)
{
    uint64_t from_kvm = 0;
    int rc = dirty_log_sync(&vm->kvm, bitmap, &from_kvm);
    if (rc)
        return rc;
    /* Count the union: pages both KVM and the VMM dirtied count once. */
    uint64_t words = vm_dirty_bitmap_words(vm), total = 0;
    for (uint64_t w = 0; w < words; w++) {
        if (vm->vmm_dirty && atomic_load_explicit(&vm->vmm_dirty[w], memory_order_relaxed))
            bitmap[w] |= atomic_exchange(&vm->vmm_dirty[w], 0);
        total += __builtin_popcountll(bitmap[w]);
    }
    *ndirty = total;
    return 0;
}
