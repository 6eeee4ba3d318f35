/*
 * godwitd's core: one host's VMs and migrations, in memory and on disk.
 *
 * The agent owns two registries, VMs (vms.c) and migrations (mig_*.c),
 * guarded by one mutex, agent.lock: a few dozen small records, touched
 * briefly by API threads, the supervisor thread and migration threads.
 * Nobody holds the lock across I/O (a VMM call, a peer request, a process
 * start): the code takes a snapshot, unlocks, does the slow thing, and
 * locks again to record the outcome.  Records are never freed while the
 * agent runs, except VMs that are deleted, which only happens through
 * agent_vm_forget() under the lock once no thread refers to them.
 *
 * Errors use struct gw_error with a negative errno that the API maps to a
 * stable code (api.c): -ENOENT not-found, -ENXIO unknown-host, -EEXIST
 * already-exists, -EBUSY wrong-state, -EAGAIN busy, -EINVAL bad-request,
 * -EHOSTUNREACH peer-unreachable, anything else failed.
 *
 * On disk, under state_dir:
 *     vms/NAME/vm.json            definition and state (pid, exit code, migration)
 *     vms/NAME/control.sock       the VMM's control socket
 *     vms/NAME/console.log        the guest console
 *     vms/NAME/vmm.log            the VMM's own log (stderr)
 *     migrations/ID.json          one migration job
 * VMMs run in their own session and survive the agent; a restarted agent
 * reads these files and adopts the VMMs that still run (agent_load()).
 */
#ifndef GW_AGENT_AGENT_H
#define GW_AGENT_AGENT_H

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "agent/config.h"
#include "base/error.h"

#define AGENT_MIG_ID_MAX 16             /* "m-" + 12 hex digits */
#define AGENT_CMDLINE_MAX 1024
#define AGENT_KERNEL_MAX 512

/* A VM's network interface: a virtio-net device over a TAP on this host's
 * bridge, with a port binding named after the VM (ports.h). */
struct agent_nic {
    bool present;
    uint8_t mac[6];
    char ip[32];                    /* "10.0.0.10/24": informational, unique in the cluster */
    char tap[16];                   /* the TAP's name on this host */
};

/* One port binding (ports.h).  Every agent keeps the whole cluster's. */
struct agent_port {
    struct agent_port *next;
    char name[AGENT_NAME_MAX + 1];  /* the VM's name */
    uint8_t mac[6];
    char ip[32];
    char chassis[AGENT_NAME_MAX + 1];       /* the host it is bound to, "" if none */
    char additional[AGENT_NAME_MAX + 1];    /* also bound there during a migration, or "" */
    char state[16];                         /* "up", "down", "migrating" */
    uint64_t version;                       /* bumped at each change; newer wins */
};

enum agent_vm_state {
    AGENT_VM_STOPPED,       /* no VMM runs it */
    AGENT_VM_RUNNING,       /* a VMM runs it (its own state may be paused or frozen) */
    AGENT_VM_INCOMING,      /* a VMM waits for it to arrive by migration */
    AGENT_VM_MIGRATED,      /* it runs on another host now; its old VMM is being retired */
};

struct agent_vm {
    struct agent_vm *next;
    char name[AGENT_NAME_MAX + 1];
    char kernel[AGENT_KERNEL_MAX];
    uint64_t memory_bytes;
    uint32_t vcpus;
    char cmdline[AGENT_CMDLINE_MAX];

    enum agent_vm_state state;
    pid_t pid;                      /* the VMM, or 0 */
    unsigned long long pid_start;   /* its /proc start time: tells it from a reused pid */
    bool is_child;                  /* started by this agent process: reaped by waitpid */
    int exit_code;                  /* the last VMM's exit status; -1 if unknown */
    char migration[AGENT_MIG_ID_MAX + 1];   /* the migration that involves it, or "" */
    bool busy;                      /* a start or stop is under way (outside the lock) */
    struct agent_nic nic;
    bool tap_created;               /* this agent made the VM's TAP and has not removed it
                                       (it stays when a guest exits on its own) */
};

enum agent_mig_role { AGENT_MIG_SOURCE, AGENT_MIG_DESTINATION };

/* Source side: see the diagram in docs/agent-api.md and mig_source.c.
 * Destination side: PREPARED, then COMPLETED or ABORTED. */
