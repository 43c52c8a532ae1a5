/* lmx: the command-line entry point. Each subcommand lives in its own cmd_*.c;
 * `lmx help COMMAND` runs COMMAND --help, which every subcommand answers. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/suggest.h"
#include "manager/store.h"

static const struct {
    const char *name;
    lmx_cmd_fn *fn;
    const char *help;
} commands[] = {
    {"chat", cmd_chat, "chat with a model in the terminal (or answer one prompt)"},
    {"run", cmd_run, "generate text from a prompt"},
    {"tokenize", cmd_tokenize, "print the token ids of a text"},
    {"inspect", cmd_inspect, "print a model's metadata, tensors and memory needs"},
    {"bench", cmd_bench, "measure prefill/decode speed and memory bandwidth"},
    {"serve", cmd_serve, "serve models over an OpenAI-compatible HTTP API"},
    {"template", cmd_template, "render a chat template with a JSON context"},
    {"pull", cmd_pull, "download a model from Hugging Face into the daemon's store"},
    {"import", cmd_import, "add a .gguf file to the store (link or copy)"},
    {"ls", cmd_ls, "list the models in the daemon's store and downloads in progress"},
    {"show", cmd_show, "summarize a model of the daemon's store"},
    {"ps", cmd_ps, "list the daemon's loaded models"},
    {"load", cmd_load, "load a model in the daemon"},
    {"unload", cmd_unload, "unload a model from the daemon"},
    {"rm", cmd_rm, "delete a model from the daemon's store"},
    {"status", cmd_status, "show the daemon's state"},
    {"runs", cmd_runs, "list, show, follow or cancel the daemon's agent runs"},
    {"keys", cmd_keys, "add, list or revoke the daemon's inference keys"},
    {"skills", cmd_skills, "list, show and invoke the daemon's skills"},
    {"version", NULL, "print the version"},
    {"help", NULL, "help on a command (lmx help COMMAND)"},
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *f) {
    fprintf(f, "usage: lmx <command> [options]   (lmx help COMMAND, lmx COMMAND --help)\n\n"
               "commands:\n");
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
    fprintf(f, "\n  -V, --version  print the version\n");
}

static int find(const char *name) {
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (!strcmp(name, commands[i].name)) return (int)i;
    return -1;
}

static int unknown(const char *name) {
    const char *names[N_COMMANDS];
    for (size_t i = 0; i < N_COMMANDS; i++) names[i] = commands[i].name;
    const char *s = lmx_suggest(name, names, N_COMMANDS);
    fprintf(stderr, "lmx: unknown command '%s'", name);
    if (s) fprintf(stderr, "; did you mean '%s'?", s);
    fprintf(stderr, " (lmx help lists the commands)\n");
    return 2;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *c = argv[1];
    if (!strcmp(c, "-h") || !strcmp(c, "--help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(c, "-V") || !strcmp(c, "--version") || !strcmp(c, "version")) {
        printf("lmx %s\n", LMX_ENGINE_VERSION);
        return 0;
    }
    if (!strcmp(c, "help")) {
        if (argc < 3) {
            usage(stdout);
            return 0;
        }
        int k = find(argv[2]);
        if (k < 0) return unknown(argv[2]);
        if (!commands[k].fn) {
            printf("lmx %s: %s\n", commands[k].name, commands[k].help);
            return 0;
        }
        char *av[] = {argv[2], "--help", NULL};
        return commands[k].fn(2, av);
    }
    int k = find(c);
    if (k < 0 || !commands[k].fn) {
        if (c[0] == '-') {
            fprintf(stderr, "lmx: unknown option '%s' (lmx --help lists the commands)\n", c);
            return 2;
        }
        return unknown(c);
    }
    return commands[k].fn(argc - 1, argv + 1);
}
