/*
 * The destination side of a migration: the peer API's prepare, status,
 * commit and abort, and a watcher thread per attempt.
 *
 *   (prepare) --> prepared --the guest runs in the incoming VMM--> completed
 *                    |
 *                    +--abort / incoming VMM exits / source silent--> aborted
 *
 * prepare checks capacity, records the VM as "incoming" and starts
 * `godwit-vmm --incoming` on a port from the configured range.  From then
 * on the incoming VMM is the truth: once it runs the guest (RESUMED was
 * sent), the VM belongs to this host, whether or not the source's commit
 * ever arrives.  Until then any end of the attempt removes every trace:
 * the VMM is killed and the VM's directory deleted.  An attempt whose
 * source agent has been silent for CONTACT_TIMEOUT_MS is aborted, so a
 * source host that vanished does not leave an incoming VMM behind.
 */
#include "agent/agent.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/files.h"
#include "agent/ports.h"
#include "ctl/client.h"
#include "net/net.h"
#include "base/log.h"

#define CONTACT_TIMEOUT_MS 30000
#define WATCH_MS 200
#define PORT_ATTEMPTS 8
#define RETIRE_WAIT_MS 10000
#define READY_QUERY_TIMEOUT_MS 500  /* net-stats of the incoming VMM, for the barrier */

static bool id_valid(const char *id)
{
    size_t len = strlen(id);
    if (len < 3 || len > AGENT_MIG_ID_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!((id[i] >= 'a' && id[i] <= 'z') || (id[i] >= '0' && id[i] <= '9') || id[i] == '-'))
            return false;
    return true;
}

static bool vmm_runs_guest(const char *vmm_state)
{
    return !strcmp(vmm_state, "running") || !strcmp(vmm_state, "paused");
}

/* The guest runs here: the VM is ours (lock NOT held). */
static void promote(struct agent *agent, struct agent_mig *mig)
{
    pthread_mutex_lock(&agent->lock);
    struct agent_vm *arrived = agent_vm_find(agent, mig->vm);
    struct agent_nic nic = arrived ? arrived->nic : (struct agent_nic){ 0 };
    bool late = mig->late_cutover && mig->state == AGENT_MIG_PREPARED;
    pthread_mutex_unlock(&agent->lock);
    if (late && nic.present) {      /* the legacy order: wire the port only now */
        struct gw_error err;
        if (agent_tap_attach(agent, nic.tap, &err))
            LOG_ERR("agent", "vm=%s cannot attach its TAP: %s", mig->vm, err.msg);
    }
    pthread_mutex_lock(&agent->lock);
    if (mig->state == AGENT_MIG_PREPARED) {
        struct agent_vm *vm = agent_vm_find(agent, mig->vm);
        if (vm) {
            vm->state = AGENT_VM_RUNNING;
            vm->migration[0] = '\0';
            agent_vm_save(agent, vm);
        }
        agent_mig_set_state(agent, mig, AGENT_MIG_COMPLETED);
        LOG_INFO("agent", "vm=%s migration=%s arrived from %s: the VM runs here", mig->vm,
                 mig->id, mig->source);
    }
    pthread_mutex_unlock(&agent->lock);
}

/* Ends a prepared attempt and removes every trace of it (lock NOT held).
 * Whoever moves the job out of PREPARED first does the removal. */
static void abort_incoming(struct agent *agent, struct agent_mig *mig, const char *why)
{
    pthread_mutex_lock(&agent->lock);
    if (mig->state != AGENT_MIG_PREPARED) {
        pthread_mutex_unlock(&agent->lock);
        return;
    }
    snprintf(mig->error, sizeof mig->error, "%s", why);
    agent_mig_set_state(agent, mig, AGENT_MIG_ABORTED);
    struct agent_vm *vm = agent_vm_find(agent, mig->vm);
    if (vm && strcmp(vm->migration, mig->id))
        vm = NULL;      /* not ours to remove */
    pthread_mutex_unlock(&agent->lock);
    if (!vm)
        return;
    agent_vm_kill(agent, vm);
    if (vm->nic.present)
        agent_tap_remove(agent, vm->nic.tap);
    pthread_mutex_lock(&agent->lock);
    agent_vm_forget(agent, vm);
    pthread_mutex_unlock(&agent->lock);
    LOG_INFO("agent", "vm=%s migration=%s removed the incoming VM", mig->vm, mig->id);
}

