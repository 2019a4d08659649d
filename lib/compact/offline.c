/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * offline: exact compaction of an unmounted filesystem or image through
 * libext2fs (lib/e2fs/).  The same scan and plan as online, every regular
 * extent-mapped file movable whatever its age, blocks allocated exactly at
 * the planned targets.
 *
 * There is no journal to lean on, so each batch of moves is ordered so
 * that an interruption at any point leaves only leaked blocks (which
 * e2fsck -p frees silently) and never loses data:
 *
 *   1. mark the targets used in the bitmaps; write bitmaps, descriptors,
 *      superblocks            (killed after: the targets are leaked)
 *   2. copy the data to the targets; sync
 *                              (killed after: the same, data twice)
 *   3. switch each extent to its target: one extent-tree node or inode
 *      written per move, never a split; sync
 *                              (killed after: the old blocks are leaked)
 *   4. mark the old blocks free; write bitmaps, descriptors, superblocks
 *
 * A switch that would need a split of its node is not made: its target is
 * freed again in step 4 and its victim stays.  Since no extent-tree block
 * is ever added or removed, i_blocks and quota usage do not change.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "thinpack/thinpack.h"
#include "basic/array.h"
#include "basic/cleanup.h"
#include "basic/macros.h"
#include "clustermap.h"
#include "e2fs/e2fs.h"
#include "kio/kio.h"
#include "compact/compact.h"
#include "plan.h"

/* A batch: this much data, or this many victims, between two rounds of
 * the four steps. */
#define BATCH_BLOCKS (64u << 20 >> 12)
#define BATCH_VICTIMS 512

struct offline {
	const struct tp_device *dev;
	struct tp_fs *fs;
	const struct tp_geometry *geo;
	const struct tp_compact_options *o;
	struct tp_provmap *prov; /* NULL: unknown */
	struct tp_compact_result *res;
	struct tp_clustermap *map;
	struct tp_plan *plan;

	/* the batch */
	struct tp_move *moves;
	int *state; /* per move: 0 allocated, 1 switched, < 0 failed */
	size_t n_moves, cap_moves, cap_state;
	uint64_t *victims;
	size_t n_victims, cap_victims;

	uint64_t *emptied; /* victims all of whose moves switched */
	size_t n_emptied, cap_emptied;
};

/* Take the next victims' moves into the batch, their targets marked used.
 * 0 when none is left. */
static int fill_batch(struct offline *x)
{
	uint64_t blocks = 0, victim;
	const struct tp_move *moves;
	unsigned round;
	size_t n;
	int r;

	x->n_moves = x->n_victims = 0;
	while (blocks < BATCH_BLOCKS && x->n_victims < BATCH_VICTIMS &&
	       !(x->o->stop && *x->o->stop) &&
	       (r = tp_plan_next(x->plan, &victim, &moves, &n, &round)) > 0) {
		bool ok = true;

		/* Offline nothing changes under us but what we do: check
		 * anyway that the files are the scan's and the targets free. */
		for (size_t i = 0; i < n && ok; i++) {
			const struct tp_rfile *f = &x->map->files[moves[i].file];
			ok = tp_fs_inode_is(x->fs, f->ino, f->generation) &&
			     tp_fs_range_free(x->fs, moves[i].target, moves[i].len);
		}
		if (!ok) {
			tp_plan_abandon(x->plan, 0);
			x->res->victims_failed++;
			x->res->skipped[TP_SKIP_CHANGED]++;
			continue;
		}
		if (TP_RESERVE(x->moves, x->cap_moves, x->n_moves + n) < 0 ||
		    TP_RESERVE(x->state, x->cap_state, x->n_moves + n) < 0 ||
		    TP_RESERVE(x->victims, x->cap_victims, x->n_victims + 1) < 0)
			return -ENOMEM;
		for (size_t i = 0; i < n; i++) {
			x->state[x->n_moves] = 0;
			x->moves[x->n_moves++] = moves[i];
			tp_fs_account(x->fs, moves[i].target, moves[i].len, +1);
			blocks += moves[i].len;
		}
		x->victims[x->n_victims++] = victim;
	}
	if (r < 0)
		return r;
	return x->n_moves > 0;
}

/* A block for a new extent-tree node (a full inode growing a level): free,
 * in a cluster that stays and is not empty, as near the goal as can be --
 * never in a victim, never in an empty cluster the pool has given back. */
