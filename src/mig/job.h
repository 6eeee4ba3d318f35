/*
 * A migration's policy, progress figures and states, shared by the
 * outgoing engine, the control API and (later) the agents.
 *
 *   SETUP --> ACTIVE --> SWITCHOVER --> COMPLETED
 *     |         |            |
 *     +---------+------------+--> FAILED | CANCELLED   (source VM runs on)
 *                            |
 *                            +--> UNKNOWN  (GO was sent but RESUMED never
 *                                           came: the source stays frozen)
 */
#ifndef GW_MIG_JOB_H
#define GW_MIG_JOB_H

#include <stdbool.h>
#include <stdint.h>

enum mig_state {
    MIG_SETUP,          /* connecting, negotiating */
    MIG_ACTIVE,         /* pre-copy passes while the guest runs */
    MIG_SWITCHOVER,     /* guest frozen: last pages and state on the way */
    MIG_COMPLETED,      /* the destination runs the guest */
    MIG_FAILED,         /* gave up before the switchover point; source runs */
    MIG_CANCELLED,      /* the operator cancelled; source runs */
    MIG_UNKNOWN,        /* outcome unknown: source frozen, operator must decide */
};

const char *mig_state_name(enum mig_state state);
bool mig_state_is_final(enum mig_state state);

/* count per second over ns nanoseconds (0 if ns is 0), and the
 * nanoseconds count takes at rate per second: in 128 bits, since
 * bytes * 10^9 passes 2^64 once 18.4 GB are counted (a long migration
 * sends that; the expected downtime and the pacing went wrong there). */
static inline uint64_t mig_per_second(uint64_t count, uint64_t ns)
{
    return ns ? (uint64_t)((unsigned __int128)count * 1000000000u / ns) : 0;
}
static inline uint64_t mig_ns_for(uint64_t count, uint64_t rate)
{
    return rate ? (uint64_t)((unsigned __int128)count * 1000000000u / rate) : 0;
}

struct mig_policy {
    uint64_t max_downtime_ms;   /* default 100 */
    uint64_t max_bandwidth;     /* bytes/s; 0 = unlimited */
    uint64_t timeout_s;         /* default 180; then abort */
    bool verify_memory;         /* send an xxh3 digest of RAM at switchover */
    bool auto_converge;         /* throttle the vCPUs of a guest that dirties too fast */
};

#define MIG_DEFAULT_MAX_DOWNTIME_MS 100
#define MIG_DEFAULT_TIMEOUT_S 180

struct mig_stats {
    enum mig_state state;
    uint64_t elapsed_ms;
    uint32_t pass;              /* 1 = the full first pass */
    uint64_t bytes_sent;        /* on the wire, all records */
    uint64_t pages_sent;
    uint64_t zero_pages;
    uint64_t remaining_bytes;   /* dirty pages not yet sent, at the last sync */
    uint64_t total_bytes;       /* guest RAM */
    uint64_t throughput_bps;    /* bytes/s over the last second */
    uint64_t dirty_pages_per_s;
    uint64_t expected_downtime_ms;
    unsigned throttle_pct;      /* auto-converge: the VM's vCPU throttle, read when queried */
    uint64_t setup_ms;
    uint64_t downtime_ms;       /* source pause to destination resume, once known */
    uint64_t downtime_us;       /* the same in microseconds */
    uint64_t total_ms;
    char error[256];
};

#endif
