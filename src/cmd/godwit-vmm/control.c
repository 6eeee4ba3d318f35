/* godwit-vmm control commands; see control.h. */
#include "control.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "dev/virtio_net.h"

/* [{index, tap, mac, rx_frames, ...}] for every virtio-net device. */
static json_t *net_stats(struct vm *vm)
{
    json_t *list = json_array();
    for (uint32_t i = 0; i < vm_net_count(vm); i++) {
        struct virtio_net *dev = vm_net(vm, i);
        struct virtio_net_stats st;
        char mac[18];
        virtio_net_get_stats(dev, &st);
        virtio_net_format_mac(virtio_net_mac(dev), mac);
        json_array_append_new(
            list, json_pack("{s:i, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:s, s:I, s:I, s:I, "
                            "s:I, s:I, s:i, s:i, s:I}",
                            "index", (int)i, "tap", virtio_net_tap_name(dev), "mac", mac,
                            "rx_frames", (json_int_t)st.rx_frames,
                            "rx_bytes", (json_int_t)st.rx_bytes,
                            "rx_dropped", (json_int_t)st.rx_dropped,
                            "early_held", (json_int_t)st.early_held,
                            "early_discarded", (json_int_t)st.early_discarded,
                            "ready_probes", (json_int_t)st.ready_probes,
                            "last_ready_probe", st.last_ready_probe,
                            "tx_frames", (json_int_t)st.tx_frames,
                            "tx_bytes", (json_int_t)st.tx_bytes,
                            "tx_dropped", (json_int_t)st.tx_dropped,
                            "ctrl_commands", (json_int_t)st.ctrl_commands,
                            "announce_rounds", (json_int_t)st.announce_rounds,
                            "status", (int)st.status, "config_status", (int)st.config_status,
                            "driver_features", (json_int_t)st.driver_features));
    }
    return list;
}

static void cmd_status(struct vmm_control *control, struct ctl_reply *reply)
{
    struct vm_status st;
    vm_get_status(control->vm, &st);
    reply->result = json_pack("{s:s, s:i, s:I, s:I}", "state", vm_state_name(st.state), "vcpus",
                              (int)st.ncpus, "memory_bytes", (json_int_t)st.memory_bytes,
                              "uptime_ms", (json_int_t)st.uptime_ms);
    if (st.state == VM_STOPPED)
        json_object_set_new(reply->result, "exit_code", json_integer(st.exit_code));
    if (vm_net_count(control->vm))
        json_object_set_new(reply->result, "net", net_stats(control->vm));
}

static void cmd_transition(struct vmm_control *control, struct ctl_reply *reply,
                           int (*transition)(struct vm *, struct gw_error *))
{
    struct gw_error err = { 0 };
    if (transition(control->vm, &err))
        ctl_reply_set_error(reply, CTL_ERR_WRONG_STATE, "%s", err.msg);
    else
        cmd_status(control, reply);
}

static bool migration_running(const struct vmm_control *control);

static void cmd_dirty_log(struct vmm_control *control, const char *action,
                          struct ctl_reply *reply)
{
    struct vm *vm = control->vm;
    if (migration_running(control)) {
        /* A sync here would take the dirty bits the migration needs. */
        ctl_reply_set_error(reply, CTL_ERR_WRONG_STATE, "a migration owns dirty logging now");
        return;
    }
    uint64_t words = vm_dirty_bitmap_words(vm);
    int rc = 0;
    if (!strcmp(action, "start")) {
        if (!control->dirty_bitmap)
            control->dirty_bitmap = calloc(words, sizeof(uint64_t));
        rc = control->dirty_bitmap ? vm_dirty_start(vm) : -ENOMEM;
    } else if (!strcmp(action, "stop")) {
        vm_dirty_stop(vm);
    } else {
        uint64_t ndirty = 0;
        if (!control->dirty_bitmap) {
            ctl_reply_set_error(reply, CTL_ERR_WRONG_STATE, "dirty logging is not started");
            return;
        }
        memset(control->dirty_bitmap, 0, words * sizeof(uint64_t));
        rc = vm_dirty_sync(vm, control->dirty_bitmap, &ndirty);
        if (!rc)
            reply->result = json_pack("{s:I}", "dirty_pages", (json_int_t)ndirty);
    }
    if (rc)
        ctl_reply_set_error(reply, CTL_ERR_FAILED, "dirty-log-%s: %s", action, strerror(-rc));
}

