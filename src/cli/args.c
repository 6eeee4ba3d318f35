/*
 * godwit's command line; see args.h.
 *
 * Two stages: the global options before the command (getopt in "+" mode,
 * so it stops at the first word), then the command's words and its own
 * options.  Each command lists the options it accepts; the getopt table is
 * built from that list plus the global options, so `--verify` is an
 * unknown option for `vm create` rather than silently ignored, and global
 * options may also follow the command (`godwit vm list -o json`).
 */
#include "cli/args.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "base/size.h"

/* Command options, as bit numbers for struct command_spec.options. */
enum opt_id {
    O_KERNEL, O_MEMORY, O_VCPUS, O_CMDLINE, O_BYTES, O_TO, O_MAX_DOWNTIME, O_BANDWIDTH,
    O_TIMEOUT, O_VERIFY, O_DETACH, O_KEEP, O_MAC, O_IP, O_TAP, O_CUTOVER, O_AUTO_CONVERGE,
    O_COUNT
};
#define OPT(o) (1u << (o))
#define POLICY_OPTS (OPT(O_MAX_DOWNTIME) | OPT(O_BANDWIDTH) | OPT(O_TIMEOUT) | OPT(O_AUTO_CONVERGE))

/* getopt values: command options are 0x100 + enum opt_id. */
enum { VAL_SOCKET = 0x80, VAL_BASE = 0x100 };

static const struct option command_options[O_COUNT] = {
    [O_KERNEL] = { "kernel", required_argument, NULL, VAL_BASE + O_KERNEL },
    [O_MEMORY] = { "memory", required_argument, NULL, VAL_BASE + O_MEMORY },
    [O_VCPUS] = { "vcpus", required_argument, NULL, VAL_BASE + O_VCPUS },
    [O_CMDLINE] = { "cmdline", required_argument, NULL, VAL_BASE + O_CMDLINE },
    [O_BYTES] = { "bytes", required_argument, NULL, VAL_BASE + O_BYTES },
    [O_TO] = { "to", required_argument, NULL, VAL_BASE + O_TO },
    [O_MAX_DOWNTIME] = { "max-downtime", required_argument, NULL, VAL_BASE + O_MAX_DOWNTIME },
    [O_BANDWIDTH] = { "bandwidth", required_argument, NULL, VAL_BASE + O_BANDWIDTH },
    [O_TIMEOUT] = { "timeout", required_argument, NULL, VAL_BASE + O_TIMEOUT },
    [O_VERIFY] = { "verify", no_argument, NULL, VAL_BASE + O_VERIFY },
    [O_DETACH] = { "detach", no_argument, NULL, VAL_BASE + O_DETACH },
    [O_KEEP] = { "keep", required_argument, NULL, VAL_BASE + O_KEEP },
    [O_MAC] = { "mac", required_argument, NULL, VAL_BASE + O_MAC },
    [O_IP] = { "ip", required_argument, NULL, VAL_BASE + O_IP },
    [O_TAP] = { "tap", required_argument, NULL, VAL_BASE + O_TAP },
    [O_CUTOVER] = { "cutover", required_argument, NULL, VAL_BASE + O_CUTOVER },
    [O_AUTO_CONVERGE] = { "auto-converge", required_argument, NULL, VAL_BASE + O_AUTO_CONVERGE },
};

static const struct option global_options[] = {
    { "socket", required_argument, NULL, VAL_SOCKET },
    { "output", required_argument, NULL, 'o' },
    { "help", no_argument, NULL, 'h' },
};
#define N_GLOBAL (sizeof global_options / sizeof global_options[0])

struct command_spec {
    const char *group;          /* "vm", "host", "migration", or NULL for a one-word command */
    const char *verb;
    const char *name;           /* both words, for messages */
    enum cli_command command;
    const char *target;         /* label of the positional argument, or NULL for none */
    unsigned options;           /* OPT() bits */
};

