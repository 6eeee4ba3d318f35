/*
 * godwit-vmm: one process, one VM.  Wires the argument parser, the VM
 * (vmm/vm.h) and the control server (ctl/server.h) together, then waits
 * on the control socket and the VM's "stopped" event until the VM ends.
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
#include "vmm/vm.h"

#define EXIT_SETUP_FAILED 1
#define EXIT_USAGE 2

static int open_console(const char *path)
{
    if (!path)
        return STDOUT_FILENO;
    return open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
}

/* Serves the control socket until the VM stops. */
static void run_until_stopped(struct vm *vm, struct ctl_server *server)
{
    struct pollfd fds[2] = {
        { .fd = vm_stopped_fd(vm), .events = POLLIN },
        { .fd = server ? ctl_server_fd(server) : -1, .events = POLLIN },
    };
    for (;;) {
        if (poll(fds, 2, -1) < 0 && errno != EINTR)
            return;
        if (fds[0].revents)
            return;
        if (fds[1].revents)
            ctl_server_dispatch(server);
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
    };
    struct vm *vm = vm_create(&config, &err);
    if (!vm) {
        fprintf(stderr, "godwit-vmm: %s\n", err.msg);
        return EXIT_SETUP_FAILED;
    }

    struct vmm_control control = { .vm = vm };
    struct ctl_server *server = NULL;
    if (args.control) {
        server = ctl_server_create(args.control, vmm_control_handle, &control, &err);
        if (!server) {
            fprintf(stderr, "godwit-vmm: %s\n", err.msg);
            vm_destroy(vm);
            return EXIT_SETUP_FAILED;
        }
    }

    LOG_INFO("vmm", "vm starting: %u vCPUs, %llu MiB, kernel %s", args.vcpus,
             (unsigned long long)(args.memory_bytes >> 20), args.kernel);
    int exit_code = EXIT_SETUP_FAILED;
    if (vm_start(vm, &err) == 0) {
        run_until_stopped(vm, server);
        struct vm_status st;
        vm_get_status(vm, &st);
        exit_code = st.exit_code;
        LOG_INFO("vmm", "vm stopped: exit code %d%s", exit_code,
                 control.quit_requested ? " (quit requested)" : "");
    } else {
        fprintf(stderr, "godwit-vmm: %s\n", err.msg);
    }
    ctl_server_destroy(server);
    vmm_control_uninit(&control);
    vm_destroy(vm);
    return exit_code;
}
