/*
 * The source side of a migration: the agent that runs the VM prepares the
 * destination, starts the transfer in its VMM, watches it, and commits or
 * rolls back (../shared/DESIGN.md, "One migration, step by step").
 *
 *  preparing --(destination ready, VMM migrating)--> transferring --> switchover
 *      |                                                  |              |
 *      | refused: no job remains                          |              +--> completed: commit
 *      v                                                  +--------------+--> failed | cancelled:
 *   (nothing)                                             |                   roll back
 *                                                         +--> unknown: the VM stays paused here
 *                                                              until the operator resolves it
 *
 * The VMMs carry out the transfer and its hand-over (READY/GO/RESUMED,
 * docs/protocol.md); the agent decides what happens around it.  One
 * monitor thread per job polls the source VMM's query-migrate ten times a
 * second, logs progress every second, and sends the destination agent a
 * heartbeat every second.  If that agent stops answering before the
 * switchover, the transfer is cancelled: the VM runs on here and the
 * incoming VMM, losing its stream, exits.  After the switchover has begun
 * the agent never cancels: only the VMMs know whether GO was sent.
 *
 * A restarted agent starts the monitor again for every job it finds in
 * progress (agent_source_resume_all); the VMM went on meanwhile.
 */
#include "agent/agent.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/peer.h"
#include "agent/ports.h"
#include "net/net.h"
#include "base/log.h"
#include "ctl/client.h"
#include "godwit/ready_probe.h"

#define PREPARE_TIMEOUT_MS 20000
#define PEER_TIMEOUT_MS 2000
#define VMM_TIMEOUT_MS 3000
#define POLL_MS 100
#define HEARTBEATS_MISSED_LIMIT 3   /* then the destination agent counts as lost */

struct monitor {
    struct agent *agent;
    struct agent_mig *mig;
    char id[AGENT_MIG_ID_MAX + 1];
    char vm_name[AGENT_NAME_MAX + 1];
    struct agent_host dest;
    char sock_path[PATH_MAX];
    char abandon_reason[256];   /* why the agent cancelled the transfer itself */
    struct agent_nic nic;       /* the VM's NIC, if it has one */
    bool late_cutover;
    bool cancel_sent;
    int heartbeats_missed;
};

/* --- small helpers around the destination agent --- */

static void peer_path(char *out, size_t size, const char *id, const char *action)
{
    snprintf(out, size, "/v1/peer/migrations/%s%s%s", id, action ? "/" : "", action ? action : "");
}

/* Asks the destination to remove its half; best effort. */
static int peer_abort(struct agent *agent, const struct agent_host *dest, const char *id,
                      struct gw_error *err)
{
    char path[128];
    json_t *reply = NULL;
    peer_path(path, sizeof path, id, "abort");
    int rc = peer_request(agent, dest, "POST", path, NULL, PEER_TIMEOUT_MS, &reply, err);
    json_decref(reply);
    return rc;
}

/* One string field of the destination's view of the job into out (size
 * bytes), "" if its agent does not answer or the field is absent.
 * Returns peer_request's code, or -ENOENT for an absent field. */
static int peer_field(struct agent *agent, const struct agent_host *dest, const char *id,
                      const char *key, char *out, size_t size)
{
    char path[128];
    json_t *reply = NULL;
    struct gw_error err;
    peer_path(path, sizeof path, id, NULL);
    int rc = peer_request(agent, dest, "GET", path, NULL, PEER_TIMEOUT_MS, &reply, &err);
    const char *value = rc ? NULL : json_string_value(json_object_get(reply, key));
    snprintf(out, size, "%s", value ? value : "");
    json_decref(reply);
    return rc ? rc : value ? 0 : -ENOENT;
}

/* The destination's job state (16 bytes), "" if its agent does not answer. */
static int peer_state(struct agent *agent, const struct agent_host *dest, const char *id,
                      char *state)
{
    return peer_field(agent, dest, id, "state", state, 16);
}

static int vmm_call(struct monitor *m, const char *cmd, json_t *args, struct ctl_call *call,
                    struct gw_error *err)
{
    return ctl_call(m->sock_path, cmd, args, VMM_TIMEOUT_MS, call, err);
}

/* --- the end of a job --- */

