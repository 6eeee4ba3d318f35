/*
 * godwit, the operator's command-line tool: parses the command line
 * (args.c), then hands the command to migrate.c or commands.c, which talk
 * to the local godwitd through client.c.  Exit codes: see exitcode.h.
 */
#include <stdio.h>
#include <stdlib.h>

#include "cli/args.h"
#include "cli/client.h"
#include "cli/commands.h"
#include "cli/exitcode.h"
#include "cli/migrate.h"
#include "ctl/http.h"

int main(int argc, char **argv)
{
    struct cli_args args;
    struct gw_error err = { 0 };
    if (cli_args_parse(argc, argv, &args, &err)) {
        fprintf(stderr, "godwit: %s\n", err.msg);
        fprintf(stderr, "Try 'godwit%s%s --help'.\n", args.name ? " " : "",
                args.name ? args.name : "");
        return CLI_EXIT_USAGE;
    }
    if (args.help) {
        fputs(args.help, stdout);
        return CLI_EXIT_OK;
    }
    if (http_global_init()) {
        fprintf(stderr, "godwit: cannot initialise libcurl\n");
        return CLI_EXIT_FAILED;
    }
    struct client client = { .socket = cli_socket_path(&args, getenv("GODWIT_SOCKET")) };
    if (args.command == CLI_MIGRATE)
        return migrate_run(&args, &client);
    return commands_run(&args, &client);
}
