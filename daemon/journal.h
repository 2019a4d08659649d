/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * thinpackd's messages: the facade of common/log.h, sent to the journal
 * with structured fields when thinpackd runs as a service, to stderr in
 * the foreground or where there is no journal.
 */
#ifndef TP_DAEMON_JOURNAL_H
#define TP_DAEMON_JOURNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "log.h"

/* To the journal (with fields) unless foreground, or no journal socket. */
void journal_setup(bool foreground);

/* A message about one filesystem, with THINPACK_FILESYSTEM, THINPACK_UUID
 * and, when bytes or clusters are not UINT64_MAX, THINPACK_BYTES and
 * THINPACK_CLUSTERS (journalctl THINPACK_FILESYSTEM=/srv). */
void log_fs(int priority, const char *mountpoint, const char *uuid,
	    uint64_t clusters, uint64_t bytes, const char *fmt, ...) _printf_(6, 7);

#endif
