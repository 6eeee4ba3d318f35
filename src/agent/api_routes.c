/*
 * Route table and handlers of the agent API.  Paths are split into
 * segments ("/v1/vms/vm1/start" -> vms, vm1, start) and matched against
 * the table; ":" marks a name segment.
 */
#include "agent/api_routes.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/files.h"
#include "agent/peer.h"
#include "agent/ports.h"
#include "base/size.h"
#include "ctl/http.h"

#define MAX_SEGMENTS 6
#define CONSOLE_DEFAULT_BYTES 65536
#define CONSOLE_MAX_BYTES (8u << 20)
#define HOST_PROBE_TIMEOUT_MS 1000

struct route_args {
    struct agent *agent;
    const struct api_request *req;
    struct api_reply *reply;
    const char *name;               /* the ":" segment, if any */
};

/* --- body field helpers: each fills a bad-request reply and returns -1 on bad input --- */

static int get_string(struct route_args *a, const char *key, bool required, char *out,
                      size_t size, const char *fallback)
{
    json_t *value = json_object_get(a->req->body, key);
    if (!value) {
        if (required) {
            api_reply_error(a->reply, "bad-request", "missing \"%s\"", key);
            return -1;
        }
        snprintf(out, size, "%s", fallback);
        return 0;
    }
    if (!json_is_string(value) || json_string_length(value) >= size) {
        api_reply_error(a->reply, "bad-request", "\"%s\" must be a string of at most %zu bytes",
                        key, size - 1);
        return -1;
    }
    snprintf(out, size, "%s", json_string_value(value));
    return 0;
}

/* A non-negative integer field; *out untouched if absent. */
static int get_uint(struct route_args *a, const char *key, uint64_t max, long long *out)
{
    json_t *value = json_object_get(a->req->body, key);
    if (!value)
        return 0;
    if (!json_is_integer(value) || json_integer_value(value) < 0 ||
        (uint64_t)json_integer_value(value) > max) {
        api_reply_error(a->reply, "bad-request", "\"%s\" must be an integer from 0 to %llu", key,
                        (unsigned long long)max);
        return -1;
    }
    *out = json_integer_value(value);
    return 0;
}

static int get_bool(struct route_args *a, const char *key, bool *out)
{
    json_t *value = json_object_get(a->req->body, key);
    if (!value)
        return 0;
    if (!json_is_boolean(value)) {
        api_reply_error(a->reply, "bad-request", "\"%s\" must be true or false", key);
        return -1;
    }
    *out = json_is_true(value);
    return 0;
}

/* "memory": bytes, or a size string like "1G". */
static int get_memory(struct route_args *a, const char *key, uint64_t *out)
{
    json_t *value = json_object_get(a->req->body, key);
    if (!value)
        return 0;
    if (json_is_integer(value) && json_integer_value(value) > 0) {
        *out = (uint64_t)json_integer_value(value);
        return 0;
    }
    if (json_is_string(value) && !gw_parse_size(json_string_value(value), out))
        return 0;
    api_reply_error(a->reply, "bad-request", "\"%s\" must be bytes or a size such as \"1G\"",
                    key);
    return -1;
}

static void reply_json(struct route_args *a, unsigned status, json_t *json)
{
    a->reply->status = status;
    a->reply->json = json;
}

/* --- hosts --- */

static void get_host(struct route_args *a)
{
    struct agent *agent = a->agent;
    pthread_mutex_lock(&agent->lock);
    int nvms = 0;
    for (struct agent_vm *vm = agent->vms; vm; vm = vm->next)
        nvms++;
    json_t *json = json_pack("{s:s, s:s, s:s, s:i, s:i, s:i, s:i, s:i}",
                             "name", agent->config.name, "version", GODWIT_VERSION,
                             "address", agent->config.peer_listen, "vms", nvms,
                             "migrations_in",
                             (int)agent_mig_count_active(agent, AGENT_MIG_DESTINATION),
                             "migrations_out", (int)agent_mig_count_active(agent, AGENT_MIG_SOURCE),
                             "max_incoming", (int)agent->config.max_incoming,
                             "max_outgoing", (int)agent->config.max_outgoing);
    pthread_mutex_unlock(&agent->lock);
    reply_json(a, 200, json);
}

