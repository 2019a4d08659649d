/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * plan: choose victims, emptiest first, and targets for their data: holes
 * of clusters that stay, never an empty cluster, never another victim; best
 * fit, longest pieces first, fullest clusters preferred.
 *
 * With borrow placement a hole is usable only next to a lender: its left
 * neighbour block (fill from the left, any length) or its right one (fill
 * exactly).  A lender is a movable file's block in a cluster that stays.
 * Filling a hole from the left makes the data just placed the next lender.
 *
 * One file of some 800 lines, on purpose: it is one algorithm over one
 * state (the holes and their size classes, the current victim, the
 * deferred ones, the undo log of replans), pure and without I/O, tested
 * whole by tests/unit/test-plan.c; split, its parts would share that
 * state through a header for no reader's benefit.
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "thinpack/thinpack.h"
#include "basic/array.h"
#include "basic/cleanup.h"
#include "basic/macros.h"
#include "plan.h"

#define N_CLASSES 64
#define FIT_SCAN 256 /* holes looked at for a best fit in a size class */

/* A hole of a target cluster: 32 bytes.  The scan's holes span at most two
 * clusters (a fully free one between is empty, not partial), and files'
 * logical blocks are ext4's, 32-bit. */
struct phole {
	uint64_t start;
	uint32_t len;
	uint32_t left_file, right_file;
	uint32_t left_logical, right_logical;
	bool left_ok, right_ok;
	int8_t class; /* size class it is filed under, -1 if none */
};

/* Part of a victim's data, inside the cluster: 24 bytes. */
struct piece {
	uint64_t source;
	uint32_t file;
	uint32_t logical;
	uint32_t len; /* at most a cluster */
	bool unwritten;
};

struct undo {
	uint32_t hole;
	struct phole old;
};

struct deferred {
	uint64_t victim;
	size_t first, n; /* in dpieces */
	unsigned round;
};

struct vec_u32 {
	uint32_t *v;
	size_t n, cap;
};

/* What a cluster is to the plan. */
enum role {
	ROLE_STAYS,    /* a target, if it has holes */
	ROLE_VICTIM,
	ROLE_SKIP,     /* not a victim (o.skip); a target still */
	ROLE_UNBACKED, /* the device holds no space for it: emptying it returns
			* nothing, and a block written there would make the
			* device back it.  Or (dm-thin) its space is shared
			* with a snapshot: emptying it frees nothing, and a
			* write there breaks the sharing, which allocates.
			* Neither victim nor target. */
};

struct tp_plan {
	const struct tp_clustermap *map;
	struct tp_plan_options o;
	uint8_t *victim;          /* per cluster: enum role */
	uint64_t *victims;
	size_t n_victims, next;
	uint64_t victim_blocks;
	uint64_t reserve;         /* hole blocks left free, for the slack */
	uint64_t unplaced;

	struct phole *holes;
	size_t n_holes;
	struct vec_u32 classes[N_CLASSES];

	/* the current victim */
	struct tp_move *moves;
	struct undo *undo;
	size_t n_moves, cap_moves, cap_undo;
	struct piece *pieces;
	size_t n_pieces, cap_pieces;

	/* victims put off until after a journal commit, and their pieces */
	struct deferred *deferred;
	size_t n_deferred, cap_deferred, next_deferred;
	struct piece *dpieces;
	size_t n_dpieces, cap_dpieces;
};

static int size_class(uint64_t len)
{
	return 63 - __builtin_clzll(len);
}

static int vec_push(struct vec_u32 *v, uint32_t x)
{
	if (TP_RESERVE(v->v, v->cap, v->n + 1) < 0)
		return -ENOMEM;
	v->v[v->n++] = x;
	return 0;
}

struct tp_plan *tp_plan_free(struct tp_plan *p)
{
	if (!p)
		return NULL;
	free(p->victim);
	free(p->victims);
	free(p->holes);
	for (int i = 0; i < N_CLASSES; i++)
		free(p->classes[i].v);
	free(p->moves);
	free(p->undo);
	free(p->pieces);
	free(p->deferred);
	free(p->dpieces);
	free(p);
	return NULL;
}

