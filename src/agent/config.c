/*
 * godwitd configuration (see config.h).  inih calls on_ini_entry() for
 * each key; agent_config_set() is the one place that knows every key, so
 * the file and the command line cannot drift apart.
 */
#include "agent/config.h"

#include <errno.h>
#include <arpa/inet.h>
#include <ini.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void agent_config_defaults(struct agent_config *config)
{
    memset(config, 0, sizeof *config);
    snprintf(config->state_dir, sizeof config->state_dir, "/var/lib/godwit");
    snprintf(config->api_socket, sizeof config->api_socket, "/run/godwit/godwitd.sock");
    snprintf(config->log_level, sizeof config->log_level, "info");
    config->port_min = 49152;
    config->port_max = 49215;
    config->max_incoming = 2;
    config->max_outgoing = 2;
    snprintf(config->vxlan, sizeof config->vxlan, "gwvx0");
    config->vni = 4242;
    config->vxlan_port = 4789;
}

int agent_name_valid(const char *name)
{
    size_t len = strlen(name);
    if (len == 0 || len > AGENT_NAME_MAX || name[0] < 'a' || name[0] > 'z')
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
            return 0;
    }
    return 1;
}

static int parse_number(const char *text, unsigned long max, unsigned long *out)
{
    char *end;
    errno = 0;
    unsigned long value = strtoul(text, &end, 10);
    if (errno || end == text || *end || text[0] == '-' || value > max)
        return -EINVAL;
    *out = value;
    return 0;
}

int agent_split_address(const char *address, char *host, uint16_t *port)
{
    const char *colon = strrchr(address, ':');
    unsigned long value;
    if (!colon || colon == address || (size_t)(colon - address) >= AGENT_ADDR_MAX ||
        parse_number(colon + 1, 65535, &value) || value == 0)
        return -EINVAL;
    memcpy(host, address, colon - address);
    host[colon - address] = '\0';
    *port = (uint16_t)value;
    return 0;
}

static int set_string(char *dst, size_t size, const char *key, const char *value,
                      struct gw_error *err)
{
    if (strlen(value) >= size)
        return gw_error_set(err, -EINVAL, "%s: value longer than %zu bytes", key, size - 1);
    snprintf(dst, size, "%s", value);
    return 0;
}

static int set_address(char *dst, const char *key, const char *value, struct gw_error *err)
{
    char host[AGENT_ADDR_MAX];
    uint16_t port;
    if (agent_split_address(value, host, &port))
        return gw_error_set(err, -EINVAL, "%s: '%s' is not IP:PORT", key, value);
    return set_string(dst, AGENT_ADDR_MAX, key, value, err);
}

static int set_host_key(struct agent_config *config, const char *key, const char *value,
                        struct gw_error *err)
{
    if (!strcmp(key, "name")) {
        if (!agent_name_valid(value))
            return gw_error_set(err, -EINVAL, "host.name: '%s' is not a name (1-32 of a-z, 0-9, "
                                "'-', starting with a letter)", value);
        return set_string(config->name, sizeof config->name, "host.name", value, err);
    }
    if (!strcmp(key, "state_dir"))
        return set_string(config->state_dir, sizeof config->state_dir, "host.state_dir", value,
                          err);
    if (!strcmp(key, "api_socket"))
        return set_string(config->api_socket, sizeof config->api_socket, "host.api_socket",
                          value, err);
    if (!strcmp(key, "peer_listen"))
        return set_address(config->peer_listen, "host.peer_listen", value, err);
    if (!strcmp(key, "vmm"))
        return set_string(config->vmm_path, sizeof config->vmm_path, "host.vmm", value, err);
    if (!strcmp(key, "log_level")) {
        if (strcmp(value, "error") && strcmp(value, "warn") && strcmp(value, "info") &&
            strcmp(value, "debug"))
            return gw_error_set(err, -EINVAL, "host.log_level: '%s' is not error, warn, info "
                                "or debug", value);
        return set_string(config->log_level, sizeof config->log_level, "host.log_level", value,
                          err);
    }
    return gw_error_set(err, -EINVAL, "unknown key host.%s", key);
}

