/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The clocks, in seconds: one place for the library, thinpack and
 * thinpackd. */
#ifndef TP_BASIC_CLOCK_H
#define TP_BASIC_CLOCK_H

#include <time.h>

static inline double tp_clock(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* For intervals, deadlines, rates: never jumps. */
static inline double tp_monotonic(void)
{
	return tp_clock(CLOCK_MONOTONIC);
}

/* For what people read: dates. */
static inline double tp_realtime(void)
{
	return tp_clock(CLOCK_REALTIME);
}

#endif
