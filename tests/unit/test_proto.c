/*
 * Unit tests for the control protocol codec (ctl/proto.h): one JSON object
 * per line in, one per line out.  ctl_request_parse classifies bad input
 * as CTL_ERR_BAD_JSON or CTL_ERR_BAD_REQUEST while keeping the request id
 * for the error reply; ctl_reply_ok and ctl_reply_error produce
 * newline-terminated reply lines.  Replies are parsed back with jansson so
 * the tests do not depend on key order, except for one golden-bytes test.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "ctl/proto.h"

/* Parses the NUL-terminated line; returns the rc of ctl_request_parse. */
static int parse(const char *line, struct ctl_request *req, const char **code,
                 struct gw_error *err)
{
    *code = "unset";
    return ctl_request_parse(line, strlen(line), req, code, err);
}

/* Asserts line is rejected with code and a message containing phrase;
 * leaves req for the caller to inspect and uninit. */
static void expect_bad(const char *line, struct ctl_request *req, const char *code,
                       const char *phrase)
{
    const char *got = NULL;
    struct gw_error err = { 0 };
    assert_int_equal(parse(line, req, &got, &err), -EINVAL);
    assert_int_equal(err.code, -EINVAL);
    assert_non_null(got);
    assert_string_equal(got, code);
    if (!strstr(err.msg, phrase))
        fail_msg("message '%s' lacks '%s'", err.msg, phrase);
}

/* Checks that text is one line ending in '\n' and parses it; the caller
 * decrefs the result.  Frees text. */
static json_t *load_reply(char *text)
{
    assert_non_null(text);
    size_t len = strlen(text);
    assert_true(len > 0);
    assert_int_equal(text[len - 1], '\n');
    assert_null(memchr(text, '\n', len - 1));
    json_error_t jerr;
    json_t *reply = json_loadb(text, len - 1, 0, &jerr);
    if (!reply)
        fail_msg("reply '%s' is not JSON: %s", text, jerr.text);
    assert_true(json_is_object(reply));
    free(text);
    return reply;
}

static void test_proto_parse_valid_request(void **state)
{
    (void)state;
    struct ctl_request req;
    const char *code;
    struct gw_error err = { 0 };
    assert_int_equal(parse("{\"cmd\":\"status\",\"id\":7,\"args\":{\"verbose\":true}}", &req,
                           &code, &err), 0);
    assert_null(code);
    assert_string_equal(req.cmd, "status");
    assert_non_null(req.id);
    assert_true(json_is_integer(req.id));
    assert_int_equal(json_integer_value(req.id), 7);
    assert_true(json_is_object(req.args));
    assert_true(json_is_true(json_object_get(req.args, "verbose")));
    ctl_request_uninit(&req);
}

static void test_proto_parse_uses_len_not_nul(void **state)
{
    (void)state;
    const char line[] = "{\"cmd\":\"quit\"}\n{\"cmd\":\"other\"}";
    struct ctl_request req;
    const char *code = NULL;
    assert_int_equal(ctl_request_parse(line, strlen("{\"cmd\":\"quit\"}"), &req, &code, NULL), 0);
    assert_string_equal(req.cmd, "quit");
    ctl_request_uninit(&req);
}

static void test_proto_parse_without_id(void **state)
{
    (void)state;
    struct ctl_request req;
    const char *code;
    assert_int_equal(parse("{\"cmd\":\"status\"}", &req, &code, NULL), 0);
    assert_null(req.id);
    ctl_request_uninit(&req);
}

static void test_proto_parse_string_id(void **state)
{
    (void)state;
    struct ctl_request req;
    const char *code;
    assert_int_equal(parse("{\"id\":\"abc\",\"cmd\":\"status\"}", &req, &code, NULL), 0);
    assert_string_equal(json_string_value(req.id), "abc");
    ctl_request_uninit(&req);
}

static void test_proto_missing_args_is_empty_object(void **state)
{
    (void)state;
    struct ctl_request req;
    const char *code;
    assert_int_equal(parse("{\"cmd\":\"status\"}", &req, &code, NULL), 0);
    assert_non_null(req.args);
    assert_true(json_is_object(req.args));
    assert_int_equal(json_object_size(req.args), 0);
    ctl_request_uninit(&req);
}

static void test_proto_63_char_cmd_accepted(void **state)
{
    (void)state;
    char line[128];
    char name[CTL_CMD_MAX];
    memset(name, 'c', CTL_CMD_MAX - 1);
    name[CTL_CMD_MAX - 1] = '\0';
    snprintf(line, sizeof line, "{\"cmd\":\"%s\"}", name);
    struct ctl_request req;
    const char *code;
    assert_int_equal(parse(line, &req, &code, NULL), 0);
    assert_string_equal(req.cmd, name);
    ctl_request_uninit(&req);
}

