/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests of the cluster grid: tp_geometry_init(), tp_blk_to_cluster(),
 * tp_cluster_to_blk().  Fixed cases worked out by hand, then many random
 * small geometries against a brute-force walk over every block.
 * TP_UNIT_SEED=<n> changes the seed of the random sweep.
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





static uint64_t seed(void)
{
	const char *e = getenv("TP_UNIT_SEED");
	return e ? strtoull(e, NULL, 0) : UINT64_C(20240611);
}

static struct tp_geometry init_ok(uint32_t bs, uint64_t blocks, uint64_t offset,
				  uint64_t gran)
{
	struct tp_geometry g;
	int r = tp_geometry_init(&g, bs, blocks, offset, gran);
	if (r < 0)
		fail_msg("tp_geometry_init(bs=%u, blocks=%" PRIu64 ", offset=%" PRIu64
			 ", gran=%" PRIu64 ") = %d", bs, blocks, offset, gran, r);
	assert_int_equal(g.block_size, bs);
	assert_int_equal(g.blocks_count, blocks);
	assert_int_equal(g.offset, offset);
	assert_int_equal(g.granularity, gran);
	assert_int_equal(g.cluster_blocks, gran / bs);
	return g;
}

/* ---- the brute force ------------------------------------------------------ */

struct expect {
	uint64_t C;
	uint64_t clusters, edge_clusters;
	uint64_t first_block, first_cluster; /* valid when clusters > 0 */
};

/* Walk every fs block: device block off + b lies in device cluster
 * (off + b) / C; a device cluster is whole when all C of its device blocks
 * are fs blocks.  Fills cl[b] with the index among whole clusters, or
 * TP_NO_CLUSTER. */
static struct expect brute(uint32_t bs, uint64_t blocks, uint64_t offset,
			   uint64_t gran, uint64_t *cl)
{
	struct expect e = { .C = gran / bs };
	uint64_t off = offset / bs;
	uint64_t prev = UINT64_MAX, prev_whole = UINT64_MAX;
	bool have_first = false, whole = false;

	for (uint64_t b = 0; b < blocks; b++) {
		uint64_t dev = off + b, c = dev / e.C;

		if (c != prev) { /* a new cluster touched */
			/* count the device blocks of cluster c inside the fs */
			uint64_t inside = 0;
			for (uint64_t d = c * e.C; d < (c + 1) * e.C; d++)
				inside += d >= off && d < off + blocks;
			whole = inside == e.C;
			if (whole)
				e.clusters++;
			else
				e.edge_clusters++;
			prev = c;
		}
		if (whole && !have_first) {
			have_first = true;
			e.first_block = b;
			e.first_cluster = c;
		}
		if (whole) {
			/* whole clusters are consecutive */
			if (prev_whole != UINT64_MAX && c != prev_whole &&
			    c != prev_whole + 1)
				fail_msg("brute force: whole clusters not consecutive");
			prev_whole = c;
		}
		if (cl)
			cl[b] = whole ? c - e.first_cluster : TP_NO_CLUSTER;
	}
	return e;
}

