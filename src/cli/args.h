/*
 * godwit's command line: argv in, one struct cli_args out.
 *
 * Pure parsing, unit-tested: every value is checked here, so that the
 * commands only talk to the agent and a usage error (exit 2) never sends a
 * request.  Limits that belong to the agent (VM names, the range of
 * --vcpus or --timeout) are left to the agent, which answers bad-request.
 * The help texts live in usage.c.
 */
#ifndef GW_CLI_ARGS_H
#define GW_CLI_ARGS_H

#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"

#define CLI_DEFAULT_SOCKET "/run/godwit/godwitd.sock"

enum cli_command {
    CLI_NONE,                   /* only with help set */
    CLI_VM_CREATE,
    CLI_VM_START,
    CLI_VM_STOP,
    CLI_VM_DELETE,
    CLI_VM_SHOW,
    CLI_VM_LIST,
    CLI_VM_CONSOLE,
    CLI_HOST_LIST,
    CLI_PORT_LIST,
    CLI_MIGRATE,
    CLI_MIGRATION_LIST,
    CLI_MIGRATION_SHOW,
    CLI_MIGRATION_CANCEL,
    CLI_MIGRATION_FORCE_COMPLETE,
    CLI_MIGRATION_SET,
    CLI_MIGRATION_RESOLVE,
};

enum cli_output { CLI_OUTPUT_TEXT, CLI_OUTPUT_JSON };

/* A migration's tunables, as given on the command line: only the ones
 * with has_* set are sent, so the agent's defaults apply to the rest. */
struct cli_policy {
    bool has_max_downtime, has_bandwidth, has_timeout, has_auto_converge;
    uint32_t max_downtime_ms;
    uint64_t bandwidth;         /* bytes/s, 0 = unlimited */
    uint32_t timeout_s;
    bool auto_converge;
};

/* Strings point into argv. */
struct cli_args {
    enum cli_command command;
    const char *name;           /* "vm create", for messages; NULL before the command is known */
    const char *help;           /* non-NULL: print this text and exit 0, nothing else is set */

    const char *socket;         /* --socket, or NULL: see cli_socket_path() */
    enum cli_output output;

    const char *target;         /* the positional NAME, VM or ID */

    /* vm create */
    const char *kernel;
    const char *memory;         /* as typed ("1G"), checked with gw_parse_size; NULL = default */
    const char *cmdline;        /* NULL = default */
    bool has_vcpus;
    uint32_t vcpus;
    const char *mac, *ip, *tap;     /* the NIC: all NULL for none (the agent checks them) */

    /* vm console */
    bool has_console_bytes;
    uint64_t console_bytes;

    /* migrate, migration set */
    const char *to;
    struct cli_policy policy;
    bool verify, detach;
    const char *cutover;        /* "early", "late", or NULL for the agent's default */

    /* migration resolve: "source" or "destination" */
    const char *keep;
};

/*
 * Parses argv (argv[0] is the program).  Returns 0 (check args->help
 * first), or -EINVAL with a sentence in err; args->name then tells which
 * command's --help to suggest, if any.  Uses getopt_long, resets its
 * state itself, and may reorder argv.
 */
int cli_args_parse(int argc, char **argv, struct cli_args *args, struct gw_error *err);

/* The socket to use: --socket, else env_socket (GODWIT_SOCKET) if it is
 * not empty, else CLI_DEFAULT_SOCKET. */
const char *cli_socket_path(const struct cli_args *args, const char *env_socket);

/* Help texts (usage.c).  cli_usage_top is `godwit --help`; the others
 * return NULL for an unknown group or CLI_NONE. */
extern const char cli_usage_top[];
const char *cli_usage_command(enum cli_command command);
const char *cli_usage_group(const char *group);   /* "vm", "host", "migration" */

#endif
