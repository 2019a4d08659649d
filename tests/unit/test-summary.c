/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests of the cluster map and the report figures: tp_clustermap_new(),
 * tp_clustermap_add_used(), tp_clustermap_add_owned(), tp_clustermap_get()
 * and tp_summarize().
 *
 * Random maps are built block by block in the test, fed to the library as
 * runs of blocks (crossing cluster boundaries, edge clusters and the end of
 * the filesystem), and every figure of the summary is recomputed from the
 * blocks by brute force.  For small maps the bound is also checked to be
 * achievable and tight by enumerating every set of clusters to empty.
 * TP_UNIT_SEED=<n> changes the seed of the random sweeps.
 */

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "unit.h"

#include "thinpack/thinpack.h"

#define BIT(r) (1u << (r))




/* true with probability num/den */
static bool chance(unsigned num, unsigned den)
{
	return rng_below(den) < num;
}

static uint64_t seed(void)
{
	const char *e = getenv("TP_UNIT_SEED");
	return e ? strtoull(e, NULL, 0) : UINT64_C(20240611);
}

/* ---- the model: every block of the filesystem ------------------------------ */

enum owner_kind { OWN_NONE, OWN_MOVABLE, OWN_PINNED };

struct owner {
	uint8_t kind;   /* enum owner_kind */
	uint8_t reason; /* enum tp_pin_reason, for OWN_PINNED */
};

struct model {
	uint32_t bs;
	uint64_t blocks, off, C, gran; /* off: device block of fs block 0 */
	struct tp_geometry g;
	bool *used;
	struct owner (*own)[2]; /* up to two owners per block */
};

static void model_init(struct model *m, uint32_t bs, uint64_t blocks,
		       uint64_t off, uint64_t C)
{
	*m = (struct model){
		.bs = bs, .blocks = blocks, .off = off, .C = C, .gran = C * bs,
	};
	assert_int_equal(tp_geometry_init(&m->g, bs, blocks, off * bs, C * bs), 0);
	m->used = calloc(blocks + 1, sizeof(*m->used));
	m->own = calloc(blocks + 1, sizeof(*m->own));
	assert_non_null(m->used);
	assert_non_null(m->own);
}

static void model_done(struct model *m)
{
	free(m->used);
	free(m->own);
}

/* Which whole cluster holds fs block b, by brute force: its device cluster
 * is whole when all of its device blocks are inside the filesystem. */
static bool whole_device_cluster(const struct model *m, uint64_t c)
{
	return c * m->C >= m->off && (c + 1) * m->C <= m->off + m->blocks;
}

/* ---- feeding a model to the library ----------------------------------------- */

/* Maximal runs of blocks for which pred(b) holds, each cut at random
 * places so that ranges start and end anywhere, not only at cluster
 * boundaries. */
typedef bool (*block_pred)(const struct model *m, uint64_t b, void *userdata);
typedef void (*run_fn)(struct tp_clustermap *map, uint64_t b, uint64_t len,
		       void *userdata);

static void for_runs(const struct model *m, struct tp_clustermap *map,
		     block_pred pred, run_fn fn, void *userdata)
{
	uint64_t b = 0;

	while (b < m->blocks) {
		if (!pred(m, b, userdata)) {
			b++;
			continue;
		}
		uint64_t e = b + 1;
		while (e < m->blocks && pred(m, e, userdata) && !chance(1, 12))
			e++;
		fn(map, b, e - b, userdata);
		b = e;
	}
}

static bool is_used(const struct model *m, uint64_t b, void *userdata)
{
	(void)userdata;
	return m->used[b];
}

static void add_used_run(struct tp_clustermap *map, uint64_t b, uint64_t len,
			 void *userdata)
{
	(void)userdata;
	tp_clustermap_add_used(map, b, len);
}

struct owner_sel {
	unsigned slot;
	struct owner o;
};

static bool has_owner(const struct model *m, uint64_t b, void *userdata)
{
	const struct owner_sel *sel = userdata;
	const struct owner *o = &m->own[b][sel->slot];

	return o->kind == sel->o.kind &&
	       (o->kind != OWN_PINNED || o->reason == sel->o.reason);
}

static void add_owned_run(struct tp_clustermap *map, uint64_t b, uint64_t len,
			  void *userdata)
{
	const struct owner_sel *sel = userdata;

	tp_clustermap_add_owned(map, b, len, sel->o.kind == OWN_MOVABLE,
				(enum tp_pin_reason)sel->o.reason);
}

static struct tp_clustermap *model_build(const struct model *m)
{
	struct tp_clustermap *map = NULL;

