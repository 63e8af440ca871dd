/* cli.h - command-line parsing and validation (testable without a run).
 *
 * cli_parse never prints and never exits: it returns LD_EINPUT with a one-line
 * message naming the flag and the offending value, or LD_OK with *action set.
 */
#ifndef LORA_DEMO_CLI_H
#define LORA_DEMO_CLI_H

#include <stdio.h>

#include "config.h"
#include "status.h"

typedef enum { CLI_RUN = 0, CLI_HELP, CLI_VERSION } cli_action;

#define LORA_DEMO_VERSION "0.1.0"

/* Parse argv into cfg (which it first resets to the defaults). argv strings
 * are borrowed by cfg (output_dir and the file names), so they must outlive
 * it. */
ld_status cli_parse(int argc, char **argv, config *cfg, cli_action *action, char *err,
                    size_t errlen);

/* The --help text: every option with its default (usage.c). */
void cli_usage(FILE *fp);

#endif /* LORA_DEMO_CLI_H */
