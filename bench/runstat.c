/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * runstat: run a command, its standard output to a file, and print its wall
 * time and peak resident set size, measured with wait4().
 *
 * Usage: runstat [-c] OUTFILE ERRFILE CMD [ARG...]
 * The command's standard output goes to OUTFILE, its standard error to
 * ERRFILE.  Prints "WALL_S MAXRSS_KIB EXIT_STATUS" (128 + signal when
 * killed) on standard output; with -c also "USER_S SYS_S", the CPU time
 * of the command and the children it waited for (bench/scale: on a shared
 * machine the wall time carries the other jobs' load, the CPU time much
 * less of it).
 *
 * Why not python's getrusage(RUSAGE_CHILDREN) around subprocess: the kernel
 * folds the RSS high-water mark of the process image that exec() replaces
 * into ru_maxrss, and a child forked (or vforked) from a python interpreter
 * starts with the interpreter's ~15 MiB.  Forked from this small program the
 * floor is about 1 MiB, below anything worth measuring.
 */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct timespec t0, t1;
	struct rusage ru;
	int status, out, err;
	bool cpu = false;
	pid_t pid;

	/* Not getopt(): the command's own options must stay its own. */
	if (argc > 1 && strcmp(argv[1], "-c") == 0) {
		cpu = true;
		argv++;
		argc--;
	}
	if (argc < 4) {
		fprintf(stderr, "Usage: runstat [-c] OUTFILE ERRFILE CMD [ARG...]\n");
		return 2;
	}
	out = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (out < 0) {
		fprintf(stderr, "runstat: %s: %s\n", argv[1], strerror(errno));
		return 2;
	}
	err = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (err < 0) {
		fprintf(stderr, "runstat: %s: %s\n", argv[2], strerror(errno));
		return 2;
	}

	clock_gettime(CLOCK_MONOTONIC, &t0);
	pid = fork();
	if (pid < 0) {
		fprintf(stderr, "runstat: fork: %s\n", strerror(errno));
		return 2;
	}
	if (pid == 0) {
		if (dup2(out, STDOUT_FILENO) < 0 || dup2(err, STDERR_FILENO) < 0)
			_exit(127);
		execvp(argv[3], argv + 3);
		fprintf(stderr, "runstat: %s: %s\n", argv[3], strerror(errno));
		_exit(127);
	}
	close(out);
	close(err);
	while (wait4(pid, &status, 0, &ru) < 0) {
		if (errno != EINTR) {
			fprintf(stderr, "runstat: wait4: %s\n", strerror(errno));
			return 2;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);

	printf("%.6f %ld %d",
	       (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9,
	       ru.ru_maxrss,
	       WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
	if (cpu)
		printf(" %.6f %.6f",
		       (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6,
		       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6);
	printf("\n");
	return 0;
}