	assert_int_equal(tp_clustermap_new(&m->g, &map), 0);
	assert_non_null(map);
	/* in an order the library must not care about: owners first */
	for (unsigned slot = 0; slot < 2; slot++) {
		struct owner_sel sel = { .slot = slot,
					 .o = { .kind = OWN_MOVABLE } };
		for_runs(m, map, has_owner, add_owned_run, &sel);
		for (unsigned r = 0; r < _TP_PIN_MAX; r++) {
			sel.o = (struct owner){ .kind = OWN_PINNED, .reason = (uint8_t)r };
			for_runs(m, map, has_owner, add_owned_run, &sel);
		}
	}
	for_runs(m, map, is_used, add_used_run, NULL);
	/* ranges past the end of the filesystem count nowhere */
	tp_clustermap_add_used(map, m->blocks, 3 * m->C + 1);
	tp_clustermap_add_owned(map, m->blocks, 2 * m->C, true, TP_PIN_OTHER);
	tp_clustermap_add_owned(map, m->blocks + 1, m->C, false, TP_PIN_METADATA);
	return map;
}

/* ---- random models ---------------------------------------------------------- */

/* Fill one device cluster's blocks [b0, b1) of the filesystem: a random
 * number of used blocks, each owned by a movable file or pinned, and now
 * and then one anomaly (a used block nobody owns, a block owned twice, a
 * free block owned).  At most one anomaly per cluster, so the per-cluster
 * counts the library keeps can tell (see test_anomalies_cancel). */
static void fill_cluster(struct model *m, uint64_t b0, uint64_t b1, bool sparse)
{
	uint64_t n = b1 - b0, u;
	unsigned pin_pct;

	switch (sparse ? 2 + rng_below(2) : rng_below(6)) {
	case 0: u = 0; break;
	case 1: u = n; break;
	case 2: u = 1 + rng_below(n < 3 ? 1 : n / 3); break; /* nearly empty */
	default: u = rng_below(n + 1); break;
	}
	if (sparse) /* pinned through and through, or not at all */
		pin_pct = chance(1, 2) ? 100 : 0;
	else
		switch (rng_below(4)) {
		case 0: pin_pct = 30; break;
		case 1: pin_pct = 3; break;
		default: pin_pct = 0; break;
		}
	/* choose u of the n blocks */
	uint64_t left = u;
	for (uint64_t b = b0; b < b1; b++) {
		if (rng_below(b1 - b) < left) {
			m->used[b] = true;
			left--;
			if (chance(pin_pct, 100))
				m->own[b][0] = (struct owner){
					.kind = OWN_PINNED,
					.reason = (uint8_t)rng_below(TP_PIN_UNOWNED),
				};
			else
				m->own[b][0] = (struct owner){ .kind = OWN_MOVABLE };
		}
	}

	uint64_t b = b0 + rng_below(n);
	switch (rng_below(16)) {
	case 0: /* used, owned by nobody (an ext4 preallocation) */
		if (m->used[b])
			m->own[b][0] = (struct owner){ .kind = OWN_NONE };
		break;
	case 1: /* owned twice */
		if (m->used[b])
			m->own[b][1] = chance(1, 2)
				? (struct owner){ .kind = OWN_MOVABLE }
				: (struct owner){ .kind = OWN_PINNED,
						  .reason = (uint8_t)rng_below(TP_PIN_UNOWNED) };
		break;
	case 2: /* owned but free */
		if (!m->used[b])
			m->own[b][0] = (struct owner){ .kind = OWN_MOVABLE };
		break;
	}
}

static void model_random(struct model *m, uint32_t bs, uint64_t max_clusters,
			 unsigned max_log2_C)
{
	uint64_t C = UINT64_C(1) << rng_below(max_log2_C + 1);
	uint64_t off = rng_below(3) == 0 ? C * rng_below(3) : rng_below(3 * C);
	/* whole clusters wanted, plus a random tail */
	uint64_t want = rng_below(max_clusters + 1);
	uint64_t head = (C - off % C) % C;
	uint64_t blocks = head + want * C + rng_below(C);

	if (blocks == 0)
		blocks = 1;
	model_init(m, bs, blocks, off, C);
	if (m->g.clusters > max_clusters) { /* the tail made one more */
		model_done(m);
		model_init(m, bs, blocks - C, off, C);
	}
	/* fill each device cluster touched, edge ones included; a third
	 * of the maps sparse (many holes, pinned clusters) */
	bool sparse = chance(1, 3);
	for (uint64_t b = 0; b < m->blocks;) {
		uint64_t c = (m->off + b) / C;
		uint64_t e = (c + 1) * C - m->off;
		if (e > m->blocks)
			e = m->blocks;
		fill_cluster(m, b, e, sparse);
		b = e;
	}
}

/* ---- the brute force -------------------------------------------------------- */

struct bcluster {
	uint64_t used, owned, movable, pinned_owners;
	uint16_t reasons; /* of the pinned owners, plus UNOWNED if owned != used */
	bool consistent;  /* every used block owned exactly once, nothing else */
	bool eligible;
};

