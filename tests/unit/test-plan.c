/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests of the planner, lib/plan.c: tp_plan_new(), tp_plan_next(),
 * tp_plan_replan(), tp_plan_abandon(), tp_plan_defer(), tp_plan_reserve(),
 * tp_plan_unplaced(), tp_plan_is_victim().
 *
 * Cluster maps are built by hand from a picture, one character a block,
 * clusters separated by spaces:
 *   '.'      free
 *   'a'..'z' a block of movable file 0..25 (its next logical block)
 *   'A'..'Z' the same file, unwritten (fallocated)
 *   '#'      pinned metadata
 * and their reverse map (extents, holes) is derived the way lib/scan.c does
 * it: an extent is recorded when [start - 1, end] touches a partial
 * cluster; the holes are the free runs inside partial clusters, merged
 * across adjacent partial clusters.
 *
 * Every plan is then played on a block-by-block model of the filesystem:
 * each move is checked against it (sources hold the file's blocks, targets
 * are free blocks of clusters that stay, lenders are where the move says)
 * and applied, so that overlaps and double moves show.  Fixed cases worked
 * out by hand, then a few hundred random maps with random failures
 * injected.  TP_UNIT_SEED=<n> changes the seed of the random sweep.
 */

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "unit.h"

#include "thinpack/thinpack.h"
#include "basic/macros.h"
#include "clustermap.h"
#include "plan.h"

#define FREE (-1)
#define PINNED (-2)
#define MAX_BLOCKS 1024

static uint64_t seed(void)
{
	const char *e = getenv("TP_UNIT_SEED");
	return e ? strtoull(e, NULL, 0) : UINT64_C(20240611);
}

/* ---- the model: every block --------------------------------------------------- */

struct world {
	uint64_t C, N, clusters;
	int own[MAX_BLOCKS];       /* FREE, PINNED or a file index: now */
	uint64_t lg[MAX_BLOCKS];   /* its logical block */
	bool uw[MAX_BLOCKS];       /* unwritten */
	int orig[MAX_BLOCKS];      /* own before any move */
	uint32_t used[MAX_BLOCKS]; /* per cluster, before any move */
	bool pinned[MAX_BLOCKS];   /* per cluster: holds a '#' */
	struct tp_clustermap *map;
	struct tp_plan *plan;
	struct tp_plan_options o;
	char ctx[256];
};

static bool partial(const struct world *w, uint64_t c)
{
	return w->used[c] > 0 && w->used[c] < w->C;
}

/* What lib/scan.c records: [blk - 1, blk + len] touches a partial cluster. */
static bool near_partial(const struct world *w, uint64_t blk, uint64_t len)
{
	uint64_t first = blk ? blk - 1 : 0, last = MIN(blk + len, w->N - 1);

	for (uint64_t c = first / w->C; c <= last / w->C; c++)
		if (partial(w, c))
			return true;
	return false;
}

/* Build w->map from w->own/lg/uw (w->C, w->N set). */
static void build(struct world *w)
{
	struct tp_geometry g;
	struct tp_clustermap *m;
	int max_file = -1;

	assert_true(w->N % w->C == 0 && w->N <= MAX_BLOCKS);
	w->clusters = w->N / w->C;
	assert_int_equal(tp_geometry_init(&g, 4096, w->N, 0, w->C * 4096), 0);
	assert_int_equal(g.clusters, w->clusters);
	assert_int_equal(g.first_block, 0);
	assert_int_equal(tp_clustermap_new(&g, &m), 0);
	memset(w->used, 0, sizeof(w->used));
	memset(w->pinned, 0, sizeof(w->pinned));
	for (uint64_t b = 0; b < w->N; b++) {
		w->orig[b] = w->own[b];
		if (w->own[b] == FREE)
			continue;
		w->used[b / w->C]++;
		tp_clustermap_add_used(m, b, 1);
		if (w->own[b] == PINNED) {
			w->pinned[b / w->C] = true;
			tp_clustermap_add_owned(m, b, 1, false, TP_PIN_METADATA);
		} else {
			tp_clustermap_add_owned(m, b, 1, true, 0);
			max_file = MAX(max_file, w->own[b]);
		}
	}

	m->n_files = m->cap_files = (size_t)(max_file + 1);
	m->files = calloc(m->n_files + 1, sizeof(*m->files));
	m->exts = calloc(w->N, sizeof(*m->exts));
	m->holes = calloc(w->N, sizeof(*m->holes));
	m->cap_exts = m->cap_holes = w->N;
	assert_non_null(m->files);
	assert_non_null(m->exts);
	assert_non_null(m->holes);
	for (size_t i = 0; i < m->n_files; i++)
		m->files[i] = (struct tp_rfile){ .ino = 12 + (uint32_t)i, .generation = 1 };

	/* extents: runs of one file, consecutive logical blocks, one kind */
	for (uint64_t b = 0; b < w->N;) {
		if (w->own[b] < 0) {
			b++;
			continue;
		}
		uint64_t e = b + 1;
		while (e < w->N && w->own[e] == w->own[b] && w->uw[e] == w->uw[b] &&
		       w->lg[e] == w->lg[b] + (e - b))
			e++;
		if (near_partial(w, b, e - b))
			m->exts[m->n_exts++] = tp_rext_make(b, (uint32_t)w->lg[b],
							    (uint32_t)(e - b),
							    (uint32_t)w->own[b], w->uw[b]);
		b = e;
	}
	/* holes: free blocks of partial clusters, merged when adjacent */
	for (uint64_t b = 0; b < w->N; b++) {
		if (w->own[b] != FREE || !partial(w, b / w->C))
			continue;
		struct tp_hole *last = m->n_holes ? &m->holes[m->n_holes - 1] : NULL;
		if (last && last->start + last->len == b)
			last->len++;
		else
			m->holes[m->n_holes++] = (struct tp_hole){ b, 1 };
	}
	w->map = m;
}

/* Clusters separated by spaces; see the top of the file. */
static void picture(struct world *w, const char *pic)
{
	uint64_t next[26] = { 0 }, C = 0, run = 0;

	memset(w, 0, sizeof(*w));
	snprintf(w->ctx, sizeof(w->ctx), "%s", pic);
	for (const char *s = pic;; s++) {
		if (*s == ' ' || *s == '\0') {
			if (run) {
				if (!C)
					C = run;
				assert_int_equal(run, C); /* clusters of one size */
			}
			run = 0;
			if (!*s)
				break;
			continue;
		}
		uint64_t b = w->N++;
		assert_true(b < MAX_BLOCKS);
		run++;
		if (*s == '.')
			w->own[b] = FREE;
		else if (*s == '#')
			w->own[b] = PINNED;
		else if (*s >= 'a' && *s <= 'z') {
			w->own[b] = *s - 'a';
			w->lg[b] = next[*s - 'a']++;
		} else if (*s >= 'A' && *s <= 'Z') {
			w->own[b] = *s - 'A';
			w->lg[b] = next[*s - 'A']++;
			w->uw[b] = true;
		} else
			fail_msg("bad picture character '%c'", *s);
	}
	w->C = C;
	build(w);
}

