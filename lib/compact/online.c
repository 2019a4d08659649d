/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * online: compaction of a mounted filesystem as a table of phases on
 * struct engine, run (and timed) by run.c, each reporting progress
 * through one callback.
 *
 *   scan  the cluster map and its reverse map (libext2fs, read-only)
 *   plan  victims, emptiest first, within the budgets
 *   move  per victim: place and move each piece (move.c); a placement that
 *         fails is planned around; a file that cannot move abandons its
 *         victim
 *   trim  commit, check with GETFSMAP which victims are empty now, FITRIM
 *         exactly those
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
#include "kio/kio.h"
#include "compact/compact.h"
#include "compact/mover.h"
#include "e2fs/e2fs.h"
#include "plan.h"

/* Rounds of victims put off until a journal commit frees their holes:
 * one commit for each round, not one for each victim. */
#define MAX_ROUNDS 3
/* Placements tried for one victim before it is given up. */
#define MAX_REPLANS 8
/* Scan-plan-move passes: a second one, on a fresh scan, finds room the
 * first one's failures left (about 3 % more clusters on aged filesystems). */
#define MAX_PASSES 3

struct engine {
	const struct tp_device *dev;
	struct tp_fs *fs;
	const struct tp_geometry *geo;
	const struct tp_compact_options *o;
	struct tp_compact_result *res;
	enum tp_placement placement; /* o->placement, or what replaced it */
	struct tp_provmap *prov; /* NULL: unknown */
	int mount_fd;
	struct tp_clustermap *map;
	struct tp_plan *plan;
	struct tp_mover mover;
	uint64_t *done;   /* victims whose every move succeeded */
	size_t n_done, cap_done;
	size_t cap_failed;
	uint64_t *skip;   /* o->skip_clusters, as cluster indexes */
	size_t n_skip;
	uint64_t keep_free; /* the first pass's reserve of hole blocks */
};

static void progress(const struct engine *e, const char *phase, uint64_t done,
		     uint64_t total)
{
	if (e->o->progress)
		e->o->progress(phase, done, total, e->o->userdata);
}

static bool stopping(const struct engine *e)
{
	return e->o->stop && *e->o->stop;
}

/* ---- scan --------------------------------------------------------------------- */

static int phase_scan(void *userdata)
{
	struct engine *e = userdata;
	struct tp_scan_options so = {
		.min_age = e->o->min_age,
		.pinned_inodes = e->o->pinned_inodes,
		.n_pinned_inodes = e->o->n_pinned_inodes,
		.reverse_map = true,
		.stop = e->o->stop,
		.progress = e->o->progress,
		.userdata = e->o->userdata,
	};
	int r = tp_scan(e->fs, e->geo, &so, &e->map);

	/* The moves ask the kernel, not the bitmaps (issue 14: memory). */
	tp_fs_drop_bitmaps(e->fs);
	if (r == -ECANCELED)
		e->res->stopped = true;
	if (r >= 0)
		e->mover.map = e->map;
	return r;
}

/* ---- plan --------------------------------------------------------------------- */

/* What is left of the I/O budget, in blocks; 0: no budget. */
static uint64_t budget_left(const struct engine *e)
{
	uint64_t moved = e->mover.moved_blocks * e->geo->block_size;

	if (!e->o->max_io)
		return 0;
	return e->o->max_io > moved ? (e->o->max_io - moved) / e->geo->block_size : 0;
}

static int phase_plan(void *userdata)
{
	struct engine *e = userdata;
	struct tp_plan_options po = {
		.max_usage = e->o->max_usage,
		.slack = e->o->slack,
		.keep_free = e->keep_free,
		.max_io = budget_left(e),
		.need_lender = e->placement == TP_PLACEMENT_BORROW,
		.skip = e->skip,
		.prov = e->prov,
		.n_skip = e->n_skip,
	};
	int r = tp_plan_new(e->map, &po, &e->plan);

	if (r < 0)
		return r;
	/* The map keeps what this plan needs, no more (issue 14). */
	r = tp_plan_shrink_map(e->plan, e->map);
	if (r < 0)
		return r;
	/* The slack is of the holes the run found: later passes keep it. */
	e->keep_free = tp_plan_reserve(e->plan);
	e->res->victims += tp_plan_n_victims(e->plan);
	e->res->victim_bytes += tp_plan_victim_blocks(e->plan) * e->geo->block_size;
	return 0;
}

/* ---- move --------------------------------------------------------------------- */

enum outcome { EMPTIED, FAILED, DEFERRED, REFUSED };

