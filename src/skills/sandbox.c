/* The exec sandbox: bubblewrap for namespaces and mounts, libseccomp for
 * the system-call filter, setrlimit for resources, a process group (and the
 * pid namespace) for killing.
 *
 * Order in the forked child, all async-signal-safe (the daemon has threads):
 * new session → stdio onto pipes → rlimits → (as root) drop to nobody, so
 * bubblewrap runs unprivileged inside a user namespace and RLIMIT_NPROC
 * counts → exec bwrap, which sets no_new_privs, builds the view and applies
 * the seccomp program (exported to a memfd before the fork) just before it
 * execs the skill. bwrap's --json-status-fd tells apart "the program exited
 * with N" from "the sandbox never started" (no exit-code record). */
#include "skills/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <poll.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/clock.h"
#include "util/grow.h"

#define SANDBOX_UID 65534 /* nobody */

/* System calls no skill needs and a hostile one could use against the host
 * or other processes. Names the running libseccomp does not know are skipped. */
static const char *const denied[] = {"ptrace",
                                     "process_vm_readv",
                                     "process_vm_writev",
                                     "mount",
                                     "umount2",
                                     "pivot_root",
                                     "chroot",
                                     "unshare",
                                     "setns",
                                     "kexec_load",
                                     "kexec_file_load",
                                     "init_module",
                                     "finit_module",
                                     "delete_module",
                                     "bpf",
                                     "perf_event_open",
                                     "keyctl",
                                     "add_key",
                                     "request_key",
                                     "userfaultfd",
                                     "swapon",
                                     "swapoff",
                                     "reboot",
                                     "acct",
                                     "quotactl",
                                     "open_by_handle_at",
                                     "name_to_handle_at",
                                     "iopl",
                                     "ioperm",
                                     "settimeofday",
                                     "clock_settime",
                                     "clock_adjtime",
                                     "adjtimex",
                                     "syslog",
                                     "lookup_dcookie",
                                     "fanotify_init",
                                     "move_mount",
                                     "open_tree",
                                     "fsopen",
                                     "fsmount",
                                     "fspick",
                                     "mount_setattr",
                                     "vhangup",
                                     "uselib",
                                     "ustat",
                                     "sysfs",
                                     "_sysctl",
                                     "nfsservctl",
                                     "io_uring_setup",
                                     "io_uring_enter",
                                     "io_uring_register",
                                     "kcmp",
                                     "pidfd_getfd",
                                     NULL};

/* The filter as a BPF program in a memfd (fd, or -1 with why in msg). The
 * default is to allow: the namespaces and the read-only view carry the
 * isolation, the filter removes the kernel's riskiest surfaces. */
static int seccomp_fd(bool allow_inet, char *msg, size_t n) {
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    if (!ctx) return snprintf(msg, n, "seccomp_init failed"), -1;
    int rc = 0;
    for (const char *const *d = denied; *d && !rc; d++) {
        int nr = seccomp_syscall_resolve_name(*d);
        if (nr == __NR_SCMP_ERROR) continue;
        rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 0);
    }
    /* clone with any namespace flag; clone3 hides its flags in memory, so
     * it answers ENOSYS and libc falls back to clone, whose flags are seen */
    static const unsigned long nsflags[] = {CLONE_NEWUSER,  CLONE_NEWNET, CLONE_NEWPID,
                                            CLONE_NEWNS,    CLONE_NEWIPC, CLONE_NEWUTS,
                                            CLONE_NEWCGROUP};
    for (size_t i = 0; i < sizeof nsflags / sizeof *nsflags && !rc; i++)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
                              (struct scmp_arg_cmp){0, SCMP_CMP_MASKED_EQ, nsflags[i], nsflags[i]});
    int clone3 = seccomp_syscall_resolve_name("clone3");
    if (!rc && clone3 != __NR_SCMP_ERROR)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), clone3, 0);
    /* no network: only AF_UNIX sockets (the namespace has no route out anyway) */
    if (!rc && !allow_inet)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES), SCMP_SYS(socket), 1,
                              (struct scmp_arg_cmp){0, SCMP_CMP_NE, AF_UNIX, 0});
    int fd = -1;
    if (!rc) {
        fd = memfd_create("lmx-seccomp", MFD_CLOEXEC);
        if (fd < 0 || seccomp_export_bpf(ctx, fd) || lseek(fd, 0, SEEK_SET) < 0) {
            snprintf(msg, n, "seccomp: cannot export the filter: %s", strerror(errno));
            if (fd >= 0) close(fd);
            fd = -1;
        }
    } else
        snprintf(msg, n, "seccomp: cannot build the filter: %s", strerror(-rc));
    seccomp_release(ctx);
    return fd;
}

