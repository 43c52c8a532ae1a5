/* lmx: the command-line entry point. Each subcommand lives in its own cmd_*.c. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static const struct {
    const char *name;
    lmx_cmd_fn *fn;
    const char *help;
} commands[] = {
    {"run", cmd_run, "generate text from a prompt"},
    {"tokenize", cmd_tokenize, "print the token ids of a text"},
    {"inspect", cmd_inspect, "print a model's metadata, tensors and memory needs"},
    {"bench", cmd_bench, "measure prefill/decode speed and memory bandwidth"},
    {"serve", cmd_serve, "serve models over an OpenAI-compatible HTTP API"},
    {"template", cmd_template, "render a chat template with a JSON context"},
    {"pull", cmd_pull, "download a model from Hugging Face into the daemon's store"},
    {"ls", cmd_ls, "list the models in the daemon's store"},
    {"ps", cmd_ps, "list the daemon's loaded models"},
    {"load", cmd_load, "load a model in the daemon"},
    {"unload", cmd_unload, "unload a model from the daemon"},
    {"rm", cmd_rm, "delete a model from the daemon's store"},
    {"status", cmd_status, "show the daemon's state"},
    {"runs", cmd_runs, "list, show, follow or cancel the daemon's agent runs"},
};

static void usage(FILE *f) {
    fprintf(f, "usage: lmx <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
}

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "lmx: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