/* Move the pieces of one victim. */
static enum outcome empty_victim(struct engine *e, const struct tp_move *moves,
				 size_t n, unsigned round)
{
	unsigned replans = 0;
	size_t i = 0;

	while (i < n) {
		enum tp_skip_reason why = TP_SKIP_IO_ERROR;
		int r;

		if (e->o->dry_run) {
			tp_report_move(e->o, e->map, e->prov, &moves[i], 0, 0);
			i++;
			continue;
		}
		size_t chain = tp_mover_chain_length(&moves[i], n - i), done;
		r = tp_mover_move(&e->mover, &moves[i], chain, &done, &why);
		for (size_t k = 0; k < done; k++)
			tp_report_move(e->o, e->map, e->prov, &moves[i + k], 0, 0);
		e->res->moves += done;
		i += done;
		if (r >= 0)
			continue;
		if (e->mover.needs_commit && e->mover.may_defer) {
			if (tp_plan_defer(e->plan, i, round + 1) >= 0) {
				e->res->deferred++;
				return DEFERRED;
			}
		}
		tp_report_move(e->o, e->map, e->prov, &moves[i], r, why);
		e->res->skipped[why]++;
		if (why == TP_SKIP_UNSUPPORTED) {
			tp_plan_abandon(e->plan, i);
			return REFUSED;
		}
		if ((why == TP_SKIP_LENDER || why == TP_SKIP_HOLE_TAKEN ||
		     why == TP_SKIP_MISSED) && replans++ < MAX_REPLANS) {
			r = tp_plan_replan(e->plan, i,
					   why == TP_SKIP_LENDER ? TP_REPLAN_LENDER :
								   TP_REPLAN_HOLE,
					   &moves, &n);
			if (r > 0)
				continue; /* the same index, planned afresh */
			if (r == 0)
				e->res->skipped[TP_SKIP_NO_ROOM]++;
		} else
			tp_plan_abandon(e->plan, i);
		return FAILED;
	}
	return EMPTIED;
}

static int phase_move(void *userdata)
{
	struct engine *e = userdata;
	uint64_t total = tp_plan_n_victims(e->plan), seen = 0;
	const struct tp_move *moves;
	uint64_t victim;
	size_t n;
	int r = 0;

	if (TP_RESERVE(e->done, e->cap_done, e->n_done + total) < 0)
		return -ENOMEM;
	unsigned round, committed = 0;
	e->mover.may_defer = !e->o->dry_run;
	while (!stopping(e) &&
	       (r = tp_plan_next(e->plan, &victim, &moves, &n, &round)) > 0) {
		if (e->o->pace && !e->o->dry_run &&
		    e->o->pace(e->mover.moved_blocks * e->geo->block_size,
			       e->o->userdata) < 0) {
			tp_plan_abandon(e->plan, 0);
			e->res->stopped = true;
			break;
		}
		if (round > committed) {
			/* The victims put off: one commit frees their holes. */
			r = tp_mover_commit(&e->mover);
			if (r < 0)
				return r;
			committed = round;
		}
		e->mover.may_defer = !e->o->dry_run && round < MAX_ROUNDS;
		switch (empty_victim(e, moves, n, round)) {
		case EMPTIED:
			e->done[e->n_done++] = victim;
			break;
		case FAILED:
			e->res->victims_failed++;
			if (TP_RESERVE(e->res->failed_clusters, e->cap_failed,
				       e->res->n_failed_clusters + 1) >= 0)
				e->res->failed_clusters[e->res->n_failed_clusters++] =
					e->geo->first_cluster + victim;
			break;
		case DEFERRED:
			continue;
		case REFUSED:
			/* MOVE_EXT refused a file no attribute pins (the scan
			 * and the mover both look): the mount refuses every
			 * file -- data=journal, or an option of a newer
			 * kernel.  Stop, to be said once, not once a file. */
			e->res->move_refused = true;
			e->res->victims_failed++;
			e->res->moved_bytes = e->mover.moved_blocks * e->geo->block_size;
			return -EOPNOTSUPP;
		}
		seen++;
		progress(e, "move", seen, total);
	}
	if (stopping(e))
		e->res->stopped = true;
	else if (r < 0)
		return r;
	e->res->victims_unplaced += tp_plan_unplaced(e->plan);
	e->res->moved_bytes = e->mover.moved_blocks * e->geo->block_size;
	return 0;
}

