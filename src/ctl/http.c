/*
 * HTTP client over libcurl (see http.h).  Each call uses its own easy
 * handle, so threads never share curl state.
 */
#include "ctl/http.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define RESPONSE_MAX (16u << 20)    /* a console log tail is the largest reply */

int http_global_init(void)
{
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -EIO;
}

struct body_sink {
    char *data;
    size_t len;
    int too_long;
};

static size_t collect_body(char *ptr, size_t size, size_t nmemb, void *opaque)
{
    struct body_sink *sink = opaque;
    size_t n = size * nmemb;
    if (sink->len + n > RESPONSE_MAX) {
        sink->too_long = 1;
        return 0;               /* makes curl fail the transfer */
    }
    char *grown = realloc(sink->data, sink->len + n + 1);
    if (!grown)
        return 0;
    memcpy(grown + sink->len, ptr, n);
    sink->data = grown;
    sink->len += n;
    sink->data[sink->len] = '\0';
    return n;
}

static int transport_errno(CURLcode code)
{
    switch (code) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
        return -ECONNREFUSED;
    case CURLE_OPERATION_TIMEDOUT:
        return -ETIMEDOUT;
    default:
        return -EIO;
    }
}

int http_request(const char *method, const char *unix_socket, const char *url,
                 json_t *body, long timeout_ms, struct http_response *resp,
                 struct gw_error *err)
{
    memset(resp, 0, sizeof *resp);
    CURL *curl = curl_easy_init();
    if (!curl)
        return gw_error_set(err, -ENOMEM, "cannot create an HTTP client");

    char *payload = body ? json_dumps(body, JSON_COMPACT) : NULL;
    struct curl_slist *headers = NULL;
    struct body_sink sink = { 0 };
    char curl_msg[CURL_ERROR_SIZE] = "";

    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    if (unix_socket)
        curl_easy_setopt(curl, CURLOPT_UNIX_SOCKET_PATH, unix_socket);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms < 2000 ? timeout_ms : 2000L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);       /* threads: no SIGALRM */
    curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");       /* peers are direct, never proxied */
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, curl_msg);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &sink);
    if (payload) {
        headers = curl_slist_append(headers, "Content-Type: application/json");
        curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, payload);
    }

    CURLcode code = curl_easy_perform(curl);
    int rc = 0;
    if (code != CURLE_OK) {
        rc = gw_error_set(err, sink.too_long ? -EMSGSIZE : transport_errno(code), "%s",
                          sink.too_long ? "reply too long" :
                          curl_msg[0] ? curl_msg : curl_easy_strerror(code));
        free(sink.data);
    } else {
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &resp->status);
        resp->text = sink.data ? sink.data : strdup("");
        resp->text_len = sink.len;
        if (sink.len)
            resp->json = json_loadb(resp->text, resp->text_len, 0, NULL);
    }
    curl_slist_free_all(headers);
    free(payload);
    curl_easy_cleanup(curl);
    return rc;
}

void http_response_uninit(struct http_response *resp)
{
    free(resp->text);
    json_decref(resp->json);
    memset(resp, 0, sizeof *resp);
}

static const char *error_field(const struct http_response *resp, const char *key)
{
    json_t *error = json_object_get(resp->json, "error");
    return json_string_value(json_object_get(error, key));
}

const char *http_error_code(const struct http_response *resp)
{
    const char *code = error_field(resp, "code");
    return code ? code : "failed";
}

const char *http_error_message(const struct http_response *resp)
{
    const char *message = error_field(resp, "message");
    if (message)
        return message;
    return resp->status ? "the agent answered with an unexpected reply" : "no reply";
}
