/* Port bindings and the host network (see ports.h). */
#include "agent/ports.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/files.h"
#include "agent/peer.h"
#include "base/log.h"
#include "net/net.h"

#define PUBLISH_TIMEOUT_MS 2000
#define MAX_REMOTES 4

static const uint8_t flood_mac[6];     /* all zero: the VXLAN default destination */

bool agent_net_enabled(const struct agent *agent)
{
    return agent->config.bridge[0] != '\0';
}

/* The tunnel endpoint of a host: its cluster address's IP. */
static int host_vtep(const struct agent *agent, const char *host, struct in_addr *out)
{
    char ip[AGENT_ADDR_MAX];
    uint16_t port;
    if (!strcmp(host, agent->config.name))
        return inet_pton(AF_INET, agent->config.vtep, out) == 1 ? 0 : -EINVAL;
    const struct agent_host *h = agent_config_host(&agent->config, host);
    if (!h || agent_split_address(h->address, ip, &port) || inet_pton(AF_INET, ip, out) != 1)
        return -ENOENT;
    return 0;
}

static struct agent_port *port_find(struct agent *agent, const char *name)
{
    for (struct agent_port *p = agent->ports; p; p = p->next)
        if (!strcmp(p->name, name))
            return p;
    return NULL;
}

static json_t *port_json(const struct agent_port *p)
{
    char mac[18];
    net_format_mac(p->mac, mac);
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I}", "name", p->name, "mac", mac,
                     "ip", p->ip, "chassis", p->chassis, "additional_chassis", p->additional,
                     "state", p->state, "version", (json_int_t)p->version);
}

/* Fills p from JSON; returns 0 or -EINVAL. */
static int port_from_json(struct agent_port *p, const char *name, json_t *json)
{
    const char *mac = json_string_value(json_object_get(json, "mac"));
    const char *ip = json_string_value(json_object_get(json, "ip"));
    const char *chassis = json_string_value(json_object_get(json, "chassis"));
    const char *additional = json_string_value(json_object_get(json, "additional_chassis"));
    const char *state = json_string_value(json_object_get(json, "state"));
    json_t *version = json_object_get(json, "version");
    if (!agent_name_valid(name) || !mac || net_parse_mac(mac, p->mac) || !ip ||
        strlen(ip) >= sizeof p->ip || !chassis || strlen(chassis) > AGENT_NAME_MAX ||
        !additional || strlen(additional) > AGENT_NAME_MAX || !state ||
        strlen(state) >= sizeof p->state || !json_is_integer(version))
        return -EINVAL;
    snprintf(p->name, sizeof p->name, "%s", name);
    snprintf(p->ip, sizeof p->ip, "%s", ip);
    snprintf(p->chassis, sizeof p->chassis, "%s", chassis);
    snprintf(p->additional, sizeof p->additional, "%s", additional);
    snprintf(p->state, sizeof p->state, "%s", state);
    p->version = (uint64_t)json_integer_value(version);
    return 0;
}

/* Writes ports.json (lock held). */
static void ports_save(struct agent *agent)
{
    char path[PATH_MAX];
    json_t *all = json_array();
    for (struct agent_port *p = agent->ports; p; p = p->next)
        json_array_append_new(all, port_json(p));
    json_t *doc = json_pack("{s:o}", "ports", all);
    snprintf(path, sizeof path, "%s/ports.json", agent->config.state_dir);
    if (files_write_json(path, doc))
        LOG_ERR("agent", "cannot save %s", path);
    json_decref(doc);
}

/*
 * Points this host's forwarding entry for a binding at the hosts it is
 * bound to, other than this one (lock NOT held; p is a copy).
 *
 * The kernel's VXLAN device keeps one destination per unicast MAC (it
 * appends only to the all-zero default entry), so "bound to two hosts" is
 * done by removing the MAC's own entry: its frames then follow the default
 * entry, which lists every other host, and reach both copies (and, at no
 * harm, any third host).  One remote host: the entry points there.  None
 * (the VM is here, or stopped): no entry.
 */