static void test_proto_invalid_json(void **state)
{
    (void)state;
    struct ctl_request req;
    expect_bad("{\"cmd\":", &req, CTL_ERR_BAD_JSON, "invalid JSON");
    assert_null(req.id);
    ctl_request_uninit(&req);
    expect_bad("", &req, CTL_ERR_BAD_JSON, "invalid JSON");
    ctl_request_uninit(&req);
    expect_bad("{\"cmd\":\"a\"} trailing", &req, CTL_ERR_BAD_JSON, "invalid JSON");
    ctl_request_uninit(&req);
}

static void test_proto_duplicate_keys_rejected(void **state)
{
    (void)state;
    struct ctl_request req;
    expect_bad("{\"cmd\":\"a\",\"cmd\":\"b\"}", &req, CTL_ERR_BAD_JSON, "invalid JSON");
    ctl_request_uninit(&req);
}

static void test_proto_json_array_rejected(void **state)
{
    (void)state;
    struct ctl_request req;
    expect_bad("[{\"cmd\":\"status\"}]", &req, CTL_ERR_BAD_JSON, "JSON object");
    assert_null(req.id);
    ctl_request_uninit(&req);
}

static void test_proto_json_string_rejected(void **state)
{
    (void)state;
    struct ctl_request req;
    const char *code = NULL;
    assert_int_equal(parse("\"status\"", &req, &code, NULL), -EINVAL);
    assert_string_equal(code, CTL_ERR_BAD_JSON);
    ctl_request_uninit(&req);
}

static void test_proto_missing_cmd(void **state)
{
    (void)state;
    struct ctl_request req;
    expect_bad("{\"id\":3,\"args\":{}}", &req, CTL_ERR_BAD_REQUEST, "no \"cmd\"");
    ctl_request_uninit(&req);
}

static void test_proto_id_kept_when_cmd_missing(void **state)
{
    (void)state;
    struct ctl_request req;
    expect_bad("{\"id\":3}", &req, CTL_ERR_BAD_REQUEST, "no \"cmd\"");
    assert_non_null(req.id);
    assert_int_equal(json_integer_value(req.id), 3);

    json_t *reply = load_reply(ctl_reply_error(&req, CTL_ERR_BAD_REQUEST, "no cmd"));
    assert_int_equal(json_integer_value(json_object_get(reply, "id")), 3);
    json_decref(reply);
    ctl_request_uninit(&req);
}

static void test_proto_non_string_cmd(void **state)
{
    (void)state;
    struct ctl_request req;
    expect_bad("{\"cmd\":5,\"id\":1}", &req, CTL_ERR_BAD_REQUEST, "must be a string");
    assert_int_equal(json_integer_value(req.id), 1);
    ctl_request_uninit(&req);
    expect_bad("{\"cmd\":null}", &req, CTL_ERR_BAD_REQUEST, "must be a string");
    ctl_request_uninit(&req);
}

static void test_proto_empty_cmd(void **state)
{
    (void)state;
    struct ctl_request req;
    expect_bad("{\"cmd\":\"\"}", &req, CTL_ERR_BAD_REQUEST, "1 to 63 characters");
    ctl_request_uninit(&req);
}

static void test_proto_64_char_cmd_rejected(void **state)
{
    (void)state;
    char line[128];
    char name[CTL_CMD_MAX + 1];
    memset(name, 'c', CTL_CMD_MAX);
    name[CTL_CMD_MAX] = '\0';
    snprintf(line, sizeof line, "{\"cmd\":\"%s\"}", name);
    struct ctl_request req;
    expect_bad(line, &req, CTL_ERR_BAD_REQUEST, "1 to 63 characters");
    ctl_request_uninit(&req);
}

static void test_proto_cmd_with_nul_rejected(void **state)
{
    (void)state;
    /* "quit\u0000x" must not be taken for "quit". */
    struct ctl_request req;
    const char *code = NULL;
    assert_int_equal(parse("{\"cmd\":\"quit\\u0000x\"}", &req, &code, NULL), -EINVAL);
    assert_non_null(code);
    ctl_request_uninit(&req);
}

static void test_proto_args_not_object(void **state)
{
    (void)state;
    struct ctl_request req;
    expect_bad("{\"cmd\":\"status\",\"id\":9,\"args\":[1,2]}", &req, CTL_ERR_BAD_REQUEST,
               "\"args\" must be an object");
    assert_int_equal(json_integer_value(req.id), 9);
    ctl_request_uninit(&req);
    expect_bad("{\"cmd\":\"status\",\"args\":\"x\"}", &req, CTL_ERR_BAD_REQUEST,
               "\"args\" must be an object");
    ctl_request_uninit(&req);
}

