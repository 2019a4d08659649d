/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the files of lib/place/ share, and nothing outside them uses (the
 * header of place.c says which file holds what).  Blocks are filesystem
 * blocks of bs bytes; fd is a donor (or the reservoir) unless named.
 */
#ifndef TP_PLACE_PRIVATE_H
#define TP_PLACE_PRIVATE_H

#include <stdbool.h>
#include <stdint.h>

#include "place/place.h"

static inline bool tp_overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

/* ---- donor.c ---- */

/* Blocks of a helper (a fence step): a megabyte, see donor.c. */
uint64_t tp_helper_blocks(uint32_t bs);
/* An O_TMPFILE donor on the mount, sized for a range of n blocks. */
int tp_donor_open(int mount_fd, uint32_t bs, uint64_t n, int *ret_fd);
int tp_falloc(int fd, uint32_t bs, uint64_t blk, uint64_t n);
/* fallocate with i_size unchanged (it shapes the normalisation window). */
int tp_falloc_keep(int fd, uint32_t bs, uint64_t blk, uint64_t n);
int tp_punch(int fd, uint32_t bs, uint64_t blk, uint64_t n);
/* Where donor block blk is, or -ENODATA if nowhere. */
int tp_donor_block(int fd, uint32_t bs, uint64_t blk, uint64_t *ret);
/* Whether donor [start, start + n) is mapped, all of it outside physical
 * [T, T + len). */
int tp_mapped_outside(int fd, uint32_t bs, uint64_t start, uint64_t n,
		      uint64_t T, uint64_t len, bool *ret);
/* The longest prefix of donor [start, start + n) that maps to
 * [target, target + n). */
int tp_placed_prefix(int fd, uint32_t bs, uint64_t start, uint64_t target,
		     uint64_t n, uint64_t *ret);
/* Wider borrow slots asked for, a factor of 4 each, when a slot lands
 * where it may not be written (tp_placer_may_write()): a one-block request
 * takes the first free block of its group's buddy bitmap, and the next one
 * the block after it; a request of 4^k blocks goes to a free run aligned
 * to 4^k, up to a cluster away. */
#define TP_MAX_WIDER 4

/* Block blk was written outside the targets: trim it once free again. */
void tp_placer_mark_dirty(struct tp_placer *p, uint64_t blk);
/* Whether block blk may be written (a borrow slot): p->may_write(). */
bool tp_placer_may_write(const struct tp_placer *p, uint64_t blk);
/* Record what donor [blk, blk + n) maps as freed, then punch it out;
 * *ret_freed (may be NULL): how many blocks that was. */
int tp_free_range(struct tp_placer *p, int fd, uint64_t blk, uint64_t n,
		  uint64_t *ret_freed);
/* The 512-byte units a file holds (st_blocks): data and extent-tree
 * blocks alike, so that an unchanged figure after an operation that moves
 * or frees known data blocks says no extent-tree block was allocated. */
int tp_blocks_held(int fd, uint64_t *ret);
/* Whether all of the hole [T, T + n) is still free. */
int tp_hole_still_free(struct tp_placer *p, uint64_t T, uint64_t n, bool *ret);

/* ---- borrow.c ---- */

/* Return the borrowed block to its lender. */
int tp_return_borrowed(struct tp_donor *d);
int tp_borrow_place(struct tp_placer *p, const struct tp_place_request *q,
		    struct tp_donor *ret, enum tp_place_outcome *ret_outcome);

/* ---- reservoir.c ---- */

/* As tp_place(), or *ret_declined: no reservoir here, or not for this
 * hole (the reservoir is closed and committed): place it with a donor of
 * its own. */
int tp_reservoir_place(struct tp_placer *p, const struct tp_place_request *q,
		       struct tp_donor *ret, enum tp_place_outcome *ret_outcome,
		       bool *ret_declined);
int tp_reservoir_release(struct tp_placer *p, struct tp_donor *d);

/* ---- fallocate2.c ---- */

int tp_fallocate2_place(struct tp_placer *p, const struct tp_place_request *q,
			struct tp_donor *ret, enum tp_place_outcome *ret_outcome);
/* Whether the running kernel has a fallocate2 syscall, by its symbol. */
bool tp_kernel_has_fallocate2(void);

#endif
