/*
 * The migration job registry: ids, states, JSON for the API, and the
 * migrations/ID.json records that let a restarted agent pick a job up
 * again.  The two sides' logic lives in mig_source.c and mig_dest.c.
 */
#include "agent/agent.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "agent/files.h"
#include "base/log.h"

static const char *const state_names[] = {
    [AGENT_MIG_PREPARING] = "preparing",
    [AGENT_MIG_TRANSFERRING] = "transferring",
    [AGENT_MIG_SWITCHOVER] = "switchover",
    [AGENT_MIG_COMPLETED] = "completed",
    [AGENT_MIG_FAILED] = "failed",
    [AGENT_MIG_CANCELLED] = "cancelled",
    [AGENT_MIG_UNKNOWN] = "unknown",
    [AGENT_MIG_PREPARED] = "prepared",
    [AGENT_MIG_ABORTED] = "aborted",
};

const char *agent_mig_state_name(enum agent_mig_state state)
{
    return state_names[state];
}

/* UNKNOWN is not final: it waits for the operator. */
bool agent_mig_state_is_final(enum agent_mig_state state)
{
    return state == AGENT_MIG_COMPLETED || state == AGENT_MIG_FAILED ||
           state == AGENT_MIG_CANCELLED || state == AGENT_MIG_ABORTED;
}

struct agent_mig *agent_mig_find(struct agent *agent, const char *id)
{
    for (struct agent_mig *mig = agent->migs; mig; mig = mig->next)
        if (!strcmp(mig->id, id))
            return mig;
    return NULL;
}

struct agent_mig *agent_mig_new(struct agent *agent, enum agent_mig_role role, const char *vm)
{
    struct agent_mig *mig = calloc(1, sizeof *mig);
    if (!mig)
        return NULL;
    unsigned char random[6];
    do {
        if (getrandom(random, sizeof random, 0) != sizeof random)
            memset(random, 0, sizeof random);
        snprintf(mig->id, sizeof mig->id, "m-%02x%02x%02x%02x%02x%02x", random[0], random[1],
                 random[2], random[3], random[4], random[5]);
    } while (agent_mig_find(agent, mig->id));
    snprintf(mig->vm, sizeof mig->vm, "%s", vm);
    mig->role = role;
    mig->created_ms = agent_wall_ms();
    mig->last_contact_ms = agent_mono_ms();
    mig->next = agent->migs;
    agent->migs = mig;
    return mig;
}

void agent_mig_discard(struct agent *agent, struct agent_mig *mig)
{
    for (struct agent_mig **p = &agent->migs; *p; p = &(*p)->next) {
        if (*p == mig) {
            *p = mig->next;
            break;
        }
    }
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/migrations/%s.json", agent->config.state_dir, mig->id);
    unlink(path);
    json_decref(mig->progress);
    free(mig);
}

void agent_mig_set_state(struct agent *agent, struct agent_mig *mig, enum agent_mig_state state)
{
    if (mig->state == state)
        return;
    LOG_INFO("agent", "vm=%s migration=%s %s -> %s%s%s", mig->vm, mig->id,
             state_names[mig->state], state_names[state], mig->error[0] ? ": " : "", mig->error);
    mig->state = state;
    agent_mig_save(agent, mig);
}

uint32_t agent_mig_count_active(const struct agent *agent, enum agent_mig_role role)
{
    uint32_t n = 0;
    for (const struct agent_mig *mig = agent->migs; mig; mig = mig->next)
        if (mig->role == role && !agent_mig_state_is_final(mig->state))
            n++;
    return n;
}

/* The source side's progress object, from the VMM's query-migrate reply.
 * During the first pass the VMM has no dirty count yet ("remaining" is
 * 0): what is left is the part of RAM not looked at so far. */
