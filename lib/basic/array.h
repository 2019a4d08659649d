/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef TP_BASIC_ARRAY_H
#define TP_BASIC_ARRAY_H

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

/*
 * Make room for `need` elements of `size` bytes in the array *arrp of
 * capacity *cap, doubling (from 16).  0, or -ENOMEM with both untouched.
 */
static inline int tp_reserve(void *arrp, size_t *cap, size_t need, size_t size)
{
	void **arr = arrp;
	size_t c = *cap ? *cap : 16;
	void *p;

	if (need <= *cap)
		return 0;
	while (c < need) {
		if (c > SIZE_MAX / 2 / size)
			return -ENOMEM;
		c *= 2;
	}
	p = realloc(*arr, c * size);
	if (!p)
		return -ENOMEM;
	*arr = p;
	*cap = c;
	return 0;
}

/* TP_RESERVE(v, cap, n): room for n elements in v. */
#define TP_RESERVE(arr, cap, need) tp_reserve(&(arr), &(cap), (need), sizeof(*(arr)))

#endif
