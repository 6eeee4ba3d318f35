/* Builds the guest's boot-information block; see bootinfo.h. */
#include "bootinfo.h"

#include <errno.h>
#include <string.h>

int bootinfo_build(struct gw_boot_info *info, const struct bootinfo_params *params,
                   struct gw_error *err)
{
    const char *cmdline = params->cmdline ? params->cmdline : "";
    size_t len = strlen(cmdline);
    if (len >= GW_CMDLINE_MAX)
        return gw_error_set(err, -EINVAL, "command line of %zu bytes is longer than %d", len,
                            GW_CMDLINE_MAX - 1);
    if (params->ndevices > GW_MAX_DEVICES)
        return gw_error_set(err, -EINVAL, "%u devices is more than the %d the boot block holds",
                            params->ndevices, GW_MAX_DEVICES);

    memset(info, 0, sizeof *info);
    info->magic = GW_BOOT_MAGIC;
    info->version = GW_BOOT_VERSION;
    info->size_bytes = sizeof *info;
    info->ram_bytes = params->ram_bytes;
    info->tsc_khz = params->tsc_khz;
    info->image_end = params->image_end;
    info->ncpus = params->ncpus;
    info->ndevices = params->ndevices;
    if (params->ndevices)
        memcpy(info->devices, params->devices, params->ndevices * sizeof info->devices[0]);
    memcpy(info->cmdline, cmdline, len + 1);
    return 0;
}
