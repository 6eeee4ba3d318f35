/*
 * Unit tests for vmm/elf.h: elf_check validates an ELF64 guest image held
 * in memory and elf_load copies its PT_LOAD segments into a RAM buffer.
 * Each test builds a small image by hand (an Elf64_Ehdr, three program
 * headers and a payload) and breaks one field of it; every rejection must
 * return -ENOEXEC with a sentence naming the problem and must leave the
 * RAM buffer untouched.
 */
#include <elf.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "godwit/abi.h"
#include "vmm/elf.h"

#define TEST_RAM_BYTES (4ULL << 20)
#define RAM_FILL 0xaa

#define TEXT_GPA GW_GUEST_LOAD_MIN          /* segment 0: R+X, 32 file bytes */
#define TEXT_FILE_BYTES 32
#define DATA_GPA (GW_GUEST_LOAD_MIN * 2)    /* segment 2: R+W, 16 file bytes, 0x100 in memory */
#define DATA_FILE_BYTES 16
#define DATA_MEM_BYTES 0x100
#define ENTRY_GPA (TEXT_GPA + 0x10)

/* A whole image: no padding between members (64 + 3 * 56 + 64 bytes). */
struct test_elf {
    Elf64_Ehdr eh;
    Elf64_Phdr ph[3];
    uint8_t payload[64];
};

_Static_assert(sizeof(struct test_elf) == sizeof(Elf64_Ehdr) + 3 * sizeof(Elf64_Phdr) + 64,
               "test image must have no padding");

struct elf_fixture {
    struct test_elf file;
    uint8_t *ram;           /* TEST_RAM_BYTES, filled with RAM_FILL */
};

/* A valid image: a text segment holding the entry point, a PT_NOTE with
 * nonsense fields (must be ignored), and a data segment with a bss tail. */
static void build_valid_image(struct test_elf *file)
{
    memset(file, 0, sizeof *file);
    Elf64_Ehdr *eh = &file->eh;
    memcpy(eh->e_ident, ELFMAG, SELFMAG);
    eh->e_ident[EI_CLASS] = ELFCLASS64;
    eh->e_ident[EI_DATA] = ELFDATA2LSB;
    eh->e_ident[EI_VERSION] = EV_CURRENT;
    eh->e_type = ET_EXEC;
    eh->e_machine = EM_X86_64;
    eh->e_version = EV_CURRENT;
    eh->e_entry = ENTRY_GPA;
    eh->e_phoff = offsetof(struct test_elf, ph);
    eh->e_ehsize = sizeof(Elf64_Ehdr);
    eh->e_phentsize = sizeof(Elf64_Phdr);
    eh->e_phnum = 3;

    file->ph[0] = (Elf64_Phdr){
        .p_type = PT_LOAD, .p_flags = PF_R | PF_X,
        .p_offset = offsetof(struct test_elf, payload),
        .p_vaddr = TEXT_GPA, .p_paddr = TEXT_GPA,
        .p_filesz = TEXT_FILE_BYTES, .p_memsz = TEXT_FILE_BYTES, .p_align = 0x1000,
    };
    file->ph[1] = (Elf64_Phdr){
        .p_type = PT_NOTE, .p_flags = PF_R,
        .p_offset = UINT64_MAX, .p_paddr = 0, .p_filesz = UINT64_MAX, .p_memsz = 1,
    };
    file->ph[2] = (Elf64_Phdr){
        .p_type = PT_LOAD, .p_flags = PF_R | PF_W,
        .p_offset = offsetof(struct test_elf, payload) + TEXT_FILE_BYTES,
        .p_vaddr = DATA_GPA, .p_paddr = DATA_GPA,
        .p_filesz = DATA_FILE_BYTES, .p_memsz = DATA_MEM_BYTES, .p_align = 0x1000,
    };
    for (size_t i = 0; i < sizeof file->payload; i++)
        file->payload[i] = (uint8_t)(i + 1);
}

static int setup(void **state)
{
    struct elf_fixture *fx = calloc(1, sizeof *fx);
    if (!fx)
        return -1;
    fx->ram = malloc(TEST_RAM_BYTES);
    if (!fx->ram) {
        free(fx);
        return -1;
    }
    memset(fx->ram, RAM_FILL, TEST_RAM_BYTES);
    build_valid_image(&fx->file);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct elf_fixture *fx = *state;
    free(fx->ram);
    free(fx);
    return 0;
}

/* Counts RAM bytes in [start, end) that differ from RAM_FILL. */
static size_t count_touched(const uint8_t *ram, uint64_t start, uint64_t end)
{
    size_t n = 0;
    for (uint64_t i = start; i < end; i++)
        n += ram[i] != RAM_FILL;
    return n;
}