TP_DEFINE_CLEANUP(struct tp_plan *, tp_plan_free)

static bool usable(const struct phole *h)
{
	return h->len > 0 && (h->left_ok || h->right_ok);
}

/* File hole i under its current size class (stale entries elsewhere are
 * dropped when met). */
static int refile(struct tp_plan *p, uint32_t i)
{
	struct phole *h = &p->holes[i];

	if (!usable(h)) {
		h->class = -1;
		return 0;
	}
	int c = size_class(h->len);
	if (h->class == c)
		return 0;
	h->class = (int8_t)c;
	return vec_push(&p->classes[c], i);
}

/* ---- victims ------------------------------------------------------------------- */

struct candidate {
	uint64_t cluster;
	uint32_t used;
};

static int cmp_candidate(const void *a, const void *b)
{
	const struct candidate *x = a, *y = b;
	if (x->used != y->used)
		return x->used < y->used ? -1 : 1;
	return x->cluster < y->cluster ? -1 : x->cluster > y->cluster;
}

static int choose_victims(struct tp_plan *p)
{
	const struct tp_geometry *g = tp_clustermap_geometry(p->map);
	uint64_t C = g->cluster_blocks, holes = 0;
	_cleanup_free_ struct candidate *cand = NULL;
	size_t n = 0;

	cand = malloc(MAX(g->clusters, 1) * sizeof(*cand));
	if (!cand)
		return -ENOMEM;
	for (size_t k = 0; k < p->o.n_skip; k++)
		if (p->o.skip[k] < g->clusters)
			p->victim[p->o.skip[k]] = ROLE_SKIP;
	for (uint64_t i = 0; i < g->clusters; i++) {
		struct tp_cluster c;
		tp_clustermap_get(p->map, i, &c);
		/* thinpack explain asks the same question of a cluster */
		enum tp_verdict v = tp_cluster_verdict(&c, tp_provmap_get(p->o.prov, i));
		if (v == TP_VERDICT_EMPTY)
			continue;
		if (v == TP_VERDICT_UNBACKED || v == TP_VERDICT_SHARED) {
			p->victim[i] = ROLE_UNBACKED;
			continue;
		}
		holes += C - MIN(c.used, C);
		if (v == TP_VERDICT_MOVABLE && !p->victim[i] &&
		    tp_cluster_usage_needed(g, &c) <= p->o.max_usage)
			cand[n++] = (struct candidate){ i, c.used };
	}
	qsort(cand, n, sizeof(*cand), cmp_candidate);

	p->victims = malloc(MAX(n, 1) * sizeof(*p->victims));
	if (!p->victims)
		return -ENOMEM;
	uint64_t moved = 0, lost_holes = 0;
	for (size_t k = 0; k < n; k++) {
		uint64_t u = cand[k].used;
		uint64_t left = holes - lost_holes - (C - u);
		/* the data of all victims so far must fit in the holes of the
		 * clusters that stay, less the slack -- and less what an
		 * earlier pass kept for it, so that passes do not eat it */
		if ((moved + u) * 100 > left * (100 - p->o.slack) ||
		    moved + u + p->o.keep_free > left)
			break;
		if (p->o.max_io && moved + u > p->o.max_io)
			break;
		moved += u;
		lost_holes += C - u;
		p->victim[cand[k].cluster] = ROLE_VICTIM;
		p->victims[p->n_victims++] = cand[k].cluster;
	}
	p->victim_blocks = moved;
	p->reserve = MAX((holes - lost_holes) * p->o.slack / 100, p->o.keep_free);
	return 0;
}

/* ---- holes ----------------------------------------------------------------------- */

/* Whether the holes of cluster c may take data. */
static bool target_cluster(const struct tp_plan *p, uint64_t c)
{
	return p->victim[c] != ROLE_VICTIM && p->victim[c] != ROLE_UNBACKED;
}

