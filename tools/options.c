/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Option values, with the message that says what was expected. */

#include <errno.h>
#include <stdlib.h>

#include "thinpack.h"

int parse_size_option(const char *opt, const char *arg, uint64_t *ret)
{
	if (tp_parse_size(arg, ret) < 0) {
		log_error("%s '%s': expected a size like 4096, 64K, 1M or 2G", opt, arg);
		return -EINVAL;
	}
	return 0;
}

int parse_granularity_option(const char *arg, uint64_t *ret)
{
	uint64_t v;

	if (tp_parse_size(arg, &v) < 0 || v < 512 || v % 512) {
		log_error("--granularity '%s': expected a multiple of 512 bytes, "
			  "like 64K, 192K, 1M or 4M", arg);
		return -EINVAL;
	}
	*ret = v;
	return 0;
}

int parse_duration_option(const char *opt, const char *arg, uint64_t *ret)
{
	if (tp_parse_duration(arg, ret) < 0) {
		log_error("%s '%s': expected a duration like 0, 30m, 12h or 7d",
			  opt, arg);
		return -EINVAL;
	}
	return 0;
}

int parse_uint_option(const char *opt, const char *arg, unsigned max,
		      unsigned *ret)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(arg, &end, 10);
	if (errno || end == arg || *end || arg[0] == '-' || v > max) {
		log_error("%s '%s': expected a number from 0 to %u", opt, arg, max);
		return -EINVAL;
	}
	*ret = (unsigned)v;
	return 0;
}
