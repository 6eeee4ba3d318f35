/*
 * godwitd: the host agent.  Reads its configuration (file, then flags),
 * starts the agent core and its HTTP API, and runs until SIGTERM or
 * SIGINT.  VMMs keep running when it stops; the next godwitd adopts them.
 */
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/api.h"
#include "agent/config.h"
#include "agent/files.h"
#include "base/log.h"
#include "ctl/http.h"

#define EXIT_USAGE 2

static const char usage[] =
    "usage: godwitd [--config FILE] [options]\n"
    "\n"
    "The godwit host agent: runs this host's VMs (one godwit-vmm each) and its\n"
    "half of every live migration, and serves the HTTP/JSON API that the\n"
    "`godwit` CLI (Unix socket) and other hosts' agents (TCP) use.\n"
    "\n"
    "  --config FILE        INI configuration (etc/godwitd.ini documents every key)\n"
    "  --name NAME          [host] name: this host's name in the cluster list\n"
    "  --state-dir DIR      [host] state_dir (default /var/lib/godwit)\n"
    "  --api-socket PATH    [host] api_socket (default /run/godwit/godwitd.sock)\n"
    "  --peer-listen IP:PORT [host] peer_listen (default: this host's cluster address)\n"
    "  --vmm PATH           [host] vmm: the godwit-vmm binary (default: next to godwitd)\n"
    "  --log-level LEVEL    [host] log_level: error, warn, info (default) or debug\n"
    "  --set SECTION.KEY=VALUE  any other key, e.g. --set migration.max_incoming=1\n"
    "                       or --set cluster.host-b=10.0.0.2:7070\n"
    "  --help               show this text\n"
    "\n"
    "Flags override the file.  Logs go to stderr, one line per event.\n"
    "Exit status: 0 after SIGTERM/SIGINT, 1 if the agent cannot start, 2 for\n"
    "bad arguments or configuration.\n";

static volatile sig_atomic_t stop_requested;

static void on_stop_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

/* Applies one --set SECTION.KEY=VALUE. */
static int apply_set(struct agent_config *config, const char *text, struct gw_error *err)
{
    char buf[512], *dot, *eq;
    if (snprintf(buf, sizeof buf, "%s", text) >= (int)sizeof buf || !(dot = strchr(buf, '.')) ||
        !(eq = strchr(dot, '=')))
        return gw_error_set(err, -EINVAL, "--set: '%s' is not SECTION.KEY=VALUE", text);
    *dot = '\0';
    *eq = '\0';
    return agent_config_set(config, buf, dot + 1, eq + 1, err);
}

/* Reads the configuration: defaults, then --config, then every flag. */
static int configure(int argc, char **argv, struct agent_config *config, struct gw_error *err)
{
    enum { OPT_CONFIG = 1, OPT_NAME, OPT_STATE, OPT_SOCKET, OPT_PEER, OPT_VMM, OPT_LOG, OPT_SET,
           OPT_HELP };
    static const struct option options[] = {
        { "config", required_argument, NULL, OPT_CONFIG },
        { "name", required_argument, NULL, OPT_NAME },
        { "state-dir", required_argument, NULL, OPT_STATE },
        { "api-socket", required_argument, NULL, OPT_SOCKET },
        { "peer-listen", required_argument, NULL, OPT_PEER },
        { "vmm", required_argument, NULL, OPT_VMM },
        { "log-level", required_argument, NULL, OPT_LOG },
        { "set", required_argument, NULL, OPT_SET },
        { "help", no_argument, NULL, OPT_HELP },
        { 0 },
    };
    static const char *const keys[] = {
        [OPT_NAME] = "name", [OPT_STATE] = "state_dir", [OPT_SOCKET] = "api_socket",
        [OPT_PEER] = "peer_listen", [OPT_VMM] = "vmm", [OPT_LOG] = "log_level",
    };
    agent_config_defaults(config);
    opterr = 0;
    int opt, rc;
    /* Pass 1: the file; pass 2: the flags over it. */
    for (int pass = 1; pass <= 2; pass++) {
        optind = 0;
        while ((opt = getopt_long(argc, argv, ":", options, NULL)) != -1) {
            if (opt == OPT_HELP) {
                fputs(usage, stdout);
                exit(0);
            }
            if (opt == ':')
                return gw_error_set(err, -EINVAL, "%s needs a value", argv[optind - 1]);
            if (opt == '?')
                return gw_error_set(err, -EINVAL, "unknown option '%s'", argv[optind - 1]);
            if (pass == 1 && opt == OPT_CONFIG)
                rc = agent_config_load(config, optarg, err);
            else if (pass == 2 && opt == OPT_SET)
                rc = apply_set(config, optarg, err);
            else if (pass == 2 && opt >= OPT_NAME && opt <= OPT_LOG)
                rc = agent_config_set(config, "host", keys[opt], optarg, err);
            else
                rc = 0;
            if (rc)
                return rc;
        }
        if (optind < argc)
            return gw_error_set(err, -EINVAL, "unexpected argument '%s'", argv[optind]);
    }
    if (!config->vmm_path[0]) {         /* default: beside this binary */
        char self[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
        if (n > 0) {
            self[n] = '\0';
            snprintf(config->vmm_path, sizeof config->vmm_path, "%s/godwit-vmm", dirname(self));
        }
    }
    return agent_config_finish(config, err);
}

static enum gw_log_level level_of(const char *name)
{
    return !strcmp(name, "error") ? GW_LOG_ERROR : !strcmp(name, "warn") ? GW_LOG_WARN
         : !strcmp(name, "debug") ? GW_LOG_DEBUG : GW_LOG_INFO;
}

int main(int argc, char **argv)
{
    struct agent_config config;
    struct gw_error err = { 0 };
    if (configure(argc, argv, &config, &err)) {
        fprintf(stderr, "godwitd: %s\n(try --help)\n", err.msg);
        return EXIT_USAGE;
    }
    gw_log_set_level(level_of(config.log_level));
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = { .sa_handler = on_stop_signal };
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    if (http_global_init()) {
        fprintf(stderr, "godwitd: cannot initialise the HTTP client\n");
        return 1;
    }

    char socket_dir[PATH_MAX];
    snprintf(socket_dir, sizeof socket_dir, "%s", config.api_socket);
    files_make_dirs(dirname(socket_dir));

    static struct agent agent;
    if (agent_init(&agent, &config, &err)) {
        fprintf(stderr, "godwitd: %s\n", err.msg);
        return 1;
    }
    struct api_server *server = api_server_start(&agent, &err);
    if (!server) {
        fprintf(stderr, "godwitd: %s\n", err.msg);
        agent_uninit(&agent);
        return 1;
    }
    LOG_INFO("agent", "godwitd %s on %s: api %s, peers %s, state %s, vmm %s", GODWIT_VERSION,
             config.name, config.api_socket, config.peer_listen, config.state_dir,
             config.vmm_path);
    while (!stop_requested)
        pause();
    LOG_INFO("agent", "stopping; VMMs keep running");
    api_server_stop(server);
    agent_uninit(&agent);
    return 0;
}
