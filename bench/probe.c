/*
 * godwit-probe: how many packets a VM's traffic loses, and for how long.
 *
 * Sends UDP requests to an echo server (the `echo` guest) at a fixed rate,
 * each carrying a sequence number, and matches the answers:
 *
 *   sent        requests sent
 *   answered    distinct requests answered
 *   lost        requests never answered (within --wait-ms after the last send)
 *   duplicated  extra answers to a request already answered (e.g. both
 *               copies of a VM answered during a cutover)
 *   longest_gap_ms
 *               the longest time without any answer while requests were
 *               outstanding: from the first send to the first answer,
 *               between consecutive answers, and from the last answer to
 *               the last send if the last requests went unanswered
 *   lost_at     where the first runs of lost requests were, in seconds
 *               after the start
 *
 * One thread: sends what is due, reads what has arrived, naps up to
 * 100 µs.  Standard C and POSIX only, so it runs in any namespace.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PROBE_MAGIC 0x474f4457u     /* "GODW" */
#define MAX_COUNT (100u * 1000 * 1000)

struct request {
    uint32_t magic;
    uint32_t pad;
    uint64_t seq;
    uint64_t sent_ns;
};

struct probe {
    uint64_t count, rate, wait_ms;
    uint8_t *answers;           /* per request: how many answers came */
    uint64_t sent, answered, duplicated, foreign;
    uint64_t first_send_ns, last_send_ns, last_answer_ns, longest_gap_ns;
    double rtt_sum_us, rtt_max_us;
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static const char usage[] =
    "usage: godwit-probe --to IP[:PORT] [--rate N] [--duration S | --count N]\n"
    "                    [--wait-ms MS] [--json]\n"
    "\n"
    "Sends UDP requests with sequence numbers to an echo server (the `echo`\n"
    "guest; PORT defaults to 7) at N per second (default 1000) for S seconds\n"
    "(default 10) or N requests, waits MS (default 1000) for late answers, and\n"
    "reports sent, answered, lost, duplicated and the longest gap without\n"
    "answers.  Exit status: 0 if nothing was lost, 1 if requests were lost,\n"
    "2 for bad arguments or a socket error.\n";

static void note_answer(struct probe *p, const struct request *req, ssize_t len, uint64_t t)
{
    if (len != (ssize_t)sizeof *req || req->magic != PROBE_MAGIC || req->seq >= p->sent) {
        p->foreign++;
        return;
    }
    if (p->answers[req->seq]++) {
        p->duplicated++;
        if (p->answers[req->seq] == 0)
            p->answers[req->seq] = 255;     /* saturate, never wrap to "unanswered" */
        return;
    }
    p->answered++;
    uint64_t since = p->last_answer_ns ? p->last_answer_ns : p->first_send_ns;
    if (t - since > p->longest_gap_ns)
        p->longest_gap_ns = t - since;
    p->last_answer_ns = t;
    double rtt_us = (double)(t - req->sent_ns) / 1000.0;
    p->rtt_sum_us += rtt_us;
    if (rtt_us > p->rtt_max_us)
        p->rtt_max_us = rtt_us;
}

static void drain(struct probe *p, int fd)
{
    struct request req;
    ssize_t n;
    while ((n = recv(fd, &req, sizeof req, MSG_DONTWAIT)) >= 0)
        note_answer(p, &req, n, now_ns());
}

static int run(struct probe *p, int fd)
{
    uint64_t interval_ns = 1000000000ULL / p->rate;
    uint64_t start = now_ns();
    p->first_send_ns = start;
    while (p->sent < p->count) {
        uint64_t t = now_ns();
        uint64_t due = (t - start) / interval_ns + 1;
        if (due > p->count)
            due = p->count;
        for (; p->sent < due; p->sent++) {
            struct request req = { .magic = PROBE_MAGIC, .seq = p->sent, .sent_ns = now_ns() };
            if (send(fd, &req, sizeof req, 0) < 0 && errno != ENOBUFS && errno != EAGAIN &&
                errno != ECONNREFUSED) {
                perror("godwit-probe: send");
                return -1;
            }
        }
        p->last_send_ns = now_ns();
        drain(p, fd);
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        struct timespec nap = { 0, 100000 };
        if (poll(&pfd, 1, 0) == 0)
            nanosleep(&nap, NULL);
    }
    uint64_t end = now_ns() + p->wait_ms * 1000000ULL;
    while (p->answered < p->sent && now_ns() < end) {
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        poll(&pfd, 1, 10);
        drain(p, fd);
    }
    /* The last requests went unanswered: the silence lasted at least
     * until the last one was sent. */
    if (p->sent && !p->answers[p->sent - 1]) {
        uint64_t since = p->last_answer_ns ? p->last_answer_ns : p->first_send_ns;
        if (p->last_send_ns > since && p->last_send_ns - since > p->longest_gap_ns)
            p->longest_gap_ns = p->last_send_ns - since;
    }
    return 0;
}

static int open_socket(const char *target, int *fd_out)
{
    char host[64];
    unsigned port = 7;
    const char *colon = strchr(target, ':');
    size_t len = colon ? (size_t)(colon - target) : strlen(target);
    if (len >= sizeof host)
        return -1;
    memcpy(host, target, len);
    host[len] = '\0';
    if (colon && (sscanf(colon + 1, "%u", &port) != 1 || port == 0 || port > 65535))
        return -1;
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1)
        return -1;
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    int size = 4 << 20;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
        perror("godwit-probe: socket");
        return -2;
    }
    *fd_out = fd;
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option options[] = {
        { "to", required_argument, NULL, 't' }, { "rate", required_argument, NULL, 'r' },
        { "duration", required_argument, NULL, 'd' }, { "count", required_argument, NULL, 'c' },
        { "wait-ms", required_argument, NULL, 'w' }, { "json", no_argument, NULL, 'j' },
        { "help", no_argument, NULL, 'h' }, { 0 },
    };
    struct probe p = { .rate = 1000, .wait_ms = 1000 };
    const char *target = NULL;
    double duration = 10;
    int json = 0, opt;
    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        char *end = NULL;
        switch (opt) {
        case 't': target = optarg; break;
        case 'r': p.rate = strtoull(optarg, &end, 10); break;
        case 'd': duration = strtod(optarg, &end); break;
        case 'c': p.count = strtoull(optarg, &end, 10); break;
        case 'w': p.wait_ms = strtoull(optarg, &end, 10); break;
        case 'j': json = 1; break;
        case 'h': fputs(usage, stdout); return 0;
        default: fputs(usage, stderr); return 2;
        }
        if (end && *end) {
            fprintf(stderr, "godwit-probe: '%s' is not a number\n", optarg);
            return 2;
        }
    }
    if (!p.count)
        p.count = (uint64_t)(duration * (double)p.rate);
    if (!target || optind < argc || p.rate == 0 || p.rate > 1000000 || p.count == 0 ||
        p.count > MAX_COUNT) {
        fputs(usage, stderr);
        return 2;
    }
    int fd = -1;
    int rc = open_socket(target, &fd);
    if (rc) {
        if (rc == -1)
            fprintf(stderr, "godwit-probe: --to %s is not IPv4[:PORT]\n", target);
        return 2;
    }
    p.answers = calloc(p.count, 1);
    if (!p.answers || run(&p, fd))
        return 2;
    uint64_t lost = p.sent - p.answered;
    /* Where the losses were: the first few runs of unanswered requests,
     * as seconds after the start (sequence / rate). */
    char ranges[256] = "";
    size_t used = 0;
    int nranges = 0;
    for (uint64_t i = 0; i < p.sent && nranges < 5; i++) {
        if (p.answers[i])
            continue;
        uint64_t j = i;
        while (j + 1 < p.sent && !p.answers[j + 1])
            j++;
        used += (size_t)snprintf(ranges + used, sizeof ranges - used, "%s%s%.3f-%.3fs",
                                 json ? (nranges ? ",\"" : "\"") : (nranges ? " " : ""), "",
                                 (double)i / (double)p.rate, (double)(j + 1) / (double)p.rate);
        if (json && used < sizeof ranges)
            used += (size_t)snprintf(ranges + used, sizeof ranges - used, "\"");
        nranges++;
        i = j;
    }
    double gap_ms = (double)p.longest_gap_ns / 1e6;
    double rtt_avg_us = p.answered ? p.rtt_sum_us / (double)p.answered : 0;
    if (json)
        printf("{\"sent\":%llu,\"answered\":%llu,\"lost\":%llu,\"duplicated\":%llu,"
               "\"longest_gap_ms\":%.3f,\"rate\":%llu,\"rtt_avg_us\":%.1f,\"rtt_max_us\":%.1f,"
               "\"foreign\":%llu,\"lost_at\":[%s]}\n",
               (unsigned long long)p.sent, (unsigned long long)p.answered,
               (unsigned long long)lost, (unsigned long long)p.duplicated, gap_ms,
               (unsigned long long)p.rate, rtt_avg_us, p.rtt_max_us,
               (unsigned long long)p.foreign, ranges);
    else
        printf("sent %llu answered %llu lost %llu duplicated %llu longest_gap_ms %.1f "
               "(rate %llu/s, rtt avg %.0f us, max %.0f us)%s%s\n",
               (unsigned long long)p.sent, (unsigned long long)p.answered,
               (unsigned long long)lost, (unsigned long long)p.duplicated, gap_ms,
               (unsigned long long)p.rate, rtt_avg_us, p.rtt_max_us,
               nranges ? "; lost at " : "", ranges);
    return lost ? 1 : 0;
}
