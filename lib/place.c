/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * place: obtain donor blocks at a chosen physical position, so that
 * EXT4_IOC_MOVE_EXT can move a file's data exactly there.
 *
 * Backends:
 *   borrow      stock kernels (doc/placement.md).  ext4 honours an
 *               exact goal only for a request that merges with the file's
 *               own neighbouring extent.  So the donor borrows, with
 *               MOVE_EXT, the block next to the hole from the file that
 *               owns it (the lender), then allocates one block beside it
 *               (the goal is the hole) and takes the rest of the hole from
 *               the inode preallocation that allocation left; the borrowed
 *               block goes back when the data has moved.  Where there is
 *               room, merge-left placements go through one donor, the
 *               reservoir, which allocates the hole writing nothing (see
 *               "the reservoir" below).
 *   fallocate2  a kernel with the physical-goal fallocate of the RFC
 *               (opt-in, with its syscall number).
 * Every placement is verified with FIEMAP before any data moves; a miss
 * releases the donor's blocks and returns -EADDRNOTAVAIL.
 *
 * The donor is an O_TMPFILE: a crash leaves an orphan the kernel frees at
 * the next mount, and the lender's block sits, with its data, where the
 * donor's helper block was.
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
#include "kio.h"
#include "place.h"

/*
 * Donor layouts (logical blocks), with a fence of h blocks:
 *   merge-left   0: the borrowed block   [1, 1 + n): the range
 *                [1 + n, 1 + n + h): the fence
 *   merge-right  [0, n): the range   n: the borrowed block
 * Merge-right needs the range at 0 with nothing left of it, so that the
 * normalised request starts exactly at the range (see allocate()).
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

static uint64_t helper_blocks(uint32_t bs)
{
	return MAX(HELPER_BYTES / bs, 1u);
}

static int donor_open(int mount_fd, uint32_t bs, uint64_t n, int *ret_fd)
{
	_cleanup_close_ int fd = -1;
	uint64_t blocks = MAX(n + 1 + helper_blocks(bs), (uint64_t)DONOR_MIN_BLOCKS);

	fd = openat(mount_fd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)(blocks * bs)) < 0)
		return -errno;
	*ret_fd = TAKE_FD(fd);
	return 0;
}

static int falloc(int fd, uint32_t bs, uint64_t blk, uint64_t n)
{
	if (n == 0)
		return 0;
	if (fallocate(fd, 0, (off_t)(blk * bs), (off_t)(n * bs)) < 0)
		return -errno;
	return 0;
}

/* The same, i_size unchanged (it shapes the normalisation window, see
 * allocate()). */
static int falloc_keep(int fd, uint32_t bs, uint64_t blk, uint64_t n)
{
	if (fallocate(fd, FALLOC_FL_KEEP_SIZE, (off_t)(blk * bs), (off_t)(n * bs)) < 0)
		return -errno;
	return 0;
}

static int punch(int fd, uint32_t bs, uint64_t blk, uint64_t n)
{
	if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		      (off_t)(blk * bs), (off_t)(n * bs)) < 0)
		return -errno;
	return 0;
}

/* Where donor block blk is, or -ENODATA if nowhere. */
static int donor_block(int fd, uint32_t bs, uint64_t blk, uint64_t *ret)
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

static bool overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

/* Whether donor [start, start + n) is mapped, all of it outside physical
 * [T, T + len). */
static int mapped_outside(int fd, uint32_t bs, uint64_t start, uint64_t n,
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
		    overlaps(e->physical + (a - e->logical), b - a, T, len))
			*ret = false;
	}
	if (covered != n)
		*ret = false;
	tp_fe_list_clear(&l);
	return r;
}

/* The longest prefix of donor [start, start + n) that maps to
 * [target, target + n). */
