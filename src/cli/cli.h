/* Subcommands of the lmx CLI. Each takes argv with argv[0] = the command name;
 * results go to stdout, logs and errors to stderr. */
#ifndef LMX_CLI_H
#define LMX_CLI_H

typedef int lmx_cmd_fn(int argc, char **argv);

lmx_cmd_fn cmd_run, cmd_chat, cmd_tokenize, cmd_inspect, cmd_bench, cmd_template, cmd_serve;
/* cmd_admin.c: the daemon's admin API */
lmx_cmd_fn cmd_pull, cmd_ls, cmd_ps, cmd_load, cmd_unload, cmd_rm, cmd_status;
/* cmd_runs.c: agent runs over the admin API */
lmx_cmd_fn cmd_runs;
/* cmd_store.c: a model of the local store shown, a file imported into it */
lmx_cmd_fn cmd_show, cmd_import;
/* cmd_keys.c: inference keys (admin API) */
lmx_cmd_fn cmd_keys;
/* cmd_skills.c: the daemon's skills */
lmx_cmd_fn cmd_skills;

#endif
