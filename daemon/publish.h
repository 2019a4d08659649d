/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What thinpackd tells: the STATUS= line, the status JSON, the Prometheus
 * text file (see publish.c). */
#ifndef TP_DAEMON_PUBLISH_H
#define TP_DAEMON_PUBLISH_H

#include <stdbool.h>

#include "model.h"

/* The STATUS= line of the moment. */
char *publish_status_line(const struct daemon *d);
/* Write the status JSON (at most every 0.2 s unless force) and, when
 * metrics, the Prometheus file; send STATUS=. */
void publish(struct daemon *d, bool force, bool metrics);

#endif