/* Asserts that both elf_check and elf_load reject the first len bytes of
 * file with -ENOEXEC and a message containing phrase, and that elf_load
 * wrote nothing to RAM. */
static void expect_reject_bytes(struct elf_fixture *fx, const void *file, size_t len,
                                const char *phrase)
{
    struct elf_image image;
    struct gw_error err = { 0 };
    assert_int_equal(elf_check(file, len, TEST_RAM_BYTES, &image, &err), -ENOEXEC);
    assert_int_equal(err.code, -ENOEXEC);
    if (!strstr(err.msg, phrase))
        fail_msg("elf_check message '%s' lacks '%s'", err.msg, phrase);

    gw_error_clear(&err);
    assert_int_equal(elf_load(file, len, fx->ram, TEST_RAM_BYTES, &image, &err), -ENOEXEC);
    assert_int_equal(err.code, -ENOEXEC);
    if (!strstr(err.msg, phrase))
        fail_msg("elf_load message '%s' lacks '%s'", err.msg, phrase);
    assert_int_equal(count_touched(fx->ram, 0, TEST_RAM_BYTES), 0);
}

static void expect_reject(struct elf_fixture *fx, const char *phrase)
{
    expect_reject_bytes(fx, &fx->file, sizeof fx->file, phrase);
}

static void test_elf_check_valid_image(void **state)
{
    struct elf_fixture *fx = *state;
    struct elf_image image = { 0 };
    struct gw_error err = { 0 };
    assert_int_equal(elf_check(&fx->file, sizeof fx->file, TEST_RAM_BYTES, &image, &err), 0);
    assert_true(image.entry == ENTRY_GPA);
    assert_true(image.load_end == DATA_GPA + DATA_MEM_BYTES);
    assert_int_equal(image.nsegments, 2);
    assert_int_equal(count_touched(fx->ram, 0, TEST_RAM_BYTES), 0);
}

static void test_elf_load_fills_image(void **state)
{
    struct elf_fixture *fx = *state;
    struct elf_image image = { 0 };
    struct gw_error err = { 0 };
    assert_int_equal(elf_load(&fx->file, sizeof fx->file, fx->ram, TEST_RAM_BYTES, &image, &err),
                     0);
    assert_true(image.entry == ENTRY_GPA);
    assert_true(image.load_end == DATA_GPA + DATA_MEM_BYTES);
    assert_int_equal(image.nsegments, 2);
}

static void test_elf_load_copies_segment_bytes(void **state)
{
    struct elf_fixture *fx = *state;
    struct elf_image image;
    assert_int_equal(elf_load(&fx->file, sizeof fx->file, fx->ram, TEST_RAM_BYTES, &image, NULL),
                     0);
    assert_memory_equal(fx->ram + TEXT_GPA, fx->file.payload, TEXT_FILE_BYTES);
    assert_memory_equal(fx->ram + DATA_GPA, fx->file.payload + TEXT_FILE_BYTES,
                        DATA_FILE_BYTES);
}

static void test_elf_load_zeroes_bss_tail(void **state)
{
    struct elf_fixture *fx = *state;
    struct elf_image image;
    assert_int_equal(elf_load(&fx->file, sizeof fx->file, fx->ram, TEST_RAM_BYTES, &image, NULL),
                     0);
    for (uint64_t gpa = DATA_GPA + DATA_FILE_BYTES; gpa < DATA_GPA + DATA_MEM_BYTES; gpa++)
        assert_int_equal(fx->ram[gpa], 0);
}

static void test_elf_load_writes_nothing_outside_segments(void **state)
{
    struct elf_fixture *fx = *state;
    struct elf_image image;
    assert_int_equal(elf_load(&fx->file, sizeof fx->file, fx->ram, TEST_RAM_BYTES, &image, NULL),
                     0);
    assert_int_equal(count_touched(fx->ram, 0, TEXT_GPA), 0);
    assert_int_equal(count_touched(fx->ram, TEXT_GPA + TEXT_FILE_BYTES, DATA_GPA), 0);
    assert_int_equal(count_touched(fx->ram, DATA_GPA + DATA_MEM_BYTES, TEST_RAM_BYTES), 0);
}

static void test_elf_segment_ending_at_ram_end_is_accepted(void **state)
{
    struct elf_fixture *fx = *state;
    fx->file.ph[2].p_paddr = TEST_RAM_BYTES - DATA_MEM_BYTES;
    struct elf_image image = { 0 };
    struct gw_error err = { 0 };
    assert_int_equal(elf_load(&fx->file, sizeof fx->file, fx->ram, TEST_RAM_BYTES, &image, &err),
                     0);
    assert_true(image.load_end == TEST_RAM_BYTES);
    assert_int_equal(fx->ram[TEST_RAM_BYTES - 1], 0);
}

static void test_elf_rejects_empty_file(void **state)
{
    expect_reject_bytes(*state, "", 0, "too short");
}

