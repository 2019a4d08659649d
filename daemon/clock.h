/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The clocks (tp_monotonic(), tp_realtime()), and a time as the logs and
 * STATUS= say it. */
#ifndef TP_DAEMON_CLOCK_H
#define TP_DAEMON_CLOCK_H

#include "basic/clock.h"

/* Realtime t, local: "HH:MM" within 20 hours, else "YYYY-MM-DD HH:MM". */
void format_when(double t, char buf[static 32]);

#endif
