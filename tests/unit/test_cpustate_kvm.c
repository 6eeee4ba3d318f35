/*
 * KVM tests for vmm/x86/cpustate.h: state saved from one VM, sent through
 * encode and decode, and loaded into a second, fresh VM reads back the
 * same from the second VM -- for a vCPU whose registers, MSRs, LAPIC
 * (x2APIC mode, TPR, TSC-deadline timer), XCR0, SSE state, NMI masking
 * and debug registers were changed away from their reset values, and for
 * the VM's PIC, IOAPIC, PIT and kvmclock.  Load's errors name the step or
 * the MSR that KVM refused.
 *
 * Needs /dev/kvm; where it cannot be opened every test is skipped and the
 * executable still passes.  No guest code runs.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "godwit/abi.h"
#include "vmm/kvm.h"
#include "vmm/memory.h"
#include "vmm/x86/boot.h"
#include "vmm/x86/cpustate.h"

#define TEST_RAM_BYTES (64ULL << 20)

#define MSR_IA32_TSC        0x10
#define MSR_IA32_PAT        0x277
#define MSR_LSTAR           0xc0000082
#define MSR_STAR            0xc0000081
#define MSR_KERNEL_GS_BASE  0xc0000102
#define MSR_SYSENTER_EIP    0x176
#define MSR_TSC_DEADLINE    0x6e0

#define APIC_TPR    0x80
#define APIC_SVR    0xf0
#define APIC_LVTT   0x320
#define APIC_TMCCT  0x390
#define LVT_TIMER_TSC_DEADLINE (2u << 17)
#define APIC_BASE_X2APIC (1ULL << 10)

struct test_vm {
    struct kvm_vm vm;
    struct guest_memory mem;
    int vcpu_fd;
    struct kvm_run *run;
};

static void skip_without_kvm(void)
{
    int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (fd < 0)
        skip();
    close(fd);
}

/* A VM with RAM, boot tables and vCPU 0 in its long-mode boot state. */
static void test_vm_open(struct test_vm *t)
{
    struct gw_error err = { 0 };
    if (kvm_vm_open(&t->vm, &err))
        fail_msg("kvm_vm_open: %s", err.msg);
    if (guest_memory_init(&t->mem, TEST_RAM_BYTES, &err))
        fail_msg("guest_memory_init: %s", err.msg);
    x86_boot_write_tables(t->mem.host);
    assert_int_equal(kvm_vm_set_memory(&t->vm, &t->mem, 0), 0);
    if (kvm_vm_create_vcpu(&t->vm, 0, &t->vcpu_fd, &t->run, &err))
        fail_msg("kvm_vm_create_vcpu: %s", err.msg);
    if (x86_boot_setup_vcpu(t->vm.kvm_fd, t->vcpu_fd, 0, GW_GUEST_LOAD_MIN, &err))
        fail_msg("x86_boot_setup_vcpu: %s", err.msg);
}

static void test_vm_close(struct test_vm *t)
{
    munmap(t->run, t->vm.run_mmap_bytes);
    close(t->vcpu_fd);
    kvm_vm_close(&t->vm);
    guest_memory_uninit(&t->mem);
}

static uint32_t lapic_reg(const struct kvm_lapic_state *l, unsigned off)
{
    uint32_t v;
    memcpy(&v, l->regs + off, 4);
    return v;
}

static void set_lapic_reg(struct kvm_lapic_state *l, unsigned off, uint32_t v)
{
    memcpy(l->regs + off, &v, 4);
}

static void set_msr(int vcpu_fd, uint32_t index, uint64_t value)
{
    struct kvm_msrs *m = calloc(1, sizeof *m + sizeof m->entries[0]);
    assert_non_null(m);
    m->nmsrs = 1;
    m->entries[0].index = index;
    m->entries[0].data = value;
    if (ioctl(vcpu_fd, KVM_SET_MSRS, m) != 1)
        fail_msg("KVM_SET_MSRS 0x%x = 0x%llx refused", index, (unsigned long long)value);
    free(m);
}

static const uint64_t *saved_msr(const struct x86_vcpu_state *s, uint32_t index)
{
    for (uint32_t i = 0; i < s->nmsrs; i++)
        if (s->msrs[i].index == index)
            return &s->msrs[i].value;
    return NULL;
}

