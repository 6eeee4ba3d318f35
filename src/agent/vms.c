/*
 * The agent's VMs: definitions, VMM processes, and their lifecycle.
 *
 *   create --> stopped --start--> running --stop / guest exits / VMM dies--> stopped
 *              stopped --delete--> (gone)
 *   (peer prepare) --> incoming --guest arrives--> running
 *                      incoming --attempt aborted--> (gone, every file removed)
 *   running --migrated away--> migrated --old VMM retired--> (gone)
 *
 * Every record lives in agent->vms under agent->lock and in
 * vms/NAME/vm.json.  Starting and stopping a VMM take seconds, so they
 * run outside the lock with vm->busy set, which keeps a second start,
 * stop or delete of the same VM away meanwhile.
 */
#include "agent/agent.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/files.h"
#include "agent/proc.h"
#include "base/log.h"
#include "ctl/client.h"
#include "godwit/abi.h"
#include "agent/ports.h"
#include "net/net.h"

#define SPAWN_READY_TIMEOUT_MS 10000
#define STOP_GRACE_MS 5000
#define VMM_CALL_TIMEOUT_MS 2000

static const char *const vm_state_names[] = {
    [AGENT_VM_STOPPED] = "stopped",
    [AGENT_VM_RUNNING] = "running",
    [AGENT_VM_INCOMING] = "incoming",
    [AGENT_VM_MIGRATED] = "migrated",
};

void agent_vm_path(const struct agent *agent, const char *name, const char *file, char *out)
{
    if (file)
        snprintf(out, PATH_MAX, "%s/vms/%s/%s", agent->config.state_dir, name, file);
    else
        snprintf(out, PATH_MAX, "%s/vms/%s", agent->config.state_dir, name);
}

int agent_vm_spec_check(const struct agent_vm_spec *spec, struct gw_error *err)
{
    if (!agent_name_valid(spec->name))
        return gw_error_set(err, -EINVAL, "'%s' is not a VM name (1-32 of a-z, 0-9, '-', "
                            "starting with a letter)", spec->name);
    if (spec->memory_bytes < (2ULL << 20) || spec->memory_bytes > (64ULL << 30) ||
        spec->memory_bytes % 4096)
        return gw_error_set(err, -EINVAL, "memory must be 2 MiB to 64 GiB, 4 KiB aligned");
    if (spec->vcpus < 1 || spec->vcpus > GW_MAX_VCPUS)
        return gw_error_set(err, -EINVAL, "vcpus must be 1 to %d", GW_MAX_VCPUS);
    if (!spec->kernel[0])
        return gw_error_set(err, -EINVAL, "a VM needs a kernel image");
    return 0;
}

struct agent_vm *agent_vm_find(struct agent *agent, const char *name)
{
    for (struct agent_vm *vm = agent->vms; vm; vm = vm->next)
        if (!strcmp(vm->name, name))
            return vm;
    return NULL;
}

json_t *agent_vm_json(const struct agent *agent, const struct agent_vm *vm,
                      const char *vmm_state)
{
    json_t *json = json_pack("{s:s, s:s, s:I, s:i, s:s, s:s, s:s}",
                             "name", vm->name, "kernel", vm->kernel,
                             "memory_bytes", (json_int_t)vm->memory_bytes, "vcpus", (int)vm->vcpus,
                             "cmdline", vm->cmdline, "state", vm_state_names[vm->state],
                             "host", agent->config.name);
    json_object_set_new(json, "vmm_state",
                        vmm_state && vmm_state[0] ? json_string(vmm_state) : json_null());
    json_object_set_new(json, "pid", vm->pid ? json_integer(vm->pid) : json_null());
    json_object_set_new(json, "exit_code",
                        vm->exit_code >= 0 ? json_integer(vm->exit_code) : json_null());
    json_object_set_new(json, "migration",
                        vm->migration[0] ? json_string(vm->migration) : json_null());
    json_object_set_new(json, "nic", agent_nic_json(&vm->nic));
    return json;
}