static void get_hosts(struct route_args *a)
{
    struct agent *agent = a->agent;
    json_t *hosts = json_array();
    for (uint32_t i = 0; i < agent->config.nhosts; i++) {
        const struct agent_host *host = &agent->config.hosts[i];
        bool self = !strcmp(host->name, agent->config.name);
        json_t *entry = json_pack("{s:s, s:s, s:b}", "name", host->name, "address",
                                  host->address, "self", self);
        if (self) {
            json_object_set_new(entry, "reachable", json_true());
        } else {
            json_t *reply = NULL;
            struct gw_error err;
            int rc = peer_request(agent, host, "GET", "/v1/host", NULL, HOST_PROBE_TIMEOUT_MS,
                                  &reply, &err);
            json_object_set_new(entry, "reachable", json_boolean(!rc));
            if (rc)
                json_object_set_new(entry, "error", json_string(err.msg));
            json_decref(reply);
        }
        json_array_append_new(hosts, entry);
    }
    reply_json(a, 200, json_pack("{s:o}", "hosts", hosts));
}

/* --- VMs --- */

static json_t *vm_json_by_name(struct agent *agent, const char *name, struct api_reply *reply)
{
    char vmm_state[16] = "";
    pthread_mutex_lock(&agent->lock);
    struct agent_vm *vm = agent_vm_find(agent, name);
    bool has_vmm = vm && vm->pid;
    pthread_mutex_unlock(&agent->lock);
    if (!vm) {
        api_reply_error(reply, "not-found", "no VM named '%s' on %s", name, agent->config.name);
        return NULL;
    }
    if (has_vmm)
        agent_vm_query_state(agent, name, vmm_state);
    pthread_mutex_lock(&agent->lock);
    vm = agent_vm_find(agent, name);
    json_t *json = vm ? agent_vm_json(agent, vm, vmm_state) : NULL;
    pthread_mutex_unlock(&agent->lock);
    if (!json)
        api_reply_error(reply, "not-found", "vm %s is gone", name);
    return json;
}

static int compare_names(const void *x, const void *y)
{
    return strcmp(*(const char *const *)x, *(const char *const *)y);
}

static void list_vms(struct route_args *a)
{
    struct agent *agent = a->agent;
    char (*names)[AGENT_NAME_MAX + 1] = NULL;
    size_t n = 0;
    pthread_mutex_lock(&agent->lock);
    for (struct agent_vm *vm = agent->vms; vm; vm = vm->next)
        n++;
    names = calloc(n ? n : 1, sizeof *names);
    n = 0;
    for (struct agent_vm *vm = agent->vms; vm && names; vm = vm->next)
        snprintf(names[n++], sizeof names[0], "%s", vm->name);
    pthread_mutex_unlock(&agent->lock);
    const char **sorted = calloc(n ? n : 1, sizeof *sorted);
    for (size_t i = 0; i < n && sorted; i++)
        sorted[i] = names[i];
    if (sorted)
        qsort(sorted, n, sizeof *sorted, compare_names);
    json_t *vms = json_array();
    struct api_reply ignored = { 0 };
    for (size_t i = 0; i < n && sorted; i++) {
        json_t *vm = vm_json_by_name(agent, sorted[i], &ignored);
        if (vm)
            json_array_append_new(vms, vm);
    }
    json_decref(ignored.json);
    free(sorted);
    free(names);
    reply_json(a, 200, json_pack("{s:o}", "vms", vms));
}

