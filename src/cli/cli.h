/* Subcommands of the lmx CLI. Each takes argv with argv[0] = the command name;
 * results go to stdout, logs and errors to stderr. */
#ifndef LMX_CLI_H
#define LMX_CLI_H

int cmd_run(int argc, char **argv);
int cmd_chat(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_template(int argc, char **argv);
int cmd_serve(int argc, char **argv);
/* cmd_admin.c: the daemon's admin API */
int cmd_pull(int argc, char **argv);
int cmd_ls(int argc, char **argv);
int cmd_ps(int argc, char **argv);
int cmd_load(int argc, char **argv);
int cmd_unload(int argc, char **argv);
int cmd_rm(int argc, char **argv);
int cmd_status(int argc, char **argv);
/* cmd_runs.c: agent runs over the admin API */
int cmd_runs(int argc, char **argv);
int cmd_show(int argc, char **argv);
int cmd_import(int argc, char **argv);
/* cmd_keys.c: inference keys (admin API) */
int cmd_keys(int argc, char **argv);
/* cmd_skills.c: the daemon's skills */
int cmd_skills(int argc, char **argv);

#endif