static void test_elf_rejects_file_shorter_than_header(void **state)
{
    struct elf_fixture *fx = *state;
    expect_reject_bytes(fx, &fx->file, sizeof(Elf64_Ehdr) - 1, "too short");
}

static void test_elf_rejects_bad_magic(void **state)
{
    struct elf_fixture *fx = *state;
    fx->file.eh.e_ident[EI_MAG1] = 'X';
    expect_reject(fx, "bad magic");
}

static void test_elf_rejects_32_bit_class(void **state)
{
    struct elf_fixture *fx = *state;
    fx->file.eh.e_ident[EI_CLASS] = ELFCLASS32;
    expect_reject(fx, "not a 64-bit");
}

static void test_elf_rejects_big_endian(void **state)
{
    struct elf_fixture *fx = *state;
    fx->file.eh.e_ident[EI_DATA] = ELFDATA2MSB;
    expect_reject(fx, "not a little-endian");
}

static void test_elf_rejects_wrong_machine(void **state)
{
    struct elf_fixture *fx = *state;
    fx->file.eh.e_machine = EM_AARCH64;
    expect_reject(fx, "is not x86-64");
}

static void test_elf_rejects_shared_object(void **state)
{
    struct elf_fixture *fx = *state;
    fx->file.eh.e_type = ET_DYN;
    expect_reject(fx, "is not an executable");
}

static void test_elf_rejects_wrong_phentsize(void **state)
{
    struct elf_fixture *fx = *state;
    fx->file.eh.e_phentsize = sizeof(Elf32_Phdr);
    expect_reject(fx, "program header size");
}

static void test_elf_rejects_zero_phnum(void **state)
{
    struct elf_fixture *fx = *state;
    fx->file.eh.e_phnum = 0;
    expect_reject(fx, "no program headers");
}

static void test_elf_rejects_phdrs_past_end_of_file(void **state)
{
    struct elf_fixture *fx = *state;
    fx->file.eh.e_phoff = sizeof fx->file - sizeof(Elf64_Phdr) + 1;
    fx->file.eh.e_phnum = 1;
    expect_reject(fx, "program headers lie outside the file");
}

static void test_elf_rejects_too_many_phdrs_for_file(void **state)
{
    struct elf_fixture *fx = *state;
    fx->file.eh.e_phnum = 5;    /* the last two would run past the file */
    expect_reject(fx, "program headers lie outside the file");
}

static void test_elf_rejects_phoff_overflow(void **state)
{
    struct elf_fixture *fx = *state;
    fx->file.eh.e_phoff = UINT64_MAX - 8;
    expect_reject(fx, "program headers lie outside the file");
}

static void test_elf_rejects_filesz_above_memsz(void **state)
{
    struct elf_fixture *fx = *state;
    fx->file.ph[0].p_memsz = TEXT_FILE_BYTES - 1;
    expect_reject(fx, "file size exceeds memory size");
}

static void test_elf_rejects_segment_data_past_end_of_file(void **state)
{
    struct elf_fixture *fx = *state;
    fx->file.ph[2].p_offset = sizeof fx->file - DATA_FILE_BYTES + 1;
    expect_reject(fx, "data lies outside the file");
}

static void test_elf_rejects_segment_offset_past_end_of_file(void **state)
{
    struct elf_fixture *fx = *state;
    fx->file.ph[0].p_offset = UINT64_MAX - 8;
    expect_reject(fx, "data lies outside the file");
}

static void test_elf_rejects_segment_offset_plus_filesz_overflow(void **state)
{
    struct elf_fixture *fx = *state;
    /* offset + filesz wraps around to a small number. */
    fx->file.ph[0].p_offset = 8;
    fx->file.ph[0].p_filesz = UINT64_MAX - 4;
    fx->file.ph[0].p_memsz = UINT64_MAX - 4;
    expect_reject(fx, "data lies outside the file");
}

static void test_elf_rejects_segment_below_load_min(void **state)
{
    struct elf_fixture *fx = *state;
    fx->file.ph[0].p_paddr = GW_GUEST_LOAD_MIN - 1;
    fx->file.eh.e_entry = GW_GUEST_LOAD_MIN;
    expect_reject(fx, "is below");
}

static void test_elf_rejects_segment_at_address_zero(void **state)
{
    struct elf_fixture *fx = *state;
    fx->file.ph[0].p_paddr = 0;
    fx->file.eh.e_entry = 0x10;
    expect_reject(fx, "reserved for boot structures");
}

static void test_elf_rejects_segment_beyond_ram(void **state)
{
    struct elf_fixture *fx = *state;
    fx->file.ph[2].p_paddr = TEST_RAM_BYTES - DATA_MEM_BYTES + 1;
    expect_reject(fx, "lies outside guest RAM");
}

