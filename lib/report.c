/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * report: the figures of a cluster map and the bound every compaction is
 * judged against (doc/design.md).
 *
 * With C blocks per cluster and H free blocks inside non-empty clusters,
 * emptying k clusters leaves H - k*C free blocks in the non-empty ones, so
 * k <= floor(H / C); only eligible clusters (every used block movable) can
 * be emptied; and emptying the k eligible clusters with the fewest used
 * blocks moves the least data.  Hence
 *
 *     bound  = min(floor(H / C), eligible)
 *     min_io = sum of the bound smallest u_i among eligible clusters
 *
 * and the reclaim curve is the prefix sums of the sorted u_i.
 */

#include <errno.h>
#include <stdlib.h>

#include "thinpack/thinpack.h"
#include "basic/cleanup.h"
#include "basic/macros.h"

struct tp_summary *tp_summary_free(struct tp_summary *s)
{
	if (!s)
		return NULL;
	free(s->curve);
	free(s);
	return NULL;
}

TP_DEFINE_CLEANUP(struct tp_summary *, tp_summary_free)

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

int tp_summarize(const struct tp_clustermap *map, const struct tp_provmap *prov,
		 unsigned curve_points, struct tp_summary **ret)
{
	const struct tp_geometry *g = tp_clustermap_geometry(map);
	_cleanup_(tp_summary_freep) struct tp_summary *s = NULL;
	_cleanup_free_ uint32_t *victims = NULL; /* u_i of eligible clusters */
	uint64_t C = g->cluster_blocks;

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	victims = malloc(MAX(g->clusters, 1) * sizeof(*victims));
	if (!victims)
		return -ENOMEM;

	s->total = g->clusters;
	s->edge = g->edge_clusters;
	for (uint64_t i = 0; i < g->clusters; i++) {
		struct tp_cluster c;

		tp_clustermap_get(map, i, &c);
		enum tp_prov pv = tp_provmap_get(prov, i);
		if (pv != TP_PROV_UNMAPPED)
			s->provisioned++;
		if (pv == TP_PROV_SHARED)
			s->shared++;
		switch (tp_cluster_state(g, &c)) {
		case TP_CLUSTER_EMPTY:
			s->empty++;
			/* a shared one: trimming it unmaps it from the
			 * volume, yet the snapshot keeps the space */
			if (pv != TP_PROV_UNMAPPED && pv != TP_PROV_SHARED)
				s->empty_provisioned++;
			continue;
		case TP_CLUSTER_FULL:
			s->full++;
			break;
		case TP_CLUSTER_PARTIAL:
			s->partial++;
			break;
		}
		s->used_blocks += c.used;
		s->movable_blocks += c.movable;
		if (pv == TP_PROV_UNMAPPED) {
			/* never written: emptying it returns nothing, and
			 * its holes are no target (plan.c) */
			s->used_unprovisioned++;
			continue;
		}
		if (pv == TP_PROV_SHARED) {
			/* a snapshot pins it: emptying it frees nothing,
			 * and a write into it allocates (plan.c) */
			s->used_shared++;
			continue;
		}
		s->hole_blocks += C - MIN(c.used, C);
		if (tp_cluster_eligible(&c))
			victims[s->eligible++] = c.used;
		else if (tp_cluster_state(g, &c) == TP_CLUSTER_PARTIAL) {
			s->pinned++;
			for (unsigned r = 0; r < _TP_PIN_MAX; r++)
				if (c.reasons & (1u << r))
					s->pinned_by_reason[r]++;
		}
	}

	s->bound = MIN(s->hole_blocks / C, s->eligible);
	qsort(victims, s->eligible, sizeof(*victims), cmp_u32);
	for (uint64_t k = 0; k < s->bound; k++)
		s->min_io_blocks += victims[k];

	s->empty_bytes = tp_clusters_to_bytes(g, s->empty);
	s->prov_source = tp_provmap_source(prov);
	s->trim_now_bytes = tp_clusters_to_bytes(g, s->empty_provisioned);
	s->compaction_bytes = tp_clusters_to_bytes(g, s->bound);
	s->compaction_io_bytes = tp_blks_to_bytes(g, s->min_io_blocks);

	/* The curve: points at k = ceil(bound * j / n), j = 1..n, distinct. */
	if (curve_points > 0 && s->bound > 0) {
		uint64_t n = MIN((uint64_t)curve_points, s->bound);
		uint64_t k = 0, io = 0;

		s->curve = calloc(n, sizeof(*s->curve));
		if (!s->curve)
			return -ENOMEM;
		for (uint64_t j = 1; j <= n; j++) {
			uint64_t target = tp_div_round_up(s->bound * j, n);
			if (target == k)
				continue;
			for (; k < target; k++)
				io += victims[k];
			s->curve[s->n_curve++] = (struct tp_curve_point){
				.clusters = k,
				.io_bytes = tp_blks_to_bytes(g, io),
				.reclaim_bytes = tp_clusters_to_bytes(g, k),
			};
		}
	}

	*ret = TAKE_PTR(s);
	return 0;
}
