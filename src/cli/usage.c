/*
 * godwit's help texts, one per command and per group (`godwit vm --help`),
 * kept apart from the parser so args.c reads as logic.  The exit codes
 * repeated here are defined in exitcode.h.
 */
#include "cli/args.h"

#include <stddef.h>
#include <string.h>

const char cli_usage_top[] =
    "usage: godwit [--socket PATH] [-o text|json] COMMAND [ARGS...]\n"
    "\n"
    "Talks to godwitd, the godwit agent of this host: defines and runs VMs, and\n"
    "migrates them live to other hosts of the cluster.\n"
    "\n"
    "Commands:\n"
    "  vm create NAME --kernel IMAGE [--memory SIZE] [--vcpus N] [--cmdline STRING]\n"
    "          [--mac MAC --ip IP/LEN [--tap NAME]]\n"
    "                          define a VM here (stopped)\n"
    "  vm start NAME           boot a stopped VM\n"
    "  vm stop NAME            stop a running VM\n"
    "  vm delete NAME          forget a stopped VM\n"
    "  vm show NAME            one VM in detail\n"
    "  vm list                 the VMs of this host\n"
    "  vm console NAME [--bytes N]\n"
    "                          the end of a VM's console log, as-is\n"
    "  host list               the hosts of the cluster, and which answer\n"
    "  port list               the port bindings of the cluster's VMs\n"
    "  migrate VM --to HOST [--max-downtime MS] [--bandwidth RATE] [--timeout S]\n"
    "          [--auto-converge on|off] [--verify] [--detach] [--cutover early|late]\n"
    "                          migrate a running VM live to HOST, and wait for the end\n"
    "  migration list          the migrations this agent knows, newest first\n"
    "  migration show ID       one migration in detail\n"
    "  migration cancel ID     cancel a migration (until its switchover begins)\n"
    "  migration force-complete ID\n"
    "                          switch over now, whatever the pause (a guest that\n"
    "                          will not converge)\n"
    "  migration set ID [--max-downtime MS] [--bandwidth RATE] [--timeout S]\n"
    "          [--auto-converge on|off]\n"
    "                          change the policy of a running migration\n"
    "  migration resolve ID --keep source|destination\n"
    "                          settle a migration whose outcome is unknown\n"
    "\n"
    "Options (also accepted after the command):\n"
    "  --socket PATH        the agent's Unix socket (default: $GODWIT_SOCKET if set,\n"
    "                       else " CLI_DEFAULT_SOCKET ")\n"
    "  -o, --output FORMAT  text (default), or json: the agent's replies as compact\n"
    "                       JSON, one object per line\n"
    "  -h, --help           show this text; `godwit COMMAND --help` for a command\n"
    "\n"
    "Exit status:\n"
    "  0  done\n"
    "  1  failed: the agent refused the request or the operation failed (a refused\n"
    "     request changes nothing); for migrate: the migration failed or was\n"
    "     cancelled, and the VM still runs on the source\n"
    "  2  usage error: bad arguments or unknown command; nothing was sent\n"
    "  3  migrate only: the outcome is unknown and needs the operator (state\n"
    "     'unknown': follow its hint, then `godwit migration resolve`)\n"
    "  4  godwitd cannot be reached (a request that changes something may still\n"
    "     take effect if it timed out)\n";

/* The end of every command's text but migrate's. */
#define FOOTER \
    "\n" \
    "Options --socket PATH and -o text|json as for godwit (see godwit --help).\n" \
    "Exit status: 0 done, 1 the agent refused or the operation failed,\n" \
    "2 usage error, 4 godwitd cannot be reached.\n"

