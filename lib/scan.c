/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * scan: build the cluster map of a filesystem from its block bitmaps (which
 * blocks are used) and its inodes (who owns them, and whether the owner's
 * data may be moved).
 *
 * A block is movable when it is a data block, below i_size, of a regular,
 * extent-mapped, linked file that has not changed for min_age and carries
 * none of the attributes EXT4_IOC_MOVE_EXT refuses or must not touch.
 * Everything else is pinned, with a reason.
 */

#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>

#include <ext2fs/ext2_fs.h> /* inode flag values only; no libext2fs calls */

#include "thinpack/thinpack.h"
#include "basic/array.h"
#include "basic/cleanup.h"
#include "basic/macros.h"
#include "clustermap.h"
#include "pinning.h"
#include "e2fs/e2fs.h"

TP_DEFINE_CLEANUP(struct tp_clustermap *, tp_clustermap_free)

struct scan {
	struct tp_fs *fs;
	struct tp_clustermap *map;
	const struct tp_scan_options *opts;
	int64_t now;
	uint32_t block_size;

	/* the inode being mapped */
	const struct tp_inode *inode;
	size_t file;                    /* its record, or SIZE_MAX */
	bool movable;
	enum tp_pin_reason reason;      /* of its data when not movable */
	enum tp_pin_reason tree_reason; /* of its extent-tree blocks */
	uint64_t eof_block;             /* first logical block past i_size */

	uint64_t *xattr_blocks; /* shared between inodes: counted once */
	size_t n_xattr, cap_xattr;
};

static int add_used_run(uint64_t blk, uint64_t len, void *userdata)
{
	tp_clustermap_add_used(userdata, blk, len);
	return 0;
}

static bool partial(const struct tp_clustermap *m, uint64_t c)
{
	return m->used[c] > 0 && m->used[c] < m->geo.cluster_blocks;
}

/* Whether [blk - 1, blk + len] touches a partial cluster: the extent may be
 * a victim's, or a lender beside a hole. */
static bool near_partial(const struct tp_clustermap *m, uint64_t blk, uint64_t len)
{
	const struct tp_geometry *g = &m->geo;
	uint64_t first = blk > 0 ? blk - 1 : 0, last = blk + len;

	if (g->clusters == 0 || last < g->first_block)
		return false;
	uint64_t c0 = tp_blk_to_cluster(g, MAX(first, g->first_block));
	uint64_t c1 = tp_blk_to_cluster(g, MIN(last, tp_cluster_to_blk(g, g->clusters) - 1));
	if (c0 == TP_NO_CLUSTER || c1 == TP_NO_CLUSTER)
		return false;
	for (uint64_t c = c0; c <= c1; c++)
		if (partial(m, c))
			return true;
	return false;
}

static int record_extent(struct scan *s, uint64_t logical, uint64_t physical,
			 uint64_t len, bool unwritten)
{
	struct tp_clustermap *m = s->map;

	if (!s->opts->reverse_map || !near_partial(m, physical, len))
		return 0;
	if (s->file == SIZE_MAX) {
		if (TP_RESERVE(m->files, m->cap_files, m->n_files + 1) < 0)
			return -ENOMEM;
		const struct tp_inode *in = s->inode;
		m->files[m->n_files] = (struct tp_rfile){
			.ino = in->ino, .generation = in->generation,
			.size = in->size, .mtime = in->mtime, .ctime = in->ctime,
			.flags = in->flags,
		};
		s->file = m->n_files++;
	}
	/* extents are at most 32768 blocks, but split to be sure */
	while (len > 0) {
		uint32_t n = (uint32_t)MIN(len, UINT32_C(1) << 30);
		if (TP_RESERVE(m->exts, m->cap_exts, m->n_exts + 1) < 0)
			return -ENOMEM;
		m->exts[m->n_exts++] = (struct tp_rext){
			.physical = physical, .logical = logical, .len = n,
			.file = (uint32_t)s->file, .unwritten = unwritten,
		};
		physical += n;
		logical += n;
		len -= n;
	}
	return 0;
}