/* Whether block b lies in a whole cluster that stays and is not empty. */
static bool stays(const struct tp_plan *p, uint64_t b)
{
	const struct tp_geometry *g = tp_clustermap_geometry(p->map);
	uint64_t c = tp_blk_to_cluster(g, b);
	struct tp_cluster cl;

	if (c == TP_NO_CLUSTER || !target_cluster(p, c))
		return false;
	tp_clustermap_get(p->map, c, &cl);
	return cl.used > 0;
}

static void find_lender(const struct tp_plan *p, uint64_t b, bool *ok,
			uint32_t *file, uint32_t *logical)
{
	const struct tp_rext *e;

	*ok = false;
	if (!stays(p, b))
		return;
	e = tp_clustermap_owner(p->map, b);
	if (!e)
		return;
	*ok = true;
	*file = e->file;
	*logical = e->logical + (uint32_t)(b - tp_rext_physical(e));
}

static int add_hole(struct tp_plan *p, uint64_t a, uint64_t b, size_t *cap)
{
	/* Longer than a phole holds: only with clusters of 2^31 blocks. */
	while (b - a > UINT32_MAX) {
		int r = add_hole(p, a, a + UINT32_MAX, cap);
		if (r < 0)
			return r;
		a += UINT32_MAX;
	}
	if (p->n_holes >= UINT32_MAX)
		return -E2BIG;
	if (TP_RESERVE(p->holes, *cap, p->n_holes + 1) < 0)
		return -ENOMEM;
	struct phole *h = &p->holes[p->n_holes++];
	*h = (struct phole){ .start = a, .len = (uint32_t)(b - a), .class = -1 };
	if (!p->o.need_lender) {
		h->left_ok = true;
		return 0;
	}
	if (a > 0)
		find_lender(p, a - 1, &h->left_ok, &h->left_file, &h->left_logical);
	find_lender(p, b, &h->right_ok, &h->right_file, &h->right_logical);
	return 0;
}

static int cmp_fullness(const void *a, const void *b, void *arg)
{
	const struct tp_plan *p = arg;
	const struct tp_geometry *g = tp_clustermap_geometry(p->map);
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	struct tp_cluster cx, cy;

	tp_clustermap_get(p->map, tp_blk_to_cluster(g, p->holes[x].start), &cx);
	tp_clustermap_get(p->map, tp_blk_to_cluster(g, p->holes[y].start), &cy);
	if (cx.used != cy.used)
		return cx.used > cy.used ? -1 : 1;
	return x < y ? -1 : x > y;
}

static int cmp_len(const void *a, const void *b, void *arg)
{
	const struct tp_plan *p = arg;
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	if (p->holes[x].len != p->holes[y].len)
		return p->holes[x].len < p->holes[y].len ? -1 : 1;
	return x < y ? -1 : x > y;
}

static int build_holes(struct tp_plan *p)
{
	const struct tp_clustermap *m = p->map;
	const struct tp_geometry *g = tp_clustermap_geometry(m);
	size_t cap = 0;
	int r;

	/* The scan's free runs, less the parts in victim or unbacked
	 * clusters. */
	for (size_t i = 0; i < m->n_holes; i++) {
		uint64_t a = m->holes[i].start, end = a + m->holes[i].len;
		while (a < end) {
			uint64_t c = tp_blk_to_cluster(g, a);
			uint64_t ce = MIN(end, tp_cluster_to_blk(g, c + 1));
			if (!target_cluster(p, c)) {
				a = ce;
				continue;
			}
			uint64_t b = ce;
			while (b < end && target_cluster(p, tp_blk_to_cluster(g, b)))
				b = MIN(end, tp_cluster_to_blk(g, tp_blk_to_cluster(g, b) + 1));
			r = add_hole(p, a, b, &cap);
			if (r < 0)
				return r;
			a = b;
		}
	}

	_cleanup_free_ uint32_t *order = malloc(MAX(p->n_holes, 1) * sizeof(*order));
	if (!order)
		return -ENOMEM;
	for (size_t i = 0; i < p->n_holes; i++)
		order[i] = (uint32_t)i;

	/* The slack is kept in the smallest holes, which are left out: each
	 * hole the data goes to costs a placement (a borrowed block copied
	 * there and back, a first block written twice) whatever its size.
	 * The victims' data fits in the rest: they were chosen so. */
	qsort_r(order, p->n_holes, sizeof(*order), cmp_len, p);
	uint64_t kept = 0;
	for (size_t i = 0; i < p->n_holes; i++) {
		struct phole *h = &p->holes[order[i]];
		if (kept + h->len > p->reserve)
			break;
		kept += h->len;
		h->len = 0;
	}

	/* File them, fullest clusters first, so that a first fit in a size
	 * class leans towards them. */
	qsort_r(order, p->n_holes, sizeof(*order), cmp_fullness, p);
	for (size_t i = 0; i < p->n_holes; i++) {
		r = refile(p, order[i]);
		if (r < 0)
			return r;
	}
	return 0;
}