static const char usage_vm_create[] =
    "usage: godwit vm create NAME --kernel IMAGE [--memory SIZE] [--vcpus N]\n"
    "                        [--cmdline STRING] [--mac MAC --ip IP/LEN [--tap NAME]]\n"
    "\n"
    "Defines a VM on this host, stopped; `godwit vm start NAME` boots it.\n"
    "\n"
    "  NAME              1 to 32 of a-z, 0-9 and '-', starting with a letter\n"
    "  --kernel IMAGE    the guest's ELF image; made absolute if it exists here,\n"
    "                    else sent as given (the agent reads it)\n"
    "  --memory SIZE     guest RAM, e.g. 512M or 1G (default: the agent's, 256M)\n"
    "  --vcpus N         number of vCPUs (default 1)\n"
    "  --cmdline STRING  the guest's command line (default empty)\n"
    "  --mac MAC         give the VM a network interface (virtio-net over a TAP on\n"
    "                    the host bridge) with this MAC, unique in the cluster\n"
    "  --ip IP/LEN       its IPv4 address, unique in the cluster (the guest\n"
    "                    configures it itself, e.g. echo's ip=)\n"
    "  --tap NAME        the TAP's name on each host (default gw-NAME, cut to 15)\n"
    FOOTER;

static const char usage_vm_start[] =
    "usage: godwit vm start NAME\n"
    "\n"
    "Boots a stopped VM of this host.\n"
    FOOTER;

static const char usage_vm_stop[] =
    "usage: godwit vm stop NAME\n"
    "\n"
    "Stops a running VM: asks its VMM to quit, and kills it after 5 seconds.\n"
    FOOTER;

static const char usage_vm_delete[] =
    "usage: godwit vm delete NAME\n"
    "\n"
    "Forgets a stopped VM (a running one must be stopped first).\n"
    FOOTER;

static const char usage_vm_show[] =
    "usage: godwit vm show NAME\n"
    "\n"
    "Shows one VM of this host: its state, its VMM's, its resources, and the\n"
    "migration that involves it, if any.\n"
    FOOTER;

static const char usage_vm_list[] =
    "usage: godwit vm list\n"
    "\n"
    "Lists the VMs of this host: NAME STATE VMM-STATE MEMORY VCPUS MIGRATION.\n"
    FOOTER;

static const char usage_vm_console[] =
    "usage: godwit vm console NAME [--bytes N]\n"
    "\n"
    "Prints the end of a VM's console log as it is (also with -o json).\n"
    "\n"
    "  --bytes N   how much of the end, e.g. 4096 or 1M (default: the agent's, 64K)\n"
    FOOTER;

static const char usage_host_list[] =
    "usage: godwit host list\n"
    "\n"
    "Lists the hosts of the cluster: NAME ADDRESS STATE, where STATE is 'self'\n"
    "(this host), 'up', or 'down (REASON)' if its agent did not answer.\n"
    FOOTER;

static const char usage_port_list[] =
    "usage: godwit port list\n"
    "\n"
    "Lists the port bindings this agent knows (every VM with a NIC in the\n"
    "cluster): NAME MAC IP CHASSIS ADDITIONAL STATE.  CHASSIS is the host the\n"
    "port is bound to; during a migration ADDITIONAL is the other host, and\n"
    "traffic to the MAC goes to both.\n"
    FOOTER;