json_t *agent_nic_json(const struct agent_nic *nic)
{
    if (!nic->present)
        return json_null();
    char mac[18];
    net_format_mac(nic->mac, mac);
    return json_pack("{s:s, s:s, s:s}", "mac", mac, "ip", nic->ip, "tap", nic->tap);
}

int agent_nic_from_json(json_t *json, struct agent_nic *nic, struct gw_error *err)
{
    memset(nic, 0, sizeof *nic);
    if (!json || json_is_null(json))
        return 0;
    const char *mac = json_string_value(json_object_get(json, "mac"));
    const char *ip = json_string_value(json_object_get(json, "ip"));
    const char *tap = json_string_value(json_object_get(json, "tap"));
    if (!json_is_object(json) || !mac || net_parse_mac(mac, nic->mac) || (nic->mac[0] & 1))
        return gw_error_set(err, -EINVAL, "nic.mac must be a unicast MAC such as "
                            "52:54:00:12:34:56");
    struct in_addr addr;
    char host[32];
    size_t len = ip ? strcspn(ip, "/") : 0;
    if (!ip || !len || len >= sizeof host || strlen(ip) >= sizeof nic->ip ||
        (memcpy(host, ip, len), host[len] = '\0', inet_pton(AF_INET, host, &addr) != 1))
        return gw_error_set(err, -EINVAL, "nic.ip must be an IPv4 address, e.g. 10.0.0.10/24");
    if (tap && (strlen(tap) == 0 || strlen(tap) >= sizeof nic->tap || strchr(tap, '/') ||
                strchr(tap, ' ')))
        return gw_error_set(err, -EINVAL, "nic.tap must be an interface name of 1-15 bytes");
    snprintf(nic->ip, sizeof nic->ip, "%s", ip);
    nic->present = true;
    return 0;
}

void agent_nic_default_tap(struct agent_nic *nic, const char *vm_name)
{
    if (nic->present && !nic->tap[0])
        snprintf(nic->tap, sizeof nic->tap, "gw-%.12s", vm_name);
}

void agent_vm_save(struct agent *agent, const struct agent_vm *vm)
{
    char path[PATH_MAX];
    agent_vm_path(agent, vm->name, "vm.json", path);
    json_t *json = agent_vm_json(agent, vm, NULL);
    json_object_del(json, "vmm_state");
    json_object_set_new(json, "pid_start", json_integer((json_int_t)vm->pid_start));
    json_object_set_new(json, "tap_created", json_boolean(vm->tap_created));
    int rc = files_write_json(path, json);
    if (rc)
        LOG_ERR("agent", "vm=%s cannot save %s: %s", vm->name, path, strerror(-rc));
    json_decref(json);
}