int tp_plan_new(const struct tp_clustermap *map, const struct tp_plan_options *o,
		struct tp_plan **ret)
{
	const struct tp_geometry *g = tp_clustermap_geometry(map);
	_cleanup_(tp_plan_freep) struct tp_plan *p = NULL;
	int r;

	if (o->max_usage > 100 || o->slack > 99)
		return -EINVAL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->map = map;
	p->o = *o;
	p->victim = calloc(MAX(g->clusters, 1), 1);
	if (!p->victim)
		return -ENOMEM;
	r = choose_victims(p);
	if (r < 0)
		return r;
	r = build_holes(p);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(p);
	return 0;
}

/* ---- what the map keeps ------------------------------------------------------ */

/* Whether extent e has a block in a victim cluster. */
static bool in_victim(const struct tp_plan *p, const struct tp_rext *e)
{
	const struct tp_geometry *g = tp_clustermap_geometry(p->map);
	uint64_t a = MAX(tp_rext_physical(e), g->first_block);
	uint64_t b = MIN(tp_rext_end(e), tp_cluster_to_blk(g, g->clusters));

	if (a >= b)
		return false;
	for (uint64_t c = tp_blk_to_cluster(g, a); c <= tp_blk_to_cluster(g, b - 1); c++)
		if (p->victim[c] == ROLE_VICTIM)
			return true;
	return false;
}

static void keep_file(uint64_t *keep, uint32_t f)
{
	keep[f / 64] |= UINT64_C(1) << (f % 64);
}

/* The new index of kept file f: the kept files before it. */
static uint32_t kept_index(const uint64_t *keep, const uint32_t *rank, uint32_t f)
{
	uint64_t below = keep[f / 64] & ((UINT64_C(1) << (f % 64)) - 1);
	return rank[f / 64] + (uint32_t)__builtin_popcountll(below);
}

/* Give memory back to the allocator: an array down to n elements. */
static void *shrink(void *v, size_t n, size_t size, size_t *cap)
{
	if (n == 0) {
		free(v);
		*cap = 0;
		return NULL;
	}
	void *s = realloc(v, n * size);
	if (!s)
		return v; /* keeps its size */
	*cap = n;
	return s;
}