/* Moves vCPU state away from what a fresh vCPU has, through KVM itself. */
static void scribble_vcpu(int vcpu_fd)
{
    struct kvm_regs regs;
    assert_int_equal(ioctl(vcpu_fd, KVM_GET_REGS, &regs), 0);
    regs.rax = 0x1122334455667788ULL;
    regs.r15 = 0xfeedfacecafebeefULL;
    regs.rflags = 0x202;
    assert_int_equal(ioctl(vcpu_fd, KVM_SET_REGS, &regs), 0);

    struct kvm_sregs sregs;                 /* x2APIC mode, as Linux guests run */
    assert_int_equal(ioctl(vcpu_fd, KVM_GET_SREGS, &sregs), 0);
    sregs.apic_base |= APIC_BASE_X2APIC;
    assert_int_equal(ioctl(vcpu_fd, KVM_SET_SREGS, &sregs), 0);

    struct kvm_xcrs xcrs;
    assert_int_equal(ioctl(vcpu_fd, KVM_GET_XCRS, &xcrs), 0);
    if (xcrs.nr_xcrs == 1) {
        xcrs.xcrs[0].value = 0x7;           /* x87 | SSE | AVX */
        assert_int_equal(ioctl(vcpu_fd, KVM_SET_XCRS, &xcrs), 0);
    }

    struct kvm_xsave xsave;
    assert_int_equal(ioctl(vcpu_fd, KVM_GET_XSAVE, &xsave), 0);
    uint8_t *x = (uint8_t *)xsave.region;
    for (int i = 0; i < 16; i++)
        x[160 + i] = (uint8_t)(0xa0 + i);   /* XMM0 */
    uint64_t xstate_bv;
    memcpy(&xstate_bv, x + 512, 8);
    xstate_bv |= 0x3;                       /* x87 and SSE state present */
    memcpy(x + 512, &xstate_bv, 8);
    assert_int_equal(ioctl(vcpu_fd, KVM_SET_XSAVE, &xsave), 0);

    struct kvm_lapic_state lapic;
    assert_int_equal(ioctl(vcpu_fd, KVM_GET_LAPIC, &lapic), 0);
    set_lapic_reg(&lapic, APIC_SVR, 0x1ff);
    set_lapic_reg(&lapic, APIC_TPR, 0x20);
    set_lapic_reg(&lapic, APIC_LVTT, LVT_TIMER_TSC_DEADLINE | 0xec);
    assert_int_equal(ioctl(vcpu_fd, KVM_SET_LAPIC, &lapic), 0);

    set_msr(vcpu_fd, MSR_IA32_TSC, 1ULL << 40);
    set_msr(vcpu_fd, MSR_LSTAR, 0xffffffff81234560ULL);
    set_msr(vcpu_fd, MSR_STAR, 0x0023001000000000ULL);
    set_msr(vcpu_fd, MSR_KERNEL_GS_BASE, 0xffff888012345000ULL);
    set_msr(vcpu_fd, MSR_SYSENTER_EIP, 0xffffffff81001000ULL);
    set_msr(vcpu_fd, MSR_IA32_PAT, 0x0007010600070106ULL);
    set_msr(vcpu_fd, MSR_TSC_DEADLINE, (1ULL << 40) + (1ULL << 36));

    struct kvm_vcpu_events events;          /* inside an NMI handler */
    assert_int_equal(ioctl(vcpu_fd, KVM_GET_VCPU_EVENTS, &events), 0);
    events.nmi.masked = 1;
    assert_int_equal(ioctl(vcpu_fd, KVM_SET_VCPU_EVENTS, &events), 0);

    struct kvm_debugregs dr;
    assert_int_equal(ioctl(vcpu_fd, KVM_GET_DEBUGREGS, &dr), 0);
    dr.db[0] = 0x400000;
    dr.dr7 = 0x401;
    assert_int_equal(ioctl(vcpu_fd, KVM_SET_DEBUGREGS, &dr), 0);
}

static void save_vcpu(struct test_vm *t, struct x86_vcpu_state *s)
{
    struct gw_error err = { 0 };
    if (x86_vcpu_state_save(t->vm.kvm_fd, t->vcpu_fd, s, &err))
        fail_msg("x86_vcpu_state_save: %s", err.msg);
}

