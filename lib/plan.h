/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * plan: which clusters to empty, and where each piece of their data goes.
 * No I/O: it works on the cluster map and its reverse map.
 *
 * Victims are chosen up front, emptiest first, while their data fits in
 * the holes of the clusters that stay (less the slack) and the I/O budget.
 * Their pieces are then assigned one victim at a time, when the mover asks,
 * so that a failed placement can be planned around: the planner keeps the
 * holes' live state, and an undo record per move.
 */
#ifndef TP_PLAN_H
#define TP_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "thinpack/thinpack.h"
#include "clustermap.h"

struct tp_plan_options {
	unsigned max_usage;   /* percent: victims at most this full */
	unsigned slack;       /* percent of the target holes left free */
	uint64_t keep_free;   /* blocks of those holes left free at least: in
			       * a run's later passes, the first one's
			       * reserve (tp_plan_reserve()) */
	uint64_t max_io;      /* blocks; 0: no limit */
	bool need_lender;     /* borrow placement: a hole needs a lender */
	const uint64_t *skip; /* cluster indexes not to choose as victims */
	size_t n_skip;
	/* Where known, the clusters the device holds no space for, and
	 * those it shares with a snapshot, are neither victims nor targets
	 * (NULL: every one may be). */
	const struct tp_provmap *prov;
};

struct tp_move {
	uint64_t victim;          /* cluster index */
	uint32_t file;            /* index into the map's files */
	uint64_t logical, len;    /* the file's blocks */
	uint64_t source;          /* where they are */
	uint64_t target;          /* where they go */
	bool right;               /* lender at target + len, else target - 1 */
	bool has_lender;
	uint32_t lender;          /* file index */
	uint64_t lender_logical;
	bool unwritten;           /* fallocated: nothing to copy */
	uint32_t hole;            /* internal */
};

struct tp_plan;

int tp_plan_new(const struct tp_clustermap *map, const struct tp_plan_options *o,
		struct tp_plan **ret);
struct tp_plan *tp_plan_free(struct tp_plan *p);

/* Drop from map (the plan's own) what the plan does not need once made,
 * before its first tp_plan_next(): the extents that lie outside the
 * victims (the holes hold their lenders), the files that neither a
 * victim's extent nor a lender names (the indexes of the others change:
 * the plan's follow), the free runs.  The map is then this plan's only:
 * tp_clustermap_owner() knows the victims' extents only.  What a
 * full-size reverse map would hold for every file, it holds for the files
 * the plan moves or borrows from.  0, -EINVAL after tp_plan_next(), or
 * -ENOMEM. */
int tp_plan_shrink_map(struct tp_plan *p, struct tp_clustermap *m);

/* Victims chosen, and the data they hold (blocks). */
size_t tp_plan_n_victims(const struct tp_plan *p);
uint64_t tp_plan_victim_blocks(const struct tp_plan *p);
/* The hole blocks the plan leaves free for the slack (or keep_free). */
uint64_t tp_plan_reserve(const struct tp_plan *p);

/* Assign the next victim's pieces.  1: *ret_moves holds its moves (valid
 * until the next call), *ret_round is 0, or the round given to
 * tp_plan_defer() for a victim put off; 0: no victim left.  Victims whose
 * data does not fit are skipped and counted in tp_plan_unplaced(). */
int tp_plan_next(struct tp_plan *p, uint64_t *ret_victim,
		 const struct tp_move **ret_moves, size_t *ret_n,
		 unsigned *ret_round);

enum tp_replan_why {
	TP_REPLAN_LENDER, /* the hole's lender cannot lend */
	TP_REPLAN_HOLE,   /* the hole is taken, or placement missed */
};

/* moves[0, done) of the current victim happened; moves[done] could not be
 * placed.  Plan its data and the rest elsewhere.  1: new moves from index
 * done on in *ret_moves (the whole list again); 0: nowhere. */
int tp_plan_replan(struct tp_plan *p, size_t done, enum tp_replan_why why,
		   const struct tp_move **ret_moves, size_t *ret_n);

/* The current victim cannot be emptied: its moves from done on will not
 * happen, and their holes are free again. */
void tp_plan_abandon(struct tp_plan *p, size_t done);

/* The current victim's moves from done on must wait (for a journal
 * commit): plan them again after every other victim, as round `round`. */
int tp_plan_defer(struct tp_plan *p, size_t done, unsigned round);

/* A move as the caller of tp_compact() sees it (struct tp_move_report). */
void tp_move_describe(const struct tp_clustermap *map, const struct tp_move *m,
		      int result, enum tp_skip_reason why,
		      struct tp_move_report *ret);

/* Whether cluster (an index) is a victim of this plan. */
bool tp_plan_is_victim(const struct tp_plan *p, uint64_t cluster);

/* Victims skipped because their data found no holes. */
uint64_t tp_plan_unplaced(const struct tp_plan *p);

#endif
