/*
 * The agent's lifetime: state directories, start-up recovery (adopting
 * VMMs, resuming migration jobs), and the supervisor thread that notices
 * VMMs exiting.
 */
#include "agent/agent.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent/files.h"
#include "agent/ports.h"
#include "base/log.h"

#define SUPERVISE_MS 200

static long long clock_ms(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

long long agent_mono_ms(void) { return clock_ms(CLOCK_MONOTONIC); }
long long agent_wall_ms(void) { return clock_ms(CLOCK_REALTIME); }

bool agent_sleep_ms(struct agent *agent, int ms)
{
    /* Short naps, so a stopping agent is noticed within 50 ms. */
    for (int slept = 0; slept < ms; slept += 50) {
        if (atomic_load(&agent->stopping))
            return true;
        usleep((useconds_t)(ms - slept < 50 ? ms - slept : 50) * 1000);
    }
    return atomic_load(&agent->stopping);
}

static void *supervisor_thread(void *arg)
{
    struct agent *agent = arg;
    while (!agent_sleep_ms(agent, SUPERVISE_MS)) {
        agent_vms_supervise(agent);
    }
    return NULL;
}

int agent_init(struct agent *agent, const struct agent_config *config, struct gw_error *err)
{
    memset(agent, 0, sizeof *agent);
    agent->config = *config;
    agent->frame_fd = -1;
    pthread_mutex_init(&agent->lock, NULL);
    atomic_init(&agent->stopping, false);

    static const char *const subdirs[] = { "vms", "migrations" };
    for (size_t i = 0; i < 2; i++) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", config->state_dir, subdirs[i]);
        int rc = files_make_dirs(path);
        if (rc)
            return gw_error_set(err, rc, "cannot create %s: %s", path, strerror(-rc));
    }
    if (access(config->vmm_path, X_OK) < 0)
        return gw_error_set(err, -errno, "the VMM %s cannot be run: %s", config->vmm_path,
                            strerror(errno));

    pthread_mutex_lock(&agent->lock);
    agent_vms_load(agent);
    agent_migs_load(agent);
    pthread_mutex_unlock(&agent->lock);
    int rc = agent_net_init(agent, err);
    if (rc)
        return rc;
    agent_dest_resume_all(agent);
    agent_source_resume_all(agent);

    rc = pthread_create(&agent->supervisor, NULL, supervisor_thread, agent);
    if (rc)
        return gw_error_set(err, -rc, "cannot start the supervisor: %s", strerror(rc));
    return 0;
}

void agent_uninit(struct agent *agent)
{
    atomic_store(&agent->stopping, true);
    pthread_join(agent->supervisor, NULL);
    /* Monitor and watch threads are detached; they notice `stopping`
     * within 50 ms and make no further changes.  VMMs keep running. */
    usleep(300 * 1000);
    if (agent->frame_fd >= 0)
        close(agent->frame_fd);
}
