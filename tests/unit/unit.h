/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What the unit tests share: cmocka, sizes, a seeded PRNG, a checked compare. */
#ifndef TP_TESTS_UNIT_H
#define TP_TESTS_UNIT_H

#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#define KiB UINT64_C(1024)
#define MiB (KiB * 1024)
#define GiB (MiB * 1024)
#define TiB (GiB * 1024)
#define PiB (TiB * 1024)
#define EiB (PiB * 1024)

/* Compare two integers, saying where and which field. */
#define CHECK_U64(ctx, what, got, want)                                   \
	do {                                                              \
		uint64_t _g = (got), _w = (want);                         \
		if (_g != _w)                                             \
			fail_msg("%s: %s = %" PRIu64 ", expected %" PRIu64, \
				 (ctx), (what), _g, _w);                  \
	} while (0)

/* splitmix64, seeded by the test: failures reproduce. */
static uint64_t rng_state;

static inline uint64_t rng(void)
{
	uint64_t z = (rng_state += UINT64_C(0x9e3779b97f4a7c15));
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static inline uint64_t rng_below(uint64_t n)
{
	return n ? rng() % n : 0;
}

#endif
