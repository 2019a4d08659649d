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
#include <string.h>
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
	struct tp_owner owner;          /* what explain notes of it */

	struct xattr_ref *xattr_blocks; /* shared between inodes: counted once */
	size_t n_xattr, cap_xattr;
};

struct xattr_ref {
	uint64_t blk;
	uint32_t ino;
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
	/* What an extent tree can address: an inode that claims more is
	 * not recorded, and the clusters it touches are neither emptied
	 * (the victim's data would not add up) nor lent from. */
	if (physical + len > TP_REXT_MAX_PHYSICAL + 1 ||
	    logical + len > UINT32_MAX + UINT64_C(1))
		return 0;
	if (s->file == SIZE_MAX) {
		if (m->n_files >= UINT32_MAX)
			return -E2BIG;
		if (TP_RESERVE(m->files, m->cap_files, m->n_files + 1) < 0)
			return -ENOMEM;
		const struct tp_inode *in = s->inode;
		m->files[m->n_files] = (struct tp_rfile){
			.ino = in->ino, .generation = in->generation,
			.size = in->size, .mtime = in->mtime, .ctime = in->ctime,
		};
		s->file = m->n_files++;
	}
	/* ext4's extents are at most 32768 blocks, but split to be sure */
	while (len > 0) {
		uint32_t n = (uint32_t)MIN(len, TP_REXT_MAX_LEN);
		if (TP_RESERVE(m->exts, m->cap_exts, m->n_exts + 1) < 0)
			return -ENOMEM;
		m->exts[m->n_exts++] = tp_rext_make(physical, (uint32_t)logical, n,
						    (uint32_t)s->file, unwritten);
		physical += n;
		logical += n;
		len -= n;
	}
	return 0;
}

/* ---- explain: who owns the blocks of the clusters asked about ---------- */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Note the part of [blk, blk + len) that lies in explained clusters as
 * o's (a template: what owns it and why it stays or may move); data runs
 * (with_logical) keep their logical block. */
static int note_owner(struct tp_clustermap *m, const struct tp_owner *o,
		      uint64_t blk, uint64_t len, bool with_logical)
{
	const struct tp_geometry *g = &m->geo;
	uint64_t lo = MAX(blk, g->first_block);
	uint64_t hi = MIN(blk + len, tp_cluster_to_blk(g, g->clusters));
	size_t a = 0, b;

	if (!m->n_explain || lo >= hi)
		return 0;
	uint64_t c0 = tp_blk_to_cluster(g, lo), c1 = tp_blk_to_cluster(g, hi - 1);
	b = m->n_explain;
	while (a < b) { /* the first explained cluster >= c0 */
		size_t mid = a + (b - a) / 2;
		if (m->explain[mid] < c0)
			a = mid + 1;
		else
			b = mid;
	}
	for (; a < m->n_explain && m->explain[a] <= c1; a++) {
		uint64_t c = m->explain[a];
		uint64_t from = MAX(lo, tp_cluster_to_blk(g, c));
		uint64_t to = MIN(hi, tp_cluster_to_blk(g, c + 1));

		if (TP_RESERVE(m->owners, m->cap_owners, m->n_owners + 1) < 0)
			return -ENOMEM;
		struct tp_owner *n = &m->owners[m->n_owners++];
		*n = *o;
		n->cluster = c;
		n->blk = from;
		n->len = to - from;
		n->logical = with_logical ? o->logical + (from - blk) : 0;
	}
	return 0;
}

/* Count [blk, blk + len) as the current inode's, movable or pinned for
 * why, in the map -- and note it so for explain: one classification for
 * both. */
static int own(struct scan *s, enum tp_owner_kind kind, uint64_t blk,
	       uint64_t len, bool movable, enum tp_pin_reason why,
	       uint64_t logical, bool unwritten)
{
	tp_clustermap_add_owned(s->map, blk, len, movable, why);
	if (!s->map->n_explain)
		return 0;
	struct tp_owner o = s->owner;
	o.kind = kind;
	o.movable = movable;
	o.reason = movable ? 0 : why;
	o.logical = logical;
	o.unwritten = unwritten;
	return note_owner(s->map, &o, blk, len, kind != TP_OWNER_EXTENT_TREE);
}