/* ---- argv ---- */

typedef struct {
    char **v;
    int n, cap;
} args;

static void add(args *a, const char *s) {
    if (!lmx_grow_int(&a->v, &a->cap, a->n + 2, sizeof *a->v, 64)) return;
    a->v[a->n++] = strdup(s);
    a->v[a->n] = NULL;
}

static void add2(args *a, const char *x, const char *y) {
    add(a, x);
    add(a, y);
}

static void add3(args *a, const char *x, const char *y, const char *z) {
    add(a, x);
    add(a, y);
    add(a, z);
}

static void free_args(args *a) {
    for (int i = 0; i < a->n; i++) free(a->v[i]);
    free(a->v);
}

/* The system's runtime: /usr read-only, /bin /sbin /lib* as they are (links
 * into /usr on merged-/usr systems, else read-only binds). */
static void system_view(args *a) {
    add3(a, "--ro-bind", "/usr", "/usr");
    static const char *const tops[] = {"/bin",   "/sbin",   "/lib", "/lib32",
                                       "/lib64", "/libx32", NULL};
    for (const char *const *t = tops; *t; t++) {
        char target[512];
        ssize_t n = readlink(*t, target, sizeof target - 1);
        struct stat st;
        if (n > 0) {
            target[n] = 0;
            add3(a, "--symlink", target, *t);
        } else if (!stat(*t, &st) && S_ISDIR(st.st_mode))
            add3(a, "--ro-bind", *t, *t);
    }
    /* what dynamic linking and locales look up; nothing with secrets */
    add3(a, "--ro-bind-try", "/etc/ld.so.cache", "/etc/ld.so.cache");
    add3(a, "--ro-bind-try", "/etc/alternatives", "/etc/alternatives");
    add3(a, "--ro-bind-try", "/etc/localtime", "/etc/localtime");
}

static void resolve_prog(const lmx_sbx_spec *s, char *out, size_t n) {
    const char *p = s->argv[0];
    if (p[0] != '/' && strchr(p, '/'))
        snprintf(out, n, "%s/%s", s->dir, p);
    else
        snprintf(out, n, "%s", p);
}

/* ---- scratch ---- */

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *f) {
    (void)st;
    (void)flag;
    (void)f;
    remove(path);
    return 0;
}