static void create_vm(struct route_args *a)
{
    struct agent_vm_spec spec = { .memory_bytes = 256ULL << 20, .vcpus = 1 };
    long long vcpus = 1;
    if (!a->req->body) {
        api_reply_error(a->reply, "bad-request", "creating a VM needs a JSON body");
        return;
    }
    if (get_string(a, "name", true, spec.name, sizeof spec.name, "") ||
        get_string(a, "kernel", true, spec.kernel, sizeof spec.kernel, "") ||
        get_string(a, "cmdline", false, spec.cmdline, sizeof spec.cmdline, "") ||
        get_memory(a, "memory", &spec.memory_bytes) || get_uint(a, "vcpus", 1024, &vcpus))
        return;
    spec.vcpus = (uint32_t)vcpus;
    struct gw_error err = { 0 };
    if (agent_nic_from_json(json_object_get(a->req->body, "nic"), &spec.nic, &err)) {
        api_reply_gw_error(a->reply, &err);
        return;
    }
    const char *tap = json_string_value(json_object_get(json_object_get(a->req->body, "nic"),
                                                        "tap"));
    if (tap)
        snprintf(spec.nic.tap, sizeof spec.nic.tap, "%s", tap);
    agent_nic_default_tap(&spec.nic, spec.name);
    if (agent_vm_create(a->agent, &spec, &err)) {
        api_reply_gw_error(a->reply, &err);
        return;
    }
    json_t *json = vm_json_by_name(a->agent, spec.name, a->reply);
    if (json)
        reply_json(a, 201, json);
}

static void show_vm(struct route_args *a)
{
    json_t *json = vm_json_by_name(a->agent, a->name, a->reply);
    if (json)
        reply_json(a, 200, json);
}

static void vm_action(struct route_args *a, int (*action)(struct agent *, const char *,
                                                           struct gw_error *))
{
    struct gw_error err = { 0 };
    if (action(a->agent, a->name, &err)) {
        api_reply_gw_error(a->reply, &err);
        return;
    }
    show_vm(a);
}

static void start_vm(struct route_args *a) { vm_action(a, agent_vm_start); }
static void stop_vm(struct route_args *a) { vm_action(a, agent_vm_stop); }

static void delete_vm(struct route_args *a)
{
    struct gw_error err = { 0 };
    if (agent_vm_delete(a->agent, a->name, &err))
        api_reply_gw_error(a->reply, &err);
    else
        reply_json(a, 200, json_object());
}

static void console_vm(struct route_args *a)
{
    const char *bytes_arg = api_query(a->req, "bytes");
    unsigned long long bytes = CONSOLE_DEFAULT_BYTES;
    if (bytes_arg) {
        char *end;
        bytes = strtoull(bytes_arg, &end, 10);
        if (end == bytes_arg || *end || bytes_arg[0] == '-' || bytes > CONSOLE_MAX_BYTES) {
            api_reply_error(a->reply, "bad-request", "bytes must be a number up to %u",
                            CONSOLE_MAX_BYTES);
            return;
        }
    }
    pthread_mutex_lock(&a->agent->lock);
    bool exists = agent_vm_find(a->agent, a->name) != NULL;
    pthread_mutex_unlock(&a->agent->lock);
    if (!exists) {
        api_reply_error(a->reply, "not-found", "no VM named '%s' on %s", a->name,
                        a->agent->config.name);
        return;
    }
    char path[PATH_MAX];
    size_t len = 0;
    agent_vm_path(a->agent, a->name, "console.log", path);
    char *text = files_read_tail(path, bytes, &len);
    a->reply->text = text ? text : strdup("");
}

/* --- migrations --- */

static void list_migrations(struct route_args *a)
{
    json_t *migs = json_array();
    pthread_mutex_lock(&a->agent->lock);
    for (struct agent_mig *mig = a->agent->migs; mig; mig = mig->next)
        json_array_append_new(migs, agent_mig_json(mig));
    pthread_mutex_unlock(&a->agent->lock);
    reply_json(a, 200, json_pack("{s:o}", "migrations", migs));
}

