/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef TP_MOVER_H
#define TP_MOVER_H

#include <stdint.h>
#include <sys/types.h>

#include "thinpack/thinpack.h"
#include "clustermap.h"
#include "place/place.h"
#include "plan.h"

struct tp_mover {
	int mount_fd;
	dev_t dev;
	uint32_t block_size;
	const struct tp_clustermap *map;
	struct tp_placer placer;
	uint64_t moved_blocks;
	/* Blocks of closed donors (helpers, unfilled targets) freed since the
	 * last journal commit: ext4 shows them used, and will not allocate
	 * them, until it.  A target overlapping one needs a commit; any
	 * other taken target is taken for good. */
	struct tp_blocks_vec pending;
	uint64_t commits;       /* forced to see freed blocks */
	bool fast_commit;       /* for tp_journal_commit() */
	/* A target that only a journal commit would free: with may_defer,
	 * say so in needs_commit (and fail) rather than commit now, so that
	 * one commit serves all such victims, put off to the end. */
	bool may_defer;
	bool needs_commit;
};

/* How many of moves[0, n) go through one donor: each starts where the
 * previous one ends, lent by it. */
size_t tp_mover_chain_length(const struct tp_move *moves, size_t n);

/* Move a chain (see above) under the safety protocol of move.c: one
 * placement for all, then each piece.  0: all done and verified.  < 0:
 * moves[0, *ret_done) done, the next one not, *why says why; a file is as
 * it was, or holds its data partly at the target (interrupted), never
 * anywhere unverified. */
int tp_mover_move(struct tp_mover *mv, const struct tp_move *moves, size_t n,
		  size_t *ret_done, enum tp_skip_reason *why);

/* Commit the journal (tp_journal_commit()): what was freed can be
 * allocated, and shows free; nothing is pending any more. */
int tp_mover_commit(struct tp_mover *mv);
void tp_mover_done(struct tp_mover *mv);

#endif
