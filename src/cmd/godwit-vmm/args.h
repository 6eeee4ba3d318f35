/*
 * godwit-vmm's command line.  Pure parsing, unit-tested: every value is
 * checked here so main() only wires modules together.
 */
#ifndef GW_CMD_VMM_ARGS_H
#define GW_CMD_VMM_ARGS_H

#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"
#include "base/log.h"
#include "godwit/abi.h"
#include "vmm/vm.h"

struct vmm_args {
    const char *kernel;         /* required, except with --incoming */
    uint64_t memory_bytes;      /* default 256M */
    uint32_t vcpus;             /* default 1 */
    const char *cmdline;        /* default "" */
    const char *console;        /* file path; NULL = stdout */
    const char *control;        /* Unix socket path; NULL = none */
    const char *incoming;       /* tcp:HOST:PORT to receive a migration on; NULL = boot */
    enum gw_log_level log_level;
    struct vm_net_config nets[GW_MAX_VIRTIO_DEVICES];  /* --net, in order */
    char net_text[GW_MAX_VIRTIO_DEVICES][96];           /* parsed copies; nets[i].tap points here */
    uint32_t nnets;
    bool stay_after_migration;  /* after migrating away, wait for `quit` (agents use it) */
    bool help;
};

/* Parses argv.  Returns 0 (check args->help), or -EINVAL with a sentence
 * in err.  Uses getopt_long, so it resets optind itself. */
int vmm_args_parse(int argc, char **argv, struct vmm_args *args, struct gw_error *err);

extern const char vmm_usage[];

#endif
