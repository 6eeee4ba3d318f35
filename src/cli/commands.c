/*
 * godwit's one-request commands; see commands.h.  Each command is a
 * request (method, path, body) and a text printer; -o json prints the
 * agent's reply instead, unchanged but compacted, so scripts see exactly
 * what the API documents (docs/agent-api.md).
 */
#include "cli/commands.h"

#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/exitcode.h"
#include "cli/format.h"
#include "cli/print.h"

typedef void text_printer(FILE *out, const json_t *reply, const struct cli_args *args);

/* Sends req, then prints the reply with text (text mode) or as JSON. */
static int run(const struct cli_args *args, const struct client *client,
               const struct client_request *req, text_printer *text)
{
    struct client_reply reply;
    int rc = client_send(client, req, &reply);
    if (rc) {
        client_report(client, &reply);
    } else {
        if (args->output == CLI_OUTPUT_JSON)
            print_json(stdout, reply.json);
        else
            text(stdout, reply.json, args);
    }
    client_reply_uninit(&reply);
    return rc;
}

/* Sets a string field; false if value is not UTF-8 (JSON cannot carry it). */
static bool set_string(json_t *obj, const char *key, const char *value)
{
    json_t *s = json_string(value);
    if (!s) {
        fprintf(stderr, "godwit: the %s '%s' is not valid UTF-8\n", key, value);
        return false;
    }
    json_object_set_new(obj, key, s);
    return true;
}

void commands_add_policy(json_t *body, const struct cli_policy *policy)
{
    if (policy->has_max_downtime)
        json_object_set_new(body, "max_downtime_ms", json_integer(policy->max_downtime_ms));
    if (policy->has_bandwidth)
        json_object_set_new(body, "max_bandwidth", json_integer((json_int_t)policy->bandwidth));
    if (policy->has_timeout)
        json_object_set_new(body, "timeout_s", json_integer(policy->timeout_s));
    if (policy->has_auto_converge)
        json_object_set_new(body, "auto_converge", json_boolean(policy->auto_converge));
}

static void print_vm_created(FILE *out, const json_t *vm, const struct cli_args *args)
{
    const char *host = fmt_str(vm, "host"), *state = fmt_str(vm, "state");
    fprintf(out, "%s created on %s (%s)\n", args->target, host ? host : "this host",
            state ? state : "stopped");
}

static void print_vm_started(FILE *out, const json_t *vm, const struct cli_args *args)
{
    double pid;
    const char *state = fmt_str(vm, "state");
    fprintf(out, "%s: %s", args->target, state ? state : "started");
    if (fmt_num(vm, "pid", &pid))
        fprintf(out, " (pid %.0f)", pid);
    fputc('\n', out);
}

static void print_vm_stopped(FILE *out, const json_t *vm, const struct cli_args *args)
{
    double exit_code;
    const char *state = fmt_str(vm, "state");
    fprintf(out, "%s: %s", args->target, state ? state : "stopped");
    if (fmt_num(vm, "exit_code", &exit_code))
        fprintf(out, " (exit code %.0f)", exit_code);
    fputc('\n', out);
}

static void print_deleted(FILE *out, const json_t *reply, const struct cli_args *args)
{
    (void)reply;
    fprintf(out, "%s deleted\n", args->target);
}

static void print_vm_text(FILE *out, const json_t *vm, const struct cli_args *args)
{
    (void)args;
    print_vm(out, vm);
}

static void print_vms_text(FILE *out, const json_t *reply, const struct cli_args *args)
{
    (void)args;
    print_vm_list(out, reply);
}

static void print_hosts_text(FILE *out, const json_t *reply, const struct cli_args *args)
{
    (void)args;
    print_host_list(out, reply);
}

static void print_ports_text(FILE *out, const json_t *reply, const struct cli_args *args)
{
    (void)args;
    print_port_list(out, reply);
}

static void print_migration_text(FILE *out, const json_t *m, const struct cli_args *args)
{
    (void)args;
    print_migration(out, m);
}

static void print_migrations_text(FILE *out, const json_t *reply, const struct cli_args *args)
{
    (void)args;
    print_migration_list(out, reply);
}

static void print_cancelled(FILE *out, const json_t *m, const struct cli_args *args)
{
    const char *state = fmt_str(m, "state");
    if (state && !strcmp(state, "cancelled"))
        fprintf(out, "%s: cancelled\n", args->target);
    else
        fprintf(out, "%s: cancel requested (state: %s); it ends as 'cancelled', see "
                "`godwit migration show %s`\n", args->target, state ? state : "-", args->target);
}

static void print_forced(FILE *out, const json_t *m, const struct cli_args *args)
{
    (void)m;
    fprintf(out, "%s: switching over after the current pass, whatever the pause; see "
            "`godwit migration show %s`\n", args->target, args->target);
}

static void print_policy_set(FILE *out, const json_t *m, const struct cli_args *args)
{
    const json_t *policy = json_object_get(m, "policy");
    double downtime, bandwidth, timeout;
    char rate[FMT_LEN];
    fprintf(out, "%s: policy set", args->target);
    if (fmt_num(policy, "max_downtime_ms", &downtime) &&
        fmt_num(policy, "max_bandwidth", &bandwidth) && bandwidth >= 0 &&
        fmt_num(policy, "timeout_s", &timeout))
        fprintf(out, ": max downtime %.0f ms, bandwidth %s, timeout %.0f s", downtime,
                fmt_bandwidth((uint64_t)bandwidth, rate), timeout);
    fputc('\n', out);
}