static void done(struct world *w)
{
	tp_plan_free(w->plan);
	tp_clustermap_free(w->map);
	w->plan = NULL;
	w->map = NULL;
}

static void new_plan(struct world *w, const struct tp_plan_options *o)
{
	w->o = *o;
	assert_int_equal(tp_plan_new(w->map, o, &w->plan), 0);
}

static bool is_victim(const struct world *w, uint64_t c)
{
	return tp_plan_is_victim(w->plan, c);
}

static bool skipped(const struct world *w, uint64_t c)
{
	for (size_t k = 0; k < w->o.n_skip; k++)
		if (w->o.skip[k] == c)
			return true;
	return false;
}

static bool candidate(const struct world *w, uint64_t c)
{
	return w->used[c] > 0 && !w->pinned[c] && !skipped(w, c) &&
	       (uint64_t)w->used[c] * 100 <= w->C * w->o.max_usage;
}

/* ---- checking and applying moves ----------------------------------------------- */

/* Whether block b is a lender now: a movable file's block in a cluster
 * that stays. */
static bool lender_at(const struct world *w, uint64_t b, uint32_t file,
		      uint64_t logical)
{
	if (b >= w->N || is_victim(w, b / w->C) || w->used[b / w->C] == 0)
		return false;
	return w->own[b] >= 0 && (uint32_t)w->own[b] == file && w->lg[b] == logical;
}

/* The world's file of the map's file index f (the same index until
 * tp_plan_shrink_map() renumbers them). */
static uint32_t world_file(const struct world *w, uint32_t f)
{
	assert_true(f < w->map->n_files);
	return w->map->files[f].ino - 12;
}

/* Check move m of victim v against the model, and apply it. */
static void apply(struct world *w, uint64_t v, const struct tp_move *m)
{
	const char *x = w->ctx;
	uint64_t C = w->C;
	uint32_t file = world_file(w, m->file);
	uint32_t lender = m->has_lender ? world_file(w, m->lender) : 0;

	CHECK_U64(x, "move.victim", m->victim, v);
	assert_true(m->len > 0);
	/* the source: the file's blocks, in the victim */
	if (m->source / C != v || (m->source + m->len - 1) / C != v)
		fail_msg("%s: source %" PRIu64 "+%" PRIu64 " outside victim %" PRIu64,
			 x, m->source, m->len, v);
	for (uint64_t k = 0; k < m->len; k++) {
		uint64_t s = m->source + k;
		if (w->own[s] < 0 || (uint32_t)w->own[s] != file ||
		    w->lg[s] != m->logical + k || w->uw[s] != m->unwritten)
			fail_msg("%s: source block %" PRIu64 " is not file %u logical %"
				 PRIu64 " (own %d lg %" PRIu64 ")", x, s, file,
				 m->logical + k, w->own[s], w->lg[s]);
	}
	/* the target: free blocks in holes of clusters that stay */
	for (uint64_t k = 0; k < m->len; k++) {
		uint64_t t = m->target + k, c = t / C;
		if (t >= w->N || is_victim(w, c) || w->used[c] == 0 ||
		    w->orig[t] != FREE || w->own[t] != FREE)
			fail_msg("%s: target block %" PRIu64 " (move %" PRIu64 "+%" PRIu64
				 " -> %" PRIu64 ") is not a free hole block of a cluster"
				 " that stays", x, t, m->source, m->len, m->target);
	}
	if (!w->o.need_lender)
		assert_false(m->has_lender);
	else {
		assert_true(m->has_lender);
		if (!m->right) {
			if (m->target == 0 ||
			    !lender_at(w, m->target - 1, lender, m->lender_logical))
				fail_msg("%s: no left lender (file %u, logical %" PRIu64
					 ") before %" PRIu64, x, lender,
					 m->lender_logical, m->target);
		} else {
			uint64_t e = m->target + m->len;
			if (!lender_at(w, e, lender, m->lender_logical))
				fail_msg("%s: no right lender (file %u, logical %" PRIu64
					 ") at %" PRIu64, x, lender,
					 m->lender_logical, e);
			/* filled exactly: the hole began at the target */
			uint64_t p = m->target - 1;
			if (m->target > 0 && w->own[p] == FREE && !is_victim(w, p / C) &&
			    p / C == m->target / C)
				fail_msg("%s: right-lent move to %" PRIu64 " leaves block %"
					 PRIu64 " free before it", x, m->target, p);
		}
	}
	for (uint64_t k = 0; k < m->len; k++) {
		uint64_t s = m->source + k, t = m->target + k;
		w->own[t] = w->own[s];
		w->lg[t] = w->lg[s];
		w->uw[t] = w->uw[s];
		w->own[s] = FREE;
	}
}

static bool cluster_empty(const struct world *w, uint64_t c)
{
	for (uint64_t b = c * w->C; b < (c + 1) * w->C; b++)
		if (w->own[b] != FREE)
			return false;
	return true;
}

/* Free blocks of the original holes in clusters that stay. */
static uint64_t free_hole_blocks(const struct world *w)
{
	uint64_t n = 0;
	for (uint64_t b = 0; b < w->N; b++)
		if (w->own[b] == FREE && w->used[b / w->C] > 0 && !is_victim(w, b / w->C))
			n++;
	return n;
}

/* H: free blocks inside non-empty clusters. */
static uint64_t holes_H(const struct world *w)
{
	uint64_t h = 0;
	for (uint64_t c = 0; c < w->clusters; c++)
		if (w->used[c])
			h += w->C - w->used[c];
	return h;
}