static int placed_prefix(int fd, uint32_t bs, uint64_t start, uint64_t target,
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

static void mark_dirty(struct tp_placer *p, uint64_t blk)
{
	if (p->n_dirty > 0 && p->dirty[p->n_dirty - 1] == blk)
		return; /* the reservoir's slot, again */
	if (TP_RESERVE(p->dirty, p->cap_dirty, p->n_dirty + 1) < 0)
		return; /* only a missed trim */
	p->dirty[p->n_dirty++] = blk;
}

void tp_placer_done(struct tp_placer *p)
{
	tp_placer_flush(p);
	free(p->freed.v);
	p->freed = (struct tp_blocks_vec){ 0 };
	free(p->slot_took.v);
	p->slot_took = (struct tp_blocks_vec){ 0 };
	free(p->zero);
	p->zero = NULL;
	free(p->dirty);
	p->dirty = NULL;
	p->n_dirty = p->cap_dirty = 0;
}

void tp_blocks_add(struct tp_blocks_vec *v, uint64_t start, uint64_t len)
{
	if (len == 0)
		return;
	/* a lost entry costs only a commit that might have been saved */
	if (TP_RESERVE(v->v, v->cap, v->n + 1) < 0)
		return;
	v->v[v->n++] = (struct tp_blocks){ start, len };
}

bool tp_blocks_overlap(const struct tp_blocks_vec *v, uint64_t start, uint64_t len)
{
	for (size_t i = 0; i < v->n; i++)
		if (overlaps(v->v[i].start, v->v[i].len, start, len))
			return true;
	return false;
}

/* ---- borrow ------------------------------------------------------------------ */

/* Record what donor [blk, blk + n) maps as freed, then punch it out. */
static int free_range(struct tp_placer *p, int fd, uint64_t blk, uint64_t n)
{
	struct tp_fe_list l = { 0 };
	int r;

	if (n == 0)
		return 0;
	r = tp_fiemap(fd, p->block_size, blk, n, false, &l);
	for (size_t i = 0; r >= 0 && i < l.n; i++) {
		const struct tp_fe *e = &l.v[i];
		uint64_t a = MAX(e->logical, blk), b = MIN(e->logical + e->len, blk + n);
		if (a < b)
			tp_blocks_add(&p->freed, e->physical + (a - e->logical), b - a);
	}
	tp_fe_list_clear(&l);
	if (r >= 0)
		r = punch(fd, p->block_size, blk, n);
	return r;
}

/*
 * -EEXIST when part of the hole [T, T + n) is no longer free: since the
 * caller looked, a block went there that is neither the donor's nor
 * freed by it -- most often an extent-tree block, of the lender (the
 * borrow splits its extent) or of the donor (its fence), as ext4 gives a
 * one-block metadata allocation the first free block of the inode's
 * group.  Not a miss: allocating now would land elsewhere, and no
 * commit frees the hole again.
 */
static int hole_still_free(struct tp_placer *p, uint64_t T, uint64_t n)
{
	bool free_now = false;
	int r = tp_fsmap_is_free(p->mount_fd, p->dev, p->block_size, T, n,
				 &free_now);

	if (r < 0)
		return r;
	return free_now ? 0 : -EEXIST;
}

/* Return the borrowed block to its lender. */
static int return_borrowed(struct tp_donor *d)
{
	uint64_t moved = 0;
	int r;

	if (!d->borrowed)
		return 0;
	/* The borrow left the lender's page cached, and dirty. */
	tp_drop_cache(d->lender_fd, 0, 0);
	r = tp_move_ext(d->lender_fd, d->fd, d->lender_logical, d->borrow_slot, 1,
			&moved);
	if (r >= 0 && moved != 1)
		r = -EIO;
	d->borrowed = false;
	return r;
}

static int reservoir_release(struct tp_placer *p, struct tp_donor *d);

/* Return the borrowed block and close the donor. */
int tp_donor_release(struct tp_donor *d)
{
	int r = 0;

	if (d->fd < 0)
		return 0;
	if (d->reservoir)
		return reservoir_release(d->reservoir, d);
	r = return_borrowed(d);
	d->fd = tp_safe_close(d->fd);
	return r;
}

/*
 * Write one zeroed block at logical blk, allocating it now.  O_DIRECT
 * allocates at write time, as buffered I/O does only at writeback: no
 * fdatasync, so no journal commit for each placement.
 */
static int write_block_direct(struct tp_placer *p, int fd, uint64_t blk)
{
	uint32_t bs = p->block_size;
	int flags = fcntl(fd, F_GETFL), r = 0;

	if (!p->zero) {
		if (posix_memalign(&p->zero, 4096, bs) != 0)
			return -ENOMEM;
		memset(p->zero, 0, bs);
	}
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_DIRECT) < 0) {
		/* no direct I/O here: buffered, and force the allocation */
		if (pwrite(fd, p->zero, bs, (off_t)(blk * bs)) != (ssize_t)bs)
			return errno ? -errno : -EIO;
		return fdatasync(fd) < 0 ? -errno : 0;
	}
	if (pwrite(fd, p->zero, bs, (off_t)(blk * bs)) != (ssize_t)bs)
		r = errno ? -errno : -EIO;
	(void)fcntl(fd, F_SETFL, flags);
	return r;
}