int agent_vm_create(struct agent *agent, const struct agent_vm_spec *spec, struct gw_error *err)
{
    int rc = agent_vm_spec_check(spec, err);
    if (rc)
        return rc;
    if (access(spec->kernel, R_OK) < 0)
        return gw_error_set(err, -EINVAL, "kernel %s: %s", spec->kernel, strerror(errno));
    if (spec->nic.present && !agent_net_enabled(agent))
        return gw_error_set(err, -EINVAL, "host %s has no network ([network] bridge is not set)",
                            agent->config.name);

    char dir[PATH_MAX];
    agent_vm_path(agent, spec->name, NULL, dir);
    pthread_mutex_lock(&agent->lock);
    if (agent_vm_find(agent, spec->name)) {
        pthread_mutex_unlock(&agent->lock);
        return gw_error_set(err, -EEXIST, "a VM named '%s' exists on %s", spec->name,
                            agent->config.name);
    }
    if (spec->nic.present) {
        rc = agent_port_check_unique(agent, spec->name, spec->nic.mac, spec->nic.ip, err);
        for (struct agent_vm *other = agent->vms; !rc && other; other = other->next)
            if (other->nic.present && !strcmp(other->nic.tap, spec->nic.tap))
                rc = gw_error_set(err, -EEXIST, "the TAP name %s is already vm %s's",
                                  spec->nic.tap, other->name);
        if (rc) {
            pthread_mutex_unlock(&agent->lock);
            return rc;
        }
    }
    rc = files_make_dirs(dir);
    if (rc) {
        pthread_mutex_unlock(&agent->lock);
        return gw_error_set(err, rc, "cannot create %s: %s", dir, strerror(-rc));
    }
    struct agent_vm *vm = calloc(1, sizeof *vm);
    if (!vm) {
        pthread_mutex_unlock(&agent->lock);
        return gw_error_set(err, -ENOMEM, "out of memory");
    }
    snprintf(vm->name, sizeof vm->name, "%s", spec->name);
    snprintf(vm->kernel, sizeof vm->kernel, "%s", spec->kernel);
    snprintf(vm->cmdline, sizeof vm->cmdline, "%s", spec->cmdline);
    vm->memory_bytes = spec->memory_bytes;
    vm->vcpus = spec->vcpus;
    vm->nic = spec->nic;
    vm->state = AGENT_VM_STOPPED;
    vm->exit_code = -1;
    vm->next = agent->vms;
    agent->vms = vm;
    agent_vm_save(agent, vm);
    pthread_mutex_unlock(&agent->lock);
    if (spec->nic.present)      /* claims the MAC and IP in the whole cluster */
        agent_port_set(agent, spec->name, spec->nic.mac, spec->nic.ip, "", "", "down");
    LOG_INFO("agent", "vm=%s created: %llu MiB, %u vCPUs, kernel %s", vm->name,
             (unsigned long long)(vm->memory_bytes >> 20), vm->vcpus, vm->kernel);
    return 0;
}

/* Reaps or checks one VMM (lock held); records its exit.  Returns true
 * if the VM was running and nobody had asked it to stop or move. */
static bool check_process(struct agent *agent, struct agent_vm *vm)
{
    if (!vm->pid)
        return false;
    int status = 0;
    bool exited;
    if (vm->is_child) {
        pid_t got = waitpid(vm->pid, &status, WNOHANG);
        exited = got == vm->pid || (got < 0 && errno == ECHILD);
        if (got == vm->pid)
            vm->exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    } else {
        exited = !proc_is_running(vm->pid, vm->pid_start);
        if (exited)
            vm->exit_code = -1;     /* not our child: its status is not ours to read */
    }
    if (!exited)
        return false;
    LOG_INFO("agent", "vm=%s VMM pid %d exited (%s%d)%s", vm->name, (int)vm->pid,
             vm->exit_code >= 0 ? "status " : "status unknown ", vm->exit_code,
             vm->migration[0] ? " during a migration" : "");
    vm->pid = 0;
    vm->pid_start = 0;
    vm->is_child = false;
    bool stopped_on_its_own = vm->state == AGENT_VM_RUNNING && !vm->busy && !vm->migration[0];
    if (vm->state == AGENT_VM_RUNNING)
        vm->state = AGENT_VM_STOPPED;
    agent_vm_save(agent, vm);
    return stopped_on_its_own;
}

void agent_vms_supervise(struct agent *agent)
{
    struct agent_port *down = NULL;     /* bindings to apply once the lock is released */
    size_t ndown = 0;
    pthread_mutex_lock(&agent->lock);
    for (struct agent_vm *vm = agent->vms; vm; vm = vm->next) {
        /* A stop or a migration sets the binding itself; a guest that
         * exited leaves nothing to answer for its port here. */
        if (!check_process(agent, vm) || !vm->nic.present)
            continue;
        struct agent_port *grown = realloc(down, (ndown + 1) * sizeof *down);
        if (!grown)
            continue;
        down = grown;
        if (agent_port_change(agent, vm->name, vm->nic.mac, vm->nic.ip, "", "", "down",
                              &down[ndown]) == 0) {
            LOG_INFO("agent", "vm=%s stopped on its own: its port goes down", vm->name);
            ndown++;
        }
    }
    pthread_mutex_unlock(&agent->lock);
    for (size_t i = 0; i < ndown; i++)
        agent_port_apply(agent, &down[i]);
    free(down);
}

