/*
 * The API's routes (docs/agent-api.md), between HTTP (api.c) and the
 * agent's registries.  Each handler validates its input, calls one agent
 * function and turns the outcome into a reply.
 */
#ifndef GW_AGENT_API_ROUTES_H
#define GW_AGENT_API_ROUTES_H

#include <jansson.h>

#include "agent/agent.h"

struct MHD_Connection;

struct api_request {
    const char *method;
    const char *path;
    json_t *body;                   /* a JSON object, or NULL without a body; borrowed */
    struct MHD_Connection *conn;    /* for query arguments (api_query) */
};

struct api_reply {
    unsigned status;
    json_t *json;                   /* owned; the body unless text is set */
    char *text;                     /* owned; a text/plain body instead */
};

void api_route(struct agent *agent, const struct api_request *req, struct api_reply *reply);

/* Fills an error reply in the one shape, with the code's HTTP status. */
void api_reply_error(struct api_reply *reply, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The same from an agent error (errno to code, see agent.h). */
void api_reply_gw_error(struct api_reply *reply, const struct gw_error *err);
/* A query argument (?bytes=N), or NULL. */
const char *api_query(const struct api_request *req, const char *key);

#endif