/* The destination runs the VM: confirm it there, retire the source copy. */
static void finish_completed(struct monitor *m, json_t *final)
{
    struct agent *agent = m->agent;
    pthread_mutex_lock(&agent->lock);
    if (final) {
        m->mig->has_result = true;
        m->mig->result = (struct agent_mig_result){
            .total_ms = json_integer_value(json_object_get(final, "total_ms")),
            .setup_ms = json_integer_value(json_object_get(final, "setup_ms")),
            .downtime_us = json_integer_value(json_object_get(final, "downtime_us")),
            .bytes_sent = json_integer_value(json_object_get(final, "bytes_sent")),
            .passes = (uint32_t)json_integer_value(json_object_get(final, "pass")),
        };
    }
    pthread_mutex_unlock(&agent->lock);

    /* Commit the network: the port is bound to the destination only. */
    if (m->nic.present)
        agent_port_set(agent, m->vm_name, m->nic.mac, m->nic.ip, m->dest.name, "", "up");

    char path[128];
    peer_path(path, sizeof path, m->id, "commit");
    for (int attempt = 0; attempt < 3; attempt++) {
        json_t *reply = NULL;
        struct gw_error err;
        int rc = peer_request(agent, &m->dest, "POST", path, NULL, PEER_TIMEOUT_MS, &reply, &err);
        json_decref(reply);
        if (!rc)
            break;
        LOG_WARN("agent", "vm=%s migration=%s commit not confirmed by %s (%s); it adopts the "
                 "VM on its own once it sees it running", m->vm_name, m->id, m->dest.name, err.msg);
        if (agent_sleep_ms(agent, 1000))
            break;
    }

    /* The job is complete now; retiring the old VMM (it frees its guest
     * RAM, a few hundred ms for a GiB here) happens after, under the
     * "migrated" state, which keeps the VM's name reserved meanwhile. */
    pthread_mutex_lock(&agent->lock);
    struct agent_vm *vm = agent_vm_find(agent, m->vm_name);
    if (vm) {
        vm->state = AGENT_VM_MIGRATED;
        vm->busy = true;
        agent_vm_save(agent, vm);
    }
    agent_mig_set_state(agent, m->mig, AGENT_MIG_COMPLETED);
    struct agent_mig_result r = m->mig->result;
    pthread_mutex_unlock(&agent->lock);
    LOG_INFO("agent", "vm=%s migration=%s completed: %s runs the VM; total=%llums "
             "downtime=%.1fms passes=%u sent=%lluMiB", m->vm_name, m->id, m->dest.name,
             (unsigned long long)r.total_ms, r.downtime_us / 1000.0, r.passes,
             (unsigned long long)(r.bytes_sent >> 20));
    if (vm) {
        agent_vm_quit(agent, vm);
        if (m->nic.present)
            agent_tap_remove(agent, m->nic.tap);
        pthread_mutex_lock(&agent->lock);
        agent_vm_forget(agent, vm);
        pthread_mutex_unlock(&agent->lock);
    }
}

/* The VM runs here as before: remove the destination's half. */
static void finish_rolled_back(struct monitor *m, enum agent_mig_state state, const char *why)
{
    struct agent *agent = m->agent;
    struct gw_error err;
    if (m->nic.present && !m->late_cutover)
        agent_port_set(agent, m->vm_name, m->nic.mac, m->nic.ip, agent->config.name, "", "up");
    if (peer_abort(agent, &m->dest, m->id, &err) && err.code != -ENOENT)
        LOG_WARN("agent", "vm=%s migration=%s %s did not confirm the abort (%s); it removes "
                 "the attempt on its own when its incoming VMM exits", m->vm_name, m->id,
                 m->dest.name, err.msg);
    pthread_mutex_lock(&agent->lock);
    struct agent_vm *vm = agent_vm_find(agent, m->vm_name);
    if (vm && !strcmp(vm->migration, m->id)) {
        vm->migration[0] = '\0';
        agent_vm_save(agent, vm);
    }
    if (m->abandon_reason[0]) {
        state = AGENT_MIG_FAILED;
        why = m->abandon_reason;
    }
    snprintf(m->mig->error, sizeof m->mig->error, "%s", why && why[0] ? why : "failed");
    agent_mig_set_state(agent, m->mig, state);
    pthread_mutex_unlock(&agent->lock);
}

/* After GO, no RESUMED: only the destination knows.  Tell the operator. */
static void finish_unknown(struct monitor *m)
{
    struct agent *agent = m->agent;
    char dest_state[16];
    peer_state(agent, &m->dest, m->id, dest_state);
    pthread_mutex_lock(&agent->lock);
    snprintf(m->mig->error, sizeof m->mig->error, "unknown: operator action needed");
    snprintf(m->mig->hint, sizeof m->mig->hint,
             "%s is paused on %s. Its final state went to %s, whose answer never came, so only "
             "%s knows whether it runs the guest (its agent says: %s). If %s runs on %s "
             "(check there: godwit vm show %s), discard the paused copy here: godwit migration "
             "resolve %s --keep destination. If it does not, resume the copy here: godwit "
             "migration resolve %s --keep source. Never both.",
             m->vm_name, agent->config.name, m->dest.name, m->dest.name,
             dest_state[0] ? (!strcmp(dest_state, "completed") ? "the VM runs here"
                                                                : dest_state)
                           : "no answer",
             m->vm_name, m->dest.name, m->vm_name, m->id, m->id);
    agent_mig_set_state(agent, m->mig, AGENT_MIG_UNKNOWN);
    pthread_mutex_unlock(&agent->lock);
    LOG_ERR("agent", "vm=%s migration=%s outcome unknown: operator action needed "
            "(godwit migration show %s)", m->vm_name, m->id, m->id);
}

/* The source VMM is gone (it crashed, or exited while the agent was
 * away): the destination's word decides. */
