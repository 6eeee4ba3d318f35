/* godwitd configuration: defaults, the shipped INI file, overrides, errors. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/config.h"

static char *write_temp(const char *text)
{
    static char path[64];
    snprintf(path, sizeof path, "/tmp/gw-config-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

static int load_text(struct agent_config *config, const char *text, struct gw_error *err)
{
    char *path = write_temp(text);
    agent_config_defaults(config);
    int rc = agent_config_load(config, path, err);
    unlink(path);
    return rc;
}

static void test_defaults(void **state)
{
    (void)state;
    struct agent_config c;
    agent_config_defaults(&c);
    assert_string_equal(c.state_dir, "/var/lib/godwit");
    assert_string_equal(c.api_socket, "/run/godwit/godwitd.sock");
    assert_int_equal(c.port_min, 49152);
    assert_int_equal(c.port_max, 49215);
    assert_int_equal(c.max_incoming, 2);
    assert_int_equal(c.max_outgoing, 2);
    assert_int_equal(c.nhosts, 0);
}

static void test_shipped_file(void **state)
{
    (void)state;
    struct agent_config c;
    struct gw_error err = { 0 };
    agent_config_defaults(&c);
    assert_int_equal(agent_config_load(&c, SOURCE_ROOT "/etc/godwitd.ini", &err), 0);
    assert_int_equal(agent_config_finish(&c, &err), 0);
    assert_string_equal(c.name, "host-a");
    assert_int_equal(c.nhosts, 2);
    assert_string_equal(c.hosts[1].name, "host-b");
    assert_string_equal(c.hosts[1].address, "10.0.0.2:7070");
    assert_string_equal(c.peer_listen, "10.0.0.1:7070");    /* from its own cluster entry */
}

static void test_overrides(void **state)
{
    (void)state;
    struct agent_config c;
    struct gw_error err = { 0 };
    assert_int_equal(load_text(&c, "[host]\nname = a\n[cluster]\na = 127.0.0.1:1\n", &err), 0);
    assert_int_equal(agent_config_set(&c, "host", "name", "b", &err), 0);
    assert_int_equal(agent_config_set(&c, "migration", "ports", "5000-5001", &err), 0);
    assert_int_equal(agent_config_set(&c, "migration", "max_outgoing", "0", &err), 0);
    assert_int_equal(agent_config_set(&c, "cluster", "b", "127.0.0.2:7", &err), 0);
    assert_int_equal(agent_config_set(&c, "cluster", "a", "127.0.0.3:9", &err), 0);
    assert_int_equal(agent_config_finish(&c, &err), 0);
    assert_string_equal(c.name, "b");
    assert_int_equal(c.port_min, 5000);
    assert_int_equal(c.port_max, 5001);
    assert_int_equal(c.max_outgoing, 0);
    assert_int_equal(c.nhosts, 2);                          /* "a" replaced, not added */
    assert_string_equal(agent_config_host(&c, "a")->address, "127.0.0.3:9");
    assert_string_equal(c.peer_listen, "127.0.0.2:7");
}

static void expect_load_error(const char *text, const char *needle)
{
    struct agent_config c;
    struct gw_error err = { 0 };
    assert_int_equal(load_text(&c, text, &err), -EINVAL);
    if (!strstr(err.msg, needle))
        fail_msg("'%s' does not mention '%s'", err.msg, needle);
}

