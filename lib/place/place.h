/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef TP_PLACE_H
#define TP_PLACE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "thinpack/thinpack.h"

/* Runs of physical blocks. */
struct tp_blocks_vec {
	struct tp_blocks {
		uint64_t start, len;
	} *v;
	size_t n, cap;
};
/* Lost when out of memory: these lists only save journal commits. */
void tp_blocks_add(struct tp_blocks_vec *v, uint64_t start, uint64_t len);
bool tp_blocks_overlap(const struct tp_blocks_vec *v, uint64_t start, uint64_t len);

struct tp_place_request {
	uint64_t target;         /* T: first physical block of the range */
	uint64_t len;            /* n */
	/* borrow: the lender owns block T - 1 (or T + n when right) at
	 * lender_logical; its fd is O_RDWR and leased. */
	int lender_fd;
	uint64_t lender_logical;
	bool right;
};

struct tp_donor {
	int fd;                  /* O_TMPFILE, or -1 */
	uint64_t start, len;     /* donor logical range at the target */
	uint64_t target;         /* T */
	/* borrow: the lender's block, to give back */
	bool borrowed;
	int lender_fd;
	uint64_t lender_logical;
	uint64_t borrow_slot;
	uint64_t slot_physical;  /* where the lender's block sits meanwhile */
	uint64_t fence_physical; /* UINT64_MAX: none */
	uint32_t block_size;
	/* Not a donor of its own: the placer's reservoir (reservoir.c). */
	struct tp_placer *reservoir;
};

struct tp_placer {
	enum tp_placement kind;
	int mount_fd;
	dev_t dev;               /* the filesystem's, for GETFSMAP */
	uint32_t block_size;
	long fallocate2_nr;
	struct tp_placement_stats stats;
	/* Blocks written outside the targets: the borrow slots (the lender's
	 * data is copied there and back) and first blocks of misses.  A thin
	 * pool allocates their chunks; trim them once they are free again. */
	uint64_t *dirty;
	size_t n_dirty, cap_dirty;
	void *zero; /* an aligned block of zeros, for O_DIRECT */
	/* When a helper block lands in the hole: park the donor and commit
	 * (may_park), or give up with TP_PLACE_HOLE_BUSY for the caller to
	 * retry after a commit of its own. */
	bool may_park;
	/* borrow, merge-left: one donor for many placements (reservoir.c) */
	struct tp_reservoir {
		int fd;             /* -1: none open */
		uint64_t fence_end; /* the fence: mapped up to here */
		bool off;           /* not here: no room, or it missed */
		unsigned bad_slots; /* slots tp_placer_may_write() refused */
	} res;
	/* Blocks the reservoir (or a wide borrow slot) freed, busy until
	 * the next journal commit (ext4 allocates them only after it);
	 * tp_placer_flush() adds what the reservoir still held.  The caller
	 * clears it once committed. */
	struct tp_blocks_vec freed;
	/* Holes a one-block borrow slot landed in: their next donor asks
	 * for a wide slot from the start (borrow.c, donor_with_helpers()). */
	struct tp_blocks_vec slot_took;
	/* Set by the caller after tp_placer_init(), may be NULL.  A borrow
	 * slot is written: none goes where may_write() says that write
	 * would make the device back a chunk for good (a cluster it shares
	 * with a snapshot, or one in use that it never backed). */
	bool (*may_write)(void *userdata, uint64_t blk);
	void *may_write_data;
};

/* -ENOSYS: fallocate2 asked for, and this kernel has none. */
int tp_placer_init(struct tp_placer *p, enum tp_placement kind, int mount_fd,
		   uint32_t block_size, long fallocate2_nr);
void tp_placer_done(struct tp_placer *p);
/* Close the reservoir: all it holds is freed (see freed).  Before a
 * journal commit, a fresh scan, or trim. */
void tp_placer_flush(struct tp_placer *p);
/* What a placement came to.  Only TP_PLACED leaves a donor in *ret; every
 * other outcome has released what it took. */
enum tp_place_outcome {
	TP_PLACED,              /* *ret holds donor blocks exactly at the
				 * target (checked with FIEMAP) */
	TP_PLACE_MISSED,        /* the allocation landed elsewhere */
	TP_PLACE_HOLE_TAKEN,    /* part of the hole is no longer free, and no
				 * commit frees it again */
	TP_PLACE_HOLE_BUSY,     /* a helper took part of the hole and parking
				 * is not allowed: free again after a commit */
	TP_PLACE_LENDER_MOVED,  /* the lender's block is not beside the hole */
	_TP_PLACE_OUTCOME_MAX,
};
const char *tp_place_outcome_to_string(enum tp_place_outcome o);
/* 0 and *ret_outcome; or -errno: failed, released (*ret_outcome unset). */
int tp_place(struct tp_placer *p, const struct tp_place_request *q,
	     struct tp_donor *ret, enum tp_place_outcome *ret_outcome);
/* Give back the borrowed block, close the donor (and with it every block
 * it still holds; through the reservoir: the range's old blocks stay in
 * its fence, never written, and the slot is freed, see reservoir.c).  Safe to
 * call twice. */
int tp_donor_release(struct tp_donor *d);

#endif