static void check_against_brute(const char *ctx, uint32_t bs, uint64_t blocks,
				uint64_t offset, uint64_t gran, uint64_t *cl)
{
	struct tp_geometry g = init_ok(bs, blocks, offset, gran);
	struct expect e = brute(bs, blocks, offset, gran, cl);

	CHECK_U64(ctx, "cluster_blocks", g.cluster_blocks, e.C);
	CHECK_U64(ctx, "clusters", g.clusters, e.clusters);
	CHECK_U64(ctx, "edge_clusters", g.edge_clusters, e.edge_clusters);
	if (e.edge_clusters > 2)
		fail_msg("%s: brute force found %" PRIu64 " edge clusters", ctx,
			 e.edge_clusters);
	if (e.clusters > 0) {
		CHECK_U64(ctx, "first_block", g.first_block, e.first_block);
		CHECK_U64(ctx, "first_cluster", g.first_cluster, e.first_cluster);
		CHECK_U64(ctx, "(off + first_block) % C",
			  (offset / bs + g.first_block) % g.cluster_blocks, 0);
		CHECK_U64(ctx, "first_cluster * C",
			  g.first_cluster * g.cluster_blocks,
			  offset / bs + g.first_block);
	}
	for (uint64_t b = 0; b < blocks; b++)
		if (tp_blk_to_cluster(&g, b) != cl[b])
			fail_msg("%s: tp_blk_to_cluster(%" PRIu64 ") = %" PRIu64
				 ", expected %" PRIu64, ctx, b,
				 tp_blk_to_cluster(&g, b), cl[b]);
	/* blocks past the end are in no cluster */
	for (uint64_t b = blocks; b < blocks + 2 * e.C + 2; b++)
		if (tp_blk_to_cluster(&g, b) != TP_NO_CLUSTER)
			fail_msg("%s: tp_blk_to_cluster(%" PRIu64 ") past the end = %"
				 PRIu64, ctx, b, tp_blk_to_cluster(&g, b));
	/* tp_cluster_to_blk: the first block of each whole cluster, and
	 * back again */
	for (uint64_t k = 0; k < g.clusters; k++) {
		uint64_t b = tp_cluster_to_blk(&g, k);
		CHECK_U64(ctx, "tp_cluster_to_blk", b, e.first_block + k * e.C);
		CHECK_U64(ctx, "blk_to_cluster(cluster_to_blk)",
			  tp_blk_to_cluster(&g, b), k);
		if (b > 0)
			assert_true(cl[b - 1] != k);
		CHECK_U64(ctx, "last block of cluster",
			  tp_blk_to_cluster(&g, b + e.C - 1), k);
	}
	/* the end of the last whole cluster is still inside the fs */
	assert_true(tp_cluster_to_blk(&g, g.clusters) <= blocks);
	assert_int_equal(tp_blks_to_bytes(&g, 3), 3 * (uint64_t)bs);
	assert_int_equal(tp_clusters_to_bytes(&g, 3), 3 * gran);
}

/* ---- fixed cases ------------------------------------------------------------ */

static void test_aligned(void **state)
{
	static const uint64_t grans[] = { 64 * KiB, MiB, 4 * MiB };
	uint64_t blocks = GiB / 4096; /* 1 GiB of 4 KiB blocks */

	(void)state;
	for (size_t i = 0; i < sizeof(grans) / sizeof(grans[0]); i++) {
		struct tp_geometry g = init_ok(4096, blocks, 0, grans[i]);
		uint64_t C = grans[i] / 4096;

		assert_int_equal(g.cluster_blocks, C);
		assert_int_equal(g.clusters, GiB / grans[i]);
		assert_int_equal(g.edge_clusters, 0);
		assert_int_equal(g.first_block, 0);
		assert_int_equal(g.first_cluster, 0);
		assert_int_equal(tp_blk_to_cluster(&g, 0), 0);
		assert_int_equal(tp_blk_to_cluster(&g, C - 1), 0);
		assert_int_equal(tp_blk_to_cluster(&g, C), 1);
		assert_int_equal(tp_blk_to_cluster(&g, blocks - 1), g.clusters - 1);
		assert_true(tp_blk_to_cluster(&g, blocks) == TP_NO_CLUSTER);
		assert_int_equal(tp_cluster_to_blk(&g, 0), 0);
		assert_int_equal(tp_cluster_to_blk(&g, 7), 7 * C);
		assert_int_equal(tp_cluster_to_blk(&g, g.clusters), blocks);
		assert_int_equal(tp_clusters_to_bytes(&g, g.clusters), GiB);
	}
}

static void test_partial_tail(void **state)
{
	/* 1 GiB + 5 blocks at 1 MiB: one edge cluster at the end */
	uint64_t blocks = GiB / 4096 + 5;
	struct tp_geometry g = init_ok(4096, blocks, 0, MiB);

	(void)state;
	assert_int_equal(g.clusters, 1024);
	assert_int_equal(g.edge_clusters, 1);
	assert_int_equal(g.first_block, 0);
	assert_int_equal(g.first_cluster, 0);
	assert_int_equal(tp_blk_to_cluster(&g, blocks - 6), 1023);
	for (uint64_t b = blocks - 5; b < blocks; b++)
		assert_true(tp_blk_to_cluster(&g, b) == TP_NO_CLUSTER);

	/* one block short of a whole number of clusters */
	g = init_ok(4096, GiB / 4096 - 1, 0, 4 * MiB);
	assert_int_equal(g.clusters, 255);
	assert_int_equal(g.edge_clusters, 1);
	assert_true(tp_blk_to_cluster(&g, 255 * 1024) == TP_NO_CLUSTER);
	assert_int_equal(tp_blk_to_cluster(&g, 255 * 1024 - 1), 254);
}