static int set_migration_key(struct agent_config *config, const char *key, const char *value,
                             struct gw_error *err)
{
    unsigned long n;
    if (!strcmp(key, "ports")) {
        unsigned long lo, hi;
        char buf[32];
        char *dash;
        if (strlen(value) >= sizeof buf)
            return gw_error_set(err, -EINVAL, "migration.ports: '%s' is not LOW-HIGH", value);
        snprintf(buf, sizeof buf, "%s", value);
        dash = strchr(buf, '-');
        if (!dash)
            return gw_error_set(err, -EINVAL, "migration.ports: '%s' is not LOW-HIGH", value);
        *dash = '\0';
        if (parse_number(buf, 65535, &lo) || parse_number(dash + 1, 65535, &hi) || lo == 0 ||
            lo > hi)
            return gw_error_set(err, -EINVAL, "migration.ports: '%s' is not LOW-HIGH with "
                                "1 <= LOW <= HIGH <= 65535", value);
        config->port_min = (uint16_t)lo;
        config->port_max = (uint16_t)hi;
        return 0;
    }
    if (!strcmp(key, "max_incoming") || !strcmp(key, "max_outgoing")) {
        if (parse_number(value, 1000, &n))
            return gw_error_set(err, -EINVAL, "migration.%s: '%s' is not a number from 0 to "
                                "1000", key, value);
        *(key[4] == 'i' ? &config->max_incoming : &config->max_outgoing) = (uint32_t)n;
        return 0;
    }
    return gw_error_set(err, -EINVAL, "unknown key migration.%s", key);
}

static int set_cluster_host(struct agent_config *config, const char *name, const char *value,
                            struct gw_error *err)
{
    if (!agent_name_valid(name))
        return gw_error_set(err, -EINVAL, "cluster: '%s' is not a host name", name);
    struct agent_host *host = (struct agent_host *)agent_config_host(config, name);
    if (!host) {
        if (config->nhosts == AGENT_MAX_HOSTS)
            return gw_error_set(err, -EINVAL, "cluster: more than %d hosts", AGENT_MAX_HOSTS);
        host = &config->hosts[config->nhosts++];
        snprintf(host->name, sizeof host->name, "%s", name);
    }
    return set_address(host->address, "cluster host", value, err);
}

/* Linux interface names: 1-15 of letters, digits, '-', '_', '.'. */
static int set_ifname(char *dst, const char *key, const char *value, struct gw_error *err)
{
    size_t len = strlen(value);
    bool ok = len > 0 && len < 16;
    for (size_t i = 0; ok && i < len; i++)
        ok = (value[i] >= 'a' && value[i] <= 'z') || (value[i] >= 'A' && value[i] <= 'Z') ||
             (value[i] >= '0' && value[i] <= '9') || value[i] == '-' || value[i] == '_' ||
             value[i] == '.';
    if (!ok)
        return gw_error_set(err, -EINVAL, "network.%s: '%s' is not an interface name (1-15 "
                            "of letters, digits, '-', '_', '.')", key, value);
    snprintf(dst, 16, "%s", value);
    return 0;
}

static int set_network_key(struct agent_config *config, const char *key, const char *value,
                           struct gw_error *err)
{
    unsigned long n;
    if (!strcmp(key, "bridge"))
        return set_ifname(config->bridge, key, value, err);
    if (!strcmp(key, "vxlan"))
        return set_ifname(config->vxlan, key, value, err);
    if (!strcmp(key, "vni")) {
        if (parse_number(value, (1u << 24) - 1, &n) || n == 0)
            return gw_error_set(err, -EINVAL, "network.vni: '%s' is not 1 to 16777215", value);
        config->vni = (uint32_t)n;
        return 0;
    }
    if (!strcmp(key, "vxlan_port")) {
        if (parse_number(value, 65535, &n) || n == 0)
            return gw_error_set(err, -EINVAL, "network.vxlan_port: '%s' is not a port", value);
        config->vxlan_port = (uint16_t)n;
        return 0;
    }
    if (!strcmp(key, "vtep")) {
        struct in_addr addr;
        if (inet_pton(AF_INET, value, &addr) != 1)
            return gw_error_set(err, -EINVAL, "network.vtep: '%s' is not an IPv4 address", value);
        return set_string(config->vtep, sizeof config->vtep, "network.vtep", value, err);
    }
    return gw_error_set(err, -EINVAL, "unknown key network.%s", key);
}