/* The plan's choice of victims, before any move. */
static void check_victims(struct world *w)
{
	const char *x = w->ctx;
	uint64_t n = 0, blocks = 0, eligible = 0, lost = 0, max_used = 0;

	for (uint64_t c = 0; c < w->clusters; c++) {
		if (w->used[c] && !w->pinned[c])
			eligible++;
		if (!is_victim(w, c))
			continue;
		if (!candidate(w, c))
			fail_msg("%s: cluster %" PRIu64 " (used %u%s%s) is a victim", x, c,
				 w->used[c], w->pinned[c] ? ", pinned" : "",
				 skipped(w, c) ? ", skipped" : "");
		n++;
		blocks += w->used[c];
		lost += w->C - w->used[c];
		max_used = MAX(max_used, w->used[c]);
	}
	CHECK_U64(x, "n_victims", tp_plan_n_victims(w->plan), n);
	CHECK_U64(x, "victim_blocks", tp_plan_victim_blocks(w->plan), blocks);
	if (w->o.max_io && blocks > w->o.max_io)
		fail_msg("%s: %" PRIu64 " blocks to move, max_io %" PRIu64, x, blocks,
			 w->o.max_io);
	/* the bound */
	uint64_t H = holes_H(w), bound = MIN(H / w->C, eligible);
	if (n > bound)
		fail_msg("%s: %" PRIu64 " victims, bound %" PRIu64, x, n, bound);
	/* emptiest first: the victims are a prefix of the candidates in
	 * (used, index) order */
	for (uint64_t c = 0; c < w->clusters; c++) {
		if (!candidate(w, c) || is_victim(w, c))
			continue;
		for (uint64_t v = 0; v < w->clusters; v++)
			if (is_victim(w, v) &&
			    (w->used[c] < w->used[v] || (w->used[c] == w->used[v] && c < v)))
				fail_msg("%s: cluster %" PRIu64 " (used %u) passed over for"
					 " victim %" PRIu64 " (used %u)", x, c, w->used[c], v,
					 w->used[v]);
	}
	/* the data fits in the holes that stay, less the slack */
	uint64_t left = H - lost;
	if (blocks * 100 > left * (100 - w->o.slack) || blocks + w->o.keep_free > left)
		if (n)
			fail_msg("%s: %" PRIu64 " blocks into %" PRIu64 " hole blocks,"
				 " slack %u%%, keep_free %" PRIu64, x, blocks, left,
				 w->o.slack, w->o.keep_free);
	uint64_t share = MAX(left * w->o.slack / 100, w->o.keep_free);
	if (tp_plan_reserve(w->plan) < share)
		fail_msg("%s: reserve %" PRIu64 " < %" PRIu64, x,
			 tp_plan_reserve(w->plan), share);
}

/* After the plan: the reserve is left free (when there were victims: with
 * none, keep_free may exceed what there is). */
static void check_reserve(const struct world *w)
{
	uint64_t left = free_hole_blocks(w), r = tp_plan_reserve(w->plan);

	if (tp_plan_n_victims(w->plan) && left < r)
		fail_msg("%s: %" PRIu64 " hole blocks left free, reserve %" PRIu64,
			 w->ctx, left, r);
}

/* Take the next victim, expecting one. */
static uint64_t next(struct world *w, const struct tp_move **moves, size_t *n,
		     unsigned *round)
{
	uint64_t v = UINT64_MAX;
	unsigned rd;
	int r = tp_plan_next(w->plan, &v, moves, n, round ? round : &rd);
	if (r != 1)
		fail_msg("%s: tp_plan_next() = %d, expected a victim", w->ctx, r);
	assert_true(is_victim(w, v));
	return v;
}

static void expect_end(struct world *w)
{
	uint64_t v;
	const struct tp_move *moves;
	size_t n;
	unsigned round;
	assert_int_equal(tp_plan_next(w->plan, &v, &moves, &n, &round), 0);
}

static void apply_all(struct world *w, uint64_t v, const struct tp_move *moves,
		      size_t from, size_t n)
{
	for (size_t i = from; i < n; i++)
		apply(w, v, &moves[i]);
}

/* Play the whole plan, every move succeeding. */
static void play(struct world *w)
{
	const struct tp_move *moves;
	size_t n;
	uint64_t v, seen = 0;
	unsigned round;

	check_victims(w);
	while (tp_plan_next(w->plan, &v, &moves, &n, &round) == 1) {
		assert_true(is_victim(w, v));
		assert_int_equal(round, 0);
		apply_all(w, v, moves, 0, n);
		if (!cluster_empty(w, v))
			fail_msg("%s: victim %" PRIu64 " not empty after its moves",
				 w->ctx, v);
		seen++;
	}
	CHECK_U64(w->ctx, "victims placed + unplaced",
		  seen + tp_plan_unplaced(w->plan), tp_plan_n_victims(w->plan));
	check_reserve(w);
}

#define EXPECT_MOVE(m, src, len_, file_, log_, tgt)                           \
	do {                                                                  \
		CHECK_U64(w.ctx, "source", (m).source, (src));                \
		CHECK_U64(w.ctx, "len", (m).len, (len_));                     \
		CHECK_U64(w.ctx, "file", (m).file, (file_));                  \
		CHECK_U64(w.ctx, "logical", (m).logical, (log_));             \
		CHECK_U64(w.ctx, "target", (m).target, (tgt));                \
	} while (0)

#define EXPECT_LENDER(m, right_, file_, log_)                                 \
	do {                                                                  \
		assert_true((m).has_lender);                                  \
		CHECK_U64(w.ctx, "right", (m).right, (right_));               \
		CHECK_U64(w.ctx, "lender", (m).lender, (file_));              \
		CHECK_U64(w.ctx, "lender_logical", (m).lender_logical, (log_)); \
	} while (0)

static const struct tp_plan_options defaults = { .max_usage = 100 };

/* ---- the picture builder itself -------------------------------------------------- */

static void test_builder(void **state)
{
	struct world w;

	/* c0 partial, c1 full (its last extent recorded: it touches c2), c2
	 * partial, c3 empty, c4 full and far from partial clusters */
	picture(&w, "aa.. bbbb b..c .... dddd");
	const struct tp_clustermap *m = w.map;
	assert_int_equal(m->n_exts, 3); /* a@0+2, b@4+5, c@11+1; not d */
	assert_int_equal(tp_rext_physical(&m->exts[0]), 0);
	assert_int_equal(tp_rext_len(&m->exts[0]), 2);
	assert_int_equal(tp_rext_physical(&m->exts[1]), 4);
	assert_int_equal(tp_rext_len(&m->exts[1]), 5);
	assert_int_equal(tp_rext_physical(&m->exts[2]), 11);
	assert_int_equal(m->n_holes, 2);
	assert_int_equal(m->holes[0].start, 2);
	assert_int_equal(m->holes[0].len, 2);
	assert_int_equal(m->holes[1].start, 9);
	assert_int_equal(m->holes[1].len, 2);
	done(&w);

	/* holes merge across adjacent partial clusters */
	picture(&w, "aa.. ..bb");
	assert_int_equal(w.map->n_holes, 1);
	assert_int_equal(w.map->holes[0].start, 2);
	assert_int_equal(w.map->holes[0].len, 4);
	done(&w);
}