struct expect {
	uint64_t total, edge, full, partial, empty, pinned, eligible;
	uint64_t used_blocks, hole_blocks, bound, min_io_blocks;
	uint64_t pinned_by_reason[_TP_PIN_MAX];
	uint64_t *victims; /* sorted u_i of eligible clusters */
	struct bcluster *cl;
};

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static void brute(const struct model *m, struct expect *e)
{
	uint64_t first = UINT64_MAX, prev = UINT64_MAX;

	*e = (struct expect){ 0 };
	/* clusters touched, whole or not */
	for (uint64_t b = 0; b < m->blocks; b++) {
		uint64_t c = (m->off + b) / m->C;
		if (c == prev)
			continue;
		prev = c;
		if (whole_device_cluster(m, c)) {
			if (first == UINT64_MAX)
				first = c;
			e->total++;
		} else
			e->edge++;
	}
	e->cl = calloc(e->total + 1, sizeof(*e->cl));
	e->victims = calloc(e->total + 1, sizeof(*e->victims));
	assert_non_null(e->cl);
	assert_non_null(e->victims);

	/* the blocks of each whole cluster */
	for (uint64_t b = 0; b < m->blocks; b++) {
		uint64_t c = (m->off + b) / m->C;
		if (!whole_device_cluster(m, c))
			continue;
		struct bcluster *k = &e->cl[c - first];
		unsigned owners = 0;
		for (unsigned s = 0; s < 2; s++) {
			const struct owner *o = &m->own[b][s];
			if (o->kind == OWN_NONE)
				continue;
			owners++;
			if (o->kind == OWN_MOVABLE)
				k->movable++;
			else {
				k->pinned_owners++;
				k->reasons |= (uint16_t)BIT(o->reason);
			}
		}
		k->used += m->used[b];
		k->owned += owners;
	}
	for (uint64_t i = 0; i < e->total; i++) {
		struct bcluster *k = &e->cl[i];
		k->consistent = k->owned == k->used;
		if (!k->consistent)
			k->reasons |= (uint16_t)BIT(TP_PIN_UNOWNED);
		k->eligible = k->used > 0 && k->consistent && k->pinned_owners == 0;

		if (k->used == 0) {
			e->empty++;
			continue;
		}
		if (k->used == m->C)
			e->full++;
		else
			e->partial++;
		e->used_blocks += k->used;
		e->hole_blocks += m->C - k->used;
		if (k->eligible)
			e->victims[e->eligible++] = k->used;
		else if (k->used < m->C) {
			e->pinned++;
			for (unsigned r = 0; r < _TP_PIN_MAX; r++)
				if (k->reasons & BIT(r))
					e->pinned_by_reason[r]++;
		}
	}
	qsort(e->victims, e->eligible, sizeof(*e->victims), cmp_u64);
	e->bound = e->hole_blocks / m->C;
	if (e->bound > e->eligible)
		e->bound = e->eligible;
	for (uint64_t i = 0; i < e->bound; i++)
		e->min_io_blocks += e->victims[i];
}

static void expect_done(struct expect *e)
{
	free(e->cl);
	free(e->victims);
}

/* The k eligible clusters with the fewest used blocks. */
static uint64_t cheapest(const struct expect *e, uint64_t k)
{
	uint64_t s = 0;
	assert_true(k <= e->eligible);
	for (uint64_t i = 0; i < k; i++)
		s += e->victims[i];
	return s;
}

/* Check every per-cluster figure and the whole summary of map against the
 * brute force e. */