int agent_config_set(struct agent_config *config, const char *section, const char *key,
                     const char *value, struct gw_error *err)
{
    if (!strcmp(section, "network"))
        return set_network_key(config, key, value, err);
    if (!strcmp(section, "host"))
        return set_host_key(config, key, value, err);
    if (!strcmp(section, "migration"))
        return set_migration_key(config, key, value, err);
    if (!strcmp(section, "cluster"))
        return set_cluster_host(config, key, value, err);
    return gw_error_set(err, -EINVAL, "unknown section [%s]", section);
}

struct load_context {
    struct agent_config *config;
    struct gw_error *err;
    int failed;
};

static int on_ini_entry(void *user, const char *section, const char *key, const char *value)
{
    struct load_context *ctx = user;
    if (ctx->failed)
        return 0;
    if (agent_config_set(ctx->config, section, key, value, ctx->err)) {
        ctx->failed = 1;
        return 0;       /* inih reports this line's number */
    }
    return 1;
}

int agent_config_load(struct agent_config *config, const char *path, struct gw_error *err)
{
    FILE *file = fopen(path, "r");
    if (!file)
        return gw_error_set(err, -errno, "cannot open %s: %s", path, strerror(errno));
    struct gw_error entry_err = { 0 };
    struct load_context ctx = { .config = config, .err = &entry_err };
    int line = ini_parse_file(file, on_ini_entry, &ctx);
    fclose(file);
    if (ctx.failed)
        return gw_error_set(err, -EINVAL, "%s:%d: %s", path, line, entry_err.msg);
    if (line)
        return gw_error_set(err, -EINVAL, "%s:%d: not an INI line", path, line);
    return 0;
}

const struct agent_host *agent_config_host(const struct agent_config *config, const char *name)
{
    for (uint32_t i = 0; i < config->nhosts; i++)
        if (!strcmp(config->hosts[i].name, name))
            return &config->hosts[i];
    return NULL;
}

int agent_config_finish(struct agent_config *config, struct gw_error *err)
{
    if (!config->name[0])
        return gw_error_set(err, -EINVAL, "the host has no name (set [host] name)");
    const struct agent_host *self = agent_config_host(config, config->name);
    if (!config->peer_listen[0]) {
        if (!self)
            return gw_error_set(err, -EINVAL, "host '%s' is not in [cluster] and no "
                                "peer_listen is set", config->name);
        snprintf(config->peer_listen, sizeof config->peer_listen, "%s", self->address);
    }
    /* Socket paths must fit sun_path (108 bytes), including the VMMs'
     * control sockets under state_dir/vms/NAME/. */
    if (strlen(config->api_socket) >= 100)
        return gw_error_set(err, -EINVAL, "api_socket: path longer than 99 bytes");
    if (strlen(config->state_dir) + sizeof "/vms//control.sock" + AGENT_NAME_MAX >= 108)
        return gw_error_set(err, -EINVAL, "state_dir: path too long for the VMMs' sockets "
                            "(at most %zu bytes)",
                            108 - sizeof "/vms//control.sock" - AGENT_NAME_MAX - 1);
    if (config->bridge[0] && !config->vtep[0]) {
        uint16_t port;
        if (!self || agent_split_address(self->address, config->vtep, &port))
            return gw_error_set(err, -EINVAL, "network: set vtep, or list host '%s' in [cluster]",
                                config->name);
    }
    if (config->state_dir[0] != '/' || config->api_socket[0] != '/')
        return gw_error_set(err, -EINVAL, "state_dir and api_socket must be absolute paths");
    return 0;
}
