/* ELF64 guest image validation and loading; see elf.h. */
#include "elf.h"

#include <elf.h>
#include <errno.h>
#include <string.h>

#include "godwit/abi.h"

/* a + b <= limit, without overflow. */
static int fits(uint64_t a, uint64_t b, uint64_t limit)
{
    return a <= limit && b <= limit - a;
}

static const Elf64_Phdr *program_header(const void *file, const Elf64_Ehdr *eh, unsigned i)
{
    return (const Elf64_Phdr *)((const uint8_t *)file + eh->e_phoff + (uint64_t)i * sizeof(Elf64_Phdr));
}

static int check_header(const Elf64_Ehdr *eh, size_t file_bytes, struct gw_error *err)
{
    if (memcmp(eh->e_ident, ELFMAG, SELFMAG))
        return gw_error_set(err, -ENOEXEC, "not an ELF file (bad magic)");
    if (eh->e_ident[EI_CLASS] != ELFCLASS64)
        return gw_error_set(err, -ENOEXEC, "not a 64-bit ELF file");
    if (eh->e_ident[EI_DATA] != ELFDATA2LSB)
        return gw_error_set(err, -ENOEXEC, "not a little-endian ELF file");
    if (eh->e_machine != EM_X86_64)
        return gw_error_set(err, -ENOEXEC, "ELF machine %u is not x86-64", eh->e_machine);
    if (eh->e_type != ET_EXEC)
        return gw_error_set(err, -ENOEXEC, "ELF type %u is not an executable", eh->e_type);
    if (eh->e_phentsize != sizeof(Elf64_Phdr))
        return gw_error_set(err, -ENOEXEC, "ELF program header size %u is not %zu",
                            eh->e_phentsize, sizeof(Elf64_Phdr));
    if (eh->e_phnum == 0)
        return gw_error_set(err, -ENOEXEC, "ELF file has no program headers");
    if (!fits(eh->e_phoff, (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr), file_bytes))
        return gw_error_set(err, -ENOEXEC, "ELF program headers lie outside the file");
    return 0;
}

static int check_segment(const Elf64_Phdr *ph, unsigned index, size_t file_bytes,
                         uint64_t ram_bytes, struct gw_error *err)
{
    if (ph->p_filesz > ph->p_memsz)
        return gw_error_set(err, -ENOEXEC, "segment %u: file size exceeds memory size", index);
    if (!fits(ph->p_offset, ph->p_filesz, file_bytes))
        return gw_error_set(err, -ENOEXEC, "segment %u: data lies outside the file", index);
    if (ph->p_paddr < GW_GUEST_LOAD_MIN)
        return gw_error_set(err, -ENOEXEC,
                            "segment %u: address 0x%llx is below 0x%llx, reserved for boot structures",
                            index, (unsigned long long)ph->p_paddr, GW_GUEST_LOAD_MIN);
    if (!fits(ph->p_paddr, ph->p_memsz, ram_bytes))
        return gw_error_set(err, -ENOEXEC,
                            "segment %u: [0x%llx, +0x%llx) lies outside guest RAM of 0x%llx bytes",
                            index, (unsigned long long)ph->p_paddr,
                            (unsigned long long)ph->p_memsz, (unsigned long long)ram_bytes);
    return 0;
}

int elf_check(const void *file, size_t file_bytes, uint64_t ram_bytes,
              struct elf_image *image, struct gw_error *err)
{
    if (file_bytes < sizeof(Elf64_Ehdr))
        return gw_error_set(err, -ENOEXEC, "file of %zu bytes is too short for an ELF header",
                            file_bytes);
    const Elf64_Ehdr *eh = file;
    int rc = check_header(eh, file_bytes, err);
    if (rc)
        return rc;

    struct elf_image found = { .entry = eh->e_entry };
    int entry_ok = 0;
    for (unsigned i = 0; i < eh->e_phnum; i++) {
        const Elf64_Phdr *ph = program_header(file, eh, i);
        if (ph->p_type != PT_LOAD)
            continue;
        rc = check_segment(ph, i, file_bytes, ram_bytes, err);
        if (rc)
            return rc;
        found.nsegments++;
        if (ph->p_paddr + ph->p_memsz > found.load_end)
            found.load_end = ph->p_paddr + ph->p_memsz;
        if ((ph->p_flags & PF_X) && eh->e_entry >= ph->p_paddr &&
            eh->e_entry < ph->p_paddr + ph->p_memsz)
            entry_ok = 1;
    }
    if (found.nsegments == 0)
        return gw_error_set(err, -ENOEXEC, "ELF file has no loadable segment");
    if (!entry_ok)
        return gw_error_set(err, -ENOEXEC, "entry point 0x%llx is not in an executable segment",
                            (unsigned long long)eh->e_entry);
    *image = found;
    return 0;
}

int elf_load(const void *file, size_t file_bytes, uint8_t *ram, uint64_t ram_bytes,
             struct elf_image *image, struct gw_error *err)
{
    int rc = elf_check(file, file_bytes, ram_bytes, image, err);
    if (rc)
        return rc;

    const Elf64_Ehdr *eh = file;
    for (unsigned i = 0; i < eh->e_phnum; i++) {
        const Elf64_Phdr *ph = program_header(file, eh, i);
        if (ph->p_type != PT_LOAD)
            continue;
        memcpy(ram + ph->p_paddr, (const uint8_t *)file + ph->p_offset, ph->p_filesz);
        memset(ram + ph->p_paddr + ph->p_filesz, 0, ph->p_memsz - ph->p_filesz);
    }
    return 0;
}
