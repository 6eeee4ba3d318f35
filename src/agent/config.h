/*
 * godwitd's configuration: an INI file (etc/godwitd.ini documents every
 * key and its default), then command-line overrides.  Pure parsing, unit-
 * tested; the file is read with inih.
 */
#ifndef GW_AGENT_CONFIG_H
#define GW_AGENT_CONFIG_H

#include <stdint.h>

#include "base/error.h"

#define AGENT_NAME_MAX 32           /* host and VM names: [a-z][a-z0-9-]{0,31} */
#define AGENT_MAX_HOSTS 64
#define AGENT_PATH_MAX 256          /* leaves room for sockets (108 bytes) checked below */
#define AGENT_ADDR_MAX 64

struct agent_host {
    char name[AGENT_NAME_MAX + 1];
    char address[AGENT_ADDR_MAX];   /* "IP:PORT" of the host's peer API */
};

struct agent_config {
    char name[AGENT_NAME_MAX + 1];      /* [host] name: required */
    char state_dir[AGENT_PATH_MAX];     /* [host] state_dir = /var/lib/godwit */
    char api_socket[AGENT_PATH_MAX];    /* [host] api_socket = /run/godwit/godwitd.sock */
    char peer_listen[AGENT_ADDR_MAX];   /* [host] peer_listen = IP:PORT; default: own cluster entry */
    char vmm_path[AGENT_PATH_MAX];      /* [host] vmm = godwit-vmm next to godwitd */
    char log_level[16];                 /* [host] log_level = info */
    uint16_t port_min, port_max;        /* [migration] ports = 49152-49215 */
    uint32_t max_incoming;              /* [migration] max_incoming = 2 */
    uint32_t max_outgoing;              /* [migration] max_outgoing = 2 */
    struct agent_host hosts[AGENT_MAX_HOSTS];   /* [cluster] NAME = IP:PORT */
    uint32_t nhosts;

    /* [network]: off unless bridge is set. */
    char bridge[16];                    /* bridge = gwbr0: the host bridge VM ports attach to */
    char vxlan[16];                     /* vxlan = gwvx0: the overlay device on the bridge */
    uint32_t vni;                       /* vni = 4242 */
    uint16_t vxlan_port;                /* vxlan_port = 4789 */
    char vtep[AGENT_ADDR_MAX];          /* vtep = IP: this host's tunnel endpoint;
                                           default: the IP of its cluster address */
};

/* Fills the defaults (name and hosts empty). */
void agent_config_defaults(struct agent_config *config);

/* Reads an INI file over the current values.  Returns 0, or -EINVAL/-ENOENT
 * with "FILE:LINE: ..." in err. */
int agent_config_load(struct agent_config *config, const char *path, struct gw_error *err);

/* Sets one "section.key" (as from --set host.name=host-a).  Returns 0 or
 * -EINVAL with a sentence. */
int agent_config_set(struct agent_config *config, const char *section, const char *key,
                     const char *value, struct gw_error *err);

/* Checks the whole configuration once loading is done (name present and in
 * the cluster list or not, paths fit, port range sane) and fills derived
 * defaults (peer_listen from the cluster entry).  Returns 0 or -EINVAL. */
int agent_config_finish(struct agent_config *config, struct gw_error *err);

/* The cluster entry for a host name, or NULL. */
const struct agent_host *agent_config_host(const struct agent_config *config, const char *name);

/* Whether a VM or host name is valid: 1-32 of a-z 0-9 -, starting with a letter. */
int agent_name_valid(const char *name);

/* Splits "IP:PORT"; returns 0 or -EINVAL.  host must hold AGENT_ADDR_MAX bytes. */
int agent_split_address(const char *address, char *host, uint16_t *port);

#endif