static int pick_tree_block(void *userdata, uint64_t goal, uint64_t *ret)
{
	struct offline *x = userdata;
	const struct tp_geometry *g = x->geo;
	uint64_t start = tp_blk_to_cluster(g, goal);

	if (start == TP_NO_CLUSTER)
		start = 0;
	for (uint64_t d = 0; d < g->clusters; d++) {
		for (int side = 0; side < 2; side++) {
			uint64_t c = side ? start - d : start + d;
			struct tp_cluster cl;

			if ((side && (d == 0 || d > start)) || c >= g->clusters)
				continue;
			tp_clustermap_get(x->map, c, &cl);
			if (cl.used == 0 || tp_plan_is_victim(x->plan, c))
				continue;
			uint64_t b = tp_cluster_to_blk(g, c);
			if (tp_fs_find_free(x->fs, b, b + g->cluster_blocks, ret) == 0)
				return 0;
		}
	}
	return -ENOSPC;
}

/* The four steps for one batch. */
static int run_batch(struct offline *x)
{
	int r;

	/* 1. targets used, on disk */
	r = tp_fs_write_metadata(x->fs);
	if (r < 0)
		return r;

	/* 2. the data at the targets, on disk */
	for (size_t i = 0; i < x->n_moves; i++) {
		const struct tp_move *m = &x->moves[i];
		if (m->unwritten)
			continue; /* reads as zeros wherever it is */
		r = tp_fs_copy(x->fs, m->source, m->target, m->len);
		if (r < 0)
			return r;
	}
	r = tp_fs_sync(x->fs);
	if (r < 0)
		return r;

	/* 3. each extent switched, in one node write */
	for (size_t i = 0; i < x->n_moves; i++) {
		const struct tp_move *m = &x->moves[i];
		const struct tp_rfile *f = &x->map->files[m->file];
		r = tp_fs_remap(x->fs, f->ino, m->logical, m->len, m->source,
				m->target);
		if (r == -ENOSPC || r == -ESTALE) {
			enum tp_skip_reason why = r == -ENOSPC ? TP_SKIP_NO_ROOM :
								 TP_SKIP_CHANGED;
			x->state[i] = r;
			x->res->skipped[why]++;
			tp_report_move(x->o, x->map, x->prov, m, r, why);
			continue;
		}
		if (r < 0)
			return r;
		x->state[i] = 1;
		x->res->moves++;
		/* exact by construction: the target was allocated as such */
		x->res->placement.attempts++;
		x->res->placement.exact++;
		x->res->moved_bytes += tp_blks_to_bytes(x->geo, m->len);
		tp_report_move(x->o, x->map, x->prov, m, 0, 0);
	}
	r = tp_fs_sync(x->fs);
	if (r < 0)
		return r;

	/* 4. the old blocks free (or, where nothing switched, the target) */
	for (size_t i = 0; i < x->n_moves; i++) {
		const struct tp_move *m = &x->moves[i];
		if (x->state[i] == 1)
			tp_fs_account(x->fs, m->source, m->len, -1);
		else
			tp_fs_account(x->fs, m->target, m->len, -1);
	}
	r = tp_fs_write_metadata(x->fs);
	if (r < 0)
		return r;

	/* the victims all of whose moves switched */
	for (size_t v = 0, i = 0; v < x->n_victims; v++) {
		bool all = true;
		for (; i < x->n_moves && x->moves[i].victim == x->victims[v]; i++)
			all = all && x->state[i] == 1;
		if (!all) {
			x->res->victims_failed++;
			continue;
		}
		if (TP_RESERVE(x->emptied, x->cap_emptied, x->n_emptied + 1) < 0)
			return -ENOMEM;
		x->emptied[x->n_emptied++] = x->victims[v];
	}
	return 0;
}

/* Check that the victims are empty, and give their chunks back. */
static int release(struct offline *x)
{
	const struct tp_geometry *g = x->geo;
	_cleanup_close_ int fd = -1;
	bool blockdev = x->dev->kind != TP_TARGET_IMAGE;
	int r;

	if (x->o->trim && x->n_emptied) {
		fd = open(x->dev->device, O_RDWR | O_CLOEXEC);
		if (fd < 0)
			return -errno;
	}
	for (size_t i = 0; i < x->n_emptied; i++) {
		uint64_t blk = tp_cluster_to_blk(g, x->emptied[i]);
		if (!tp_fs_range_free(x->fs, blk, g->cluster_blocks)) {
			x->res->victims_refilled++;
			continue;
		}
		x->res->clusters_emptied++;
		if (fd < 0)
			continue;
		r = tp_release_range(fd, blockdev, tp_blks_to_bytes(g, blk),
				     g->granularity);
		if (r == -EOPNOTSUPP)
			break;
		if (r < 0)
			return r;
		x->res->trimmed_clusters++;
		x->res->trimmed_bytes += g->granularity;
		x->res->discarded_bytes += g->granularity;
	}
	return 0;
}