static json_t *progress_json(const json_t *q)
{
    json_int_t total = json_integer_value(json_object_get(q, "total_bytes"));
    json_int_t remaining = json_integer_value(json_object_get(q, "remaining_bytes"));
    json_int_t pass = json_integer_value(json_object_get(q, "pass"));
    json_int_t seen = (json_integer_value(json_object_get(q, "pages_sent")) +
                       json_integer_value(json_object_get(q, "zero_pages"))) * 4096;
    const char *state = json_string_value(json_object_get(q, "state"));
    if (pass <= 1 && state && (!strcmp(state, "setup") || !strcmp(state, "active")))
        remaining = seen < total ? total - seen : 0;
    if (remaining > total)
        remaining = total;
    double percent = total > 0 ? 100.0 * (double)(total - remaining) / (double)total : 0;
    return json_pack("{s:O?, s:O?, s:f, s:O?, s:I, s:O?, s:O?, s:O?, s:O?, s:O?}",
                     "elapsed_ms", json_object_get(q, "elapsed_ms"),
                     "pass", json_object_get(q, "pass"), "percent", percent,
                     "bytes_sent", json_object_get(q, "bytes_sent"),
                     "remaining_bytes", remaining,
                     "total_bytes", json_object_get(q, "total_bytes"),
                     "throughput_bps", json_object_get(q, "throughput_bps"),
                     "dirty_pages_per_s", json_object_get(q, "dirty_pages_per_s"),
                     "expected_downtime_ms", json_object_get(q, "expected_downtime_ms"),
                     "throttle_pct", json_object_get(q, "throttle_pct"));
}

json_t *agent_mig_json(const struct agent_mig *mig)
{
    json_t *json = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I}",
                             "id", mig->id, "vm", mig->vm,
                             "role", mig->role == AGENT_MIG_SOURCE ? "source" : "destination",
                             "source", mig->source, "destination", mig->destination,
                             "state", state_names[mig->state],
                             "created_ms", (json_int_t)mig->created_ms);
    json_object_set_new(json, "error", mig->error[0] ? json_string(mig->error) : json_null());
    json_object_set_new(json, "hint", mig->hint[0] ? json_string(mig->hint) : json_null());
    json_object_set_new(json, "cutover", json_string(mig->late_cutover ? "late" : "early"));
    if (mig->role == AGENT_MIG_DESTINATION) {
        json_object_set_new(json, "port", json_integer(mig->port));
        return json;
    }
    json_object_set_new(json, "policy",
                        json_pack("{s:I, s:I, s:I, s:b, s:b}",
                                  "max_downtime_ms", (json_int_t)mig->max_downtime_ms,
                                  "max_bandwidth", (json_int_t)mig->max_bandwidth,
                                  "timeout_s", (json_int_t)mig->timeout_s,
                                  "verify_memory", mig->verify_memory,
                                  "auto_converge", mig->auto_converge));
    json_object_set_new(json, "progress", mig->progress ? progress_json(mig->progress)
                                                        : json_null());
    if (mig->has_result)
        json_object_set_new(json, "result",
                            json_pack("{s:I, s:f, s:I, s:I, s:i}",
                                      "total_ms", (json_int_t)mig->result.total_ms,
                                      "downtime_ms", mig->result.downtime_us / 1000.0,
                                      "setup_ms", (json_int_t)mig->result.setup_ms,
                                      "bytes_sent", (json_int_t)mig->result.bytes_sent,
                                      "passes", (int)mig->result.passes));
    else
        json_object_set_new(json, "result", json_null());
    return json;
}

void agent_mig_save(struct agent *agent, const struct agent_mig *mig)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/migrations/%s.json", agent->config.state_dir, mig->id);
    json_t *json = agent_mig_json(mig);
    json_object_del(json, "progress");
    if (mig->has_result)
        json_object_set_new(json_object_get(json, "result"), "downtime_us",
                            json_integer((json_int_t)mig->result.downtime_us));
    int rc = files_write_json(path, json);
    if (rc)
        LOG_ERR("agent", "migration=%s cannot save %s: %s", mig->id, path, strerror(-rc));
    json_decref(json);
}

static enum agent_mig_state state_from_name(const char *name, bool *ok)
{
    for (size_t i = 0; i < sizeof state_names / sizeof state_names[0]; i++) {
        if (state_names[i] && !strcmp(state_names[i], name)) {
            *ok = true;
            return (enum agent_mig_state)i;
        }
    }
    *ok = false;
    return AGENT_MIG_FAILED;
}

