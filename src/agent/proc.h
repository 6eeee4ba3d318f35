/*
 * VMM processes: starting them detached from the agent, and telling
 * whether one still runs.
 *
 * A VMM runs in its own session with its output in a log file, so it
 * survives the agent.  A restarted agent cannot waitpid() a VMM it did not
 * start, and on this host an orphan is never reaped (PID 1 does not), so
 * liveness comes from /proc/PID/stat: the process exists, is not a zombie,
 * and has the start time recorded when it was launched (a reused pid has
 * another).
 */
#ifndef GW_AGENT_PROC_H
#define GW_AGENT_PROC_H

#include <stdbool.h>
#include <sys/types.h>

/* Starts argv[0] with argv in a new session, stdin from /dev/null, stdout
 * and stderr appended to log_path.  Returns the pid or -errno. */
pid_t proc_spawn(char *const argv[], const char *log_path);

/* The process's start time (field 22 of /proc/PID/stat, in clock ticks
 * since boot), or 0 if it does not exist.  *zombie tells whether it has
 * exited and waits to be reaped (may be NULL). */
unsigned long long proc_start_time(pid_t pid, bool *zombie);

/* Whether pid runs and is the process that started at start_time. */
bool proc_is_running(pid_t pid, unsigned long long start_time);

#endif