static void finish_vmm_gone(struct monitor *m)
{
    char dest_state[16];
    peer_state(m->agent, &m->dest, m->id, dest_state);
    if (!strcmp(dest_state, "completed")) {
        finish_completed(m, NULL);
        return;
    }
    finish_rolled_back(m, AGENT_MIG_FAILED, "the source VMM exited during the migration");
}

/* --- the monitor --- */

static void log_progress(struct monitor *m, const json_t *q)
{
    json_int_t total = json_integer_value(json_object_get(q, "total_bytes"));
    LOG_INFO("agent", "vm=%s migration=%s progress state=%s pass=%lld sent=%lldMiB "
             "remaining=%lldMiB of %lldMiB throughput=%.0fMB/s dirty_rate=%lld pages/s "
             "expected_downtime=%lldms", m->vm_name, m->id,
             json_string_value(json_object_get(q, "state")),
             (long long)json_integer_value(json_object_get(q, "pass")),
             (long long)(json_integer_value(json_object_get(q, "bytes_sent")) >> 20),
             (long long)(json_integer_value(json_object_get(q, "remaining_bytes")) >> 20),
             (long long)(total >> 20),
             json_integer_value(json_object_get(q, "throughput_bps")) / 1e6,
             (long long)json_integer_value(json_object_get(q, "dirty_pages_per_s")),
             (long long)json_integer_value(json_object_get(q, "expected_downtime_ms")));
}

/* Cancels the transfer in the VMM, remembering why (before switchover only). */
static void abandon(struct monitor *m, const char *fmt, const char *detail)
{
    struct ctl_call call;
    struct gw_error err;
    if (m->cancel_sent)
        return;
    snprintf(m->abandon_reason, sizeof m->abandon_reason, fmt, detail);
    LOG_WARN("agent", "vm=%s migration=%s abandoning the transfer: %s", m->vm_name, m->id,
             m->abandon_reason);
    if (vmm_call(m, "migrate-cancel", NULL, &call, &err))
        LOG_WARN("agent", "vm=%s migration=%s cancel: %s", m->vm_name, m->id, err.msg);
    ctl_call_uninit(&call);
    m->cancel_sent = true;
}

/* One heartbeat to the destination agent during the transfer. */
static void heartbeat(struct monitor *m, bool before_switchover)
{
    char dest_state[16];
    int rc = peer_state(m->agent, &m->dest, m->id, dest_state);
    if (rc == 0) {
        m->heartbeats_missed = 0;
        if (!strcmp(dest_state, "aborted") && before_switchover)
            abandon(m, "%s aborted its side of the migration", m->dest.name);
        return;
    }
    m->heartbeats_missed++;
    if (m->heartbeats_missed >= HEARTBEATS_MISSED_LIMIT && before_switchover)
        abandon(m, "lost contact with the agent of %s", m->dest.name);
}

/* Follows the VMM's query-migrate; returns true once the job ended. */
static bool follow(struct monitor *m, json_t *q)
{
    struct agent *agent = m->agent;
    const char *state = json_string_value(json_object_get(q, "state"));
    const char *error = json_string_value(json_object_get(q, "error"));
    if (!state)
        state = "none";
    pthread_mutex_lock(&agent->lock);
    json_decref(m->mig->progress);
    m->mig->progress = json_incref(q);
    if (!strcmp(state, "switchover"))
        agent_mig_set_state(agent, m->mig, AGENT_MIG_SWITCHOVER);
    else if (!strcmp(state, "setup") || !strcmp(state, "active"))
        agent_mig_set_state(agent, m->mig, AGENT_MIG_TRANSFERRING);
    bool cancel = m->mig->cancel_requested;
    pthread_mutex_unlock(&agent->lock);

    if (!strcmp(state, "completed")) {
        finish_completed(m, q);
    } else if (!strcmp(state, "failed")) {
        finish_rolled_back(m, AGENT_MIG_FAILED, error);
    } else if (!strcmp(state, "cancelled")) {
        finish_rolled_back(m, AGENT_MIG_CANCELLED, cancel ? "cancelled by the operator" : error);
    } else if (!strcmp(state, "unknown")) {
        finish_unknown(m);
    } else if (!strcmp(state, "none")) {
        finish_rolled_back(m, AGENT_MIG_FAILED, "the VMM never started the transfer (the agent "
                           "restarted while preparing)");
    } else {
        return false;
    }
    return true;
}

static void *monitor_thread(void *arg)
{
    struct monitor *m = arg;
    struct agent *agent = m->agent;
    long long next_second = agent_mono_ms() + 1000;
    json_t *last = NULL;

    while (!agent_sleep_ms(agent, POLL_MS)) {
        struct ctl_call call;
        struct gw_error err;
        if (vmm_call(m, "query-migrate", NULL, &call, &err) == 0) {
            json_decref(last);
            last = json_incref(call.result);
            bool ended = follow(m, call.result);
            ctl_call_uninit(&call);
            if (ended)
                break;
        } else {
            ctl_call_uninit(&call);
            pthread_mutex_lock(&agent->lock);
            struct agent_vm *vm = agent_vm_find(agent, m->vm_name);
            bool gone = !vm || vm->pid == 0;
            pthread_mutex_unlock(&agent->lock);
            if (gone) {
                finish_vmm_gone(m);
                break;
            }
        }
        if (agent_mono_ms() >= next_second) {
            next_second += 1000;
            const char *state = json_string_value(json_object_get(last, "state"));
            bool before_switchover = state && (!strcmp(state, "setup") || !strcmp(state, "active"));
            if (last)
                log_progress(m, last);
            heartbeat(m, before_switchover);
        }
    }
    json_decref(last);
    free(m);
    return NULL;
}

