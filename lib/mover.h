/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef TP_MOVER_H
#define TP_MOVER_H

#include <stdint.h>
#include <sys/types.h>

#include "thinpack/thinpack.h"
#include "clustermap.h"
#include "place.h"
#include "plan.h"

struct tp_mover {
	int mount_fd;
	dev_t dev;
	uint32_t block_size;
	const struct tp_clustermap *map;
	struct tp_placer placer;
	uint64_t moved_blocks;
	bool uncommitted_frees; /* donors closed since the last commit */
	uint64_t commits;       /* forced to see freed blocks */
};

/* One move under the safety protocol of move.c.  0: done and verified.
 * < 0: not done, *why says why; the file is as it was, or holds its data
 * partly at the target (interrupted), never anywhere unverified. */
int tp_mover_move(struct tp_mover *mv, const struct tp_move *m,
		  enum tp_skip_reason *why);

#endif