static int add_metadata_run(uint64_t blk, uint64_t len, void *userdata)
{
	tp_clustermap_add_owned(userdata, blk, len, false, TP_PIN_METADATA);
	return 0;
}

static int add_mapping(enum tp_map_kind kind, uint64_t logical,
		       uint64_t physical, uint64_t len, void *userdata)
{
	struct scan *s = userdata;
	struct tp_clustermap *m = s->map;

	if (!tp_fs_range_in_use(s->fs, physical, len)) {
		/* Owned but free: the file changed under the scan. */
		tp_clustermap_flag(m, physical, len, TP_PIN_UNOWNED);
		m->stats.owned_free_ranges++;
	}
	if (kind == TP_MAP_TREE) {
		tp_clustermap_add_owned(m, physical, len, false, s->tree_reason);
		return 0;
	}
	if (!s->movable) {
		tp_clustermap_add_owned(m, physical, len, false, s->reason);
		return 0;
	}
	/* MOVE_EXT clips its range to i_size: blocks past it stay. */
	uint64_t below = logical >= s->eof_block ? 0 :
			 MIN(len, s->eof_block - logical);
	if (below) {
		tp_clustermap_add_owned(m, physical, below, true, 0);
		int r = record_extent(s, logical, physical, below,
				      kind == TP_MAP_UNWRITTEN);
		if (r < 0)
			return r;
	}
	if (below < len)
		tp_clustermap_add_owned(m, physical + below, len - below, false,
					TP_PIN_BEYOND_EOF);
	return 0;
}

static bool is_pinned_inode(const struct tp_scan_options *o, uint32_t ino)
{
	for (size_t i = 0; i < o->n_pinned_inodes; i++)
		if (o->pinned_inodes[i] == ino)
			return true;
	return false;
}

/* Whether the inode's data may move, and if not, why. */
static bool classify(const struct scan *s, const struct tp_inode *in,
		     enum tp_pin_reason *ret_reason)
{
	enum tp_pin_reason why;

	if (in->reserved)
		why = TP_PIN_METADATA;
	else if (S_ISDIR(in->mode))
		why = TP_PIN_DIRECTORY;
	else if (!S_ISREG(in->mode))
		why = TP_PIN_OTHER;
	else if (in->flags & EXT4_EA_INODE_FL)
		why = TP_PIN_XATTR;
	else if (in->links == 0 || is_pinned_inode(s->opts, in->ino))
		why = TP_PIN_IN_USE;
	else if (in->flags & TP_PINNING_FLAGS)
		why = TP_PIN_ATTRIBUTE;
	else if (!in->extents)
		why = TP_PIN_BLOCK_MAPPED;
	else if (s->now - MAX(in->mtime, in->ctime) < (int64_t)s->opts->min_age)
		why = TP_PIN_RECENT;
	else
		return true;
	*ret_reason = why;
	return false;
}

static int remember_xattr_block(struct scan *s, uint64_t blk)
{
	if (TP_RESERVE(s->xattr_blocks, s->cap_xattr, s->n_xattr + 1) < 0)
		return -ENOMEM;
	s->xattr_blocks[s->n_xattr++] = blk;
	return 0;
}

