/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The throttles of a compaction, one implementation for thinpack compact
 * (--io-rate, --time-budget, --pressure-limit) and thinpackd (io_rate,
 * pass_budget, pressure_limit):
 *
 * rate      a schedule of theoretical arrival times (GCRA): the next victim
 *           may start once the bytes moved before it have been paid for at
 *           the rate.  The credit kept through a pause (a scan, a yield) is
 *           a tenth of a second, so that the rate holds over any stretch of
 *           a run, not only on average.
 * budget    a deadline: no victim starts once it has passed, and a wait
 *           (for the rate, for the pressure) ends there.
 * pressure  /proc/pressure/io "some avg10" (the share of the last ten
 *           seconds in which some task waited for I/O; the run's own I/O
 *           counts too), read before each victim and every second while it
 *           stays above the limit: nothing moves meanwhile.
 *
 * A front end sets the three, tp_throttle_start()s it, and passes
 * tp_throttle_pace() (or its parts, with its own bookkeeping between
 * them) as tp_compact_options.pace.  Its own reasons to stop (signals) go
 * in check(); what the waits do is told to event(): the library prints
 * nothing, the front end says it in its own way (a line on stderr, the
 * journal and the status file).
 *
 * Between two victims, not between two moves: one victim's data is a
 * cluster's worth at most, which takes milliseconds to move.
 */
#ifndef TP_THROTTLE_H
#define TP_THROTTLE_H

#include <stdbool.h>
#include <stdint.h>

#include "basic/clock.h"

/* Where the pressure is read unless psi_path says otherwise. */
#define TP_THROTTLE_PSI_PATH "/proc/pressure/io"

enum tp_throttle_event {
	TP_THROTTLE_EXPIRED,     /* the budget ran out: the wait or the run
				  * ends with -ETIME */
	TP_THROTTLE_PRESSURE,    /* a reading, in pressure */
	TP_THROTTLE_YIELD_START, /* above the limit: nothing moves until it
				  * falls (the first reading of a wait) */
	TP_THROTTLE_YIELD_POLL,  /* still above: about to sleep a second */
	TP_THROTTLE_YIELD_SLEPT, /* ... slept; yield_s has it */
	TP_THROTTLE_YIELD_END,   /* the wait is over: the pressure fell, or
				  * a stop ended it */
	TP_THROTTLE_NO_PSI,      /* the pressure cannot be read (psi_error):
				  * the limit is ignored; once a throttle */
};

struct tp_throttle {
	/* What to hold; all off when zero, but pressure_limit, which is
	 * off below 0 (TP_THROTTLE_OFF), since 0 is a limit: "no pressure
	 * at all". */
	uint64_t io_rate;      /* bytes moved per second; 0: no limit */
	uint64_t budget_s;     /* seconds from tp_throttle_start(); 0: none */
	double pressure_limit; /* percent of "some avg10"; < 0: off */
	const char *psi_path;  /* NULL: TP_THROTTLE_PSI_PATH */
	/* Polled while sleeping, when >= 0 (a signalfd): what arrives
	 * there wakes the sleep, and check() sees it at once. */
	int wake_fd;

	/* The front end's side, each optional, with userdata. */
	/* Its own reasons to stop, asked before the budget at every check
	 * (before each victim, and four times a second while waiting):
	 * 0, or < 0 to stop with that. */
	int (*check)(void *userdata);
	/* After every check that lets the run go on (a service feeds its
	 * watchdog there). */
	void (*alive)(void *userdata);
	void (*event)(const struct tp_throttle *t, enum tp_throttle_event ev,
		      void *userdata);
	void *userdata;

	/* State; the front end reads it. */
	double start;       /* tp_monotonic() (basic/clock.h) seconds */
	double deadline;    /* 0: no budget */
	double tat;         /* when the next victim may start */
	uint64_t paid;      /* bytes accounted in tat */
	double pressure;    /* the last reading; < 0: none yet */
	int psi_error;      /* why the pressure could not be read, or 0 */
	bool expired;       /* the budget ran out */
	bool yielding;      /* waiting for the pressure to fall */
	double rate_s;      /* time slept for the rate */
	double yield_s;     /* time waited for the pressure */
};

#define TP_THROTTLE_OFF (-1.0)

/* Set the state for a run that starts now, from io_rate, budget_s and
 * pressure_limit as they are (fields a caller left unset in an
 * initialiser: no rate, no budget, but a pressure limit of 0 -- set
 * pressure_limit to TP_THROTTLE_OFF for none). */
void tp_throttle_start(struct tp_throttle *t);
/* Whether any of the three is on. */
bool tp_throttle_active(const struct tp_throttle *t);

/* check(), then the budget (-ETIME once it has run out), then alive(). */
int tp_throttle_check(struct tp_throttle *t);
/* Sleep s seconds, checking four times a second and as wake_fd says:
 * 0, or the first check that stops (the budget ends a sleep on time). */
int tp_throttle_sleep(struct tp_throttle *t, double s);
/* No credit for the time before now (a scan, a pause): the rate counts
 * from here. */
void tp_throttle_rate_restart(struct tp_throttle *t);
/* Pay for the bytes moved since the last call (moved_bytes is the run's
 * total) and sleep until the schedule lets the next victim start. */
int tp_throttle_rate(struct tp_throttle *t, uint64_t moved_bytes);
/* While the pressure is above the limit: nothing, a second at a time.
 * 0 at once when the limit is off or the pressure cannot be read. */
int tp_throttle_pressure(struct tp_throttle *t);
/* The three, as tp_compact_options.pace with t as userdata: check, rate,
 * pressure.  0, or < 0 to stop the run (-ETIME: the budget). */
int tp_throttle_pace(uint64_t moved_bytes, void *userdata);

/* What administrators write, for both front ends alike. */
/* "8M", "8M/s", "512KiB", "0": bytes per second, sizes as tp_parse_size()
 * reads them.  -EINVAL: not one. */
int tp_throttle_parse_rate(const char *s, uint64_t *ret);
/* "10", "2.5", "0" to "100", or "off" (TP_THROTTLE_OFF).  -EINVAL: not one;
 * -ERANGE: above 100. */
int tp_throttle_parse_pressure(const char *s, double *ret);

#endif