/* ext4 aligns a normalised window of 1 MiB or more to its size, and a
 * smaller one starts at block 0 and covers the whole (small) donor: a
 * window never ends inside the 1 MiB-aligned stretch it starts in. */
#define WINDOW_GRAIN (1u << 20)

/*
 * Allocate donor [start, start + n) at [target, target + n), given that
 * donor block start - 1 sits at target - 1 (merge-left, with a fence at
 * start + n), or donor block start + n at target + n with start == 0 and
 * nothing mapped left of it (merge-right).  One written block at start
 * makes a request whose normalised window reaches from start to the fence
 * or to the window's end: ext4 merges it with the neighbour, which sets
 * TRY_GOAL at target, and leaves the rest of the window as the inode's
 * preallocation, which fallocate then consumes -- no further than the
 * next WINDOW_GRAIN boundary, where the window may end: past it ext4
 * would allocate wherever it likes, maybe inside the hole but not in
 * order, and blocks punched out again stay busy until the next journal
 * commit, so that the next step could not have them.  Returns how many
 * leading blocks landed in place; what landed elsewhere is punched out.
 */
static int allocate(struct tp_placer *p, int fd, uint64_t start,
		    uint64_t target, uint64_t n, uint64_t *ret_placed)
{
	uint32_t bs = p->block_size;
	uint64_t grain = MAX(WINDOW_GRAIN / bs, 1u), placed = 0;
	uint64_t end = MIN(start + n, (start / grain + 1) * grain);
	int r;

	r = write_block_direct(p, fd, start);
	if (r < 0)
		return r;
	r = falloc(fd, bs, start + 1, end - start - 1);
	if (r < 0)
		return r;
	r = placed_prefix(fd, bs, start, target, n, &placed);
	if (r < 0)
		return r;
	if (placed == 0) {
		uint64_t where;
		if (donor_block(fd, bs, start, &where) >= 0)
			mark_dirty(p, where);
	}
	if (placed < n) {
		r = punch(fd, bs, start + placed, n - placed);
		if (r < 0)
			return r;
	}
	*ret_placed = placed;
	return 0;
}

/* A donor with its helpers (borrow slot; for merge-left, a fence) in place,
 * none of them inside the hole. */