void agent_vm_query_state(struct agent *agent, const char *name, char *state)
{
    char path[PATH_MAX];
    struct ctl_call call;
    struct gw_error err;
    agent_vm_path(agent, name, "control.sock", path);
    state[0] = '\0';
    if (ctl_call(path, "status", NULL, VMM_CALL_TIMEOUT_MS, &call, &err) == 0)
        snprintf(state, 16, "%s", json_string_value(json_object_get(call.result, "state"))
                                       ? json_string_value(json_object_get(call.result, "state"))
                                       : "");
    ctl_call_uninit(&call);
}

/* Builds the VMM's argv into args (strings in bufs); returns argc. */
static int vmm_argv(struct agent *agent, const struct agent_vm *vm, const char *incoming_uri,
                    char *argv[], char bufs[][PATH_MAX])
{
    int argc = 0, nbuf = 0;
    argv[argc++] = agent->config.vmm_path;
    argv[argc++] = "--control";
    agent_vm_path(agent, vm->name, "control.sock", bufs[nbuf]);
    argv[argc++] = bufs[nbuf++];
    argv[argc++] = "--console";
    agent_vm_path(agent, vm->name, "console.log", bufs[nbuf]);
    argv[argc++] = bufs[nbuf++];
    argv[argc++] = "--memory";
    snprintf(bufs[nbuf], PATH_MAX, "%lluK", (unsigned long long)(vm->memory_bytes >> 10));
    argv[argc++] = bufs[nbuf++];
    argv[argc++] = "--vcpus";
    snprintf(bufs[nbuf], PATH_MAX, "%u", vm->vcpus);
    argv[argc++] = bufs[nbuf++];
    /* The agent reads the final figures of an outgoing migration, then
     * tells the VMM to quit (commit). */
    argv[argc++] = "--stay-after-migration";
    if (vm->nic.present) {
        char mac[18];
        net_format_mac(vm->nic.mac, mac);
        argv[argc++] = "--net";
        snprintf(bufs[nbuf], PATH_MAX, "tap=%s,mac=%s", vm->nic.tap, mac);
        argv[argc++] = bufs[nbuf++];
    }
    if (incoming_uri) {
        argv[argc++] = "--incoming";
        argv[argc++] = (char *)incoming_uri;
    } else {
        argv[argc++] = "--kernel";
        argv[argc++] = (char *)vm->kernel;
        argv[argc++] = "--cmdline";
        argv[argc++] = (char *)vm->cmdline;
    }
    argv[argc] = NULL;
    return argc;
}

int agent_vm_spawn(struct agent *agent, struct agent_vm *vm, const char *incoming_uri,
                   struct gw_error *err)
{
    char *argv[24];
    char bufs[5][PATH_MAX];
    char log_path[PATH_MAX], sock_path[PATH_MAX];
    vmm_argv(agent, vm, incoming_uri, argv, bufs);
    agent_vm_path(agent, vm->name, "vmm.log", log_path);
    agent_vm_path(agent, vm->name, "control.sock", sock_path);
    unlink(sock_path);

    pthread_mutex_lock(&agent->lock);
    pid_t pid = proc_spawn(argv, log_path);
    if (pid < 0) {
        pthread_mutex_unlock(&agent->lock);
        return gw_error_set(err, pid, "cannot start %s: %s", argv[0], strerror(-pid));
    }
    vm->pid = pid;
    vm->pid_start = proc_start_time(pid, NULL);
    vm->is_child = true;
    vm->exit_code = -1;
    pthread_mutex_unlock(&agent->lock);
    LOG_INFO("agent", "vm=%s VMM pid %d started%s%s", vm->name, (int)pid,
             incoming_uri ? ", incoming on " : "", incoming_uri ? incoming_uri : "");