int tp_plan_shrink_map(struct tp_plan *p, struct tp_clustermap *m)
{
	size_t words = m->n_files / 64 + 1, k = 0;
	_cleanup_free_ uint64_t *keep = NULL;
	_cleanup_free_ uint32_t *rank = NULL;

	if (m != p->map || p->next || p->n_moves || p->n_deferred)
		return -EINVAL;
	keep = calloc(words, sizeof(*keep));
	rank = malloc(words * sizeof(*rank));
	if (!keep || !rank)
		return -ENOMEM;

	/* tp_plan_next() reads the victims' extents; the holes hold their
	 * lenders already; the movers read the files of both. */
	for (size_t i = 0; i < m->n_exts; i++)
		if (in_victim(p, &m->exts[i])) {
			keep_file(keep, m->exts[i].file);
			m->exts[k++] = m->exts[i];
		}
	m->n_exts = k;
	for (size_t i = 0; p->o.need_lender && i < p->n_holes; i++) {
		if (p->holes[i].left_ok)
			keep_file(keep, p->holes[i].left_file);
		if (p->holes[i].right_ok)
			keep_file(keep, p->holes[i].right_file);
	}
	uint32_t n = 0;
	for (size_t w = 0; w < words; w++) {
		rank[w] = n;
		n += (uint32_t)__builtin_popcountll(keep[w]);
	}
	for (size_t f = 0; f < m->n_files; f++)
		if (keep[f / 64] & (UINT64_C(1) << (f % 64)))
			m->files[kept_index(keep, rank, (uint32_t)f)] = m->files[f];
	m->n_files = n;
	for (size_t i = 0; i < m->n_exts; i++)
		m->exts[i].file = kept_index(keep, rank, m->exts[i].file);
	for (size_t i = 0; p->o.need_lender && i < p->n_holes; i++) {
		struct phole *h = &p->holes[i];
		h->left_file = h->left_ok ? kept_index(keep, rank, h->left_file) : 0;
		h->right_file = h->right_ok ? kept_index(keep, rank, h->right_file) : 0;
	}

	m->exts = shrink(m->exts, m->n_exts, sizeof(*m->exts), &m->cap_exts);
	m->files = shrink(m->files, m->n_files, sizeof(*m->files), &m->cap_files);
	/* the plan has made its holes of the scan's */
	free(m->holes);
	m->holes = NULL;
	m->n_holes = m->cap_holes = 0;
	return 0;
}

size_t tp_plan_n_victims(const struct tp_plan *p)
{
	return p->n_victims;
}

uint64_t tp_plan_victim_blocks(const struct tp_plan *p)
{
	return p->victim_blocks;
}

uint64_t tp_plan_reserve(const struct tp_plan *p)
{
	return p->reserve;
}

void tp_move_describe(const struct tp_clustermap *map, const struct tp_move *m,
		      int result, enum tp_skip_reason why,
		      struct tp_move_report *ret)
{
	const struct tp_rfile *f = &map->files[m->file];

	*ret = (struct tp_move_report){
		.victim = map->geo.first_cluster + m->victim,
		.ino = f->ino,
		.generation = f->generation,
		.logical = m->logical,
		.len = m->len,
		.source = m->source,
		.target = m->target,
		.has_lender = m->has_lender,
		.right = m->right,
		.lender_ino = m->has_lender ? map->files[m->lender].ino : 0,
		.lender_logical = m->lender_logical,
		.result = result,
		.skip = why,
	};
}

bool tp_plan_is_victim(const struct tp_plan *p, uint64_t cluster)
{
	return p->victim[cluster] == ROLE_VICTIM;
}

uint64_t tp_plan_unplaced(const struct tp_plan *p)
{
	return p->unplaced;
}

/* ---- assignment ---------------------------------------------------------------------- */

/* A hole that takes exactly len blocks at its start: the best fit among the
 * first FIT_SCAN of len's size class, else the first of a larger class. */
static int64_t find_fit(struct tp_plan *p, uint64_t len)
{
	for (int c = size_class(len); c < N_CLASSES; c++) {
		struct vec_u32 *v = &p->classes[c];
		int64_t best = -1;
		unsigned seen = 0;

		for (size_t k = 0; k < v->n && seen < FIT_SCAN;) {
			uint32_t i = v->v[k];
			const struct phole *h = &p->holes[i];
			if (h->class != c || !usable(h)) {
				v->v[k] = v->v[--v->n]; /* stale */
				continue;
			}
			k++;
			seen++;
			bool fits = h->len >= len && (h->left_ok || h->len == len);
			if (fits && (best < 0 || h->len < p->holes[best].len)) {
				best = i;
				if (h->len == len)
					break;
			}
		}
		if (best >= 0)
			return best;
	}
	return -1;
}

/* The largest hole that takes a prefix of want blocks (a hole with only a
 * right lender must be filled exactly, so it must not exceed want; with
 * left_only, none of those), or -1. */