static void check_map(const char *ctx, const struct model *m,
		      const struct tp_clustermap *map, const struct expect *e,
		      unsigned curve_points)
{
	const struct tp_geometry *g = tp_clustermap_geometry(map);
	uint64_t movable_blocks = 0;

	CHECK_U64(ctx, "geometry clusters", g->clusters, e->total);
	CHECK_U64(ctx, "geometry edge_clusters", g->edge_clusters, e->edge);

	for (uint64_t i = 0; i < e->total; i++) {
		const struct bcluster *k = &e->cl[i];
		struct tp_cluster c;
		char cctx[256];

		memset(&c, 0x5a, sizeof(c));
		tp_clustermap_get(map, i, &c);
		snprintf(cctx, sizeof(cctx),
			 "%s cluster %" PRIu64 " (used %" PRIu64 " owned %" PRIu64
			 " movable %" PRIu64 ")", ctx, i, k->used, k->owned,
			 k->movable);
		CHECK_U64(cctx, "used", c.used, k->used);
		CHECK_U64(cctx, "reasons", c.reasons, k->reasons);
		CHECK_U64(cctx, "eligible", tp_cluster_eligible(&c), k->eligible);
		CHECK_U64(cctx, "state",
			  tp_cluster_state(g, &c),
			  k->used == 0 ? TP_CLUSTER_EMPTY
			  : k->used == m->C ? TP_CLUSTER_FULL
					    : TP_CLUSTER_PARTIAL);
		/* the movable owners, at most the used blocks; an
		 * inconsistent cluster is kept out by its UNOWNED reason */
		CHECK_U64(cctx, "movable", c.movable,
			  k->movable < k->used ? k->movable : k->used);
		if (c.used)
			movable_blocks += c.movable;
	}

	struct tp_summary *s = NULL;
	int r = tp_summarize(map, NULL, curve_points, &s);
	if (r < 0)
		fail_msg("%s: tp_summarize() = %d", ctx, r);
	assert_non_null(s);

	CHECK_U64(ctx, "total", s->total, e->total);
	CHECK_U64(ctx, "edge", s->edge, e->edge);
	CHECK_U64(ctx, "full", s->full, e->full);
	CHECK_U64(ctx, "partial", s->partial, e->partial);
	CHECK_U64(ctx, "empty", s->empty, e->empty);
	CHECK_U64(ctx, "full + partial + empty", s->full + s->partial + s->empty,
		  s->total);
	CHECK_U64(ctx, "pinned", s->pinned, e->pinned);
	CHECK_U64(ctx, "eligible", s->eligible, e->eligible);
	CHECK_U64(ctx, "used_blocks", s->used_blocks, e->used_blocks);
	CHECK_U64(ctx, "movable_blocks", s->movable_blocks, movable_blocks);
	CHECK_U64(ctx, "hole_blocks", s->hole_blocks, e->hole_blocks);
	CHECK_U64(ctx, "hole_blocks (from the counts)", s->hole_blocks,
		  (s->full + s->partial) * m->C - s->used_blocks);
	for (unsigned i = 0; i < _TP_PIN_MAX; i++) {
		char what[64];
		snprintf(what, sizeof(what), "pinned_by_reason[%s]",
			 tp_pin_reason_to_string((enum tp_pin_reason)i));
		CHECK_U64(ctx, what, s->pinned_by_reason[i], e->pinned_by_reason[i]);
		assert_true(s->pinned_by_reason[i] <= s->pinned);
	}
	CHECK_U64(ctx, "bound", s->bound, e->bound);
	CHECK_U64(ctx, "min_io_blocks", s->min_io_blocks, e->min_io_blocks);
	CHECK_U64(ctx, "empty_bytes", s->empty_bytes, e->empty * m->gran);
	CHECK_U64(ctx, "compaction_bytes", s->compaction_bytes, e->bound * m->gran);
	CHECK_U64(ctx, "compaction_io_bytes", s->compaction_io_bytes,
		  e->min_io_blocks * m->bs);

	/* the curve: k = ceil(bound * j / n), j = 1..n, n = min(points, bound) */
	uint64_t n = curve_points < e->bound ? curve_points : e->bound;
	uint64_t want_k[n + 1], nk = 0;
	for (uint64_t j = 1; j <= n; j++) {
		uint64_t k = (e->bound * j + n - 1) / n;
		if (nk == 0 || want_k[nk - 1] != k)
			want_k[nk++] = k;
	}
	CHECK_U64(ctx, "n_curve", s->n_curve, nk);
	if (nk)
		assert_non_null(s->curve);
	for (uint64_t i = 0; i < nk; i++) {
		char what[64];
		snprintf(what, sizeof(what), "curve[%" PRIu64 "].clusters", i);
		CHECK_U64(ctx, what, s->curve[i].clusters, want_k[i]);
		snprintf(what, sizeof(what), "curve[%" PRIu64 "].io_bytes", i);
		CHECK_U64(ctx, what, s->curve[i].io_bytes,
			  cheapest(e, want_k[i]) * m->bs);
		snprintf(what, sizeof(what), "curve[%" PRIu64 "].reclaim_bytes", i);
		CHECK_U64(ctx, what, s->curve[i].reclaim_bytes, want_k[i] * m->gran);
	}
	if (nk) {
		/* it ends at the bound */
		CHECK_U64(ctx, "last curve point", s->curve[nk - 1].clusters, s->bound);
		CHECK_U64(ctx, "last curve io", s->curve[nk - 1].io_bytes,
			  s->compaction_io_bytes);
	}
	tp_summary_free(s);
}

/* Achievable and tight, by enumeration: a set S of eligible clusters can be
 * emptied when its used blocks fit in the holes of the non-empty clusters
 * outside S.  The largest such S has `bound` clusters, and the cheapest
 * feasible S of each size k <= bound moves exactly the k smallest u_i. */
static void check_bound_by_enumeration(const char *ctx, const struct model *m,
				       const struct expect *e,
				       const struct tp_summary *s)
{
	uint64_t elig[16], ne = 0;
	uint64_t best[17];
	uint64_t max_k = 0;

	assert_true(e->total <= 16);
	for (uint64_t i = 0; i < e->total; i++)
		if (e->cl[i].eligible)
			elig[ne++] = i;
	for (unsigned k = 0; k <= 16; k++)
		best[k] = UINT64_MAX;

	for (uint64_t mask = 0; mask < (UINT64_C(1) << ne); mask++) {
		bool in_s[16] = { false };
		uint64_t k = 0, moved = 0, room = 0;

		for (uint64_t j = 0; j < ne; j++)
			if (mask & (UINT64_C(1) << j)) {
				in_s[elig[j]] = true;
				moved += e->cl[elig[j]].used;
				k++;
			}
		for (uint64_t i = 0; i < e->total; i++)
			if (!in_s[i] && e->cl[i].used > 0)
				room += m->C - e->cl[i].used;
		if (moved > room)
			continue; /* does not fit */
		if (k > max_k)
			max_k = k;
		if (moved < best[k])
			best[k] = moved;
	}
	CHECK_U64(ctx, "largest feasible set (enumerated)", max_k, s->bound);
	CHECK_U64(ctx, "cheapest feasible set of bound clusters (enumerated)",
		  best[s->bound], s->min_io_blocks);
	for (uint64_t k = 0; k <= max_k; k++)
		if (best[k] == UINT64_MAX)
			fail_msg("%s: no feasible set of %" PRIu64 " clusters", ctx, k);
	for (size_t i = 0; i < s->n_curve; i++)
		CHECK_U64(ctx, "curve io (enumerated)", s->curve[i].io_bytes,
			  best[s->curve[i].clusters] * m->bs);
}