static void test_offset(void **state)
{
	/* A partition starting at 1 MiB + 4 KiB: device block 257 is fs
	 * block 0.  Edge clusters at both ends. */
	uint64_t offset = MiB + 4 * KiB, blocks = GiB / 4096;
	struct tp_geometry g = init_ok(4096, blocks, offset, MiB);

	(void)state;
	/* C = 256, off = 257: first whole cluster is device cluster 2, at
	 * device block 512 = fs block 255 */
	assert_int_equal(g.cluster_blocks, 256);
	assert_int_equal(g.first_cluster, 2);
	assert_int_equal(g.first_block, 255);
	/* device blocks 257..262400 touch clusters 1..1025; 2..1024 whole */
	assert_int_equal(g.clusters, 1023);
	assert_int_equal(g.edge_clusters, 2);
	assert_true(tp_blk_to_cluster(&g, 0) == TP_NO_CLUSTER);
	assert_true(tp_blk_to_cluster(&g, 254) == TP_NO_CLUSTER);
	assert_int_equal(tp_blk_to_cluster(&g, 255), 0);
	assert_int_equal(tp_blk_to_cluster(&g, 255 + 255), 0);
	assert_int_equal(tp_blk_to_cluster(&g, 255 + 256), 1);
	assert_int_equal(tp_blk_to_cluster(&g, 255 + 256 * 1023 - 1), 1022);
	assert_true(tp_blk_to_cluster(&g, 255 + 256 * 1023) == TP_NO_CLUSTER);
	assert_int_equal(255 + 256 * 1023, blocks - 1);
	assert_int_equal(tp_cluster_to_blk(&g, 1), 255 + 256);

	/* the same at 64 KiB: C = 16, first whole device cluster 17 (272) */
	g = init_ok(4096, blocks, offset, 64 * KiB);
	assert_int_equal(g.first_cluster, 17);
	assert_int_equal(g.first_block, 15);
	assert_int_equal(g.clusters, 16383);
	assert_int_equal(g.edge_clusters, 2);

	/* and at 4 MiB: C = 1024, first whole device cluster 1 (1024) */
	g = init_ok(4096, blocks, offset, 4 * MiB);
	assert_int_equal(g.first_cluster, 1);
	assert_int_equal(g.first_block, 767);
	assert_int_equal(g.clusters, 255);
	assert_int_equal(g.edge_clusters, 2);

	/* and at 192 KiB, an LVM chunk size that is no power of two: C = 48,
	 * off = 257, first whole device cluster 6 (288); device blocks
	 * 257..262400 touch clusters 5..5466, 6..5465 whole */
	g = init_ok(4096, blocks, offset, 192 * KiB);
	assert_int_equal(g.cluster_blocks, 48);
	assert_int_equal(g.first_cluster, 6);
	assert_int_equal(g.first_block, 31);
	assert_int_equal(g.clusters, 5460);
	assert_int_equal(g.edge_clusters, 2);
	assert_int_equal(tp_blk_to_cluster(&g, 31 + 48 * 5 + 47), 5);
	assert_int_equal(tp_cluster_to_blk(&g, 5), 31 + 48 * 5);

	/* an offset that is a multiple of the granularity changes nothing
	 * but first_cluster */
	g = init_ok(4096, blocks, 3 * MiB, MiB);
	assert_int_equal(g.first_cluster, 3);
	assert_int_equal(g.first_block, 0);
	assert_int_equal(g.clusters, 1024);
	assert_int_equal(g.edge_clusters, 0);

	/* a large filesystem: 16 TiB, 2^32 blocks */
	g = init_ok(4096, UINT64_C(1) << 32, offset, 4 * MiB);
	assert_int_equal(g.first_block, 767);
	assert_int_equal(g.first_cluster, 1);
	assert_int_equal(g.clusters, (UINT64_C(1) << 22) - 1);
	assert_int_equal(g.edge_clusters, 2);
	assert_int_equal(tp_blk_to_cluster(&g, (UINT64_C(1) << 32) - 1 - 257),
			 (UINT64_C(1) << 22) - 2);
	assert_true(tp_blk_to_cluster(&g, (UINT64_C(1) << 32) - 257) ==
		    TP_NO_CLUSTER);
}