static int donor_with_helpers(struct tp_placer *p, uint64_t T, uint64_t n,
			      bool right, struct tp_donor *d)
{
	int parked[3] = { -1, -1, -1 }, r = 0;
	unsigned n_parked = 0;
	uint32_t bs = p->block_size;
	uint64_t h = helper_blocks(bs);
	uint64_t slot_len = tp_blocks_overlap(&p->slot_took, T, n) ? n + 1 : 1;

	d->start = right ? 0 : 1;
	d->len = n;
	d->borrow_slot = right ? n : 0;
	for (;;) {
		uint64_t slot_phys, fence_phys = UINT64_MAX;
		bool slot_clear = true, clear = true;

		r = donor_open(p->mount_fd, bs, n, &d->fd);
		if (r < 0)
			break;
		/* fallocated, not written: no preallocation lands in the hole */
		r = falloc_keep(d->fd, bs, d->borrow_slot, slot_len);
		if (r >= 0)
			r = mapped_outside(d->fd, bs, d->borrow_slot, slot_len, T, n,
					   &slot_clear);
		/* a wide slot (below) keeps its first block */
		if (r >= 0 && slot_clear && slot_len > 1)
			r = free_range(p, d->fd, d->borrow_slot + 1, slot_len - 1);
		if (r >= 0 && !right)
			r = falloc(d->fd, bs, d->start + n, h);
		if (r == -ENOSPC && h > 1) {
			/* no long free run left: single blocks, wherever */
			d->fd = tp_safe_close(d->fd);
			h = 1;
			continue;
		}
		if (r >= 0)
			r = donor_block(d->fd, bs, d->borrow_slot, &slot_phys);
		if (r >= 0 && !right)
			r = donor_block(d->fd, bs, d->start + n, &fence_phys);
		if (r >= 0 && !right)
			r = mapped_outside(d->fd, bs, d->start + n, h, T, n, &clear);
		if (r < 0)
			break;
		if (slot_clear && clear) {
			d->slot_physical = slot_phys;
			d->fence_physical = fence_phys;
			break;
		}
		/* A one-block request goes to the group's smallest free
		 * pieces, and the hole's ragged ends may be the only ones in
		 * its group: the next slot would land in the hole again
		 * (placement.sh saw four in a row).  Ask for more than the
		 * hole holds and keep the first block: no piece of the hole
		 * can serve that whole. */
		if (!slot_clear && slot_len == 1) {
			tp_blocks_add(&p->slot_took, T, n);
			slot_len = n + 1;
		}
		/* A helper took part of the hole (small holes attract small
		 * allocations).  Park this donor, holding those blocks, so
		 * the next one's helpers land elsewhere. */
		if (!p->may_park) {
			r = -EAGAIN;
			break;
		}
		if (n_parked == ELEMENTSOF(parked)) {
			r = -EADDRNOTAVAIL;
			break;
		}
		parked[n_parked++] = d->fd;
		d->fd = -1;
	}
	if (r < 0)
		d->fd = tp_safe_close(d->fd);
	/* Give the parked blocks back, and commit, so that the hole is free
	 * for allocation again: ext4 reuses freed blocks only after the
	 * transaction that freed them commits. */
	for (unsigned i = 0; i < n_parked; i++) {
		if (r >= 0) {
			int k = punch(parked[i], bs, 0, 2 * n + 1 + helper_blocks(bs));
			if (k >= 0 && fdatasync(parked[i]) < 0)
				k = -errno;
			if (k < 0)
				r = k;
		}
		tp_safe_close(parked[i]);
	}
	if (r < 0)
		d->fd = tp_safe_close(d->fd);
	return r;
}

/* ---- the reservoir (borrow, merge-left) ------------------------------------------ */