    long long deadline = agent_mono_ms() + SPAWN_READY_TIMEOUT_MS;
    for (;;) {
        struct ctl_call call;
        struct gw_error call_err;
        int rc = ctl_call(sock_path, "status", NULL, VMM_CALL_TIMEOUT_MS, &call, &call_err);
        ctl_call_uninit(&call);
        if (rc == 0)
            return 0;
        pthread_mutex_lock(&agent->lock);
        check_process(agent, vm);
        bool gone = vm->pid == 0;
        pthread_mutex_unlock(&agent->lock);
        if (gone) {
            char line[256];
            files_last_line(log_path, line, sizeof line);
            return gw_error_set(err, -EIO, "the VMM exited at start: %s",
                                line[0] ? line : "(no message)");
        }
        if (agent_mono_ms() > deadline) {
            agent_vm_kill(agent, vm);
            return gw_error_set(err, -ETIMEDOUT, "the VMM did not answer within %d s",
                                SPAWN_READY_TIMEOUT_MS / 1000);
        }
        usleep(20 * 1000);
    }
}

void agent_vm_kill(struct agent *agent, struct agent_vm *vm)
{
    for (int i = 0; i < 500; i++) {
        pthread_mutex_lock(&agent->lock);
        check_process(agent, vm);
        pid_t pid = vm->pid;
        pthread_mutex_unlock(&agent->lock);
        if (!pid)
            return;
        if (i == 0)
            kill(pid, SIGKILL);
        usleep(10 * 1000);
    }
    LOG_ERR("agent", "vm=%s VMM pid %d does not die", vm->name, (int)vm->pid);
}

void agent_vm_forget(struct agent *agent, struct agent_vm *vm)
{
    char dir[PATH_MAX];
    agent_vm_path(agent, vm->name, NULL, dir);
    files_remove_dir(dir);
    for (struct agent_vm **p = &agent->vms; *p; p = &(*p)->next) {
        if (*p == vm) {
            *p = vm->next;
            break;
        }
    }
    free(vm);
}

void agent_vm_quit(struct agent *agent, struct agent_vm *vm)
{
    char sock_path[PATH_MAX];
    struct ctl_call call;
    struct gw_error quit_err;
    agent_vm_path(agent, vm->name, "control.sock", sock_path);
    ctl_call(sock_path, "quit", NULL, VMM_CALL_TIMEOUT_MS, &call, &quit_err);
    ctl_call_uninit(&call);
    long long deadline = agent_mono_ms() + STOP_GRACE_MS;
    for (;;) {
        pthread_mutex_lock(&agent->lock);
        check_process(agent, vm);
        pid_t pid = vm->pid;
        pthread_mutex_unlock(&agent->lock);
        if (!pid)
            return;
        if (agent_mono_ms() > deadline) {
            LOG_WARN("agent", "vm=%s VMM did not quit within %d s: killing it", vm->name,
                     STOP_GRACE_MS / 1000);
            agent_vm_kill(agent, vm);
            return;
        }
        usleep(20 * 1000);
    }
}

/* Takes the VM for an operation that needs it in state `want` (lock
 * held): it must exist, be neither busy nor migrating, and be in that
 * state; else NULL, with err ending in `hint`. */
static struct agent_vm *claim_vm(struct agent *agent, const char *name, enum agent_vm_state want,
                                 const char *hint, struct gw_error *err)
{
    struct agent_vm *vm = agent_vm_find(agent, name);
    if (!vm) {
        gw_error_set(err, -ENOENT, "no VM named '%s' on %s", name, agent->config.name);
        return NULL;
    }
    if (vm->busy) {
        gw_error_set(err, -EBUSY, "vm %s is busy (being started, stopped or retired)", name);
        return NULL;
    }
    if (vm->migration[0]) {
        gw_error_set(err, -EBUSY, "vm %s is migrating (migration %s)", name, vm->migration);
        return NULL;
    }
    if (vm->state != want) {
        gw_error_set(err, -EBUSY, "vm %s is %s: %s", name, vm_state_names[vm->state], hint);
        return NULL;
    }
    return vm;
}

