/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * move-probe: what this kernel's EXT4_IOC_MOVE_EXT does with a donor range
 * that is partly a hole, and whether thinpack's wrapper (tp_move_ext(),
 * lib/kio/move-ext.c) handles it.  6.1 and 6.12 move the whole range (the
 * hole is filled); from 6.19 on the kernel moves up to the hole, returns
 * success with a short moved_len, and then moves nothing at the hole.
 *
 *   move-probe DIR
 *
 * In DIR (a mounted ext4): a file of 4 MiB of known bytes, a donor whose
 * first (then second) megabyte is a hole; tp_move_ext() of all 4 MiB.  Success must
 * mean all of it moved, a short move must be an error to the caller (the
 * wrapper never loops on a move of nothing), and the file must read back
 * the same bytes, from the page cache dropped.  Prints "moved N of M
 * blocks: RESULT" and exits 1 on any violation.
 */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kio/kio.h"

#define MiB (1u << 20)
#define SIZE (4 * MiB)
#define BS 4096u

static int fail(const char *what)
{
	fprintf(stderr, "move-probe: %s: %s\n", what, strerror(errno));
	return 1;
}

static uint8_t pattern(size_t i)
{
	return (uint8_t)(i * 2654435761u >> 13);
}

/* One trial: the donor's hole at [hole, hole + 1 MiB).  0 when the
 * wrapper told the truth and the file kept its bytes. */
static int trial(const char *dir, uint8_t *buf, off_t hole)
{
	char path[4096];
	uint64_t moved = 0;
	int fd, donor, r, bad = 0;

	for (size_t i = 0; i < SIZE; i++)
		buf[i] = pattern(i);
	snprintf(path, sizeof(path), "%s/move-probe.orig", dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || pwrite(fd, buf, SIZE, 0) != SIZE || fsync(fd) < 0)
		return fail(path);
	snprintf(path, sizeof(path), "%s/move-probe.donor", dir);
	donor = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (donor < 0 || ftruncate(donor, SIZE) < 0)
		return fail(path);
	for (off_t at = 0; at < SIZE; at += MiB)
		if (at != hole && fallocate(donor, 0, at, MiB) < 0)
			return fail(path);

	r = tp_move_ext(fd, donor, 0, 0, SIZE / BS, &moved);
	printf("hole at %lld MiB: moved %" PRIu64 " of %u blocks: %s\n",
	       (long long)(hole / MiB), moved, SIZE / BS,
	       r < 0 ? strerror(-r) : "success");
	if (r >= 0 && moved != SIZE / BS) {
		fprintf(stderr, "move-probe: success with %" PRIu64 " blocks moved\n", moved);
		bad = 1;
	}
	if (r < 0 && moved >= SIZE / BS) {
		fprintf(stderr, "move-probe: an error with every block moved\n");
		bad = 1;
	}

	tp_drop_cache(fd, 0, SIZE);
	memset(buf, 0, SIZE);
	if (pread(fd, buf, SIZE, 0) != SIZE)
		return fail("read back");
	for (size_t i = 0; i < SIZE; i++)
		if (buf[i] != pattern(i)) {
			fprintf(stderr, "move-probe: byte %zu differs after the move\n", i);
			bad = 1;
			break;
		}
	close(donor);
	close(fd);
	return bad;
}

int main(int argc, char **argv)
{
	uint8_t *buf;
	int bad;

	if (argc != 2) {
		fprintf(stderr, "usage: move-probe DIR\n");
		return 2;
	}
	buf = malloc(SIZE);
	if (!buf)
		return fail("malloc");
	/* a hole at the start of the range, and one in its middle */
	bad = trial(argv[1], buf, 0);
	bad |= trial(argv[1], buf, MiB);
	free(buf);
	return bad;
}
