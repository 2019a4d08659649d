/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * run: tp_compact(), the one runner of both engines.  It reads what the
 * device holds before, runs the online engine (online.c: MOVE_EXT on a
 * mounted filesystem) or the offline one (offline.c: libext2fs on an
 * unmounted one), each a table of phases timed here alike, and measures
 * what the device took back after.
 */

#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "thinpack/thinpack.h"
#include "basic/cleanup.h"
#include "basic/clock.h"
#include "compact/compact.h"
#include "plan.h"

int tp_phases_run(const struct tp_phase *phases, size_t n, void *engine,
		  struct tp_compact_result *res)
{
	int r = 0;

	for (size_t i = 0; r >= 0 && i < n; i++) {
		double t = tp_monotonic();
		r = phases[i].run(engine);
		res->phase_s[phases[i].id] += tp_monotonic() - t;
	}
	return r;
}

void tp_report_move(const struct tp_compact_options *o,
		    const struct tp_clustermap *map, struct tp_provmap *prov,
		    const struct tp_move *m, int result, enum tp_skip_reason why)
{
	struct tp_move_report r;

	/* a failed move may have written part of its target too */
	if (!o->dry_run)
		tp_provmap_note_write(prov, m->target, m->len);
	if (!o->on_move)
		return;
	tp_move_describe(map, m, result, why, &r);
	o->on_move(&r, o->userdata);
}

TP_DEFINE_CLEANUP(struct tp_provmap *, tp_provmap_free)

int tp_compact(const struct tp_device *dev, struct tp_fs *fs,
	       const struct tp_geometry *geo, const struct tp_compact_options *o,
	       struct tp_compact_result *ret)
{
	_cleanup_(tp_provmap_freep) struct tp_provmap *before = NULL;
	struct tp_prov_delta d;
	double start;
	int r;

	*ret = (struct tp_compact_result){ 0 };
	/* What the device holds, before and after: the plan neither empties
	 * nor fills clusters it holds no space for, and the reclaim that
	 * counts is the one measured there, where it can be. */
	if (tp_provmap_read(dev, geo, &before) < 0)
		before = NULL;
	/* The front ends ask tp_pool_blocker() first and say why; this is
	 * the engine's own guard. */
	if (!o->dry_run && tp_provmap_pool(before) &&
	    tp_pool_blocker(tp_provmap_pool(before), o->pool_margin) != TP_BLOCKER_NONE)
		return -ENOSPC;
	/* Offline is a placement of its own: libext2fs allocates each
	 * target exactly, on a filesystem nothing else has mounted. */
	start = tp_monotonic();
	if (o->placement == TP_PLACEMENT_OFFLINE)
		r = tp_compact_offline(dev, fs, geo, before, o, ret);
	else
		r = tp_compact_online(dev, fs, geo, before, o, ret);
	ret->elapsed_s = tp_monotonic() - start;
	if (!o->dry_run && tp_provmap_delta(dev, before, &d) >= 0) {
		ret->reclaim_measured = true;
		ret->returned_bytes = tp_clusters_to_bytes(geo, d.released);
		ret->provisioned_bytes = tp_clusters_to_bytes(geo, d.provisioned);
		ret->provisioned_by_moves_bytes =
			tp_clusters_to_bytes(geo, d.provisioned_written);
	}
	return r;
}

void tp_compact_result_clear(struct tp_compact_result *r)
{
	free(r->failed_clusters);
	*r = (struct tp_compact_result){ 0 };
}