static int note_metadata_piece(enum tp_owner_kind kind, uint32_t group,
			       uint64_t blk, uint64_t len, void *userdata)
{
	struct tp_owner o = { .kind = kind, .reason = TP_PIN_METADATA, .group = group };

	return note_owner(userdata, &o, blk, len, false);
}

static int cmp_owner(const void *a, const void *b)
{
	const struct tp_owner *x = a, *y = b;

	if (x->cluster != y->cluster)
		return x->cluster < y->cluster ? -1 : 1;
	if (x->blk != y->blk)
		return x->blk < y->blk ? -1 : 1;
	return (int)x->kind - (int)y->kind;
}

/* Where the bitmap and the owners disagree in the explained clusters,
 * block by block: used and owned by nobody, owned yet free, owned twice
 * (TP_PIN_UNOWNED, as tp_clustermap_get() flags such clusters). */
static int note_disagreements(struct tp_fs *fs, struct tp_clustermap *m)
{
	const struct tp_geometry *g = &m->geo;
	uint64_t C = g->cluster_blocks;
	_cleanup_free_ uint8_t *owners = malloc(C);
	size_t i = 0, n = m->n_owners;

	if (!owners)
		return -ENOMEM;
	if (n)
		qsort(m->owners, n, sizeof(*m->owners), cmp_owner);
	for (size_t e = 0; e < m->n_explain; e++) {
		uint64_t c = m->explain[e], start = tp_cluster_to_blk(g, c);

		memset(owners, 0, C);
		for (; i < n && m->owners[i].cluster == c; i++)
			for (uint64_t b = m->owners[i].blk;
			     b < m->owners[i].blk + m->owners[i].len; b++)
				if (owners[b - start] < 2)
					owners[b - start]++;
		/* runs of one state: kind, or _TP_OWNER_MAX for agreement */
		enum tp_owner_kind run = _TP_OWNER_MAX;
		uint64_t run_start = start;
		for (uint64_t b = start; b <= start + C; b++) {
			enum tp_owner_kind k = _TP_OWNER_MAX;
			if (b < start + C) {
				bool used = tp_fs_range_in_use(fs, b, 1);
				uint8_t o = owners[b - start];
				k = used && o == 0 ? TP_OWNER_NONE :
				    !used && o > 0 ? TP_OWNER_FREE :
				    o > 1 ? TP_OWNER_TWICE : _TP_OWNER_MAX;
			}
			if (k == run)
				continue;
			if (run != _TP_OWNER_MAX) {
				struct tp_owner x = { .kind = run, .reason = TP_PIN_UNOWNED };
				int r = note_owner(m, &x, run_start, b - run_start, false);
				if (r < 0)
					return r;
			}
			run = k;
			run_start = b;
		}
	}
	if (m->n_owners)
		qsort(m->owners, m->n_owners, sizeof(*m->owners), cmp_owner);
	return 0;
}

/* tp_scan_options.explain, sorted, each once, whole clusters only. */
static int explain_set(struct tp_clustermap *m, const struct tp_scan_options *o)
{
	size_t k = 0;

	if (!o->n_explain)
		return 0;
	m->explain = malloc(o->n_explain * sizeof(*m->explain));
	if (!m->explain)
		return -ENOMEM;
	for (size_t i = 0; i < o->n_explain; i++)
		if (o->explain[i] < m->geo.clusters)
			m->explain[k++] = o->explain[i];
	qsort(m->explain, k, sizeof(*m->explain), cmp_u64);
	m->n_explain = 0;
	for (size_t i = 0; i < k; i++)
		if (i == 0 || m->explain[i] != m->explain[i - 1])
			m->explain[m->n_explain++] = m->explain[i];
	return 0;
}

