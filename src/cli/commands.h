/*
 * godwit's commands but migrate (migrate.h): each is one request to the
 * agent, then the reply printed as text (print.h) or as JSON.
 */
#ifndef GW_CLI_COMMANDS_H
#define GW_CLI_COMMANDS_H

#include "cli/args.h"
#include "cli/client.h"

/* Runs args->command (not CLI_MIGRATE) and returns godwit's exit code
 * (exitcode.h), having printed the outcome on stdout or the error on stderr. */
int commands_run(const struct cli_args *args, const struct client *client);

/* Adds the policy options given on the command line to a request body
 * (migrate, migration set): only those given, as the API's fields. */
void commands_add_policy(json_t *body, const struct cli_policy *policy);

#endif
