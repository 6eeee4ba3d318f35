/*
 * Port bindings and the host network, as the agent keeps them.
 *
 * A VM with a NIC has one port, named after the VM: its MAC and IP, the
 * host it is bound to (chassis), during a migration the host it is also
 * bound to (additional chassis), and a state.  Every agent keeps the
 * bindings of the whole cluster (ports.json in its state directory): the
 * agent that runs a VM changes its binding, bumps its version and
 * publishes it to every peer (PUT /v1/peer/ports/NAME); each agent then
 * points its VXLAN forwarding entry for the MAC at the tunnel endpoints
 * of the chassis and the additional chassis (except itself: its own VMs
 * sit behind its bridge).  A restarted agent pulls its peers' bindings.
 *
 * The host network itself (agent_net_init): a bridge, and a VXLAN device
 * on it with learning off, plus "flood" entries (the all-zero MAC) to
 * every other host, so broadcasts (ARP) and frames to MACs no binding
 * names reach every host.
 *
 * Locking: bindings live under agent.lock; netlink calls and requests to
 * peers happen outside it.
 */
#ifndef GW_AGENT_PORTS_H
#define GW_AGENT_PORTS_H

#include <jansson.h>
#include <stdint.h>

#include "agent/agent.h"

/* Sets up the bridge and the overlay (if [network] bridge is set) and
 * pulls the cluster's bindings.  Returns 0 or -errno with err. */
int agent_net_init(struct agent *agent, struct gw_error *err);
bool agent_net_enabled(const struct agent *agent);

/* Checks a new port against every binding: -EEXIST for a MAC or IP in
 * use (lock held). */
int agent_port_check_unique(struct agent *agent, const char *name, const uint8_t mac[6],
                            const char *ip, struct gw_error *err);

/* Changes a binding this host drives (creating it if needed), bumps its
 * version, saves it, programs the local forwarding entry and publishes it
 * to every peer.  chassis/additional: host names, "" for none; state:
 * "up", "down" or "migrating".  Lock NOT held. */
void agent_port_set(struct agent *agent, const char *name, const uint8_t mac[6], const char *ip,
                    const char *chassis, const char *additional, const char *state);
/* agent_port_set in two steps, for a caller that holds the lock: the
 * binding changes at once (in order with every other change; copy gets
 * the new binding), and agent_port_apply(copy), called later without the
 * lock, programs it and publishes it.  Peers keep the highest version, so
 * two applies racing each other still end with the newer binding.
 * agent_port_change returns 0 or -ENOMEM. */
int agent_port_change(struct agent *agent, const char *name, const uint8_t mac[6],
                      const char *ip, const char *chassis, const char *additional,
                      const char *state, struct agent_port *copy);
void agent_port_apply(struct agent *agent, const struct agent_port *copy);
/* Removes a binding everywhere (lock NOT held). */
void agent_port_remove(struct agent *agent, const char *name);

/* A binding from a peer (the body of PUT /v1/peer/ports/NAME): kept if
 * newer than ours, then applied.  Returns 0 or -EINVAL. */
int agent_port_receive(struct agent *agent, const char *name, json_t *binding,
                       struct gw_error *err);
int agent_port_receive_removal(struct agent *agent, const char *name);

/* Every binding as {"ports": [...]} (lock NOT held). */
json_t *agent_ports_json(struct agent *agent);

/* TAP helpers for VM ports: create it and (attach) put it on the bridge. */
int agent_tap_prepare(struct agent *agent, const char *tap, bool attach, struct gw_error *err);
void agent_tap_remove(struct agent *agent, const char *tap);
int agent_tap_attach(struct agent *agent, const char *tap, struct gw_error *err);

#endif
