/*
 * The outgoing side of a migration: one job thread that connects to the
 * destination VMM, runs pre-copy passes while the guest keeps running,
 * freezes the VM when the expected downtime fits the policy, sends the
 * rest and the machine state, and hands the guest over with a READY/GO/
 * RESUMED exchange (docs/protocol.md).  Until GO is sent, any failure
 * thaws the VM: it runs on here as if nothing happened.
 *
 * The main thread starts, queries, adjusts and cancels the job; the job
 * thread does everything else.  The job owns its connection and bitmap;
 * the VM is borrowed and must outlive the job.
 */
#ifndef GW_MIG_OUTGOING_H
#define GW_MIG_OUTGOING_H

#include "base/error.h"
#include "mig/job.h"
#include "vmm/vm.h"

struct mig_out;

struct mig_out *mig_out_start(struct vm *vm, const char *uri, const struct mig_policy *policy,
                              struct gw_error *err);
/* Joins the job thread (cancelling it first if it still runs).  NULL ok. */
void mig_out_destroy(struct mig_out *job);

void mig_out_cancel(struct mig_out *job);
/* Switch over as soon as the current pass is sent, whatever the expected
 * downtime, and send the rest of that pass without the bandwidth cap: for
 * a guest that would not converge in time.  The pause then lasts as long
 * as its last dirty pages take.  Returns 0, or -EBUSY once the job is past
 * its passes. */
int mig_out_force_complete(struct mig_out *job, struct gw_error *err);
void mig_out_get_policy(struct mig_out *job, struct mig_policy *policy);
void mig_out_set_policy(struct mig_out *job, const struct mig_policy *policy);
void mig_out_query(struct mig_out *job, struct mig_stats *stats);
/* Readable once the job reached a final state (for the main poll loop). */
int mig_out_done_fd(const struct mig_out *job);

/* Only in state UNKNOWN, once the operator has checked that the
 * destination never ran the guest: thaws the VM here and marks the job
 * FAILED.  Returns 0, -EBUSY in any other state, or vm_thaw's error. */
int mig_out_recover(struct mig_out *job, struct gw_error *err);

#endif
