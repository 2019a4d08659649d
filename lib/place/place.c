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
 *
 * The files: place.c (this: the placer and its dispatch), donor.c (what
 * every method uses), borrow.c, reservoir.c, fallocate2.c.
 *
 * Every placement is verified with FIEMAP before any data moves; a miss
 * releases the donor's blocks and says TP_PLACE_MISSED.  How a placement
 * ended is an outcome (enum tp_place_outcome), not an errno: a negative
 * return is always a real error.
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
#include "kio/kio.h"
#include "place/place.h"
#include "place/place-private.h"

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
		if (tp_overlaps(v->v[i].start, v->v[i].len, start, len))
			return true;
	return false;
}

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
	if (kind == TP_PLACEMENT_FALLOCATE2 && !tp_kernel_has_fallocate2())
		return -ENOSYS;
	return 0;
}

int tp_place(struct tp_placer *p, const struct tp_place_request *q,
	     struct tp_donor *ret, enum tp_place_outcome *ret_outcome)
{
	switch (p->kind) {
	case TP_PLACEMENT_BORROW:
		return tp_borrow_place(p, q, ret, ret_outcome);
	case TP_PLACEMENT_FALLOCATE2:
		return tp_fallocate2_place(p, q, ret, ret_outcome);
	default:
		return -EOPNOTSUPP;
	}
}

const char *tp_place_outcome_to_string(enum tp_place_outcome o)
{
	static const char *const names[_TP_PLACE_OUTCOME_MAX] = {
		[TP_PLACED] = "placed",
		[TP_PLACE_MISSED] = "missed",
		[TP_PLACE_HOLE_TAKEN] = "hole_taken",
		[TP_PLACE_HOLE_BUSY] = "hole_busy",
		[TP_PLACE_LENDER_MOVED] = "lender_moved",
	};
	return (unsigned)o < _TP_PLACE_OUTCOME_MAX ? names[o] : "unknown";
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
