/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The donor's tools, shared by every placement method: O_TMPFILE donors,
 * fallocate and punch, where a donor block is (FIEMAP), whether a hole is
 * still free (GETFSMAP), and the books of blocks written or freed.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "thinpack/thinpack.h"
#include "basic/array.h"
#include "basic/cleanup.h"
#include "basic/macros.h"
#include "kio/kio.h"
#include "place/place.h"
#include "place/place-private.h"

/*
 * Donor layouts (logical blocks), with a fence of h blocks:
 *   merge-left   0: the borrowed block   [1, 1 + n): the range
 *                [1 + n, 1 + n + h): the fence
 *   merge-right  [0, n): the range   n: the borrowed block
 * Merge-right needs the range at 0 with nothing left of it, so that the
 * normalised request starts exactly at the range (see allocate() in
 * borrow.c).
 *
 * The fence is fallocated a megabyte at a time, not a block: mballoc
 * serves a one-block request from the smallest free pieces, which may be
 * holes the plan fills, and a helper freed there stays busy until the
 * next journal commit, for which the victims that want the hole wait.  A
 * power-of-two request is served from an aligned free run of its size,
 * which holes in the clusters that stay rarely are (bench/compact: 38 to
 * 47 commits a run with single blocks, 8 to 10 with a megabyte).  The
 * borrow slot stays one block: the lender's block is copied into it, and
 * a megabyte run is most often an empty cluster, which a thin pool would
 * have to provision for that one block (bench/compact: some 140 clusters
 * a run to trim again).  One block goes to the smallest free pieces: the
 * slack, which the plan leaves out (plan.c).  Where no long run is left
 * (ENOSPC), the fence is a single block too.
 */
#define HELPER_BYTES (1u << 20)
/* More than 16 blocks keeps ext4 off the locality-group allocator. */
#define DONOR_MIN_BLOCKS 17

uint64_t tp_helper_blocks(uint32_t bs)
{
	return MAX(HELPER_BYTES / bs, 1u);
}

int tp_donor_open(int mount_fd, uint32_t bs, uint64_t n, int *ret_fd)
{
	_cleanup_close_ int fd = -1;
	uint64_t blocks = MAX(n + 1 + tp_helper_blocks(bs), (uint64_t)DONOR_MIN_BLOCKS);

	fd = openat(mount_fd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)(blocks * bs)) < 0)
		return -errno;
	*ret_fd = TAKE_FD(fd);
	return 0;
}

int tp_falloc(int fd, uint32_t bs, uint64_t blk, uint64_t n)
{
	if (n == 0)
		return 0;
	if (fallocate(fd, 0, (off_t)(blk * bs), (off_t)(n * bs)) < 0)
		return -errno;
	return 0;
}

/* The same, i_size unchanged (it shapes the normalisation window, see
 * allocate() in borrow.c). */
int tp_falloc_keep(int fd, uint32_t bs, uint64_t blk, uint64_t n)
{
	if (fallocate(fd, FALLOC_FL_KEEP_SIZE, (off_t)(blk * bs), (off_t)(n * bs)) < 0)
		return -errno;
	return 0;
}

int tp_punch(int fd, uint32_t bs, uint64_t blk, uint64_t n)
{
	if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		      (off_t)(blk * bs), (off_t)(n * bs)) < 0)
		return -errno;
	return 0;
}

/* Where donor block blk is, or -ENODATA if nowhere. */
int tp_donor_block(int fd, uint32_t bs, uint64_t blk, uint64_t *ret)
{
	struct tp_fe_list l = { 0 };
	int r = tp_fiemap(fd, bs, blk, 1, false, &l);

	if (r >= 0) {
		r = -ENODATA;
		for (size_t i = 0; i < l.n; i++)
			if (l.v[i].logical <= blk && blk < l.v[i].logical + l.v[i].len &&
			    !(l.v[i].flags & TP_FE_UNSETTLED)) {
				*ret = l.v[i].physical + (blk - l.v[i].logical);
				r = 0;
			}
	}
	tp_fe_list_clear(&l);
	return r;
}

/* Whether donor [start, start + n) is mapped, all of it outside physical
 * [T, T + len). */