static int64_t find_largest(struct tp_plan *p, uint64_t want, bool left_only)
{
	for (int c = N_CLASSES - 1; c >= 0; c--) {
		struct vec_u32 *v = &p->classes[c];
		int64_t best = -1;
		for (size_t k = 0; k < v->n;) {
			uint32_t i = v->v[k];
			const struct phole *h = &p->holes[i];
			if (h->class != c || !usable(h)) {
				v->v[k] = v->v[--v->n];
				continue;
			}
			k++;
			if (!h->left_ok && (left_only || h->len > want))
				continue;
			if (best < 0 || h->len > p->holes[best].len)
				best = i;
		}
		if (best >= 0)
			return best;
	}
	return -1;
}

static int push_move(struct tp_plan *p, const struct tp_move *m, uint32_t hole)
{
	if (TP_RESERVE(p->moves, p->cap_moves, p->n_moves + 1) < 0 ||
	    TP_RESERVE(p->undo, p->cap_undo, p->n_moves + 1) < 0)
		return -ENOMEM;
	p->undo[p->n_moves] = (struct undo){ hole, p->holes[hole] };
	p->moves[p->n_moves++] = *m;
	return 0;
}

/* Put blocks [off, off + n) of piece pc at the start of hole i: from the
 * left when it has a left lender (the blocks placed become the next one),
 * else filling it exactly, lent from the right. */
static int take(struct tp_plan *p, uint64_t victim, const struct piece *pc,
		uint64_t off, uint64_t n, uint32_t i)
{
	struct phole *h = &p->holes[i];
	bool left = h->left_ok;
	struct tp_move m = {
		.victim = victim,
		.file = pc->file,
		.logical = pc->logical + off,
		.len = n,
		.source = pc->source + off,
		.target = h->start,
		.right = !left,
		.has_lender = p->o.need_lender,
		.lender = left ? h->left_file : h->right_file,
		.lender_logical = left ? h->left_logical : h->right_logical,
		.unwritten = pc->unwritten,
		.hole = i,
	};
	int r = push_move(p, &m, i);

	if (r < 0)
		return r;
	if (left && n < h->len) {
		h->start += n;
		h->len -= (uint32_t)n;
		h->left_file = pc->file;
		h->left_logical = (uint32_t)(pc->logical + off + n - 1);
	} else
		h->len = 0; /* filled */
	return refile(p, i);
}

/* Put piece into holes, as one move or several.  0, or -ENOSPC. */
static int assign_piece(struct tp_plan *p, uint64_t victim, const struct piece *pc)
{
	uint64_t off = 0;
	int r;

	while (off < pc->len) {
		uint64_t want = pc->len - off;
		int64_t i = find_fit(p, want);
		if (i < 0)
			i = find_largest(p, want, false);
		if (i < 0)
			return -ENOSPC;
		uint64_t n = MIN(want, p->holes[i].len);
		r = take(p, victim, pc, off, n, (uint32_t)i);
		if (r < 0)
			return r;
		off += n;
	}
	return 0;
}

/* The pieces, longest first, each whole into the hole the previous one
 * went to while it has room (one placement for both), else into its best
 * fitting hole; split across holes only when no hole takes a piece whole
 * (splitting makes extents, and extent-tree blocks).  0, or -ENOSPC. */
static int pack(struct tp_plan *p, uint64_t victim)
{
	int64_t cur = -1;
	int r;

	for (size_t i = 0; i < p->n_pieces; i++) {
		const struct piece *pc = &p->pieces[i];

		if (cur >= 0 && p->holes[cur].left_ok && p->holes[cur].len >= pc->len) {
			r = take(p, victim, pc, 0, pc->len, (uint32_t)cur);
			if (r < 0)
				return r;
			continue;
		}
		int64_t h = find_fit(p, pc->len);
		if (h >= 0) {
			r = take(p, victim, pc, 0, pc->len, (uint32_t)h);
			if (r < 0)
				return r;
			cur = h;
			continue;
		}
		r = assign_piece(p, victim, pc);
		if (r < 0)
			return r;
		cur = -1;
	}
	return 0;
}