/* Starts the monitor thread of a job (detached; it frees its argument). */
static int start_monitor(struct agent *agent, struct agent_mig *mig, struct gw_error *err)
{
    struct monitor *m = calloc(1, sizeof *m);
    if (!m)
        return gw_error_set(err, -ENOMEM, "out of memory");
    m->agent = agent;
    m->mig = mig;
    pthread_mutex_lock(&agent->lock);
    snprintf(m->id, sizeof m->id, "%s", mig->id);
    snprintf(m->vm_name, sizeof m->vm_name, "%s", mig->vm);
    struct agent_vm *vm = agent_vm_find(agent, mig->vm);
    if (vm)
        m->nic = vm->nic;
    m->late_cutover = mig->late_cutover;
    const struct agent_host *dest = agent_config_host(&agent->config, mig->destination);
    if (dest)
        m->dest = *dest;
    else        /* the host left the configuration since: heartbeats fail, rollback */
        snprintf(m->dest.name, sizeof m->dest.name, "%s", mig->destination);
    pthread_mutex_unlock(&agent->lock);
    agent_vm_path(agent, m->vm_name, "control.sock", m->sock_path);

    pthread_t thread;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int rc = pthread_create(&thread, &attr, monitor_thread, m);
    pthread_attr_destroy(&attr);
    if (rc) {
        free(m);
        return gw_error_set(err, -rc, "cannot start a thread: %s", strerror(rc));
    }
    return 0;
}

/* --- the ready barrier --- */

#define BARRIER_TIMEOUT_MS 3000
#define BARRIER_RESEND_MS 100
#define BARRIER_CHECK_MS 2
_Static_assert(sizeof READY_PROBE_PREFIX + AGENT_MIG_ID_MAX <= READY_PROBE_TEXT_MAX,
               "a probe's text holds the prefix and any migration id");

/* The text of the last ready probe the destination's incoming VMM read
 * from its TAP, in text (READY_PROBE_TEXT_MAX bytes); false if the
 * destination does not say. */
static bool dest_ready_probe(struct agent *agent, const struct agent_host *dest, const char *id,
                             char *text)
{
    return peer_field(agent, dest, id, "ready_probe", text, READY_PROBE_TEXT_MAX) == 0;
}

/*
 * The destination is ready only when its data path is proven: a probe
 * frame to the VM's MAC, carrying this migration's id, sent into this
 * host's overlay device (whose forwarding entry now lists the
 * destination), must be read from the VM's TAP there by the incoming VMM
 * that will deliver the guest's traffic (include/godwit/ready_probe.h).
 * Any other frame arriving there proves nothing, so only this one counts.
 */
static int ready_barrier(struct agent *agent, const struct agent_host *dest, const char *id,
                         const struct agent_nic *nic, struct gw_error *err)
{
    char want[READY_PROBE_TEXT_MAX], seen[READY_PROBE_TEXT_MAX];
    snprintf(want, sizeof want, "%s%s", READY_PROBE_PREFIX, id);
    if (!dest_ready_probe(agent, dest, id, seen))
        return gw_error_set(err, -EIO, "%s did not report its VMM's ready probes", dest->name);
    uint8_t frame[14 + READY_PROBE_TEXT_MAX] = { 0 };
    memcpy(frame, nic->mac, 6);
    net_link_mac(agent->config.vxlan, frame + 6, err);
    frame[12] = READY_PROBE_ETHERTYPE >> 8;
    frame[13] = READY_PROBE_ETHERTYPE & 0xff;
    memcpy(frame + 14, want, strlen(want));
    long long start = agent_mono_ms();
    int checks = 0, probes = 0;
    while (agent_mono_ms() - start < BARRIER_TIMEOUT_MS) {
        struct gw_error send_err;
        if (net_send_frame(agent->frame_fd, agent->config.vxlan, frame, sizeof frame,
                           &send_err))
            LOG_WARN("agent", "migration=%s cannot send the probe: %s", id, send_err.msg);
        probes++;
        /* Check soon and often: every ms of the barrier is a ms in which
         * frames pile up at the destination. */
        for (int waited = 0; waited < BARRIER_RESEND_MS; waited += BARRIER_CHECK_MS) {
            agent_sleep_ms(agent, BARRIER_CHECK_MS);
            checks++;
            if (dest_ready_probe(agent, dest, id, seen) && !strcmp(seen, want)) {
                LOG_INFO("agent", "migration=%s ready: the probe reached the VMM on %s in %lld ms "
                         "(%d sent, %d checks)", id, dest->name, agent_mono_ms() - start, probes,
                         checks);
                return 0;
            }
        }
    }
    return gw_error_set(err, -EIO, "%s is not ready: a probe frame to the VM's MAC did not "
                        "reach its VMM within %d ms", dest->name, BARRIER_TIMEOUT_MS);
}