int tp_mapped_outside(int fd, uint32_t bs, uint64_t start, uint64_t n,
			  uint64_t T, uint64_t len, bool *ret)
{
	struct tp_fe_list l = { 0 };
	uint64_t covered = 0;
	int r = tp_fiemap(fd, bs, start, n, false, &l);

	*ret = r >= 0;
	for (size_t i = 0; r >= 0 && i < l.n; i++) {
		const struct tp_fe *e = &l.v[i];
		uint64_t a = MAX(e->logical, start);
		uint64_t b = MIN(e->logical + e->len, start + n);
		if (a >= b)
			continue;
		covered += b - a;
		if ((e->flags & TP_FE_UNSETTLED) ||
		    tp_overlaps(e->physical + (a - e->logical), b - a, T, len))
			*ret = false;
	}
	if (covered != n)
		*ret = false;
	tp_fe_list_clear(&l);
	return r;
}

/* The longest prefix of donor [start, start + n) that maps to
 * [target, target + n). */
int tp_placed_prefix(int fd, uint32_t bs, uint64_t start, uint64_t target,
			 uint64_t n, uint64_t *ret)
{
	struct tp_fe_list l = { 0 };
	uint64_t want = start, end = start + n;
	int r = tp_fiemap(fd, bs, start, n, true, &l);

	if (r < 0)
		goto out;
	for (size_t i = 0; i < l.n && want < end; i++) {
		const struct tp_fe *e = &l.v[i];
		if ((e->flags & TP_FE_UNSETTLED) || e->logical > want ||
		    e->logical + e->len <= want)
			continue;
		if (e->physical + (want - e->logical) != target + (want - start))
			break;
		want = MIN(end, e->logical + e->len);
	}
	*ret = want - start;
out:
	tp_fe_list_clear(&l);
	return r;
}

void tp_placer_mark_dirty(struct tp_placer *p, uint64_t blk)
{
	if (p->n_dirty > 0 && p->dirty[p->n_dirty - 1] == blk)
		return; /* the reservoir's slot, again */
	if (TP_RESERVE(p->dirty, p->cap_dirty, p->n_dirty + 1) < 0)
		return; /* only a missed trim */
	p->dirty[p->n_dirty++] = blk;
}

bool tp_placer_may_write(const struct tp_placer *p, uint64_t blk)
{
	return !p->may_write || p->may_write(p->may_write_data, blk);
}

/* Record what donor [blk, blk + n) maps as freed, then punch it out;
 * *ret_freed (may be NULL): how many blocks that was. */
int tp_free_range(struct tp_placer *p, int fd, uint64_t blk, uint64_t n,
		  uint64_t *ret_freed)
{
	struct tp_fe_list l = { 0 };
	uint64_t freed = 0;
	int r;

	if (ret_freed)
		*ret_freed = 0;
	if (n == 0)
		return 0;
	r = tp_fiemap(fd, p->block_size, blk, n, false, &l);
	for (size_t i = 0; r >= 0 && i < l.n; i++) {
		const struct tp_fe *e = &l.v[i];
		uint64_t a = MAX(e->logical, blk), b = MIN(e->logical + e->len, blk + n);
		if (a < b) {
			tp_blocks_add(&p->freed, e->physical + (a - e->logical), b - a);
			freed += b - a;
		}
	}
	tp_fe_list_clear(&l);
	if (r >= 0)
		r = tp_punch(fd, p->block_size, blk, n);
	if (r >= 0 && ret_freed)
		*ret_freed = freed;
	return r;
}

int tp_blocks_held(int fd, uint64_t *ret)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	*ret = (uint64_t)st.st_blocks;
	return 0;
}

/*
 * Whether all of the hole [T, T + n) is still free.  When not, since the
 * plan, a block went there that is neither the donor's nor freed by it --
 * most often an extent-tree block, of the lender (the borrow splits its
 * extent), of the donor (its fence) or of a file an earlier move split,
 * as ext4 gives a one-block metadata allocation the first free block of
 * the inode's group.  Not a miss: allocating now would land elsewhere,
 * and no commit frees the hole again.  One GETFSMAP call, whose cost
 * grows with the filesystem's block groups: each method asks once, right
 * before it allocates, and again only where it can tell an extent-tree
 * block may have come since (tp_blocks_held()).
 */
int tp_hole_still_free(struct tp_placer *p, uint64_t T, uint64_t n, bool *ret)
{
	*ret = false;
	return tp_fsmap_is_free(p->mount_fd, p->dev, p->block_size, T, n, ret);
}