static int scan_inode(struct tp_fs *fs, const struct tp_inode *in, void *userdata)
{
	struct scan *s = userdata;
	struct tp_scan_stats *st = &s->map->stats;
	int r;

	st->inodes++;
	if (S_ISREG(in->mode) && !in->reserved)
		st->regular_files++;

	if (in->xattr_block) {
		r = remember_xattr_block(s, in->xattr_block);
		if (r < 0)
			return r;
	}
	if (!in->has_blocks)
		return 0;

	s->movable = classify(s, in, &s->reason);
	if (s->movable)
		st->movable_files++;
	/* The tree blocks of directories and metadata inodes count as
	 * theirs; those of files as extent tree, whatever the file. */
	s->tree_reason = !s->movable && (s->reason == TP_PIN_DIRECTORY ||
					 s->reason == TP_PIN_METADATA) ?
				 s->reason : TP_PIN_EXTENT_TREE;
	s->eof_block = tp_div_round_up(in->size, s->block_size);
	s->inode = in;
	s->file = SIZE_MAX;

	r = tp_fs_inode_map(fs, in, add_mapping, s);
	if (r == -ENOMEM)
		return r;
	if (r < 0)
		st->unreadable_inodes++; /* changing under a live scan, or corrupt */
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static int cmp_rext(const void *a, const void *b)
{
	const struct tp_rext *x = a, *y = b;
	return x->physical < y->physical ? -1 : x->physical > y->physical;
}

/* The free runs inside partial clusters, from the gaps between used runs. */
struct hole_walk {
	struct tp_clustermap *m;
	uint64_t next; /* first block after the last used run */
};

static int add_gap(struct tp_clustermap *m, uint64_t a, uint64_t b)
{
	const struct tp_geometry *g = &m->geo;

	a = MAX(a, g->first_block);
	b = MIN(b, tp_cluster_to_blk(g, g->clusters));
	while (a < b) {
		uint64_t c = tp_blk_to_cluster(g, a);
		uint64_t end = MIN(b, tp_cluster_to_blk(g, c + 1));
		if (partial(m, c)) {
			struct tp_hole *last = m->n_holes ? &m->holes[m->n_holes - 1] : NULL;
			if (last && last->start + last->len == a)
				last->len += end - a; /* across partial clusters */
			else {
				if (TP_RESERVE(m->holes, m->cap_holes, m->n_holes + 1) < 0)
					return -ENOMEM;
				m->holes[m->n_holes++] = (struct tp_hole){ a, end - a };
			}
		}
		a = end;
	}
	return 0;
}

static int hole_run(uint64_t blk, uint64_t len, void *userdata)
{
	struct hole_walk *w = userdata;
	int r = 0;

	if (blk > w->next)
		r = add_gap(w->m, w->next, blk);
	w->next = blk + len;
	return r;
}

int tp_scan(struct tp_fs *fs, const struct tp_geometry *geo,
	    const struct tp_scan_options *opts, struct tp_clustermap **ret)
{
	_cleanup_(tp_clustermap_freep) struct tp_clustermap *m = NULL;
	const struct tp_fs_info *info = tp_fs_get_info(fs);
	struct scan s = { .fs = fs, .opts = opts, .block_size = info->block_size };
	int r;

	if (geo->block_size != info->block_size ||
	    geo->blocks_count != info->blocks_count)
		return -EINVAL;
	r = tp_clustermap_new(geo, &m);
	if (r < 0)
		return r;
	s.map = m;
	s.now = opts->now ? opts->now : (int64_t)time(NULL);

	r = tp_fs_for_each_used_run(fs, add_used_run, m);
	if (r < 0)
		return r;
	r = tp_fs_for_each_metadata_run(fs, add_metadata_run, m);
	if (r < 0)
		return r;
	r = tp_fs_for_each_inode(fs, scan_inode, &s, opts->progress, opts->userdata,
				 opts->stop);
	if (r < 0) {
		free(s.xattr_blocks);
		return r;
	}

	if (s.n_xattr)
		qsort(s.xattr_blocks, s.n_xattr, sizeof(uint64_t), cmp_u64);
	for (size_t i = 0; i < s.n_xattr; i++)
		if (i == 0 || s.xattr_blocks[i] != s.xattr_blocks[i - 1])
			tp_clustermap_add_owned(m, s.xattr_blocks[i], 1, false,
						TP_PIN_XATTR);
	free(s.xattr_blocks);

	for (uint64_t c = 0; c < geo->clusters; c++)
		if (m->owned[c] > m->used[c])
			m->stats.overcounted_blocks += m->owned[c] - m->used[c];

	if (opts->reverse_map) {
		struct hole_walk w = { .m = m };
		if (m->n_exts)
			qsort(m->exts, m->n_exts, sizeof(*m->exts), cmp_rext);
		r = tp_fs_for_each_used_run(fs, hole_run, &w);
		if (r >= 0)
			r = add_gap(m, w.next, geo->blocks_count);
		if (r < 0)
			return r;
	}

	*ret = TAKE_PTR(m);
	return 0;
}