/* encode -> decode, as the migration stream would carry it. */
static void send_vcpu(const struct x86_vcpu_state *from, struct x86_vcpu_state *to)
{
    struct wbuf w;
    wbuf_init(&w);
    x86_vcpu_state_encode(from, &w);
    assert_int_equal(w.err, 0);
    struct rbuf r;
    rbuf_init(&r, w.data, w.len);
    struct gw_error err = { 0 };
    if (x86_vcpu_state_decode(&r, to, &err))
        fail_msg("x86_vcpu_state_decode: %s", err.msg);
    wbuf_uninit(&w);
}

static void test_vcpu_state_survives_migration_to_fresh_vm(void **state)
{
    (void)state;
    skip_without_kvm();
    struct test_vm src, dst;
    test_vm_open(&src);
    test_vm_open(&dst);
    scribble_vcpu(src.vcpu_fd);

    struct x86_vcpu_state a, wire, b;
    x86_vcpu_state_init(&a);
    x86_vcpu_state_init(&wire);
    x86_vcpu_state_init(&b);
    save_vcpu(&src, &a);
    send_vcpu(&a, &wire);
    struct gw_error err = { 0 };
    if (x86_vcpu_state_load(dst.vcpu_fd, &wire, &err))
        fail_msg("x86_vcpu_state_load: %s", err.msg);
    save_vcpu(&dst, &b);

    /* The scribbles really were in the saved state... */
    assert_int_equal(a.regs.rax, 0x1122334455667788ULL);
    assert_int_equal(lapic_reg(&a.lapic, APIC_TPR), 0x20);
    assert_true(a.sregs.apic_base & APIC_BASE_X2APIC);
    assert_int_equal(a.events.nmi.masked, 1);
    assert_non_null(saved_msr(&a, MSR_LSTAR));
    assert_int_equal(*saved_msr(&a, MSR_LSTAR), 0xffffffff81234560ULL);
    assert_int_equal(*saved_msr(&a, MSR_TSC_DEADLINE), (1ULL << 40) + (1ULL << 36));

    /* ...and the destination reads back the same. */
    assert_memory_equal(&a.regs, &b.regs, sizeof a.regs);
    assert_memory_equal(&a.sregs, &b.sregs, sizeof a.sregs);
    assert_int_equal(a.xsave_bytes, b.xsave_bytes);
    assert_memory_equal(a.xsave, b.xsave, a.xsave_bytes);
    assert_memory_equal(&a.xcrs, &b.xcrs, sizeof a.xcrs);
    assert_memory_equal(&a.lapic, &b.lapic, sizeof a.lapic);
    assert_memory_equal(&a.events, &b.events, sizeof a.events);
    assert_int_equal(a.mp_state.mp_state, b.mp_state.mp_state);
    assert_memory_equal(&a.debugregs, &b.debugregs, sizeof a.debugregs);

    /* Every MSR equal, but the TSC, which ran on for the few
     * milliseconds between load and the second save (allow 2 s). */
    assert_int_equal(a.nmsrs, b.nmsrs);
    uint64_t tsc_hz = kvm_vcpu_tsc_khz(dst.vcpu_fd) * 1000;
    if (!tsc_hz)
        tsc_hz = 5000000000ULL;
    for (uint32_t i = 0; i < a.nmsrs; i++) {
        assert_int_equal(a.msrs[i].index, b.msrs[i].index);
        if (a.msrs[i].index == MSR_IA32_TSC) {
            int64_t ran = (int64_t)(b.msrs[i].value - a.msrs[i].value);
            if (ran < 0 || (uint64_t)ran > 2 * tsc_hz)
                fail_msg("TSC moved by %lld cycles across the migration", (long long)ran);
        } else if (a.msrs[i].value != b.msrs[i].value) {
            fail_msg("MSR %s (0x%x): saved 0x%llx, loaded back 0x%llx",
                     x86_msr_name(a.msrs[i].index), a.msrs[i].index,
                     (unsigned long long)a.msrs[i].value, (unsigned long long)b.msrs[i].value);
        }
    }

    x86_vcpu_state_uninit(&a);
    x86_vcpu_state_uninit(&wire);
    x86_vcpu_state_uninit(&b);
    test_vm_close(&src);
    test_vm_close(&dst);
}