/* --- the API's entry points --- */

/* Takes vm for a migration (lock held): every refusal happens here. */
static struct agent_mig *claim(struct agent *agent, const struct agent_mig_request *req,
                               struct agent_vm_spec *spec, struct gw_error *err)
{
    struct agent_vm *vm = agent_vm_find(agent, req->vm);
    if (!vm) {
        gw_error_set(err, -ENOENT, "no VM named '%s' on %s", req->vm, agent->config.name);
        return NULL;
    }
    if (vm->migration[0]) {
        gw_error_set(err, -EBUSY, "vm %s is already migrating (migration %s)", vm->name,
                     vm->migration);
        return NULL;
    }
    if (vm->busy || vm->state != AGENT_VM_RUNNING || !vm->pid) {
        gw_error_set(err, -EBUSY, "vm %s is not running: only a running VM can migrate",
                     vm->name);
        return NULL;
    }
    uint32_t active = agent_mig_count_active(agent, AGENT_MIG_SOURCE);
    if (active >= agent->config.max_outgoing) {
        gw_error_set(err, -EAGAIN, "%s already runs %u outgoing migration%s (max_outgoing = %u)",
                     agent->config.name, active, active == 1 ? "" : "s",
                     agent->config.max_outgoing);
        return NULL;
    }
    struct agent_mig *mig = agent_mig_new(agent, AGENT_MIG_SOURCE, vm->name);
    if (!mig) {
        gw_error_set(err, -ENOMEM, "out of memory");
        return NULL;
    }
    snprintf(mig->source, sizeof mig->source, "%s", agent->config.name);
    snprintf(mig->destination, sizeof mig->destination, "%s", req->to);
    mig->max_downtime_ms = req->max_downtime_ms;
    mig->max_bandwidth = req->max_bandwidth;
    mig->timeout_s = req->timeout_s;
    mig->verify_memory = req->verify_memory;
    mig->auto_converge = req->auto_converge;
    mig->late_cutover = req->late_cutover;
    mig->state = AGENT_MIG_PREPARING;
    snprintf(vm->migration, sizeof vm->migration, "%s", mig->id);
    agent_vm_save(agent, vm);
    agent_mig_save(agent, mig);

    *spec = (struct agent_vm_spec){ .memory_bytes = vm->memory_bytes, .vcpus = vm->vcpus };
    snprintf(spec->name, sizeof spec->name, "%s", vm->name);
    snprintf(spec->kernel, sizeof spec->kernel, "%s", vm->kernel);
    snprintf(spec->cmdline, sizeof spec->cmdline, "%s", vm->cmdline);
    spec->nic = vm->nic;
    LOG_INFO("agent", "vm=%s migration=%s to %s: preparing", vm->name, mig->id, req->to);
    return mig;
}

/* A refused start leaves nothing behind (lock NOT held). */
static void unclaim(struct agent *agent, struct agent_mig *mig, const struct gw_error *why)
{
    pthread_mutex_lock(&agent->lock);
    LOG_WARN("agent", "vm=%s migration=%s refused: %s", mig->vm, mig->id, why->msg);
    struct agent_vm *vm = agent_vm_find(agent, mig->vm);
    if (vm && !strcmp(vm->migration, mig->id)) {
        vm->migration[0] = '\0';
        agent_vm_save(agent, vm);
    }
    agent_mig_discard(agent, mig);
    pthread_mutex_unlock(&agent->lock);
}

/* Asks the destination for an incoming VMM; returns its port or -errno. */
static int prepare_destination(struct agent *agent, const struct agent_host *dest,
                               const char *id, const struct agent_vm_spec *spec, bool late,
                               struct gw_error *err)
{
    json_t *body = json_pack("{s:s, s:s, s:b, s:{s:s, s:s, s:I, s:i, s:s, s:o}}",
                             "migration", id, "source", agent->config.name, "late_cutover", late,
                             "vm", "name", spec->name, "kernel", spec->kernel,
                             "memory_bytes", (json_int_t)spec->memory_bytes,
                             "vcpus", (int)spec->vcpus, "cmdline", spec->cmdline,
                             "nic", agent_nic_json(&spec->nic));
    json_t *reply = NULL;
    int rc = peer_request(agent, dest, "POST", "/v1/peer/prepare", body, PREPARE_TIMEOUT_MS,
                          &reply, err);
    json_decref(body);
    if (rc)
        return rc;
    json_int_t port = json_integer_value(json_object_get(reply, "port"));
    json_decref(reply);
    if (port < 1 || port > 65535)
        return gw_error_set(err, -EIO, "%s answered prepare without a valid port", dest->name);
    return (int)port;
}