static const struct command_spec commands[] = {
    { "vm", "create", "vm create", CLI_VM_CREATE, "NAME",
      OPT(O_KERNEL) | OPT(O_MEMORY) | OPT(O_VCPUS) | OPT(O_CMDLINE) | OPT(O_MAC) | OPT(O_IP) |
      OPT(O_TAP) },
    { "vm", "start", "vm start", CLI_VM_START, "NAME", 0 },
    { "vm", "stop", "vm stop", CLI_VM_STOP, "NAME", 0 },
    { "vm", "delete", "vm delete", CLI_VM_DELETE, "NAME", 0 },
    { "vm", "show", "vm show", CLI_VM_SHOW, "NAME", 0 },
    { "vm", "list", "vm list", CLI_VM_LIST, NULL, 0 },
    { "vm", "console", "vm console", CLI_VM_CONSOLE, "NAME", OPT(O_BYTES) },
    { "host", "list", "host list", CLI_HOST_LIST, NULL, 0 },
    { "port", "list", "port list", CLI_PORT_LIST, NULL, 0 },
    { NULL, "migrate", "migrate", CLI_MIGRATE, "VM",
      OPT(O_TO) | POLICY_OPTS | OPT(O_VERIFY) | OPT(O_DETACH) | OPT(O_CUTOVER) },
    { "migration", "list", "migration list", CLI_MIGRATION_LIST, NULL, 0 },
    { "migration", "show", "migration show", CLI_MIGRATION_SHOW, "ID", 0 },
    { "migration", "cancel", "migration cancel", CLI_MIGRATION_CANCEL, "ID", 0 },
    { "migration", "force-complete", "migration force-complete", CLI_MIGRATION_FORCE_COMPLETE,
      "ID", 0 },
    { "migration", "set", "migration set", CLI_MIGRATION_SET, "ID", POLICY_OPTS },
    { "migration", "resolve", "migration resolve", CLI_MIGRATION_RESOLVE, "ID", OPT(O_KEEP) },
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

static int parse_u32(const char *text, uint32_t *out)
{
    char *end;
    errno = 0;
    unsigned long value = strtoul(text, &end, 10);
    if (errno || end == text || *end || text[0] < '0' || text[0] > '9' || value > UINT32_MAX)
        return -EINVAL;
    *out = (uint32_t)value;
    return 0;
}

static int parse_output(const char *text, struct cli_args *args, struct gw_error *err)
{
    if (!strcmp(text, "text"))
        args->output = CLI_OUTPUT_TEXT;
    else if (!strcmp(text, "json"))
        args->output = CLI_OUTPUT_JSON;
    else
        return gw_error_set(err, -EINVAL, "-o: '%s' is not text or json", text);
    return 0;
}

/* The error for getopt's ':' (missing value) and '?' (unknown option). */
static int getopt_failure(int opt, char **argv, const char *name, struct gw_error *err)
{
    const char *arg = argv[optind - 1];
    if (opt == ':')
        return gw_error_set(err, -EINVAL, "%s needs a value", arg);
    char shortopt[3] = { '-', (char)optopt, '\0' };
    if (optopt && strncmp(arg, "--", 2))
        arg = shortopt;
    if (name)
        return gw_error_set(err, -EINVAL, "unknown option '%s' for '%s'", arg, name);
    return gw_error_set(err, -EINVAL, "unknown option '%s'", arg);
}

/* Handles a global option wherever it appears; returns 0, -EINVAL, or 1
 * if opt is not a global option. */
static int global_option(int opt, struct cli_args *args, struct gw_error *err)
{
    switch (opt) {
    case VAL_SOCKET:
        if (!*optarg)
            return gw_error_set(err, -EINVAL, "--socket needs a path");
        args->socket = optarg;
        return 0;
    case 'o':
        return parse_output(optarg, args, err);
    default:
        return 1;
    }
}

static int command_option(enum opt_id id, struct cli_args *args, struct gw_error *err)
{
    const char *opt = command_options[id].name;
    uint64_t size;
    switch (id) {
    case O_KERNEL:
    case O_TO:
        if (!*optarg)
            return gw_error_set(err, -EINVAL, "--%s needs a value", opt);
        *(id == O_KERNEL ? &args->kernel : &args->to) = optarg;
        break;
    case O_MEMORY:
        if (gw_parse_size(optarg, &size))
            return gw_error_set(err, -EINVAL, "--memory: '%s' is not a size (e.g. 512M, 1G)",
                                optarg);
        args->memory = optarg;  /* the agent gets the text: it owns the limits */
        break;
    case O_VCPUS:
        if (parse_u32(optarg, &args->vcpus) || args->vcpus == 0)
            return gw_error_set(err, -EINVAL, "--vcpus: '%s' is not a positive number", optarg);
        args->has_vcpus = true;
        break;
    case O_CMDLINE:
        args->cmdline = optarg;
        break;
    case O_BYTES:
        if (gw_parse_size(optarg, &args->console_bytes))
            return gw_error_set(err, -EINVAL, "--bytes: '%s' is not a number of bytes", optarg);
        args->has_console_bytes = true;
        break;
    case O_MAX_DOWNTIME:
        if (parse_u32(optarg, &args->policy.max_downtime_ms))
            return gw_error_set(err, -EINVAL,
                                "--max-downtime: '%s' is not a number of milliseconds", optarg);
        args->policy.has_max_downtime = true;
        break;
    case O_BANDWIDTH:
        if (gw_parse_size(optarg, &args->policy.bandwidth))
            return gw_error_set(err, -EINVAL,
                                "--bandwidth: '%s' is not a rate in bytes/s (e.g. 100M, 0)",
                                optarg);
        args->policy.has_bandwidth = true;
        break;
    case O_TIMEOUT:
        if (parse_u32(optarg, &args->policy.timeout_s))
            return gw_error_set(err, -EINVAL, "--timeout: '%s' is not a number of seconds",
                                optarg);
        args->policy.has_timeout = true;
        break;
    case O_VERIFY: args->verify = true; break;
    case O_DETACH: args->detach = true; break;
    case O_KEEP:
        if (strcmp(optarg, "source") && strcmp(optarg, "destination"))
            return gw_error_set(err, -EINVAL, "--keep: '%s' is not source or destination",
                                optarg);
        args->keep = optarg;
        break;
    case O_MAC: args->mac = optarg; break;
    case O_IP: args->ip = optarg; break;
    case O_TAP: args->tap = optarg; break;
    case O_CUTOVER:
        if (strcmp(optarg, "early") && strcmp(optarg, "late"))
            return gw_error_set(err, -EINVAL, "--cutover: '%s' is not early or late", optarg);
        args->cutover = optarg;
        break;
    case O_AUTO_CONVERGE:
        if (strcmp(optarg, "on") && strcmp(optarg, "off"))
            return gw_error_set(err, -EINVAL, "--auto-converge: '%s' is not on or off", optarg);
        args->policy.auto_converge = !strcmp(optarg, "on");
        args->policy.has_auto_converge = true;
        break;
    case O_COUNT:
        break;
    }
    return 0;
}

static int take_target(const struct command_spec *spec, const char *arg, struct cli_args *args,
                       struct gw_error *err)
{
    if (!spec->target || args->target)
        return gw_error_set(err, -EINVAL, "unexpected argument '%s'", arg);
    if (!*arg)
        return gw_error_set(err, -EINVAL, "%s must not be empty", spec->target);
    args->target = arg;
    return 0;
}

/* What each command needs beyond well-formed options. */
static int check_required(const struct command_spec *spec, const struct cli_args *args,
                          struct gw_error *err)
{
    if (spec->target && !args->target)
        return gw_error_set(err, -EINVAL, "'%s' needs a %s", spec->name, spec->target);
    switch (spec->command) {
    case CLI_VM_CREATE:
        if (!args->kernel)
            return gw_error_set(err, -EINVAL, "'vm create' needs --kernel IMAGE");
        break;
    case CLI_MIGRATE:
        if (!args->to)
            return gw_error_set(err, -EINVAL, "'migrate' needs --to HOST");
        break;
    case CLI_MIGRATION_SET:
        if (!args->policy.has_max_downtime && !args->policy.has_bandwidth &&
            !args->policy.has_timeout && !args->policy.has_auto_converge)
            return gw_error_set(err, -EINVAL, "'migration set' needs at least one of "
                                "--max-downtime, --bandwidth, --timeout, --auto-converge");
        break;
    case CLI_MIGRATION_RESOLVE:
        if (!args->keep)
            return gw_error_set(err, -EINVAL, "'migration resolve' needs --keep source|destination");
        break;
    default:
        break;
    }
    return 0;
}

/* Parses the command's own arguments: argv[0] is its last word. */
static int parse_command(const struct command_spec *spec, int argc, char **argv,
                         struct cli_args *args, struct gw_error *err)
{
    struct option options[O_COUNT + N_GLOBAL + 1];
    size_t n = 0;
    for (unsigned id = 0; id < O_COUNT; id++)
        if (spec->options & OPT(id))
            options[n++] = command_options[id];
    for (size_t i = 0; i < N_GLOBAL; i++)
        options[n++] = global_options[i];
    options[n] = (struct option){ 0 };

    optind = 0;
    opterr = 0;
    int opt, rc;
    /* "-": positional arguments come back as opt 1, in order, whatever
     * POSIXLY_CORRECT says, so `migrate vm1 --to b` and `migrate --to b vm1`
     * both work. */
    while ((opt = getopt_long(argc, argv, "-:ho:", options, NULL)) != -1) {
        if (opt == 'h') {
            args->help = cli_usage_command(spec->command);
            return 0;
        }
        if (opt == 1)
            rc = take_target(spec, optarg, args, err);
        else if (opt == ':' || opt == '?')
            rc = getopt_failure(opt, argv, spec->name, err);
        else if ((rc = global_option(opt, args, err)) == 1)
            rc = command_option((enum opt_id)(opt - VAL_BASE), args, err);
        if (rc)
            return rc;
    }
    for (int i = optind; i < argc; i++)        /* after "--" */
        if ((rc = take_target(spec, argv[i], args, err)))
            return rc;
    return check_required(spec, args, err);
}

static const struct command_spec *find_command(const char *group, const char *verb)
{
    for (size_t i = 0; i < N_COMMANDS; i++) {
        const struct command_spec *spec = &commands[i];
        if ((group ? spec->group && !strcmp(spec->group, group) : !spec->group) &&
            !strcmp(spec->verb, verb))
            return spec;
    }
    return NULL;
}

int cli_args_parse(int argc, char **argv, struct cli_args *args, struct gw_error *err)
{
    struct option options[N_GLOBAL + 1];
    memcpy(options, global_options, sizeof global_options);
    options[N_GLOBAL] = (struct option){ 0 };

    *args = (struct cli_args){ .command = CLI_NONE, .output = CLI_OUTPUT_TEXT };
    optind = 0;
    opterr = 0;
    int opt, rc;
    while ((opt = getopt_long(argc, argv, "+:ho:", options, NULL)) != -1) {
        if (opt == 'h') {
            args->help = cli_usage_top;
            return 0;
        }
        if (opt == ':' || opt == '?')
            return getopt_failure(opt, argv, NULL, err);
        if ((rc = global_option(opt, args, err)))
            return rc;
    }
    if (optind >= argc)
        return gw_error_set(err, -EINVAL, "no command given");

    int word = optind;
    const char *first = argv[word];
    const struct command_spec *spec = find_command(NULL, first);
    if (!spec) {
        const char *group_help = cli_usage_group(first);
        if (!group_help)
            return gw_error_set(err, -EINVAL, "unknown command '%s'", first);
        args->name = first;     /* for the hint: godwit vm --help */
        if (++word >= argc)
            return gw_error_set(err, -EINVAL, "'%s' needs a command", first);
        if (!strcmp(argv[word], "-h") || !strcmp(argv[word], "--help")) {
            args->help = group_help;
            return 0;
        }
        spec = find_command(first, argv[word]);
        if (!spec)
            return gw_error_set(err, -EINVAL, "unknown command '%s %s'", first, argv[word]);
    }
    args->command = spec->command;
    args->name = spec->name;
    return parse_command(spec, argc - word, argv + word, args, err);
}

const char *cli_socket_path(const struct cli_args *args, const char *env_socket)
{
    if (args->socket)
        return args->socket;
    if (env_socket && *env_socket)
        return env_socket;
    return CLI_DEFAULT_SOCKET;
}
