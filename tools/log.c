/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Messages for people.  Only tools/ and daemon/ talk to people. */

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "thinpack.h"

static bool progress_shown;

_printf_(2, 0) static void vlog(const char *level, const char *fmt, va_list ap, int r)
{
	progress_done();
	fputs(program_invocation_short_name, stderr);
	fputs(": ", stderr);
	if (level)
		fputs(level, stderr);
	vfprintf(stderr, fmt, ap);
	if (r < 0)
		fprintf(stderr, ": %s", strerror(-r));
	fputc('\n', stderr);
}

void log_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(NULL, fmt, ap, 0);
	va_end(ap);
}

void log_warning(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog("warning: ", fmt, ap, 0);
	va_end(ap);
}

int log_error_errno(int r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(NULL, fmt, ap, r);
	va_end(ap);
	return r;
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
	progress_shown = true;
}

void progress_shown_set(void)
{
	progress_shown = true;
}

void progress_done(void)
{
	if (!progress_shown)
		return;
	fputs("\r\033[K", stderr);
	fflush(stderr);
	progress_shown = false;
}