static void reply_migration(struct route_args *a, unsigned status, const char *id)
{
    pthread_mutex_lock(&a->agent->lock);
    struct agent_mig *mig = agent_mig_find(a->agent, id);
    json_t *json = mig ? agent_mig_json(mig) : NULL;
    pthread_mutex_unlock(&a->agent->lock);
    if (json)
        reply_json(a, status, json);
    else
        api_reply_error(a->reply, "not-found", "no migration '%s' on %s", id,
                        a->agent->config.name);
}

static void create_migration(struct route_args *a)
{
    struct agent_mig_request req = { 0 };
    long long downtime = 100, bandwidth = 0, timeout = 180;
    if (!a->req->body) {
        api_reply_error(a->reply, "bad-request", "a migration needs a JSON body");
        return;
    }
    char cutover[16];
    if (get_string(a, "vm", true, req.vm, sizeof req.vm, "") ||
        get_string(a, "to", true, req.to, sizeof req.to, "") ||
        get_string(a, "cutover", false, cutover, sizeof cutover, "early") ||
        get_uint(a, "max_downtime_ms", 3600000, &downtime) ||
        get_uint(a, "max_bandwidth", UINT64_C(1) << 50, &bandwidth) ||
        get_uint(a, "timeout_s", 86400, &timeout) ||
        get_bool(a, "verify_memory", &req.verify_memory) ||
        get_bool(a, "auto_converge", &req.auto_converge))
        return;
    if (strcmp(cutover, "early") && strcmp(cutover, "late")) {
        api_reply_error(a->reply, "bad-request", "\"cutover\" must be \"early\" or \"late\"");
        return;
    }
    req.late_cutover = !strcmp(cutover, "late");
    req.max_downtime_ms = (uint64_t)downtime;
    req.max_bandwidth = (uint64_t)bandwidth;
    req.timeout_s = (uint64_t)timeout;
    struct gw_error err = { 0 };
    json_t *json = agent_migrate(a->agent, &req, &err);
    if (!json)
        api_reply_gw_error(a->reply, &err);
    else
        reply_json(a, 201, json);
}

static void show_migration(struct route_args *a) { reply_migration(a, 200, a->name); }

static void set_migration(struct route_args *a)
{
    long long downtime = -1, bandwidth = -1, timeout = -1;
    bool converge = false;
    if (!a->req->body) {
        api_reply_error(a->reply, "bad-request", "set needs a JSON body");
        return;
    }
    if (get_uint(a, "max_downtime_ms", 3600000, &downtime) ||
        get_uint(a, "max_bandwidth", UINT64_C(1) << 50, &bandwidth) ||
        get_uint(a, "timeout_s", 86400, &timeout) ||
        get_bool(a, "auto_converge", &converge))
        return;
    int auto_converge = json_object_get(a->req->body, "auto_converge") ? converge : -1;
    if (downtime < 0 && bandwidth < 0 && timeout < 0 && auto_converge < 0) {
        api_reply_error(a->reply, "bad-request", "set needs max_downtime_ms, max_bandwidth, "
                        "timeout_s or auto_converge");
        return;
    }
    struct gw_error err = { 0 };
    if (agent_mig_set(a->agent, a->name, downtime, bandwidth, timeout, auto_converge, &err))
        api_reply_gw_error(a->reply, &err);
    else
        reply_migration(a, 200, a->name);
}

static void cancel_migration(struct route_args *a)
{
    struct gw_error err = { 0 };
    if (agent_mig_cancel(a->agent, a->name, &err))
        api_reply_gw_error(a->reply, &err);
    else
        reply_migration(a, 200, a->name);
}

static void force_complete_migration(struct route_args *a)
{
    struct gw_error err = { 0 };
    if (agent_mig_force_complete(a->agent, a->name, &err))
        api_reply_gw_error(a->reply, &err);
    else
        reply_migration(a, 200, a->name);
}