static void print_resolved(FILE *out, const json_t *m, const struct cli_args *args)
{
    const char *state = fmt_str(m, "state"), *vm = fmt_str(m, "vm");
    const char *runs_on = NULL;
    if (state && !strcmp(state, "completed"))
        runs_on = fmt_str(m, "destination");
    else if (state && !strcmp(state, "failed"))
        runs_on = fmt_str(m, "source");
    fprintf(out, "%s: %s", args->target, state ? state : "-");
    if (runs_on)
        fprintf(out, "; %s runs on %s", vm ? vm : "the VM", runs_on);
    fputc('\n', out);
    if (fmt_str(m, "error"))
        fprintf(out, "error: %s\n", fmt_str(m, "error"));
    if (fmt_str(m, "hint"))
        fprintf(out, "hint: %s\n", fmt_str(m, "hint"));
}

static int vm_create(const struct cli_args *args, const struct client *client)
{
    /* The agent may run in another directory: send an absolute path when
     * the image is visible here; otherwise the agent's error names it. */
    char *kernel = realpath(args->kernel, NULL);
    json_t *body = json_object();
    bool ok = set_string(body, "name", args->target) &&
              set_string(body, "kernel", kernel ? kernel : args->kernel) &&
              (!args->memory || set_string(body, "memory", args->memory)) &&
              (!args->cmdline || set_string(body, "cmdline", args->cmdline));
    if (args->has_vcpus)
        json_object_set_new(body, "vcpus", json_integer(args->vcpus));
    if (args->mac || args->ip || args->tap) {
        json_t *nic = json_object();
        ok = ok && (!args->mac || set_string(nic, "mac", args->mac)) &&
             (!args->ip || set_string(nic, "ip", args->ip)) &&
             (!args->tap || set_string(nic, "tap", args->tap));
        json_object_set_new(body, "nic", nic);
    }
    free(kernel);
    int rc = CLI_EXIT_USAGE;
    if (ok) {
        struct client_request req = { .method = "POST", .path = "/v1/vms", .body = body };
        rc = run(args, client, &req, print_vm_created);
    }
    json_decref(body);
    return rc;
}

/* vm console prints the log as it is, also with -o json: it is not JSON. */
static int vm_console(const struct cli_args *args, const struct client *client)
{
    char query[40] = "/console";
    if (args->has_console_bytes)
        snprintf(query, sizeof query, "/console?bytes=%" PRIu64, args->console_bytes);
    struct client_request req = { .method = "GET", .path = "/v1/vms", .name = args->target,
                                  .suffix = query, .text = true };
    struct client_reply reply;
    int rc = client_send(client, &req, &reply);
    if (rc)
        client_report(client, &reply);
    else
        fwrite(reply.text, 1, reply.text_len, stdout);
    client_reply_uninit(&reply);
    return rc;
}

static int migration_change(const struct cli_args *args, const struct client *client)
{
    json_t *body = json_object();
    const char *method = "PATCH", *suffix = NULL;
    text_printer *text = print_policy_set;
    if (args->command == CLI_MIGRATION_SET) {
        commands_add_policy(body, &args->policy);
    } else {
        method = "POST";
        suffix = "/resolve";
        text = print_resolved;
        json_object_set_new(body, "keep", json_string(args->keep));
    }
    struct client_request req = { .method = method, .path = "/v1/migrations",
                                  .name = args->target, .suffix = suffix, .body = body };
    int rc = run(args, client, &req, text);
    json_decref(body);
    return rc;
}

int commands_run(const struct cli_args *args, const struct client *client)
{
    const char *target = args->target;
    struct client_request req = { .method = "GET", .name = target };
    text_printer *text = NULL;

    switch (args->command) {
    case CLI_VM_CREATE: return vm_create(args, client);
    case CLI_VM_CONSOLE: return vm_console(args, client);
    case CLI_MIGRATION_SET:
    case CLI_MIGRATION_RESOLVE: return migration_change(args, client);
    case CLI_VM_START:
        req = (struct client_request){ .method = "POST", .path = "/v1/vms", .name = target,
                                       .suffix = "/start" };
        text = print_vm_started;
        break;
    case CLI_VM_STOP:
        req = (struct client_request){ .method = "POST", .path = "/v1/vms", .name = target,
                                       .suffix = "/stop" };
        text = print_vm_stopped;
        break;
    case CLI_VM_DELETE:
        req = (struct client_request){ .method = "DELETE", .path = "/v1/vms", .name = target };
        text = print_deleted;
        break;
    case CLI_VM_SHOW: req.path = "/v1/vms"; text = print_vm_text; break;
    case CLI_VM_LIST: req.path = "/v1/vms"; text = print_vms_text; break;
    case CLI_HOST_LIST: req.path = "/v1/hosts"; text = print_hosts_text; break;
    case CLI_PORT_LIST: req.path = "/v1/ports"; text = print_ports_text; break;
    case CLI_MIGRATION_SHOW: req.path = "/v1/migrations"; text = print_migration_text; break;
    case CLI_MIGRATION_LIST: req.path = "/v1/migrations"; text = print_migrations_text; break;
    case CLI_MIGRATION_CANCEL:
        req = (struct client_request){ .method = "POST", .path = "/v1/migrations",
                                       .name = target, .suffix = "/cancel" };
        text = print_cancelled;
        break;
    case CLI_MIGRATION_FORCE_COMPLETE:
        req = (struct client_request){ .method = "POST", .path = "/v1/migrations",
                                       .name = target, .suffix = "/force-complete" };
        text = print_forced;
        break;
    case CLI_MIGRATE:
    case CLI_NONE:
        return CLI_EXIT_USAGE;      /* main() routes these elsewhere */
    }
    return run(args, client, &req, text);
}
