/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The clocks: see clock.h. */

#include <math.h>
#include <time.h>

#include "clock.h"

void format_when(double t, char buf[static 32])
{
	time_t tt = (time_t)ceil(t);
	struct tm tm;

	localtime_r(&tt, &tm);
	if (t - tp_realtime() < 20 * 3600)
		strftime(buf, 32, "%H:%M", &tm);
	else
		strftime(buf, 32, "%Y-%m-%d %H:%M", &tm);
}
