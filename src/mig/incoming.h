/*
 * The incoming side of a migration: listens on a URI, accepts one
 * migration, loads RAM and machine state into a VM built in the INCOMING
 * state, verifies the digest if the source sent one, answers READY, and
 * on GO starts the VM and answers RESUMED with the realtime of the
 * resume.  The guest never runs unless all of that succeeded.
 *
 * mig_in_start() binds the socket at once (so "cannot listen" is reported
 * before anything else happens) and runs the rest on its own thread; the
 * main thread polls mig_in_done_fd() and then reads the result.
 */
#ifndef GW_MIG_INCOMING_H
#define GW_MIG_INCOMING_H

#include <stdint.h>

#include "base/error.h"
#include "vmm/vm.h"

struct mig_in;

struct mig_in *mig_in_start(struct vm *vm, const char *uri, struct gw_error *err);
/* Joins the thread.  Shuts the connection first if it still runs. */
void mig_in_destroy(struct mig_in *in);
int mig_in_done_fd(const struct mig_in *in);
/* After done: 0 if the guest now runs here, else -errno with err. */
int mig_in_result(struct mig_in *in, struct gw_error *err);

#endif
