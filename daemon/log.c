/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Messages: to the journal with structured fields when thinpackd runs as a
 * service (THINPACK_FILESYSTEM=, THINPACK_UUID=, THINPACK_CLUSTERS=,
 * THINPACK_BYTES=, for journalctl THINPACK_FILESYSTEM=/srv), to stderr in
 * the foreground or where there is no journal.
 */

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include <systemd/sd-journal.h>

#include "thinpackd.h"

static bool journal;

void log_setup(bool foreground)
{
	journal = !foreground && access("/run/systemd/journal/socket", W_OK) == 0;
}

bool log_to_journal(void)
{
	return journal;
}

struct fields {
	char *f[8];
	size_t n;
	bool failed;
};

static void field(struct fields *fs, const char *fmt, ...) _printf_(2, 3);
static void field(struct fields *fs, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0 || fs->n >= ELEMENTSOF(fs->f))
		fs->failed = true;
	else
		fs->f[fs->n++] = s;
	va_end(ap);
}

static void emit(int priority, const char *mountpoint, const char *uuid,
		 uint64_t clusters, uint64_t bytes, const char *msg)
{
	struct fields fs = { .n = 0 };
	struct iovec iov[ELEMENTSOF(fs.f)];

	if (!journal) {
		fprintf(stderr, "%s: %s%s\n", program_invocation_short_name,
			priority == LOG_WARNING ? "warning: " : "", msg);
		return;
	}
	field(&fs, "MESSAGE=%s", msg);
	field(&fs, "PRIORITY=%d", priority);
	field(&fs, "SYSLOG_IDENTIFIER=%s", program_invocation_short_name);
	if (mountpoint)
		field(&fs, "THINPACK_FILESYSTEM=%s", mountpoint);
	if (uuid)
		field(&fs, "THINPACK_UUID=%s", uuid);
	if (clusters != UINT64_MAX)
		field(&fs, "THINPACK_CLUSTERS=%" PRIu64, clusters);
	if (bytes != UINT64_MAX)
		field(&fs, "THINPACK_BYTES=%" PRIu64, bytes);
	for (size_t i = 0; i < fs.n; i++)
		iov[i] = (struct iovec){ fs.f[i], strlen(fs.f[i]) };
	if (fs.failed || sd_journal_sendv(iov, (int)fs.n) < 0)
		fprintf(stderr, "%s: %s\n", program_invocation_short_name, msg);
	for (size_t i = 0; i < fs.n; i++)
		free(fs.f[i]);
}

__attribute__((format(printf, 6, 0))) static void
vlog(int priority, const char *mountpoint, const char *uuid, uint64_t clusters,
     uint64_t bytes, const char *fmt, va_list ap)
{
	char msg[2048];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	emit(priority, mountpoint, uuid, clusters, bytes, msg);
}

void log_msg(int priority, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(priority, NULL, NULL, UINT64_MAX, UINT64_MAX, fmt, ap);
	va_end(ap);
}

void log_fs(int priority, const char *mountpoint, const char *uuid,
	    uint64_t clusters, uint64_t bytes, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(priority, mountpoint, uuid, clusters, bytes, fmt, ap);
	va_end(ap);
}

void log_line(int priority, const char *line)
{
	if (journal)
		emit(priority, NULL, NULL, UINT64_MAX, UINT64_MAX, line);
	else
		fprintf(stderr, "%s\n", line);
}

int log_error_errno(int r, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_msg(LOG_ERR, "%s: %s", msg, strerror(r < 0 ? -r : r));
	return r;
}
