/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Messages: to the journal with structured fields when thinpackd runs as a
 * service (THINPACK_FILESYSTEM=, THINPACK_UUID=, THINPACK_CLUSTERS=,
 * THINPACK_BYTES=, for journalctl THINPACK_FILESYSTEM=/srv), to stderr in
 * the foreground or where there is no journal (common/log.c does that).
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

#include "journal.h"

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

/* The log hook: every message to the journal. */
static bool to_journal(int priority, const struct log_field *extra,
		       size_t n_extra, const char *msg)
{
	struct fields fs = { .n = 0 };
	struct iovec iov[ELEMENTSOF(fs.f)];

	field(&fs, "MESSAGE=%s", msg);
	field(&fs, "PRIORITY=%d", priority);
	field(&fs, "SYSLOG_IDENTIFIER=%s", program_invocation_short_name);
	for (size_t i = 0; i < n_extra; i++)
		field(&fs, "%s=%s", extra[i].name, extra[i].value);
	for (size_t i = 0; i < fs.n; i++)
		iov[i] = (struct iovec){ fs.f[i], strlen(fs.f[i]) };
	if (fs.failed || sd_journal_sendv(iov, (int)fs.n) < 0)
		fprintf(stderr, "%s: %s\n", program_invocation_short_name, msg);
	for (size_t i = 0; i < fs.n; i++)
		free(fs.f[i]);
	return true;
}

void journal_setup(bool foreground)
{
	if (!foreground && access("/run/systemd/journal/socket", W_OK) == 0)
		log_set_hook(to_journal);
}

void log_fs(int priority, const char *mountpoint, const char *uuid,
	    uint64_t clusters, uint64_t bytes, const char *fmt, ...)
{
	struct log_field fields[4];
	char c[24], b[24];
	size_t n = 0;
	va_list ap;

	if (mountpoint)
		fields[n++] = (struct log_field){ "THINPACK_FILESYSTEM", mountpoint };
	if (uuid)
		fields[n++] = (struct log_field){ "THINPACK_UUID", uuid };
	if (clusters != UINT64_MAX) {
		snprintf(c, sizeof(c), "%" PRIu64, clusters);
		fields[n++] = (struct log_field){ "THINPACK_CLUSTERS", c };
	}
	if (bytes != UINT64_MAX) {
		snprintf(b, sizeof(b), "%" PRIu64, bytes);
		fields[n++] = (struct log_field){ "THINPACK_BYTES", b };
	}
	va_start(ap, fmt);
	log_fieldsv(priority, fields, n, fmt, ap);
	va_end(ap);
}