static void resolve_migration(struct route_args *a)
{
    char keep[16];
    if (!a->req->body) {
        api_reply_error(a->reply, "bad-request", "resolve needs {\"keep\": \"source\" or "
                        "\"destination\"}");
        return;
    }
    if (get_string(a, "keep", true, keep, sizeof keep, ""))
        return;
    if (strcmp(keep, "source") && strcmp(keep, "destination")) {
        api_reply_error(a->reply, "bad-request", "\"keep\" must be \"source\" or \"destination\"");
        return;
    }
    struct gw_error err = { 0 };
    if (agent_mig_resolve(a->agent, a->name, !strcmp(keep, "destination"), &err))
        api_reply_gw_error(a->reply, &err);
    else
        reply_migration(a, 200, a->name);
}

/* --- peer API --- */

static void peer_prepare(struct route_args *a)
{
    struct agent_vm_spec spec = { 0 };
    char id[AGENT_MIG_ID_MAX + 1], source[AGENT_NAME_MAX + 1];
    long long memory = 0, vcpus = 0;
    json_t *vm = json_object_get(a->req->body, "vm");
    if (!json_is_object(vm)) {
        api_reply_error(a->reply, "bad-request", "prepare needs \"vm\": {...}");
        return;
    }
    if (get_string(a, "migration", true, id, sizeof id, "") ||
        get_string(a, "source", true, source, sizeof source, ""))
        return;
    struct api_request inner = *a->req;
    inner.body = vm;
    struct route_args vm_args = *a;
    vm_args.req = &inner;
    if (get_string(&vm_args, "name", true, spec.name, sizeof spec.name, "") ||
        get_string(&vm_args, "kernel", true, spec.kernel, sizeof spec.kernel, "") ||
        get_string(&vm_args, "cmdline", false, spec.cmdline, sizeof spec.cmdline, "") ||
        get_uint(&vm_args, "memory_bytes", UINT64_C(1) << 40, &memory) ||
        get_uint(&vm_args, "vcpus", 1024, &vcpus))
        return;
    spec.memory_bytes = (uint64_t)memory;
    spec.vcpus = (uint32_t)vcpus;
    struct gw_error err = { 0 };
    bool late = json_is_true(json_object_get(a->req->body, "late_cutover"));
    if (agent_nic_from_json(json_object_get(vm, "nic"), &spec.nic, &err)) {
        api_reply_gw_error(a->reply, &err);
        return;
    }
    const char *tap = json_string_value(json_object_get(json_object_get(vm, "nic"), "tap"));
    if (tap)
        snprintf(spec.nic.tap, sizeof spec.nic.tap, "%s", tap);
    agent_nic_default_tap(&spec.nic, spec.name);
    int port = agent_peer_prepare(a->agent, id, source, &spec, late, &err);
    if (port < 0)
        api_reply_gw_error(a->reply, &err);
    else
        reply_json(a, 201, json_pack("{s:i}", "port", port));
}

static void peer_call(struct route_args *a, json_t *(*fn)(struct agent *, const char *,
                                                          struct gw_error *))
{
    struct gw_error err = { 0 };
    json_t *json = fn(a->agent, a->name, &err);
    if (json)
        reply_json(a, 200, json);
    else
        api_reply_gw_error(a->reply, &err);
}

static void peer_show(struct route_args *a) { peer_call(a, agent_peer_status); }
static void peer_commit(struct route_args *a) { peer_call(a, agent_peer_commit); }
static void peer_abort(struct route_args *a) { peer_call(a, agent_peer_abort); }

/* --- ports --- */

static void list_ports(struct route_args *a) { reply_json(a, 200, agent_ports_json(a->agent)); }

