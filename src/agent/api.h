/*
 * godwitd's HTTP API (docs/agent-api.md): libmicrohttpd serving JSON on a
 * Unix socket (the local CLI) and on TCP (peer agents), both answered by
 * the same routes.  One thread per connection, so a handler may block on
 * a VMM or a peer without stalling other clients.
 */
#ifndef GW_AGENT_API_H
#define GW_AGENT_API_H

#include "agent/agent.h"
#include "base/error.h"

struct api_server;

/* Binds both listeners and starts serving.  NULL with err on failure. */
struct api_server *api_server_start(struct agent *agent, struct gw_error *err);
/* Stops serving and unlinks the Unix socket.  NULL ok. */
void api_server_stop(struct api_server *server);

#endif
