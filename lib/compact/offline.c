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
 *      written per move, never a split (an inode whose root is full
 *      grows a level: the new leaf first, then the bitmaps, one flush for
 *      all the leaves of the batch, then the inode); sync
 *                              (killed after: the old blocks are leaked)
 *   4. mark the old blocks free; write bitmaps, descriptors, superblocks
 *
 * Step 4 of one batch and step 1 of the next are one write: the bitmaps
 * then free the old blocks of the one (switched and synced in its step 3)
 * and mark the targets of the other (no data there yet); a write cut
 * short leaves leaks of either kind, nothing worse.  The copies of step 2
 * are batched too: the whole batch's reads in flight at once, then one
 * read per run of contiguous sources and one write per run of contiguous
 * targets (copy_data()), and one sync for them all.
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
/* A batch's data goes through one buffer of this size: its pieces in the
 * order of their targets, read in one read where their sources follow one
 * another, written in one write where their targets do. */
#define COPY_BYTES (2u << 20)
/* The readahead hints of a batch, at most this much each (the kernel
 * reads no more than its readahead window for one anyway). */
#define READAHEAD_BYTES (128u << 10)

/* A piece of a move's data: blocks [src, src + len) to dst. */
struct copy {
	uint64_t src, dst, len;
};

/* Per move of a batch, in x->state. */
enum {
	MOVE_ALLOCATED = 0, /* its target used, nothing switched */
	MOVE_SWITCHED = 1,
	MOVE_GROWN = 2, /* switched once tp_fs_remap_finish() writes its inode */
};

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
	int *state; /* per move: MOVE_*, or < 0 failed */
	size_t n_moves, cap_moves, cap_state;
	uint64_t *victims;
	size_t n_victims, cap_victims;

	uint64_t *emptied; /* victims all of whose moves switched */
	size_t n_emptied, cap_emptied;

	struct copy *copies; /* the batch's data, in pieces of COPY_BYTES at most */
	size_t n_copies, cap_copies;
	void *buf; /* COPY_BYTES */
};

/* Replans of a victim whose targets were taken since it was planned. */
#define MAX_REPLANS 8

/* The first of moves[0, n) whose target is not free, or n; *ret_gone: a
 * file is not the scan's (never, offline, but checked). */
