/* VMM process start and liveness (see proc.h). */
#include "agent/proc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

pid_t proc_spawn(char *const argv[], const char *log_path)
{
    /* Open everything before fork: the child may only make async-signal-
     * safe calls, because the agent has other threads. */
    int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    int log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (null_fd < 0 || log_fd < 0) {
        int rc = -errno;
        if (null_fd >= 0)
            close(null_fd);
        if (log_fd >= 0)
            close(log_fd);
        return rc;
    }
    pid_t pid = fork();
    if (pid == 0) {
        setsid();
        dup2(null_fd, STDIN_FILENO);
        dup2(log_fd, STDOUT_FILENO);
        dup2(log_fd, STDERR_FILENO);
        execv(argv[0], argv);
        static const char msg[] = "godwitd: cannot execute the VMM\n";
        ssize_t ignored = write(STDERR_FILENO, msg, sizeof msg - 1);
        (void)ignored;
        _exit(127);
    }
    int rc = pid < 0 ? -errno : pid;
    close(null_fd);
    close(log_fd);
    return rc;
}

unsigned long long proc_start_time(pid_t pid, bool *zombie)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    /* "PID (COMM) S ...": COMM may hold spaces and parentheses, so the
     * fields start after the last ')'. */
    char *p = strrchr(buf, ')');
    if (!p || p[1] != ' ')
        return 0;
    char state = p[2];
    if (zombie)
        *zombie = state == 'Z' || state == 'X';
    /* Field 3 is the state; the start time is field 22. */
    p += 2;
    for (int field = 3; field < 22; field++) {
        p = strchr(p, ' ');
        if (!p)
            return 0;
        p++;
    }
    return strtoull(p, NULL, 10);
}

bool proc_is_running(pid_t pid, unsigned long long start_time)
{
    bool zombie = false;
    unsigned long long start = proc_start_time(pid, &zombie);
    return start && !zombie && start == start_time;
}