json_t *agent_migrate(struct agent *agent, const struct agent_mig_request *req,
                      struct gw_error *err)
{
    const struct agent_host *dest = agent_config_host(&agent->config, req->to);
    if (!dest) {
        gw_error_set(err, -ENXIO, "no host named '%s' in the cluster list of %s", req->to,
                     agent->config.name);
        return NULL;
    }
    if (!strcmp(req->to, agent->config.name)) {
        gw_error_set(err, -EINVAL, "vm %s already runs on %s", req->vm, req->to);
        return NULL;
    }
    struct agent_vm_spec spec;
    pthread_mutex_lock(&agent->lock);
    struct agent_mig *mig = claim(agent, req, &spec, err);
    pthread_mutex_unlock(&agent->lock);
    if (!mig)
        return NULL;

    /* 1. Prepare: the destination checks capacity and starts an incoming VMM. */
    int port = prepare_destination(agent, dest, mig->id, &spec, req->late_cutover, err);
    if (port < 0) {
        if (port == -EHOSTUNREACH) {    /* it may have prepared before we gave up */
            struct gw_error ignored;
            peer_abort(agent, dest, mig->id, &ignored);
        }
        unclaim(agent, mig, err);
        return NULL;
    }

    /* 2. Bind the port to both hosts and prove the destination's data
     * path, before a single page moves (DESIGN.md, steps 1 and 2). */
    if (spec.nic.present && !req->late_cutover) {
        agent_port_set(agent, spec.name, spec.nic.mac, spec.nic.ip, agent->config.name,
                       dest->name, "migrating");
        if (ready_barrier(agent, dest, mig->id, &spec.nic, err)) {
            struct gw_error ignored;
            peer_abort(agent, dest, mig->id, &ignored);
            agent_port_set(agent, spec.name, spec.nic.mac, spec.nic.ip, agent->config.name, "",
                           "up");
            unclaim(agent, mig, err);
            return NULL;
        }
    }

    /* 3. Transfer: the source VMM streams to the incoming one. */
    char host[AGENT_ADDR_MAX], uri[AGENT_ADDR_MAX + 16], sock_path[PATH_MAX];
    uint16_t peer_port;
    agent_split_address(dest->address, host, &peer_port);
    snprintf(uri, sizeof uri, "tcp:%s:%d", host, port);
    agent_vm_path(agent, req->vm, "control.sock", sock_path);
    json_t *args = json_pack("{s:s, s:I, s:I, s:I, s:b, s:b}", "uri", uri,
                             "max_downtime_ms", (json_int_t)req->max_downtime_ms,
                             "max_bandwidth", (json_int_t)req->max_bandwidth,
                             "timeout_s", (json_int_t)req->timeout_s,
                             "verify_memory", req->verify_memory,
                             "auto_converge", req->auto_converge);
    struct ctl_call call;
    struct gw_error vmm_err;
    int rc = ctl_call(sock_path, "migrate", args, VMM_TIMEOUT_MS, &call, &vmm_err);
    ctl_call_uninit(&call);
    json_decref(args);
    if (rc) {
        struct gw_error ignored;
        gw_error_set(err, -EIO, "the VMM of %s did not start the migration: %s", req->vm,
                     vmm_err.msg);
        peer_abort(agent, dest, mig->id, &ignored);
        unclaim(agent, mig, err);
        return NULL;
    }

    pthread_mutex_lock(&agent->lock);
    agent_mig_set_state(agent, mig, AGENT_MIG_TRANSFERRING);
    json_t *json = agent_mig_json(mig);
    pthread_mutex_unlock(&agent->lock);
    LOG_INFO("agent", "vm=%s migration=%s transferring to %s (%s)", req->vm, mig->id, req->to,
             uri);
    if (start_monitor(agent, mig, err)) {
        /* Without a monitor nobody would commit or roll back: cancel now. */
        ctl_call(sock_path, "migrate-cancel", NULL, VMM_TIMEOUT_MS, &call, &vmm_err);
        ctl_call_uninit(&call);
        LOG_ERR("agent", "vm=%s migration=%s cannot be watched: %s", req->vm, mig->id, err->msg);
    }
    return json;
}

/* Finds a source job (lock held). */
static struct agent_mig *find_source(struct agent *agent, const char *id, struct gw_error *err)
{
    struct agent_mig *mig = agent_mig_find(agent, id);
    if (!mig) {
        gw_error_set(err, -ENOENT, "no migration '%s' on %s", id, agent->config.name);
        return NULL;
    }
    if (mig->role != AGENT_MIG_SOURCE) {
        gw_error_set(err, -EBUSY, "%s is the destination of migration %s: ask %s", 
                     agent->config.name, id, mig->source);
        return NULL;
    }
    return mig;
}

