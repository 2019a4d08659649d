/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef TP_TOOLS_THINPACK_H
#define TP_TOOLS_THINPACK_H

#include <errno.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>

#include <json-c/json.h>

#include "thinpack/thinpack.h"
#include "basic/macros.h"
#include "fslock.h"
#include "log.h"
#include "throttle.h"

/* Exit codes, OR-ed over the filesystems of one run (see thinpack(8)).
 * 0 whenever the run did what it could: a timer or cron job runs thinpack
 * unattended, and only what needs an administrator may fail it. */
enum {
	TP_EXIT_OK = 0,          /* done what could be done (clusters left
				  * full because files were in use count) */
	TP_EXIT_NOTHING = 1,     /* the admin must act: nothing can be
				  * returned (read-only, no discard,
				  * bigalloc), or moves failed with EIO */
	TP_EXIT_OPERATIONAL = 4, /* could not do what was asked */
	TP_EXIT_USAGE = 8,       /* bad command line or configuration */
	TP_EXIT_BUSY = 16,       /* another run holds the filesystem's lock */
};

/* "thinpack: <message>" on stderr: log_error(), log_warning(),
 * log_error_errno() of the facade the daemon shares (common/log.h). */

/* The thinpack subcommands. */
int cmd_report(int argc, char **argv);
int cmd_compact(int argc, char **argv);
int cmd_trim(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_explain(int argc, char **argv);

/* A filesystem named on the command line (target.c). */
#define TARGET_MAX_WARNINGS 8
struct target {
	const char *path;
	struct tp_device *dev;
	struct tp_fs *fs;
	struct tp_fs_info info;
	struct tp_geometry geo;
	char *error;  /* why it failed, as printed */
	char *warnings[TARGET_MAX_WARNINGS];
	unsigned n_warnings;
	int exit;     /* TP_EXIT_* bits */
	bool short_device; /* the filesystem is larger than its device */
	struct tp_fslock *lock; /* target_lock(); target_clear() lets go */
};
/* Resolve, open and place path on its cluster grid.  0, or its exit bits
 * (non-zero) after printing why. */
int target_open(struct target *t, const char *path, uint64_t granularity);
void target_clear(struct target *t);
int target_fail(struct target *t, int code, const char *fmt, ...) _printf_(3, 4);
void target_warn(struct target *t, const char *fmt, ...) _printf_(2, 3);
int target_scan_error(struct target *t, int r);
int target_swapfiles(struct target *t, uint64_t **ret, size_t *ret_n);
/* A path in t's filesystem ("/a/b", from tp_fs_inode_paths()) as this
 * host names it: under the mount point when mounted.  NULL for NULL. */
char *target_host_path(const struct target *t, const char *path);
/* The paths of a set of inodes in t's filesystem, one for each inode
 * however often it was named, looked up by inode number. */
struct inode_paths {
	uint32_t *inos; /* sorted, each once */
	char **paths;   /* paths[i]: inos[i]'s, or NULL where none names it */
	size_t n;
};
/* Find the paths of inos[0, n) (any order, repeats allowed; taken, even
 * on error), as this host names them with host (target_host_path()), else
 * as the filesystem does ("/a/b").  0 or -errno. */
int inode_paths_find(const struct target *t, uint32_t *inos, size_t n, bool host,
		     struct inode_paths *ret);
/* The path of ino, or NULL: none found, or not asked for. */
const char *inode_path(const struct inode_paths *ip, uint32_t ino);
void inode_paths_clear(struct inode_paths *ip);
/* Take the lock of t's filesystem as what ("thinpack compact"), waiting
 * wait_s seconds at most (< 0: for ever; see lock.c).  0, or its exit bits
 * after saying who holds it. */
int target_lock(struct target *t, const char *what, double wait_s,
		const volatile sig_atomic_t *stop);
/* --wait[=DURATION]: seconds, < 0 for ever (no DURATION). */
int parse_wait_option(const char *arg, double *ret);

/* compact --io-rate, --time-budget, --pressure-limit (throttle.c): the
 * library's throttle (lib/throttle.h), with the command line's side. */
struct compact_throttle {
	struct tp_throttle t;
	const char *path;
	const volatile sig_atomic_t *stop; /* SIGINT, SIGTERM */
	bool yield_said;
};
/* Every throttle off. */
void compact_throttle_init(struct compact_throttle *th);
/* opt is "--io-rate", "--time-budget" or "--pressure-limit".  0, or
 * -EINVAL after saying what is wrong. */
int compact_throttle_option(struct compact_throttle *th, const char *opt,
			    const char *arg);
/* The run on path starts: the budget counts from here, and a pressure
 * above the limit is waited out first.  0, or < 0 when the budget or a
 * signal ended that wait (nothing to do then but say so). */
int compact_throttle_begin(struct compact_throttle *th, const char *path,
			   const volatile sig_atomic_t *stop);
/* "time_budget", "signal", or NULL when the run was not stopped. */
const char *compact_stop_reason(const struct compact_throttle *th,
				const struct tp_compact_result *res);
/* The summary's lines: how long the throttles held the run, and what a
 * spent budget left. */
void compact_throttle_print(const struct compact_throttle *th,
			    const struct tp_compact_result *res);
/* The same in the JSON: stop_reason, victims_left, throttle (not for a
 * dry run). */
void compact_throttle_json(json_object *j, const struct compact_throttle *th,
			   const struct tp_compact_result *res, bool dry_run);

/* JSON (json.c): {"filesystems": [...]} on stdout, and the fields. */
void json_add_u64(json_object *o, const char *key, uint64_t v);
void json_add_str(json_object *o, const char *key, const char *v);
void json_add_bool(json_object *o, const char *key, bool v);
void json_print_filesystems(json_object *filesystems);
/* The same for one filesystem fs whose member key is an array of n items
 * that item() makes one at a time, each printed and freed before the next:
 * memory for one item, not n (a dry run's plan can hold millions). */
void json_print_filesystem_array(json_object *fs, const char *key, size_t n,
				 json_object *(*item)(size_t i, void *userdata),
				 void *userdata);

/* Durations and sizes of options, with the message on error. */
int parse_size_option(const char *opt, const char *arg, uint64_t *ret);
int parse_granularity_option(const char *arg, uint64_t *ret);
int parse_duration_option(const char *opt, const char *arg, uint64_t *ret);
int parse_uint_option(const char *opt, const char *arg, unsigned max,
		      unsigned *ret);

/* Write an SVG cluster map of the maps to path (atomically). */
struct map_section {
	const char *title;
	const struct tp_clustermap *map;
	const struct tp_provmap *prov; /* NULL: not known */
	const struct tp_summary *summary;
};
int write_svg_map(const char *path, const struct map_section *sections,
		  size_t n);

/* A progress line on stderr when it is a terminal (progress.c); messages
 * clear it first. */
void progress_line(const char *phase, uint64_t done, uint64_t total,
		   void *userdata);
void progress_done(void);
/* A caller drew its own progress line: progress_done() must clear it. */
void progress_shown_set(void);

#endif