static void cmd_regs(struct vmm_control *control, const struct ctl_request *req,
                     struct ctl_reply *reply)
{
    json_int_t index = json_integer_value(json_object_get(req->args, "vcpu"));
    struct vm_vcpu_regs r;
    int rc = vm_get_vcpu_regs(control->vm, (uint32_t)index, &r);
    if (rc == -EBUSY) {
        ctl_reply_set_error(reply, CTL_ERR_WRONG_STATE, "regs needs a paused VM");
        return;
    }
    if (rc) {
        ctl_reply_set_error(reply, CTL_ERR_BAD_REQUEST, "no vCPU %lld", (long long)index);
        return;
    }
    reply->result = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:i}",
                              "rip", (json_int_t)r.rip, "rsp", (json_int_t)r.rsp,
                              "rflags", (json_int_t)r.rflags, "rax", (json_int_t)r.rax,
                              "cr0", (json_int_t)r.cr0, "cr2", (json_int_t)r.cr2,
                              "cr3", (json_int_t)r.cr3, "cr4", (json_int_t)r.cr4,
                              "efer", (json_int_t)r.efer, "cs", (int)r.cs);
}

/* Test hook: overwrite 8 bytes of guest RAM, as a fault injector (the
 * integrity tests prove that memtouch notices). */
static void cmd_poke(struct vmm_control *control, const struct ctl_request *req,
                     struct ctl_reply *reply)
{
    json_t *gpa = json_object_get(req->args, "gpa"), *value = json_object_get(req->args, "value");
    if (!json_is_integer(gpa) || !json_is_integer(value) || json_integer_value(gpa) < 0) {
        ctl_reply_set_error(reply, CTL_ERR_BAD_REQUEST,
                            "poke needs integer args \"gpa\" (>= 0) and \"value\"");
        return;
    }
    uint64_t addr = (uint64_t)json_integer_value(gpa), v = (uint64_t)json_integer_value(value);
    if (vm_write_guest(control->vm, addr, &v, sizeof v))
        ctl_reply_set_error(reply, CTL_ERR_BAD_REQUEST, "gpa 0x%llx is outside guest RAM",
                            (unsigned long long)addr);
}

/* Reads an optional non-negative integer argument into *out.  Returns
 * false (with an error reply) if present but not such a number. */
static bool arg_u64(const struct ctl_request *req, const char *name, uint64_t *out,
                    struct ctl_reply *reply)
{
    json_t *v = json_object_get(req->args, name);
    if (!v)
        return true;
    if (!json_is_integer(v) || json_integer_value(v) < 0) {
        ctl_reply_set_error(reply, CTL_ERR_BAD_REQUEST, "\"%s\" must be a non-negative integer",
                            name);
        return false;
    }
    *out = (uint64_t)json_integer_value(v);
    return true;
}

static bool arg_bool(const struct ctl_request *req, const char *name, bool *out,
                     struct ctl_reply *reply)
{
    json_t *v = json_object_get(req->args, name);
    if (!v)
        return true;
    if (!json_is_boolean(v)) {
        ctl_reply_set_error(reply, CTL_ERR_BAD_REQUEST, "\"%s\" must be true or false", name);
        return false;
    }
    *out = json_is_true(v);
    return true;
}

static bool policy_args(const struct ctl_request *req, struct mig_policy *p,
                        struct ctl_reply *reply)
{
    return arg_u64(req, "max_downtime_ms", &p->max_downtime_ms, reply) &&
           arg_u64(req, "max_bandwidth", &p->max_bandwidth, reply) &&
           arg_u64(req, "timeout_s", &p->timeout_s, reply) &&
           arg_bool(req, "auto_converge", &p->auto_converge, reply);
}