/* ---- random sweeps ------------------------------------------------------------ */

static unsigned random_curve_points(uint64_t bound)
{
	switch (rng_below(5)) {
	case 0: return 0;
	case 1: return 1;
	case 2: return (unsigned)rng_below(bound + 3);
	case 3: return UINT_MAX;
	default: return (unsigned)(1 + rng_below(20));
	}
}

static void test_random_small_enumerated(void **state)
{
	static const uint32_t block_sizes[] = { 1024, 4096 };
	uint64_t sd = seed();
	unsigned n = 4000, some_bound = 0, bound_by_holes = 0, bound_by_eligible = 0;

	(void)state;
	rng_state = sd;
	for (unsigned it = 0; it < n; it++) {
		struct model m;
		struct expect e;
		char ctx[200];

		model_random(&m, block_sizes[rng_below(2)], 8, 3); /* C <= 8 */
		snprintf(ctx, sizeof(ctx),
			 "seed %" PRIu64 " small #%u (bs %u, %" PRIu64
			 " blocks at %" PRIu64 ", C %" PRIu64 ")",
			 sd, it, m.bs, m.blocks, m.off, m.C);
		assert_true(m.g.clusters <= 8);

		struct tp_clustermap *map = model_build(&m);
		brute(&m, &e);
		unsigned cp = random_curve_points(e.bound);
		check_map(ctx, &m, map, &e, cp);

		struct tp_summary *s = NULL;
		assert_int_equal(tp_summarize(map, NULL, cp, &s), 0);
		check_bound_by_enumeration(ctx, &m, &e, s);
		some_bound += s->bound > 0;
		bound_by_holes += s->bound > 0 && s->bound < s->eligible;
		bound_by_eligible += s->bound > 0 &&
				     s->hole_blocks / m.C > s->eligible;
		tp_summary_free(s);
		tp_clustermap_free(map);
		expect_done(&e);
		model_done(&m);
	}
	print_message("%u maps: %u with a bound, %u limited by the holes, "
		      "%u by the eligible clusters\n", n, some_bound,
		      bound_by_holes, bound_by_eligible);
	/* the sweep saw both limits of the bound */
	assert_true(some_bound > n / 10);
	assert_true(bound_by_holes > n / 50);
	assert_true(bound_by_eligible > n / 50);
}

static void test_random_large(void **state)
{
	static const uint32_t block_sizes[] = { 1024, 4096 };
	uint64_t sd = seed() ^ 0x5eed;
	unsigned n = 300;

	(void)state;
	rng_state = sd;
	for (unsigned it = 0; it < n; it++) {
		struct model m;
		struct expect e;
		char ctx[200];

		model_random(&m, block_sizes[rng_below(2)], 300, 8); /* C <= 256 */
		snprintf(ctx, sizeof(ctx),
			 "seed %" PRIu64 " large #%u (bs %u, %" PRIu64
			 " blocks at %" PRIu64 ", C %" PRIu64 ")",
			 sd, it, m.bs, m.blocks, m.off, m.C);
		struct tp_clustermap *map = model_build(&m);
		brute(&m, &e);
		check_map(ctx, &m, map, &e, random_curve_points(e.bound));
		tp_clustermap_free(map);
		expect_done(&e);
		model_done(&m);
	}
}

/* ---- hand-made maps ------------------------------------------------------------ */

/* A map of `clusters` whole 1 MiB clusters of 4 KiB blocks (C = 256),
 * aligned, and its summary. */
static struct tp_clustermap *new_map(uint64_t clusters, uint64_t offset)
{
	struct tp_geometry g;
	struct tp_clustermap *map = NULL;
	uint64_t blocks = clusters * 256;

	if (offset % MiB) /* keep `clusters` whole ones */
		blocks += 256 - (offset % MiB) / 4096;
	assert_int_equal(tp_geometry_init(&g, 4096, blocks, offset, MiB), 0);
	assert_int_equal(g.clusters, clusters);
	assert_int_equal(tp_clustermap_new(&g, &map), 0);
	return map;
}

static struct tp_summary *summarize(const struct tp_clustermap *map,
				    unsigned curve_points)
{
	struct tp_summary *s = NULL;
	assert_int_equal(tp_summarize(map, NULL, curve_points, &s), 0);
	assert_non_null(s);
	return s;
}