/*
 * Two costs of the placement above come with every donor: the zeroed first
 * block, written only to make the allocation (MOVE_EXT writes the data
 * there again), and a fresh one-block borrow slot, which mballoc takes from
 * the smallest free pieces -- often a hole the plan fills, busy from the
 * donor's close until a journal commit.
 *
 * fallocate() normalises its requests, and so can merge one with the
 * borrowed block (TRY_GOAL), only when the whole call asks for more than
 * EXT_UNWRITTEN_MAX_LEN (32767) blocks; its first request stops at the next
 * mapped block.  The reservoir is one donor in which the range [next,
 * next + n) is followed by a mapped fence reaching past next + 32768, so
 * that fallocate(next, 32768 blocks) allocates the range exactly at the
 * target, unwritten -- writing nothing -- and then only walks the fence.
 * The fence is fallocated a megabyte at a time, unwritten (nothing written,
 * nothing a thin pool provisions), for many placements, and the ranges are
 * taken from its front.  The slot is one block at logical 0, allocated
 * afresh for each placement, and every range starts at 1: what a victim
 * leaves there stays as fence until the next range is punched out of it
 * (reservoir_release() says why neither may be written meanwhile).  A range not moved whole closes the reservoir; a miss closes it for the run (where the placer may commit,
 * that placement is then made the other way).  Every journal commit of the
 * mover closes it too (tp_placer_flush()): what it held is free then.
 *
 * The fence holds 129 MiB (4 KiB blocks) of free space meanwhile, so the
 * reservoir is used only where that leaves an eighth of the filesystem,
 * and at least 64 MiB, free for everyone else; elsewhere each placement
 * has a donor of its own.  Once the aligned free megabytes are taken, the
 * fence takes smaller pieces, some of them holes the plan fills: those
 * victims wait for the next round (bench/compact: fewer of them than the
 * fresh slots and fences of the donors of their own took).
 */
#define TRIGGER_BLOCKS 32768u    /* more than EXT_UNWRITTEN_MAX_LEN */
#define RESERVOIR_SIZE (1ull << 40) /* i_size: MOVE_EXT needs its ranges inside */
#define RESERVOIR_RANGE 1           /* the range's first block; the slot is 0 */

/* Free all the reservoir holds; with commit, commit that too (fdatasync
 * after the punch), so that ext4 can allocate those blocks again. */
static void reservoir_close(struct tp_placer *p, bool commit)
{
	struct tp_reservoir *res = &p->res;

	if (res->fd < 0)
		return;
	if (free_range(p, res->fd, 0, res->fence_end) >= 0 && commit)
		(void)fdatasync(res->fd);
	res->fd = tp_safe_close(res->fd);
}

void tp_placer_flush(struct tp_placer *p)
{
	reservoir_close(p, false);
}

/*
 * Map the fence up to at least block upto, outside [T, T + n), a megabyte
 * a request: mballoc serves a power-of-two request from an aligned free run
 * of its size while there is one (empty clusters), then from what is left.
 * -EAGAIN: the fence took part of the hole.
 */
static int fence_extend(struct tp_placer *p, uint64_t upto, uint64_t T, uint64_t n)
{
	struct tp_reservoir *res = &p->res;
	uint32_t bs = p->block_size;
	uint64_t h = helper_blocks(bs);
	bool ok = true;
	int r = 0;

	while (res->fence_end < upto && r >= 0 && ok) {
		uint64_t b = res->fence_end;
		r = falloc(res->fd, bs, b, h);
		if (r < 0)
			return r == -ENOSPC ? -EXFULL : r;
		res->fence_end = b + h;
		r = mapped_outside(res->fd, bs, b, h, T, n, &ok);
	}
	return r >= 0 && !ok ? -EAGAIN : r;
}