struct watch {
    struct agent *agent;
    struct agent_mig *mig;      /* job records are never freed while the agent runs */
};

/* Watches one prepared attempt until the guest runs here or it ends. */
static void *watch_thread(void *arg)
{
    struct watch w = *(struct watch *)arg;
    struct agent *agent = w.agent;
    struct agent_mig *mig = w.mig;
    free(arg);

    while (!agent_sleep_ms(agent, WATCH_MS)) {
        pthread_mutex_lock(&agent->lock);
        bool prepared = mig->state == AGENT_MIG_PREPARED;
        struct agent_vm *vm = agent_vm_find(agent, mig->vm);
        pid_t pid = vm ? vm->pid : 0;
        bool silent = agent_mono_ms() - mig->last_contact_ms > CONTACT_TIMEOUT_MS;
        char name[AGENT_NAME_MAX + 1];
        snprintf(name, sizeof name, "%s", mig->vm);
        pthread_mutex_unlock(&agent->lock);
        if (!prepared)
            return NULL;

        if (!pid) {
            char log_path[PATH_MAX], line[200], why[256];
            agent_vm_path(agent, name, "vmm.log", log_path);
            files_last_line(log_path, line, sizeof line);
            snprintf(why, sizeof why, "the incoming VMM exited: %s", line[0] ? line : "?");
            abort_incoming(agent, mig, why);
            return NULL;
        }
        char vmm_state[16];
        agent_vm_query_state(agent, name, vmm_state);
        if (vmm_runs_guest(vmm_state)) {
            promote(agent, mig);
            return NULL;
        }
        if (silent) {
            LOG_WARN("agent", "vm=%s migration=%s the source agent has been silent for %d s",
                     name, mig->id, CONTACT_TIMEOUT_MS / 1000);
            abort_incoming(agent, mig, "the source agent went silent");
            return NULL;
        }
    }
    return NULL;
}

static int start_watch(struct agent *agent, struct agent_mig *mig, struct gw_error *err)
{
    struct watch *w = malloc(sizeof *w);
    if (!w)
        return gw_error_set(err, -ENOMEM, "out of memory");
    *w = (struct watch){ .agent = agent, .mig = mig };
    pthread_t thread;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int rc = pthread_create(&thread, &attr, watch_thread, w);
    pthread_attr_destroy(&attr);
    if (rc) {
        free(w);
        return gw_error_set(err, -rc, "cannot start a thread: %s", strerror(rc));
    }
    return 0;
}

/* Records the incoming VM and its job (lock held); every refusal is here. */
static struct agent_mig *claim(struct agent *agent, const char *id, const char *source,
                               const struct agent_vm_spec *spec, struct agent_vm **vm_out,
                               struct gw_error *err)
{
    if (spec->nic.present && !agent_net_enabled(agent)) {
        gw_error_set(err, -EINVAL, "host %s has no network ([network] bridge is not set)",
                     agent->config.name);
        return NULL;
    }
    if (agent_mig_find(agent, id)) {
        gw_error_set(err, -EEXIST, "migration %s is already known on %s", id,
                     agent->config.name);
        return NULL;
    }
    if (agent_vm_find(agent, spec->name)) {
        gw_error_set(err, -EEXIST, "a VM named '%s' already exists on %s", spec->name,
                     agent->config.name);
        return NULL;
    }
    uint32_t active = agent_mig_count_active(agent, AGENT_MIG_DESTINATION);
    if (active >= agent->config.max_incoming) {
        gw_error_set(err, -EAGAIN, "%s already receives %u migration%s (max_incoming = %u)",
                     agent->config.name, active, active == 1 ? "" : "s",
                     agent->config.max_incoming);
        return NULL;
    }
    char dir[PATH_MAX];
    agent_vm_path(agent, spec->name, NULL, dir);
    int rc = files_make_dirs(dir);
    struct agent_vm *vm = rc ? NULL : calloc(1, sizeof *vm);
    struct agent_mig *mig = vm ? agent_mig_new(agent, AGENT_MIG_DESTINATION, spec->name) : NULL;
    if (!mig) {
        free(vm);
        gw_error_set(err, rc ? rc : -ENOMEM, "cannot record the incoming VM: %s",
                     strerror(rc ? -rc : ENOMEM));
        return NULL;
    }
    snprintf(mig->id, sizeof mig->id, "%s", id);
    snprintf(mig->source, sizeof mig->source, "%s", source);
    snprintf(mig->destination, sizeof mig->destination, "%s", agent->config.name);
    mig->state = AGENT_MIG_PREPARED;

