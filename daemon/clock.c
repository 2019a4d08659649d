/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The clocks: see clock.h. */

#include <math.h>
#include <time.h>

#include "clock.h"

double now_realtime(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double now_monotonic(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void format_when(double t, char buf[static 32])
{
	time_t tt = (time_t)ceil(t);
	struct tm tm;

	localtime_r(&tt, &tm);
	if (t - now_realtime() < 20 * 3600)
		strftime(buf, 32, "%H:%M", &tm);
	else
		strftime(buf, 32, "%Y-%m-%d %H:%M", &tm);
}