static const char usage_migrate[] =
    "usage: godwit migrate VM --to HOST [--max-downtime MS] [--bandwidth RATE]\n"
    "                      [--timeout S] [--auto-converge on|off] [--verify]\n"
    "                      [--detach] [--cutover early|late]\n"
    "\n"
    "Migrates a running VM of this host to HOST while its guest keeps running,\n"
    "and waits for the end, showing progress (on a terminal, one line redrawn;\n"
    "otherwise a line a second and one per change of state), then a summary.\n"
    "With -o json, one object per line instead: {\"event\": \"started\",\n"
    "\"progress\" (once a second), \"state\" (on each change) or \"done\",\n"
    "\"migration\": {...}}.\n"
    "\n"
    "Ctrl-C asks whether to cancel the migration (when stdin is not a terminal,\n"
    "it cancels without asking); either way godwit waits for the final state.\n"
    "Once the switchover has begun, the migration can no longer be cancelled.\n"
    "\n"
    "  --to HOST           the destination, one of `godwit host list`\n"
    "  --max-downtime MS   the longest pause of the guest to aim for at switchover\n"
    "  --bandwidth RATE    cap in bytes/s, with an optional K, M or G suffix\n"
    "                      (KiB, MiB, GiB); 0 = unlimited\n"
    "  --timeout S         time limit of the migration, in seconds\n"
    "  --auto-converge on|off\n"
    "                      on: throttle the guest's vCPUs (20%, then 10 points more,\n"
    "                      up to 99%) while it dirties memory faster than the link\n"
    "                      carries it; off (default)\n"
    "  --verify            have the guest's memory verified on the destination\n"
    "  --cutover MODE      early (default): the destination's port is wired and\n"
    "                      proven before the switchover, traffic reaches both hosts;\n"
    "                      late: the legacy order, wired only after the guest resumes\n"
    "  --detach            do not wait: print the migration's id (with -o json, the\n"
    "                      migration) and exit 0; follow it with\n"
    "                      `godwit migration show ID`\n"
    "Without --max-downtime, --bandwidth or --timeout, the agent's defaults apply.\n"
    "A migration that will not converge can be made to finish with\n"
    "`godwit migration force-complete ID`.\n"
    "\n"
    "Options --socket PATH and -o text|json as for godwit (see godwit --help).\n"
    "\n"
    "Exit status:\n"
    "  0  completed: the VM runs on HOST (or, with --detach, the migration started)\n"
    "  1  refused (nothing happened), failed or cancelled: the VM still runs here\n"
    "  2  usage error\n"
    "  3  the outcome is unknown: the VM is paused here and it may or may not run\n"
    "     on HOST; follow the hint printed, then\n"
    "     `godwit migration resolve ID --keep source|destination`.  Also when the\n"
    "     agent stopped knowing the migration while godwit waited\n"
    "  4  godwitd cannot be reached; if that happens while waiting, the migration\n"
    "     goes on without godwit: `godwit migration show ID`\n";

static const char usage_migration_list[] =
    "usage: godwit migration list\n"
    "\n"
    "Lists the migrations this agent knows, newest first, as source or as\n"
    "destination.\n"
    FOOTER;

static const char usage_migration_show[] =
    "usage: godwit migration show ID\n"
    "\n"
    "Shows one migration: its state, policy, progress and result.  For a\n"
    "migration in state 'unknown', its hint comes first: how to find out where\n"
    "the VM runs before `godwit migration resolve`.  (Exits 0 whatever the\n"
    "migration's state.)\n"
    FOOTER;

static const char usage_migration_cancel[] =
    "usage: godwit migration cancel ID\n"
    "\n"
    "Asks the agent to cancel a migration, and returns at once; the VM keeps\n"
    "running here.  The cancel completes asynchronously: `godwit migration show\n"
    "ID` until the state is 'cancelled'.  Refused (wrong-state) once the\n"
    "switchover has begun or the migration has ended.\n"
    FOOTER;

static const char usage_migration_force_complete[] =
    "usage: godwit migration force-complete ID\n"
    "\n"
    "For a migration that will not converge (the guest dirties memory faster\n"
    "than the link carries it): the source sends the rest of its current pass\n"
    "without the bandwidth cap, then pauses the VM and switches over, however\n"
    "long the last dirty pages take.  The pause can be far above\n"
    "--max-downtime; `godwit migration show ID` reports it.  Refused\n"
    "(wrong-state) unless the migration is transferring.\n"
    FOOTER;