static void sync_fdb(struct agent *agent, const struct agent_port *p, bool removed)
{
    if (!agent_net_enabled(agent))
        return;
    struct in_addr want[2];
    int nwant = 0;
    const char *hosts[2] = { p->chassis, p->additional };
    for (int i = 0; i < 2 && !removed; i++) {
        if (!hosts[i][0] || !strcmp(hosts[i], agent->config.name))
            continue;
        if (host_vtep(agent, hosts[i], &want[nwant]) == 0)
            nwant++;
        else
            LOG_WARN("agent", "port=%s bound to %s, which is not in [cluster]", p->name,
                     hosts[i]);
    }
    bool both = p->chassis[0] && p->additional[0] && !removed;
    struct gw_error err;
    char mac[18], where[64];
    net_format_mac(p->mac, mac);
    if (nwant == 1 && !both) {
        if (net_fdb_replace(agent->config.vxlan, p->mac, want[0], &err))
            LOG_ERR("agent", "port=%s cannot set its forwarding entry: %s", p->name, err.msg);
        inet_ntop(AF_INET, &want[0], where, sizeof where);
    } else {
        struct in_addr have[MAX_REMOTES];
        int nhave = net_fdb_lookup(agent->config.vxlan, p->mac, have, MAX_REMOTES, &err);
        for (int j = 0; j < nhave; j++)
            if (net_fdb_remove(agent->config.vxlan, p->mac, have[j], &err))
                LOG_ERR("agent", "port=%s cannot remove its forwarding entry: %s", p->name,
                        err.msg);
        snprintf(where, sizeof where, "%s",
                 both ? "every host (default entry)" : "this host (no entry)");
    }
    LOG_INFO("agent", "port=%s mac=%s forwarding -> %s", p->name, mac, where);
}

/* Sends a binding (or its removal) to every peer; best effort: a peer
 * that misses it pulls the bindings when it restarts. */
static void publish(struct agent *agent, const struct agent_port *p, bool removed)
{
    char path[128];
    snprintf(path, sizeof path, "/v1/peer/ports/%s", p->name);
    json_t *body = removed ? NULL : port_json(p);
    for (uint32_t i = 0; i < agent->config.nhosts; i++) {
        const struct agent_host *host = &agent->config.hosts[i];
        if (!strcmp(host->name, agent->config.name))
            continue;
        json_t *reply = NULL;
        struct gw_error err;
        if (peer_request(agent, host, removed ? "DELETE" : "PUT", path, body,
                         PUBLISH_TIMEOUT_MS, &reply, &err))
            LOG_WARN("agent", "port=%s not published to %s: %s", p->name, host->name, err.msg);
        json_decref(reply);
    }
    json_decref(body);
}

int agent_port_change(struct agent *agent, const char *name, const uint8_t mac[6],
                      const char *ip, const char *chassis, const char *additional,
                      const char *state, struct agent_port *copy)
{
    struct agent_port *p = port_find(agent, name);
    if (!p) {
        p = calloc(1, sizeof *p);
        if (!p)
            return -ENOMEM;
        snprintf(p->name, sizeof p->name, "%s", name);
        p->next = agent->ports;
        agent->ports = p;
    }
    memcpy(p->mac, mac, 6);
    snprintf(p->ip, sizeof p->ip, "%s", ip);
    snprintf(p->chassis, sizeof p->chassis, "%s", chassis);
    snprintf(p->additional, sizeof p->additional, "%s", additional);
    snprintf(p->state, sizeof p->state, "%s", state);
    p->version++;
    ports_save(agent);
    *copy = *p;
    copy->next = NULL;
    return 0;
}

void agent_port_apply(struct agent *agent, const struct agent_port *copy)
{
    LOG_INFO("agent", "port=%s %s chassis=%s additional_chassis=%s version=%llu", copy->name,
             copy->state, copy->chassis[0] ? copy->chassis : "-",
             copy->additional[0] ? copy->additional : "-", (unsigned long long)copy->version);
    sync_fdb(agent, copy, false);
    publish(agent, copy, false);
}