    snprintf(vm->name, sizeof vm->name, "%s", spec->name);
    snprintf(vm->kernel, sizeof vm->kernel, "%s", spec->kernel);
    snprintf(vm->cmdline, sizeof vm->cmdline, "%s", spec->cmdline);
    snprintf(vm->migration, sizeof vm->migration, "%s", id);
    vm->memory_bytes = spec->memory_bytes;
    vm->vcpus = spec->vcpus;
    vm->nic = spec->nic;
    vm->state = AGENT_VM_INCOMING;
    vm->exit_code = -1;
    vm->busy = true;
    vm->next = agent->vms;
    agent->vms = vm;
    agent_vm_save(agent, vm);
    agent_mig_save(agent, mig);
    *vm_out = vm;
    return mig;
}

/* A port in the range that no other attempt here uses (lock held). */
static uint16_t pick_port(struct agent *agent, uint32_t attempt)
{
    uint32_t span = (uint32_t)agent->config.port_max - agent->config.port_min + 1;
    for (uint32_t i = 0; i < span; i++) {
        uint16_t port = (uint16_t)(agent->config.port_min + (attempt + i) % span);
        bool used = false;
        for (struct agent_mig *m = agent->migs; m; m = m->next)
            if (m->role == AGENT_MIG_DESTINATION && m->state == AGENT_MIG_PREPARED &&
                m->port == port)
                used = true;
        if (!used)
            return port;
    }
    return 0;
}

/* A prepare that failed: the records it made go (its TAP is the caller's). */
static void drop_prepared(struct agent *agent, struct agent_vm *vm, struct agent_mig *mig,
                          const struct gw_error *why)
{
    LOG_WARN("agent", "vm=%s migration=%s cannot prepare: %s", vm->name, mig->id, why->msg);
    pthread_mutex_lock(&agent->lock);
    agent_vm_forget(agent, vm);
    agent_mig_discard(agent, mig);
    pthread_mutex_unlock(&agent->lock);
}

int agent_peer_prepare(struct agent *agent, const char *id, const char *source,
                       const struct agent_vm_spec *spec, bool late_cutover,
                       struct gw_error *err)
{
    if (!id_valid(id))
        return gw_error_set(err, -EINVAL, "'%s' is not a migration id", id);
    if (!agent_name_valid(source))
        return gw_error_set(err, -EINVAL, "'%s' is not a host name", source);
    int rc = agent_vm_spec_check(spec, err);
    if (rc)
        return rc;

    /* A VM of that name that just left this host may still be retiring
     * its old VMM (a quick migration back): wait for it to be gone. */
    for (long long deadline = agent_mono_ms() + RETIRE_WAIT_MS;;) {
        pthread_mutex_lock(&agent->lock);
        struct agent_vm *old = agent_vm_find(agent, spec->name);
        bool retiring = old && old->state == AGENT_VM_MIGRATED;
        pthread_mutex_unlock(&agent->lock);
        if (!retiring || agent_mono_ms() > deadline)
            break;
        usleep(20 * 1000);
    }

    struct agent_vm *vm = NULL;
    pthread_mutex_lock(&agent->lock);
    struct agent_mig *mig = claim(agent, id, source, spec, &vm, err);
    pthread_mutex_unlock(&agent->lock);
    if (!mig)
        return err->code;
    mig->late_cutover = late_cutover;
    LOG_INFO("agent", "vm=%s migration=%s preparing to receive from %s%s", spec->name, id,
             source, late_cutover ? " (late cutover)" : "");