/* used blocks [first_block + i*C + from, ... + to), owned movable or not */
static void put(struct tp_clustermap *map, uint64_t i, uint64_t from,
		uint64_t to, bool movable, enum tp_pin_reason why)
{
	const struct tp_geometry *g = tp_clustermap_geometry(map);
	uint64_t b = tp_cluster_to_blk(g, i) + from;

	tp_clustermap_add_used(map, b, to - from);
	tp_clustermap_add_owned(map, b, to - from, movable, why);
}

static void test_all_empty(void **state)
{
	struct tp_clustermap *map = new_map(16, 0);
	struct tp_summary *s = summarize(map, 10);

	(void)state;
	assert_int_equal(s->total, 16);
	assert_int_equal(s->empty, 16);
	assert_int_equal(s->full + s->partial + s->pinned + s->eligible, 0);
	assert_int_equal(s->used_blocks + s->movable_blocks + s->hole_blocks, 0);
	assert_int_equal(s->bound, 0);
	assert_int_equal(s->min_io_blocks, 0);
	assert_int_equal(s->empty_bytes, 16 * MiB);
	assert_int_equal(s->compaction_bytes, 0);
	assert_int_equal(s->compaction_io_bytes, 0);
	assert_int_equal(s->n_curve, 0);
	tp_summary_free(s);
	tp_clustermap_free(map);
}

static void test_all_full(void **state)
{
	(void)state;
	/* every block movable: all eligible, but no hole to move into */
	struct tp_clustermap *map = new_map(16, 0);
	for (uint64_t i = 0; i < 16; i++)
		put(map, i, 0, 256, true, 0);
	struct tp_summary *s = summarize(map, 10);
	assert_int_equal(s->full, 16);
	assert_int_equal(s->partial + s->empty + s->pinned, 0);
	assert_int_equal(s->eligible, 16);
	assert_int_equal(s->used_blocks, 16 * 256);
	assert_int_equal(s->movable_blocks, 16 * 256);
	assert_int_equal(s->hole_blocks, 0);
	assert_int_equal(s->bound, 0);
	assert_int_equal(s->min_io_blocks, 0);
	assert_int_equal(s->empty_bytes, 0);
	assert_int_equal(s->n_curve, 0);
	tp_summary_free(s);
	tp_clustermap_free(map);

	/* every block metadata: full clusters are not "pinned" (that counts
	 * partial clusters only), and not eligible */
	map = new_map(16, 0);
	tp_clustermap_add_used(map, 0, 16 * 256);
	tp_clustermap_add_owned(map, 0, 16 * 256, false, TP_PIN_METADATA);
	s = summarize(map, 10);
	assert_int_equal(s->full, 16);
	assert_int_equal(s->pinned, 0);
	assert_int_equal(s->eligible, 0);
	assert_int_equal(s->movable_blocks, 0);
	assert_int_equal(s->pinned_by_reason[TP_PIN_METADATA], 0);
	assert_int_equal(s->bound, 0);
	tp_summary_free(s);
	tp_clustermap_free(map);
}

static void test_one_cluster(void **state)
{
	(void)state;
	/* one partial eligible cluster: nowhere to move it */
	struct tp_clustermap *map = new_map(1, 0);
	put(map, 0, 10, 20, true, 0);
	struct tp_summary *s = summarize(map, 5);
	assert_int_equal(s->total, 1);
	assert_int_equal(s->partial, 1);
	assert_int_equal(s->eligible, 1);
	assert_int_equal(s->hole_blocks, 246);
	assert_int_equal(s->bound, 0);
	assert_int_equal(s->min_io_blocks, 0);
	assert_int_equal(s->n_curve, 0);
	tp_summary_free(s);
	tp_clustermap_free(map);
}

/* doc/design.md: two files of 1020 KiB and 4 KiB in two 1 MiB clusters: move
 * 4 KiB, not 1 MiB.  At an unaligned offset, with edge clusters. */
static void test_design_example(void **state)
{
	(void)state;
	struct tp_clustermap *map = new_map(2, MiB + 4 * KiB);
	const struct tp_geometry *g = tp_clustermap_geometry(map);
	assert_int_equal(g->edge_clusters, 1);
	put(map, 0, 0, 255, true, 0);
	put(map, 1, 100, 101, true, 0);
	/* data in the edge cluster before the first whole one is ignored */
	tp_clustermap_add_used(map, 0, g->first_block);
	tp_clustermap_add_owned(map, 0, g->first_block, false, TP_PIN_METADATA);

	struct tp_summary *s = summarize(map, 8);
	assert_int_equal(s->total, 2);
	assert_int_equal(s->edge, 1);
	assert_int_equal(s->partial, 2);
	assert_int_equal(s->eligible, 2);
	assert_int_equal(s->pinned, 0);
	assert_int_equal(s->used_blocks, 256);
	assert_int_equal(s->hole_blocks, 256);
	assert_int_equal(s->bound, 1);
	assert_int_equal(s->min_io_blocks, 1);
	assert_int_equal(s->compaction_bytes, MiB);
	assert_int_equal(s->compaction_io_bytes, 4 * KiB);
	assert_int_equal(s->n_curve, 1);
	assert_int_equal(s->curve[0].clusters, 1);
	assert_int_equal(s->curve[0].io_bytes, 4 * KiB);
	assert_int_equal(s->curve[0].reclaim_bytes, MiB);
	tp_summary_free(s);
	tp_clustermap_free(map);
}