void agent_port_set(struct agent *agent, const char *name, const uint8_t mac[6], const char *ip,
                    const char *chassis, const char *additional, const char *state)
{
    struct agent_port copy;
    pthread_mutex_lock(&agent->lock);
    int rc = agent_port_change(agent, name, mac, ip, chassis, additional, state, &copy);
    pthread_mutex_unlock(&agent->lock);
    if (rc == 0)
        agent_port_apply(agent, &copy);
}

/* Takes a binding out of the registry and saves; returns it (the caller
 * frees it) or NULL.  Lock NOT held. */
static struct agent_port *unlink_port(struct agent *agent, const char *name)
{
    pthread_mutex_lock(&agent->lock);
    struct agent_port **pp = &agent->ports;
    while (*pp && strcmp((*pp)->name, name))
        pp = &(*pp)->next;
    struct agent_port *p = *pp;
    if (p)
        *pp = p->next;
    ports_save(agent);
    pthread_mutex_unlock(&agent->lock);
    return p;
}

void agent_port_remove(struct agent *agent, const char *name)
{
    struct agent_port *p = unlink_port(agent, name);
    if (!p)
        return;
    LOG_INFO("agent", "port=%s removed", name);
    sync_fdb(agent, p, true);
    publish(agent, p, true);
    free(p);
}

int agent_port_receive(struct agent *agent, const char *name, json_t *binding,
                       struct gw_error *err)
{
    struct agent_port incoming = { 0 };
    if (port_from_json(&incoming, name, binding))
        return gw_error_set(err, -EINVAL, "not a port binding");
    pthread_mutex_lock(&agent->lock);
    struct agent_port *p = port_find(agent, name);
    if (p && p->version >= incoming.version) {
        pthread_mutex_unlock(&agent->lock);
        return 0;               /* ours is as new: nothing to do */
    }
    if (!p) {
        p = calloc(1, sizeof *p);
        if (!p) {
            pthread_mutex_unlock(&agent->lock);
            return gw_error_set(err, -ENOMEM, "out of memory");
        }
        p->next = agent->ports;
        agent->ports = p;
    }
    struct agent_port *next = p->next;
    *p = incoming;
    p->next = next;
    ports_save(agent);
    struct agent_port copy = *p;
    pthread_mutex_unlock(&agent->lock);
    sync_fdb(agent, &copy, false);
    return 0;
}

int agent_port_receive_removal(struct agent *agent, const char *name)
{
    struct agent_port *p = unlink_port(agent, name);
    if (p) {
        sync_fdb(agent, p, true);
        free(p);
    }
    return 0;
}

int agent_port_check_unique(struct agent *agent, const char *name, const uint8_t mac[6],
                            const char *ip, struct gw_error *err)
{
    for (struct agent_port *p = agent->ports; p; p = p->next) {
        if (!strcmp(p->name, name))
            continue;
        char text[18];
        net_format_mac(mac, text);
        if (!memcmp(p->mac, mac, 6))
            return gw_error_set(err, -EEXIST, "MAC %s is already the port of %s", text, p->name);
        /* Compare addresses without their prefix length. */
        size_t a = strcspn(ip, "/"), b = strcspn(p->ip, "/");
        if (a == b && a && !strncmp(ip, p->ip, a))
            return gw_error_set(err, -EEXIST, "IP %.*s is already the port of %s", (int)a, ip,
                                p->name);
    }
    return 0;
}

json_t *agent_ports_json(struct agent *agent)
{
    json_t *all = json_array();
    pthread_mutex_lock(&agent->lock);
    for (struct agent_port *p = agent->ports; p; p = p->next)
        json_array_append_new(all, port_json(p));
    pthread_mutex_unlock(&agent->lock);
    return json_pack("{s:o}", "ports", all);
}

