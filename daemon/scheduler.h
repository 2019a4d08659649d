/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Which filesystem when, and running its pass (see scheduler.c). */
#ifndef TP_DAEMON_SCHEDULER_H
#define TP_DAEMON_SCHEDULER_H

#include "model.h"

/* The filesystem whose pass is due first, or NULL; *ret_wait: seconds
 * until it is due (0: now). */
struct fsent *scheduler_next(struct daemon *d, double *ret_wait);
/* When f is due after its last pass: an interval after it ended, now
 * when a shutdown or a reload cut it short, or when there was none. */
double scheduler_due_after_last(const struct fsent *f);
/* One pass on f; -EBUSY, and no pass, when another runner holds f (it is
 * tried again later). */
int scheduler_run_pass(struct daemon *d, struct fsent *f);

#endif