static const char usage_migration_set[] =
    "usage: godwit migration set ID [--max-downtime MS] [--bandwidth RATE]\n"
    "                            [--timeout S] [--auto-converge on|off]\n"
    "\n"
    "Changes the policy of a running migration; at least one option.\n"
    "\n"
    "  --max-downtime MS   the longest pause of the guest to aim for at switchover\n"
    "  --bandwidth RATE    cap in bytes/s, with an optional K, M or G suffix\n"
    "                      (KiB, MiB, GiB); 0 = unlimited\n"
    "  --timeout S         time limit of the migration, in seconds\n"
    "  --auto-converge on|off\n"
    "                      throttle the guest's vCPUs while it dirties memory\n"
    "                      faster than the link carries it\n"
    FOOTER;

static const char usage_migration_resolve[] =
    "usage: godwit migration resolve ID --keep source|destination\n"
    "\n"
    "Settles a migration in state 'unknown' (see its hint in `godwit migration\n"
    "show ID`):\n"
    "  --keep destination  the destination runs the VM: the paused copy here is\n"
    "                      discarded (the migration becomes 'completed')\n"
    "  --keep source       it does not: the destination's copy is removed if its\n"
    "                      agent answers, and the copy here resumes ('failed')\n"
    FOOTER;

static const char usage_group_vm[] =
    "usage: godwit vm COMMAND [ARGS...]\n"
    "\n"
    "  vm create NAME --kernel IMAGE [--memory SIZE] [--vcpus N] [--cmdline STRING]\n"
    "  vm start NAME\n"
    "  vm stop NAME\n"
    "  vm delete NAME\n"
    "  vm show NAME\n"
    "  vm list\n"
    "  vm console NAME [--bytes N]\n"
    "\n"
    "`godwit vm COMMAND --help` describes one; `godwit --help`, the options and\n"
    "exit status.\n";

static const char usage_group_host[] =
    "usage: godwit host list\n"
    "\n"
    "`godwit host list --help` describes it; `godwit --help`, the options and exit\n"
    "status.\n";

static const char usage_group_migration[] =
    "usage: godwit migration COMMAND [ARGS...]\n"
    "\n"
    "  migration list\n"
    "  migration show ID\n"
    "  migration cancel ID\n"
    "  migration force-complete ID\n"
    "  migration set ID [--max-downtime MS] [--bandwidth RATE] [--timeout S]\n"
    "  migration resolve ID --keep source|destination\n"
    "\n"
    "To start one: godwit migrate VM --to HOST (see `godwit migrate --help`).\n"
    "`godwit migration COMMAND --help` describes one; `godwit --help`, the options\n"
    "and exit status.\n";

const char *cli_usage_command(enum cli_command command)
{
    switch (command) {
    case CLI_VM_CREATE: return usage_vm_create;
    case CLI_VM_START: return usage_vm_start;
    case CLI_VM_STOP: return usage_vm_stop;
    case CLI_VM_DELETE: return usage_vm_delete;
    case CLI_VM_SHOW: return usage_vm_show;
    case CLI_VM_LIST: return usage_vm_list;
    case CLI_VM_CONSOLE: return usage_vm_console;
    case CLI_HOST_LIST: return usage_host_list;
    case CLI_PORT_LIST: return usage_port_list;
    case CLI_MIGRATE: return usage_migrate;
    case CLI_MIGRATION_LIST: return usage_migration_list;
    case CLI_MIGRATION_SHOW: return usage_migration_show;
    case CLI_MIGRATION_CANCEL: return usage_migration_cancel;
    case CLI_MIGRATION_FORCE_COMPLETE: return usage_migration_force_complete;
    case CLI_MIGRATION_SET: return usage_migration_set;
    case CLI_MIGRATION_RESOLVE: return usage_migration_resolve;
    case CLI_NONE: break;
    }
    return NULL;
}

const char *cli_usage_group(const char *group)
{
    if (!strcmp(group, "vm"))
        return usage_group_vm;
    if (!strcmp(group, "host"))
        return usage_group_host;
    if (!strcmp(group, "port"))
        return usage_port_list;
    if (!strcmp(group, "migration"))
        return usage_group_migration;
    return NULL;
}