static void test_unowned(void **state)
{
	struct tp_cluster c;

	(void)state;
	struct tp_clustermap *map = new_map(4, 0);
	/* cluster 0: 10 used, 9 owned (a preallocated block) */
	tp_clustermap_add_used(map, 0, 10);
	tp_clustermap_add_owned(map, 0, 9, true, 0);
	/* cluster 1: 10 used, owned, movable: eligible */
	put(map, 1, 0, 10, true, 0);
	/* cluster 2: 10 used and owned, one of them owned again (the
	 * filesystem changed during the scan) */
	put(map, 2, 0, 10, true, 0);
	tp_clustermap_add_owned(map, 2 * 256 + 3, 1, true, 0);
	/* cluster 3: empty, but a free block is owned */
	tp_clustermap_add_owned(map, 3 * 256 + 7, 1, true, 0);

	tp_clustermap_get(map, 0, &c);
	assert_int_equal(c.used, 10);
	assert_true(c.reasons & BIT(TP_PIN_UNOWNED));
	assert_false(tp_cluster_eligible(&c));
	assert_true(c.movable <= 9);

	tp_clustermap_get(map, 1, &c);
	assert_int_equal(c.used, 10);
	assert_int_equal(c.movable, 10);
	assert_int_equal(c.reasons, 0);
	assert_true(tp_cluster_eligible(&c));

	tp_clustermap_get(map, 2, &c);
	assert_int_equal(c.used, 10);
	assert_true(c.reasons & BIT(TP_PIN_UNOWNED));
	assert_false(tp_cluster_eligible(&c));

	tp_clustermap_get(map, 3, &c);
	assert_int_equal(c.used, 0);
	assert_int_equal(tp_cluster_state(tp_clustermap_geometry(map), &c),
			 TP_CLUSTER_EMPTY);
	assert_false(tp_cluster_eligible(&c));

	struct tp_summary *s = summarize(map, 4);
	assert_int_equal(s->partial, 3);
	assert_int_equal(s->empty, 1);
	assert_int_equal(s->eligible, 1);
	assert_int_equal(s->pinned, 2);
	assert_int_equal(s->pinned_by_reason[TP_PIN_UNOWNED], 2);
	for (unsigned r = 0; r < TP_PIN_UNOWNED; r++)
		assert_int_equal(s->pinned_by_reason[r], 0);
	assert_int_equal(s->hole_blocks, 3 * 246);
	assert_int_equal(s->bound, 1);
	assert_int_equal(s->min_io_blocks, 10);
	tp_summary_free(s);
	tp_clustermap_free(map);
}

static void test_pinned_reasons(void **state)
{
	(void)state;
	struct tp_clustermap *map = new_map(5, 0);
	put(map, 0, 0, 10, true, 0);
	put(map, 0, 10, 11, false, TP_PIN_DIRECTORY);
	put(map, 1, 0, 10, false, TP_PIN_EXTENT_TREE);
	put(map, 1, 20, 30, false, TP_PIN_DIRECTORY);
	put(map, 2, 0, 1, false, TP_PIN_RECENT);
	put(map, 3, 0, 100, true, 0);
	put(map, 4, 0, 256, false, TP_PIN_XATTR); /* full: not counted */

	struct tp_summary *s = summarize(map, 0);
	assert_int_equal(s->partial, 4);
	assert_int_equal(s->full, 1);
	assert_int_equal(s->pinned, 3);
	assert_int_equal(s->eligible, 1);
	assert_int_equal(s->pinned_by_reason[TP_PIN_DIRECTORY], 2);
	assert_int_equal(s->pinned_by_reason[TP_PIN_EXTENT_TREE], 1);
	assert_int_equal(s->pinned_by_reason[TP_PIN_RECENT], 1);
	assert_int_equal(s->pinned_by_reason[TP_PIN_XATTR], 0);
	assert_int_equal(s->pinned_by_reason[TP_PIN_METADATA], 0);
	assert_int_equal(s->movable_blocks, 110);
	assert_int_equal(s->used_blocks, 11 + 20 + 1 + 100 + 256);
	assert_int_equal(s->bound, 1);
	assert_int_equal(s->min_io_blocks, 100);
	assert_int_equal(s->n_curve, 0);
	assert_null(s->curve);
	tp_summary_free(s);
	tp_clustermap_free(map);
}

