/*
 * godwit migrate; see migrate.h.
 *
 *   POST /v1/migrations ----> started ----> GET /v1/migrations/ID every 250 ms
 *     (the destination           |            | a new state: a "state" line/event
 *      prepares first)           |            | every 0.5 s (terminal) or 1 s: progress
 *                                +------------+--> ended: summary, exit code
 *
 * The agent drives the migration; godwit only watches, so leaving early
 * (an unreachable agent, a kill) never harms it.  Output takes one of three
 * views: a progress line redrawn in place on a terminal, one line a second
 * plus one per state otherwise (logs), or JSON events with -o json.
 *
 * Ctrl-C only sets a flag (the handler does nothing else, so no request is
 * ever made from a signal handler); the loop then asks "Cancel?" when
 * stdin is a terminal, or cancels at once when it is not (a script or a
 * service manager sending SIGINT means "stop").  Either way godwit keeps
 * waiting for the final state: only the agent knows where the VM ends up.
 */
#include "cli/migrate.h"

#include <ctype.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "cli/commands.h"
#include "cli/exitcode.h"
#include "cli/format.h"
#include "cli/print.h"

#define POLL_MS 250
#define CREATE_TIMEOUT_MS 120000L   /* the reply waits for the destination to prepare */

static volatile sig_atomic_t interrupted;

static void on_sigint(int signo)
{
    (void)signo;
    interrupted = 1;
}

enum view {
    VIEW_TTY,       /* stdout is a terminal: one line, redrawn twice a second */
    VIEW_LOG,       /* text elsewhere: a progress line a second, a line per state */
    VIEW_JSON,      /* -o json: one event object per line */
};

struct watch {
    const struct cli_args *args;
    const struct client *client;
    enum view view;
    bool ask;               /* stdin is a terminal: ask before cancelling */
    json_t *m;              /* the latest migration object; owned */
    char *id;               /* owned */
    char *state;            /* the last state seen; owned; NULL if none reported */
    bool line_shown;        /* VIEW_TTY: a progress line is on screen, no newline yet */
    bool cancel_requested;
    double next_progress;   /* monotonic seconds */
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void sleep_ms(long ms)
{
    struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);   /* a SIGINT cuts it short: the loop reacts sooner */
}

static void emit_event(struct watch *w, const char *event)
{
    json_t *obj = json_pack("{s:s, s:O}", "event", event, "migration", w->m);
    if (obj)
        print_json(stdout, obj);
    json_decref(obj);
    fflush(stdout);
}

/* Removes the redrawn progress line, so other output starts on a clean line. */
static void clear_line(struct watch *w)
{
    if (w->line_shown) {
        fputs("\r\033[K", stdout);
        fflush(stdout);
        w->line_shown = false;
    }
}

static void draw_line(struct watch *w)
{
    char line[256];
    fmt_progress_line(w->m, line, sizeof line);
    struct winsize ws;
    /* A line wider than the terminal would wrap, and \r would redraw only
     * its last row: cut it to fit. */
    if (!ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) && ws.ws_col > 1 && (size_t)ws.ws_col - 1 < sizeof line)
        line[ws.ws_col - 1] = '\0';
    printf("\r%s\033[K", line);
    fflush(stdout);
    w->line_shown = true;
}

