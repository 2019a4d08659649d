/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The reservoir: borrow placement, merge-left, through one donor for many
 * placements, which allocates each hole writing nothing.
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
 * (tp_reservoir_release() says why neither may be written meanwhile).
 * A range not moved whole closes the reservoir; a miss closes it for the
 * run (where the placer may commit, that placement is then made the other
 * way).  Every journal commit of the mover closes it too
 * (tp_placer_flush()): what it held is free then.
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
	if (tp_free_range(p, res->fd, 0, res->fence_end, NULL) >= 0 && commit)
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
 * *ret_clear is false when the fence took part of the hole.
 */
static int fence_extend(struct tp_placer *p, uint64_t upto, uint64_t T, uint64_t n,
			bool *ret_clear)
{
	struct tp_reservoir *res = &p->res;
	uint32_t bs = p->block_size;
	uint64_t h = tp_helper_blocks(bs);
	int r = 0;

	*ret_clear = true;
	while (res->fence_end < upto && r >= 0 && *ret_clear) {
		uint64_t b = res->fence_end;
		r = tp_falloc(res->fd, bs, b, h);
		if (r < 0)
			return r;
		res->fence_end = b + h;
		r = tp_mapped_outside(res->fd, bs, b, h, T, n, ret_clear);
	}
	return r;
}

/*
 * A slot where it may be written: [0, w) punched out (the slot and the
 * fence's first blocks, none of them written) and allocated again in one
 * request, which mballoc serves from a free run of w blocks aligned to
 * w; the slot is its first block, the rest is fence again.  *ret_clear is
 * false when the request took part of the hole [T, T + n).
 */
static int reslot(struct tp_placer *p, uint64_t w, uint64_t T, uint64_t n,
		  uint64_t *ret_slot, bool *ret_clear)
{
	int fd = p->res.fd;
	uint32_t bs = p->block_size;
	int r;

	r = tp_free_range(p, fd, RESERVOIR_RANGE - 1, w, NULL);
	if (r >= 0)
		r = tp_falloc_keep(fd, bs, RESERVOIR_RANGE - 1, w);
	if (r >= 0)
		r = tp_mapped_outside(fd, bs, RESERVOIR_RANGE - 1, w, T, n, ret_clear);
	if (r >= 0)
		r = tp_donor_block(fd, bs, RESERVOIR_RANGE - 1, ret_slot);
	return r;
}

