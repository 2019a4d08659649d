/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * borrow: placement on stock kernels, a donor of its own for each hole
 * (doc/placement.md).  The lender's block beside the hole is borrowed with
 * MOVE_EXT; one block written beside it lands in the hole (merge goal), and
 * the rest of the hole comes from the preallocation that leaves.  Merge-left
 * placements go through the reservoir (reservoir.c) where there is room.
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

/* Return the borrowed block to its lender. */
int tp_return_borrowed(struct tp_donor *d)
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

/* Return the borrowed block and close the donor. */
int tp_donor_release(struct tp_donor *d)
{
	int r = 0;

	if (d->fd < 0)
		return 0;
	if (d->reservoir)
		return tp_reservoir_release(d->reservoir, d);
	r = tp_return_borrowed(d);
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
	r = tp_falloc(fd, bs, start + 1, end - start - 1);
	if (r < 0)
		return r;
	r = tp_placed_prefix(fd, bs, start, target, n, &placed);
	if (r < 0)
		return r;
	if (placed == 0) {
		uint64_t where;
		if (tp_donor_block(fd, bs, start, &where) >= 0)
			tp_placer_mark_dirty(p, where);
	}
	if (placed < n) {
		r = tp_punch(fd, bs, start + placed, n - placed);
		if (r < 0)
			return r;
	}
	*ret_placed = placed;
	return 0;
}

/* A donor with its helpers (borrow slot; for merge-left, a fence) in place,
 * none of them inside the hole: TP_PLACED.  Or none: TP_PLACE_HOLE_BUSY
 * (parking not allowed), TP_PLACE_MISSED (parked as often as it may). */
static int donor_with_helpers(struct tp_placer *p, uint64_t T, uint64_t n,
			      bool right, struct tp_donor *d,
			      enum tp_place_outcome *ret_outcome)
{
	enum tp_place_outcome o = TP_PLACED;
	int parked[3] = { -1, -1, -1 }, r = 0;
	unsigned n_parked = 0, wider = 0;
	uint32_t bs = p->block_size;
	uint64_t h = tp_helper_blocks(bs);
	uint64_t slot_len = tp_blocks_overlap(&p->slot_took, T, n) ? n + 1 : 1;

	d->start = right ? 0 : 1;
	d->len = n;
	d->borrow_slot = right ? n : 0;
	for (;;) {
		uint64_t slot_phys, fence_phys = UINT64_MAX;
		bool slot_clear = true, clear = true;

		r = tp_donor_open(p->mount_fd, bs, n, &d->fd);
		if (r < 0)
			break;
		/* fallocated, not written: no preallocation lands in the hole */
		r = tp_falloc_keep(d->fd, bs, d->borrow_slot, slot_len);
		if (r >= 0)
			r = tp_mapped_outside(d->fd, bs, d->borrow_slot, slot_len, T, n,
					   &slot_clear);
		/* a wide slot (below) keeps its first block */
		if (r >= 0 && slot_clear && slot_len > 1)
			r = tp_free_range(p, d->fd, d->borrow_slot + 1, slot_len - 1, NULL);
		if (r >= 0 && !right)
			r = tp_falloc(d->fd, bs, d->start + n, h);
		if (r == -ENOSPC && h > 1) {
			/* no long free run left: single blocks, wherever */
			d->fd = tp_safe_close(d->fd);
			h = 1;
			continue;
		}
		if (r >= 0)
			r = tp_donor_block(d->fd, bs, d->borrow_slot, &slot_phys);
		if (r >= 0 && !right)
			r = tp_donor_block(d->fd, bs, d->start + n, &fence_phys);
		if (r >= 0 && !right)
			r = tp_mapped_outside(d->fd, bs, d->start + n, h, T, n, &clear);
		if (r < 0)
			break;
		/* The lender's block is written into the slot: not where the
		 * device would have to back a chunk for it.  One-block
		 * requests go to the smallest free pieces, on a volume with a
		 * snapshot mostly in clusters it shares: ask for a wider slot
		 * (keeping its first block), which only a longer free run can
		 * serve; parked, as below, only when that fails too. */
		bool slot_backed = tp_placer_may_write(p, slot_phys);
		if (slot_clear && clear && slot_backed) {
			d->slot_physical = slot_phys;
			d->fence_physical = fence_phys;
			break;
		}
		if (slot_clear && clear && wider++ < TP_MAX_WIDER) {
			slot_len *= 4;
			d->fd = tp_safe_close(d->fd);
			continue;
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
		 * allocations), or the slot is where it may not be written.
		 * Park this donor, holding those blocks, so the next one's
		 * helpers land elsewhere. */
		if (!p->may_park) {
			o = TP_PLACE_HOLE_BUSY;
			break;
		}
		if (n_parked == ELEMENTSOF(parked)) {
			o = TP_PLACE_MISSED;
			break;
		}
		parked[n_parked++] = d->fd;
		d->fd = -1;
	}
	if (r < 0 || o != TP_PLACED)
		d->fd = tp_safe_close(d->fd);
	/* Give the parked blocks back, and commit, so that the hole is free
	 * for allocation again: ext4 reuses freed blocks only after the
	 * transaction that freed them commits. */
	for (unsigned i = 0; i < n_parked; i++) {
		if (r >= 0 && o == TP_PLACED) {
			int k = tp_punch(parked[i], bs, 0, 2 * n + 1 + tp_helper_blocks(bs));
			if (k >= 0 && fdatasync(parked[i]) < 0)
				k = -errno;
			if (k < 0)
				r = k;
		}
		tp_safe_close(parked[i]);
	}
	if (r < 0)
		d->fd = tp_safe_close(d->fd);
	*ret_outcome = o;
	return r;
}