static void rm_tree(const char *dir) {
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

/* ---- the child ---- */

static void set_limit(int res, rlim_t soft, rlim_t hard) {
    struct rlimit rl = {soft, hard};
    setrlimit(res, &rl);
}

static void child(const lmx_sbx_spec *s, char *const *argv, char *const *envp, int in, int out,
                  int err, bool drop) {
    setsid();
    dup2(in, 0);
    dup2(out, 1);
    dup2(err, 2);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    for (int sig = 1; sig < 32; sig++)
        if (sig != SIGKILL && sig != SIGSTOP) signal(sig, SIG_DFL);
    const lmx_sk_limits *l = s->limits;
    rlim_t cpu = (rlim_t)(l->cpu_s + 0.999);
    set_limit(RLIMIT_CPU, cpu, cpu + 1);
    set_limit(RLIMIT_AS, (rlim_t)l->memory, (rlim_t)l->memory);
    set_limit(RLIMIT_FSIZE, (rlim_t)l->file_size, (rlim_t)l->file_size);
    /* bwrap's own processes (monitor, pid 1) count too */
    set_limit(RLIMIT_NPROC, (rlim_t)l->processes + 4, (rlim_t)l->processes + 4);
    set_limit(RLIMIT_CORE, 0, 0);
    set_limit(RLIMIT_NOFILE, 256, 256);
    if (drop) {
        if (syscall(SYS_setgroups, 0, NULL) ||
            syscall(SYS_setresgid, SANDBOX_UID, SANDBOX_UID, SANDBOX_UID) ||
            syscall(SYS_setresuid, SANDBOX_UID, SANDBOX_UID, SANDBOX_UID)) {
            static const char m[] = "lmx sandbox: cannot switch to an unprivileged user\n";
            if (write(2, m, sizeof m - 1) < 0) _exit(126);
            _exit(126);
        }
    }
    if (s->profile == LMX_SBX_NONE) {
        if (chdir(s->dir) < 0) _exit(126);
        execvpe(argv[0], argv, envp);
    } else
        execve(argv[0], argv, envp);
    static const char m[] = "lmx sandbox: cannot execute the sandbox or program\n";
    if (write(2, m, sizeof m - 1) < 0) _exit(127);
    _exit(127);
}

/* Kills the group: SIGTERM, up to grace_s for it to go, then SIGKILL.
 * Returns the wait status of pid. */
static int kill_group(pid_t pid, double grace_s, bool *needed_kill) {
    int st = 0;
    killpg(pid, SIGTERM);
    double until = lmx_now_s() + grace_s;
    while (lmx_now_s() < until) {
        if (waitpid(pid, &st, WNOHANG) == pid) {
            /* the leader is gone; stragglers of the group (none:) still get KILL */
            killpg(pid, SIGKILL);
            *needed_kill = false;
            return st;
        }
        usleep(20000);
    }
    *needed_kill = true;
    killpg(pid, SIGKILL);
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    return st;
}

void lmx_sbx_run(const lmx_sbx_spec *s, lmx_sbx_result *res) {
    memset(res, 0, sizeof *res);
    double t0 = lmx_now_s();
    res->end = LMX_SBX_SETUP_FAILED;
    char prog[1200];
    resolve_prog(s, prog, sizeof prog);

    /* scratch: private, owned by whoever the program runs as */
    const char *tmp = s->tmp_dir && *s->tmp_dir ? s->tmp_dir : getenv("TMPDIR");
    char scratch[1100];
    snprintf(scratch, sizeof scratch, "%s/lmx-skill-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(scratch)) {
        snprintf(res->msg, sizeof res->msg, "cannot create a scratch directory in %s: %s",
                 tmp && *tmp ? tmp : "/tmp", strerror(errno));
        return;
    }
    bool sandboxed = s->profile != LMX_SBX_NONE;
    bool drop = sandboxed && geteuid() == 0;
    if (drop && chown(scratch, SANDBOX_UID, SANDBOX_UID)) {
        snprintf(res->msg, sizeof res->msg, "cannot hand the scratch directory over: %s",
                 strerror(errno));
        rm_tree(scratch);
        return;
    }

    args a = {0};
    char envbuf[3][1200];
    snprintf(envbuf[0], sizeof envbuf[0], "PATH=/usr/local/bin:/usr/bin:/bin");
    snprintf(envbuf[1], sizeof envbuf[1], "HOME=%s", sandboxed ? "/tmp" : scratch);
    snprintf(envbuf[2], sizeof envbuf[2], "TMPDIR=%s", sandboxed ? "/tmp" : scratch);
    char *envp[] = {envbuf[0], envbuf[1], envbuf[2], "LANG=C.UTF-8", NULL};
    int sfd = -1, pin[2] = {-1, -1}, pout[2] = {-1, -1}, perr[2] = {-1, -1}, pst[2] = {-1, -1};
    if (sandboxed) {
        const char *bwrap = s->bwrap && *s->bwrap ? s->bwrap : "/usr/bin/bwrap";
        if (access(bwrap, X_OK)) {
            snprintf(res->msg, sizeof res->msg,
                     "the sandbox needs bubblewrap (%s: %s); install the bubblewrap package", bwrap,
                     strerror(errno));
            goto out;
        }
        sfd = seccomp_fd(s->profile == LMX_SBX_STANDARD && s->loopback, res->msg, sizeof res->msg);
        if (sfd < 0) goto out;
        if (pipe2(pst, O_CLOEXEC)) goto syserr;
        char num[16];
        add(&a, bwrap);
        add(&a, "--unshare-all");
        add(&a, "--die-with-parent");
        add2(&a, "--hostname", "lmx-skill");
        add(&a, "--clearenv");
        for (char **e = envp; *e; e++) {
            char k[64];
            const char *eq = strchr(*e, '=');
            snprintf(k, sizeof k, "%.*s", (int)(eq - *e), *e);
            add3(&a, "--setenv", k, eq + 1);
        }
        system_view(&a);
        /* scratch first, so a skill directory under /tmp is still visible */
        add3(&a, "--bind", scratch, "/tmp");
        add3(&a, "--ro-bind", s->dir, s->dir);
        if (s->profile == LMX_SBX_STANDARD)
            for (char *const *p = s->read_paths; p && *p; p++) add3(&a, "--ro-bind-try", *p, *p);
        add2(&a, "--proc", "/proc");
        add2(&a, "--dev", "/dev");
        add2(&a, "--chdir", s->dir);
        snprintf(num, sizeof num, "%d", sfd);
        add2(&a, "--seccomp", num);
        snprintf(num, sizeof num, "%d", pst[1]);
        add2(&a, "--json-status-fd", num);
        add(&a, "--");
        add(&a, prog);
    } else
        add(&a, prog);
    for (int i = 1; s->argv[i]; i++) add(&a, s->argv[i]);
    if (!a.v) goto syserr;

    if (pipe2(pin, O_CLOEXEC) || pipe2(pout, O_CLOEXEC) || pipe2(perr, O_CLOEXEC)) goto syserr;
    pid_t pid = fork();
    if (pid < 0) goto syserr;
    if (pid == 0) {
        /* nothing of the daemon's leaks into the program; the seccomp and
         * status fds must survive exec */
        syscall(SYS_close_range, 3, ~0U, 4 /* CLOSE_RANGE_CLOEXEC */);
        if (sfd >= 0) fcntl(sfd, F_SETFD, 0);
        if (pst[1] >= 0) fcntl(pst[1], F_SETFD, 0);
        child(s, a.v, envp, pin[0], pout[1], perr[1], drop);
    }
    close(pin[0]);
    close(pout[1]);
    close(perr[1]);
    pin[0] = pout[1] = perr[1] = -1;
    if (pst[1] >= 0) close(pst[1]), pst[1] = -1;
    if (sfd >= 0) close(sfd), sfd = -1;
    fcntl(pin[1], F_SETFL, O_NONBLOCK);

    size_t max_out = s->limits->max_output, in_off = 0;
    lmx_buf out = {0}; /* stdout, res->out once the child is done */
    char status[4096];
    size_t st_len = 0;
    char tail[sizeof res->err_tail];
    size_t tail_len = 0;
    double deadline = t0 + s->limits->timeout_s;
    lmx_sbx_end why = LMX_SBX_EXITED;
    bool open_out = true, open_err = true, open_st = pst[0] >= 0;
    if (!s->input_len) close(pin[1]), pin[1] = -1;
    while (open_out || open_err || open_st) {
        struct pollfd pf[4];
        int np = 0, iout = -1, ierr = -1, ist = -1, iin = -1;
        if (open_out) iout = np, pf[np++] = (struct pollfd){pout[0], POLLIN, 0};
        if (open_err) ierr = np, pf[np++] = (struct pollfd){perr[0], POLLIN, 0};
        if (open_st) ist = np, pf[np++] = (struct pollfd){pst[0], POLLIN, 0};
        if (pin[1] >= 0) iin = np, pf[np++] = (struct pollfd){pin[1], POLLOUT, 0};
        poll(pf, (nfds_t)np, 50);
        char buf[16384];
        if (iout >= 0 && pf[iout].revents) {
            ssize_t n = read(pout[0], buf, sizeof buf);
            if (n <= 0)
                open_out = false;
            else if (out.n + (size_t)n > max_out || !lmx_buf_add(&out, buf, (size_t)n)) {
                why = LMX_SBX_OUTPUT_LIMIT;
                break;
            }
        }
        if (ierr >= 0 && pf[ierr].revents) {
            ssize_t n = read(perr[0], buf, sizeof buf);
            if (n <= 0)
                open_err = false;
            else {
                size_t k = (size_t)n;
                if (k >= sizeof tail) {
                    memcpy(tail, buf + k - (sizeof tail - 1), sizeof tail - 1);
                    tail_len = sizeof tail - 1;
                } else {
                    if (tail_len + k >= sizeof tail) {
                        size_t drop_n = tail_len + k - (sizeof tail - 1);
                        memmove(tail, tail + drop_n, tail_len - drop_n);
                        tail_len -= drop_n;
                    }
                    memcpy(tail + tail_len, buf, k);
                    tail_len += k;
                }
            }
        }
        if (ist >= 0 && pf[ist].revents) {
            ssize_t n = read(pst[0], buf, sizeof buf);
            if (n <= 0)
                open_st = false;
            else {
                size_t k =
                    (size_t)n < sizeof status - 1 - st_len ? (size_t)n : sizeof status - 1 - st_len;
                memcpy(status + st_len, buf, k);
                st_len += k;
            }
        }
        if (iin >= 0 && pf[iin].revents) {
            ssize_t n = write(pin[1], s->input + in_off, s->input_len - in_off);
            if (n > 0) in_off += (size_t)n;
            if (n < 0 && errno != EAGAIN) in_off = s->input_len; /* reader gone */
            if (in_off >= s->input_len) close(pin[1]), pin[1] = -1;
        }
        if (s->cancel && atomic_load(s->cancel)) {
            why = LMX_SBX_CANCELLED;
            break;
        }
        if (lmx_now_s() >= deadline) {
            why = LMX_SBX_TIMEOUT;
            break;
        }
    }
    int wst = 0;
    if (why != LMX_SBX_EXITED) {
        wst = kill_group(pid, s->grace_s > 0 ? s->grace_s : 1.0, &res->killed_after_term);
    } else {
        /* outputs closed: the program is ending; it may still be running
         * with closed pipes, so the deadline still holds */
        while (waitpid(pid, &wst, WNOHANG) == 0) {
            if (lmx_now_s() >= deadline || (s->cancel && atomic_load(s->cancel))) {
                why = lmx_now_s() >= deadline ? LMX_SBX_TIMEOUT : LMX_SBX_CANCELLED;
                wst = kill_group(pid, s->grace_s > 0 ? s->grace_s : 1.0, &res->killed_after_term);
                break;
            }
            usleep(5000);
        }
        killpg(pid, SIGKILL); /* leftovers of the group (profile none) */
    }
    /* what arrived on stderr after the kill (bwrap's last words) */
    for (;;) {
        char buf[4096];
        ssize_t n = read(perr[0], buf, sizeof buf);
        if (n <= 0) break;
        size_t k = (size_t)n < sizeof tail - 1 - tail_len ? (size_t)n : sizeof tail - 1 - tail_len;
        memcpy(tail + tail_len, buf, k);
        tail_len += k;
        if (!k) break;
    }
    if (open_st) {
        fcntl(pst[0], F_SETFL, O_NONBLOCK);
        ssize_t n = read(pst[0], status + st_len, sizeof status - 1 - st_len);
        if (n > 0) st_len += (size_t)n;
    }
    status[st_len] = 0;
    memcpy(res->err_tail, tail, tail_len);
    res->err_tail[tail_len] = 0;
    res->out = out.p;
    res->out_len = out.n;
    res->end = why;
    if (why == LMX_SBX_EXITED) {
        if (WIFSIGNALED(wst)) {
            res->end = LMX_SBX_SIGNALED;
            res->signal = WTERMSIG(wst);
        } else {
            int code = WEXITSTATUS(wst);
            if (sandboxed && !strstr(status, "\"exit-code\"")) {
                res->end = LMX_SBX_SETUP_FAILED;
                const char *l = lmx_sbx_err_lines(res, 2);
                snprintf(res->msg, sizeof res->msg, "the sandbox could not start: %s",
                         *l ? l : "bubblewrap failed");
                size_t ml = strlen(res->msg);
                while (ml && res->msg[ml - 1] == '\n') res->msg[--ml] = 0;
            } else if (code > 128 && code < 128 + 65) {
                /* bwrap reports a child killed by signal N as 128 + N */
                res->end = LMX_SBX_SIGNALED;
                res->signal = code - 128;
            } else
                res->exit_status = code;
        }
    }
    goto out;
syserr:
    snprintf(res->msg, sizeof res->msg, "cannot start the program: %s", strerror(errno));
out:
    for (int *fd =
             (int[]){pin[0], pin[1], pout[0], pout[1], perr[0], perr[1], pst[0], pst[1], sfd, -2};
         *fd != -2; fd++)
        if (*fd >= 0) close(*fd);
    free_args(&a);
    rm_tree(scratch);
    if (!res->out) res->out = calloc(1, 1);
    res->elapsed_s = lmx_now_s() - t0;
}

void lmx_sbx_result_free(lmx_sbx_result *res) {
    free(res->out);
    res->out = NULL;
}

const char *lmx_sbx_err_lines(const lmx_sbx_result *res, int lines) {
    const char *s = res->err_tail;
    size_t n = strlen(s);
    while (n && s[n - 1] == '\n') n--;
    size_t i = n;
    int seen = 0;
    while (i > 0) {
        if (s[i - 1] == '\n' && ++seen == lines) break;
        i--;
    }
    return s + i;
}
