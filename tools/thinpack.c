/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * thinpack: give a thin-provisioned device back the space an ext4
 * filesystem no longer uses but still holds, one partial cluster at a time.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "thinpack.h"

static const struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
} commands[] = {
	{ "report", cmd_report,
	  "show how much space each device could get back, and at what cost" },
	{ "compact", cmd_compact,
	  "empty the emptiest clusters of a mounted filesystem, and trim them" },
	{ "trim", cmd_trim, "trim every empty cluster of a mounted filesystem" },
	{ "explain", cmd_explain,
	  "why a cluster cannot be emptied: its owners, and what pins it" },
	{ "status", cmd_status, "what thinpackd is doing and has done" },
};

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: %s COMMAND [OPTIONS] PATH...\n"
		"\n"
		"Find the space a thin-provisioned device cannot get back from an\n"
		"ext4 filesystem: clusters of its discard granularity that hold a\n"
		"few live blocks.\n"
		"\n"
		"Commands:\n",
		program_invocation_short_name);
	for (size_t i = 0; i < ELEMENTSOF(commands); i++)
		fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(out,
		"\n"
		"Options:\n"
		"  -h, --help     show this help\n"
		"  -V, --version  show the version\n"
		"\n"
		"'%s COMMAND --help' shows the options of a command; see thinpack(8).\n"
		"Exit status: 0 done what could be done, 1 nothing can be returned until\n"
		"the administrator acts, 4 operational error, 8 usage error, 16 held by\n"
		"another run (OR-ed over all filesystems).\n",
		program_invocation_short_name);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return TP_EXIT_USAGE;
	}
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		usage(stdout);
		return TP_EXIT_OK;
	}
	if (strcmp(argv[1], "-V") == 0 || strcmp(argv[1], "--version") == 0) {
		printf("%s %s\n", PACKAGE_NAME, PACKAGE_VERSION);
		return TP_EXIT_OK;
	}
	for (size_t i = 0; i < ELEMENTSOF(commands); i++)
		if (strcmp(argv[1], commands[i].name) == 0) {
			int r = commands[i].run(argc - 1, argv + 1);
			if (fflush(stdout) != 0 || ferror(stdout)) {
				log_error("write error on standard output");
				r |= TP_EXIT_OPERATIONAL;
			}
			return r;
		}
	log_error("unknown command '%s'; try '%s --help'", argv[1],
		  program_invocation_short_name);
	return TP_EXIT_USAGE;
}