static void test_1k_blocks(void **state)
{
	uint64_t blocks = GiB / 1024;
	struct tp_geometry g = init_ok(1024, blocks, 0, MiB);

	(void)state;
	assert_int_equal(g.cluster_blocks, 1024);
	assert_int_equal(g.clusters, 1024);
	assert_int_equal(g.edge_clusters, 0);
	assert_int_equal(tp_blk_to_cluster(&g, 1023), 0);
	assert_int_equal(tp_blk_to_cluster(&g, 1024), 1);

	/* offset of one 1 KiB block: edges at both ends */
	g = init_ok(1024, blocks, 1024, 64 * KiB);
	assert_int_equal(g.cluster_blocks, 64);
	assert_int_equal(g.first_block, 63);
	assert_int_equal(g.first_cluster, 1);
	assert_int_equal(g.clusters, 16383);
	assert_int_equal(g.edge_clusters, 2);

	/* granularity == block size: every block is a cluster */
	g = init_ok(1024, 1000, 7 * 1024, 1024);
	assert_int_equal(g.cluster_blocks, 1);
	assert_int_equal(g.clusters, 1000);
	assert_int_equal(g.edge_clusters, 0);
	assert_int_equal(g.first_block, 0);
	assert_int_equal(g.first_cluster, 7);
	assert_int_equal(tp_blk_to_cluster(&g, 999), 999);
}

static void test_smaller_than_a_cluster(void **state)
{
	(void)state;
	/* 100 blocks of 4 KiB inside one 1 MiB cluster */
	struct tp_geometry g = init_ok(4096, 100, 0, MiB);
	assert_int_equal(g.clusters, 0);
	assert_int_equal(g.edge_clusters, 1);
	for (uint64_t b = 0; b < 200; b++)
		assert_true(tp_blk_to_cluster(&g, b) == TP_NO_CLUSTER);

	/* 100 blocks across a cluster boundary: two edges, nothing whole */
	g = init_ok(4096, 100, MiB - 40 * KiB, MiB);
	assert_int_equal(g.clusters, 0);
	assert_int_equal(g.edge_clusters, 2);
	for (uint64_t b = 0; b < 200; b++)
		assert_true(tp_blk_to_cluster(&g, b) == TP_NO_CLUSTER);

	/* 300 blocks, unaligned: spans two clusters, neither whole */
	g = init_ok(4096, 300, 4096, MiB);
	assert_int_equal(g.clusters, 0);
	assert_int_equal(g.edge_clusters, 2);

	/* exactly one cluster */
	g = init_ok(4096, 256, 0, MiB);
	assert_int_equal(g.clusters, 1);
	assert_int_equal(g.edge_clusters, 0);
	assert_int_equal(tp_blk_to_cluster(&g, 255), 0);
	assert_true(tp_blk_to_cluster(&g, 256) == TP_NO_CLUSTER);

	/* and a clustermap of no cluster can be made */
	g = init_ok(4096, 100, 0, MiB);
	struct tp_clustermap *map = NULL;
	assert_int_equal(tp_clustermap_new(&g, &map), 0);
	assert_non_null(map);
	assert_int_equal(tp_clustermap_geometry(map)->clusters, 0);
	tp_clustermap_add_used(map, 0, 100);
	map = tp_clustermap_free(map);
	assert_null(map);
}

/* Regression (degenerate input): a filesystem of 0 blocks at an offset that
 * is not cluster-aligned once reported edge_clusters = 1 although it touches no
 * cluster: tp_geometry_init(&g, 4096, 0, 4096, 1 MiB) gives clusters = 0,
 * edge_clusters = 1 (ceil(1/256) - floor(1/256) = 1).  No real ext4 has 0
 * blocks, so this only matters to callers that build geometries by hand. */
static void test_empty_filesystem(void **state)
{
	(void)state;
	struct tp_geometry g = init_ok(4096, 0, 0, MiB);
	assert_int_equal(g.clusters, 0);
	assert_int_equal(g.edge_clusters, 0);
	g = init_ok(4096, 0, 4096, MiB);
	assert_int_equal(g.clusters, 0);
	assert_int_equal(g.edge_clusters, 0);
}

