/* JSON-lines control protocol codec; see proto.h. */
#include "ctl/proto.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int ctl_request_parse(const char *line, size_t len, struct ctl_request *req,
                      const char **error_code, struct gw_error *err)
{
    memset(req, 0, sizeof *req);

    json_error_t jerr;
    req->root = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!req->root) {
        *error_code = CTL_ERR_BAD_JSON;
        return gw_error_set(err, -EINVAL, "invalid JSON at column %d: %s", jerr.column, jerr.text);
    }
    if (!json_is_object(req->root)) {
        *error_code = CTL_ERR_BAD_JSON;
        return gw_error_set(err, -EINVAL, "a request must be a JSON object");
    }
    req->id = json_object_get(req->root, "id");

    json_t *cmd = json_object_get(req->root, "cmd");
    *error_code = CTL_ERR_BAD_REQUEST;
    if (!cmd)
        return gw_error_set(err, -EINVAL, "the request has no \"cmd\"");
    if (!json_is_string(cmd))
        return gw_error_set(err, -EINVAL, "\"cmd\" must be a string");
    const char *name = json_string_value(cmd);
    if (strlen(name) == 0 || strlen(name) >= CTL_CMD_MAX)
        return gw_error_set(err, -EINVAL, "\"cmd\" must be 1 to %d characters", CTL_CMD_MAX - 1);
    strcpy(req->cmd, name);

    req->args = json_object_get(req->root, "args");
    if (req->args && !json_is_object(req->args))
        return gw_error_set(err, -EINVAL, "\"args\" must be an object");
    if (!req->args) {
        req->args = json_object();
        json_object_set_new(req->root, "args", req->args);
    }
    *error_code = NULL;
    return 0;
}

void ctl_request_uninit(struct ctl_request *req)
{
    json_decref(req->root);
    memset(req, 0, sizeof *req);
}

static char *finish(const struct ctl_request *req, json_t *reply)
{
    if (req && req->id)
        json_object_set(reply, "id", req->id);
    char *text = json_dumps(reply, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(reply);
    if (!text)
        return NULL;
    size_t len = strlen(text);
    char *line = realloc(text, len + 2);
    if (!line) {
        free(text);
        return NULL;
    }
    line[len] = '\n';
    line[len + 1] = '\0';
    return line;
}

char *ctl_reply_ok(const struct ctl_request *req, json_t *result)
{
    json_t *reply = json_object();
    json_object_set_new(reply, "ok", json_true());
    json_object_set_new(reply, "result", result ? result : json_object());
    return finish(req, reply);
}

/* A JSON string of message; bytes that are not valid UTF-8 (a truncated
 * multi-byte character, a raw file name) become '?' rather than losing
 * the whole error. */
static json_t *message_string(const char *message)
{
    json_t *str = json_string(message);
    if (str)
        return str;
    char *clean = strdup(message);
    if (!clean)
        return json_string("(message lost: out of memory)");
    for (char *p = clean; *p; p++)
        if ((unsigned char)*p >= 0x80)
            *p = '?';
    str = json_string(clean);
    free(clean);
    return str;
}

char *ctl_reply_error(const struct ctl_request *req, const char *code, const char *message)
{
    json_t *error = json_object();
    json_object_set_new(error, "code", json_string(code));
    json_object_set_new(error, "message", message_string(message));
    json_t *reply = json_object();
    json_object_set_new(reply, "ok", json_false());
    json_object_set_new(reply, "error", error);
    return finish(req, reply);
}