static size_t first_unready(const struct offline *x, const struct tp_move *moves,
			    size_t n, bool *ret_gone)
{
	*ret_gone = false;
	for (size_t i = 0; i < n; i++) {
		const struct tp_rfile *f = &x->map->files[moves[i].file];
		if (!tp_fs_inode_is(x->fs, f->ino, f->generation)) {
			*ret_gone = true;
			return i;
		}
		if (!tp_fs_range_free(x->fs, moves[i].target, moves[i].len))
			return i;
	}
	return n;
}

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
		/* Offline nothing changes under us but what we do: check
		 * anyway that the files are the scan's and the targets free.
		 * What we do: an inode that grew a level in an earlier batch
		 * took its new leaf where pick_tree_block() found room, and
		 * that may be in a hole the plan has given to this victim
		 * since: its data goes elsewhere. */
		bool gone = false;
		size_t bad = first_unready(x, moves, n, &gone);
		unsigned replans = 0;
		int rr = 1;
		while (!gone && bad < n && replans++ < MAX_REPLANS) {
			rr = tp_plan_replan(x->plan, bad, TP_REPLAN_HOLE, &moves, &n);
			if (rr < 0)
				return rr;
			if (rr == 0)
				break; /* nowhere else */
			bad = first_unready(x, moves, n, &gone);
		}
		if (gone || bad < n) {
			tp_plan_abandon(x->plan, 0);
			x->res->victims_failed++;
			x->res->skipped[rr == 0 ? TP_SKIP_NO_ROOM : TP_SKIP_CHANGED]++;
			continue;
		}
		if (TP_RESERVE(x->moves, x->cap_moves, x->n_moves + n) < 0 ||
		    TP_RESERVE(x->state, x->cap_state, x->n_moves + n) < 0 ||
		    TP_RESERVE(x->victims, x->cap_victims, x->n_victims + 1) < 0)
			return -ENOMEM;
		for (size_t i = 0; i < n; i++) {
			x->state[x->n_moves] = MOVE_ALLOCATED;
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

static int cmp_src(const void *a, const void *b)
{
	const struct copy *p = a, *q = b;
	return (p->src > q->src) - (p->src < q->src);
}

static int cmp_dst(const void *a, const void *b)
{
	const struct copy *p = a, *q = b;
	return (p->dst > q->dst) - (p->dst < q->dst);
}

/*
 * Step 2 without its sync: the data of every move of the batch at its
 * target.  All the batch's reads are asked for at once (readahead hints,
 * in the order of the disk, with the inode-table blocks step 3 is going
 * to read), so that the device has them in flight together; then, a
 * buffer at a time in the order of the targets, one read per run of
 * contiguous sources and one write per run of contiguous targets.  Only
 * blocks the batch allocated in step 1 are written.
 */
static int copy_data(struct offline *x)
{
	const uint64_t bs = x->geo->block_size;
	const uint64_t chunk = COPY_BYTES / bs, ra = READAHEAD_BYTES / bs;
	uint32_t last_ino = 0;
	int r;

	x->n_copies = 0;
	for (size_t i = 0; i < x->n_moves; i++) {
		const struct tp_move *m = &x->moves[i];
		uint32_t ino = x->map->files[m->file].ino;

		if (ino != last_ino)
			tp_fs_readahead_inode(x->fs, ino);
		last_ino = ino;
		if (m->unwritten)
			continue; /* reads as zeros wherever it is */
		for (uint64_t done = 0; done < m->len;) {
			uint64_t n = MIN(chunk, m->len - done);
			if (TP_RESERVE(x->copies, x->cap_copies, x->n_copies + 1) < 0)
				return -ENOMEM;
			x->copies[x->n_copies++] = (struct copy){
				.src = m->source + done, .dst = m->target + done, .len = n };
			done += n;
		}
	}
	if (x->n_copies == 0)
		return 0;
	if (!x->buf && posix_memalign(&x->buf, 4096, COPY_BYTES) != 0) {
		x->buf = NULL;
		return -ENOMEM;
	}

	qsort(x->copies, x->n_copies, sizeof(*x->copies), cmp_src);
	for (size_t i = 0; i < x->n_copies;) {
		uint64_t start = x->copies[i].src, end = start + x->copies[i].len;
		for (i++; i < x->n_copies && x->copies[i].src == end; i++)
			end += x->copies[i].len;
		for (uint64_t b = start; b < end; b += ra)
			tp_fs_readahead(x->fs, b, MIN(ra, end - b));
	}

	qsort(x->copies, x->n_copies, sizeof(*x->copies), cmp_dst);
	for (size_t i = 0, j; i < x->n_copies; i = j) {
		const struct copy *c = x->copies;
		uint64_t used = 0, off, len;

		for (j = i; j < x->n_copies && used + c[j].len <= chunk; j++)
			used += c[j].len;
		/* the buffer holds c[i..j) one after another */
		off = 0;
		for (size_t k = i; k < j; off += len) {
			uint64_t src = c[k].src;
			for (len = c[k++].len; k < j && c[k].src == src + len; k++)
				len += c[k].len;
			r = tp_fs_read(x->fs, src, len, (char *)x->buf + off * bs);
			if (r < 0)
				return r;
		}
		off = 0;
		for (size_t k = i; k < j; off += len) {
			uint64_t dst = c[k].dst;
			for (len = c[k++].len; k < j && c[k].dst == dst + len; k++)
				len += c[k].len;
			r = tp_fs_write(x->fs, dst, len, (char *)x->buf + off * bs);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

static void switched(struct offline *x, size_t i)
{
	const struct tp_move *m = &x->moves[i];

	x->state[i] = MOVE_SWITCHED;
	x->res->moves++;
	/* exact by construction: the target was allocated as such */
	x->res->placement.attempts++;
	x->res->placement.exact++;
	x->res->moved_bytes += tp_blks_to_bytes(x->geo, m->len);
	tp_report_move(x->o, x->map, x->prov, m, 0, 0);
}

/*
 * Step 3 for the moves of the batch not switched yet.  An inode whose
 * root is full grows a level: its new leaf is written at once, and the
 * inode after the leaves and bitmaps of every level grown in this pass
 * are on disk, in one flush (tp_fs_remap_finish()).  The batch's other
 * moves of such an inode wait for the next pass.  1 when one waits.
 */
static int switch_moves(struct offline *x)
{
	bool again = false;
	int r;

	for (size_t i = 0; i < x->n_moves; i++) {
		const struct tp_move *m = &x->moves[i];
		const struct tp_rfile *f = &x->map->files[m->file];

		if (x->state[i] != MOVE_ALLOCATED)
			continue;
		r = tp_fs_remap(x->fs, f->ino, m->logical, m->len, m->source,
				m->target);
		if (r == -EAGAIN) {
			again = true;
			continue;
		}
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
		if (r == 1)
			x->state[i] = MOVE_GROWN;
		else
			switched(x, i);
	}
	r = tp_fs_remap_finish(x->fs);
	if (r < 0)
		return r;
	for (size_t i = 0; i < x->n_moves; i++)
		if (x->state[i] == MOVE_GROWN)
			switched(x, i);
	return again;
}

/* The four steps for one batch. */
static int run_batch(struct offline *x)
{
	int r;

	/* 1. targets used, on disk (with the previous batch's step 4) */
	r = tp_fs_write_metadata(x->fs);
	if (r < 0)
		return r;

	/* 2. the data at the targets, on disk */
	r = copy_data(x);
	if (r < 0)
		return r;
	r = tp_fs_sync(x->fs);
	if (r < 0)
		return r;

	/* 3. each extent switched, in one node write (or a new leaf, then
	 * the inode: switch_moves()) */
	while ((r = switch_moves(x)) > 0)
		;
	if (r < 0)
		return r;
	r = tp_fs_sync(x->fs);
	if (r < 0)
		return r;

	/* 4. the old blocks free (or, where nothing switched, the target):
	 * on disk with the next batch's step 1, or after the last batch */
	for (size_t i = 0; i < x->n_moves; i++) {
		const struct tp_move *m = &x->moves[i];
		if (x->state[i] == MOVE_SWITCHED)
			tp_fs_account(x->fs, m->source, m->len, -1);
		else
			tp_fs_account(x->fs, m->target, m->len, -1);
	}

	/* the victims all of whose moves switched */
	for (size_t v = 0, i = 0; v < x->n_victims; v++) {
		bool all = true;
		for (; i < x->n_moves && x->moves[i].victim == x->victims[v]; i++)
			all = all && x->state[i] == MOVE_SWITCHED;
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

static int cmp_u64(const void *a, const void *b)
{
	uint64_t p = *(const uint64_t *)a, q = *(const uint64_t *)b;
	return (p > q) - (p < q);
}

/* Whether every cluster strictly between clusters a and b (a < b) is free
 * in the bitmaps, so that one discard from a through b gives back nothing
 * the filesystem uses: each call is one synchronous round trip to the
 * device (a hole punched in an image's backing file, a discard a thin pool
 * unmaps), and two emptied clusters are often a few free ones apart. */
static bool free_between(const struct offline *x, uint64_t a, uint64_t b)
{
	const struct tp_geometry *g = x->geo;
	uint64_t from = tp_cluster_to_blk(g, a + 1), to = tp_cluster_to_blk(g, b);

	return b == a + 1 || tp_fs_range_free(x->fs, from, to - from);
}

/* Check that the victims are empty, and give their chunks back: clusters
 * with nothing used between them in one call. */
static int release(struct offline *x)
{
	const struct tp_geometry *g = x->geo;
	_cleanup_close_ int fd = -1;
	bool blockdev = x->dev->kind != TP_TARGET_IMAGE;
	size_t n = 0;
	int r;

	if (x->n_emptied == 0)
		return 0; /* (and x->emptied NULL, which qsort() may not take) */
	qsort(x->emptied, x->n_emptied, sizeof(*x->emptied), cmp_u64);
	for (size_t i = 0; i < x->n_emptied; i++) {
		uint64_t blk = tp_cluster_to_blk(g, x->emptied[i]);
		if (!tp_fs_range_free(x->fs, blk, g->cluster_blocks)) {
			x->res->victims_refilled++;
			continue;
		}
		x->res->clusters_emptied++;
		x->emptied[n++] = x->emptied[i];
	}
	if (!x->o->trim || n == 0)
		return 0;
	fd = open(x->dev->device, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	for (size_t i = 0, j; i < n; i = j) {
		for (j = i + 1; j < n && free_between(x, x->emptied[j - 1], x->emptied[j]); j++)
			;
		uint64_t first = x->emptied[i], last = x->emptied[j - 1];
		uint64_t blk = tp_cluster_to_blk(g, first);
		r = tp_release_range(fd, blockdev, tp_blks_to_bytes(g, blk),
				     tp_clusters_to_bytes(g, last - first + 1));
		if (r == -EOPNOTSUPP)
			break;
		if (r < 0)
			return r;
		x->res->trimmed_clusters += j - i;
		x->res->trimmed_bytes += tp_clusters_to_bytes(g, j - i);
		x->res->discarded_bytes += tp_clusters_to_bytes(g, last - first + 1);
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
		bool freed = false; /* a step 4 not on disk yet */
		while ((r = fill_batch(x)) > 0) {
			r = run_batch(x);
			if (r < 0)
				break;
			freed = true;
			done += x->n_victims;
			if (x->o->progress)
				x->o->progress("move", done, x->res->victims, x->o->userdata);
		}
		if (freed) {
			/* the last batch's step 4; after a failure too: the
			 * bitmaps in memory free only blocks that no synced
			 * extent maps any more, and keep every target used */
			int k = tp_fs_write_metadata(x->fs);
			if (r >= 0)
				r = k;
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
	free(x.copies);
	free(x.buf);
	return r;
}
