/*
 * The boot-information block the VMM hands the guest (godwit/abi.h).
 * Pure logic, unit-tested: filling it checks the command line's length
 * and the device count.
 */
#ifndef GW_VMM_BOOTINFO_H
#define GW_VMM_BOOTINFO_H

#include "base/error.h"
#include "godwit/abi.h"

struct bootinfo_params {
    uint64_t ram_bytes;
    uint64_t tsc_khz;
    uint64_t image_end;
    uint32_t ncpus;
    const char *cmdline;                    /* may be NULL: empty */
    const struct gw_device_desc *devices;
    uint32_t ndevices;
};

/* Fills *info from params.  Returns 0, or -EINVAL with err if the command
 * line does not fit or there are too many devices. */
int bootinfo_build(struct gw_boot_info *info, const struct bootinfo_params *params,
                   struct gw_error *err);

#endif
