/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Signals are blocked and read from a signalfd: in the main loop's poll(),
 * and between two victims of a pass (pace.c), which is how SIGTERM stops a
 * pass between two moves and SIGHUP reloads without waiting for the pass
 * to end.
 */
#ifndef TP_DAEMON_SIGNALS_H
#define TP_DAEMON_SIGNALS_H

#include "model.h"

/* Block SIGTERM, SIGINT, SIGHUP into d->signal_fd; ignore SIGIO, SIGPIPE. */
int signals_setup(struct daemon *d);
/* Read signals that arrived (non-blocking): sets d->stop, d->reload. */
void signals_read(struct daemon *d);

#endif
