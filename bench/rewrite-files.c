/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * rewrite-files: the baseline of bench/compact.sh.  What a per-file tool
 * that empties clusters the e4defrag way must do: rewrite every file that
 * has a block in a cluster to empty, whole, into a fresh donor file, and
 * let the allocator choose where the new copy goes.
 *
 * Usage: rewrite-files [FILE...]
 * Without arguments, the files are read from standard input, one path a
 * line.  For every regular file: open it O_RDWR, open an O_TMPFILE donor in
 * the same directory, fallocate() the donor to the file's size, swap all the
 * file's blocks with the donor's by EXT4_IOC_MOVE_EXT (orig and donor from
 * block 0, the length in blocks up to EOF, repeated until moved_len covers
 * it), close the donor: its inode now owns the old blocks, which are freed.
 * A syncfs() at the end, as thinpack compact does.
 *
 * e4defrag does the same per file, with a donor it creates and unlinks and
 * a fallocate per chunk; it does not choose where the donor's blocks go
 * either.  Prints "key: value" lines: files, bytes (the sum of their sizes),
 * blocks moved, errors and the elapsed time.
 */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* O_TMPFILE, O_NOATIME, fallocate, syncfs; config.h sets it */
#endif

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

/* As in the kernel's fs/ext4/ext4.h; not in the uapi headers of Debian 12. */
struct move_extent {
	uint32_t reserved;    /* must be 0 */
	uint32_t donor_fd;    /* the donor file's descriptor */
	uint64_t orig_start;  /* logical start of the original file, blocks */
	uint64_t donor_start; /* logical start of the donor file, blocks */
	uint64_t len;         /* blocks to move */
	uint64_t moved_len;   /* out: blocks moved */
};
#define EXT4_IOC_MOVE_EXT _IOWR('f', 15, struct move_extent)

#define MAX_REPORTED_ERRORS 10

static uint64_t n_files, n_skipped, n_bytes, n_blocks, n_errors, block_size;
static int sync_fd = -1;

static void error_at(const char *path, const char *what)
{
	if (n_errors++ < MAX_REPORTED_ERRORS)
		fprintf(stderr, "rewrite-files: %s: %s: %s\n", path, what,
			strerror(errno));
}

static int open_donor(const char *path)
{
	char *copy = strdup(path);
	int fd;

	if (!copy)
		return -1;
	fd = open(dirname(copy), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	free(copy);
	return fd;
}

static void rewrite(const char *path)
{
	struct move_extent me;
	struct statvfs sv;
	struct stat st;
	uint64_t blocks, done = 0;
	int fd, donor = -1;

	fd = open(path, O_RDWR | O_NOATIME | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW);
	if (fd < 0 && errno == EPERM)
		fd = open(path, O_RDWR | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW);
	if (fd < 0) {
		error_at(path, "open");
		return;
	}
	if (fstat(fd, &st) < 0 || fstatvfs(fd, &sv) < 0) {
		error_at(path, "stat");
		goto out;
	}
	if (!S_ISREG(st.st_mode) || st.st_size == 0 || sv.f_bsize == 0) {
		n_skipped++;
		goto out;
	}
	if (sync_fd < 0)
		sync_fd = dup(fd);
	block_size = sv.f_bsize;
	blocks = ((uint64_t)st.st_size + sv.f_bsize - 1) / sv.f_bsize;

	donor = open_donor(path);
	if (donor < 0) {
		error_at(path, "open O_TMPFILE donor");
		goto out;
	}
	if (fallocate(donor, 0, 0, st.st_size) < 0) {
		error_at(path, "fallocate donor");
		goto out;
	}
	while (done < blocks) {
		memset(&me, 0, sizeof(me));
		me.donor_fd = (uint32_t)donor;
		me.orig_start = done;
		me.donor_start = done;
		me.len = blocks - done;
		if (ioctl(fd, EXT4_IOC_MOVE_EXT, &me) < 0) {
			error_at(path, "EXT4_IOC_MOVE_EXT");
			break;
		}
		if (me.moved_len == 0) {
			errno = EAGAIN;
			error_at(path, "EXT4_IOC_MOVE_EXT moved nothing");
			break;
		}
		done += me.moved_len;
	}
	n_files++;
	n_bytes += (uint64_t)st.st_size;
	n_blocks += done;
out:
	if (donor >= 0)
		close(donor);
	close(fd);
}

int main(int argc, char **argv)
{
	struct timespec t0, t1;
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;

	if (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		fprintf(stderr, "Usage: rewrite-files [FILE...]\n"
				"Without FILE, one path a line on standard input.\n");
		return 2;
	}

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (argc > 1) {
		for (int i = 1; i < argc; i++)
			rewrite(argv[i]);
	} else {
		while ((len = getline(&line, &cap, stdin)) >= 0) {
			if (len > 0 && line[len - 1] == '\n')
				line[--len] = '\0';
			if (len > 0)
				rewrite(line);
		}
		free(line);
	}
	if (sync_fd >= 0) {
		if (syncfs(sync_fd) < 0)
			error_at("syncfs", "syncfs");
		close(sync_fd);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);

	printf("files: %" PRIu64 "\n", n_files);
	printf("skipped: %" PRIu64 "\n", n_skipped);
	printf("bytes: %" PRIu64 "\n", n_bytes);
	printf("block_size: %" PRIu64 "\n", block_size);
	printf("blocks_moved: %" PRIu64 "\n", n_blocks);
	printf("errors: %" PRIu64 "\n", n_errors);
	printf("elapsed_s: %.3f\n", (double)(t1.tv_sec - t0.tv_sec) +
					    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	return n_errors ? 1 : 0;
}