static void test_save_keeps_only_msrs_kvm_lists(void **state)
{
    (void)state;
    skip_without_kvm();
    struct test_vm t;
    test_vm_open(&t);
    struct kvm_msr_list *list = calloc(1, sizeof *list + 4096 * sizeof(uint32_t));
    assert_non_null(list);
    list->nmsrs = 4096;
    assert_int_equal(ioctl(t.vm.kvm_fd, KVM_GET_MSR_INDEX_LIST, list), 0);

    struct x86_vcpu_state s;
    x86_vcpu_state_init(&s);
    save_vcpu(&t, &s);
    unsigned expect = 0;
    for (unsigned i = 0; i < x86_saved_msr_count; i++) {
        int listed = 0;
        for (uint32_t j = 0; j < list->nmsrs; j++)
            listed |= list->indices[j] == x86_saved_msr_list[i];
        if (!listed) {
            assert_null(saved_msr(&s, x86_saved_msr_list[i]));
            continue;
        }
        /* Saved, and in the list's order (the order load needs). */
        assert_true(expect < s.nmsrs);
        assert_int_equal(s.msrs[expect].index, x86_saved_msr_list[i]);
        expect++;
    }
    assert_int_equal(s.nmsrs, expect);
    assert_non_null(saved_msr(&s, MSR_IA32_TSC));
    assert_non_null(saved_msr(&s, MSR_LSTAR));

    x86_vcpu_state_uninit(&s);
    free(list);
    test_vm_close(&t);
}

static void test_load_names_the_msr_kvm_refuses(void **state)
{
    (void)state;
    skip_without_kvm();
    struct test_vm src, dst;
    test_vm_open(&src);
    test_vm_open(&dst);
    struct x86_vcpu_state s;
    x86_vcpu_state_init(&s);
    save_vcpu(&src, &s);

    /* KVM refuses a non-canonical syscall entry point even from the host.
     * (PVM's KVM takes any PAT, reserved memory types included, so the
     * classic "bad PAT" probe does not work here.) */
    uint64_t *lstar = (uint64_t *)saved_msr(&s, MSR_LSTAR);
    assert_non_null(lstar);
    *lstar = 0x8000000000000000ULL;
    struct gw_error err = { 0 };
    assert_int_equal(x86_vcpu_state_load(dst.vcpu_fd, &s, &err), -EINVAL);
    if (!strstr(err.msg, "LSTAR (0xc0000082) = 0x8000000000000000"))
        fail_msg("message '%s' does not name LSTAR", err.msg);

    x86_vcpu_state_uninit(&s);
    test_vm_close(&src);
    test_vm_close(&dst);
}

static void test_load_rejects_xsave_features_the_vcpu_lacks(void **state)
{
    (void)state;
    skip_without_kvm();
    struct test_vm src, dst;
    test_vm_open(&src);
    test_vm_open(&dst);
    struct x86_vcpu_state s;
    x86_vcpu_state_init(&s);
    save_vcpu(&src, &s);

    uint8_t *x = (uint8_t *)s.xsave;
    uint64_t xstate_bv;
    memcpy(&xstate_bv, x + 512, 8);
    xstate_bv |= 1ULL << 62;                /* no such state component */
    memcpy(x + 512, &xstate_bv, 8);
    struct gw_error err = { 0 };
    assert_int_equal(x86_vcpu_state_load(dst.vcpu_fd, &s, &err), -EINVAL);
    if (!strstr(err.msg, "KVM_SET_XSAVE"))
        fail_msg("message '%s' does not name KVM_SET_XSAVE", err.msg);

    x86_vcpu_state_uninit(&s);
    test_vm_close(&src);
    test_vm_close(&dst);
}

