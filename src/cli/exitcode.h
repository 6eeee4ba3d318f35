/*
 * godwit's exit codes: the contract with scripts that drive the CLI.
 * usage.c repeats them in --help; keep both in step.
 *
 *   0  done.
 *   1  failed.  migrate: the migration failed or was cancelled, and the VM
 *      runs on the source as before.  Any other command: the agent refused
 *      the request or the operation failed ("godwit: MESSAGE (CODE)" on
 *      stderr); a refused request changes nothing.
 *   2  usage error: bad arguments or an unknown command (a sentence and a
 *      hint to use --help on stderr).  Nothing was sent to the agent.
 *   3  outcome unknown, operator action needed (migrate only): the
 *      migration ended in state `unknown` (its hint says how to resolve
 *      it), or the agent stopped knowing the migration while godwit waited.
 *      Never 1 here: 1 promises the VM is safe on the source.
 *   4  the agent is unreachable (no socket, nobody listening, or no answer
 *      in time).  For a request that changes something, it may still take
 *      effect.
 */
#ifndef GW_CLI_EXITCODE_H
#define GW_CLI_EXITCODE_H

enum cli_exit {
    CLI_EXIT_OK = 0,
    CLI_EXIT_FAILED = 1,
    CLI_EXIT_USAGE = 2,
    CLI_EXIT_UNKNOWN = 3,
    CLI_EXIT_UNREACHABLE = 4,
};

#endif