/* Loads ports.json, then takes newer bindings from every peer that answers. */
static void ports_load(struct agent *agent)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/ports.json", agent->config.state_dir);
    json_t *doc = files_read_json(path);
    size_t i;
    json_t *item;
    json_array_foreach(json_object_get(doc, "ports"), i, item) {
        const char *name = json_string_value(json_object_get(item, "name"));
        struct gw_error err;
        if (name)
            agent_port_receive(agent, name, item, &err);
    }
    json_decref(doc);
    for (uint32_t h = 0; h < agent->config.nhosts; h++) {
        const struct agent_host *host = &agent->config.hosts[h];
        if (!strcmp(host->name, agent->config.name))
            continue;
        json_t *reply = NULL;
        struct gw_error err;
        if (peer_request(agent, host, "GET", "/v1/ports", NULL, 1000, &reply, &err) == 0) {
            json_array_foreach(json_object_get(reply, "ports"), i, item) {
                const char *name = json_string_value(json_object_get(item, "name"));
                if (name)
                    agent_port_receive(agent, name, item, &err);
            }
        }
        json_decref(reply);
    }
}

int agent_net_init(struct agent *agent, struct gw_error *err)
{
    if (!agent_net_enabled(agent))
        return 0;
    const struct agent_config *c = &agent->config;
    struct in_addr local;
    if (inet_pton(AF_INET, c->vtep, &local) != 1)
        return gw_error_set(err, -EINVAL, "network.vtep %s is not an IPv4 address", c->vtep);
    int rc;
    if (!net_link_exists(c->bridge) && (rc = net_bridge_create(c->bridge, err)))
        return rc;
    if (!net_link_exists(c->vxlan) &&
        (rc = net_vxlan_create(c->vxlan, c->vni, local, c->vxlan_port, NULL, c->bridge, err)))
        return rc;
    for (uint32_t i = 0; i < c->nhosts; i++) {
        struct in_addr remote;
        if (!strcmp(c->hosts[i].name, c->name) || host_vtep(agent, c->hosts[i].name, &remote))
            continue;
        struct in_addr have[MAX_REMOTES * 16];
        int n = net_fdb_lookup(c->vxlan, flood_mac, have, MAX_REMOTES * 16, err);
        bool present = false;
        for (int j = 0; j < n; j++)
            present |= have[j].s_addr == remote.s_addr;
        if (!present && (rc = net_fdb_append(c->vxlan, flood_mac, remote, err)))
            return rc;
    }
    if ((rc = net_frame_socket(err)) < 0)
        return rc;
    agent->frame_fd = rc;
    LOG_INFO("agent", "network: bridge %s, overlay %s (vni %u, vtep %s, udp %u)", c->bridge,
             c->vxlan, c->vni, c->vtep, c->vxlan_port);
    ports_load(agent);
    return 0;
}

int agent_tap_attach(struct agent *agent, const char *tap, struct gw_error *err)
{
    return net_link_attach(tap, agent->config.bridge, err);
}

int agent_tap_prepare(struct agent *agent, const char *tap, bool attach, struct gw_error *err)
{
    if (!agent_net_enabled(agent))
        return gw_error_set(err, -EINVAL, "host %s has no network ([network] bridge is not set)",
                            agent->config.name);
    int rc = net_tap_create(tap, err);
    if (rc == -EEXIST)
        return gw_error_set(err, -EEXIST, "the TAP name %s is already taken on %s", tap,
                            agent->config.name);
    if (rc)
        return rc;
    if (attach && (rc = agent_tap_attach(agent, tap, err))) {
        struct gw_error ignored;
        net_tap_delete(tap, &ignored);
        return rc;
    }
    return 0;
}

void agent_tap_remove(struct agent *agent, const char *tap)
{
    struct gw_error err;
    if (agent_net_enabled(agent) && tap[0] && net_tap_delete(tap, &err))
        LOG_WARN("agent", "cannot remove TAP %s: %s", tap, err.msg);
}
