/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef TP_BASIC_MACROS_H
#define TP_BASIC_MACROS_H

#include <stddef.h>
#include <stdint.h>

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))
#define _unused_ __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))

#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

static inline int tp_is_power_of_2(uint64_t x)
{
	return x && !(x & (x - 1));
}

static inline uint64_t tp_div_round_up(uint64_t x, uint64_t d)
{
	return x / d + (x % d != 0);
}

#endif