/* ---- trim --------------------------------------------------------------------- */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* An empty cluster to trim, and where the free extent that holds its
 * first block ends (what one FITRIM from there discards). */
struct empty {
	uint64_t cluster, free_end;
};

static int cmp_empty(const void *a, const void *b)
{
	const struct empty *x = a, *y = b;
	return cmp_u64(&x->cluster, &y->cluster);
}

/* Whether cluster c is free now; if so, append it to todo. */
static int cluster_free(const struct engine *e, uint64_t c, struct empty *todo,
			size_t *n, bool *ret_free)
{
	const struct tp_geometry *g = e->geo;
	uint64_t blk = tp_cluster_to_blk(g, c), end = 0;
	int r;

	r = tp_fsmap_free_extent(e->mount_fd, e->dev->devno, g->block_size, blk,
				 g->cluster_blocks, ret_free, &end);
	if (r >= 0 && *ret_free)
		todo[(*n)++] = (struct empty){ c, end };
	return r;
}

/*
 * FITRIM clusters, in ascending order.  The kernel discards each free
 * extent that starts in the range to its end: a run of free clusters is
 * discarded by the first FITRIM, and the ones it covered are skipped,
 * rather than discarded again and again.
 */
static int trim_clusters(struct engine *e, struct empty *todo, size_t n,
			 uint64_t *ret_count)
{
	const struct tp_geometry *g = e->geo;
	uint64_t covered = 0, count = 0;
	int r;

	if (n)
		qsort(todo, n, sizeof(*todo), cmp_empty);
	for (size_t i = 0; i < n; i++) {
		uint64_t c = todo[i].cluster, blk = tp_cluster_to_blk(g, c), trimmed = 0;

		if (i > 0 && c == todo[i - 1].cluster)
			continue;
		if (blk + g->cluster_blocks <= covered) {
			count++; /* discarded with the run before it */
			continue;
		}
		covered = todo[i].free_end;
		r = tp_fitrim(e->mount_fd, tp_blks_to_bytes(g, blk), g->granularity,
			      g->granularity, &trimmed);
		if (r == -EOPNOTSUPP)
			return 0; /* no discard after all */
		if (r < 0)
			return r;
		e->res->discarded_bytes += trimmed;
		count++;
		progress(e, "trim", i + 1, n);
	}
	*ret_count = count;
	return 0;
}

static int trim_emptied(struct engine *e)
{
	const struct tp_geometry *g = e->geo;
	struct tp_placer *p = &e->mover.placer;
	_cleanup_free_ struct empty *todo = NULL;
	_cleanup_free_ uint64_t *dirty = NULL;
	size_t n = 0, n_dirty = 0;
	bool empty;
	int r;

	if (e->o->dry_run)
		return 0;
	/* Freed blocks show as free, and can be trimmed, once committed. */
	r = tp_mover_commit(&e->mover);
	if (r < 0)
		return r;
	todo = malloc((e->n_done + p->n_dirty + 1) * sizeof(*todo));
	dirty = malloc((p->n_dirty + 1) * sizeof(*dirty));
	if (!todo || !dirty)
		return -ENOMEM;
	for (size_t i = 0; i < e->n_done; i++) {
		r = cluster_free(e, e->done[i], todo, &n, &empty);
		if (r < 0)
			return r;
		if (empty)
			e->res->clusters_emptied++;
		else
			/* Something took a block of it meanwhile: most often an
			 * extent-tree block of a file whose extents the moves
			 * split, or another writer. */
			e->res->victims_refilled++;
	}
	if (!e->o->trim)
		return 0;
	size_t victims = n;
	/* The clusters placement wrote to outside the targets (borrow slots,
	 * missed first blocks): a thin pool allocated their chunks; those
	 * empty again are trimmed too.  Each looked at once: the slots of a
	 * run crowd into a few clusters, and every look is a GETFSMAP call
	 * whose cost grows with the filesystem. */
	qsort(todo, victims, sizeof(*todo), cmp_empty);
	for (size_t i = 0; i < p->n_dirty; i++) {
		struct empty key = { tp_blk_to_cluster(g, p->dirty[i]), 0 };
		if (key.cluster != TP_NO_CLUSTER &&
		    !bsearch(&key, todo, victims, sizeof(*todo), cmp_empty))
			dirty[n_dirty++] = key.cluster;
	}
	qsort(dirty, n_dirty, sizeof(*dirty), cmp_u64);
	for (size_t i = 0; i < n_dirty; i++) {
		if (i > 0 && dirty[i] == dirty[i - 1])
			continue;
		r = cluster_free(e, dirty[i], todo, &n, &empty);
		if (r < 0)
			return r;
	}
	uint64_t count = 0;
	r = trim_clusters(e, todo, n, &count);
	if (r < 0)
		return r;
	if (count > 0) {
		e->res->trimmed_clusters = victims;
		e->res->trimmed_bytes = tp_clusters_to_bytes(g, victims);
		e->res->retrimmed_clusters = count > victims ? count - victims : 0;
	}
	return 0;
}