int agent_mig_cancel(struct agent *agent, const char *id, struct gw_error *err)
{
    char sock_path[PATH_MAX];
    pthread_mutex_lock(&agent->lock);
    struct agent_mig *mig = find_source(agent, id, err);
    if (mig && mig->state != AGENT_MIG_PREPARING && mig->state != AGENT_MIG_TRANSFERRING) {
        gw_error_set(err, -EBUSY, "migration %s is %s: %s", id, agent_mig_state_name(mig->state),
                     mig->state == AGENT_MIG_SWITCHOVER ? "the switchover has begun"
                                                        : "nothing to cancel");
        mig = NULL;
    }
    if (mig) {
        mig->cancel_requested = true;
        agent_vm_path(agent, mig->vm, "control.sock", sock_path);
        LOG_INFO("agent", "vm=%s migration=%s cancel requested", mig->vm, id);
    }
    pthread_mutex_unlock(&agent->lock);
    if (!mig)
        return err->code;
    /* The monitor sees the VMM's "cancelled" and rolls back. */
    struct ctl_call call;
    struct gw_error vmm_err;
    int rc = ctl_call(sock_path, "migrate-cancel", NULL, VMM_TIMEOUT_MS, &call, &vmm_err);
    ctl_call_uninit(&call);
    if (rc && rc == -EREMOTEIO && !strcmp(call.error_code, "wrong-state"))
        return gw_error_set(err, -EBUSY, "too late to cancel: %s", vmm_err.msg);
    return 0;
}

/* The control socket (sock_path, PATH_MAX bytes) of the source VMM of
 * migration id, if it is transferring; else -ENOENT, or -EBUSY saying that
 * `action` only while it transfers (lock NOT held). */
static int transferring_vmm(struct agent *agent, const char *id, const char *action,
                            char *sock_path, struct gw_error *err)
{
    pthread_mutex_lock(&agent->lock);
    struct agent_mig *mig = find_source(agent, id, err);
    int rc = mig ? 0 : err->code;
    if (mig && mig->state != AGENT_MIG_TRANSFERRING)
        rc = gw_error_set(err, -EBUSY, "migration %s is %s: %s only while it transfers", id,
                          agent_mig_state_name(mig->state), action);
    if (!rc)
        agent_vm_path(agent, mig->vm, "control.sock", sock_path);
    pthread_mutex_unlock(&agent->lock);
    return rc;
}

int agent_mig_force_complete(struct agent *agent, const char *id, struct gw_error *err)
{
    char sock_path[PATH_MAX];
    int rc = transferring_vmm(agent, id, "it can be forced to complete", sock_path, err);
    if (rc)
        return rc;
    LOG_INFO("agent", "migration=%s force-complete requested", id);
    struct ctl_call call;
    struct gw_error vmm_err;
    rc = ctl_call(sock_path, "migrate-force-complete", NULL, VMM_TIMEOUT_MS, &call, &vmm_err);
    bool wrong_state = rc == -EREMOTEIO && !strcmp(call.error_code, "wrong-state");
    ctl_call_uninit(&call);
    if (rc)
        return gw_error_set(err, wrong_state ? -EBUSY : -EIO, "the VMM refused: %s",
                            vmm_err.msg);
    return 0;
}

int agent_mig_set(struct agent *agent, const char *id, long long max_downtime_ms,
                  long long max_bandwidth, long long timeout_s, int auto_converge,
                  struct gw_error *err)
{
    char sock_path[PATH_MAX];
    if (transferring_vmm(agent, id, "its policy can change", sock_path, err))
        return err->code;

    json_t *args = json_object();
    if (max_downtime_ms >= 0)
        json_object_set_new(args, "max_downtime_ms", json_integer(max_downtime_ms));
    if (max_bandwidth >= 0)
        json_object_set_new(args, "max_bandwidth", json_integer(max_bandwidth));
    if (timeout_s >= 0)
        json_object_set_new(args, "timeout_s", json_integer(timeout_s));
    if (auto_converge >= 0)
        json_object_set_new(args, "auto_converge", json_boolean(auto_converge));
    struct ctl_call call;
    struct gw_error vmm_err;
    int rc = ctl_call(sock_path, "migrate-set", args, VMM_TIMEOUT_MS, &call, &vmm_err);
    json_decref(args);
    if (rc) {
        ctl_call_uninit(&call);
        return gw_error_set(err, rc == -EREMOTEIO && !strcmp(call.error_code, "wrong-state")
                                 ? -EBUSY : -EIO, "the VMM refused: %s", vmm_err.msg);
    }
    pthread_mutex_lock(&agent->lock);
    struct gw_error gone;
    struct agent_mig *mig = find_source(agent, id, &gone);     /* found again: the lock was let go */
    if (mig) {
        mig->max_downtime_ms = json_integer_value(json_object_get(call.result, "max_downtime_ms"));
        mig->max_bandwidth = json_integer_value(json_object_get(call.result, "max_bandwidth"));
        mig->timeout_s = json_integer_value(json_object_get(call.result, "timeout_s"));
        mig->auto_converge = json_is_true(json_object_get(call.result, "auto_converge"));
        agent_mig_save(agent, mig);
        LOG_INFO("agent", "vm=%s migration=%s policy: max_downtime=%llums max_bandwidth=%llu "
                 "timeout=%llus auto_converge=%s", mig->vm, id,
                 (unsigned long long)mig->max_downtime_ms, (unsigned long long)mig->max_bandwidth,
                 (unsigned long long)mig->timeout_s, mig->auto_converge ? "on" : "off");
    }
    pthread_mutex_unlock(&agent->lock);
    ctl_call_uninit(&call);
    return 0;
}

