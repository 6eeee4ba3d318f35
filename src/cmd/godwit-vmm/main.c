/*
 * godwit-vmm: one process, one VM.  Wires the argument parser, the VM
 * (vmm/vm.h), the control server (ctl/server.h) and the migration engine
 * (mig/) together, then waits on the control socket, the migrations and
 * the VM's "stopped" event until the VM ends.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "args.h"
#include "base/log.h"
#include "control.h"
#include "ctl/server.h"
#include "mig/incoming.h"
#include "vmm/vm.h"

#define EXIT_SETUP_FAILED 1
#define EXIT_USAGE 2

static int open_console(const char *path)
{
    if (!path)
        return STDOUT_FILENO;
    return open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
}

/* An outgoing migration finished: if the guest now runs on the
 * destination, this VMM's work is done. */
static void outgoing_done(struct vmm_control *control)
{
    struct mig_stats st;
    uint64_t count;
    ssize_t ignored = read(mig_out_done_fd(control->migration), &count, sizeof count);
    (void)ignored;
    mig_out_query(control->migration, &st);
    if (st.state == MIG_COMPLETED && !control->stay_after_migration)
        vm_stop(control->vm, 0);
}

/* An incoming migration finished: the guest runs, or we give up. */
static void incoming_done(struct vm *vm, struct mig_in **incoming)
{
    struct gw_error err = { 0 };
    if (mig_in_result(*incoming, &err)) {
        fprintf(stderr, "godwit-vmm: incoming migration failed: %s\n", err.msg);
        vm_stop(vm, EXIT_SETUP_FAILED);
    }
    mig_in_destroy(*incoming);
    *incoming = NULL;
}

/* Serves the control socket and the migrations until the VM stops. */
static void run_until_stopped(struct vm *vm, struct ctl_server *server,
                              struct vmm_control *control, struct mig_in **incoming)
{
    for (;;) {
        struct pollfd fds[4] = {
            { .fd = vm_stopped_fd(vm), .events = POLLIN },
            { .fd = server ? ctl_server_fd(server) : -1, .events = POLLIN },
            { .fd = control->migration ? mig_out_done_fd(control->migration) : -1,
              .events = POLLIN },
            { .fd = *incoming ? mig_in_done_fd(*incoming) : -1, .events = POLLIN },
        };
        if (poll(fds, 4, -1) < 0 && errno != EINTR)
            return;
        if (fds[0].revents)
            return;
        if (fds[1].revents)
            ctl_server_dispatch(server);
        if (fds[2].revents && control->migration)
            outgoing_done(control);
        if (fds[3].revents)
            incoming_done(vm, incoming);
    }
}

int main(int argc, char **argv)
{
    struct vmm_args args;
    struct gw_error err = { 0 };
    if (vmm_args_parse(argc, argv, &args, &err)) {
        fprintf(stderr, "godwit-vmm: %s\n(try --help)\n", err.msg);
        return EXIT_USAGE;
    }
    if (args.help) {
        fputs(vmm_usage, stdout);
        return 0;
    }
    gw_log_set_level(args.log_level);
    signal(SIGPIPE, SIG_IGN);

    int console_fd = open_console(args.console);
    if (console_fd < 0) {
        fprintf(stderr, "godwit-vmm: cannot open console file %s: %s\n", args.console,
                strerror(errno));
        return EXIT_SETUP_FAILED;
    }

    struct vm_config config = {
        .kernel_path = args.kernel,
        .memory_bytes = args.memory_bytes,
        .ncpus = args.vcpus,
        .cmdline = args.cmdline,
        .console_fd = console_fd,
        .incoming = args.incoming != NULL,
        .nets = args.nets,
        .nnets = args.nnets,
    };
    struct vm *vm = vm_create(&config, &err);
    if (!vm) {
        fprintf(stderr, "godwit-vmm: %s\n", err.msg);
        return EXIT_SETUP_FAILED;
    }

    /* Listen for an incoming migration before the control socket appears,
     * so that "the control socket exists" means "ready" to whoever waits. */
    struct mig_in *incoming = NULL;
    if (args.incoming) {
        incoming = mig_in_start(vm, args.incoming, &err);
        if (!incoming) {
            fprintf(stderr, "godwit-vmm: %s\n", err.msg);
            vm_destroy(vm);
            return EXIT_SETUP_FAILED;
        }
    }

    struct vmm_control control = { .vm = vm, .stay_after_migration = args.stay_after_migration };
    struct ctl_server *server = NULL;
    if (args.control) {
        server = ctl_server_create(args.control, vmm_control_handle, &control, &err);
        if (!server) {
            fprintf(stderr, "godwit-vmm: %s\n", err.msg);
            mig_in_destroy(incoming);
            vm_destroy(vm);
            return EXIT_SETUP_FAILED;
        }
    }

    int exit_code = EXIT_SETUP_FAILED;
    int rc = 0;
    if (args.incoming) {
        LOG_INFO("vmm", "vm waiting for a migration on %s: %u vCPUs, %llu MiB", args.incoming,
                 args.vcpus, (unsigned long long)(args.memory_bytes >> 20));
    } else {
        LOG_INFO("vmm", "vm starting: %u vCPUs, %llu MiB, kernel %s", args.vcpus,
                 (unsigned long long)(args.memory_bytes >> 20), args.kernel);
        rc = vm_start(vm, false, &err);
    }
    if (rc == 0) {
        run_until_stopped(vm, server, &control, &incoming);
        struct vm_status st;
        vm_get_status(vm, &st);
        exit_code = st.exit_code;
        LOG_INFO("vmm", "vm stopped: exit code %d%s", exit_code,
                 control.quit_requested ? " (quit requested)"
                 : st.state == VM_MIGRATED ? " (migrated away)" : "");
    } else {
        fprintf(stderr, "godwit-vmm: %s\n", err.msg);
    }
    mig_in_destroy(incoming);
    ctl_server_destroy(server);
    vmm_control_uninit(&control);
    vm_destroy(vm);
    return exit_code;
}