static void test_errors(void **state)
{
	struct tp_geometry g, before;

	(void)state;
	memset(&g, 0x5a, sizeof(g));
	before = g;

	/* granularity not a multiple of the block size */
	assert_int_equal(tp_geometry_init(&g, 4096, 1000, 0, MiB + 512), -EINVAL);
	assert_int_equal(tp_geometry_init(&g, 4096, 1000, 0, 3 * 4096 + 2048), -EINVAL);
	assert_int_equal(tp_geometry_init(&g, 4096, 1000, 0, 0), -EINVAL);
	/* granularity smaller than a block */
	assert_int_equal(tp_geometry_init(&g, 4096, 1000, 0, 2048), -EINVAL);
	assert_int_equal(tp_geometry_init(&g, 65536, 1000, 0, 4096), -EINVAL);
	/* block size not a power of two, or 0 */
	assert_int_equal(tp_geometry_init(&g, 3000, 1000, 0, MiB), -EINVAL);
	assert_int_equal(tp_geometry_init(&g, 0, 1000, 0, MiB), -EINVAL);
	/* offset not a multiple of the block size */
	assert_int_equal(tp_geometry_init(&g, 4096, 1000, 512, MiB), -EXDEV);
	assert_int_equal(tp_geometry_init(&g, 4096, 1000, MiB + 1024, MiB), -EXDEV);
	assert_int_equal(tp_geometry_init(&g, 1024, 1000, 1536, MiB), -EXDEV);
	/* more than 2^31 blocks per cluster */
	assert_int_equal(tp_geometry_init(&g, 1024, 1000, 0, UINT64_C(1) << 42),
			 -E2BIG);
	/* out-parameter untouched on every failure */
	assert_memory_equal(&g, &before, sizeof(g));

	/* 2^31 blocks per cluster is still fine */
	g = init_ok(1024, 1000, 0, UINT64_C(1) << 41);
	assert_int_equal(g.cluster_blocks, UINT32_C(1) << 31);
	assert_int_equal(g.clusters, 0);
	assert_int_equal(g.edge_clusters, 1);
}

/* ---- random geometries against the brute force ---------------------------- */

static void test_random_against_brute_force(void **state)
{
	static const uint32_t block_sizes[] = { 1024, 2048, 4096, 65536 };
	uint64_t s = seed();
	unsigned n = 20000, with_clusters = 0, with_two_edges = 0, none = 0;

	(void)state;
	rng_state = s;
	for (unsigned i = 0; i < n; i++) {
		uint32_t bs = block_sizes[rng_below(4)];
		/* 1..128: a power of two, or (a pool of 192 KiB chunks,
		 * say) any number */
		uint64_t C = rng_below(2) ? UINT64_C(1) << rng_below(8) :
					    1 + rng_below(128);
		uint64_t off = rng_below(4) == 0 ? C * rng_below(4)
						 : rng_below(4 * C + 3);
		uint64_t blocks = 1 + (rng_below(3) == 0 ? rng_below(2 * C + 1)
							 : rng_below(12 * C));
		uint64_t *cl = calloc(blocks, sizeof(*cl));
		char ctx[160];

		assert_non_null(cl);
		snprintf(ctx, sizeof(ctx),
			 "seed %" PRIu64 " #%u: bs=%u blocks=%" PRIu64
			 " offset=%" PRIu64 " gran=%" PRIu64,
			 s, i, bs, blocks, off * bs, C * bs);
		check_against_brute(ctx, bs, blocks, off * bs, C * bs, cl);

		struct tp_geometry g = init_ok(bs, blocks, off * bs, C * bs);
		with_clusters += g.clusters > 0;
		with_two_edges += g.edge_clusters == 2;
		none += g.clusters == 0;
		free(cl);
	}
	/* the sweep covered every shape */
	assert_true(with_clusters > n / 2);
	assert_true(with_two_edges > n / 10);
	assert_true(none > n / 100);
}

/* Every small geometry, exhaustively. */
static void test_exhaustive_small(void **state)
{
	uint64_t cl[64];
	char ctx[160];

	(void)state;
	for (uint64_t C = 1; C <= 16; C++)
		for (uint64_t off = 0; off <= 2 * C + 1; off++)
			for (uint64_t blocks = 1; blocks <= 64; blocks++) {
				snprintf(ctx, sizeof(ctx),
					 "bs=4096 blocks=%" PRIu64 " off=%" PRIu64
					 " blocks C=%" PRIu64, blocks, off, C);
				check_against_brute(ctx, 4096, blocks, off * 4096,
						    C * 4096, cl);
			}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_aligned),
		cmocka_unit_test(test_partial_tail),
		cmocka_unit_test(test_offset),
		cmocka_unit_test(test_1k_blocks),
		cmocka_unit_test(test_smaller_than_a_cluster),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_exhaustive_small),
		cmocka_unit_test(test_random_against_brute_force),
		cmocka_unit_test(test_empty_filesystem),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