int agent_vm_start(struct agent *agent, const char *name, struct gw_error *err)
{
    pthread_mutex_lock(&agent->lock);
    struct agent_vm *vm = claim_vm(agent, name, AGENT_VM_STOPPED, "only a stopped VM starts",
                                   err);
    if (!vm) {
        pthread_mutex_unlock(&agent->lock);
        return err->code;
    }
    vm->busy = true;
    struct agent_nic nic = vm->nic;
    bool leftover_tap = vm->tap_created;
    pthread_mutex_unlock(&agent->lock);

    /* A TAP of ours left by a guest that exited on its own goes first;
     * a TAP of that name that someone else made is refused. */
    if (nic.present && leftover_tap)
        agent_tap_remove(agent, nic.tap);
    int rc = nic.present ? agent_tap_prepare(agent, nic.tap, true, err) : 0;
    if (!rc) {
        rc = agent_vm_spawn(agent, vm, NULL, err);
        if (rc && nic.present)
            agent_tap_remove(agent, nic.tap);
    }

    pthread_mutex_lock(&agent->lock);
    vm->busy = false;
    vm->tap_created = nic.present && !rc;
    if (!rc)
        vm->state = AGENT_VM_RUNNING;
    agent_vm_save(agent, vm);
    pthread_mutex_unlock(&agent->lock);
    if (!rc && nic.present)
        agent_port_set(agent, name, nic.mac, nic.ip, agent->config.name, "", "up");
    if (rc)
        LOG_ERR("agent", "vm=%s start failed: %s", name, err->msg);
    else
        LOG_INFO("agent", "vm=%s running", name);
    return rc;
}

int agent_vm_stop(struct agent *agent, const char *name, struct gw_error *err)
{
    pthread_mutex_lock(&agent->lock);
    struct agent_vm *vm = claim_vm(agent, name, AGENT_VM_RUNNING, "only a running VM stops",
                                   err);
    if (!vm) {
        pthread_mutex_unlock(&agent->lock);
        return err->code;
    }
    vm->busy = true;
    pthread_mutex_unlock(&agent->lock);

    agent_vm_quit(agent, vm);
    struct agent_nic nic = vm->nic;
    if (nic.present) {
        agent_tap_remove(agent, nic.tap);
        agent_port_set(agent, name, nic.mac, nic.ip, "", "", "down");
    }
    pthread_mutex_lock(&agent->lock);
    vm->tap_created = false;
    vm->busy = false;
    vm->state = AGENT_VM_STOPPED;
    agent_vm_save(agent, vm);
    pthread_mutex_unlock(&agent->lock);
    LOG_INFO("agent", "vm=%s stopped", name);
    return 0;
}

int agent_vm_delete(struct agent *agent, const char *name, struct gw_error *err)
{
    pthread_mutex_lock(&agent->lock);
    struct agent_vm *vm = claim_vm(agent, name, AGENT_VM_STOPPED, "stop it first", err);
    if (!vm) {
        pthread_mutex_unlock(&agent->lock);
        return err->code;
    }
    bool had_nic = vm->nic.present;
    agent_vm_forget(agent, vm);
    pthread_mutex_unlock(&agent->lock);
    if (had_nic)
        agent_port_remove(agent, name);
    LOG_INFO("agent", "vm=%s deleted", name);
    return 0;
}

