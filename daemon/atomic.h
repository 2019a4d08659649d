/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Files that readers see whole or not at all: the state files, the status
 * JSON, the Prometheus file. */
#ifndef TP_DAEMON_ATOMIC_H
#define TP_DAEMON_ATOMIC_H

#include <stddef.h>
#include <sys/types.h>

#include <json-c/json.h>

/* Write data to path through a temporary file and rename(2). */
int write_file_atomic(const char *path, const char *data, size_t len,
		      mode_t mode);
/* Write ROOT, pretty, to PATH through write_file_atomic(), and put it. */
int write_json_atomic(const char *path, json_object *root);

#endif