/* ---- victims ----------------------------------------------------------------------- */

static void test_emptiest_first(void **state)
{
	struct world w;
	const struct tp_move *mv;
	size_t n;

	/* H = 2 + 7 + 6 = 15; candidates c1 (1), c2 (2), c0 (6).  c1: 1 block
	 * into 15 - 7 = 8 holes; c2: 3 into 2, no.  The block goes to the best
	 * fitting hole, c0's 2 blocks at 6. */
	picture(&w, "aaaaaa.. b....... cc...... ######## ........ dddddddd");
	new_plan(&w, &defaults);
	check_victims(&w);
	assert_int_equal(tp_plan_n_victims(w.plan), 1);
	assert_true(is_victim(&w, 1));
	assert_int_equal(next(&w, &mv, &n, NULL), 1);
	assert_int_equal(n, 1);
	EXPECT_MOVE(mv[0], 8, 1, 1, 0, 6);
	apply_all(&w, 1, mv, 0, n);
	assert_true(cluster_empty(&w, 1));
	expect_end(&w);
	done(&w);
}

static void test_pinned_never_victim(void **state)
{
	struct world w;
	const struct tp_move *mv;
	size_t n;

	/* c0 is the emptiest but pinned; c1 goes.  A pinned cluster is a
	 * target, but c2's 3 free blocks fit the 2 better than c0's 6. */
	picture(&w, "#a...... bb...... ccccc...");
	new_plan(&w, &defaults);
	check_victims(&w);
	assert_false(is_victim(&w, 0));
	assert_true(is_victim(&w, 1));
	assert_int_equal(tp_plan_n_victims(w.plan), 1);
	assert_int_equal(next(&w, &mv, &n, NULL), 1);
	assert_int_equal(n, 1);
	EXPECT_MOVE(mv[0], 8, 2, 1, 0, 21);
	apply_all(&w, 1, mv, 0, n);
	expect_end(&w);
	done(&w);

	/* pinned clusters and a full one: at max_usage 100 the full one goes
	 * (4 blocks into the pinned clusters' 3 + 2), below it nothing */
	picture(&w, "#... ##.. aaaa");
	new_plan(&w, &defaults);
	check_victims(&w);
	assert_int_equal(tp_plan_n_victims(w.plan), 1);
	assert_true(is_victim(&w, 2));
	play(&w);
	done(&w);
	picture(&w, "#... ##.. aaaa");
	new_plan(&w, &(struct tp_plan_options){ .max_usage = 99 });
	check_victims(&w);
	assert_int_equal(tp_plan_n_victims(w.plan), 0);
	expect_end(&w);
	done(&w);
}

static void test_max_usage(void **state)
{
	struct world w;
	struct tp_plan_options o = { .max_usage = 25 };

	/* 25%: only c0 (1 of 4) may go, though c1 would fit too */
	picture(&w, "a... bb.. ccc. ....");
	new_plan(&w, &o);
	check_victims(&w);
	assert_int_equal(tp_plan_n_victims(w.plan), 1);
	assert_true(is_victim(&w, 0));
	play(&w);
	done(&w);

	/* 0%: none */
	o.max_usage = 0;
	picture(&w, "a... bb.. ccc. ....");
	new_plan(&w, &o);
	check_victims(&w);
	assert_int_equal(tp_plan_n_victims(w.plan), 0);
	done(&w);

	/* out of range */
	struct tp_plan *p = NULL;
	picture(&w, "a... bb..");
	o.max_usage = 101;
	assert_int_equal(tp_plan_new(w.map, &o, &p), -EINVAL);
	o.max_usage = 100;
	o.slack = 100;
	assert_int_equal(tp_plan_new(w.map, &o, &p), -EINVAL);
	done(&w);
}

static void test_max_io(void **state)
{
	struct world w;
	struct tp_plan_options o = { .max_usage = 100, .max_io = 2 };

	/* without a budget c0 and c1 go: H = 7 + 6 + 2 + 6 = 21; c0: 1 into
	 * 14; c1: 3 into 8; d's cluster (2): 5 into 2, no */
	picture(&w, "a....... bb...... cccccc.. dd......");
	new_plan(&w, &defaults);
	check_victims(&w);
	assert_int_equal(tp_plan_n_victims(w.plan), 2);
	assert_true(is_victim(&w, 0) && is_victim(&w, 1));
	play(&w);
	done(&w);

	/* max_io 2: c0 only (1 + 2 > 2) */
	picture(&w, "a....... bb...... cccccc.. dd......");
	new_plan(&w, &o);
	check_victims(&w);
	assert_int_equal(tp_plan_n_victims(w.plan), 1);
	assert_true(is_victim(&w, 0));
	assert_int_equal(tp_plan_victim_blocks(w.plan), 1);
	play(&w);
	done(&w);

	/* max_io 3: both, exactly */
	o.max_io = 3;
	picture(&w, "a....... bb...... cccccc.. dd......");
	new_plan(&w, &o);
	check_victims(&w);
	assert_int_equal(tp_plan_n_victims(w.plan), 2);
	assert_int_equal(tp_plan_victim_blocks(w.plan), 3);
	play(&w);
	done(&w);
}

static void test_skip(void **state)
{
	struct world w;
	const uint64_t skip[] = { 0, 99 }; /* 99: out of range, ignored */
	struct tp_plan_options o = { .max_usage = 100, .skip = skip, .n_skip = 2 };
	const struct tp_move *mv;
	size_t n;

	/* c0 is the emptiest but skipped: c1 goes; its 2 blocks best fit
	 * c2's pair (c0's 7 free blocks would take them too) */
	picture(&w, "a....... bb...... cccccc..");
	new_plan(&w, &o);
	check_victims(&w);
	assert_false(is_victim(&w, 0));
	assert_true(is_victim(&w, 1));
	assert_int_equal(tp_plan_n_victims(w.plan), 1);
	assert_int_equal(next(&w, &mv, &n, NULL), 1);
	assert_int_equal(n, 1);
	EXPECT_MOVE(mv[0], 8, 2, 1, 0, 22);
	apply_all(&w, 1, mv, 0, n);
	expect_end(&w);
	done(&w);

	/* a skipped cluster is a target: here the only one */
	const uint64_t skip1[] = { 1 };
	o.skip = skip1;
	o.n_skip = 1;
	picture(&w, "a... bb..");
	new_plan(&w, &o);
	check_victims(&w);
	assert_true(is_victim(&w, 0));
	assert_int_equal(next(&w, &mv, &n, NULL), 0);
	EXPECT_MOVE(mv[0], 0, 1, 0, 0, 6);
	apply_all(&w, 0, mv, 0, n);
	expect_end(&w);
	done(&w);
}

