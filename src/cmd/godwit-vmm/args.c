/* godwit-vmm argument parsing; see args.h. */
#include "args.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "base/size.h"
#include "dev/virtio_net.h"
#include "godwit/abi.h"
#include "vmm/memory.h"

const char vmm_usage[] =
    "usage: godwit-vmm --kernel IMAGE [options]\n"
    "       godwit-vmm --incoming tcp:HOST:PORT [options]\n"
    "\n"
    "Runs one virtual machine under KVM until the guest exits, or receives a\n"
    "running one from another godwit-vmm (live migration) and runs it.\n"
    "\n"
    "  --kernel IMAGE     ELF64 guest image (required unless --incoming)\n"
    "  --incoming URI     wait for a migration on tcp:HOST:PORT instead of booting;\n"
    "                     --memory and --vcpus must match the source\n"
    "  --memory SIZE      guest RAM, e.g. 512M or 4G (default 256M; 2M..64G, 4 KiB aligned)\n"
    "  --vcpus N          number of vCPUs (default 1, at most 64)\n"
    "  --cmdline STRING   command line passed to the guest (at most 1023 bytes)\n"
    "  --console FILE     write the serial console to FILE (default: stdout)\n"
    "  --control SOCKET   serve the JSON-lines control API on this Unix socket\n"
    "  --log-level LEVEL  error, warn, info (default) or debug\n"
    "  --net tap=IFNAME,mac=52:54:00:xx:xx:xx\n"
    "  --net fd=N,mac=52:54:00:xx:xx:xx\n"
    "                     add a virtio-net device on an existing TAP (opened by name,\n"
    "                     or an inherited fd already attached to one); repeatable,\n"
    "                     at most 4; an incoming VM needs the source's MACs\n"
    "  --stay-after-migration\n"
    "                     once the VM has migrated away, keep serving the control\n"
    "                     socket (query-migrate) until `quit` instead of exiting\n"
    "  --help             show this text\n"
    "\n"
    "Exit status: the guest's exit code; 0 after a `quit` request or once the VM\n"
    "has migrated away (without --stay-after-migration); 1 if the VM could not be set up or an incoming\n"
    "migration failed; 2 for bad arguments; 125 if the VM died (triple fault\n"
    "or KVM error).\n";

static int parse_u32(const char *text, uint32_t *out)
{
    char *end;
    errno = 0;
    unsigned long value = strtoul(text, &end, 10);
    if (errno || end == text || *end || text[0] == '-' || value > UINT32_MAX)
        return -EINVAL;
    *out = (uint32_t)value;
    return 0;
}

static int parse_log_level(const char *text, enum gw_log_level *level)
{
    static const char *const names[] = { "error", "warn", "info", "debug" };
    for (unsigned i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (!strcmp(text, names[i])) {
            *level = (enum gw_log_level)i;
            return 0;
        }
    }
    return -EINVAL;
}

/* Parses one --net value "tap=NAME,mac=MAC" or "fd=N,mac=MAC" into the
 * next device slot (a copy in args->net_text keeps the TAP name). */
