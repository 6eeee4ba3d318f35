/*
 * memtouch's core: the sweeps, the verification and the reporter (see
 * memtouch.c for the pattern and the command line, memtouch_core.h for who
 * calls what).  The sweepers are vCPUs [first_cpu, ncpus); vCPU 0 reports,
 * either between its own sweeps (memtouch.elf) or from its own loop
 * through mt_poll (echo.elf, where vCPU 0 runs the network).
 */
#include "memtouch_core.h"
#include "sdk.h"

#define PAGE 4096ULL
#define WORDS_PER_PAGE (PAGE / 8)
#define BATCH 64                /* pages between clock, stop and progress checks */
#define STAMP_KEY 0x9e3779b97f4a7c15ULL

enum share_state { SHARE_RUNNING, SHARE_VERIFIED_OK, SHARE_VERIFIED_BAD };

/* One vCPU's share and progress.  Written only by its vCPU (cpu 0 reads
 * the counters for progress lines); aligned to keep vCPUs off each
 * other's cache lines. */
struct share {
    uint64_t first;             /* guest-physical address of page 0 */
    uint64_t npages;
    volatile uint64_t sweep;    /* sweeps completed */
    volatile uint64_t pos;      /* pages of sweep + 1 written so far (published at stop) */
    volatile uint64_t written;  /* pages written in total (published every BATCH) */
    volatile int state;
    uint64_t bad_addr, expected, found;
} __attribute__((aligned(64)));

static struct share shares[GW_MAX_VCPUS];

/* Why the sweeps stop: set by cpu 0's reporter, seen by every writer. */
enum stop_reason { STOP_NONE, STOP_CHECK, STOP_FINAL };
static volatile int stop_requested;
static volatile uint64_t check_round;   /* cpu 0 bumps it when a check is over */
static uint64_t rate_per_cpu;   /* pages/s, 0 = unlimited */
static unsigned first_sweeper;  /* sweepers are vCPUs [first_sweeper, ncpus) */
static volatile int ready;      /* vCPU 0 has set up its reporter: sweeps may start */

static inline uint64_t stamp(uint64_t sweep, uint64_t addr)
{
    return sweep ? sweep ^ (addr * STAMP_KEY) : 0;
}

void mt_setup(unsigned first_cpu)
{
    const struct gw_boot_info *bi = sdk_boot_info();
    uint64_t start = sdk_free_ram_start();
    if (start >= bi->ram_bytes) {
        printf("memtouch: no free RAM above the image (RAM %lu MiB)\n",
               (unsigned long)(bi->ram_bytes >> 20));
        sdk_exit(2);
    }
    uint64_t mem = cmdline_get_u64("mem", bi->ram_bytes - start) & ~(PAGE - 1);
    if (mem == 0 || mem > bi->ram_bytes - start) {
        printf("memtouch: mem=%lu MiB does not fit: %lu MiB free above 0x%lx\n",
               (unsigned long)(mem >> 20), (unsigned long)((bi->ram_bytes - start) >> 20),
               (unsigned long)start);
        sdk_exit(2);
    }
    if (first_cpu >= sdk_ncpus()) {
        printf("memtouch: needs at least %u vCPUs\n", first_cpu + 1);
        sdk_exit(2);
    }
    first_sweeper = first_cpu;
    unsigned ncpus = sdk_ncpus() - first_cpu;
    uint64_t npages = mem / PAGE, each = npages / ncpus;
    if (each == 0) {
        printf("memtouch: %lu pages cannot be shared by %u vCPUs\n", (unsigned long)npages, ncpus);
        sdk_exit(2);
    }
    for (unsigned i = 0; i < ncpus; i++) {
        struct share *sh = &shares[first_cpu + i];
        sh->first = start + i * each * PAGE;
        sh->npages = i == ncpus - 1 ? npages - i * each : each;
    }
    uint64_t rate = cmdline_get_u64("rate", 0);
    rate_per_cpu = rate ? (rate + ncpus - 1) / ncpus : 0;
    printf("memtouch: region 0x%lx-0x%lx (%lu pages) on %u vCPUs, rate %lu pages/s, "
           "verify after %lu s\n",
           (unsigned long)start, (unsigned long)(start + npages * PAGE), (unsigned long)npages,
           ncpus, (unsigned long)rate, (unsigned long)cmdline_get_u64("verify", 0));
}