static void test_proto_reply_ok_golden_bytes(void **state)
{
    (void)state;
    char *text = ctl_reply_ok(NULL, NULL);
    assert_non_null(text);
    assert_string_equal(text, "{\"ok\":true,\"result\":{}}\n");
    free(text);
}

static void test_proto_reply_ok_without_id(void **state)
{
    (void)state;
    struct ctl_request req;
    const char *code;
    assert_int_equal(parse("{\"cmd\":\"status\"}", &req, &code, NULL), 0);
    char *text = ctl_reply_ok(&req, NULL);
    assert_non_null(text);
    assert_string_equal(text, "{\"ok\":true,\"result\":{}}\n");
    free(text);
    ctl_request_uninit(&req);
}

static void test_proto_reply_ok_echoes_id(void **state)
{
    (void)state;
    struct ctl_request req;
    const char *code;
    assert_int_equal(parse("{\"cmd\":\"status\",\"id\":7}", &req, &code, NULL), 0);
    json_t *reply = load_reply(ctl_reply_ok(&req, NULL));
    assert_int_equal(json_integer_value(json_object_get(reply, "id")), 7);
    assert_true(json_is_true(json_object_get(reply, "ok")));
    assert_true(json_is_object(json_object_get(reply, "result")));
    assert_int_equal(json_object_size(json_object_get(reply, "result")), 0);
    assert_null(json_object_get(reply, "error"));
    json_decref(reply);
    ctl_request_uninit(&req);
}

static void test_proto_reply_ok_echoes_structured_id(void **state)
{
    (void)state;
    struct ctl_request req;
    const char *code;
    assert_int_equal(parse("{\"cmd\":\"status\",\"id\":{\"n\":[1,\"x\"]}}", &req, &code, NULL),
                     0);
    json_t *reply = load_reply(ctl_reply_ok(&req, NULL));
    json_t *expected = json_pack("{s:[i,s]}", "n", 1, "x");
    assert_true(json_equal(json_object_get(reply, "id"), expected));
    json_decref(expected);
    json_decref(reply);
    ctl_request_uninit(&req);
}

static void test_proto_reply_ok_carries_result(void **state)
{
    (void)state;
    json_t *reply = load_reply(ctl_reply_ok(NULL, json_pack("{s:s, s:i}", "state", "running",
                                                             "vcpus", 2)));
    json_t *result = json_object_get(reply, "result");
    assert_string_equal(json_string_value(json_object_get(result, "state")), "running");
    assert_int_equal(json_integer_value(json_object_get(result, "vcpus")), 2);
    assert_null(json_object_get(reply, "id"));
    json_decref(reply);
}

static void test_proto_reply_ok_steals_result(void **state)
{
    (void)state;
    json_t *result = json_object();
    json_incref(result);    /* our own reference, so we can watch the count */
    assert_int_equal(result->refcount, 2);
    char *text = ctl_reply_ok(NULL, result);
    assert_non_null(text);
    free(text);
    /* The reference handed to ctl_reply_ok is gone; ours remains. */
    assert_int_equal(result->refcount, 1);
    json_decref(result);
}

static void test_proto_reply_ok_does_not_consume_request_id(void **state)
{
    (void)state;
    struct ctl_request req;
    const char *code;
    assert_int_equal(parse("{\"cmd\":\"status\",\"id\":\"x\"}", &req, &code, NULL), 0);
    size_t before = req.id->refcount;
    free(ctl_reply_ok(&req, NULL));
    free(ctl_reply_error(&req, CTL_ERR_FAILED, "no"));
    assert_int_equal(req.id->refcount, before);
    assert_string_equal(json_string_value(req.id), "x");
    ctl_request_uninit(&req);
}

static void test_proto_reply_error_fields(void **state)
{
    (void)state;
    struct ctl_request req;
    const char *code;
    assert_int_equal(parse("{\"cmd\":\"frob\",\"id\":7}", &req, &code, NULL), 0);
    json_t *reply = load_reply(ctl_reply_error(&req, CTL_ERR_UNKNOWN_COMMAND,
                                               "unknown command \"frob\""));
    assert_int_equal(json_integer_value(json_object_get(reply, "id")), 7);
    assert_true(json_is_false(json_object_get(reply, "ok")));
    assert_null(json_object_get(reply, "result"));
    json_t *error = json_object_get(reply, "error");
    assert_true(json_is_object(error));
    assert_string_equal(json_string_value(json_object_get(error, "code")),
                        CTL_ERR_UNKNOWN_COMMAND);
    assert_string_equal(json_string_value(json_object_get(error, "message")),
                        "unknown command \"frob\"");
    json_decref(reply);
    ctl_request_uninit(&req);
}

