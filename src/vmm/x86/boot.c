/* Long-mode boot state for vCPUs; see boot.h. */
#include "vmm/x86/boot.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "godwit/abi.h"

#define PTE_PRESENT  (1ULL << 0)
#define PTE_WRITE    (1ULL << 1)
#define PTE_HUGE     (1ULL << 7)

#define CR0_PE (1ULL << 0)
#define CR0_MP (1ULL << 1)
#define CR0_ET (1ULL << 4)
#define CR0_NE (1ULL << 5)
#define CR0_WP (1ULL << 16)
#define CR0_PG (1ULL << 31)
#define CR4_PAE        (1ULL << 5)
#define CR4_OSFXSR     (1ULL << 9)
#define CR4_OSXMMEXCPT (1ULL << 10)
#define EFER_LME (1ULL << 8)
#define EFER_LMA (1ULL << 10)
#define EFER_NXE (1ULL << 11)

/* Flat 64-bit code and data descriptors, the usual encodings. */
static const uint64_t boot_gdt[] = {
    [0] = 0,
    [GW_BOOT_SEL_CODE / 8] = 0x00af9a000000ffffULL,
    [GW_BOOT_SEL_DATA / 8] = 0x00cf92000000ffffULL,
};

void x86_boot_write_tables(uint8_t *ram)
{
    memcpy(ram + GW_BOOT_GDT_GPA, boot_gdt, sizeof boot_gdt);

    uint64_t *pml4 = (uint64_t *)(ram + GW_BOOT_PML4_GPA);
    uint64_t *pdpt = (uint64_t *)(ram + GW_BOOT_PDPT_GPA);
    memset(pml4, 0, 4096);
    memset(pdpt, 0, 4096);
    pml4[0] = GW_BOOT_PDPT_GPA | PTE_PRESENT | PTE_WRITE;

    /* 4 page directories of 512 2-MiB pages each map the first 4 GiB. */
    for (uint64_t gib = 0; gib < GW_BOOT_IDENTITY_BYTES >> 30; gib++) {
        uint64_t pd_gpa = GW_BOOT_PD_GPA + gib * 4096;
        uint64_t *pd = (uint64_t *)(ram + pd_gpa);
        pdpt[gib] = pd_gpa | PTE_PRESENT | PTE_WRITE;
        for (uint64_t i = 0; i < 512; i++)
            pd[i] = ((gib << 30) + (i << 21)) | PTE_PRESENT | PTE_WRITE | PTE_HUGE;
    }
}

static int set_cpuid(int kvm_fd, int vcpu_fd, uint32_t cpu, struct gw_error *err)
{
    const int max_entries = 256;
    struct kvm_cpuid2 *cpuid = calloc(1, sizeof *cpuid + max_entries * sizeof cpuid->entries[0]);
    if (!cpuid)
        return gw_error_set(err, -ENOMEM, "out of memory for CPUID");
    cpuid->nent = max_entries;
    int rc = 0;
    if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, cpuid) < 0) {
        rc = gw_error_set(err, -errno, "KVM_GET_SUPPORTED_CPUID: %s", strerror(errno));
        goto out;
    }
    for (uint32_t i = 0; i < cpuid->nent; i++) {
        struct kvm_cpuid_entry2 *e = &cpuid->entries[i];
        if (e->function == 1)
            e->ebx = (e->ebx & 0x00ffffffu) | (cpu << 24);     /* initial APIC id */
        else if (e->function == 0xb || e->function == 0x1f)
            e->edx = cpu;                                       /* x2APIC id */
    }
    if (ioctl(vcpu_fd, KVM_SET_CPUID2, cpuid) < 0)
        rc = gw_error_set(err, -errno, "KVM_SET_CPUID2: %s", strerror(errno));
out:
    free(cpuid);
    return rc;
}

static void flat_segment(struct kvm_segment *seg, uint16_t selector, int code)
{
    *seg = (struct kvm_segment){
        .base = 0, .limit = 0xffffffff, .selector = selector,
        .type = code ? 0xb : 0x3, .present = 1, .dpl = 0, .s = 1, .g = 1,
        .l = code, .db = !code,
    };
}

static int set_sregs(int vcpu_fd, struct gw_error *err)
{
    struct kvm_sregs sregs;
    if (ioctl(vcpu_fd, KVM_GET_SREGS, &sregs) < 0)
        return gw_error_set(err, -errno, "KVM_GET_SREGS: %s", strerror(errno));

    flat_segment(&sregs.cs, GW_BOOT_SEL_CODE, 1);
    flat_segment(&sregs.ds, GW_BOOT_SEL_DATA, 0);
    sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
    sregs.gdt.base = GW_BOOT_GDT_GPA;
    sregs.gdt.limit = sizeof boot_gdt - 1;
    sregs.idt.base = 0;
    sregs.idt.limit = 0;
    /* A present, busy 64-bit TSS keeps VM entry checks happy until the
     * guest loads its own. */
    sregs.tr = (struct kvm_segment){ .limit = 0x67, .type = 0xb, .present = 1 };
    sregs.cr0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_PG;
    sregs.cr3 = GW_BOOT_PML4_GPA;
    sregs.cr4 = CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT;
    sregs.efer = EFER_LME | EFER_LMA | EFER_NXE;

    if (ioctl(vcpu_fd, KVM_SET_SREGS, &sregs) < 0)
        return gw_error_set(err, -errno, "KVM_SET_SREGS: %s", strerror(errno));
    return 0;
}

int x86_boot_setup_vcpu(int kvm_fd, int vcpu_fd, uint32_t cpu, uint64_t entry,
                        struct gw_error *err)
{
    int rc = set_cpuid(kvm_fd, vcpu_fd, cpu, err);
    if (rc)
        return rc;
    rc = set_sregs(vcpu_fd, err);
    if (rc)
        return rc;

    struct kvm_fpu fpu = { .fcw = 0x37f, .mxcsr = 0x1f80 };
    if (ioctl(vcpu_fd, KVM_SET_FPU, &fpu) < 0)
        return gw_error_set(err, -errno, "KVM_SET_FPU: %s", strerror(errno));

    /* With the in-kernel irqchip, application processors start in
     * wait-for-SIPI; we start them ourselves, already in long mode. */
    struct kvm_mp_state mp = { .mp_state = KVM_MP_STATE_RUNNABLE };
    if (ioctl(vcpu_fd, KVM_SET_MP_STATE, &mp) < 0)
        return gw_error_set(err, -errno, "KVM_SET_MP_STATE: %s", strerror(errno));

    struct kvm_regs regs = {
        .rip = entry,
        .rdi = GW_BOOT_INFO_GPA,
        .rsi = cpu,
        .rsp = GW_BOOT_STACK_TOP(cpu),
        .rflags = 0x2,
    };
    if (ioctl(vcpu_fd, KVM_SET_REGS, &regs) < 0)
        return gw_error_set(err, -errno, "KVM_SET_REGS: %s", strerror(errno));
    return 0;
}
