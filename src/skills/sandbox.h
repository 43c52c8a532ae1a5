/* Running an exec skill's program under a kernel-enforced sandbox.
 *
 * Profiles (docs/skills.md says what each guarantees and what it does not):
 *  - strict: bubblewrap puts the program in new user, mount, pid, network,
 *    IPC, UTS and cgroup namespaces; the file system is a read-only view of
 *    /usr (and the /bin, /lib* links), the skill's own directory and a
 *    private /proc and /dev, with one writable per-invocation scratch
 *    directory at /tmp (also the working directory); no_new_privs is set;
 *    a seccomp filter (libseccomp) refuses system calls that change the
 *    kernel or other processes (mount, ptrace, bpf, kexec, modules, new
 *    namespaces, ...) and sockets other than AF_UNIX; rlimits bound CPU
 *    time, address space, processes and file size; when the daemon runs as
 *    root the program runs as an unprivileged user (nobody), so the process
 *    limit holds.
 *  - standard: the same, plus chosen read-only paths and, optionally, inet
 *    sockets on the sandbox's own loopback interface.
 *  - none: no namespaces or filter (rlimits, a cleared environment and the
 *    process-group kill still apply); allowed only by the daemon's config.
 *
 * The program reads its input on stdin and writes its result to stdout; it
 * runs in its own session and process group, which is sent SIGTERM and,
 * after a grace period, SIGKILL on timeout, cancellation or excess output
 * (the pid namespace then takes every descendant with it).
 *
 * When the sandbox cannot be set up (no bwrap, namespaces refused), nothing
 * runs: the result is LMX_SBX_SETUP_FAILED with bubblewrap's reason. */
#ifndef LMX_SKILLS_SANDBOX_H
#define LMX_SKILLS_SANDBOX_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "skills/manifest.h"

typedef struct {
    char *const *argv; /* argv[0]: absolute, relative to dir, or a name looked up in PATH */
    const char *dir;   /* the skill's directory (visible read-only) */
    lmx_sbx_profile profile;
    char *const *read_paths; /* standard: NULL-terminated, may be NULL */
    bool loopback;           /* standard */
    const lmx_sk_limits *limits;
    const char *bwrap;   /* bubblewrap's path ("": /usr/bin/bwrap) */
    const char *tmp_dir; /* where scratch directories go ("": $TMPDIR or /tmp) */
    const char *input;
    size_t input_len;
    const atomic_bool *cancel; /* may be NULL: polled every 50 ms */
    double grace_s;            /* SIGTERM → SIGKILL (0: 1 s) */
} lmx_sbx_spec;

typedef enum {
    LMX_SBX_EXITED = 0,   /* exit_status holds the code */
    LMX_SBX_SIGNALED,     /* died of `signal` (e.g. SIGXCPU at the CPU limit) */
    LMX_SBX_TIMEOUT,      /* killed at the wall-clock limit */
    LMX_SBX_CANCELLED,    /* killed because *cancel became true */
    LMX_SBX_OUTPUT_LIMIT, /* killed for writing more than max_output bytes */
    LMX_SBX_SETUP_FAILED, /* the sandbox could not be built; nothing ran */
} lmx_sbx_end;

typedef struct {
    lmx_sbx_end end;
    int exit_status, signal;
    bool killed_after_term; /* still alive after SIGTERM's grace: SIGKILLed */
    char *out;              /* stdout (malloc'd, NUL-terminated) */
    size_t out_len;
    char err_tail[2048]; /* the last bytes of stderr */
    double elapsed_s;
    char msg[512]; /* why, for SETUP_FAILED */
} lmx_sbx_result;

/* Runs the program to its end; always fills res (free with lmx_sbx_result_free). */
void lmx_sbx_run(const lmx_sbx_spec *spec, lmx_sbx_result *res);
void lmx_sbx_result_free(lmx_sbx_result *res);

/* The last `lines` lines of res->err_tail (pointer into it). */
const char *lmx_sbx_err_lines(const lmx_sbx_result *res, int lines);

#endif