static void test_proto_reply_error_without_request(void **state)
{
    (void)state;
    json_t *reply = load_reply(ctl_reply_error(NULL, CTL_ERR_BAD_REQUEST, "line too long"));
    assert_null(json_object_get(reply, "id"));
    assert_true(json_is_false(json_object_get(reply, "ok")));
    json_t *error = json_object_get(reply, "error");
    assert_string_equal(json_string_value(json_object_get(error, "code")), CTL_ERR_BAD_REQUEST);
    assert_string_equal(json_string_value(json_object_get(error, "message")), "line too long");
    json_decref(reply);
}

static void test_proto_reply_error_escapes_message(void **state)
{
    (void)state;
    json_t *reply = load_reply(ctl_reply_error(NULL, CTL_ERR_FAILED, "a\nb \"q\" \\"));
    json_t *error = json_object_get(reply, "error");
    assert_string_equal(json_string_value(json_object_get(error, "message")), "a\nb \"q\" \\");
    json_decref(reply);
}

static void test_proto_reply_error_keeps_code_for_non_utf8_message(void **state)
{
    (void)state;
    /* Messages are free text, often cut at a fixed size by vsnprintf, which
     * can split a UTF-8 sequence; the reply must still say what failed. */
    json_t *reply = load_reply(ctl_reply_error(NULL, CTL_ERR_FAILED, "cut \xc3"));
    json_t *error = json_object_get(reply, "error");
    bool ok_is_false = json_is_false(json_object_get(reply, "ok"));
    const char *code = json_string_value(json_object_get(error, "code"));
    bool code_matches = code && !strcmp(code, CTL_ERR_FAILED);
    bool has_message = json_is_string(json_object_get(error, "message"));
    json_decref(reply);     /* before asserting, so a failure does not leak */
    assert_true(ok_is_false);
    assert_true(code_matches);
    assert_true(has_message);
}

static void test_proto_parse_error_reply_echoes_id(void **state)
{
    (void)state;
    struct ctl_request req;
    const char *code = NULL;
    struct gw_error err = { 0 };
    assert_int_equal(parse("{\"id\":42,\"cmd\":\"\"}", &req, &code, &err), -EINVAL);
    json_t *reply = load_reply(ctl_reply_error(&req, code, err.msg));
    assert_int_equal(json_integer_value(json_object_get(reply, "id")), 42);
    json_t *error = json_object_get(reply, "error");
    assert_string_equal(json_string_value(json_object_get(error, "code")), CTL_ERR_BAD_REQUEST);
    assert_string_equal(json_string_value(json_object_get(error, "message")), err.msg);
    json_decref(reply);
    ctl_request_uninit(&req);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_proto_parse_valid_request),
        cmocka_unit_test(test_proto_parse_uses_len_not_nul),
        cmocka_unit_test(test_proto_parse_without_id),
        cmocka_unit_test(test_proto_parse_string_id),
        cmocka_unit_test(test_proto_missing_args_is_empty_object),
        cmocka_unit_test(test_proto_63_char_cmd_accepted),
        cmocka_unit_test(test_proto_invalid_json),
        cmocka_unit_test(test_proto_duplicate_keys_rejected),
        cmocka_unit_test(test_proto_json_array_rejected),
        cmocka_unit_test(test_proto_json_string_rejected),
        cmocka_unit_test(test_proto_missing_cmd),
        cmocka_unit_test(test_proto_id_kept_when_cmd_missing),
        cmocka_unit_test(test_proto_non_string_cmd),
        cmocka_unit_test(test_proto_empty_cmd),
        cmocka_unit_test(test_proto_64_char_cmd_rejected),
        cmocka_unit_test(test_proto_cmd_with_nul_rejected),
        cmocka_unit_test(test_proto_args_not_object),
        cmocka_unit_test(test_proto_reply_ok_golden_bytes),
        cmocka_unit_test(test_proto_reply_ok_without_id),
        cmocka_unit_test(test_proto_reply_ok_echoes_id),
        cmocka_unit_test(test_proto_reply_ok_echoes_structured_id),
        cmocka_unit_test(test_proto_reply_ok_carries_result),
        cmocka_unit_test(test_proto_reply_ok_steals_result),
        cmocka_unit_test(test_proto_reply_ok_does_not_consume_request_id),
        cmocka_unit_test(test_proto_reply_error_fields),
        cmocka_unit_test(test_proto_reply_error_without_request),
        cmocka_unit_test(test_proto_reply_error_escapes_message),
        cmocka_unit_test(test_proto_reply_error_keeps_code_for_non_utf8_message),
        cmocka_unit_test(test_proto_parse_error_reply_echoes_id),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
