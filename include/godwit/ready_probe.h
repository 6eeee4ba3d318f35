/*
 * The ready probe of a migration's cutover (docs/agent-api.md, "the ready
 * barrier"): before the switchover the source agent sends this frame to
 * the VM's MAC across the overlay, and the destination is ready only once
 * its incoming godwit-vmm has read it from the VM's TAP.
 *
 * Frame: destination = the VM's MAC, ethertype READY_PROBE_ETHERTYPE, and
 * a payload of READY_PROBE_PREFIX followed by the migration's id (NUL
 * padded).  The VMM keeps such frames from the guest and reports the last
 * one's text in net-stats ("last_ready_probe").
 */
#ifndef GODWIT_READY_PROBE_H
#define GODWIT_READY_PROBE_H

#define READY_PROBE_ETHERTYPE 0x88b5    /* IEEE 802 local experimental */
#define READY_PROBE_PREFIX "godwit ready probe "
#define READY_PROBE_TEXT_MAX 64         /* payload bytes, with the NUL padding */

#endif