/* Checks a stopped share against the sweep pattern. */
static void verify_share(struct share *sh)
{
    uint64_t s = sh->sweep + 1;
    for (uint64_t i = 0; i < sh->npages; i++) {
        uint64_t addr = sh->first + i * PAGE;
        const volatile uint64_t *page = (const volatile uint64_t *)addr;
        uint64_t expected = i < sh->pos ? s : s - 1;
        if (page[0] != expected || page[WORDS_PER_PAGE - 1] != stamp(expected, addr)) {
            sh->bad_addr = addr;
            sh->expected = expected;
            sh->found = page[0];
            sh->state = SHARE_VERIFIED_BAD;
            return;
        }
    }
    sh->state = SHARE_VERIFIED_OK;
}

/* cpu 0's once-a-second duties: the progress line and the verify timer. */
struct reporter {
    uint64_t start_ns, next_ns, verify_ns, last_written;
    uint64_t check_ns, check_every_ns;
    int progress;
};

static uint64_t total_written(void)
{
    uint64_t sum = 0;
    for (unsigned c = first_sweeper; c < sdk_ncpus(); c++)
        sum += shares[c].written;
    return sum;
}

static void report(struct reporter *r, uint64_t now)
{
    if (now < r->next_ns)
        return;
    uint64_t written = total_written(), min_sweep = ~0ULL;
    for (unsigned c = first_sweeper; c < sdk_ncpus(); c++)
        if (shares[c].sweep < min_sweep)
            min_sweep = shares[c].sweep;
    if (r->progress)
        printf("memtouch: t=%lus pages/s=%lu sweeps=%lu written=%lu\n",
               (unsigned long)((now - r->start_ns) / 1000000000ULL),
               (unsigned long)(written - r->last_written), (unsigned long)min_sweep,
               (unsigned long)written);
    r->last_written = written;
    r->next_ns += 1000000000ULL;
    if (r->next_ns <= now)              /* we were paused: no burst of stale lines */
        r->next_ns = now + 1000000000ULL;
    if (r->verify_ns && now >= r->verify_ns)
        stop_requested = STOP_FINAL;
    else if (r->check_ns && now >= r->check_ns)
        stop_requested = STOP_CHECK;
}

/* Pacing: each batch is due BATCH / rate_per_cpu seconds after the last.
 * A writer that fell behind by more than MAX_LAG_NS (it was paused, or
 * migrated) starts afresh instead of bursting to catch up.  A writer that
 * is ahead halts until the next timer tick instead of spinning, so a paced
 * guest leaves the host's CPUs to others (like the migration that moves
 * it); it then writes in bursts of up to a tick's worth of pages. */
#define MAX_LAG_NS 100000000ULL

static void pace(uint64_t *due_ns, struct reporter *r)
{
    uint64_t now = clock_ns();
    if (r)
        report(r, now);
    if (!rate_per_cpu)
        return;
    *due_ns += BATCH * 1000000000ULL / rate_per_cpu;
    if (now > *due_ns + MAX_LAG_NS)
        *due_ns = now;
    while (now < *due_ns) {
        sdk_idle();
        now = clock_ns();
        if (r)
            report(r, now);
    }
}

static void sweep_until_stopped(unsigned cpu, struct reporter *r)
{
    struct share *sh = &shares[cpu];
    uint64_t due_ns = clock_ns(), written = sh->written;
    uint64_t pos = sh->pos, sweep = sh->sweep;

    for (;;) {
        uint64_t s = sweep + 1;
        for (; pos < sh->npages; pos++) {
            uint64_t addr = sh->first + pos * PAGE;
            volatile uint64_t *page = (volatile uint64_t *)addr;
            page[0] = s;
            page[WORDS_PER_PAGE - 1] = stamp(s, addr);
            if (++written % BATCH)
                continue;
            sh->written = written;
            if (stop_requested) {
                sh->pos = pos + 1;
                sh->sweep = sweep;
                return;
            }
            pace(&due_ns, r);
        }
        sweep = s;
        sh->sweep = sweep;
        pos = 0;
    }
}