enum agent_mig_state {
    AGENT_MIG_PREPARING,    /* source: the destination is preparing */
    AGENT_MIG_TRANSFERRING, /* source: the VMMs copy memory */
    AGENT_MIG_SWITCHOVER,   /* source: the guest is paused, its last state on the way */
    AGENT_MIG_COMPLETED,    /* both: the destination runs the VM */
    AGENT_MIG_FAILED,       /* source: the VM runs on the source */
    AGENT_MIG_CANCELLED,    /* source: the VM runs on the source */
    AGENT_MIG_UNKNOWN,      /* source: outcome unknown, VM paused here */
    AGENT_MIG_PREPARED,     /* destination: an incoming VMM waits or receives */
    AGENT_MIG_ABORTED,      /* destination: the attempt was removed */
};

struct agent_mig_result {
    uint64_t total_ms, setup_ms, downtime_us, bytes_sent;
    uint32_t passes;
};

struct agent_mig {
    struct agent_mig *next;
    char id[AGENT_MIG_ID_MAX + 1];
    char vm[AGENT_NAME_MAX + 1];
    enum agent_mig_role role;
    char source[AGENT_NAME_MAX + 1];
    char destination[AGENT_NAME_MAX + 1];
    enum agent_mig_state state;
    char error[256];
    char hint[768];                 /* for UNKNOWN: how the operator resolves it */
    long long created_ms;           /* wall clock */

    /* The policy, as last set (source side). */
    uint64_t max_downtime_ms, max_bandwidth, timeout_s;
    bool verify_memory;
    bool auto_converge;

    json_t *progress;               /* the VMM's last query-migrate reply; owned */
    bool has_result;
    struct agent_mig_result result;

    bool cancel_requested;          /* source: the monitor thread forwards it */
    uint16_t port;                  /* destination: the incoming VMM's port */
    bool late_cutover;              /* both: wire the destination's port only after resume */
    long long last_contact_ms;      /* destination: the source agent's last request (monotonic) */
};

struct agent {
    struct agent_config config;
    pthread_mutex_t lock;           /* guards vms, migs and every field of their records */
    struct agent_vm *vms;
    struct agent_mig *migs;
    struct agent_port *ports;
    int frame_fd;                   /* AF_PACKET socket for ready probes, -1: no network */
    atomic_bool stopping;           /* set at shutdown: threads finish their step and leave */
    pthread_t supervisor;
};

/* --- agent.c: lifetime --- */

/* Creates the state directories, loads and adopts what they hold, and
 * starts the supervisor thread.  Returns 0 or a negative errno with err. */
int agent_init(struct agent *agent, const struct agent_config *config, struct gw_error *err);
/* Stops the agent's threads; VMMs keep running. */
void agent_uninit(struct agent *agent);

/* Milliseconds: monotonic and wall-clock. */
long long agent_mono_ms(void);
long long agent_wall_ms(void);
/* Sleeps ms, waking early (returning true) if the agent is stopping. */
bool agent_sleep_ms(struct agent *agent, int ms);

/* --- vms.c: the VM registry and lifecycle --- */

struct agent_vm_spec {
    char name[AGENT_NAME_MAX + 1];
    char kernel[AGENT_KERNEL_MAX];
    uint64_t memory_bytes;
    uint32_t vcpus;
    char cmdline[AGENT_CMDLINE_MAX];
    struct agent_nic nic;
};

/* A NIC as JSON ({"mac", "ip", "tap"}, or null), and back (null or
 * absent: no NIC; the tap name may be missing). */
json_t *agent_nic_json(const struct agent_nic *nic);
int agent_nic_from_json(json_t *json, struct agent_nic *nic, struct gw_error *err);
/* Names the TAP "gw-" + the VM's name (cut to fit) unless it has one. */
void agent_nic_default_tap(struct agent_nic *nic, const char *vm_name);

/* Checks a spec's fields (name, memory, vcpus, lengths; not the kernel). */
int agent_vm_spec_check(const struct agent_vm_spec *spec, struct gw_error *err);

struct agent_vm *agent_vm_find(struct agent *agent, const char *name);     /* lock held */
/* A JSON object for the API (lock held; vmm_state may be NULL). */
json_t *agent_vm_json(const struct agent *agent, const struct agent_vm *vm,
                      const char *vmm_state);
/* Writes vm.json (lock held). */
void agent_vm_save(struct agent *agent, const struct agent_vm *vm);
/* Paths of the VM's files (buffers of PATH_MAX). */
void agent_vm_path(const struct agent *agent, const char *name, const char *file, char *out);

int agent_vm_create(struct agent *agent, const struct agent_vm_spec *spec, struct gw_error *err);
int agent_vm_start(struct agent *agent, const char *name, struct gw_error *err);
int agent_vm_stop(struct agent *agent, const char *name, struct gw_error *err);
int agent_vm_delete(struct agent *agent, const char *name, struct gw_error *err);

/* The VMM's own state ("running", "paused", "frozen", ...) in state (16
 * bytes), asking it over its control socket; "" if it does not answer. */