static void scribble_vm(int vm_fd)
{
    struct kvm_irqchip chip = { .chip_id = KVM_IRQCHIP_PIC_MASTER };
    assert_int_equal(ioctl(vm_fd, KVM_GET_IRQCHIP, &chip), 0);
    chip.chip.pic.imr = 0xfb;
    chip.chip.pic.irq_base = 0x20;
    assert_int_equal(ioctl(vm_fd, KVM_SET_IRQCHIP, &chip), 0);

    chip = (struct kvm_irqchip){ .chip_id = KVM_IRQCHIP_IOAPIC };
    assert_int_equal(ioctl(vm_fd, KVM_GET_IRQCHIP, &chip), 0);
    chip.chip.ioapic.redirtbl[4].fields.vector = 0x24;
    chip.chip.ioapic.redirtbl[4].fields.mask = 0;
    chip.chip.ioapic.redirtbl[4].fields.dest_id = 0;
    assert_int_equal(ioctl(vm_fd, KVM_SET_IRQCHIP, &chip), 0);

    struct kvm_pit_state2 pit;
    assert_int_equal(ioctl(vm_fd, KVM_GET_PIT2, &pit), 0);
    pit.channels[2].count = 0x1234;
    pit.channels[2].mode = 0;
    pit.channels[2].rw_mode = 3;
    assert_int_equal(ioctl(vm_fd, KVM_SET_PIT2, &pit), 0);

    struct kvm_clock_data clock = { .clock = 5000000000ULL };    /* 5 s of guest time */
    assert_int_equal(ioctl(vm_fd, KVM_SET_CLOCK, &clock), 0);
}

static void test_vm_state_survives_migration_to_fresh_vm(void **state)
{
    (void)state;
    skip_without_kvm();
    struct test_vm src, dst;
    test_vm_open(&src);
    test_vm_open(&dst);
    scribble_vm(src.vm.vm_fd);

    struct x86_vm_state a, wire, b;
    struct gw_error err = { 0 };
    if (x86_vm_state_save(src.vm.vm_fd, &a, &err))
        fail_msg("x86_vm_state_save: %s", err.msg);
    struct wbuf w;
    wbuf_init(&w);
    x86_vm_state_encode(&a, &w);
    struct rbuf r;
    rbuf_init(&r, w.data, w.len);
    if (x86_vm_state_decode(&r, &wire, &err))
        fail_msg("x86_vm_state_decode: %s", err.msg);
    wbuf_uninit(&w);
    if (x86_vm_state_load(dst.vm.vm_fd, &wire, &err))
        fail_msg("x86_vm_state_load: %s", err.msg);
    if (x86_vm_state_save(dst.vm.vm_fd, &b, &err))
        fail_msg("x86_vm_state_save: %s", err.msg);

    assert_int_equal(a.pic_master.chip.pic.imr, 0xfb);
    assert_int_equal(a.ioapic.chip.ioapic.redirtbl[4].fields.vector, 0x24);
    assert_memory_equal(&a.pic_master, &b.pic_master, sizeof a.pic_master);
    assert_memory_equal(&a.pic_slave, &b.pic_slave, sizeof a.pic_slave);
    assert_memory_equal(&a.ioapic, &b.ioapic, sizeof a.ioapic);

    /* PIT channels restart their count when loaded: count_load_time is
     * the destination host's clock, everything else must match. */
    assert_int_equal(a.pit.channels[2].count, 0x1234);
    assert_int_equal(a.pit.flags, b.pit.flags);
    for (int i = 0; i < 3; i++) {
        a.pit.channels[i].count_load_time = b.pit.channels[i].count_load_time = 0;
        assert_memory_equal(&a.pit.channels[i], &b.pit.channels[i], sizeof a.pit.channels[i]);
    }

    /* The clock carries on from where the source stopped (within 1 s). */
    assert_true(a.clock.clock >= 5000000000ULL);
    int64_t ran = (int64_t)(b.clock.clock - a.clock.clock);
    if (ran < 0 || ran > 1000000000LL)
        fail_msg("kvmclock moved by %lld ns across the migration (flags 0x%x)", (long long)ran,
                 a.clock.flags);

    test_vm_close(&src);
    test_vm_close(&dst);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vcpu_state_survives_migration_to_fresh_vm),
        cmocka_unit_test(test_save_keeps_only_msrs_kvm_lists),
        cmocka_unit_test(test_load_names_the_msr_kvm_refuses),
        cmocka_unit_test(test_load_rejects_xsave_features_the_vcpu_lacks),
        cmocka_unit_test(test_vm_state_survives_migration_to_fresh_vm),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