/* A message for the operator on stderr, prefixed "godwit: ". */
static void notice(struct watch *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void notice(struct watch *w, const char *fmt, ...)
{
    clear_line(w);
    va_list ap;
    va_start(ap, fmt);
    fputs("godwit: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static void show_progress(struct watch *w)
{
    char line[256];
    switch (w->view) {
    case VIEW_TTY: draw_line(w); break;
    case VIEW_LOG:
        fmt_progress_line(w->m, line, sizeof line);
        printf("%s\n", line);
        fflush(stdout);
        break;
    case VIEW_JSON: emit_event(w, "progress"); break;
    }
}

/* Takes m (a reference is added) as the latest object; reports a new state. */
static void update(struct watch *w, json_t *m)
{
    json_decref(w->m);
    w->m = json_incref(m);
    const char *state = fmt_str(m, "state");
    if (!state || (w->state && !strcmp(state, w->state)))
        return;
    free(w->state);
    w->state = strdup(state);
    switch (w->view) {
    case VIEW_TTY:
        if (!fmt_migration_ended(state))
            draw_line(w);
        break;
    case VIEW_LOG:
        if (!fmt_migration_ended(state)) {  /* the summary tells the end */
            printf("state: %s\n", state);
            fflush(stdout);
        }
        break;
    case VIEW_JSON: emit_event(w, "state"); break;
    }
}

/* Fetches the migration.  Returns 0, or the exit code to stop with. */
static int poll_migration(struct watch *w)
{
    struct client_request req = { .method = "GET", .path = "/v1/migrations", .name = w->id };
    struct client_reply reply;
    int rc = client_send(w->client, &req, &reply);
    if (!rc) {
        update(w, reply.json);
    } else {
        clear_line(w);
        client_report(w->client, &reply);
        if (rc == CLI_EXIT_UNREACHABLE) {
            notice(w, "stopped waiting; migration %s goes on without godwit: "
                   "`godwit migration show %s`", w->id, w->id);
        } else {
            /* Not 1: that would promise the VM is safe on the source. */
            notice(w, "lost track of migration %s, its outcome is unknown: check where %s "
                   "runs (`godwit vm show %s`, here and on %s)", w->id, w->args->target,
                   w->args->target, w->args->to);
            rc = CLI_EXIT_UNKNOWN;
        }
    }
    client_reply_uninit(&reply);
    return rc;
}

/* Asks on the terminal; true for y or yes. */
static bool confirm_cancel(struct watch *w)
{
    char answer[32];
    clear_line(w);
    fprintf(stderr, "Cancel migration %s? [y/N] ", w->id);
    fflush(stderr);
    if (!fgets(answer, sizeof answer, stdin)) {
        clearerr(stdin);
        fputc('\n', stderr);
        return false;
    }
    if (!strchr(answer, '\n')) {        /* drop the rest of a long line */
        int c;
        while ((c = getchar()) != EOF && c != '\n')
            continue;
    }
    answer[strcspn(answer, " \t\r\n")] = '\0';
    return !strcasecmp(answer, "y") || !strcasecmp(answer, "yes");
}

static void handle_interrupt(struct watch *w)
{
    if (w->cancel_requested) {
        interrupted = 0;
        notice(w, "cancel already requested; waiting for migration %s to end", w->id);
        return;
    }
    if (w->ask) {
        bool yes = confirm_cancel(w);
        interrupted = 0;        /* a Ctrl-C at the prompt is absorbed: the answer decides */
        if (!yes) {
            notice(w, "not cancelled; still waiting (Ctrl-C to ask again)");
            return;
        }
    } else {
        interrupted = 0;
        notice(w, "interrupted: cancelling migration %s", w->id);
    }

    struct client_request req = { .method = "POST", .path = "/v1/migrations", .name = w->id,
                                  .suffix = "/cancel" };
    struct client_reply reply;
    int rc = client_send(w->client, &req, &reply);
    if (!rc) {
        w->cancel_requested = true;
        notice(w, "cancel requested; waiting for the final state");
        update(w, reply.json);
    } else if (!strcmp(reply.code, "wrong-state")) {
        notice(w, "cannot cancel: %s (%s); waiting for the end", reply.message, reply.code);
    } else {
        clear_line(w);
        client_report(w->client, &reply);
        notice(w, "still waiting for migration %s", w->id);
    }
    client_reply_uninit(&reply);
}

static int finish(struct watch *w)
{
    clear_line(w);
    if (w->view == VIEW_JSON)
        emit_event(w, "done");
    else
        fmt_summary(stdout, w->m);
    fflush(stdout);
    if (!strcmp(w->state, "completed"))
        return CLI_EXIT_OK;
    if (!strcmp(w->state, "unknown"))
        return CLI_EXIT_UNKNOWN;
    return CLI_EXIT_FAILED;     /* failed, cancelled: the VM runs on the source */
}

static int follow(struct watch *w)
{
    if (w->view == VIEW_JSON) {
        emit_event(w, "started");
    } else {
        const char *to = fmt_str(w->m, "destination");
        printf("migration %s of %s to %s started%s\n", w->id, w->args->target,
               to ? to : w->args->to, w->ask ? " (Ctrl-C to cancel)" : "");
        fflush(stdout);
    }
    w->next_progress = now_s();
    for (;;) {
        if (fmt_migration_ended(w->state))
            return finish(w);
        if (interrupted) {
            handle_interrupt(w);
            continue;           /* the cancel's reply may have ended it */
        }
        if (now_s() >= w->next_progress) {
            show_progress(w);
            w->next_progress = now_s() + (w->view == VIEW_TTY ? 0.5 : 1.0);
        }
        sleep_ms(POLL_MS);
        int rc = poll_migration(w);
        if (rc)
            return rc;
    }
}

static json_t *request_body(const struct cli_args *args)
{
    json_t *vm = json_string(args->target), *to = json_string(args->to);
    if (!vm || !to) {
        fprintf(stderr, "godwit: '%s' is not valid UTF-8\n", vm ? args->to : args->target);
        json_decref(vm);
        json_decref(to);
        return NULL;
    }
    json_t *body = json_object();
    json_object_set_new(body, "vm", vm);
    json_object_set_new(body, "to", to);
    commands_add_policy(body, &args->policy);
    if (args->verify)
        json_object_set_new(body, "verify_memory", json_true());
    if (args->cutover)
        json_object_set_new(body, "cutover", json_string(args->cutover));
    return body;
}

int migrate_run(const struct cli_args *args, const struct client *client)
{
    json_t *body = request_body(args);
    if (!body)
        return CLI_EXIT_USAGE;

    /* Installed before the request: a Ctrl-C while the destination
     * prepares must not leave a migration running unwatched. */
    if (!args->detach) {
        struct sigaction sa = { .sa_handler = on_sigint, .sa_flags = SA_RESTART };
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, NULL);
    }

    /* The reply waits for the destination to prepare, seconds maybe: say
     * so on a terminal, on a line the reply erases. */
    bool waiting_line = !args->detach && args->output == CLI_OUTPUT_TEXT && isatty(STDOUT_FILENO);
    if (waiting_line) {
        printf("preparing the migration of %s to %s...", args->target, args->to);
        fflush(stdout);
    }
    struct client_request req = { .method = "POST", .path = "/v1/migrations", .body = body,
                                  .timeout_ms = CREATE_TIMEOUT_MS };
    struct client_reply reply;
    int rc = client_send(client, &req, &reply);
    json_decref(body);
    if (waiting_line) {
        fputs("\r\033[K", stdout);
        fflush(stdout);
    }
    const char *id = rc ? NULL : fmt_str(reply.json, "id");
    if (rc) {
        client_report(client, &reply);
    } else if (!id) {
        fprintf(stderr, "godwit: the agent's reply has no migration id\n");
        rc = CLI_EXIT_UNKNOWN;
    } else if (args->detach) {
        if (args->output == CLI_OUTPUT_JSON)
            print_json(stdout, reply.json);
        else
            printf("%s\n", id);
    } else {
        struct watch w = {
            .args = args, .client = client, .ask = isatty(STDIN_FILENO),
            .view = args->output == CLI_OUTPUT_JSON ? VIEW_JSON :
                    isatty(STDOUT_FILENO) ? VIEW_TTY : VIEW_LOG,
            .id = strdup(id), .m = json_incref(reply.json),
        };
        const char *state = fmt_str(reply.json, "state");
        w.state = state ? strdup(state) : NULL;     /* no "state" event: follow() says started */
        if (w.id) {
            rc = follow(&w);
        } else {
            rc = CLI_EXIT_UNKNOWN;
        }
        json_decref(w.m);
        free(w.id);
        free(w.state);
    }
    client_reply_uninit(&reply);
    return rc;
}
