/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Finding the filesystems: the mount table against the configuration
 * (see discover.c). */
#ifndef TP_DAEMON_DISCOVER_H
#define TP_DAEMON_DISCOVER_H

#include "model.h"

/* d->fs from the mount table now and d->config: filesystems found, moved,
 * given new settings or dropped, each said once.  0, or -errno. */
int discover(struct daemon *d);

#endif
