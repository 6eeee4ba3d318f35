/*
 * godwit's requests to its agent; see client.h.  The only place that knows
 * the agent is reached as http://localhost through a Unix socket, and the
 * only place that turns HTTP outcomes into exit codes.
 */
#include "cli/client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/exitcode.h"
#include "cli/format.h"
#include "ctl/http.h"

#define URL_BASE "http://localhost"

/* URL_BASE + path + "/" + escaped name + suffix, malloc'd; NULL if out of memory. */
static char *build_url(const struct client_request *req)
{
    size_t name_max = req->name ? 3 * strlen(req->name) + 1 : 1;
    size_t size = sizeof URL_BASE + strlen(req->path) + 1 + name_max +
                  (req->suffix ? strlen(req->suffix) : 0);
    char *url = malloc(size);
    char *segment = malloc(name_max);
    if (!url || !segment || (req->name && fmt_url_segment(req->name, segment, name_max))) {
        free(url);
        free(segment);
        return NULL;
    }
    snprintf(url, size, "%s%s%s%s%s", URL_BASE, req->path, req->name ? "/" : "",
             req->name ? segment : "", req->suffix ? req->suffix : "");
    free(segment);
    return url;
}

/* Why the agent could not be reached, in the operator's terms: curl's
 * message for a Unix socket speaks of "localhost port 80". */
static void explain_unreachable(const char *socket, int rc, long timeout_ms, const char *curl_msg,
                                char *out, size_t size)
{
    struct stat st;
    if (rc == -ETIMEDOUT)
        snprintf(out, size, "no reply within %ld s", timeout_ms / 1000);
    else if (rc != -ECONNREFUSED)
        snprintf(out, size, "%s", curl_msg);
    else if (stat(socket, &st))
        snprintf(out, size, "%s (is godwitd running?)", strerror(errno));
    else if (!S_ISSOCK(st.st_mode))
        snprintf(out, size, "not a socket");
    else if (access(socket, R_OK | W_OK))
        snprintf(out, size, "%s", strerror(errno));
    else
        snprintf(out, size, "connection refused (is godwitd running?)");
}

static int fail(struct client_reply *reply, int exit_code, const char *code, const char *message)
{
    snprintf(reply->code, sizeof reply->code, "%s", code);
    snprintf(reply->message, sizeof reply->message, "%s", message);
    return exit_code;
}

int client_send(const struct client *client, const struct client_request *req,
                struct client_reply *reply)
{
    memset(reply, 0, sizeof *reply);
    char *url = build_url(req);
    if (!url)
        return fail(reply, CLI_EXIT_FAILED, "failed", "out of memory");

    struct http_response resp;
    struct gw_error err = { 0 };
    long timeout_ms = req->timeout_ms ? req->timeout_ms : CLIENT_TIMEOUT_MS;
    int rc = http_request(req->method, client->socket, url, req->body, timeout_ms, &resp, &err);
    free(url);
    if (rc) {
        http_response_uninit(&resp);
        reply->maybe_applied = rc == -ETIMEDOUT && strcmp(req->method, "GET");
        explain_unreachable(client->socket, rc, timeout_ms, err.msg, reply->message,
                            sizeof reply->message);
        return CLI_EXIT_UNREACHABLE;
    }

    int exit_code = CLI_EXIT_OK;
    if (resp.status < 200 || resp.status > 299) {
        exit_code = fail(reply, CLI_EXIT_FAILED, http_error_code(&resp), http_error_message(&resp));
    } else if (req->text) {
        reply->text = resp.text;
        reply->text_len = resp.text_len;
        resp.text = NULL;
    } else if (!json_is_object(resp.json)) {
        exit_code = fail(reply, CLI_EXIT_FAILED, "bad-reply",
                         "the agent answered with something else than a JSON object");
    } else {
        reply->json = json_incref(resp.json);
    }
    http_response_uninit(&resp);
    return exit_code;
}

void client_report(const struct client *client, const struct client_reply *reply)
{
    if (reply->code[0])
        fprintf(stderr, "godwit: %s (%s)\n", reply->message, reply->code);
    else
        fprintf(stderr, "godwit: cannot reach godwitd at %s: %s%s\n", client->socket,
                reply->message,
                reply->maybe_applied ? " (the request may still take effect)" : "");
}

void client_reply_uninit(struct client_reply *reply)
{
    json_decref(reply->json);
    free(reply->text);
    memset(reply, 0, sizeof *reply);
}
