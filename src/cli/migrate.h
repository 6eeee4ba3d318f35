/*
 * godwit migrate: starts a live migration through the agent and, unless
 * --detach, follows it to its end with progress, then a summary.  Ctrl-C
 * while waiting offers to cancel (see migrate.c).
 */
#ifndef GW_CLI_MIGRATE_H
#define GW_CLI_MIGRATE_H

#include "cli/args.h"
#include "cli/client.h"

/* Runs `godwit migrate` and returns its exit code (exitcode.h): 0
 * completed (or detached), 1 refused, failed or cancelled, 3 outcome
 * unknown, 4 agent unreachable.  Installs a SIGINT handler; call from the
 * main thread only. */
int migrate_run(const struct cli_args *args, const struct client *client);

#endif
