/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests of the offline engine's edit of one extent-tree node,
 * lib/e2fs/write.c: tp_e2fs_rewrite_node() and the little-endian
 * tp_e2fs_encode_extent() / tp_e2fs_decode_extent() it rests on.
 *
 * Nodes are written and read back byte by byte here, as they lie on disk
 * (a 12-byte header, then 12-byte extents: le32 ee_block, le16 ee_len with
 * the top bit for unwritten, le16 ee_start_hi, le32 ee_start), and every
 * expected node is worked out by hand: nothing here decodes with the code
 * under test.  The slots after the last entry are filled with a sentinel
 * that must survive, and a refused edit must leave the node bit for bit.
 * TP_UNIT_SEED=<n> changes the seed of the random round trips.
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
#include "e2fs/e2fs-private.h"

#define SLOTS 8             /* room in the test's node buffer */
#define SENTINEL 0xA5       /* what the unused slots hold */
#define MAGIC 0xF30A        /* EXT3_EXT_MAGIC */
#define GENERATION 0x11223344u
#define UNWRITTEN 0x8000u   /* ee_len's flag: 32768 + len */

static uint64_t seed(void)
{
	const char *e = getenv("TP_UNIT_SEED");
	return e ? strtoull(e, NULL, 0) : UINT64_C(20240611);
}

/* ---- nodes, byte by byte ------------------------------------------------------ */

union node {
	struct ext3_extent_header hdr;
	uint8_t b[12 + 12 * SLOTS];
	uint64_t align;
};

/* An extent as the test writes it: ee_len raw, the unwritten bit in it. */
struct ext {
	uint32_t lblk;
	uint64_t pblk;
	uint16_t raw_len;
};

