/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fallocate2: a kernel with the physical-goal fallocate of the RFC
 * (opt-in, with its syscall number).
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "thinpack/thinpack.h"
#include "basic/array.h"
#include "basic/cleanup.h"
#include "basic/macros.h"
#include "kio/kio.h"
#include "place/place.h"
#include "place/place-private.h"

int tp_fallocate2_place(struct tp_placer *p, const struct tp_place_request *q,
			struct tp_donor *ret, enum tp_place_outcome *ret_outcome)
{
	uint32_t bs = p->block_size;
	struct tp_donor d = { .fd = -1 };
	uint64_t placed = 0;
	bool free_now;
	int r;

	/* taken since the plan: not a miss */
	r = tp_hole_still_free(p, q->target, q->len, &free_now);
	if (r < 0)
		return r;
	if (!free_now) {
		*ret_outcome = TP_PLACE_HOLE_TAKEN;
		return 0;
	}
	r = tp_donor_open(p->mount_fd, bs, q->len, &d.fd);
	if (r < 0)
		return r;
	d.start = 0;
	d.len = q->len;
	p->stats.attempts++;
	if (syscall(p->fallocate2_nr, d.fd, 0, 0LL,
		    (long long)(q->len * bs), (unsigned long long)(q->target * bs)) < 0) {
		r = -errno;
		goto fail;
	}
	r = tp_placed_prefix(d.fd, bs, 0, q->target, q->len, &placed);
	if (r < 0)
		goto fail;
	if (placed < q->len) {
		p->stats.missed++;
		tp_donor_release(&d);
		*ret_outcome = TP_PLACE_MISSED;
		return 0;
	}
	p->stats.exact++;
	*ret = d;
	*ret_outcome = TP_PLACED;
	return 0;
fail:
	tp_donor_release(&d);
	return r;
}

/* Whether the running kernel has a fallocate2 syscall, by its symbol:
 * calling an unknown syscall number to find out is not safe. */
bool tp_kernel_has_fallocate2(void)
{
	_cleanup_fclose_ FILE *f = fopen("/proc/kallsyms", "re");
	char line[512];

	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) {
		const char *name = strrchr(line, ' ');
		if (!name)
			continue;
		name++;
		size_t len = strcspn(name, "\t\n");
		if ((len == 14 && strncmp(name, "sys_fallocate2", 14) == 0) ||
		    (len == 20 && strncmp(name, "__x64_sys_fallocate2", 20) == 0) ||
		    (len == 22 && strncmp(name, "__arm64_sys_fallocate2", 22) == 0))
			return true;
	}
	return false;
}