/* ---- the scan ------------------------------------------------------------- */

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
	bool unwritten = kind == TP_MAP_UNWRITTEN;
	int r;

	if (!tp_fs_range_in_use(s->fs, physical, len)) {
		/* Owned but free: the file changed under the scan. */
		tp_clustermap_flag(m, physical, len, TP_PIN_UNOWNED);
		m->stats.owned_free_ranges++;
	}
	if (kind == TP_MAP_TREE)
		return own(s, TP_OWNER_EXTENT_TREE, physical, len, false,
			   s->tree_reason, 0, false);
	/* MOVE_EXT clips its range to i_size: blocks past it stay. */
	uint64_t below = logical >= s->eof_block ? 0 :
			 MIN(len, s->eof_block - logical);
	if (!s->movable) {
		r = own(s, s->owner.kind, physical, len, false, s->reason,
			logical, unwritten);
		/* A file changed lately stays where it is, but may lend the
		 * block beside a hole for a moment (a borrow placement moves
		 * it out and back: same place, same bytes), when nobody has
		 * it open and it has not changed since this scan. */
		if (r >= 0 && below && s->reason == TP_PIN_RECENT)
			r = record_extent(s, logical, physical, below, unwritten);
		return r;
	}
	if (below) {
		r = own(s, s->owner.kind, physical, below, true, 0, logical,
			unwritten);
		if (r >= 0)
			r = record_extent(s, logical, physical, below, unwritten);
		if (r < 0)
			return r;
	}
	if (below < len)
		return own(s, s->owner.kind, physical + below, len - below, false,
			   TP_PIN_BEYOND_EOF, logical + below, unwritten);
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

static int remember_xattr_block(struct scan *s, uint64_t blk, uint32_t ino)
{
	if (TP_RESERVE(s->xattr_blocks, s->cap_xattr, s->n_xattr + 1) < 0)
		return -ENOMEM;
	s->xattr_blocks[s->n_xattr++] = (struct xattr_ref){ blk, ino };
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
		r = remember_xattr_block(s, in->xattr_block, in->ino);
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
	s->owner = (struct tp_owner){
		.kind = in->kind, .ino = in->ino, .mode = in->mode,
		.links = in->links, .flags = in->flags, .size = in->size,
		.changed = MAX(in->mtime, in->ctime),
	};

	r = tp_fs_inode_map(fs, in, add_mapping, s);
	if (r == -ENOMEM)
		return r;
	if (r < 0)
		st->unreadable_inodes++; /* changing under a live scan, or corrupt */
	return 0;
}

static int cmp_xattr_ref(const void *a, const void *b)
{
	const struct xattr_ref *x = a, *y = b;

	if (x->blk != y->blk)
		return x->blk < y->blk ? -1 : 1;
	return x->ino < y->ino ? -1 : x->ino > y->ino;
}

static int cmp_rext(const void *a, const void *b)
{
	const struct tp_rext *x = a, *y = b;
	return x->packed < y->packed ? -1 : x->packed > y->packed;
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
	r = explain_set(m, opts);
	if (r < 0)
		return r;
	s.map = m;
	s.now = opts->now ? opts->now : (int64_t)time(NULL);

	r = tp_fs_for_each_used_run(fs, add_used_run, m);
	if (r < 0)
		return r;
	r = tp_fs_for_each_metadata_run(fs, add_metadata_run, m);
	if (r >= 0 && m->n_explain)
		r = tp_fs_for_each_metadata_piece(fs, note_metadata_piece, m);
	if (r < 0)
		return r;
	r = tp_fs_for_each_inode(fs, scan_inode, &s, opts->progress, opts->userdata,
				 opts->stop);
	if (r < 0) {
		free(s.xattr_blocks);
		return r;
	}

	if (s.n_xattr)
		qsort(s.xattr_blocks, s.n_xattr, sizeof(*s.xattr_blocks),
		      cmp_xattr_ref);
	for (size_t i = 0, j; r >= 0 && i < s.n_xattr; i = j) {
		uint64_t blk = s.xattr_blocks[i].blk;
		for (j = i + 1; j < s.n_xattr && s.xattr_blocks[j].blk == blk; j++)
			;
		tp_clustermap_add_owned(m, blk, 1, false, TP_PIN_XATTR);
		struct tp_owner o = { .kind = TP_OWNER_XATTR_BLOCK,
				      .reason = TP_PIN_XATTR,
				      .ino = s.xattr_blocks[i].ino,
				      .refs = (uint32_t)(j - i) };
		r = note_owner(m, &o, blk, 1, false);
	}
	free(s.xattr_blocks);
	if (r >= 0 && m->n_explain)
		r = note_disagreements(fs, m);
	if (r < 0)
		return r;

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