static void put16(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static unsigned get16(const uint8_t *p)
{
	return (unsigned)p[0] | (unsigned)p[1] << 8;
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint8_t *slot(union node *n, unsigned i)
{
	return n->b + 12 + 12 * i;
}

/* A leaf (depth 0) of max entries holding e[0..count). */
static void node_init(union node *n, unsigned max, const struct ext *e, unsigned count)
{
	assert_true(sizeof(struct ext3_extent_header) == 12);
	assert_true(sizeof(struct ext3_extent) == 12);
	memset(n->b, SENTINEL, sizeof(n->b));
	put16(n->b + 0, MAGIC);
	put16(n->b + 2, count);
	put16(n->b + 4, max);
	put16(n->b + 6, 0);
	put32(n->b + 8, GENERATION);
	for (unsigned i = 0; i < count; i++) {
		uint8_t *p = slot(n, i);
		put32(p + 0, e[i].lblk);
		put16(p + 4, e[i].raw_len);
		put16(p + 6, (unsigned)(e[i].pblk >> 32));
		put32(p + 8, (uint32_t)e[i].pblk);
	}
}

/* The node holds want[0..count), its header is otherwise as node_init()
 * made it, and every slot after the last entry is untouched. */
static void expect_node(const char *ctx, union node *n, unsigned max,
			const struct ext *want, unsigned count)
{
	char what[64];

	CHECK_U64(ctx, "eh_magic", get16(n->b + 0), MAGIC);
	CHECK_U64(ctx, "eh_entries", get16(n->b + 2), count);
	CHECK_U64(ctx, "eh_max", get16(n->b + 4), max);
	CHECK_U64(ctx, "eh_depth", get16(n->b + 6), 0);
	CHECK_U64(ctx, "eh_generation", get32(n->b + 8), GENERATION);
	for (unsigned i = 0; i < count; i++) {
		const uint8_t *p = slot(n, i);
		snprintf(what, sizeof(what), "extent %u: ee_block", i);
		CHECK_U64(ctx, what, get32(p + 0), want[i].lblk);
		snprintf(what, sizeof(what), "extent %u: ee_len", i);
		CHECK_U64(ctx, what, get16(p + 4), want[i].raw_len);
		snprintf(what, sizeof(what), "extent %u: ee_start_hi", i);
		CHECK_U64(ctx, what, get16(p + 6), want[i].pblk >> 32);
		snprintf(what, sizeof(what), "extent %u: ee_start", i);
		CHECK_U64(ctx, what, get32(p + 8), want[i].pblk & 0xFFFFFFFFu);
	}
	for (size_t b = 12 + 12 * (size_t)count; b < sizeof(n->b); b++) {
		snprintf(what, sizeof(what), "byte %zu past the entries", b);
		CHECK_U64(ctx, what, n->b[b], SENTINEL);
	}
}

static int rewrite(union node *n, unsigned max, uint64_t logical, uint64_t len,
		   uint64_t old, uint64_t new)
{
	return tp_e2fs_rewrite_node(&n->hdr, max, logical, len, old, new);
}

/* rewrite() of start, expecting r and, if 0, the node want. */
static void case_ok(const char *ctx, const struct ext *start, unsigned n_start,
		    uint64_t logical, uint64_t len, uint64_t old, uint64_t new,
		    const struct ext *want, unsigned n_want)
{
	union node n;

	node_init(&n, SLOTS, start, n_start);
	int r = rewrite(&n, SLOTS, logical, len, old, new);
	if (r != 0)
		fail_msg("%s: tp_e2fs_rewrite_node() = %d, expected 0", ctx, r);
	expect_node(ctx, &n, SLOTS, want, n_want);
}

/* A refused edit: r, and the node bit for bit as before. */
static void case_refused(const char *ctx, const struct ext *start, unsigned n_start,
			 unsigned max, uint64_t logical, uint64_t len, uint64_t old,
			 uint64_t new, int want_r)
{
	union node n, copy;

	node_init(&n, max, start, n_start);
	copy = n;
	int r = rewrite(&n, max, logical, len, old, new);
	if (r != want_r)
		fail_msg("%s: tp_e2fs_rewrite_node() = %d, expected %d", ctx, r, want_r);
	if (memcmp(n.b, copy.b, sizeof(n.b)) != 0)
		fail_msg("%s: a refused edit changed the node", ctx);
}

/* The node most cases start from: three extents, a hole at 30..39. */
static const struct ext base[] = {
	{ 0, 1000, 10 },
	{ 10, 5000, 20 },
	{ 40, 7000, 5 },
};
#define N_BASE 3

/* ---- replacing a range -------------------------------------------------------- */

static void test_middle(void **state)
{
	(void)state;
	/* [10, +20) at 5000; blocks 15..18 (at 5005..5008) go to 9000 */
	static const struct ext want[] = {
		{ 0, 1000, 10 },
		{ 10, 5000, 5 },
		{ 15, 9000, 4 },
		{ 19, 5009, 11 },
		{ 40, 7000, 5 },
	};
	case_ok("middle", base, N_BASE, 15, 4, 5005, 9000, want, 5);

	/* the first extent: what follows shifts by two */
	static const struct ext first[] = {
		{ 0, 1000, 2 },
		{ 2, 9000, 3 },
		{ 5, 1005, 5 },
		{ 10, 5000, 20 },
		{ 40, 7000, 5 },
	};
	case_ok("middle of the first", base, N_BASE, 2, 3, 1002, 9000, first, 5);

	/* one block */
	static const struct ext one[] = {
		{ 0, 1000, 10 },
		{ 10, 5000, 10 },
		{ 20, 123456, 1 },
		{ 21, 5011, 9 },
		{ 40, 7000, 5 },
	};
	case_ok("middle, one block", base, N_BASE, 20, 1, 5010, 123456, one, 5);
}

static void test_start(void **state)
{
	(void)state;
	static const struct ext want[] = {
		{ 0, 1000, 10 },
		{ 10, 9000, 5 },
		{ 15, 5005, 15 },
		{ 40, 7000, 5 },
	};
	case_ok("start", base, N_BASE, 10, 5, 5000, 9000, want, 4);

	/* the start of the very first extent, the new range below the old */
	static const struct ext first[] = {
		{ 0, 20, 1 },
		{ 1, 1001, 9 },
		{ 10, 5000, 20 },
		{ 40, 7000, 5 },
	};
	case_ok("start of the first", base, N_BASE, 0, 1, 1000, 20, first, 4);
}

static void test_end(void **state)
{
	(void)state;
	static const struct ext want[] = {
		{ 0, 1000, 10 },
		{ 10, 5000, 15 },
		{ 25, 9000, 5 },
		{ 40, 7000, 5 },
	};
	case_ok("end", base, N_BASE, 25, 5, 5015, 9000, want, 4);

	/* the end of the last extent: nothing to shift */
	static const struct ext last[] = {
		{ 0, 1000, 10 },
		{ 10, 5000, 20 },
		{ 40, 7000, 4 },
		{ 44, 9000, 1 },
	};
	case_ok("end of the last", base, N_BASE, 44, 1, 7004, 9000, last, 4);
}

static void test_whole(void **state)
{
	(void)state;
	static const struct ext want[] = {
		{ 0, 1000, 10 },
		{ 10, 9000, 20 },
		{ 40, 7000, 5 },
	};
	case_ok("whole", base, N_BASE, 10, 20, 5000, 9000, want, 3);

	static const struct ext last[] = {
		{ 0, 1000, 10 },
		{ 10, 5000, 20 },
		{ 40, 60, 5 },
	};
	case_ok("whole last", base, N_BASE, 40, 5, 7000, 60, last, 3);

	/* a node of one extent */
	static const struct ext single[] = { { 7, 300, 1 } };
	static const struct ext single_want[] = { { 7, 301, 1 } };
	case_ok("whole single", single, 1, 7, 1, 300, 301, single_want, 1);
}

/* ---- the unwritten flag ------------------------------------------------------- */

static void test_unwritten(void **state)
{
	(void)state;
	/* the middle extent is unwritten (ee_len 32768 + 20), its
	 * neighbours are not */
	static const struct ext start[] = {
		{ 0, 1000, 10 },
		{ 10, 5000, UNWRITTEN + 20 },
		{ 40, 7000, 5 },
	};
	static const struct ext middle[] = {
		{ 0, 1000, 10 },
		{ 10, 5000, UNWRITTEN + 5 },
		{ 15, 9000, UNWRITTEN + 4 },
		{ 19, 5009, UNWRITTEN + 11 },
		{ 40, 7000, 5 },
	};
	case_ok("unwritten, middle", start, 3, 15, 4, 5005, 9000, middle, 5);

	static const struct ext head[] = {
		{ 0, 1000, 10 },
		{ 10, 9000, UNWRITTEN + 5 },
		{ 15, 5005, UNWRITTEN + 15 },
		{ 40, 7000, 5 },
	};
	case_ok("unwritten, start", start, 3, 10, 5, 5000, 9000, head, 4);

	static const struct ext tail[] = {
		{ 0, 1000, 10 },
		{ 10, 5000, UNWRITTEN + 15 },
		{ 25, 9000, UNWRITTEN + 5 },
		{ 40, 7000, 5 },
	};
	case_ok("unwritten, end", start, 3, 25, 5, 5015, 9000, tail, 4);

	static const struct ext whole[] = {
		{ 0, 1000, 10 },
		{ 10, 9000, UNWRITTEN + 20 },
		{ 40, 7000, 5 },
	};
	case_ok("unwritten, whole", start, 3, 10, 20, 5000, 9000, whole, 3);

	/* the written neighbour of an unwritten extent stays written */
	static const struct ext neighbour[] = {
		{ 0, 1000, 4 },
		{ 4, 9000, 6 },
		{ 10, 5000, UNWRITTEN + 20 },
		{ 40, 7000, 5 },
	};
	case_ok("written next to unwritten", start, 3, 4, 6, 1004, 9000, neighbour, 4);

	/* ee_len 32768 is a written extent of 32768 blocks (the longest),
	 * 32769 an unwritten one of 1 block */
	static const struct ext longest[] = { { 100, 200000, 32768 } };
	static const struct ext longest_want[] = {
		{ 100, 200000, 100 },
		{ 200, 9000, 8 },
		{ 208, 200108, 32660 },
	};
	case_ok("written, 32768 blocks", longest, 1, 200, 8, 200100, 9000,
		longest_want, 3);
	static const struct ext one[] = { { 100, 200000, UNWRITTEN + 1 } };
	static const struct ext one_want[] = { { 100, 9000, UNWRITTEN + 1 } };
	case_ok("unwritten, 1 block", one, 1, 100, 1, 200000, 9000, one_want, 1);
}

/* ---- no room, no such extent -------------------------------------------------- */

static void test_overflow(void **state)
{
	(void)state;
	/* an inode's root: 4 entries at most, all taken */
	static const struct ext full[] = {
		{ 0, 1000, 10 },
		{ 10, 5000, 20 },
		{ 40, 7000, 5 },
		{ 50, 8000, 10 },
	};
	case_refused("full, middle", full, 4, 4, 15, 4, 5005, 9000, -ENOSPC);
	case_refused("full, start", full, 4, 4, 10, 5, 5000, 9000, -ENOSPC);
	case_refused("full, end", full, 4, 4, 25, 5, 5015, 9000, -ENOSPC);
	case_refused("full, last extent", full, 4, 4, 55, 1, 8005, 9000, -ENOSPC);

	/* one free entry: a split in two fits, exactly; in three does not */
	case_refused("3 of 4, middle", base, N_BASE, 4, 15, 4, 5005, 9000, -ENOSPC);
	union node n;
	node_init(&n, 4, base, N_BASE);
	int r = rewrite(&n, 4, 10, 5, 5000, 9000);
	if (r != 0)
		fail_msg("3 of 4, start: tp_e2fs_rewrite_node() = %d, expected 0", r);
	static const struct ext start_want[] = {
		{ 0, 1000, 10 },
		{ 10, 9000, 5 },
		{ 15, 5005, 15 },
		{ 40, 7000, 5 },
	};
	expect_node("3 of 4, start", &n, 4, start_want, 4);

	/* a whole extent needs no room */
	node_init(&n, 4, full, 4);
	r = rewrite(&n, 4, 40, 5, 7000, 9000);
	if (r != 0)
		fail_msg("full, whole: tp_e2fs_rewrite_node() = %d, expected 0", r);
	static const struct ext whole_want[] = {
		{ 0, 1000, 10 },
		{ 10, 5000, 20 },
		{ 40, 9000, 5 },
		{ 50, 8000, 10 },
	};
	expect_node("full, whole", &n, 4, whole_want, 4);
}

static void test_stale(void **state)
{
	(void)state;
	/* the extent is not where the caller thought */
	case_refused("old differs", base, N_BASE, SLOTS, 15, 4, 5006, 9000, -ESTALE);
	case_refused("old of another extent", base, N_BASE, SLOTS, 15, 4, 1005, 9000,
		     -ESTALE);
	/* the range runs past the end of its extent */
	case_refused("past the end", base, N_BASE, SLOTS, 25, 6, 5015, 9000, -ESTALE);
	case_refused("across two extents", base, N_BASE, SLOTS, 5, 10, 1005, 9000,
		     -ESTALE);
	/* a hole, after the last extent, an empty node */
	case_refused("in a hole", base, N_BASE, SLOTS, 30, 1, 5020, 9000, -ESTALE);
	case_refused("after the last", base, N_BASE, SLOTS, 45, 1, 7005, 9000, -ESTALE);
	case_refused("empty node", base, 0, SLOTS, 0, 1, 1000, 9000, -ESTALE);
	/* an unwritten extent's length is without the flag */
	static const struct ext unw[] = { { 10, 5000, UNWRITTEN + 20 } };
	case_refused("past an unwritten end", unw, 1, SLOTS, 29, 2, 5019, 9000, -ESTALE);
}

/* ---- little-endian encoding --------------------------------------------------- */

static void test_encoding(void **state)
{
	(void)state;
	/* every field a different byte: the order shows */
	struct tp_raw_extent e = {
		.lblk = 0x01020304, .pblk = UINT64_C(0xBEEF12345678),
		.len = 0x0506, .uninit = true,
	};
	static const uint8_t want[12] = {
		0x04, 0x03, 0x02, 0x01, /* ee_block */
		0x06, 0x85,             /* ee_len: 0x0506 + 0x8000 */
		0xEF, 0xBE,             /* ee_start_hi */
		0x78, 0x56, 0x34, 0x12, /* ee_start */
	};
	struct ext3_extent x = tp_e2fs_encode_extent(e);
	uint8_t got[12];
	memcpy(got, &x, sizeof(got));
	for (int i = 0; i < 12; i++)
		CHECK_U64("encode", "byte", got[i], want[i]);

	memcpy(&x, want, sizeof(x));
	e = tp_e2fs_decode_extent(&x);
	CHECK_U64("decode", "lblk", e.lblk, 0x01020304);
	CHECK_U64("decode", "pblk", e.pblk, UINT64_C(0xBEEF12345678));
	CHECK_U64("decode", "len", e.len, 0x0506);
	CHECK_U64("decode", "uninit", e.uninit, 1);

	/* the same written: ee_len 0x0506 */
	e.uninit = false;
	x = tp_e2fs_encode_extent(e);
	memcpy(got, &x, sizeof(got));
	CHECK_U64("encode, written", "ee_len byte 0", got[4], 0x06);
	CHECK_U64("encode, written", "ee_len byte 1", got[5], 0x05);

	/* edges of ee_len: 32768 written, 32769 unwritten of 1, 65535
	 * unwritten of 32767 */
	static const struct {
		unsigned raw;
		uint32_t len;
		bool uninit;
	} lens[] = {
		{ 1, 1, false },
		{ 32767, 32767, false },
		{ 32768, 32768, false },
		{ 32769, 1, true },
		{ 65535, 32767, true },
	};
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		uint8_t raw[12] = { 0 };
		put16(raw + 4, lens[i].raw);
		memcpy(&x, raw, sizeof(x));
		e = tp_e2fs_decode_extent(&x);
		CHECK_U64("ee_len edge", "len", e.len, lens[i].len);
		CHECK_U64("ee_len edge", "uninit", e.uninit, lens[i].uninit);
		x = tp_e2fs_encode_extent(e);
		memcpy(got, &x, sizeof(got));
		CHECK_U64("ee_len edge", "ee_len again", get16(got + 4), lens[i].raw);
	}
}

/* Any 12 bytes decode and encode back to themselves; any extent in range
 * encodes to its fields, little-endian, and decodes back. */
static void test_round_trip(void **state)
{
	(void)state;
	rng_state = seed();
	for (int i = 0; i < 20000; i++) {
		uint8_t raw[12], got[12];
		struct ext3_extent x;
		for (int b = 0; b < 12; b++)
			raw[b] = (uint8_t)rng();
		memcpy(&x, raw, sizeof(x));
		x = tp_e2fs_encode_extent(tp_e2fs_decode_extent(&x));
		memcpy(got, &x, sizeof(got));
		if (memcmp(raw, got, sizeof(raw)) != 0)
			fail_msg("bytes %02x%02x%02x%02x %02x%02x %02x%02x %02x%02x%02x%02x "
				 "did not survive decode + encode (seed %" PRIu64 ")",
				 raw[0], raw[1], raw[2], raw[3], raw[4], raw[5], raw[6],
				 raw[7], raw[8], raw[9], raw[10], raw[11], seed());

		struct tp_raw_extent e = {
			.lblk = (uint32_t)rng(),
			.pblk = rng() & ((UINT64_C(1) << 48) - 1),
			.uninit = rng() & 1,
		};
		e.len = 1 + (uint32_t)rng_below(e.uninit ? 32767 : 32768);
		x = tp_e2fs_encode_extent(e);
		memcpy(got, &x, sizeof(got));
		CHECK_U64("round trip", "ee_block", get32(got + 0), e.lblk);
		CHECK_U64("round trip", "ee_len", get16(got + 4),
			  e.len + (e.uninit ? UNWRITTEN : 0));
		CHECK_U64("round trip", "ee_start_hi", get16(got + 6), e.pblk >> 32);
		CHECK_U64("round trip", "ee_start", get32(got + 8), e.pblk & 0xFFFFFFFFu);
		struct tp_raw_extent back = tp_e2fs_decode_extent(&x);
		CHECK_U64("round trip", "lblk", back.lblk, e.lblk);
		CHECK_U64("round trip", "pblk", back.pblk, e.pblk);
		CHECK_U64("round trip", "len", back.len, e.len);
		CHECK_U64("round trip", "uninit", back.uninit, e.uninit);
	}
}

/* Physical blocks past 2^32: the split carries into ee_start_hi. */
static void test_high_blocks(void **state)
{
	(void)state;
	/* [100, +32) at 0x1FFFFFFF0: block 116 is at 0x200000000 */
	static const struct ext start[] = {
		{ 100, UINT64_C(0x1FFFFFFF0), 32 },
		{ 0xFFFFFF00u, UINT64_C(0xFFFFFFFFFF00), 0x80 },
	};
	static const struct ext want[] = {
		{ 100, UINT64_C(0x1FFFFFFF0), 16 },
		{ 116, UINT64_C(0xABCD00000001), 4 },
		{ 120, UINT64_C(0x200000004), 12 },
		{ 0xFFFFFF00u, UINT64_C(0xFFFFFFFFFF00), 0x80 },
	};
	case_ok("high blocks", start, 2, 116, 4, UINT64_C(0x200000000),
		UINT64_C(0xABCD00000001), want, 4);

	/* the last logical blocks a file may have, at the last physical */
	static const struct ext top[] = {
		{ 100, UINT64_C(0x1FFFFFFF0), 32 },
		{ 0xFFFFFF00u, UINT64_C(0xFFFFFFFFFF00), 0x40 },
		{ 0xFFFFFF40u, 9000, 0x20 },
		{ 0xFFFFFF60u, UINT64_C(0xFFFFFFFFFF60), 0x20 },
	};
	case_ok("high logical blocks", start, 2, 0xFFFFFF40u, 0x20,
		UINT64_C(0xFFFFFFFFFF40), 9000, top, 4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_middle),
		cmocka_unit_test(test_start),
		cmocka_unit_test(test_end),
		cmocka_unit_test(test_whole),
		cmocka_unit_test(test_unwritten),
		cmocka_unit_test(test_overflow),
		cmocka_unit_test(test_stale),
		cmocka_unit_test(test_encoding),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_high_blocks),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