/* ---- placement ----------------------------------------------------------------------- */

static void test_perfect_packing(void **state)
{
	struct world w;
	const struct tp_move *mv;
	size_t n;

	/* H = 3 + 3 + 2 + 1 = 9, bound 2: c0 and c1 go, into c3's single free
	 * block (an exact fit) and c2's pair */
	picture(&w, "a... b... cc.. ccc.");
	new_plan(&w, &defaults);
	check_victims(&w);
	assert_int_equal(tp_plan_n_victims(w.plan), 2);
	assert_int_equal(next(&w, &mv, &n, NULL), 0);
	assert_int_equal(n, 1);
	EXPECT_MOVE(mv[0], 0, 1, 0, 0, 15);
	apply_all(&w, 0, mv, 0, n);
	assert_int_equal(next(&w, &mv, &n, NULL), 1);
	assert_int_equal(n, 1);
	EXPECT_MOVE(mv[0], 4, 1, 1, 0, 10);
	apply_all(&w, 1, mv, 0, n);
	expect_end(&w);
	assert_int_equal(free_hole_blocks(&w), 1);
	done(&w);

	/* a piece split over two holes, logical offsets following: H = 4,
	 * bound 1, and every free block is used */
	picture(&w, "aa.. bbb. ccc.");
	new_plan(&w, &defaults);
	check_victims(&w);
	assert_int_equal(tp_plan_n_victims(w.plan), 1);
	assert_int_equal(next(&w, &mv, &n, NULL), 0);
	assert_int_equal(n, 2);
	EXPECT_MOVE(mv[0], 0, 1, 0, 0, 7);
	EXPECT_MOVE(mv[1], 1, 1, 0, 1, 11);
	apply_all(&w, 0, mv, 0, n);
	expect_end(&w);
	assert_int_equal(free_hole_blocks(&w), 0);
	done(&w);

	/* several files and extents, free blocks at both ends of a cluster:
	 * H = 2 + 2 + 2 + 2 + 2 = 10, bound 2, reached */
	picture(&w, "ab.. c.d. .ee. ffff ff.. gggg gg..");
	new_plan(&w, &defaults);
	check_victims(&w);
	assert_int_equal(tp_plan_n_victims(w.plan), 2);
	assert_true(is_victim(&w, 0) && is_victim(&w, 1));
	play(&w);
	assert_int_equal(free_hole_blocks(&w), 2);
	done(&w);
}

static void test_unwritten(void **state)
{
	struct world w;
	const struct tp_move *mv;
	size_t n;

	/* an unwritten extent moves as such; a and A are one file, two
	 * extents */
	picture(&w, "aA.. bb..");
	new_plan(&w, &defaults);
	check_victims(&w);
	assert_int_equal(next(&w, &mv, &n, NULL), 0);
	assert_int_equal(n, 2);
	EXPECT_MOVE(mv[0], 0, 1, 0, 0, 6);
	assert_false(mv[0].unwritten);
	EXPECT_MOVE(mv[1], 1, 1, 0, 1, 7);
	assert_true(mv[1].unwritten);
	apply_all(&w, 0, mv, 0, n);
	expect_end(&w);
	done(&w);
}

static void test_slack(void **state)
{
	struct world w;
	struct tp_plan_options o = { .max_usage = 100, .slack = 50 };
	const struct tp_move *mv;
	size_t n;

	/* H = 7 + 4 + 4 = 15.  c0: 1 block, 8 left, 100 <= 400; c1: 5 into 4,
	 * no.  Reserve 8 * 50% = 4: the smallest hole, c1's, is kept; the
	 * block goes to c2's. */
	picture(&w, "a....... bbbb.... bbbb....");
	new_plan(&w, &o);
	check_victims(&w);
	assert_int_equal(tp_plan_n_victims(w.plan), 1);
	assert_int_equal(tp_plan_reserve(w.plan), 4);
	assert_int_equal(next(&w, &mv, &n, NULL), 0);
	assert_int_equal(n, 1);
	EXPECT_MOVE(mv[0], 0, 1, 0, 0, 20);
	apply_all(&w, 0, mv, 0, n);
	expect_end(&w);
	check_reserve(&w);
	done(&w);

	/* slack stops a victim that would fit without it: 2 blocks into 2 */
	picture(&w, "aa.. bbb. ccc.");
	o.slack = 10;
	new_plan(&w, &o);
	check_victims(&w);
	assert_int_equal(tp_plan_n_victims(w.plan), 0);
	done(&w);

	/* keep_free likewise, and it is the reserve */
	picture(&w, "a... bbb. cc..");
	o.slack = 0;
	o.keep_free = 2;
	new_plan(&w, &o);
	check_victims(&w);
	/* H = 3+1+2 = 6; c0: 1 + 2 <= 3 */
	assert_int_equal(tp_plan_n_victims(w.plan), 1);
	assert_int_equal(tp_plan_reserve(w.plan), 2);
	play(&w);
	done(&w);
	o.keep_free = 3;
	picture(&w, "a... bbb. cc..");
	new_plan(&w, &o);
	check_victims(&w);
	assert_int_equal(tp_plan_n_victims(w.plan), 0);
	done(&w);
}

/* ---- borrow placement ----------------------------------------------------------------- */

static void test_lender_left(void **state)
{
	struct world w;
	struct tp_plan_options o = { .max_usage = 100, .need_lender = true };
	const struct tp_move *mv;
	size_t n;

	/* c1's hole has b (file 1, logical 3) on its left; c2's has '#' on its
	 * left (no lender) and c at its right: only for exactly 3 blocks */
	picture(&w, "a....... bbbb.... #...cccc");
	new_plan(&w, &o);
	check_victims(&w);
	assert_int_equal(next(&w, &mv, &n, NULL), 0);
	assert_int_equal(n, 1);
	EXPECT_MOVE(mv[0], 0, 1, 0, 0, 12);
	EXPECT_LENDER(mv[0], false, 1, 3);
	apply_all(&w, 0, mv, 0, n);
	expect_end(&w);
	done(&w);

	/* filling from the left: the data placed lends to the next piece */
	picture(&w, "ab...... cccc....");
	new_plan(&w, &o);
	check_victims(&w);
	assert_int_equal(next(&w, &mv, &n, NULL), 0);
	assert_int_equal(n, 2);
	EXPECT_MOVE(mv[0], 0, 1, 0, 0, 12);
	EXPECT_LENDER(mv[0], false, 2, 3);
	EXPECT_MOVE(mv[1], 1, 1, 1, 0, 13);
	EXPECT_LENDER(mv[1], false, 0, 0);
	apply_all(&w, 0, mv, 0, n);
	expect_end(&w);
	done(&w);

	/* the lender in a full cluster, its extent recorded since it touches
	 * the partial one */
	picture(&w, "a... bbbb ..cc");
	new_plan(&w, &o);
	check_victims(&w);
	assert_int_equal(next(&w, &mv, &n, NULL), 0);
	assert_int_equal(n, 1);
	EXPECT_MOVE(mv[0], 0, 1, 0, 0, 8);
	EXPECT_LENDER(mv[0], false, 1, 3);
	apply_all(&w, 0, mv, 0, n);
	expect_end(&w);
	done(&w);
}