/* What the moves did stands whatever trim says: a failure there (no
 * CAP_SYS_ADMIN, a device that stopped taking discards) is recorded, not
 * returned. */
static int phase_trim(void *userdata)
{
	struct engine *e = userdata;

	e->res->trim_error = trim_emptied(e);
	return 0;
}

/* The phases of a pass; trim runs once, after the last pass. */
static const struct tp_phase pass_phases[] = {
	{ TP_PHASE_SCAN, phase_scan },
	{ TP_PHASE_PLAN, phase_plan },
	{ TP_PHASE_MOVE, phase_move },
};
static const struct tp_phase last_phases[] = {
	{ TP_PHASE_TRIM, phase_trim },
};

/* Start another pass on a fresh scan: what the moves freed is committed,
 * and libext2fs reads the bitmaps anew. */
static int next_pass(struct engine *e, struct tp_fs **own)
{
	int r;

	r = tp_mover_commit(&e->mover);
	if (r < 0)
		return r;
	e->plan = tp_plan_free(e->plan);
	e->map = tp_clustermap_free(e->map);
	e->mover.map = NULL;
	*own = tp_fs_close(*own);
	r = tp_fs_open(e->dev, own);
	if (r < 0)
		return r;
	e->fs = *own;
	return 0;
}

/* The front ends ask tp_compaction_blocker() first and say why; this is
 * the engine's own guard. */
/* A borrow slot (the lender's block, for a moment) may go where the
 * device backs the cluster for this volume alone, or into an empty one it
 * does not back: that chunk is backed for the moment and trimmed again
 * with the emptied clusters -- unless the filesystem's disk starts off
 * the pool's blocks, where a lone cluster's discard returns nothing (the
 * kernel cuts it at the disk's own boundaries, lib/provision.c).  Not
 * into a cluster shared with a snapshot (the write breaks the sharing for
 * good), nor into one in use that the device never backed (inode tables
 * left to lazy init, preallocated files): nothing trims that chunk
 * again. */
static bool slot_may_write(void *userdata, uint64_t blk)
{
	const struct engine *e = userdata;
	const struct tp_pool *pool = tp_provmap_pool(e->prov);
	uint64_t c = tp_blk_to_cluster(e->geo, blk);

	if (c == TP_NO_CLUSTER)
		return true; /* an edge cluster: unknown, as without a map */
	switch (tp_provmap_get(e->prov, c)) {
	case TP_PROV_SHARED:
		return false;
	case TP_PROV_UNMAPPED:
		return e->map && e->map->used[c] == 0 &&
		       (!pool || pool->disk_offset % pool->block_size == 0);
	default:
		return true;
	}
}

static int check_target(const struct tp_device *dev, struct tp_fs *fs)
{
	switch (tp_compaction_blocker(dev, tp_fs_get_info(fs), TP_CHECK_ONLINE)) {
	case TP_BLOCKER_NONE:
		return 0;
	case TP_BLOCKER_READ_ONLY:
		return -EROFS;
	default:
		return -EOPNOTSUPP;
	}
}

/* fd, opened on dev's mount point, is on dev: -ESTALE if not. */
static int check_mount_fd(int fd, const struct tp_device *dev)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (st.st_dev != dev->devno)
		return -ESTALE;
	return 0;
}

int tp_compact_online(const struct tp_device *dev, struct tp_fs *fs,
		      const struct tp_geometry *geo,
		      struct tp_provmap *prov,
		      const struct tp_compact_options *o,
		      struct tp_compact_result *ret)
{
	struct engine e = { .dev = dev, .fs = fs, .geo = geo, .o = o,
			    .res = ret, .placement = o->placement, .prov = prov,
			    .mount_fd = -1 };
	int r;