int agent_mig_resolve(struct agent *agent, const char *id, bool keep_destination,
                      struct gw_error *err)
{
    char vm_name[AGENT_NAME_MAX + 1], sock_path[PATH_MAX];
    struct agent_host dest = { 0 };
    pthread_mutex_lock(&agent->lock);
    struct agent_mig *mig = find_source(agent, id, err);
    if (mig && mig->state != AGENT_MIG_UNKNOWN) {
        gw_error_set(err, -EBUSY, "migration %s is %s: only an unknown outcome needs resolving",
                     id, agent_mig_state_name(mig->state));
        mig = NULL;
    }
    if (mig) {
        snprintf(vm_name, sizeof vm_name, "%s", mig->vm);
        const struct agent_host *host = agent_config_host(&agent->config, mig->destination);
        if (host)
            dest = *host;
    }
    struct agent_vm *vm = mig ? agent_vm_find(agent, vm_name) : NULL;
    pthread_mutex_unlock(&agent->lock);
    if (!mig)
        return err->code;
    agent_vm_path(agent, vm_name, "control.sock", sock_path);

    struct agent_nic nic = vm ? vm->nic : (struct agent_nic){ 0 };
    if (keep_destination) {
        if (nic.present)
            agent_port_set(agent, vm_name, nic.mac, nic.ip, dest.name, "", "up");
        if (vm)
            agent_vm_quit(agent, vm);
        if (nic.present)
            agent_tap_remove(agent, nic.tap);
        json_t *reply = NULL;
        struct gw_error peer_err;
        char path[128];
        peer_path(path, sizeof path, id, "commit");
        if (dest.name[0])
            peer_request(agent, &dest, "POST", path, NULL, PEER_TIMEOUT_MS, &reply, &peer_err);
        json_decref(reply);
        pthread_mutex_lock(&agent->lock);
        if (vm)
            agent_vm_forget(agent, vm);
        mig->error[0] = '\0';
        snprintf(mig->hint, sizeof mig->hint, "resolved by the operator: %s runs the VM",
                 mig->destination);
        agent_mig_set_state(agent, mig, AGENT_MIG_COMPLETED);
        pthread_mutex_unlock(&agent->lock);
        return 0;
    }

    struct gw_error peer_err = { 0 };
    int rc = dest.name[0] ? peer_abort(agent, &dest, id, &peer_err) : -EHOSTUNREACH;
    if (rc == -EBUSY)
        return gw_error_set(err, -EBUSY, "%s runs %s (%s): resolve with --keep destination",
                            dest.name, vm_name, peer_err.msg);
    if (rc && rc != -ENOENT)
        LOG_WARN("agent", "vm=%s migration=%s %s cannot confirm it does not run the VM (%s); "
                 "resuming here on the operator's word", vm_name, id, dest.name, peer_err.msg);
    struct ctl_call call;
    struct gw_error vmm_err;
    rc = ctl_call(sock_path, "migrate-recover", NULL, VMM_TIMEOUT_MS, &call, &vmm_err);
    ctl_call_uninit(&call);
    if (rc)
        return gw_error_set(err, -EIO, "the VMM cannot resume the VM: %s", vmm_err.msg);
    if (nic.present)
        agent_port_set(agent, vm_name, nic.mac, nic.ip, agent->config.name, "", "up");
    pthread_mutex_lock(&agent->lock);
    if (vm && !strcmp(vm->migration, id)) {
        vm->migration[0] = '\0';
        agent_vm_save(agent, vm);
    }
    snprintf(mig->error, sizeof mig->error, "resolved by the operator: the VM runs on %s again",
             agent->config.name);
    mig->hint[0] = '\0';
    agent_mig_set_state(agent, mig, AGENT_MIG_FAILED);
    pthread_mutex_unlock(&agent->lock);
    return 0;
}

void agent_source_resume_all(struct agent *agent)
{
    pthread_mutex_lock(&agent->lock);
    for (struct agent_mig *mig = agent->migs; mig; mig = mig->next) {
        if (mig->role != AGENT_MIG_SOURCE || agent_mig_state_is_final(mig->state) ||
            mig->state == AGENT_MIG_UNKNOWN)
            continue;
        LOG_INFO("agent", "vm=%s migration=%s was %s when the agent stopped: watching it again",
                 mig->vm, mig->id, agent_mig_state_name(mig->state));
        pthread_mutex_unlock(&agent->lock);
        struct gw_error err;
        if (start_monitor(agent, mig, &err))
            LOG_ERR("agent", "migration=%s cannot be watched: %s", mig->id, err.msg);
        pthread_mutex_lock(&agent->lock);
    }
    pthread_mutex_unlock(&agent->lock);
}