static void test_elf_rejects_segment_starting_beyond_ram(void **state)
{
    struct elf_fixture *fx = *state;
    fx->file.ph[2].p_paddr = TEST_RAM_BYTES;
    expect_reject(fx, "lies outside guest RAM");
}

static void test_elf_rejects_segment_paddr_near_uint64_max(void **state)
{
    struct elf_fixture *fx = *state;
    fx->file.ph[2].p_paddr = UINT64_MAX - 0xf;     /* paddr + memsz wraps */
    expect_reject(fx, "lies outside guest RAM");
}

static void test_elf_rejects_segment_memsz_overflow(void **state)
{
    struct elf_fixture *fx = *state;
    /* paddr + memsz wraps around to 0x100000 - 0x1000, inside RAM. */
    fx->file.ph[2].p_memsz = UINT64_MAX - DATA_GPA + GW_GUEST_LOAD_MIN - 0x1000 + 1;
    expect_reject(fx, "lies outside guest RAM");
}

static void test_elf_rejects_error_in_later_segment_without_loading_earlier(void **state)
{
    struct elf_fixture *fx = *state;
    /* Segment 0 is fine and would be loaded first; segment 2 is not. */
    fx->file.ph[2].p_paddr = TEST_RAM_BYTES;
    expect_reject(fx, "segment 2");
}

static void test_elf_rejects_no_load_segment(void **state)
{
    struct elf_fixture *fx = *state;
    fx->file.ph[0].p_type = PT_NOTE;
    fx->file.ph[2].p_type = PT_DYNAMIC;
    expect_reject(fx, "no loadable segment");
}

static void test_elf_rejects_entry_in_data_segment(void **state)
{
    struct elf_fixture *fx = *state;
    fx->file.eh.e_entry = DATA_GPA;
    expect_reject(fx, "not in an executable segment");
}

static void test_elf_rejects_entry_outside_segments(void **state)
{
    struct elf_fixture *fx = *state;
    fx->file.eh.e_entry = TEXT_GPA + TEXT_FILE_BYTES;   /* one past the text segment */
    expect_reject(fx, "not in an executable segment");
}

static void test_elf_rejects_entry_in_non_executable_text(void **state)
{
    struct elf_fixture *fx = *state;
    fx->file.ph[0].p_flags = PF_R;
    expect_reject(fx, "not in an executable segment");
}

#define ELF_TEST(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        ELF_TEST(test_elf_check_valid_image),
        ELF_TEST(test_elf_load_fills_image),
        ELF_TEST(test_elf_load_copies_segment_bytes),
        ELF_TEST(test_elf_load_zeroes_bss_tail),
        ELF_TEST(test_elf_load_writes_nothing_outside_segments),
        ELF_TEST(test_elf_segment_ending_at_ram_end_is_accepted),
        ELF_TEST(test_elf_rejects_empty_file),
        ELF_TEST(test_elf_rejects_file_shorter_than_header),
        ELF_TEST(test_elf_rejects_bad_magic),
        ELF_TEST(test_elf_rejects_32_bit_class),
        ELF_TEST(test_elf_rejects_big_endian),
        ELF_TEST(test_elf_rejects_wrong_machine),
        ELF_TEST(test_elf_rejects_shared_object),
        ELF_TEST(test_elf_rejects_wrong_phentsize),
        ELF_TEST(test_elf_rejects_zero_phnum),
        ELF_TEST(test_elf_rejects_phdrs_past_end_of_file),
        ELF_TEST(test_elf_rejects_too_many_phdrs_for_file),
        ELF_TEST(test_elf_rejects_phoff_overflow),
        ELF_TEST(test_elf_rejects_filesz_above_memsz),
        ELF_TEST(test_elf_rejects_segment_data_past_end_of_file),
        ELF_TEST(test_elf_rejects_segment_offset_past_end_of_file),
        ELF_TEST(test_elf_rejects_segment_offset_plus_filesz_overflow),
        ELF_TEST(test_elf_rejects_segment_below_load_min),
        ELF_TEST(test_elf_rejects_segment_at_address_zero),
        ELF_TEST(test_elf_rejects_segment_beyond_ram),
        ELF_TEST(test_elf_rejects_segment_starting_beyond_ram),
        ELF_TEST(test_elf_rejects_segment_paddr_near_uint64_max),
        ELF_TEST(test_elf_rejects_segment_memsz_overflow),
        ELF_TEST(test_elf_rejects_error_in_later_segment_without_loading_earlier),
        ELF_TEST(test_elf_rejects_no_load_segment),
        ELF_TEST(test_elf_rejects_entry_in_data_segment),
        ELF_TEST(test_elf_rejects_entry_outside_segments),
        ELF_TEST(test_elf_rejects_entry_in_non_executable_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