static int cmp_piece_len(const void *a, const void *b)
{
	const struct piece *x = a, *y = b;
	if (x->len != y->len)
		return x->len > y->len ? -1 : 1;
	return x->source < y->source ? -1 : x->source > y->source;
}

static int push_piece(struct tp_plan *p, const struct piece *pc)
{
	if (TP_RESERVE(p->pieces, p->cap_pieces, p->n_pieces + 1) < 0)
		return -ENOMEM;
	p->pieces[p->n_pieces++] = *pc;
	return 0;
}

/* Undo moves [from, n_moves) in reverse. */
static void rollback(struct tp_plan *p, size_t from)
{
	while (p->n_moves > from) {
		const struct undo *u = &p->undo[--p->n_moves];
		int8_t class = p->holes[u->hole].class;
		p->holes[u->hole] = u->old;
		p->holes[u->hole].class = class;
		(void)refile(p, u->hole); /* never grows a vector past memory */
	}
}

/* Assign pieces (sorted longest first) from moves index `from`.  0, or
 * -ENOSPC with the moves from `from` rolled back. */
static int assign_pieces(struct tp_plan *p, uint64_t victim, size_t from)
{
	uint64_t total = 0;
	int64_t h;
	int r = 0;

	qsort(p->pieces, p->n_pieces, sizeof(*p->pieces), cmp_piece_len);
	for (size_t i = 0; i < p->n_pieces; i++)
		total += p->pieces[i].len;
	/* Each hole used costs a placement (a donor, a borrowed block copied
	 * there and back, a first block written twice): use few.  All of it
	 * into the best fitting hole if one takes it; else packed. */
	h = find_fit(p, total);
	if (h >= 0 && p->holes[h].left_ok) {
		for (size_t i = 0; i < p->n_pieces && r >= 0; i++)
			r = take(p, victim, &p->pieces[i], 0, p->pieces[i].len,
				 (uint32_t)h);
	} else
		r = pack(p, victim);
	if (r < 0)
		rollback(p, from);
	return r;
}

/* The current victim's data, as pieces clipped to the cluster. */
static int victim_pieces(struct tp_plan *p, uint64_t victim)
{
	const struct tp_clustermap *m = p->map;
	const struct tp_geometry *g = tp_clustermap_geometry(m);
	uint64_t cs = tp_cluster_to_blk(g, victim), ce = cs + g->cluster_blocks;
	uint64_t total = 0;
	struct tp_cluster c;
	int r;

	p->n_pieces = 0;
	for (size_t i = tp_clustermap_first_ext(m, cs);
	     i < m->n_exts && tp_rext_physical(&m->exts[i]) < ce; i++) {
		const struct tp_rext *e = &m->exts[i];
		uint64_t a = MAX(cs, tp_rext_physical(e)), b = MIN(ce, tp_rext_end(e));
		if (a >= b)
			continue;
		r = push_piece(p, &(struct piece){
			.file = e->file,
			.logical = e->logical + (uint32_t)(a - tp_rext_physical(e)),
			.source = a,
			.len = (uint32_t)(b - a),
			.unwritten = tp_rext_unwritten(e),
		});
		if (r < 0)
			return r;
		total += b - a;
	}
	tp_clustermap_get(m, victim, &c);
	return total == c.used ? 0 : -ENODATA;
}

/* Assign the pieces in p->pieces for victim v.  1: planned; 0: no room
 * (counted); < 0: error. */
static int plan_victim(struct tp_plan *p, uint64_t v)
{
	int r = assign_pieces(p, v, 0);

	if (r == -ENOMEM)
		return r;
	if (r < 0) {
		p->unplaced++;
		return 0;
	}
	return 1;
}

