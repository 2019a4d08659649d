/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * thinpack compact --io-rate, --time-budget, --pressure-limit: thinpackd's
 * throttles on the command line.  The mechanism -- the rate's schedule,
 * the deadline, reading and waiting out the pressure -- is the library's
 * (lib/throttle.h), the one thinpackd runs; here is only what is the
 * command line's: the options, a line on stderr when the run waits for
 * the pressure, and what the summary and the JSON say of a stop.
 */

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "thinpack.h"

/* Default off, each of them: a run by hand goes as fast as it can. */
void compact_throttle_init(struct compact_throttle *th)
{
	*th = (struct compact_throttle){
		.t = { .pressure_limit = TP_THROTTLE_OFF, .wake_fd = -1,
		       .pressure = -1 },
	};
}

int compact_throttle_option(struct compact_throttle *th, const char *opt,
			    const char *arg)
{
	struct tp_throttle *t = &th->t;
	int r;

	if (strcmp(opt, "--io-rate") == 0) {
		r = tp_throttle_parse_rate(arg, &t->io_rate);
		if (r == -ENOMEM)
			return log_error_errno(r, "--io-rate");
		/* 0 is thinpackd's "no limit"; here leaving the option out
		 * says that. */
		if (r < 0 || t->io_rate == 0) {
			log_error("--io-rate '%s': expected bytes per second above 0, "
				  "like 512K, 20M or 1G (leave the option out for no "
				  "limit)", arg);
			return -EINVAL;
		}
		return 0;
	}
	if (strcmp(opt, "--time-budget") == 0) {
		/* 0 is thinpackd's "no limit"; here leaving the option out
		 * says that, and a budget of nothing would do nothing. */
		if (tp_parse_duration(arg, &t->budget_s) < 0 || t->budget_s == 0) {
			log_error("--time-budget '%s': expected a duration above 0, like "
				  "30s, 15m, 1h or 1h30m (leave the option out for no "
				  "budget)", arg);
			return -EINVAL;
		}
		return 0;
	}
	if (tp_throttle_parse_pressure(arg, &t->pressure_limit) < 0) {
		log_error("%s '%s': expected a percentage of I/O pressure from 0 to "
			  "100 (some avg10 of %s), or off", opt, arg,
			  TP_THROTTLE_PSI_PATH);
		return -EINVAL;
	}
	return 0;
}

/* SIGINT and SIGTERM: the run's stop flag, seen at every check, which
 * also comes four times a second while the throttle sleeps. */
static int check(void *userdata)
{
	const struct compact_throttle *th = userdata;

	return th->stop && *th->stop ? -ECANCELED : 0;
}

static void on_event(const struct tp_throttle *t, enum tp_throttle_event ev,
		     void *userdata)
{
	struct compact_throttle *th = userdata;

	switch (ev) {
	case TP_THROTTLE_YIELD_START:
		/* Once a run: it may yield a hundred times. */
		if (!th->yield_said)
			log_notice("%s: I/O pressure %.2f above --pressure-limit %g: "
				   "waiting, and whenever it is above again", th->path,
				   t->pressure, t->pressure_limit);
		th->yield_said = true;
		break;
	case TP_THROTTLE_NO_PSI:
		log_warning("cannot read %s (%s): --pressure-limit is ignored",
			    TP_THROTTLE_PSI_PATH, strerror(-t->psi_error));
		break;
	default:
		break;
	}
}

int compact_throttle_begin(struct compact_throttle *th, const char *path,
			   const volatile sig_atomic_t *stop)
{
	struct tp_throttle *t = &th->t;

	th->path = path;
	th->stop = stop;
	t->check = check;
	t->event = on_event;
	t->userdata = th;
	tp_throttle_start(t);
	/* A scan is I/O too: as a thinpackd pass, not while the device is
	 * busy.  The budget counts from here. */
	return tp_throttle_pressure(t);
}

/* Clusters chosen and neither emptied nor given up on: left for another
 * run. */
static uint64_t victims_left(const struct tp_compact_result *res)
{
	uint64_t done = res->clusters_emptied + res->victims_failed +
			res->victims_unplaced + res->victims_refilled;

	return res->victims > done ? res->victims - done : 0;
}

const char *compact_stop_reason(const struct compact_throttle *th,
				const struct tp_compact_result *res)
{
	if (!res->stopped)
		return NULL;
	return th->t.expired ? "time_budget" : "signal";
}

void compact_throttle_print(const struct compact_throttle *th,
			    const struct tp_compact_result *res)
{
	const struct tp_throttle *t = &th->t;
	char a[TP_SIZE_STR_MAX], b[TP_SIZE_STR_MAX];

	/* Not started: no throttle, or a dry run, which moves nothing. */
	if (!t->start)
		return;
	if (t->io_rate || t->yield_s > 0)
		printf("  throttled: %.1f s for --io-rate %s/s, %.1f s waiting for I/O "
		       "pressure\n", t->rate_s, tp_format_size(t->io_rate, a),
		       t->yield_s);
	if (!t->expired)
		return;
	if (res->passes == 0) {
		printf("  stopped early: --time-budget %s spent waiting for the I/O "
		       "pressure to fall, before the scan; nothing moved\n",
		       tp_format_duration(t->budget_s, a));
		return;
	}
	printf("  stopped early: --time-budget %s spent; %" PRIu64 " of %" PRIu64
	       " clusters chosen left for the next run (%s of their data not "
	       "moved)\n", tp_format_duration(t->budget_s, a),
	       victims_left(res), res->victims,
	       tp_format_size(res->victim_bytes > res->moved_bytes ?
				      res->victim_bytes - res->moved_bytes : 0, b));
}

void compact_throttle_json(json_object *j, const struct compact_throttle *th,
			   const struct tp_compact_result *res, bool dry_run)
{
	const struct tp_throttle *t = &th->t;
	const char *why = compact_stop_reason(th, res);
	json_object *o;

	/* A dry run moves nothing: it is neither throttled nor stopped. */
	if (dry_run)
		return;
	o = json_object_new_object();

	json_object_object_add(j, "stop_reason",
			       why ? json_object_new_string(why) : NULL);
	json_add_u64(j, "victims_left", victims_left(res));
	json_object_object_add(o, "io_rate", t->io_rate ?
			       json_object_new_uint64(t->io_rate) : NULL);
	json_object_object_add(o, "time_budget_s", t->budget_s ?
			       json_object_new_uint64(t->budget_s) : NULL);
	json_object_object_add(o, "pressure_limit", t->pressure_limit >= 0 ?
			       json_object_new_double(t->pressure_limit) : NULL);
	json_object_object_add(o, "pressure", t->pressure >= 0 ?
			       json_object_new_double(t->pressure) : NULL);
	json_object_object_add(o, "rate_wait_s", json_object_new_double(t->rate_s));
	json_object_object_add(o, "pressure_wait_s", json_object_new_double(t->yield_s));
	json_object_object_add(j, "throttle", o);
}