	r = check_target(dev, fs);
	if (r < 0)
		return r;
	if (o->n_skip_clusters) {
		e.skip = malloc(o->n_skip_clusters * sizeof(*e.skip));
		if (!e.skip)
			return -ENOMEM;
		for (size_t i = 0; i < o->n_skip_clusters; i++)
			if (o->skip_clusters[i] >= geo->first_cluster &&
			    o->skip_clusters[i] - geo->first_cluster < geo->clusters)
				e.skip[e.n_skip++] = o->skip_clusters[i] - geo->first_cluster;
	}
	e.mount_fd = open(dev->mountpoint, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (e.mount_fd < 0) {
		r = -errno;
		free(e.skip);
		return r;
	}
	/* The mount point is a path: something else may be mounted there
	 * since the device was resolved.  Everything after this goes
	 * through the descriptor, so checking it once is enough. */
	r = check_mount_fd(e.mount_fd, dev);
	if (r < 0) {
		close(e.mount_fd);
		free(e.skip);
		return r;
	}
	e.mover = (struct tp_mover){
		.mount_fd = e.mount_fd,
		.dev = dev->devno,
		.block_size = geo->block_size,
		.fast_commit = tp_fs_get_info(fs)->fast_commit,
	};
	r = tp_placer_init(&e.mover.placer, e.placement, e.mount_fd,
			   geo->block_size, o->fallocate2_nr);
	if (r == -ENOSYS && e.placement == TP_PLACEMENT_FALLOCATE2) {
		/* No fallocate2 in this kernel: borrow, which any has. */
		e.placement = TP_PLACEMENT_BORROW;
		ret->fallocate2_missing = true;
		r = tp_placer_init(&e.mover.placer, e.placement, e.mount_fd,
				   geo->block_size, o->fallocate2_nr);
	}
	e.mover.placer.may_write = slot_may_write;
	e.mover.placer.may_write_data = &e;
	struct tp_fs *own = NULL;
	for (unsigned pass = 0; r >= 0 && pass < (o->dry_run ? 1 : MAX_PASSES); pass++) {
		size_t emptied_before = e.n_done;

		if (pass > 0 && (r = next_pass(&e, &own)) < 0)
			break;
		r = tp_phases_run(pass_phases, ELEMENTSOF(pass_phases), &e, ret);
		if (r == -ECANCELED && ret->stopped)
			r = 0; /* stopped during a scan: what was done stands */
		ret->passes++;
		if (ret->stopped || e.n_done == emptied_before ||
		    (o->max_io && budget_left(&e) == 0))
			break;
	}
	if (r >= 0)
		r = tp_phases_run(last_phases, ELEMENTSOF(last_phases), &e, ret);
	ret->placement = e.mover.placer.stats;
	tp_placer_done(&e.mover.placer);
	tp_mover_done(&e.mover);

	tp_plan_free(e.plan);
	tp_clustermap_free(e.map);
	tp_fs_close(own);
	free(e.done);
	free(e.skip);
	close(e.mount_fd);
	return r;
}

int tp_trim_empty(const struct tp_device *dev, struct tp_fs *fs,
		  const struct tp_geometry *g, uint64_t *ret_clusters,
		  uint64_t *ret_bytes)
{
	_cleanup_close_ int fd = -1;
	struct tp_clustermap *map = NULL;
	struct tp_scan_options so = { 0 };
	uint64_t clusters = 0, bytes = 0;
	int r;

	if (dev->kind != TP_TARGET_MOUNTED || !dev->mountpoint)
		return -ENOTCONN;
	fd = open(dev->mountpoint, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	r = check_mount_fd(fd, dev);
	if (r < 0)
		return r;
	r = tp_journal_commit(fd, tp_fs_get_info(fs)->fast_commit);
	if (r < 0)
		return r;
	r = tp_scan(fs, g, &so, &map);
	if (r < 0)
		return r;
	/* Runs of empty clusters, one FITRIM each. */
	for (uint64_t c = 0; c < g->clusters && r >= 0;) {
		struct tp_cluster cl;
		tp_clustermap_get(map, c, &cl);
		if (cl.used) {
			c++;
			continue;
		}
		uint64_t end = c + 1, trimmed = 0;
		for (; end < g->clusters; end++) {
			tp_clustermap_get(map, end, &cl);
			if (cl.used)
				break;
		}
		r = tp_fitrim(fd, tp_blks_to_bytes(g, tp_cluster_to_blk(g, c)),
			      tp_clusters_to_bytes(g, end - c), g->granularity,
			      &trimmed);
		if (r >= 0) {
			clusters += end - c;
			bytes += trimmed;
		}
		c = end;
	}
	tp_clustermap_free(map);
	if (r < 0)
		return r;
	*ret_clusters = clusters;
	*ret_bytes = bytes;
	return 0;
}
