/*
 * The VMM's control commands: maps each request of the control protocol
 * (ctl/proto.h) onto the VM.  Commands:
 *
 *   status            {state, vcpus, memory_bytes, uptime_ms, net (if any)}
 *   net-stats         {net: [{index, tap, mac, rx_frames, rx_bytes, rx_dropped,
 *                     early_held, early_discarded, ready_probes, last_ready_probe,
 *                     tx_frames, tx_bytes, tx_dropped, ctrl_commands,
 *                     announce_rounds, status, config_status, driver_features}]}
 *   pause             running -> paused (returns once every vCPU is parked)
 *   resume            paused -> running
 *   quit              stops the VM; the VMM exits 0
 *   dirty-log-start   turn on KVM dirty logging for guest RAM
 *   dirty-log-sync    {dirty_pages}: pages dirtied since the last sync
 *   dirty-log-stop    turn it off again
 *   migrate {uri, max_downtime_ms, max_bandwidth, timeout_s, verify_memory,
 *            auto_converge}
 *                     start an outgoing live migration (mig/outgoing.h)
 *   migrate-set {max_downtime_ms, max_bandwidth, timeout_s, auto_converge}
 *                     change the running migration's policy
 *   migrate-cancel    cancel it (the VM keeps running here)
 *   migrate-force-complete
 *                     switch over after the current pass, uncapped, whatever
 *                     the expected downtime
 *   query-migrate     its state and progress figures ({"state": "none"} if none)
 *
 * Runs on the main thread only.
 */
#ifndef GW_CMD_VMM_CONTROL_H
#define GW_CMD_VMM_CONTROL_H

#include <stdbool.h>
#include <stdint.h>

#include "ctl/server.h"
#include "mig/outgoing.h"
#include "vmm/vm.h"

struct vmm_control {
    struct vm *vm;              /* not owned */
    uint64_t *dirty_bitmap;     /* owned; allocated by dirty-log-start */
    struct mig_out *migration;  /* owned; the last outgoing migration, or NULL */
    int quit_requested;
    bool stay_after_migration;  /* after migrating away, wait for `quit` */
};

/* A ctl_handler_fn; opaque is a struct vmm_control. */
void vmm_control_handle(void *opaque, const struct ctl_request *req, struct ctl_reply *reply);
void vmm_control_uninit(struct vmm_control *control);

#endif