static void peer_port_put(struct route_args *a)
{
    struct gw_error err = { 0 };
    if (!a->req->body) {
        api_reply_error(a->reply, "bad-request", "a port binding needs a JSON body");
        return;
    }
    if (agent_port_receive(a->agent, a->name, a->req->body, &err))
        api_reply_gw_error(a->reply, &err);
    else
        reply_json(a, 200, json_object());
}

static void peer_port_delete(struct route_args *a)
{
    agent_port_receive_removal(a->agent, a->name);
    reply_json(a, 200, json_object());
}

/* --- routing --- */

static const struct route {
    const char *method;
    const char *pattern[4];     /* segments after /v1; ":" = a name */
    void (*handler)(struct route_args *a);
} routes[] = {
    { "GET", { "host" }, get_host },
    { "GET", { "hosts" }, get_hosts },
    { "GET", { "vms" }, list_vms },
    { "POST", { "vms" }, create_vm },
    { "GET", { "vms", ":" }, show_vm },
    { "DELETE", { "vms", ":" }, delete_vm },
    { "POST", { "vms", ":", "start" }, start_vm },
    { "POST", { "vms", ":", "stop" }, stop_vm },
    { "GET", { "vms", ":", "console" }, console_vm },
    { "GET", { "migrations" }, list_migrations },
    { "POST", { "migrations" }, create_migration },
    { "GET", { "migrations", ":" }, show_migration },
    { "PATCH", { "migrations", ":" }, set_migration },
    { "POST", { "migrations", ":", "cancel" }, cancel_migration },
    { "POST", { "migrations", ":", "force-complete" }, force_complete_migration },
    { "POST", { "migrations", ":", "resolve" }, resolve_migration },
    { "GET", { "ports" }, list_ports },
    { "PUT", { "peer", "ports", ":" }, peer_port_put },
    { "DELETE", { "peer", "ports", ":" }, peer_port_delete },
    { "POST", { "peer", "prepare" }, peer_prepare },
    { "GET", { "peer", "migrations", ":" }, peer_show },
    { "POST", { "peer", "migrations", ":", "commit" }, peer_commit },
    { "POST", { "peer", "migrations", ":", "abort" }, peer_abort },
};

/* Splits "/v1/a/b" into a, b (in buf); returns the count or -1. */
static int split_path(const char *path, char *buf, size_t size, char *segments[])
{
    if (strncmp(path, "/v1/", 4) || strlen(path) >= size)
        return -1;
    snprintf(buf, size, "%s", path + 4);
    int n = 0;
    for (char *save = NULL, *s = strtok_r(buf, "/", &save); s; s = strtok_r(NULL, "/", &save)) {
        if (n == MAX_SEGMENTS)
            return -1;
        segments[n++] = s;
    }
    return n;
}

void api_route(struct agent *agent, const struct api_request *req, struct api_reply *reply)
{
    char buf[512];
    char *segments[MAX_SEGMENTS];
    int n = split_path(req->path, buf, sizeof buf, segments);
    bool path_known = false;
    for (size_t r = 0; n > 0 && r < sizeof routes / sizeof routes[0]; r++) {
        const struct route *route = &routes[r];
        int len = 0;
        while (len < 4 && route->pattern[len])
            len++;
        if (len != n)
            continue;
        const char *name = NULL;
        bool match = true;
        for (int i = 0; i < n && match; i++) {
            if (!strcmp(route->pattern[i], ":"))
                name = segments[i];
            else
                match = !strcmp(route->pattern[i], segments[i]);
        }
        if (!match)
            continue;
        path_known = true;
        if (strcmp(route->method, req->method))
            continue;
        struct route_args a = { .agent = agent, .req = req, .reply = reply, .name = name };
        route->handler(&a);
        return;
    }
    if (path_known)
        api_reply_error(reply, "bad-request", "%s is not allowed on %s", req->method, req->path);
    else
        api_reply_error(reply, "not-found", "no such path: %s", req->path);
}