static bool migration_running(const struct vmm_control *control)
{
    struct mig_stats st;
    if (!control->migration)
        return false;
    mig_out_query(control->migration, &st);
    return !mig_state_is_final(st.state);
}

static void cmd_migrate(struct vmm_control *control, const struct ctl_request *req,
                        struct ctl_reply *reply)
{
    json_t *uri = json_object_get(req->args, "uri");
    json_t *verify = json_object_get(req->args, "verify_memory");
    struct mig_policy policy = { .max_downtime_ms = MIG_DEFAULT_MAX_DOWNTIME_MS,
                                 .timeout_s = MIG_DEFAULT_TIMEOUT_S };
    if (!json_is_string(uri)) {
        ctl_reply_set_error(reply, CTL_ERR_BAD_REQUEST, "migrate needs \"uri\": \"tcp:HOST:PORT\"");
        return;
    }
    if (verify && !json_is_boolean(verify)) {
        ctl_reply_set_error(reply, CTL_ERR_BAD_REQUEST, "\"verify_memory\" must be true or false");
        return;
    }
    if (!policy_args(req, &policy, reply))
        return;
    policy.verify_memory = json_is_true(verify);
    if (migration_running(control)) {
        ctl_reply_set_error(reply, CTL_ERR_WRONG_STATE, "a migration is already running");
        return;
    }
    enum vm_state state = vm_get_state(control->vm);
    if (state != VM_RUNNING && state != VM_PAUSED) {
        ctl_reply_set_error(reply, CTL_ERR_WRONG_STATE, "VM is %s: only a running or paused VM "
                            "can migrate", vm_state_name(state));
        return;
    }
    struct gw_error err = { 0 };
    struct mig_out *job = mig_out_start(control->vm, json_string_value(uri), &policy, &err);
    if (!job) {
        ctl_reply_set_error(reply, err.code == -EINVAL ? CTL_ERR_BAD_REQUEST : CTL_ERR_FAILED,
                            "%s", err.msg);
        return;
    }
    mig_out_destroy(control->migration);
    control->migration = job;
    reply->result = json_pack("{s:s}", "state", "setup");
}

static void cmd_migrate_set(struct vmm_control *control, const struct ctl_request *req,
                            struct ctl_reply *reply)
{
    if (!migration_running(control)) {
        ctl_reply_set_error(reply, CTL_ERR_WRONG_STATE, "no migration is running");
        return;
    }
    struct mig_policy policy;
    mig_out_get_policy(control->migration, &policy);
    if (!policy_args(req, &policy, reply))
        return;
    mig_out_set_policy(control->migration, &policy);
    reply->result = json_pack("{s:I, s:I, s:I, s:b}", "max_downtime_ms",
                              (json_int_t)policy.max_downtime_ms, "max_bandwidth",
                              (json_int_t)policy.max_bandwidth, "timeout_s",
                              (json_int_t)policy.timeout_s, "auto_converge",
                              (int)policy.auto_converge);
}

static void cmd_migrate_cancel(struct vmm_control *control, struct ctl_reply *reply)
{
    if (!migration_running(control)) {
        ctl_reply_set_error(reply, CTL_ERR_WRONG_STATE, "no migration is running");
        return;
    }
    mig_out_cancel(control->migration);
}

static void cmd_migrate_force_complete(struct vmm_control *control, struct ctl_reply *reply)
{
    struct gw_error err = { 0 };
    if (!migration_running(control)) {
        ctl_reply_set_error(reply, CTL_ERR_WRONG_STATE, "no migration is running");
        return;
    }
    if (mig_out_force_complete(control->migration, &err))
        ctl_reply_set_error(reply, CTL_ERR_WRONG_STATE, "%s", err.msg);
}

static void cmd_migrate_recover(struct vmm_control *control, struct ctl_reply *reply)
{
    struct gw_error err = { 0 };
    if (!control->migration) {
        ctl_reply_set_error(reply, CTL_ERR_WRONG_STATE, "no migration to recover from");
        return;
    }
    if (mig_out_recover(control->migration, &err))
        ctl_reply_set_error(reply, err.code == -EBUSY ? CTL_ERR_WRONG_STATE : CTL_ERR_FAILED,
                            "%s", err.msg);
}

