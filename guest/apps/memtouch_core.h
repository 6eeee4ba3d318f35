/*
 * memtouch's core, shared by the workloads that load guest memory:
 * memtouch.elf (every vCPU sweeps, vCPU 0 also reports) and echo.elf
 * (vCPU 0 runs the network and only reports; vCPUs 1..n-1 sweep).
 *
 * The sweepers are the vCPUs [first_cpu, ncpus).  The reporter is vCPU 0:
 * it prints the progress lines and runs the checks and the final verify.
 * Command-line keys and console lines are memtouch's (see memtouch.c).
 */
#ifndef GW_GUEST_MEMTOUCH_CORE_H
#define GW_GUEST_MEMTOUCH_CORE_H

#include <stdint.h>

/* vCPU 0 only, before any mt_run/mt_poll: splits the region among the
 * sweepers [first_cpu, ncpus), parses mem/rate/verify/check/progress and
 * prints the region line.  Ends the VM (code 2) on a bad command line. */
void mt_setup(unsigned first_cpu);

/* Runs this vCPU's sweeps and checks; on vCPU 0 when it is a sweeper,
 * also the reporter's duties.  Waits until vCPU 0 has run mt_setup.
 * Returns on a sweeper other than 0 once the final verify is done; vCPU 0
 * ends the VM then (0 if every page was right, 1 if not). */
void mt_run(unsigned cpu);

/* The reporter's duties when vCPU 0 does not sweep (first_cpu > 0): call
 * it often (at least every few ms) from vCPU 0's own loop.  Never blocks;
 * prints the progress lines, runs checks, and ends the VM after the final
 * verify or on a failed check. */
void mt_poll(uint64_t now_ns);

#endif