/* -EXFULL: no reservoir here. */
static int reservoir_open(struct tp_placer *p)
{
	struct tp_reservoir *res = &p->res;
	uint32_t bs = p->block_size;
	struct statvfs sv;
	int r;

	if (fstatvfs(p->mount_fd, &sv) < 0)
		return -errno;
	uint64_t avail = (uint64_t)sv.f_bavail * sv.f_frsize / bs;
	uint64_t total = (uint64_t)sv.f_blocks * sv.f_frsize / bs;
	uint64_t keep = MAX(total / 8, (uint64_t)(64u << 20) / bs);
	if (avail < (uint64_t)TRIGGER_BLOCKS + helper_blocks(bs) + keep)
		return -EXFULL;
	res->fd = openat(p->mount_fd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (res->fd < 0)
		return -errno;
	if (ftruncate(res->fd, (off_t)RESERVOIR_SIZE) < 0) {
		r = errno == EFBIG || errno == EINVAL ? -EXFULL : -errno;
		goto fail;
	}
	/* the first slot: one block, as a donor's own */
	r = falloc(res->fd, bs, 0, 1);
	if (r < 0)
		goto fail;
	res->fence_end = RESERVOIR_RANGE;
	return 0;
fail:
	reservoir_close(p, false);
	return r;
}

static int reservoir_place(struct tp_placer *p, const struct tp_place_request *q,
			   struct tp_donor *ret)
{
	struct tp_reservoir *res = &p->res;
	uint32_t bs = p->block_size;
	uint64_t n = q->len, T = q->target, slot, phys, placed = 0;
	struct tp_donor d;
	int r;

	if (res->fd < 0 && (r = reservoir_open(p)) < 0) {
		if (r == -EXFULL)
			res->off = true;
		return r;
	}
	uint64_t a = RESERVOIR_RANGE;
	d = (struct tp_donor){ .fd = res->fd, .start = a, .len = n,
			       .lender_fd = q->lender_fd,
			       .lender_logical = q->lender_logical,
			       .borrow_slot = a - 1, .fence_physical = UINT64_MAX,
			       .target = T, .block_size = bs, .reservoir = p };
	r = fence_extend(p, a + MAX(n, (uint64_t)TRIGGER_BLOCKS), T, n);
	if (r >= 0)
		r = donor_block(res->fd, bs, a - 1, &slot);
	if (r >= 0 && overlaps(slot, 1, T - 1, n + 2))
		r = -EAGAIN;
	/* The fence's own extent-tree blocks may have taken part of the
	 * hole: nothing has changed yet, so the reservoir stays. */
	if (r >= 0 && (r = hole_still_free(p, T, n)) == -EEXIST)
		return r;
	if (r >= 0)
		r = free_range(p, res->fd, a, n);
	if (r < 0)
		goto fail;
	d.slot_physical = slot;

	uint64_t moved = 0;
	r = tp_move_ext(q->lender_fd, res->fd, q->lender_logical, a - 1, 1, &moved);
	if (moved == 1) {
		d.borrowed = true;
		mark_dirty(p, slot);
	}
	if (r < 0)
		goto fail;
	r = donor_block(res->fd, bs, a - 1, &phys);
	if (r < 0)
		goto fail;
	if (phys != T - 1) {
		r = -ESTALE;
		goto fail;
	}
	r = hole_still_free(p, T, n); /* the lender's, this time */
	if (r < 0)
		goto fail;
	r = falloc_keep(res->fd, bs, a, TRIGGER_BLOCKS);
	if (r < 0)
		goto fail;
	r = placed_prefix(res->fd, bs, a, T, n, &placed);
	if (r < 0)
		goto fail;
	p->stats.attempts++;
	if (placed < n) {
		/* not this kernel's way, it seems: not again this run */
		p->stats.missed++;
		res->off = true;
		r = -EADDRNOTAVAIL;
		goto fail;
	}
	p->stats.exact++;
	p->stats.reservoir++;
	*ret = d;
	return 0;

fail:
	if (return_borrowed(&d) < 0)
		p->stats.unreturned++;
	/* The fence or the first slot took part of the hole, or the range
	 * missed (what landed in the hole, if any, goes with the rest): free
	 * it all, commit, and place this one with a donor of its own. */
	bool retry = (r == -EAGAIN || r == -EADDRNOTAVAIL) && p->may_park &&
		     res->fd >= 0;
	reservoir_close(p, retry);
	if (retry)
		r = -EXDEV;
	if (r == -EXFULL)
		res->off = true;
	return r;
}

/*
 * The borrowed block back, and a fresh slot for the next placement.
 *
 * Nothing may be written into a block that the journal on disk may still
 * give to a file, or a power cut before the next commit leaves that file
 * pointing at someone else's data.  Two such blocks come out of every
 * placement, and ext4's rule that a freed block is not reused before its
 * transaction commits holds neither, because MOVE_EXT swaps blocks and
 * frees none:
 *   - the range, after the moves, holds the blocks the victim left: they
 *     stay in the reservoir, never written, as part of its fence, until
 *     the next range is punched out of them or the reservoir closes;
 *   - the slot held the lender's block while it was borrowed, and a
 *     commit may have come meanwhile: it is punched out (busy until the
 *     next commit, which also records the return) and the next slot is
 *     allocated afresh, from blocks free on disk.
 */
static int reservoir_release(struct tp_placer *p, struct tp_donor *d)
{
	struct tp_reservoir *res = &p->res;
	bool moved = false;
	int r = return_borrowed(d), k;

	d->fd = -1;
	if (r < 0) {
		/* The lender keeps its data in the slot; the block beside
		 * the hole goes with the reservoir. */
		reservoir_close(p, false);
		return r;
	}
	/* Not moved whole, part of the range is still the target's. */
	k = mapped_outside(res->fd, p->block_size, d->start, d->len, d->target,
			   d->len, &moved);
	if (k >= 0 && !moved)
		k = -EBUSY;
	if (k >= 0)
		k = free_range(p, res->fd, d->borrow_slot, 1);
	if (k >= 0)
		k = falloc_keep(res->fd, p->block_size, d->borrow_slot, 1);
	if (k < 0)
		reservoir_close(p, false);
	return 0;
}

static int borrow_place(struct tp_placer *p, const struct tp_place_request *q,
			struct tp_donor *ret)
{
	uint32_t bs = p->block_size;
	uint64_t n = q->len, T = q->target, phys;
	struct tp_donor d = { .fd = -1, .lender_fd = q->lender_fd,
			      .lender_logical = q->lender_logical,
			      .block_size = bs };
	int r;

	if (n == 0)
		return -EINVAL;
	if (!q->right && !p->res.off) {
		r = reservoir_place(p, q, ret);
		if (r != -EXFULL && r != -EXDEV)
			return r;
		/* no reservoir here, or not for this hole: a donor of its own */
	}
	r = donor_with_helpers(p, T, n, q->right, &d);
	if (r < 0) {
		if (r == -EADDRNOTAVAIL) {
			p->stats.attempts++;
			p->stats.missed++;
		}
		return r;
	}

	/* Borrow: the lender's block beside the hole becomes the donor's. */
	uint64_t moved = 0;
	r = tp_move_ext(q->lender_fd, d.fd, q->lender_logical, d.borrow_slot, 1,
			&moved);
	if (moved == 1) {
		d.borrowed = true;
		mark_dirty(p, d.slot_physical);
	}
	if (r < 0)
		goto fail;
	r = donor_block(d.fd, bs, d.borrow_slot, &phys);
	if (r < 0)
		goto fail;
	if (phys != (q->right ? T + n : T - 1)) {
		r = -ESTALE; /* the lender's block is no longer beside the hole */
		goto fail;
	}
	r = hole_still_free(p, T, n);
	if (r < 0)
		goto fail;

	uint64_t placed = 0;
	r = allocate(p, d.fd, d.start, T, n, &placed);
	if (r < 0)
		goto fail;
	/* A long hole takes a step for each window (allocate()): the
	 * donor's own placed prefix is the next merge-left neighbour. */
	while (placed > 0 && placed < n) {
		uint64_t more = 0;
		r = allocate(p, d.fd, d.start + placed, T + placed, n - placed,
			     &more);
		if (r < 0)
			goto fail;
		if (more == 0)
			break;
		placed += more;
	}
	p->stats.attempts++;
	if (placed < n) {
		p->stats.missed++;
		r = -EADDRNOTAVAIL;
		goto fail;
	}
	p->stats.exact++;
	*ret = d;
	return 0;

fail:
	{
		int k = tp_donor_release(&d);
		if (k < 0 && r != -EADDRNOTAVAIL)
			r = k;
		if (k < 0)
			p->stats.unreturned++;
	}
	return r;
}

/* ---- fallocate2 ----------------------------------------------------------------- */

static int fallocate2_place(struct tp_placer *p, const struct tp_place_request *q,
			    struct tp_donor *ret)
{
	uint32_t bs = p->block_size;
	struct tp_donor d = { .fd = -1 };
	uint64_t placed = 0;
	int r;

	r = donor_open(p->mount_fd, bs, q->len, &d.fd);
	if (r < 0)
		return r;
	d.start = 0;
	d.len = q->len;
	p->stats.attempts++;
	if (syscall(p->fallocate2_nr, d.fd, 0, 0LL,
		    (long long)(q->len * bs), (unsigned long long)(q->target * bs)) < 0) {
		r = -errno;
		goto fail;
	}
	r = placed_prefix(d.fd, bs, 0, q->target, q->len, &placed);
	if (r < 0)
		goto fail;
	if (placed < q->len) {
		r = -EADDRNOTAVAIL;
		goto fail;
	}
	p->stats.exact++;
	*ret = d;
	return 0;
fail:
	if (r == -EADDRNOTAVAIL)
		p->stats.missed++;
	tp_donor_release(&d);
	return r;
}

/* Whether the running kernel has a fallocate2 syscall, by its symbol:
 * calling an unknown syscall number to find out is not safe. */
static bool kernel_has_fallocate2(void)
{
	_cleanup_fclose_ FILE *f = fopen("/proc/kallsyms", "re");
	char line[512];

	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) {
		const char *name = strrchr(line, ' ');
		if (!name)
			continue;
		name++;
		size_t len = strcspn(name, "\t\n");
		if ((len == 14 && strncmp(name, "sys_fallocate2", 14) == 0) ||
		    (len == 20 && strncmp(name, "__x64_sys_fallocate2", 20) == 0) ||
		    (len == 22 && strncmp(name, "__arm64_sys_fallocate2", 22) == 0))
			return true;
	}
	return false;
}