static void test_curve_points(void **state)
{
	(void)state;
	/* 10 eligible clusters with 1..10 used blocks and plenty of holes */
	struct tp_clustermap *map = new_map(20, 0);
	for (uint64_t i = 0; i < 10; i++)
		put(map, i, 0, 10 - i, true, 0);
	for (uint64_t i = 10; i < 20; i++)
		put(map, i, 0, 1, false, TP_PIN_METADATA);

	/* 0 points: no curve */
	struct tp_summary *s = summarize(map, 0);
	assert_int_equal(s->bound, 10);
	assert_int_equal(s->min_io_blocks, 55);
	assert_int_equal(s->compaction_io_bytes, 55 * 4096);
	assert_int_equal(s->n_curve, 0);
	tp_summary_free(s);

	/* 1 point: the bound */
	s = summarize(map, 1);
	assert_int_equal(s->n_curve, 1);
	assert_int_equal(s->curve[0].clusters, 10);
	assert_int_equal(s->curve[0].io_bytes, 55 * 4096);
	assert_int_equal(s->curve[0].reclaim_bytes, 10 * MiB);
	tp_summary_free(s);

	/* 3 points: k = 4, 7, 10 */
	s = summarize(map, 3);
	assert_int_equal(s->n_curve, 3);
	assert_int_equal(s->curve[0].clusters, 4);
	assert_int_equal(s->curve[0].io_bytes, (1 + 2 + 3 + 4) * 4096);
	assert_int_equal(s->curve[1].clusters, 7);
	assert_int_equal(s->curve[1].io_bytes, 28 * 4096);
	assert_int_equal(s->curve[2].clusters, 10);
	assert_int_equal(s->curve[2].reclaim_bytes, 10 * MiB);
	tp_summary_free(s);

	/* more points than the bound: one per cluster */
	static const unsigned many[] = { 10, 11, 1000, UINT_MAX };
	for (size_t t = 0; t < sizeof(many) / sizeof(many[0]); t++) {
		s = summarize(map, many[t]);
		assert_int_equal(s->n_curve, 10);
		uint64_t io = 0;
		for (uint64_t k = 1; k <= 10; k++) {
			io += k;
			assert_int_equal(s->curve[k - 1].clusters, k);
			assert_int_equal(s->curve[k - 1].io_bytes, io * 4096);
			assert_int_equal(s->curve[k - 1].reclaim_bytes, k * MiB);
		}
		tp_summary_free(s);
	}
	tp_clustermap_free(map);
}

static void test_no_whole_cluster(void **state)
{
	struct tp_geometry g;
	struct tp_clustermap *map = NULL;

	(void)state;
	assert_int_equal(tp_geometry_init(&g, 4096, 100, 0, MiB), 0);
	assert_int_equal(g.clusters, 0);
	assert_int_equal(tp_clustermap_new(&g, &map), 0);
	tp_clustermap_add_used(map, 0, 100);
	tp_clustermap_add_owned(map, 0, 100, true, 0);
	struct tp_summary *s = summarize(map, 10);
	assert_int_equal(s->total, 0);
	assert_int_equal(s->edge, 1);
	assert_int_equal(s->used_blocks, 0);
	assert_int_equal(s->bound, 0);
	assert_int_equal(s->n_curve, 0);
	tp_summary_free(s);
	tp_clustermap_free(map);

	assert_null(tp_summary_free(NULL));
	assert_null(tp_clustermap_free(NULL));
}

/* Two anomalies in one cluster cancel in the totals: a used block nobody
 * owns (an ext4 preallocation) and a block owned but free (a file truncated
 * during the scan) leave owned == used == movable.  The scan flags a range
 * owned but free with tp_clustermap_flag(UNOWNED); with that, the cluster
 * is not eligible. */
static void test_anomalies_cancel(void **state)
{
	struct tp_cluster c;

	(void)state;
	struct tp_clustermap *map = new_map(2, 0);
	tp_clustermap_add_used(map, 0, 2);            /* blocks 0, 1 used */
	tp_clustermap_add_owned(map, 0, 1, true, 0);  /* 0 owned, 1 is not */
	tp_clustermap_add_owned(map, 5, 1, true, 0);  /* 5 owned, but free */
	tp_clustermap_get(map, 0, &c);
	assert_int_equal(c.reasons, 0);               /* the totals cancel */
	tp_clustermap_flag(map, 5, 1, TP_PIN_UNOWNED); /* as the scan does */
	tp_clustermap_get(map, 0, &c);
	tp_clustermap_free(map);
	assert_int_equal(c.used, 2);
	assert_true(c.reasons & BIT(TP_PIN_UNOWNED));
	assert_false(tp_cluster_eligible(&c));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_all_empty),
		cmocka_unit_test(test_all_full),
		cmocka_unit_test(test_one_cluster),
		cmocka_unit_test(test_design_example),
		cmocka_unit_test(test_unowned),
		cmocka_unit_test(test_pinned_reasons),
		cmocka_unit_test(test_curve_points),
		cmocka_unit_test(test_no_whole_cluster),
		cmocka_unit_test(test_random_small_enumerated),
		cmocka_unit_test(test_random_large),
		cmocka_unit_test(test_anomalies_cancel),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