static void test_bad_files(void **state)
{
    (void)state;
    expect_load_error("[host]\nname = Host A\n", ":2: host.name");
    expect_load_error("[host]\nnope = 1\n", "unknown key host.nope");
    expect_load_error("[nowhere]\nx = 1\n", "unknown section [nowhere]");
    expect_load_error("[migration]\nports = 10-5\n", "migration.ports");
    expect_load_error("[migration]\nports = 70000-70001\n", "migration.ports");
    expect_load_error("[migration]\nmax_incoming = -1\n", "max_incoming");
    expect_load_error("[cluster]\nhost-b = 10.0.0.2\n", "not IP:PORT");
    expect_load_error("[cluster]\nhost-b = 10.0.0.2:0\n", "not IP:PORT");
    expect_load_error("[host]\nlog_level = loud\n", "log_level");
    expect_load_error("just words\n", ":1:");
    expect_load_error("[network]\nbridge = a/b\n", "network.bridge");
    expect_load_error("[network]\nbridge = sixteen-chars-xx\n", "network.bridge");
    expect_load_error("[network]\nvni = 0\n", "network.vni");
    expect_load_error("[network]\nvni = 16777216\n", "network.vni");
    expect_load_error("[network]\nvtep = 10.0.0\n", "network.vtep");
    struct agent_config c;
    struct gw_error err = { 0 };
    agent_config_defaults(&c);
    assert_int_equal(agent_config_load(&c, "/nonexistent/godwitd.ini", &err), -ENOENT);
}

static void test_network(void **state)
{
    (void)state;
    struct agent_config c;
    struct gw_error err = { 0 };
    assert_int_equal(load_text(&c, "[host]\nname = a\n[cluster]\na = 10.1.0.7:7070\n"
                               "[network]\nbridge = br-x\nvni = 99\n", &err), 0);
    assert_int_equal(agent_config_finish(&c, &err), 0);
    assert_string_equal(c.bridge, "br-x");
    assert_string_equal(c.vxlan, "gwvx0");
    assert_int_equal(c.vni, 99);
    assert_int_equal(c.vxlan_port, 4789);
    assert_string_equal(c.vtep, "10.1.0.7");        /* from its cluster entry */
}

static void test_finish_checks(void **state)
{
    (void)state;
    struct agent_config c;
    struct gw_error err = { 0 };
    agent_config_defaults(&c);
    assert_int_equal(agent_config_finish(&c, &err), -EINVAL);       /* no name */
    assert_non_null(strstr(err.msg, "no name"));
    assert_int_equal(agent_config_set(&c, "host", "name", "a", &err), 0);
    assert_int_equal(agent_config_finish(&c, &err), -EINVAL);       /* no address */
    assert_non_null(strstr(err.msg, "peer_listen"));
    assert_int_equal(agent_config_set(&c, "host", "peer_listen", "0.0.0.0:7070", &err), 0);
    assert_int_equal(agent_config_set(&c, "host", "state_dir",
                                      "/a/very/long/state/directory/that/leaves/no/room/for/sockets",
                                      &err), 0);
    assert_int_equal(agent_config_finish(&c, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "state_dir"));
    assert_int_equal(agent_config_set(&c, "host", "state_dir", "relative", &err), 0);
    assert_int_equal(agent_config_finish(&c, &err), -EINVAL);
    assert_int_equal(agent_config_set(&c, "host", "state_dir", "/s", &err), 0);
    assert_int_equal(agent_config_finish(&c, &err), 0);
}

static void test_names_and_addresses(void **state)
{
    (void)state;
    assert_true(agent_name_valid("host-b"));
    assert_true(agent_name_valid("a"));
    assert_true(agent_name_valid("abcdefghijabcdefghijabcdefghij12"));  /* 32 */
    assert_false(agent_name_valid("abcdefghijabcdefghijabcdefghij123"));
    assert_false(agent_name_valid(""));
    assert_false(agent_name_valid("1host"));
    assert_false(agent_name_valid("Host"));
    assert_false(agent_name_valid("a/b"));
    assert_false(agent_name_valid(".."));
    char host[AGENT_ADDR_MAX];
    uint16_t port;
    assert_int_equal(agent_split_address("10.0.0.1:7070", host, &port), 0);
    assert_string_equal(host, "10.0.0.1");
    assert_int_equal(port, 7070);
    assert_int_equal(agent_split_address("10.0.0.1", host, &port), -EINVAL);
    assert_int_equal(agent_split_address(":80", host, &port), -EINVAL);
    assert_int_equal(agent_split_address("h:65536", host, &port), -EINVAL);
    assert_int_equal(agent_split_address("h:8x", host, &port), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_shipped_file),
        cmocka_unit_test(test_overrides),
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_finish_checks),
        cmocka_unit_test(test_network),
        cmocka_unit_test(test_names_and_addresses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