/* ---- the placer -------------------------------------------------------------------- */

int tp_placer_init(struct tp_placer *p, enum tp_placement kind, int mount_fd,
		   uint32_t block_size, long fallocate2_nr)
{
	*p = (struct tp_placer){
		.kind = kind,
		.mount_fd = mount_fd,
		.block_size = block_size,
		.fallocate2_nr = fallocate2_nr,
		.res = { .fd = -1 },
	};
	struct stat st;
	if (mount_fd >= 0 && fstat(mount_fd, &st) == 0)
		p->dev = st.st_dev;
	if (kind == TP_PLACEMENT_FALLOCATE2 && !kernel_has_fallocate2())
		return -ENOSYS;
	return 0;
}

int tp_place(struct tp_placer *p, const struct tp_place_request *q,
	     struct tp_donor *ret)
{
	switch (p->kind) {
	case TP_PLACEMENT_BORROW:
		return borrow_place(p, q, ret);
	case TP_PLACEMENT_FALLOCATE2:
		return fallocate2_place(p, q, ret);
	default:
		return -EOPNOTSUPP;
	}
}

const char *tp_placement_to_string(enum tp_placement k)
{
	switch (k) {
	case TP_PLACEMENT_BORROW:
		return "borrow";
	case TP_PLACEMENT_FALLOCATE2:
		return "fallocate2";
	case TP_PLACEMENT_OFFLINE:
		return "offline";
	}
	return "unknown";
}
