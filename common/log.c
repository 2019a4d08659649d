/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Messages for people: see log.h. */

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

static log_hook_fn hook;

void log_set_hook(log_hook_fn h)
{
	hook = h;
}

static void emit(int priority, const struct log_field *fields, size_t n_fields,
		 const char *msg)
{
	if (hook && hook(priority, fields, n_fields, msg))
		return;
	fprintf(stderr, "%s: %s%s\n", program_invocation_short_name,
		priority == LOG_WARNING ? "warning: " : "", msg);
}

/* fmt, and ": <strerror(-r)>" when r < 0, to the hook or stderr. */
_printf_(4, 0) static void vlog(int priority, const struct log_field *fields,
				size_t n_fields, const char *fmt, va_list ap, int r)
{
	char buf[1024], *big = NULL;
	const char *msg = buf;
	va_list aq;
	int n;

	va_copy(aq, ap);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	if (n >= (int)sizeof(buf) && vasprintf(&big, fmt, aq) >= 0)
		msg = big;
	va_end(aq);
	if (r < 0) {
		char *e;

		if (asprintf(&e, "%s: %s", msg, strerror(-r)) >= 0) {
			free(big);
			msg = big = e;
		}
	}
	emit(priority, fields, n_fields, msg);
	free(big);
}

void log_msg(int priority, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(priority, NULL, 0, fmt, ap, 0);
	va_end(ap);
}

void log_fieldsv(int priority, const struct log_field *fields, size_t n_fields,
		 const char *fmt, va_list ap)
{
	vlog(priority, fields, n_fields, fmt, ap, 0);
}

void log_line(int priority, const char *line)
{
	if (hook && hook(priority, NULL, 0, line))
		return;
	fprintf(stderr, "%s\n", line);
}

int log_error_errno(int r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_ERR, NULL, 0, fmt, ap, r);
	va_end(ap);
	return r;
}
