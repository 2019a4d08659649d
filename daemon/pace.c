/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The pace of a pass: tp_compact() calls pace() between two victims, and
 * a pass waits in pace_pressure() before its scan.  The I/O rate, the
 * yield while I/O pressure is above the limit and the time budget are the
 * library's throttle (lib/throttle.h), the one thinpack compact uses too;
 * here is what is the daemon's about them: the signals (SIGTERM stops a
 * pass between two moves, SIGHUP reloads without waiting for its end),
 * the watchdog, the phase and the bytes moved in the status, and the log.
 */

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "pace.h"
#include "journal.h"
#include "keys.h"
#include "notify.h"
#include "publish.h"
#include "signals.h"

/* Signals: 0, or < 0 to stop; the throttle checks the budget after. */
static int check(void *userdata)
{
	struct pacer *pc = userdata;
	struct daemon *d = pc->d;

	signals_read(d);
	if (d->stop || d->reload) {
		pc->stop = d->stop ? STOP_SHUTDOWN : STOP_RELOAD;
		pc->cancel = 1;
		if (d->stop)
			notify_stopping("stopping after the current move");
		return -ECANCELED;
	}
	return 0;
}

static void alive(void *userdata)
{
	(void)userdata;
	notify_watchdog();
}

static bool psi_missing_warned;

static void on_event(const struct tp_throttle *t, enum tp_throttle_event ev,
		     void *userdata)
{
	struct pacer *pc = userdata;
	struct fsent *f = pc->f;
	char a[32];

	switch (ev) {
	case TP_THROTTLE_EXPIRED:
		pc->stop = STOP_BUDGET;
		pc->cancel = 1;
		break;
	case TP_THROTTLE_PRESSURE:
		f->pressure = t->pressure;
		break;
	case TP_THROTTLE_YIELD_START:
		f->phase = pc->while_high;
		if (!pc->yield_logged)
			log_fs(LOG_INFO, f->mountpoint, f->uuid, UINT64_MAX,
			       UINT64_MAX, "%s: I/O pressure %.2f above "
			       "pressure_limit %s: %s", f->mountpoint, t->pressure,
			       format_pressure(f->s.pressure_limit, a),
			       pc->while_high == PHASE_YIELD ? "yielding" : "waiting");
		pc->yield_logged = true;
		break;
	case TP_THROTTLE_YIELD_POLL:
		publish(pc->d, false, false);
		break;
	case TP_THROTTLE_YIELD_SLEPT:
		f->pass.yield_s = t->yield_s; /* live, for the status */
		break;
	case TP_THROTTLE_YIELD_END:
		f->phase = pc->before;
		publish(pc->d, true, false);
		break;
	case TP_THROTTLE_NO_PSI:
		if (!psi_missing_warned)
			log_warning("cannot read %s (%s): pressure_limit is ignored",
				    TP_THROTTLE_PSI_PATH, strerror(-t->psi_error));
		psi_missing_warned = true;
		break;
	}
}

void pacer_start(struct pacer *pc, struct daemon *d, struct fsent *f)
{
	*pc = (struct pacer){
		.d = d,
		.f = f,
		.t = {
			.io_rate = f->s.io_rate,
			.budget_s = f->s.pass_budget,
			.pressure_limit = f->s.pressure_limit,
			.wake_fd = d->signal_fd,
			.check = check,
			.alive = alive,
			.event = on_event,
			.userdata = pc,
		},
	};
	tp_throttle_start(&pc->t);
}

/* While I/O pressure is above the limit: no moves. */
int pace_pressure(struct pacer *pc, enum fs_phase while_high)
{
	pc->while_high = while_high;
	pc->before = pc->f->phase;
	return tp_throttle_pressure(&pc->t);
}

int pace(uint64_t moved_bytes, void *userdata)
{
	struct pacer *pc = userdata;
	struct fsent *f = pc->f;
	int r;

	if ((r = tp_throttle_check(&pc->t)) < 0)
		return r;
	f->pass.moved_bytes = moved_bytes;
	f->phase = PHASE_MOVE;
	/* The status file has the bytes moved at this moment. */
	publish(pc->d, true, false);
	if ((r = tp_throttle_rate(&pc->t, moved_bytes)) < 0)
		return r;
	return pace_pressure(pc, PHASE_YIELD);
}
