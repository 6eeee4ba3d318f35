/*
 * Writes the seed corpus of fuzz_incoming_stream into a directory, from
 * the real encoders (so the seeds always match the code): each file is a
 * stream of records, header included, as a source would send them.
 *
 *   hello.bin        HELLO for the fuzz target's machine (1 MiB, 2 vCPUs)
 *   ram.bin          RAM: page 0 as ZERO, page 1 as RAW
 *   state-vm.bin     STATE x86-vm/0: a zeroed x86_vm_state, chip ids set
 *   state-vcpu.bin   STATE x86-vcpu/0: an initialised x86_vcpu_state with
 *                    a zeroed 4096-byte xsave area and two MSRs
 *   digest.bin       DIGEST of the fuzz target's RAM after ram.bin
 *   error.bin        ERROR with a short message
 *   stream.bin       a whole migration: HELLO, RAM, PASS_END, the three
 *                    STATE sections, DIGEST, COMPLETE
 *
 * The decoders refuse a state section whose structs are merely zeroed
 * (the irqchip ids and the xsave item are checked), hence the few fields
 * set above: a seed the decoder accepts reaches deeper.
 *
 * Usage: fuzz_make_corpus DIR   (run by hand; the output is committed)
 */
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mig/machine.h"
#include "mig/proto.h"
#include "vmm/x86/cpustate.h"

#define RAM_BYTES (1u << 20)    /* as in fuzz_incoming_stream.c */
#define NCPUS 2

static void put_record(struct wbuf *out, uint16_t type, const struct wbuf *payload)
{
    wbuf_put_u16(out, type);
    wbuf_put_u16(out, 0);
    wbuf_put_u32(out, payload ? (uint32_t)payload->len : 0);
    if (payload)
        wbuf_put(out, payload->data, payload->len);
}

static int write_file(const char *dir, const char *name, const struct wbuf *w)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || w->err || fwrite(w->data, 1, w->len, f) != w->len || fclose(f)) {
        fprintf(stderr, "fuzz_make_corpus: cannot write %s: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

static void hello(struct wbuf *p)
{
    const struct mig_hello h = { .version = MIG_VERSION, .features = MIG_FEATURE_DIGEST,
                                 .ram_bytes = RAM_BYTES, .ncpus = NCPUS,
                                 .page_bytes = MIG_PAGE_BYTES };
    mig_hello_encode(&h, p);
}

static void ram(struct wbuf *p, uint8_t *mem)
{
    static uint8_t zero[MIG_PAGE_BYTES] __attribute__((aligned(8)));
    for (unsigned i = 0; i < MIG_PAGE_BYTES; i++)
        mem[MIG_PAGE_BYTES + i] = (uint8_t)(i * 31 + 7);
    mig_ram_begin(p);
    mig_ram_put_page(p, 0, zero);
    mig_ram_put_page(p, MIG_PAGE_BYTES, mem + MIG_PAGE_BYTES);
    mig_ram_end(p, 2);
}

static void state_vm(struct wbuf *p)
{
    struct x86_vm_state s;
    memset(&s, 0, sizeof s);
    s.pic_master.chip_id = KVM_IRQCHIP_PIC_MASTER;
    s.pic_slave.chip_id = KVM_IRQCHIP_PIC_SLAVE;
    s.ioapic.chip_id = KVM_IRQCHIP_IOAPIC;
    mig_section_begin(p, MIG_SECTION_VM, 0, 1);
    x86_vm_state_encode(&s, p);
}

static void state_vcpu(struct wbuf *p, uint32_t index)
{
    struct x86_vcpu_state s;
    x86_vcpu_state_init(&s);
    s.xsave = calloc(1, X86_XSAVE_MIN_BYTES);
    s.xsave_bytes = X86_XSAVE_MIN_BYTES;
    s.nmsrs = 2;
    s.msrs[0].index = 0x10;             /* IA32_TSC */
    s.msrs[0].value = 0x123456789;
    s.msrs[1].index = 0xc0000082;       /* LSTAR */
    s.msrs[1].value = 0xffffffff81000000ULL;
    mig_section_begin(p, MIG_SECTION_VCPU, index, 1);
    x86_vcpu_state_encode(&s, p);
    x86_vcpu_state_uninit(&s);
}

static void digest(struct wbuf *p, const uint8_t *mem)
{
    static struct mig_digest_region regions[MIG_DIGEST_MAX_REGIONS];
    uint32_t n = mig_digest_compute(mem, RAM_BYTES, regions);
    mig_digest_encode(regions, n, p);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: fuzz_make_corpus DIR\n");
        return 2;
    }
    const char *dir = argv[1];
    uint8_t *mem = calloc(1, RAM_BYTES);
    if (!mem)
        return 1;
    struct wbuf p, f, all;
    wbuf_init(&p);
    wbuf_init(&f);
    wbuf_init(&all);
    int rc = 0;

#define SEED(name, type, build)                         \
    do {                                                \
        wbuf_reset(&p);                                 \
        wbuf_reset(&f);                                 \
        build;                                          \
        put_record(&f, type, &p);                       \
        put_record(&all, type, &p);                     \
        rc |= write_file(dir, name, &f);                \
    } while (0)

    SEED("hello.bin", MIG_REC_HELLO, hello(&p));
    SEED("ram.bin", MIG_REC_RAM, ram(&p, mem));
    wbuf_reset(&p);
    wbuf_put_u32(&p, 1);
    put_record(&all, MIG_REC_PASS_END, &p);
    SEED("state-vm.bin", MIG_REC_STATE, state_vm(&p));
    SEED("state-vcpu.bin", MIG_REC_STATE, state_vcpu(&p, 0));
    wbuf_reset(&p);
    state_vcpu(&p, 1);
    put_record(&all, MIG_REC_STATE, &p);
    SEED("digest.bin", MIG_REC_DIGEST, digest(&p, mem));
    put_record(&all, MIG_REC_COMPLETE, NULL);
    rc |= write_file(dir, "stream.bin", &all);
    wbuf_reset(&all);
    SEED("error.bin", MIG_REC_ERROR, mig_error_encode("cannot freeze the VM: Device busy", &p));

    wbuf_uninit(&p);
    wbuf_uninit(&f);
    wbuf_uninit(&all);
    free(mem);
    return rc ? 1 : 0;
}