static void test_lender_right(void **state)
{
	struct world w;
	struct tp_plan_options o = { .max_usage = 100, .need_lender = true };
	const struct tp_move *mv;
	size_t n;

	/* c1's hole: '#' on its left, c (file 2, logical 0) on its right, 3
	 * blocks: the victim's 3 fill it exactly.  c2's last block has no
	 * lender at all (pinned left, the end of the filesystem right). */
	picture(&w, "aaa..... #...cccc dddddd#.");
	new_plan(&w, &o);
	check_victims(&w);
	assert_int_equal(tp_plan_n_victims(w.plan), 1);
	assert_int_equal(next(&w, &mv, &n, NULL), 0);
	assert_int_equal(n, 1);
	EXPECT_MOVE(mv[0], 0, 3, 0, 0, 9);
	EXPECT_LENDER(mv[0], true, 2, 0);
	apply_all(&w, 0, mv, 0, n);
	expect_end(&w);
	done(&w);

	/* a right lender is not one for less than the whole hole: 2 blocks
	 * find no room */
	picture(&w, "aa...... #...cccc dddddd#.");
	new_plan(&w, &o);
	check_victims(&w);
	assert_int_equal(tp_plan_n_victims(w.plan), 1);
	play(&w);
	assert_int_equal(tp_plan_unplaced(w.plan), 1);
	done(&w);

	/* a victim's block is no lender: c1's hole has c0's b on its left;
	 * the right lender wants exactly 2 blocks, the pieces are 1 and 1
	 * (two files), so they go to c2's hole, from the left */
	picture(&w, "......ab ..cccccc dddd....");
	new_plan(&w, &o);
	check_victims(&w);
	assert_int_equal(tp_plan_n_victims(w.plan), 1);
	assert_true(is_victim(&w, 0));
	assert_int_equal(next(&w, &mv, &n, NULL), 0);
	assert_int_equal(n, 2);
	EXPECT_MOVE(mv[0], 6, 1, 0, 0, 20);
	EXPECT_LENDER(mv[0], false, 3, 3);
	EXPECT_MOVE(mv[1], 7, 1, 1, 0, 21);
	EXPECT_LENDER(mv[1], false, 0, 0);
	apply_all(&w, 0, mv, 0, n);
	expect_end(&w);
	done(&w);
}

/* ---- replan, abandon, defer ------------------------------------------------------------ */

static void test_replan_hole(void **state)
{
	struct world w;
	const struct tp_move *mv;
	size_t n;

	/* the block goes to c1's pair, then (taken) c2's four, then nowhere */
	picture(&w, "a....... bbbbbb.. bbbb....");
	new_plan(&w, &defaults);
	check_victims(&w);
	assert_int_equal(next(&w, &mv, &n, NULL), 0);
	assert_int_equal(n, 1);
	EXPECT_MOVE(mv[0], 0, 1, 0, 0, 14);
	assert_int_equal(tp_plan_replan(w.plan, 0, TP_REPLAN_HOLE, &mv, &n), 1);
	assert_int_equal(n, 1);
	EXPECT_MOVE(mv[0], 0, 1, 0, 0, 20);
	assert_int_equal(tp_plan_replan(w.plan, 0, TP_REPLAN_HOLE, &mv, &n), 0);
	assert_int_equal(tp_plan_replan(w.plan, 5, TP_REPLAN_HOLE, &mv, &n), -EINVAL);
	expect_end(&w);
	done(&w);

	/* done > 0: the first move stays, the second is planned elsewhere */
	picture(&w, "ab...... cccccc.. dddd....");
	new_plan(&w, &defaults);
	check_victims(&w);
	assert_int_equal(next(&w, &mv, &n, NULL), 0);
	assert_int_equal(n, 2);
	EXPECT_MOVE(mv[0], 0, 1, 0, 0, 14);
	EXPECT_MOVE(mv[1], 1, 1, 1, 0, 15);
	apply(&w, 0, &mv[0]);
	assert_int_equal(tp_plan_replan(w.plan, 1, TP_REPLAN_HOLE, &mv, &n), 1);
	assert_int_equal(n, 2);
	EXPECT_MOVE(mv[0], 0, 1, 0, 0, 14);
	EXPECT_MOVE(mv[1], 1, 1, 1, 0, 20);
	apply_all(&w, 0, mv, 1, n);
	assert_true(cluster_empty(&w, 0));
	expect_end(&w);
	done(&w);
}

static void test_replan_lender(void **state)
{
	struct world w;
	struct tp_plan_options o = { .max_usage = 100, .need_lender = true };
	const struct tp_move *mv;
	size_t n;

	/* c1's hole of 3 has lenders both sides: left first; its left lender
	 * fails: the same hole, filled exactly from the right; that fails
	 * too: c2's hole, from the left */
	picture(&w, "aaa..... bbbb...c dddd....");
	new_plan(&w, &o);
	check_victims(&w);
	assert_int_equal(tp_plan_n_victims(w.plan), 1);
	assert_int_equal(next(&w, &mv, &n, NULL), 0);
	assert_int_equal(n, 1);
	EXPECT_MOVE(mv[0], 0, 3, 0, 0, 12);
	EXPECT_LENDER(mv[0], false, 1, 3);
	assert_int_equal(tp_plan_replan(w.plan, 0, TP_REPLAN_LENDER, &mv, &n), 1);
	assert_int_equal(n, 1);
	EXPECT_MOVE(mv[0], 0, 3, 0, 0, 12);
	EXPECT_LENDER(mv[0], true, 2, 0);
	assert_int_equal(tp_plan_replan(w.plan, 0, TP_REPLAN_LENDER, &mv, &n), 1);
	assert_int_equal(n, 1);
	EXPECT_MOVE(mv[0], 0, 3, 0, 0, 20);
	EXPECT_LENDER(mv[0], false, 3, 3);
	apply_all(&w, 0, mv, 0, n);
	expect_end(&w);
	done(&w);
}

