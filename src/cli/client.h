/*
 * godwit's calls to its local agent: one blocking HTTP request over the
 * agent's Unix socket (ctl/http.h), with the outcome already sorted into
 * godwit's exit codes (exitcode.h): the agent answered with success, with
 * an error object (refused or failed: exit 1), or could not be reached
 * (exit 4).  Printing the error is left to the caller, through
 * client_report(), because some errors are expected (a cancel refused as
 * wrong-state while a migration waits).
 */
#ifndef GW_CLI_CLIENT_H
#define GW_CLI_CLIENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define CLIENT_TIMEOUT_MS 30000L

struct client {
    const char *socket;         /* the agent's Unix socket; borrowed */
};

struct client_request {
    const char *method;         /* "GET", "POST", ... */
    const char *path;           /* "/v1/vms" */
    const char *name;           /* NULL, or a name or id appended as one escaped segment */
    const char *suffix;         /* NULL, or appended as is: "/start", "/console?bytes=10" */
    json_t *body;               /* borrowed, may be NULL */
    long timeout_ms;            /* 0: CLIENT_TIMEOUT_MS */
    bool text;                  /* the reply is text/plain, not a JSON object */
};

struct client_reply {
    json_t *json;               /* on success, the reply object (unless req.text); owned */
    char *text;                 /* on success, the body (NUL-terminated); owned */
    size_t text_len;
    /* On failure: the agent's error code ("wrong-state"), or "" when the
     * agent was not reached, and a sentence. */
    char code[48];
    char message[256];
    bool maybe_applied;         /* a change timed out: the agent may still apply it */
};

/* Sends req to the agent and waits for the reply.  Returns CLI_EXIT_OK,
 * CLI_EXIT_FAILED (an error reply, or a reply of the wrong shape) or
 * CLI_EXIT_UNREACHABLE.  Always call client_reply_uninit() afterwards.
 * Needs http_global_init() to have run. */
int client_send(const struct client *client, const struct client_request *req,
                struct client_reply *reply);

/* Prints a failed reply on stderr: "godwit: MESSAGE (CODE)", or
 * "godwit: cannot reach godwitd at SOCKET: MESSAGE". */
void client_report(const struct client *client, const struct client_reply *reply);

void client_reply_uninit(struct client_reply *reply);

#endif
