/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Sizes and durations as administrators write them. */

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "thinpack/thinpack.h"
#include "basic/macros.h"

/* Parse a non-negative decimal with an optional fraction.  *end points past it. */
static int parse_decimal(const char *s, const char **end, uint64_t *ret_int,
			 uint64_t *ret_frac, uint64_t *ret_frac_div)
{
	const char *p = s;
	uint64_t v = 0, frac = 0, div = 1;

	if (!isdigit((unsigned char)*p))
		return -EINVAL;
	for (; isdigit((unsigned char)*p); p++) {
		uint64_t d = (uint64_t)(*p - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	if (*p == '.') {
		p++;
		if (!isdigit((unsigned char)*p))
			return -EINVAL;
		for (; isdigit((unsigned char)*p); p++) {
			if (div >= 1000000000ULL)
				continue; /* ignore digits beyond 1e-9 */
			frac = frac * 10 + (uint64_t)(*p - '0');
			div *= 10;
		}
	}
	*end = p;
	*ret_int = v;
	*ret_frac = frac;
	*ret_frac_div = div;
	return 0;
}

/* v * mul + frac/div * mul, checking overflow. */
static int scale(uint64_t v, uint64_t frac, uint64_t div, uint64_t mul,
		 uint64_t *ret)
{
	if (mul && v > UINT64_MAX / mul)
		return -ERANGE;
	uint64_t r = v * mul;
	/* frac < div <= 1e9 and mul <= 2^60: compute in two steps */
	uint64_t f = (mul / div) * frac + (mul % div) * frac / div;
	if (r > UINT64_MAX - f)
		return -ERANGE;
	*ret = r + f;
	return 0;
}

int tp_parse_size(const char *s, uint64_t *ret_bytes)
{
	static const char units[] = "KMGTPE";
	uint64_t v, frac, div, mul = 1;
	const char *p;
	int r;

	if (!s)
		return -EINVAL;
	while (isspace((unsigned char)*s))
		s++;
	r = parse_decimal(s, &p, &v, &frac, &div);
	if (r < 0)
		return r;
	while (isspace((unsigned char)*p))
		p++;
	if (*p && *p != 'B' && *p != 'b') {
		const char *u = strchr(units, toupper((unsigned char)*p));
		if (!u)
			return -EINVAL;
		unsigned exp = (unsigned)(u - units) + 1;
		unsigned base = 1024;
		p++;
		if (tolower((unsigned char)p[0]) == 'i' &&
		    tolower((unsigned char)p[1]) == 'b')
			p += 2;
		else if (tolower((unsigned char)p[0]) == 'b') {
			base = 1000;
			p++;
		}
		for (unsigned i = 0; i < exp; i++)
			mul *= base;
	} else {
		if (*p == 'b' || *p == 'B')
			p++;
		if (frac)
			return -EINVAL; /* "1.5" bytes */
	}
	while (isspace((unsigned char)*p))
		p++;
	if (*p)
		return -EINVAL;
	uint64_t bytes;
	r = scale(v, frac, div, mul, &bytes);
	if (r < 0)
		return r;
	*ret_bytes = bytes;
	return 0;
}

int tp_parse_duration(const char *s, uint64_t *ret_seconds)
{
	static const struct {
		const char *suffix;
		uint64_t seconds;
	} units[] = {
		{ "weeks", 604800 }, { "week", 604800 }, { "w", 604800 },
		{ "days", 86400 },   { "day", 86400 },   { "d", 86400 },
		{ "hours", 3600 },   { "hour", 3600 },   { "h", 3600 },
		{ "minutes", 60 },   { "minute", 60 },   { "min", 60 },
		{ "m", 60 },         { "seconds", 1 },   { "second", 1 },
		{ "sec", 1 },        { "s", 1 },
	};
	uint64_t total = 0;
	const char *p = s;
	bool any = false;

	if (!s)
		return -EINVAL;
	while (isspace((unsigned char)*p))
		p++;
	while (*p) {
		uint64_t v, frac, div, mul = 1, part;
		const char *q;
		int r = parse_decimal(p, &q, &v, &frac, &div);
		if (r < 0)
			return r;
		while (isspace((unsigned char)*q))
			q++;
		size_t n = 0;
		while (isalpha((unsigned char)q[n]))
			n++;
		if (n > 0) {
			size_t i;
			for (i = 0; i < ELEMENTSOF(units); i++)
				if (strlen(units[i].suffix) == n &&
				    strncmp(units[i].suffix, q, n) == 0)
					break;
			if (i == ELEMENTSOF(units))
				return -EINVAL;
			mul = units[i].seconds;
		} else if (frac || any)
			return -EINVAL; /* a bare number of seconds stands alone */
		r = scale(v, frac, div, mul, &part);
		if (r < 0 || total > UINT64_MAX - part)
			return -ERANGE;
		total += part;
		any = true;
		p = q + n;
		while (isspace((unsigned char)*p))
			p++;
		if (n == 0 && *p)
			return -EINVAL;
	}
	if (!any)
		return -EINVAL;
	*ret_seconds = total;
	return 0;
}

const char *tp_format_size(uint64_t bytes, char buf[static TP_SIZE_STR_MAX])
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB",
					     "PiB", "EiB" };
	unsigned i = 0;
	uint64_t div = 1;

	while (i < 6 && bytes / div >= 1024) {
		div *= 1024;
		i++;
	}
	if (i == 0) {
		snprintf(buf, TP_SIZE_STR_MAX, "%" PRIu64 " B", bytes);
		return buf;
	}
	/* tenths of the unit, rounded half up on the whole value; a value
	 * that rounds to 1024.0 of a unit is 1.0 of the next */
	unsigned __int128 tenths = ((unsigned __int128)bytes * 10 + div / 2) / div;
	if (tenths >= 10240 && i < 6) {
		div *= 1024;
		i++;
		tenths = ((unsigned __int128)bytes * 10 + div / 2) / div;
	}
	snprintf(buf, TP_SIZE_STR_MAX, "%" PRIu64 ".%u %s",
		 (uint64_t)(tenths / 10), (unsigned)(tenths % 10), units[i]);
	return buf;
}

const char *tp_format_duration(uint64_t s, char buf[static TP_SIZE_STR_MAX])
{
	static const struct {
		char unit;
		uint64_t seconds;
	} units[] = { { 'w', 604800 }, { 'd', 86400 }, { 'h', 3600 },
		      { 'm', 60 },     { 's', 1 } };
	size_t n = 0;

	if (s == 0)
		return strcpy(buf, "0");
	for (size_t i = 0; i < ELEMENTSOF(units) && n < TP_SIZE_STR_MAX - 1; i++)
		if (s >= units[i].seconds) {
			n += (size_t)snprintf(buf + n, TP_SIZE_STR_MAX - n,
					      "%" PRIu64 "%c", s / units[i].seconds,
					      units[i].unit);
			s %= units[i].seconds;
		}
	return buf;
}