static void test_abandon(void **state)
{
	struct world w;
	const struct tp_move *mv;
	size_t n;

	/* both victims' blocks best fit c2's pair */
	picture(&w, "a....... b....... cccccc..");
	new_plan(&w, &defaults);
	check_victims(&w);
	assert_int_equal(tp_plan_n_victims(w.plan), 2);
	assert_int_equal(next(&w, &mv, &n, NULL), 0);
	EXPECT_MOVE(mv[0], 0, 1, 0, 0, 22);
	tp_plan_abandon(w.plan, 0);
	assert_int_equal(next(&w, &mv, &n, NULL), 1);
	EXPECT_MOVE(mv[0], 8, 1, 1, 0, 22); /* free again */
	apply_all(&w, 1, mv, 0, n);
	expect_end(&w);
	done(&w);

	/* without the abandon, the next block goes after it */
	picture(&w, "a....... b....... cccccc..");
	new_plan(&w, &defaults);
	assert_int_equal(next(&w, &mv, &n, NULL), 0);
	EXPECT_MOVE(mv[0], 0, 1, 0, 0, 22);
	apply_all(&w, 0, mv, 0, n);
	assert_int_equal(next(&w, &mv, &n, NULL), 1);
	EXPECT_MOVE(mv[0], 8, 1, 1, 0, 23);
	apply_all(&w, 1, mv, 0, n);
	expect_end(&w);
	done(&w);
}

static void test_defer(void **state)
{
	struct world w;
	const struct tp_move *mv;
	size_t n;
	unsigned round;

	/* c0 put off: c1 comes first and takes the best hole; c0 comes back
	 * in round 1 */
	picture(&w, "a....... b....... cccccc..");
	new_plan(&w, &defaults);
	check_victims(&w);
	assert_int_equal(next(&w, &mv, &n, &round), 0);
	assert_int_equal(round, 0);
	EXPECT_MOVE(mv[0], 0, 1, 0, 0, 22);
	assert_int_equal(tp_plan_defer(w.plan, 0, 1), 0);
	assert_int_equal(next(&w, &mv, &n, &round), 1);
	assert_int_equal(round, 0);
	EXPECT_MOVE(mv[0], 8, 1, 1, 0, 22);
	apply_all(&w, 1, mv, 0, n);
	assert_int_equal(next(&w, &mv, &n, &round), 0);
	assert_int_equal(round, 1);
	assert_int_equal(n, 1);
	EXPECT_MOVE(mv[0], 0, 1, 0, 0, 23);
	apply_all(&w, 0, mv, 0, n);
	expect_end(&w);
	done(&w);

	/* a move index past the list is refused */
	picture(&w, "aaaa.... bbbbbbb. cccccc.. dddd....");
	new_plan(&w, &defaults);
	check_victims(&w);
	assert_int_equal(tp_plan_n_victims(w.plan), 1);
	assert_int_equal(next(&w, &mv, &n, &round), 0);
	assert_int_equal(n, 1);
	EXPECT_MOVE(mv[0], 0, 4, 0, 0, 28);
	assert_int_equal(tp_plan_defer(w.plan, 1, 1), -EINVAL);
	done(&w);

	picture(&w, "aaaa.... bbbbbbb. cccccc..");
	new_plan(&w, &defaults);
	check_victims(&w);
	/* H = 4 + 1 + 2 = 7: 4 blocks into 3, not chosen */
	assert_int_equal(tp_plan_n_victims(w.plan), 0);
	done(&w);

	picture(&w, "aaa..... bbbbbbb. cccccc..");
	new_plan(&w, &defaults);
	check_victims(&w);
	/* 3 blocks split into c2's 2 and c1's 1; put off after the first
	 * move: only the rest comes back, in the round given */
	assert_int_equal(next(&w, &mv, &n, &round), 0);
	assert_int_equal(n, 2);
	EXPECT_MOVE(mv[0], 0, 2, 0, 0, 22);
	EXPECT_MOVE(mv[1], 2, 1, 0, 2, 15);
	apply(&w, 0, &mv[0]);
	assert_int_equal(tp_plan_defer(w.plan, 1, 7), 0);
	assert_int_equal(next(&w, &mv, &n, &round), 0);
	assert_int_equal(round, 7);
	assert_int_equal(n, 1);
	EXPECT_MOVE(mv[0], 2, 1, 0, 2, 15);
	apply_all(&w, 0, mv, 0, n);
	assert_true(cluster_empty(&w, 0));
	expect_end(&w);
	done(&w);
}

/* ---- random maps ------------------------------------------------------------------------ */

static void random_world(struct world *w, unsigned iter)
{
	static const uint64_t Cs[] = { 4, 8, 16 };
	uint64_t next[6] = { 0 };

	memset(w, 0, sizeof(*w));
	w->C = Cs[rng_below(3)];
	uint64_t clusters = 2 + rng_below(9);
	w->N = w->C * clusters;
	int run_file = 0;
	for (uint64_t c = 0; c < clusters; c++) {
		unsigned kind = (unsigned)rng_below(10); /* 0 empty, 1 full, else partial */
		unsigned density = 1 + (unsigned)rng_below(9);
		for (uint64_t b = c * w->C; b < (c + 1) * w->C; b++) {
			bool used = kind == 1 || (kind > 1 && rng_below(10) < density);
			if (!used) {
				w->own[b] = FREE;
				continue;
			}
			if (rng_below(40) == 0) {
				w->own[b] = PINNED;
				continue;
			}
			if (rng_below(4) == 0)
				run_file = (int)rng_below(6);
			w->own[b] = run_file;
			if (rng_below(6) == 0)
				next[run_file] += 1 + rng_below(5); /* a new extent */
			w->lg[b] = next[run_file]++;
			w->uw[b] = rng_below(12) == 0;
		}
	}
	build(w);
	snprintf(w->ctx, sizeof(w->ctx), "random map %u (C=%" PRIu64 ", %" PRIu64
		 " clusters)", iter, w->C, clusters);
}

static void print_world(const struct world *w)
{
	char buf[MAX_BLOCKS + MAX_BLOCKS / 4 + 1];
	size_t k = 0;
	for (uint64_t b = 0; b < w->N; b++) {
		if (b && b % w->C == 0)
			buf[k++] = ' ';
		int o = w->orig[b];
		buf[k++] = o == FREE ? '.' : o == PINNED ? '#' : (char)('a' + o);
	}
	buf[k] = 0;
	print_message("%s: %s\n", w->ctx, buf);
}