    /* The TAP exists, on the bridge, before the VMM opens it: frames that
     * reach this host before the guest resumes are read and held by the
     * incoming VMM (its early frames).  (Late cutover: the TAP is attached
     * only once the guest runs.) */
    if (spec->nic.present && (rc = agent_tap_prepare(agent, spec->nic.tap, !late_cutover, err))) {
        drop_prepared(agent, vm, mig, err);
        return rc;
    }

    char listen_host[AGENT_ADDR_MAX];
    uint16_t ignored_port, port = 0;
    agent_split_address(agent->config.peer_listen, listen_host, &ignored_port);
    rc = -EADDRINUSE;
    for (uint32_t attempt = 0; attempt < PORT_ATTEMPTS && rc; attempt++) {
        pthread_mutex_lock(&agent->lock);
        port = pick_port(agent, attempt);
        mig->port = port;
        pthread_mutex_unlock(&agent->lock);
        if (!port) {
            gw_error_set(err, -EAGAIN, "no free migration port in %u-%u",
                         agent->config.port_min, agent->config.port_max);
            break;
        }
        char uri[AGENT_ADDR_MAX + 16];
        snprintf(uri, sizeof uri, "tcp:%s:%u", listen_host, port);
        rc = agent_vm_spawn(agent, vm, uri, err);
        if (rc && !strstr(err->msg, "in use"))
            break;
    }
    if (rc) {
        if (spec->nic.present)
            agent_tap_remove(agent, spec->nic.tap);
        drop_prepared(agent, vm, mig, err);
        return gw_error_set(err, rc == -EAGAIN ? -EAGAIN : -EIO, "%s", err->msg);
    }

    pthread_mutex_lock(&agent->lock);
    vm->busy = false;
    vm->tap_created = spec->nic.present;
    mig->last_contact_ms = agent_mono_ms();
    agent_vm_save(agent, vm);
    agent_mig_save(agent, mig);
    pthread_mutex_unlock(&agent->lock);
    if (start_watch(agent, mig, err)) {
        abort_incoming(agent, mig, "cannot watch the attempt");
        return err->code;
    }
    LOG_INFO("agent", "vm=%s migration=%s ready: incoming VMM on %s:%u", spec->name, id,
             listen_host, port);
    return port;
}

/* Finds a destination job and notes the source's contact (lock held). */
static struct agent_mig *find_dest(struct agent *agent, const char *id, struct gw_error *err)
{
    struct agent_mig *mig = agent_mig_find(agent, id);
    if (!mig || mig->role != AGENT_MIG_DESTINATION) {
        gw_error_set(err, -ENOENT, "%s receives no migration '%s'", agent->config.name, id);
        return NULL;
    }
    mig->last_contact_ms = agent_mono_ms();
    return mig;
}

/* The text of the last ready probe the incoming VMM of vm read from its
 * TAP ("" if none yet), or NULL if the VMM does not answer. */
static json_t *last_ready_probe(struct agent *agent, const char *vm)
{
    char sock_path[PATH_MAX];
    agent_vm_path(agent, vm, "control.sock", sock_path);
    struct ctl_call call = { 0 };
    struct gw_error err;
    json_t *text = NULL;
    if (ctl_call(sock_path, "net-stats", NULL, READY_QUERY_TIMEOUT_MS, &call, &err) == 0) {
        json_t *nic = json_array_get(json_object_get(call.result, "net"), 0);
        text = json_incref(json_object_get(nic, "last_ready_probe"));
    }
    ctl_call_uninit(&call);
    return text;
}

json_t *agent_peer_status(struct agent *agent, const char *id, struct gw_error *err)
{
    pthread_mutex_lock(&agent->lock);
    struct agent_mig *mig = find_dest(agent, id, err);
    json_t *json = mig ? agent_mig_json(mig) : NULL;
    struct agent_vm *vm = mig ? agent_vm_find(agent, mig->vm) : NULL;
    char name[AGENT_NAME_MAX + 1] = "";
    if (vm && vm->nic.present && mig->state == AGENT_MIG_PREPARED)
        snprintf(name, sizeof name, "%s", vm->name);
    pthread_mutex_unlock(&agent->lock);
    /* For the ready barrier: the probe the VMM has seen, if any. */
    json_t *probe = json && name[0] ? last_ready_probe(agent, name) : NULL;
    if (probe)
        json_object_set_new(json, "ready_probe", probe);
    return json;
}