int tp_borrow_place(struct tp_placer *p, const struct tp_place_request *q,
		    struct tp_donor *ret, enum tp_place_outcome *ret_outcome)
{
	enum tp_place_outcome o = TP_PLACED;
	uint32_t bs = p->block_size;
	uint64_t n = q->len, T = q->target, phys;
	struct tp_donor d = { .fd = -1, .lender_fd = q->lender_fd,
			      .lender_logical = q->lender_logical,
			      .block_size = bs };
	bool free_now;
	int r;

	if (n == 0)
		return -EINVAL;
	if (!q->right && !p->res.off) {
		bool declined = false;
		r = tp_reservoir_place(p, q, ret, ret_outcome, &declined);
		if (r < 0 || !declined)
			return r;
		/* no reservoir here, or not for this hole: a donor of its own */
	}
	r = donor_with_helpers(p, T, n, q->right, &d, &o);
	if (r < 0)
		return r;
	if (o != TP_PLACED) {
		if (o == TP_PLACE_MISSED) {
			p->stats.attempts++;
			p->stats.missed++;
		}
		*ret_outcome = o;
		return 0;
	}

	/* Borrow: the lender's block beside the hole becomes the donor's. */
	uint64_t moved = 0;
	r = tp_move_ext(q->lender_fd, d.fd, q->lender_logical, d.borrow_slot, 1,
			&moved);
	if (moved == 1) {
		d.borrowed = true;
		tp_placer_mark_dirty(p, d.slot_physical);
	}
	if (r < 0)
		goto fail;
	r = tp_donor_block(d.fd, bs, d.borrow_slot, &phys);
	if (r < 0)
		goto fail;
	if (phys != (q->right ? T + n : T - 1)) {
		o = TP_PLACE_LENDER_MOVED;
		goto fail;
	}
	r = tp_hole_still_free(p, T, n, &free_now);
	if (r < 0)
		goto fail;
	if (!free_now) {
		o = TP_PLACE_HOLE_TAKEN;
		goto fail;
	}

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
		o = TP_PLACE_MISSED;
		goto fail;
	}
	p->stats.exact++;
	*ret = d;
	*ret_outcome = TP_PLACED;
	return 0;

fail:
	{
		/* A donor not given back is an error, but not in place of
		 * a miss: what missed is counted as such. */
		int k = tp_donor_release(&d);
		if (k < 0 && (r < 0 || o != TP_PLACE_MISSED))
			r = k;
		if (k < 0)
			p->stats.unreturned++;
	}
	*ret_outcome = o;
	return r;
}