struct tally {
	uint64_t plans, victims, moves, replans, abandons, defers, unplaced, bound_hits;
	uint64_t shrunk; /* plans whose map tp_plan_shrink_map() shrank */
};

/* Play a plan with failures injected at random. */
static void play_random(struct world *w, bool failures, struct tally *t)
{
	const struct tp_move *mv;
	size_t n;
	uint64_t v, first_round = 0;
	unsigned round;
	bool deferred_any = false;
	bool *gave_up = calloc(w->clusters, sizeof(bool));
	assert_non_null(gave_up);

	check_victims(w);
	while (tp_plan_next(w->plan, &v, &mv, &n, &round) == 1) {
		assert_true(is_victim(w, v));
		assert_true(n > 0);
		if (round == 0)
			first_round++;
		else
			gave_up[v] = false;
		size_t i = 0;
		unsigned replans = 0;
		while (i < n) {
			unsigned what = failures ? (unsigned)rng_below(16) : 0;
			if (what == 1 && replans < 4) {
				struct tp_move saved[64];
				size_t keep = MIN(i, (size_t)64);
				memcpy(saved, mv, keep * sizeof(*mv));
				enum tp_replan_why why = rng_below(2) ? TP_REPLAN_HOLE :
									TP_REPLAN_LENDER;
				replans++;
				t->replans++;
				int r = tp_plan_replan(w->plan, i, why, &mv, &n);
				assert_true(r == 0 || r == 1);
				if (r == 0) {
					gave_up[v] = true;
					break;
				}
				assert_true(n > i);
				/* the moves done stay as they were */
				assert_memory_equal(saved, mv, keep * sizeof(*mv));
				continue;
			}
			if (what == 2) {
				tp_plan_abandon(w->plan, i);
				t->abandons++;
				gave_up[v] = true;
				break;
			}
			if (what == 3 && round < 3) {
				assert_int_equal(tp_plan_defer(w->plan, i, round + 1), 0);
				t->defers++;
				deferred_any = true;
				gave_up[v] = true; /* until it comes back */
				break;
			}
			apply(w, v, &mv[i]);
			t->moves++;
			i++;
		}
		if (i == n && !cluster_empty(w, v))
			fail_msg("%s: victim %" PRIu64 " not empty after its moves", w->ctx, v);
	}
	t->unplaced += tp_plan_unplaced(w->plan);
	if (!deferred_any)
		CHECK_U64(w->ctx, "victims placed + unplaced",
			  first_round + tp_plan_unplaced(w->plan), tp_plan_n_victims(w->plan));
	else
		assert_true(first_round <= tp_plan_n_victims(w->plan));
	check_reserve(w);
	t->victims += tp_plan_n_victims(w->plan);
	free(gave_up);
}

static void test_random(void **state)
{
	static const unsigned usages[] = { 100, 75, 50, 30 };
	static const unsigned slacks[] = { 0, 0, 5, 20, 50 };
	struct tally t = { 0 };
	struct world *w = malloc(sizeof(*w));
	assert_non_null(w);

	rng_state = seed();
	for (unsigned iter = 0; iter < 600; iter++) {
		random_world(w, iter);
		uint64_t skip[2] = { rng_below(w->clusters), rng_below(w->clusters) };
		struct tp_plan_options o = {
			.max_usage = usages[rng_below(4)],
			.slack = slacks[rng_below(5)],
			.keep_free = rng_below(4) == 0 ? rng_below(8) : 0,
			.max_io = rng_below(4) == 0 ? 1 + rng_below(3 * w->C) : 0,
			.need_lender = rng_below(2) == 0,
			.skip = skip,
			.n_skip = (size_t)rng_below(3),
		};
		bool failures = iter % 2;
		snprintf(w->ctx + strlen(w->ctx), sizeof(w->ctx) - strlen(w->ctx),
			 " usage %u slack %u keep %" PRIu64 " io %" PRIu64 " lender %d"
			 " skip %zu failures %d", o.max_usage, o.slack, o.keep_free,
			 o.max_io, o.need_lender, o.n_skip, failures);
		if (getenv("TP_UNIT_VERBOSE"))
			print_world(w);
		new_plan(w, &o);
		/* the same options twice give the same plan */
		struct tp_plan *again;
		assert_int_equal(tp_plan_new(w->map, &o, &again), 0);
		assert_int_equal(tp_plan_n_victims(again), tp_plan_n_victims(w->plan));
		tp_plan_free(again);
		/* what the engines do: the map keeps what the plan needs */
		if (iter % 4 < 2) {
			size_t files = w->map->n_files;
			assert_int_equal(tp_plan_shrink_map(w->plan, w->map), 0);
			assert_true(w->map->n_files <= files);
			assert_null(w->map->holes);
			t.shrunk++;
		}

		uint64_t eligible = 0;
		for (uint64_t c = 0; c < w->clusters; c++)
			eligible += w->used[c] && !w->pinned[c];
		if (!o.slack && !o.keep_free && !o.max_io && !o.n_skip &&
		    o.max_usage == 100 &&
		    tp_plan_n_victims(w->plan) == MIN(holes_H(w) / w->C, eligible))
			t.bound_hits++;

		play_random(w, failures, &t);
		t.plans++;
		done(w);
	}
	print_message("random: %" PRIu64 " plans, %" PRIu64 " victims, %" PRIu64
		      " moves, %" PRIu64 " replans, %" PRIu64 " abandons, %" PRIu64
		      " defers, %" PRIu64 " unplaced, %" PRIu64 " at the bound, %"
		      PRIu64 " on a shrunk map\n",
		      t.plans, t.victims, t.moves, t.replans, t.abandons, t.defers,
		      t.unplaced, t.bound_hits, t.shrunk);
	assert_true(t.victims > 100 && t.moves > 100 && t.replans > 10 &&
		    t.abandons > 10 && t.defers > 10);
	free(w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_builder),
		cmocka_unit_test(test_emptiest_first),
		cmocka_unit_test(test_pinned_never_victim),
		cmocka_unit_test(test_max_usage),
		cmocka_unit_test(test_max_io),
		cmocka_unit_test(test_skip),
		cmocka_unit_test(test_perfect_packing),
		cmocka_unit_test(test_unwritten),
		cmocka_unit_test(test_slack),
		cmocka_unit_test(test_lender_left),
		cmocka_unit_test(test_lender_right),
		cmocka_unit_test(test_replan_hole),
		cmocka_unit_test(test_replan_lender),
		cmocka_unit_test(test_abandon),
		cmocka_unit_test(test_defer),
		cmocka_unit_test(test_random),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
