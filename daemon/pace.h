/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The pacer of a pass: the throttles (lib/throttle.h) with the daemon's
 * side of them -- signals, the watchdog, the phase, the log, the status
 * (see pace.c). */
#ifndef TP_DAEMON_PACE_H
#define TP_DAEMON_PACE_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "model.h"
#include "throttle.h"

struct pacer {
	struct daemon *d;
	struct fsent *f;
	struct tp_throttle t;   /* io_rate, pass_budget, pressure_limit */
	enum fs_phase while_high, before; /* the phases of a wait for pressure */
	uint64_t block_size;
	bool yield_logged;
	enum stop_reason stop;
	volatile sig_atomic_t cancel; /* tp_compact's stop */
};

/* A pass of f starts now: the throttles from f's settings, its budget
 * counting from here. */
void pacer_start(struct pacer *pc, struct daemon *d, struct fsent *f);
/* While I/O pressure is above the limit: no moves, f->phase is while_high.
 * 0, or < 0 to stop the pass (pc->stop says why). */
int pace_pressure(struct pacer *pc, enum fs_phase while_high);
/* tp_compact_options.pace, with pc as userdata: between two victims. */
int pace(uint64_t moved_bytes, void *userdata);

#endif