static int parse_net(const char *value_text, struct vmm_args *args, struct gw_error *err)
{
    if (args->nnets == GW_MAX_VIRTIO_DEVICES)
        return gw_error_set(err, -EINVAL, "--net: at most %d network devices",
                            GW_MAX_VIRTIO_DEVICES);
    char *text = args->net_text[args->nnets];
    if (strlen(value_text) >= sizeof args->net_text[0])
        return gw_error_set(err, -EINVAL, "--net: '%s' is too long", value_text);
    strcpy(text, value_text);
    struct vm_net_config nc = { .fd = -1 };
    bool have_mac = false, have_fd = false;
    char *save = NULL;
    for (char *kv = strtok_r(text, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
        char *value = strchr(kv, '=');
        if (!value)
            return gw_error_set(err, -EINVAL, "--net: '%s' is not KEY=VALUE (tap=, fd=, mac=)",
                                kv);
        *value++ = 0;
        if (!strcmp(kv, "tap")) {
            if (!value[0] || strlen(value) >= 16 || strchr(value, '/'))
                return gw_error_set(err, -EINVAL, "--net: '%s' is not an interface name", value);
            nc.tap = value;
        } else if (!strcmp(kv, "fd")) {
            uint32_t fd;
            if (parse_u32(value, &fd) || fd > INT32_MAX)
                return gw_error_set(err, -EINVAL, "--net: fd '%s' is not a number", value);
            nc.fd = (int)fd;
            have_fd = true;
        } else if (!strcmp(kv, "mac")) {
            if (virtio_net_parse_mac(value, nc.mac))
                return gw_error_set(err, -EINVAL, "--net: '%s' is not a unicast MAC address "
                                    "like 52:54:00:12:34:56", value);
            have_mac = true;
        } else {
            return gw_error_set(err, -EINVAL, "--net: unknown key '%s' (known: tap, fd, mac)", kv);
        }
    }
    if (!nc.tap == !have_fd)
        return gw_error_set(err, -EINVAL, "--net needs exactly one of tap=IFNAME or fd=N");
    if (!have_mac)
        return gw_error_set(err, -EINVAL, "--net needs mac=52:54:00:xx:xx:xx");
    for (uint32_t i = 0; i < args->nnets; i++) {
        const struct vm_net_config *o = &args->nets[i];
        if (!memcmp(o->mac, nc.mac, 6))
            return gw_error_set(err, -EINVAL, "--net: two devices have the same MAC");
        if ((nc.tap && o->tap && !strcmp(nc.tap, o->tap)) || (have_fd && !o->tap && o->fd == nc.fd))
            return gw_error_set(err, -EINVAL, "--net: two devices use the same TAP");
    }
    args->nets[args->nnets++] = nc;
    return 0;
}

int vmm_args_parse(int argc, char **argv, struct vmm_args *args, struct gw_error *err)
{
    enum { OPT_KERNEL = 1, OPT_MEMORY, OPT_VCPUS, OPT_CMDLINE, OPT_CONSOLE, OPT_CONTROL,
           OPT_LOG_LEVEL, OPT_HELP, OPT_INCOMING, OPT_STAY, OPT_NET };
    static const struct option options[] = {
        { "kernel", required_argument, NULL, OPT_KERNEL },
        { "memory", required_argument, NULL, OPT_MEMORY },
        { "vcpus", required_argument, NULL, OPT_VCPUS },
        { "cmdline", required_argument, NULL, OPT_CMDLINE },
        { "console", required_argument, NULL, OPT_CONSOLE },
        { "control", required_argument, NULL, OPT_CONTROL },
        { "log-level", required_argument, NULL, OPT_LOG_LEVEL },
        { "help", no_argument, NULL, OPT_HELP },
        { "incoming", required_argument, NULL, OPT_INCOMING },
        { "stay-after-migration", no_argument, NULL, OPT_STAY },
        { "net", required_argument, NULL, OPT_NET },
        { 0 },
    };

    *args = (struct vmm_args){ .memory_bytes = 256ULL << 20, .vcpus = 1, .cmdline = "",
                               .log_level = GW_LOG_INFO };
    optind = 0;
    opterr = 0;
    int opt;
    while ((opt = getopt_long(argc, argv, ":", options, NULL)) != -1) {
        switch (opt) {
        case OPT_KERNEL: args->kernel = optarg; break;
        case OPT_MEMORY:
            if (gw_parse_size(optarg, &args->memory_bytes))
                return gw_error_set(err, -EINVAL, "--memory: '%s' is not a size (e.g. 512M, 4G)",
                                    optarg);
            break;
        case OPT_VCPUS:
            if (parse_u32(optarg, &args->vcpus) || args->vcpus == 0 || args->vcpus > GW_MAX_VCPUS)
                return gw_error_set(err, -EINVAL, "--vcpus: '%s' is not a number from 1 to %d",
                                    optarg, GW_MAX_VCPUS);
            break;
        case OPT_CMDLINE: args->cmdline = optarg; break;
        case OPT_CONSOLE: args->console = optarg; break;
        case OPT_CONTROL: args->control = optarg; break;
        case OPT_INCOMING: args->incoming = optarg; break;
        case OPT_STAY: args->stay_after_migration = true; break;
        case OPT_NET: {
            int rc = parse_net(optarg, args, err);
            if (rc)
                return rc;
            break;
        }
        case OPT_LOG_LEVEL:
            if (parse_log_level(optarg, &args->log_level))
                return gw_error_set(err, -EINVAL,
                                    "--log-level: '%s' is not error, warn, info or debug", optarg);
            break;
        case OPT_HELP: args->help = true; return 0;
        case ':':
            return gw_error_set(err, -EINVAL, "%s needs a value", argv[optind - 1]);
        default:
            return gw_error_set(err, -EINVAL, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return gw_error_set(err, -EINVAL, "unexpected argument '%s'", argv[optind]);
    if (!args->kernel && !args->incoming)
        return gw_error_set(err, -EINVAL, "--kernel IMAGE is required");
    if (strlen(args->cmdline) >= GW_CMDLINE_MAX)
        return gw_error_set(err, -EINVAL, "--cmdline: %zu bytes is longer than %d",
                            strlen(args->cmdline), GW_CMDLINE_MAX - 1);
    struct gw_error size_err;
    if (guest_memory_check_size(args->memory_bytes, &size_err))
        return gw_error_set(err, -EINVAL, "--memory: %s", size_err.msg);
    return 0;
}
