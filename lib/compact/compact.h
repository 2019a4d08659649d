/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the phase runner (run.c) and the two engines it runs, online.c and
 * offline.c, share.  Each engine is a table of phases on a state of its
 * own; run.c's tp_compact() picks the engine, measures what the device
 * took back around it, and times every phase the same way.
 */
#ifndef TP_COMPACT_H
#define TP_COMPACT_H

#include <stddef.h>

#include "thinpack/thinpack.h"

struct tp_move; /* plan.h */

/* Where a phase's time goes: tp_compact_result.phase_s[]. */
enum tp_phase_id {
	TP_PHASE_SCAN,
	TP_PHASE_PLAN,
	TP_PHASE_MOVE,
	TP_PHASE_TRIM,
	_TP_PHASE_MAX,
};

struct tp_phase {
	enum tp_phase_id id;
	int (*run)(void *engine);
};

/* Run phases in order, adding each one's time to res->phase_s[]; the
 * first that fails stops the rest, and its -errno is returned. */
int tp_phases_run(const struct tp_phase *phases, size_t n, void *engine,
		  struct tp_compact_result *res);


/* Tell o->on_move, if any, how move m of map went; note its target as
 * written in prov (may be NULL) unless a dry run. */
void tp_report_move(const struct tp_compact_options *o,
		    const struct tp_clustermap *map, struct tp_provmap *prov,
		    const struct tp_move *m, int result, enum tp_skip_reason why);

/* The engines: tp_compact() without the measurement around it. */
int tp_compact_online(const struct tp_device *dev, struct tp_fs *fs,
		      const struct tp_geometry *geo,
		      struct tp_provmap *prov,
		      const struct tp_compact_options *o,
		      struct tp_compact_result *ret);
/* fs opened with tp_fs_open_rw() (tp_fs_open() for a dry run). */
int tp_compact_offline(const struct tp_device *dev, struct tp_fs *fs,
		       const struct tp_geometry *geo,
		       struct tp_provmap *prov,
		       const struct tp_compact_options *o,
		       struct tp_compact_result *ret);

#endif
