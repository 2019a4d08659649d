/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The pace of a pass: tp_compact() calls pace() between two victims, and
 * a pass waits in pace_pressure() before its scan.  There thinpackd holds
 * the I/O rate, yields while I/O pressure is above the limit, ends the
 * pass when its time budget is spent, and reads the signals: SIGTERM stops
 * a pass between two moves, SIGHUP reloads without waiting for its end.
 */

#include <errno.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>

#include "pace.h"
#include "basic/cleanup.h"
#include "clock.h"
#include "journal.h"
#include "keys.h"
#include "notify.h"
#include "publish.h"
#include "signals.h"

/* Credit the rate limiter keeps through a pause (a scan, a yield): none to
 * speak of, so that the rate holds over any stretch of a pass. */
#define RATE_BURST_S 0.1
/* How often pressure is read again while yielding. */
#define YIELD_POLL_S 1.0

/* "/proc/pressure/io" "some avg10", percent; -errno when unavailable. */
static int pressure_io_some_avg10(double *ret)
{
	_cleanup_fclose_ FILE *f = fopen("/proc/pressure/io", "re");
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

static bool psi_missing_warned;

/* Signals and the budget: 0, or < 0 to stop. */
static int check(struct pacer *pc)
{
	struct daemon *d = pc->d;

	signals_read(d);
	if (d->stop || d->reload) {
		pc->stop = d->stop ? STOP_SHUTDOWN : STOP_RELOAD;
		pc->cancel = 1;
		if (d->stop)
			notify_stopping("stopping after the current move");
		return -ECANCELED;
	}
	if (pc->deadline && now_monotonic() >= pc->deadline) {
		pc->stop = STOP_BUDGET;
		pc->cancel = 1;
		return -ETIME;
	}
	notify_watchdog();
	return 0;
}

/* Sleep up to s seconds, awake to signals; the budget ends it too. */
static int pace_sleep(struct pacer *pc, double s)
{
	double end = now_monotonic() + s;
	int r;

	for (;;) {
		double left = end - now_monotonic();
		struct pollfd p = { .fd = pc->d->signal_fd, .events = POLLIN };
		double slice = 0.25;

		if ((r = check(pc)) < 0)
			return r;
		if (left <= 0)
			return 0;
		if (pc->deadline && pc->deadline - now_monotonic() < slice)
			slice = MAX(pc->deadline - now_monotonic(), 0.001);
		if (slice > left)
			slice = left;
		if (poll(&p, 1, (int)ceil(slice * 1000)) < 0 && errno != EINTR)
			return -errno;
	}
}

/* While I/O pressure is above the limit: no moves. */
int pace_pressure(struct pacer *pc, enum fs_phase while_high)
{
	struct fsent *f = pc->f;
	double p = 0, since = 0;
	enum fs_phase before = f->phase;
	int r = 0;

	if (f->s.pressure_limit < 0)
		return 0;
	for (;;) {
		r = pressure_io_some_avg10(&p);
		if (r < 0) {
			if (!psi_missing_warned)
				log_warning("cannot read /proc/pressure/io (%s): "
					    "pressure_limit is ignored", strerror(-r));
			psi_missing_warned = true;
			r = 0;
			break;
		}
		f->pressure = p;
		if (p <= f->s.pressure_limit)
			break;
		if (!since) {
			char a[32];
			since = now_monotonic();
			f->phase = while_high;
			if (!pc->yield_logged)
				log_fs(LOG_INFO, f->mountpoint, f->uuid, UINT64_MAX,
				       UINT64_MAX, "%s: I/O pressure %.2f above "
				       "pressure_limit %s: %s", f->mountpoint, p,
				       format_pressure(f->s.pressure_limit, a),
				       while_high == PHASE_YIELD ? "yielding" : "waiting");
			pc->yield_logged = true;
		}
		publish(pc->d, false, false);
		double t0 = now_monotonic();
		r = pace_sleep(pc, YIELD_POLL_S);
		f->pass.yield_s += now_monotonic() - t0; /* live, for the status */
		if (r < 0)
			break;
	}
	if (since) {
		f->phase = before;
		/* No credit from the pause. */
		pc->tat = now_monotonic();
		publish(pc->d, true, false);
	}
	return r;
}

int pace(uint64_t moved_bytes, void *userdata)
{
	struct pacer *pc = userdata;
	struct fsent *f = pc->f;
	int r;

	if ((r = check(pc)) < 0)
		return r;
	f->pass.moved_bytes = moved_bytes;
	f->phase = PHASE_MOVE;
	/* The status file has the bytes moved at this moment. */
	publish(pc->d, true, false);
	if (f->s.io_rate) {
		double now = now_monotonic();
		uint64_t delta = moved_bytes - pc->paid;

		pc->paid = moved_bytes;
		pc->tat = MAX(pc->tat, now - RATE_BURST_S) +
			  (double)delta / (double)f->s.io_rate;
		if (pc->tat > now && (r = pace_sleep(pc, pc->tat - now)) < 0)
			return r;
	}
	return pace_pressure(pc, PHASE_YIELD);
}