/* Promotes the VM now if its VMM already runs the guest; returns the
 * job's state afterwards (lock NOT held). */
static enum agent_mig_state settle(struct agent *agent, struct agent_mig *mig)
{
    pthread_mutex_lock(&agent->lock);
    enum agent_mig_state state = mig->state;
    char name[AGENT_NAME_MAX + 1];
    snprintf(name, sizeof name, "%s", mig->vm);
    pthread_mutex_unlock(&agent->lock);
    if (state != AGENT_MIG_PREPARED)
        return state;
    char vmm_state[16];
    agent_vm_query_state(agent, name, vmm_state);
    if (vmm_runs_guest(vmm_state))
        promote(agent, mig);
    pthread_mutex_lock(&agent->lock);
    state = mig->state;
    pthread_mutex_unlock(&agent->lock);
    return state;
}

static json_t *mig_json_locked(struct agent *agent, struct agent_mig *mig)
{
    pthread_mutex_lock(&agent->lock);
    json_t *json = agent_mig_json(mig);
    pthread_mutex_unlock(&agent->lock);
    return json;
}

json_t *agent_peer_commit(struct agent *agent, const char *id, struct gw_error *err)
{
    pthread_mutex_lock(&agent->lock);
    struct agent_mig *mig = find_dest(agent, id, err);
    pthread_mutex_unlock(&agent->lock);
    if (!mig)
        return NULL;
    enum agent_mig_state state = settle(agent, mig);
    if (state != AGENT_MIG_COMPLETED) {
        gw_error_set(err, -EBUSY, "migration %s is %s here: the VM does not run on %s", id,
                     agent_mig_state_name(state), agent->config.name);
        return NULL;
    }
    return mig_json_locked(agent, mig);
}

json_t *agent_peer_abort(struct agent *agent, const char *id, struct gw_error *err)
{
    pthread_mutex_lock(&agent->lock);
    struct agent_mig *mig = find_dest(agent, id, err);
    char source[AGENT_NAME_MAX + 1] = "";
    if (mig)
        snprintf(source, sizeof source, "%s", mig->source);
    pthread_mutex_unlock(&agent->lock);
    if (!mig)
        return NULL;
    if (settle(agent, mig) == AGENT_MIG_COMPLETED) {
        gw_error_set(err, -EBUSY, "the VM of migration %s already runs on %s", id,
                     agent->config.name);
        return NULL;
    }
    char why[128];
    snprintf(why, sizeof why, "aborted by the source (%s)", source);
    abort_incoming(agent, mig, why);
    return mig_json_locked(agent, mig);
}

void agent_dest_resume_all(struct agent *agent)
{
    pthread_mutex_lock(&agent->lock);
    /* An incoming VM without a prepared job is a leftover: remove it. */
    for (struct agent_vm *vm = agent->vms, *next; vm; vm = next) {
        next = vm->next;
        struct agent_mig *mig = vm->migration[0] ? agent_mig_find(agent, vm->migration) : NULL;
        if (vm->state != AGENT_VM_INCOMING || (mig && mig->state == AGENT_MIG_PREPARED))
            continue;
        LOG_INFO("agent", "vm=%s removing a leftover incoming VM", vm->name);
        pthread_mutex_unlock(&agent->lock);
        agent_vm_kill(agent, vm);
        if (vm->nic.present)
            agent_tap_remove(agent, vm->nic.tap);
        pthread_mutex_lock(&agent->lock);
        agent_vm_forget(agent, vm);
    }
    for (struct agent_mig *mig = agent->migs; mig; mig = mig->next) {
        if (mig->role != AGENT_MIG_DESTINATION || mig->state != AGENT_MIG_PREPARED)
            continue;
        mig->last_contact_ms = agent_mono_ms();
        struct gw_error err;
        if (start_watch(agent, mig, &err))
            LOG_ERR("agent", "migration=%s cannot be watched: %s", mig->id, err.msg);
    }
    pthread_mutex_unlock(&agent->lock);
}
