/*
 * An HTTP/1.1 client for the agent API, over a Unix socket or TCP.
 *
 * Used by the CLI (to its local agent) and by agents (to their peers).
 * A thin layer over libcurl: one blocking request per call, JSON in, JSON
 * (or text) out.  Thread-safe once http_global_init() has run (call it from
 * main() before starting threads).
 */
#ifndef GW_CTL_HTTP_H
#define GW_CTL_HTTP_H

#include <jansson.h>
#include <stddef.h>

#include "base/error.h"

struct http_response {
    long status;        /* HTTP status code */
    char *text;         /* the body, NUL-terminated, owned */
    size_t text_len;
    json_t *json;       /* the body parsed as JSON, or NULL if it is not JSON; owned */
};

/* Once per process, before any thread issues a request.  Returns 0 or -EIO. */
int http_global_init(void);

/*
 * Sends METHOD to url ("http://localhost/v1/vms", or "http://10.0.0.2:7070/v1/host"),
 * through unix_socket if it is not NULL.  body (borrowed, may be NULL) is
 * sent as JSON.  Returns 0 once any HTTP reply arrived (look at
 * resp->status), or a negative errno with a sentence in err when the
 * server could not be reached or did not answer in timeout_ms:
 * -ECONNREFUSED (nobody listens, or no socket file), -ETIMEDOUT, -EIO.
 * Always call http_response_uninit() afterwards.
 */
int http_request(const char *method, const char *unix_socket, const char *url,
                 json_t *body, long timeout_ms, struct http_response *resp,
                 struct gw_error *err);
void http_response_uninit(struct http_response *resp);

/* For an error reply ({"error": {"code", "message"}}): its code and
 * message, or generic ones if the body has another shape.  The strings
 * live as long as resp. */
const char *http_error_code(const struct http_response *resp);
const char *http_error_message(const struct http_response *resp);

#endif