int tp_plan_next(struct tp_plan *p, uint64_t *ret_victim,
		 const struct tp_move **ret_moves, size_t *ret_n,
		 unsigned *ret_round)
{
	uint64_t v = 0;
	unsigned round = 0;
	int r = 0;

	p->n_moves = 0;
	while (r == 0 && p->next < p->n_victims) {
		v = p->victims[p->next++];
		r = victim_pieces(p, v);
		if (r == -ENODATA) {
			p->unplaced++; /* the reverse map does not cover it */
			r = 0;
			continue;
		}
		if (r < 0)
			return r;
		r = plan_victim(p, v);
	}
	while (r == 0 && p->next_deferred < p->n_deferred) {
		const struct deferred *d = &p->deferred[p->next_deferred++];

		v = d->victim;
		round = d->round;
		p->n_pieces = 0;
		for (size_t i = 0; i < d->n; i++) {
			r = push_piece(p, &p->dpieces[d->first + i]);
			if (r < 0)
				return r;
		}
		r = plan_victim(p, v);
	}
	if (r <= 0) {
		p->n_moves = 0;
		return r;
	}
	*ret_victim = v;
	*ret_moves = p->moves;
	*ret_n = p->n_moves;
	*ret_round = round;
	return 1;
}

/* The data still to move: the moves from done on, merged back into pieces
 * where they were split, into p->pieces. */
static int remaining_pieces(struct tp_plan *p, size_t done)
{
	p->n_pieces = 0;
	for (size_t i = done; i < p->n_moves; i++) {
		const struct tp_move *m = &p->moves[i];
		struct piece *last = p->n_pieces ? &p->pieces[p->n_pieces - 1] : NULL;
		if (last && last->file == m->file &&
		    (uint64_t)last->logical + last->len == m->logical &&
		    last->source + last->len == m->source &&
		    last->unwritten == m->unwritten)
			last->len += (uint32_t)m->len;
		else {
			int r = push_piece(p, &(struct piece){
				.source = m->source,
				.file = m->file,
				.logical = (uint32_t)m->logical,
				.len = (uint32_t)m->len,
				.unwritten = m->unwritten,
			});
			if (r < 0)
				return r;
		}
	}
	return 0;
}

int tp_plan_defer(struct tp_plan *p, size_t done, unsigned round)
{
	int r;

	if (done >= p->n_moves)
		return -EINVAL;
	r = remaining_pieces(p, done);
	if (r < 0)
		return r;
	if (TP_RESERVE(p->deferred, p->cap_deferred, p->n_deferred + 1) < 0 ||
	    TP_RESERVE(p->dpieces, p->cap_dpieces, p->n_dpieces + p->n_pieces) < 0)
		return -ENOMEM;
	memcpy(p->dpieces + p->n_dpieces, p->pieces, p->n_pieces * sizeof(*p->pieces));
	p->deferred[p->n_deferred++] = (struct deferred){
		.victim = p->moves[done].victim,
		.first = p->n_dpieces,
		.n = p->n_pieces,
		.round = round,
	};
	p->n_dpieces += p->n_pieces;
	rollback(p, done);
	return 0;
}

int tp_plan_replan(struct tp_plan *p, size_t done, enum tp_replan_why why,
		   const struct tp_move **ret_moves, size_t *ret_n)
{
	uint64_t victim;
	int r;

	if (done >= p->n_moves)
		return -EINVAL;
	victim = p->moves[done].victim;
	r = remaining_pieces(p, done);
	if (r < 0)
		return r;
	uint32_t bad = p->undo[done].hole;
	bool right = p->moves[done].right;
	rollback(p, done);

	/* What failed there will fail again. */
	struct phole *h = &p->holes[bad];
	if (why == TP_REPLAN_LENDER && !right)
		h->left_ok = false;
	else if (why == TP_REPLAN_LENDER)
		h->right_ok = false;
	else
		h->len = 0;
	r = refile(p, bad);
	if (r < 0)
		return r;

	r = assign_pieces(p, victim, done);
	if (r == -ENOSPC)
		return 0;
	if (r < 0)
		return r;
	*ret_moves = p->moves;
	*ret_n = p->n_moves;
	return 1;
}

void tp_plan_abandon(struct tp_plan *p, size_t done)
{
	if (done < p->n_moves)
		rollback(p, done);
}
