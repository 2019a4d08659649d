/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The throttles of a compaction: see throttle.h. */

#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "throttle.h"
#include "thinpack/thinpack.h"
#include "basic/cleanup.h"
#include "basic/macros.h"
#include "compact/compact.h"

/* Credit the rate keeps through a pause (a scan, a yield): none to speak
 * of, so that the rate holds over any stretch of a run. */
#define RATE_BURST_S 0.1
/* How often the pressure is read again while yielding. */
#define YIELD_POLL_S 1.0
/* How often a sleep checks, at the least (a front end without a wake_fd
 * sees its signals no later than this). */
#define CHECK_SLICE_S 0.25

static void event(const struct tp_throttle *t, enum tp_throttle_event ev)
{
	if (t->event)
		t->event(t, ev, t->userdata);
}

void tp_throttle_start(struct tp_throttle *t)
{
	t->start = tp_monotonic();
	t->deadline = t->budget_s ? t->start + (double)t->budget_s : 0;
	t->tat = t->start;
	t->paid = 0;
	t->pressure = -1;
	t->psi_error = 0;
	t->expired = t->yielding = false;
	t->rate_s = t->yield_s = 0;
}

bool tp_throttle_active(const struct tp_throttle *t)
{
	return t->io_rate || t->budget_s || t->pressure_limit >= 0;
}

int tp_throttle_check(struct tp_throttle *t)
{
	int r;

	if (t->check && (r = t->check(t->userdata)) < 0)
		return r;
	if (t->deadline && tp_monotonic() >= t->deadline) {
		if (!t->expired) {
			t->expired = true;
			event(t, TP_THROTTLE_EXPIRED);
		}
		return -ETIME;
	}
	if (t->alive)
		t->alive(t->userdata);
	return 0;
}

int tp_throttle_sleep(struct tp_throttle *t, double s)
{
	double end = tp_monotonic() + s;
	int r;

	for (;;) {
		double left = end - tp_monotonic(), slice = CHECK_SLICE_S;
		/* A negative fd is not polled: then poll() only sleeps, and a
		 * signal handler's signal ends it early (EINTR). */
		struct pollfd p = { .fd = t->wake_fd, .events = POLLIN };

		if ((r = tp_throttle_check(t)) < 0)
			return r;
		if (left <= 0)
			return 0;
		/* The budget ends a sleep on time, not a slice late. */
		if (t->deadline && t->deadline - tp_monotonic() < slice)
			slice = MAX(t->deadline - tp_monotonic(), 0.001);
		if (slice > left)
			slice = left;
		/* Rounded up: a sleep that ends a hair early would spin. */
		int ms = (int)(slice * 1000);
		if (ms < slice * 1000)
			ms++;
		if (poll(&p, 1, ms) < 0 && errno != EINTR)
			return -errno;
	}
}

void tp_throttle_rate_restart(struct tp_throttle *t)
{
	t->tat = tp_monotonic();
}

int tp_throttle_rate(struct tp_throttle *t, uint64_t moved_bytes)
{
	double now, t0;
	uint64_t delta;
	int r;

	if (!t->io_rate)
		return 0;
	now = tp_monotonic();
	delta = moved_bytes - t->paid;
	t->paid = moved_bytes;
	t->tat = MAX(t->tat, now - RATE_BURST_S) + (double)delta / (double)t->io_rate;
	if (t->tat <= now)
		return 0;
	t0 = now;
	r = tp_throttle_sleep(t, t->tat - now);
	t->rate_s += tp_monotonic() - t0;
	return r;
}

/* "some avg10", percent. */
static int read_pressure(const char *path, double *ret)
{
	_cleanup_fclose_ FILE *f = fopen(path, "re");
	char line[256];

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		double v;

		if (sscanf(line, "some avg10=%lf", &v) == 1) {
			*ret = v;
			return 0;
		}
	}
	return -EBADMSG;
}

int tp_throttle_pressure(struct tp_throttle *t)
{
	int r = 0;

	if (t->pressure_limit < 0)
		return 0;
	for (;;) {
		double p = 0, t0;

		r = read_pressure(t->psi_path ? t->psi_path : TP_THROTTLE_PSI_PATH, &p);
		if (r < 0) {
			/* No PSI (a kernel without it, psi=0): there is no
			 * pressure to yield to, and the run must not stall. */
			if (!t->psi_error) {
				t->psi_error = r;
				event(t, TP_THROTTLE_NO_PSI);
			}
			r = 0;
			break;
		}
		t->pressure = p;
		event(t, TP_THROTTLE_PRESSURE);
		if (p <= t->pressure_limit)
			break;
		if (!t->yielding) {
			t->yielding = true;
			event(t, TP_THROTTLE_YIELD_START);
		}
		event(t, TP_THROTTLE_YIELD_POLL);
		t0 = tp_monotonic();
		r = tp_throttle_sleep(t, YIELD_POLL_S);
		t->yield_s += tp_monotonic() - t0;
		event(t, TP_THROTTLE_YIELD_SLEPT);
		if (r < 0)
			break;
	}
	if (t->yielding) {
		t->yielding = false;
		/* No credit from the pause. */
		tp_throttle_rate_restart(t);
		event(t, TP_THROTTLE_YIELD_END);
	}
	return r;
}

int tp_throttle_pace(uint64_t moved_bytes, void *userdata)
{
	struct tp_throttle *t = userdata;
	int r;

	if ((r = tp_throttle_check(t)) < 0)
		return r;
	if ((r = tp_throttle_rate(t, moved_bytes)) < 0)
		return r;
	return tp_throttle_pressure(t);
}

int tp_throttle_parse_rate(const char *s, uint64_t *ret)
{
	_cleanup_free_ char *copy = NULL;
	size_t n = s ? strlen(s) : 0;

	/* "8M/s" says what it is; the unit is bytes per second either way. */
	if (n > 2 && strcmp(s + n - 2, "/s") == 0) {
		copy = strndup(s, n - 2);
		if (!copy)
			return -ENOMEM;
		s = copy;
	}
	return tp_parse_size(s, ret) < 0 ? -EINVAL : 0;
}

int tp_throttle_parse_pressure(const char *s, double *ret)
{
	char *end;
	double x;

	if (!s)
		return -EINVAL;
	if (strcmp(s, "off") == 0) {
		*ret = TP_THROTTLE_OFF;
		return 0;
	}
	errno = 0;
	x = strtod(s, &end);
	if (errno || end == s || *end || !isdigit((unsigned char)s[0]) || !(x >= 0))
		return -EINVAL;
	if (x > 100)
		return -ERANGE;
	*ret = x;
	return 0;
}