void agent_vm_query_state(struct agent *agent, const char *name, char *state);

/*
 * Starts a VMM for vm (lock NOT held; vm->busy set by the caller):
 * incoming_uri NULL boots the kernel, else waits for a migration there.
 * Returns 0 once the VMM answers on its control socket, or a negative
 * errno with the VMM's own error line in err.
 */
int agent_vm_spawn(struct agent *agent, struct agent_vm *vm, const char *incoming_uri,
                   struct gw_error *err);
/* Makes sure vm's VMM is gone: SIGKILL, then waits until it was reaped
 * (lock NOT held). */
void agent_vm_kill(struct agent *agent, struct agent_vm *vm);
/* Asks vm's VMM to quit and waits until it is gone, killing it after 5 s
 * (lock NOT held). */
void agent_vm_quit(struct agent *agent, struct agent_vm *vm);
/* Removes a VM from the registry and deletes its directory (lock held;
 * its VMM must be gone). */
void agent_vm_forget(struct agent *agent, struct agent_vm *vm);

/* Reaps or checks every VMM; the port of a VM whose guest stopped on its
 * own is marked down.  Called by the supervisor (lock NOT held). */
void agent_vms_supervise(struct agent *agent);
/* Loads vms/ at start-up, adopting VMMs that still run (lock held). */
void agent_vms_load(struct agent *agent);

/* --- migrations.c: the job registry --- */

const char *agent_mig_state_name(enum agent_mig_state state);
bool agent_mig_state_is_final(enum agent_mig_state state);
struct agent_mig *agent_mig_find(struct agent *agent, const char *id);      /* lock held */
/* A new job with a fresh id, linked first (lock held). */
struct agent_mig *agent_mig_new(struct agent *agent, enum agent_mig_role role, const char *vm);
/* Unlinks and frees a job that was refused before it began (lock held). */
void agent_mig_discard(struct agent *agent, struct agent_mig *mig);
void agent_mig_set_state(struct agent *agent, struct agent_mig *mig, enum agent_mig_state state);
json_t *agent_mig_json(const struct agent_mig *mig);                        /* lock held */
void agent_mig_save(struct agent *agent, const struct agent_mig *mig);      /* lock held */
/* Jobs of a role that are not final (lock held). */
uint32_t agent_mig_count_active(const struct agent *agent, enum agent_mig_role role);
/* Loads migrations/ at start-up (lock held). */
void agent_migs_load(struct agent *agent);

/* --- mig_source.c: the source side --- */

struct agent_mig_request {
    char vm[AGENT_NAME_MAX + 1];
    char to[AGENT_NAME_MAX + 1];
    uint64_t max_downtime_ms, max_bandwidth, timeout_s;
    bool verify_memory;
    bool auto_converge;     /* throttle the guest's vCPUs if it dirties too fast */
    bool late_cutover;      /* the legacy order: wire the destination's port after resume */
};

/* Validates, prepares the destination, starts the transfer.  Returns the
 * job as JSON, or NULL with err (and then nothing changed). */
json_t *agent_migrate(struct agent *agent, const struct agent_mig_request *req,
                      struct gw_error *err);
int agent_mig_cancel(struct agent *agent, const char *id, struct gw_error *err);
/* Asks the VMM to switch over after its current pass, uncapped, whatever
 * the expected downtime (the guest will not converge otherwise). */
int agent_mig_force_complete(struct agent *agent, const char *id, struct gw_error *err);
/* Changes the policy; fields < 0 are left alone (auto_converge: 0 off, 1 on). */
int agent_mig_set(struct agent *agent, const char *id, long long max_downtime_ms,
                  long long max_bandwidth, long long timeout_s, int auto_converge,
                  struct gw_error *err);
int agent_mig_resolve(struct agent *agent, const char *id, bool keep_destination,
                      struct gw_error *err);
/* Restarts monitoring of source jobs found at start-up. */
void agent_source_resume_all(struct agent *agent);

/* --- mig_dest.c: the destination side (the peer API) --- */

/* Prepares an incoming VMM; returns its port or a negative errno. */
int agent_peer_prepare(struct agent *agent, const char *id, const char *source,
                       const struct agent_vm_spec *spec, bool late_cutover,
                       struct gw_error *err);
/* The destination job as JSON, refreshing its contact time; NULL if unknown. */
json_t *agent_peer_status(struct agent *agent, const char *id, struct gw_error *err);
json_t *agent_peer_commit(struct agent *agent, const char *id, struct gw_error *err);
json_t *agent_peer_abort(struct agent *agent, const char *id, struct gw_error *err);
/* Restarts watching destination jobs found at start-up. */
void agent_dest_resume_all(struct agent *agent);

#endif
