/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef TP_TOOLS_THINPACK_H
#define TP_TOOLS_THINPACK_H

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>

#include "thinpack/thinpack.h"
#include "basic/macros.h"

/* Exit codes, OR-ed over the filesystems of one run (see thinpack(8)). */
enum {
	TP_EXIT_OK = 0,          /* done */
	TP_EXIT_NOTHING = 1,     /* work left, or nothing can be returned */
	TP_EXIT_OPERATIONAL = 4, /* could not do what was asked */
	TP_EXIT_USAGE = 8,       /* bad command line or configuration */
};

/* "thinpack: <message>" on stderr; the _errno variant appends ": %m" for
 * the negative errno r and returns r. */
void log_error(const char *fmt, ...) _printf_(1, 2);
void log_warning(const char *fmt, ...) _printf_(1, 2);
int log_error_errno(int r, const char *fmt, ...) _printf_(2, 3);

/* The thinpack subcommands. */
int cmd_report(int argc, char **argv);

/* Write an SVG cluster map of the maps to path (atomically). */
struct map_section {
	const char *title;
	const struct tp_clustermap *map;
	const struct tp_summary *summary;
};
int write_svg_map(const char *path, const struct map_section *sections,
		  size_t n);

/* A progress line on stderr when it is a terminal. */
void progress_line(const char *phase, uint64_t done, uint64_t total,
		   void *userdata);
void progress_done(void);

#endif