/* Open the reservoir, or say there is no room for one (*ret_room). */
static int reservoir_open(struct tp_placer *p, bool *ret_room)
{
	struct tp_reservoir *res = &p->res;
	uint32_t bs = p->block_size;
	struct statvfs sv;
	int r;

	*ret_room = true;
	if (fstatvfs(p->mount_fd, &sv) < 0)
		return -errno;
	uint64_t avail = (uint64_t)sv.f_bavail * sv.f_frsize / bs;
	uint64_t total = (uint64_t)sv.f_blocks * sv.f_frsize / bs;
	uint64_t keep = MAX(total / 8, (uint64_t)(64u << 20) / bs);
	if (avail < (uint64_t)TRIGGER_BLOCKS + tp_helper_blocks(bs) + keep) {
		*ret_room = false;
		return 0;
	}
	res->fd = openat(p->mount_fd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (res->fd < 0)
		return -errno;
	if (ftruncate(res->fd, (off_t)RESERVOIR_SIZE) < 0) {
		r = -errno;
		if (r == -EFBIG || r == -EINVAL) {
			*ret_room = false;
			r = 0;
		}
		goto fail;
	}
	/* the first slot: one block, as a donor's own */
	r = tp_falloc(res->fd, bs, 0, 1);
	if (r < 0)
		goto fail;
	res->fence_end = RESERVOIR_RANGE;
	return 0;
fail:
	reservoir_close(p, false);
	return r;
}

int tp_reservoir_place(struct tp_placer *p, const struct tp_place_request *q,
		       struct tp_donor *ret, enum tp_place_outcome *ret_outcome,
		       bool *ret_declined)
{
	enum tp_place_outcome o = TP_PLACED;
	struct tp_reservoir *res = &p->res;
	uint32_t bs = p->block_size;
	uint64_t n = q->len, T = q->target, slot, phys, placed = 0;
	bool room = true, clear, free_now;
	struct tp_donor d;
	int r;

	*ret_declined = false;
	if (res->fd < 0) {
		r = reservoir_open(p, &room);
		if (r < 0)
			return r;
		if (!room) {
			res->off = true;
			*ret_declined = true;
			return 0;
		}
	}
	uint64_t a = RESERVOIR_RANGE;
	d = (struct tp_donor){ .fd = res->fd, .start = a, .len = n,
			       .lender_fd = q->lender_fd,
			       .lender_logical = q->lender_logical,
			       .borrow_slot = a - 1, .fence_physical = UINT64_MAX,
			       .target = T, .block_size = bs, .reservoir = p };
	r = fence_extend(p, a + MAX(n, (uint64_t)TRIGGER_BLOCKS), T, n, &clear);
	if (r == -ENOSPC) {
		room = false;
		goto fail;
	}
	if (r < 0)
		goto fail;
	if (!clear) {
		o = TP_PLACE_HOLE_BUSY;
		goto fail;
	}
	/* The slot is written (the lender's block, each placement), and
	 * where it is now that write may make the device back a chunk for
	 * good: a wider slot, the rest of it fence (reslot()). */
	r = tp_donor_block(res->fd, bs, a - 1, &slot);
	for (unsigned wider = 0; r >= 0; wider++) {
		if (!clear || tp_overlaps(slot, 1, T - 1, n + 2)) {
			o = TP_PLACE_HOLE_BUSY;
			goto fail;
		}
		if (tp_placer_may_write(p, slot))
			break;
		if (wider == TP_MAX_WIDER) {
			/* A donor of its own for this one, whose slot is
			 * chosen apart, and a new reservoir for the next; no
			 * reservoir for the rest of the run after a few such. */
			if (++res->bad_slots >= 3)
				room = false;
			else
				o = TP_PLACE_HOLE_BUSY;
			goto fail;
		}
		r = reslot(p, 4ull << (2 * wider), T, n, &slot, &clear);
	}
	if (r < 0)
		goto fail;
	/* The fence's own extent-tree blocks may have taken part of the
	 * hole: nothing has changed yet, so the reservoir stays. */
	r = tp_hole_still_free(p, T, n, &free_now);
	if (r < 0)
		goto fail;
	if (!free_now) {
		*ret_outcome = TP_PLACE_HOLE_TAKEN;
		return 0;
	}
	/* What the two files hold now, to tell below whether the punch or
	 * the borrow allocated an extent-tree block (which may have gone into
	 * the hole) without asking GETFSMAP again: each call costs in
	 * proportion to the filesystem's block groups. */
	uint64_t res_held, lender_held, punched;
	r = tp_blocks_held(res->fd, &res_held);
	if (r >= 0)
		r = tp_blocks_held(q->lender_fd, &lender_held);
	if (r < 0)
		goto fail;
	r = tp_free_range(p, res->fd, a, n, &punched);
	if (r < 0)
		goto fail;
	d.slot_physical = slot;

	uint64_t moved = 0;
	r = tp_move_ext(q->lender_fd, res->fd, q->lender_logical, a - 1, 1, &moved);
	if (moved == 1) {
		d.borrowed = true;
		tp_placer_mark_dirty(p, slot);
	}
	if (r < 0)
		goto fail;
	r = tp_donor_block(res->fd, bs, a - 1, &phys);
	if (r < 0)
		goto fail;
	if (phys != T - 1) {
		o = TP_PLACE_LENDER_MOVED;
		goto fail;
	}
	/* The lender's extent-tree blocks, this time, or the reservoir's
	 * (the punch may split its extent): looked for only when one of the
	 * two files holds another block than the punch and the swap leave. */
	uint64_t res_now, lender_now;
	r = tp_blocks_held(res->fd, &res_now);
	if (r >= 0)
		r = tp_blocks_held(q->lender_fd, &lender_now);
	if (r < 0)
		goto fail;
	free_now = true;
	if (res_now != res_held - punched * (bs / 512) || lender_now != lender_held)
		r = tp_hole_still_free(p, T, n, &free_now);
	if (r < 0)
		goto fail;
	if (!free_now) {
		o = TP_PLACE_HOLE_TAKEN;
		goto fail;
	}
	r = tp_falloc_keep(res->fd, bs, a, TRIGGER_BLOCKS);
	if (r < 0)
		goto fail;
	r = tp_placed_prefix(res->fd, bs, a, T, n, &placed);
	if (r < 0)
		goto fail;
	p->stats.attempts++;
	if (placed < n) {
		/* not this kernel's way, it seems: not again this run */
		p->stats.missed++;
		res->off = true;
		o = TP_PLACE_MISSED;
		goto fail;
	}
	p->stats.exact++;
	p->stats.reservoir++;
	*ret = d;
	*ret_outcome = TP_PLACED;
	return 0;

fail:
	if (tp_return_borrowed(&d) < 0)
		p->stats.unreturned++;
	/* The fence or the first slot took part of the hole, or the range
	 * missed (what landed in the hole, if any, goes with the rest): free
	 * it all, commit, and place this one with a donor of its own.  No
	 * room for the fence: no reservoir this run. */
	bool retry = r >= 0 && (o == TP_PLACE_HOLE_BUSY || o == TP_PLACE_MISSED) &&
		     p->may_park && res->fd >= 0;
	reservoir_close(p, retry);
	if (!room)
		res->off = true;
	if (retry || !room) {
		*ret_declined = true;
		return 0;
	}
	*ret_outcome = o;
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
int tp_reservoir_release(struct tp_placer *p, struct tp_donor *d)
{
	struct tp_reservoir *res = &p->res;
	bool moved = false;
	int r = tp_return_borrowed(d), k;

	d->fd = -1;
	if (r < 0) {
		/* The lender keeps its data in the slot; the block beside
		 * the hole goes with the reservoir. */
		reservoir_close(p, false);
		return r;
	}
	/* Not moved whole, part of the range is still the target's. */
	k = tp_mapped_outside(res->fd, p->block_size, d->start, d->len, d->target,
			   d->len, &moved);
	if (k >= 0 && !moved)
		k = -EBUSY;
	if (k >= 0)
		k = tp_free_range(p, res->fd, d->borrow_slot, 1, NULL);
	if (k >= 0)
		k = tp_falloc_keep(res->fd, p->block_size, d->borrow_slot, 1);
	if (k < 0)
		reservoir_close(p, false);
	return 0;
}