/* cpu 0, once every share is verified: the result line.  Returns 1 if
 * every page was right. */
static int collect(const char *what)
{
    uint64_t pages = 0;
    int ok = 1;
    for (unsigned c = first_sweeper; c < sdk_ncpus(); c++) {
        while (shares[c].state == SHARE_RUNNING)
            cpu_relax();
        pages += shares[c].npages;
        if (shares[c].state == SHARE_VERIFIED_BAD && ok) {
            ok = 0;
            printf("memtouch: %s FAILED at page 0x%lx (cpu %u, sweep %lu): expected %lu "
                   "found %lu\n", what,
                   (unsigned long)shares[c].bad_addr, c, (unsigned long)shares[c].sweep,
                   (unsigned long)shares[c].expected, (unsigned long)shares[c].found);
        }
    }
    if (ok)
        printf("memtouch: %s OK %lu pages\n", what, (unsigned long)pages);
    return ok;
}

/* cpu 0's reporter, set up by mt_setup. */
static struct reporter reporter;

static void reporter_init(void)
{
    reporter.start_ns = clock_ns();
    reporter.next_ns = reporter.start_ns + 1000000000ULL;
    uint64_t verify_s = cmdline_get_u64("verify", 0);
    reporter.verify_ns = verify_s ? reporter.start_ns + verify_s * 1000000000ULL : 0;
    reporter.check_every_ns = cmdline_get_u64("check", 0) * 1000000000ULL;
    reporter.check_ns = reporter.check_every_ns ? reporter.start_ns + reporter.check_every_ns : 0;
    reporter.progress = cmdline_get_u64("progress", 1) != 0;
}

/* cpu 0, once every share has been verified: prints the verdict, ends the
 * VM after the final verify or a failed check, else lets the sweeps go on
 * (check_round was read as round before the stop). */
static void finish_check(int reason, uint64_t round)
{
    if (reason == STOP_FINAL)
        sdk_exit(collect("verify") ? 0 : 1);
    if (!collect("check"))
        sdk_exit(1);
    for (unsigned c = first_sweeper; c < sdk_ncpus(); c++)
        shares[c].state = SHARE_RUNNING;
    reporter.check_ns = clock_ns() + reporter.check_every_ns;
    stop_requested = STOP_NONE;
    __atomic_store_n(&check_round, round + 1, __ATOMIC_RELEASE);
}

void mt_run(unsigned cpu)
{
    if (cpu == 0) {
        reporter_init();
        __atomic_store_n(&ready, 1, __ATOMIC_RELEASE);
    } else {
        while (!__atomic_load_n(&ready, __ATOMIC_ACQUIRE))
            cpu_relax();
    }
    for (;;) {
        sweep_until_stopped(cpu, cpu == 0 ? &reporter : NULL);
        uint64_t round = check_round;   /* read before cpu 0 can end this check */
        int reason = stop_requested;
        verify_share(&shares[cpu]);
        if (cpu != 0) {
            if (reason == STOP_FINAL)
                return;
            while (check_round == round)
                cpu_relax();
            continue;
        }
        finish_check(reason, round);
    }
}

void mt_poll(uint64_t now_ns)
{
    if (!ready) {
        reporter_init();
        __atomic_store_n(&ready, 1, __ATOMIC_RELEASE);
    }
    if (stop_requested == STOP_NONE) {
        report(&reporter, now_ns);
        return;
    }
    /* A check or the final verify is under way: wait (without blocking)
     * until every sweeper has verified its share. */
    for (unsigned c = first_sweeper; c < sdk_ncpus(); c++)
        if (shares[c].state == SHARE_RUNNING)
            return;
    finish_check(stop_requested, check_round);
}
