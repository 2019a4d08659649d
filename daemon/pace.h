/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The pacer of a pass: I/O rate, I/O pressure, time budget, signals (see
 * pace.c). */
#ifndef TP_DAEMON_PACE_H
#define TP_DAEMON_PACE_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "model.h"

struct pacer {
	struct daemon *d;
	struct fsent *f;
	double start, deadline; /* monotonic; deadline 0: no budget */
	double tat;             /* when the next victim may start */
	uint64_t paid;          /* bytes accounted in tat */
	uint64_t block_size;
	bool yield_logged;
	enum stop_reason stop;
	volatile sig_atomic_t cancel; /* tp_compact's stop */
};

/* While I/O pressure is above the limit: no moves, f->phase is while_high.
 * 0, or < 0 to stop the pass (pc->stop says why). */
int pace_pressure(struct pacer *pc, enum fs_phase while_high);
/* tp_compact_options.pace, with pc as userdata: between two victims. */
int pace(uint64_t moved_bytes, void *userdata);

#endif
