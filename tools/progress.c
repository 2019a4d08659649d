/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The progress line on stderr, cleared before any message (common/log.h)
 * so that the two never share a line. */

#include <stdio.h>
#include <unistd.h>

#include "thinpack.h"

static bool progress_shown;

static bool clear_before_message(int priority, const struct log_field *fields,
				 size_t n_fields, const char *msg)
{
	(void)priority;
	(void)fields;
	(void)n_fields;
	(void)msg;
	progress_done();
	return false; /* the message itself goes to stderr as usual */
}

void progress_shown_set(void)
{
	progress_shown = true;
	log_set_hook(clear_before_message);
}

void progress_line(const char *phase, uint64_t done, uint64_t total,
		   void *userdata)
{
	const char *what = userdata;

	if (!isatty(STDERR_FILENO) || total == 0)
		return;
	fprintf(stderr, "\r%s %s: %3u%%", phase, what ? what : "",
		(unsigned)(done * 100 / total));
	fflush(stderr);
	progress_shown_set();
}

void progress_done(void)
{
	if (!progress_shown)
		return;
	fputs("\r\033[K", stderr);
	fflush(stderr);
	progress_shown = false;
}