static void cmd_query_migrate(struct vmm_control *control, struct ctl_reply *reply)
{
    if (!control->migration) {
        reply->result = json_pack("{s:s}", "state", "none");
        return;
    }
    struct mig_stats s;
    mig_out_query(control->migration, &s);
    reply->result = json_pack(
        "{s:s, s:I, s:i, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
        "state", mig_state_name(s.state), "elapsed_ms", (json_int_t)s.elapsed_ms,
        "pass", (int)s.pass, "bytes_sent", (json_int_t)s.bytes_sent,
        "pages_sent", (json_int_t)s.pages_sent, "zero_pages", (json_int_t)s.zero_pages,
        "remaining_bytes", (json_int_t)s.remaining_bytes, "total_bytes",
        (json_int_t)s.total_bytes, "throughput_bps", (json_int_t)s.throughput_bps,
        "dirty_pages_per_s", (json_int_t)s.dirty_pages_per_s, "expected_downtime_ms",
        (json_int_t)(s.expected_downtime_ms == UINT64_MAX ? -1 : (json_int_t)s.expected_downtime_ms),
        "setup_ms", (json_int_t)s.setup_ms, "downtime_ms", (json_int_t)s.downtime_ms,
        "total_ms", (json_int_t)s.total_ms);
    json_object_set_new(reply->result, "downtime_us", json_integer((json_int_t)s.downtime_us));
    json_object_set_new(reply->result, "throttle_pct", json_integer(s.throttle_pct));
    if (s.error[0])
        json_object_set_new(reply->result, "error", json_string(s.error));
}

void vmm_control_handle(void *opaque, const struct ctl_request *req, struct ctl_reply *reply)
{
    struct vmm_control *control = opaque;
    const char *cmd = req->cmd;

    if (!strcmp(cmd, "status"))
        cmd_status(control, reply);
    else if (!strcmp(cmd, "pause"))
        cmd_transition(control, reply, vm_pause);
    else if (!strcmp(cmd, "resume"))
        cmd_transition(control, reply, vm_resume);
    else if (!strcmp(cmd, "migrate"))
        cmd_migrate(control, req, reply);
    else if (!strcmp(cmd, "migrate-set"))
        cmd_migrate_set(control, req, reply);
    else if (!strcmp(cmd, "migrate-cancel"))
        cmd_migrate_cancel(control, reply);
    else if (!strcmp(cmd, "migrate-force-complete"))
        cmd_migrate_force_complete(control, reply);
    else if (!strcmp(cmd, "migrate-recover"))
        cmd_migrate_recover(control, reply);
    else if (!strcmp(cmd, "query-migrate"))
        cmd_query_migrate(control, reply);
    else if (!strcmp(cmd, "net-stats"))
        reply->result = json_pack("{s:o}", "net", net_stats(control->vm));
    else if (!strcmp(cmd, "poke"))
        cmd_poke(control, req, reply);
    else if (!strcmp(cmd, "regs"))
        cmd_regs(control, req, reply);
    else if (!strcmp(cmd, "quit")) {
        control->quit_requested = 1;
        vm_stop(control->vm, 0);
    } else if (!strncmp(cmd, "dirty-log-", 10) &&
               (!strcmp(cmd + 10, "start") || !strcmp(cmd + 10, "sync") ||
                !strcmp(cmd + 10, "stop")))
        cmd_dirty_log(control, cmd + 10, reply);
    else
        ctl_reply_set_error(reply, CTL_ERR_UNKNOWN_COMMAND,
                            "unknown command '%s' (known: status, pause, resume, quit, regs, poke, "
                            "dirty-log-start, dirty-log-sync, dirty-log-stop, migrate, migrate-set, "
                            "migrate-cancel, migrate-force-complete, migrate-recover, query-migrate, "
                            "net-stats)",
                            cmd);
}

void vmm_control_uninit(struct vmm_control *control)
{
    mig_out_destroy(control->migration);
    control->migration = NULL;
    free(control->dirty_bitmap);
    control->dirty_bitmap = NULL;
}