/* One vm.json into a record; NULL if it is not a VM record. */
static struct agent_vm *vm_from_json(json_t *json)
{
    const char *name = json_string_value(json_object_get(json, "name"));
    const char *kernel = json_string_value(json_object_get(json, "kernel"));
    const char *cmdline = json_string_value(json_object_get(json, "cmdline"));
    const char *state = json_string_value(json_object_get(json, "state"));
    const char *migration = json_string_value(json_object_get(json, "migration"));
    if (!name || !agent_name_valid(name) || !kernel || !cmdline || !state)
        return NULL;
    struct agent_vm *vm = calloc(1, sizeof *vm);
    if (!vm)
        return NULL;
    snprintf(vm->name, sizeof vm->name, "%s", name);
    snprintf(vm->kernel, sizeof vm->kernel, "%s", kernel);
    snprintf(vm->cmdline, sizeof vm->cmdline, "%s", cmdline);
    snprintf(vm->migration, sizeof vm->migration, "%s", migration ? migration : "");
    vm->memory_bytes = (uint64_t)json_integer_value(json_object_get(json, "memory_bytes"));
    vm->vcpus = (uint32_t)json_integer_value(json_object_get(json, "vcpus"));
    vm->pid = (pid_t)json_integer_value(json_object_get(json, "pid"));
    vm->pid_start = (unsigned long long)json_integer_value(json_object_get(json, "pid_start"));
    vm->tap_created = json_is_true(json_object_get(json, "tap_created"));
    json_t *exit_code = json_object_get(json, "exit_code");
    vm->exit_code = json_is_integer(exit_code) ? (int)json_integer_value(exit_code) : -1;
    struct gw_error nic_err;
    if (agent_nic_from_json(json_object_get(json, "nic"), &vm->nic, &nic_err)) {
        free(vm);
        return NULL;
    }
    const char *tap = json_string_value(json_object_get(json_object_get(json, "nic"), "tap"));
    if (vm->nic.present && tap)
        snprintf(vm->nic.tap, sizeof vm->nic.tap, "%s", tap);
    vm->state = !strcmp(state, "running") ? AGENT_VM_RUNNING
              : !strcmp(state, "incoming") ? AGENT_VM_INCOMING
              : !strcmp(state, "migrated") ? AGENT_VM_MIGRATED : AGENT_VM_STOPPED;
    return vm;
}

void agent_vms_load(struct agent *agent)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/vms", agent->config.state_dir);
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *entry;
    while ((entry = readdir(d))) {
        if (entry->d_name[0] == '.')
            continue;
        char path[PATH_MAX];
        agent_vm_path(agent, entry->d_name, "vm.json", path);
        json_t *json = files_read_json(path);
        struct agent_vm *vm = json ? vm_from_json(json) : NULL;
        json_decref(json);
        if (!vm || strcmp(vm->name, entry->d_name)) {
            LOG_WARN("agent", "ignoring %s/%s: no valid vm.json", dir, entry->d_name);
            free(vm);
            continue;
        }
        if (vm->state == AGENT_VM_MIGRATED) {
            /* The agent stopped while retiring it: finish that. */
            LOG_INFO("agent", "vm=%s runs elsewhere: retiring its old VMM", vm->name);
            if (vm->pid && proc_is_running(vm->pid, vm->pid_start))
                kill(vm->pid, SIGKILL);
            char vm_dir[PATH_MAX];
            agent_vm_path(agent, vm->name, NULL, vm_dir);
            files_remove_dir(vm_dir);
            free(vm);
            continue;
        }
        vm->next = agent->vms;
        agent->vms = vm;
        if (vm->pid && proc_is_running(vm->pid, vm->pid_start)) {
            LOG_INFO("agent", "vm=%s adopted its running VMM, pid %d", vm->name, (int)vm->pid);
        } else if (vm->pid) {
            LOG_INFO("agent", "vm=%s its VMM (pid %d) ended while the agent was away",
                     vm->name, (int)vm->pid);
            vm->pid = 0;
            vm->pid_start = 0;
            vm->exit_code = -1;
            if (vm->state == AGENT_VM_RUNNING)
                vm->state = AGENT_VM_STOPPED;
            agent_vm_save(agent, vm);
        }
    }
    closedir(d);
}