static void copy_string(char *dst, size_t size, json_t *value)
{
    snprintf(dst, size, "%s", json_string_value(value) ? json_string_value(value) : "");
}

static struct agent_mig *mig_from_json(json_t *json)
{
    const char *id = json_string_value(json_object_get(json, "id"));
    const char *role = json_string_value(json_object_get(json, "role"));
    const char *state = json_string_value(json_object_get(json, "state"));
    bool ok = false;
    if (!id || strlen(id) > AGENT_MIG_ID_MAX || !role || !state)
        return NULL;
    struct agent_mig *mig = calloc(1, sizeof *mig);
    if (!mig)
        return NULL;
    snprintf(mig->id, sizeof mig->id, "%s", id);
    mig->role = !strcmp(role, "destination") ? AGENT_MIG_DESTINATION : AGENT_MIG_SOURCE;
    mig->state = state_from_name(state, &ok);
    copy_string(mig->vm, sizeof mig->vm, json_object_get(json, "vm"));
    copy_string(mig->source, sizeof mig->source, json_object_get(json, "source"));
    copy_string(mig->destination, sizeof mig->destination, json_object_get(json, "destination"));
    copy_string(mig->error, sizeof mig->error, json_object_get(json, "error"));
    copy_string(mig->hint, sizeof mig->hint, json_object_get(json, "hint"));
    mig->created_ms = json_integer_value(json_object_get(json, "created_ms"));
    mig->port = (uint16_t)json_integer_value(json_object_get(json, "port"));
    const char *cutover = json_string_value(json_object_get(json, "cutover"));
    mig->late_cutover = cutover && !strcmp(cutover, "late");
    json_t *policy = json_object_get(json, "policy");
    mig->max_downtime_ms = json_integer_value(json_object_get(policy, "max_downtime_ms"));
    mig->max_bandwidth = json_integer_value(json_object_get(policy, "max_bandwidth"));
    mig->timeout_s = json_integer_value(json_object_get(policy, "timeout_s"));
    mig->verify_memory = json_is_true(json_object_get(policy, "verify_memory"));
    mig->auto_converge = json_is_true(json_object_get(policy, "auto_converge"));
    json_t *result = json_object_get(json, "result");
    if (json_is_object(result)) {
        mig->has_result = true;
        mig->result.total_ms = json_integer_value(json_object_get(result, "total_ms"));
        mig->result.setup_ms = json_integer_value(json_object_get(result, "setup_ms"));
        mig->result.downtime_us = json_integer_value(json_object_get(result, "downtime_us"));
        mig->result.bytes_sent = json_integer_value(json_object_get(result, "bytes_sent"));
        mig->result.passes = (uint32_t)json_integer_value(json_object_get(result, "passes"));
    }
    mig->last_contact_ms = agent_mono_ms();
    if (!ok) {
        free(mig);
        return NULL;
    }
    return mig;
}

void agent_migs_load(struct agent *agent)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/migrations", agent->config.state_dir);
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *entry;
    while ((entry = readdir(d))) {
        size_t len = strlen(entry->d_name);
        if (entry->d_name[0] == '.' || len < 6 || strcmp(entry->d_name + len - 5, ".json"))
            continue;
        char path[PATH_MAX];
        if (snprintf(path, sizeof path, "%s/%s", dir, entry->d_name) >= (int)sizeof path)
            continue;
        json_t *json = files_read_json(path);
        struct agent_mig *mig = json ? mig_from_json(json) : NULL;
        json_decref(json);
        if (!mig) {
            LOG_WARN("agent", "ignoring %s: not a migration record", path);
            continue;
        }
        /* Newest first, as the API lists them. */
        struct agent_mig **p = &agent->migs;
        while (*p && (*p)->created_ms > mig->created_ms)
            p = &(*p)->next;
        mig->next = *p;
        *p = mig;
    }
    closedir(d);
}
