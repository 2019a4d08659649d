/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Messages for people, one facade for thinpack and thinpackd (only tools/
 * and daemon/ talk to people; the library returns errors):
 *
 *     PROGRAM: [warning: ]MESSAGE[: ERROR]
 *
 * on stderr.  A program changes where messages go with a hook, which sees
 * each message first: thinpack clears its progress line before it
 * (tools/progress.c), thinpackd sends it to the journal with fields
 * (daemon/journal.c).
 */
#ifndef TP_COMMON_LOG_H
#define TP_COMMON_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <syslog.h>

#include "basic/macros.h"

/* A structured field of a message (the journal's NAME=value); stderr
 * leaves them out. */
struct log_field {
	const char *name;
	const char *value;
};

/* True: the hook wrote the message itself; false: on to stderr. */
typedef bool (*log_hook_fn)(int priority, const struct log_field *fields,
			    size_t n_fields, const char *msg);
void log_set_hook(log_hook_fn hook);

void log_msg(int priority, const char *fmt, ...) _printf_(2, 3);
void log_fieldsv(int priority, const struct log_field *fields, size_t n_fields,
		 const char *fmt, va_list ap) _printf_(4, 0);
/* A line as it is, with no program name (thinpackd's configuration
 * errors, "FILE:LINE: key: what is wrong"). */
void log_line(int priority, const char *line);
/* An error with ": <strerror(-r)>" appended when r < 0; returns r. */
int log_error_errno(int r, const char *fmt, ...) _printf_(2, 3);

#define log_error(...) log_msg(LOG_ERR, __VA_ARGS__)
#define log_warning(...) log_msg(LOG_WARNING, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_NOTICE, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)

#endif