static int phase_scan(void *userdata)
{
	struct offline *x = userdata;
	struct tp_scan_options so = {
		.reverse_map = true, /* every file movable: min_age 0 */
		.progress = x->o->progress,
		.userdata = x->o->userdata,
	};
	int r = tp_scan(x->fs, x->geo, &so, &x->map);

	if (r < 0)
		return r;
	/* Unmounted, nothing changes under the scan: a block some inode maps
	 * that the bitmap calls free, or a block two owners claim, is damage.
	 * A target allocated there would overwrite live data: refuse before
	 * anything is written (and on a dry run too). */
	x->res->owned_free_ranges = x->map->stats.owned_free_ranges;
	x->res->overcounted_blocks = x->map->stats.overcounted_blocks;
	if (x->res->owned_free_ranges || x->res->overcounted_blocks)
		return -EUCLEAN;
	return 0;
}

static int phase_plan(void *userdata)
{
	struct offline *x = userdata;
	struct tp_plan_options po = {
		.max_usage = x->o->max_usage,
		.slack = x->o->slack,
		.max_io = x->o->max_io / x->geo->block_size,
		.skip = NULL,
		.prov = x->prov,
	};
	int r = tp_plan_new(x->map, &po, &x->plan);

	if (r < 0)
		return r;
	/* The map keeps what this plan needs, no more (issue 14). */
	r = tp_plan_shrink_map(x->plan, x->map);
	if (r < 0)
		return r;
	x->res->victims = tp_plan_n_victims(x->plan);
	x->res->victim_bytes = tp_plan_victim_blocks(x->plan) * x->geo->block_size;
	x->res->passes = 1;
	return 0;
}

static int phase_move(void *userdata)
{
	struct offline *x = userdata;
	int r;

	if (x->o->dry_run) {
		uint64_t victim;
		const struct tp_move *moves;
		unsigned round;
		size_t n;
		while ((r = tp_plan_next(x->plan, &victim, &moves, &n, &round)) > 0)
			for (size_t i = 0; i < n; i++)
				tp_report_move(x->o, x->map, x->prov, &moves[i], 0, 0);
	} else {
		uint64_t done = 0;
		tp_fs_set_tree_allocator(x->fs, pick_tree_block, x);
		while ((r = fill_batch(x)) > 0) {
			r = run_batch(x);
			if (r < 0)
				break;
			done += x->n_victims;
			if (x->o->progress)
				x->o->progress("move", done, x->res->victims, x->o->userdata);
		}
		tp_fs_set_tree_allocator(x->fs, NULL, NULL);
		if (x->o->stop && *x->o->stop)
			x->res->stopped = true;
	}
	if (r < 0)
		return r;
	x->res->victims_unplaced = tp_plan_unplaced(x->plan);
	return 0;
}

/* The trim of offline: the emptied clusters, checked in the bitmaps,
 * discarded (a device) or punched out (an image). */
static int phase_release(void *userdata)
{
	struct offline *x = userdata;

	return x->o->dry_run ? 0 : release(x);
}

static const struct tp_phase phases[] = {
	{ TP_PHASE_SCAN, phase_scan },
	{ TP_PHASE_PLAN, phase_plan },
	{ TP_PHASE_MOVE, phase_move },
	{ TP_PHASE_TRIM, phase_release },
};

int tp_compact_offline(const struct tp_device *dev, struct tp_fs *fs,
		       const struct tp_geometry *geo,
		       struct tp_provmap *prov,
		       const struct tp_compact_options *o,
		       struct tp_compact_result *ret)
{
	struct offline x = { .dev = dev, .fs = fs, .geo = geo, .o = o,
			     .prov = prov, .res = ret };
	int r;

	if (dev->kind == TP_TARGET_MOUNTED)
		return -EBUSY;
	r = tp_phases_run(phases, ELEMENTSOF(phases), &x, ret);
	tp_plan_free(x.plan);
	tp_clustermap_free(x.map);
	free(x.moves);
	free(x.state);
	free(x.victims);
	free(x.emptied);
	return r;
}
