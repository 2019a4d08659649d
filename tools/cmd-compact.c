/* SPDX-License-Identifier: GPL-2.0-or-later */
/* thinpack compact: empty the emptiest clusters of a mounted filesystem,
 * and thinpack trim: return the empty ones. */

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "thinpack.h"
#include "basic/array.h"
#include "basic/cleanup.h"

#define DEFAULT_MIN_AGE (24 * 3600)
#define DEFAULT_MAX_USAGE 50
#define DEFAULT_SLACK 10

static volatile sig_atomic_t stop_requested;

static void on_stop_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

/* SIGINT and SIGTERM stop between two moves; lease breaks are polled, so
 * their signal is ignored. */
static void setup_signals(void)
{
	struct sigaction sa = { .sa_handler = on_stop_signal };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGIO, SIG_IGN);
}

struct compact_options {
	bool json, dry_run, trim, offline, slack_given;
	bool verbose; /* -v: the moves, by path, after the summary */
	uint64_t granularity, min_age, max_io;
	unsigned max_usage, slack;
	enum tp_placement placement;
	long fallocate2_nr;
	double wait_s; /* for the lock: 0 not at all, < 0 for ever */
	unsigned pool_margin; /* percent of a thin pool kept free */
};

struct run {
	const struct compact_options *o;
	const struct tp_geometry *geo;
	struct compact_throttle *throttle;
	uint64_t moved_bytes;
	double start;
	bool tty;
	/* the moves, kept to be printed after the summary (--verbose) or
	 * put in the JSON plan (--dry-run --json) with their paths */
	struct tp_move_report *log;
	size_t n_log, cap_log;
	int log_failed; /* -ENOMEM: the log is incomplete */
};

/* Paths of the moves' files and lenders, as this host names them: one for
 * each inode, however many moves name it (a file has many pieces). */
static int move_paths_find(const struct target *t, const struct run *run,
			   struct inode_paths *ret)
{
	uint32_t *inos = malloc(MAX(2 * run->n_log, 1) * sizeof(*inos));
	size_t n = 0;

	*ret = (struct inode_paths){ 0 };
	if (!inos)
		return -ENOMEM;
	for (size_t i = 0; i < run->n_log; i++) {
		inos[n++] = run->log[i].ino;
		if (run->log[i].has_lender)
			inos[n++] = run->log[i].lender_ino;
	}
	return inode_paths_find(t, inos, n, true, ret);
}

static void print_move(const struct inode_paths *mp, const struct tp_move_report *m)
{
	const char *path = inode_path(mp, m->ino);
	const char *lender = m->has_lender ? inode_path(mp, m->lender_ino) : NULL;

	printf("cluster %" PRIu64 ": %s (inode %" PRIu32 ") blocks %" PRIu64 "+%"
	       PRIu64 " from %" PRIu64 " to %" PRIu64,
	       m->victim, path ? path : "(no name)", m->ino, m->logical, m->len,
	       m->source, m->target);
	if (m->has_lender)
		printf(", %s %s (inode %" PRIu32 ") block %" PRIu64,
		       m->right ? "before" : "after", lender ? lender : "(no name)",
		       m->lender_ino, m->lender_logical);
	if (m->result < 0)
		printf(": skipped, %s", tp_skip_reason_to_string(m->skip));
	printf("\n");
}

static json_object *move_json(const struct inode_paths *mp,
			      const struct tp_move_report *m)
{
	json_object *j = json_object_new_object();

	json_add_u64(j, "cluster", m->victim);
	json_add_u64(j, "inode", m->ino);
	json_add_u64(j, "generation", m->generation);
	json_add_str(j, "path", inode_path(mp, m->ino));
	json_add_u64(j, "logical", m->logical);
	json_add_u64(j, "blocks", m->len);
	json_add_u64(j, "source", m->source);
	json_add_u64(j, "target", m->target);
	if (m->has_lender) {
		json_add_u64(j, "lender_inode", m->lender_ino);
		json_add_str(j, "lender_path", inode_path(mp, m->lender_ino));
		json_add_u64(j, "lender_logical", m->lender_logical);
		json_add_str(j, "merge", m->right ? "right" : "left");
	}
	return j;
}

struct plan_items {
	const struct inode_paths *mp;
	const struct tp_move_report *log;
};

static json_object *plan_item(size_t i, void *userdata)
{
	const struct plan_items *pi = userdata;
	return move_json(pi->mp, &pi->log[i]);
}

static void on_move(const struct tp_move_report *m, void *userdata)
{
	struct run *run = userdata;

	if (m->result == 0)
		run->moved_bytes += m->len * run->geo->block_size;
	/* Kept for after the run: the summary comes first, and the paths
	 * are found in one walk over the directories. */
	if (!(run->o->dry_run && run->o->json) && !run->o->verbose)
		return;
	if (TP_RESERVE(run->log, run->cap_log, run->n_log + 1) < 0) {
		run->log_failed = -ENOMEM;
		return;
	}
	run->log[run->n_log++] = *m;
}

static void on_progress(const char *phase, uint64_t done, uint64_t total,
			void *userdata)
{
	struct run *run = userdata;
	char a[TP_SIZE_STR_MAX];

	if (!run->tty || total == 0)
		return;
	if (strcmp(phase, "move") != 0) {
		progress_line(phase, done, total, NULL);
		return;
	}
	double el = tp_monotonic() - run->start, eta = done ? el / done * (total - done) : 0;
	unsigned width = 30, fill = (unsigned)(done * width / total);
	fprintf(stderr, "\r[%.*s%*s] %" PRIu64 "/%" PRIu64 " clusters, %s moved, ETA %u:%02u ",
		fill, "##############################", (int)(width - fill), "",
		done, total, tp_format_size(run->moved_bytes, a),
		(unsigned)eta / 60, (unsigned)eta % 60);
	fflush(stderr);
	progress_shown_set();
}

/* tp_compact_options.pace: the throttles, between two victims. */
static int pace(uint64_t moved_bytes, void *userdata)
{
	struct run *run = userdata;

	return tp_throttle_pace(moved_bytes, &run->throttle->t);
}

static int parse_placement(const char *arg, struct compact_options *o)
{
	if (strcmp(arg, "auto") == 0 || strcmp(arg, "borrow") == 0) {
		o->placement = TP_PLACEMENT_BORROW;
		return 0;
	}
	if (strncmp(arg, "fallocate2", 10) == 0) {
		o->placement = TP_PLACEMENT_FALLOCATE2;
		o->fallocate2_nr = -1;
		if (arg[10] == ':') {
			unsigned nr;
			if (parse_uint_option("--placement fallocate2:", arg + 11,
					      100000, &nr) < 0)
				return -EINVAL;
			o->fallocate2_nr = nr;
			return 0;
		}
		if (arg[10] == '\0')
			return 0;
	}
	log_error("--placement '%s': expected auto, borrow or fallocate2[:NR]", arg);
	return -EINVAL;
}

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: %s compact [OPTIONS] PATH\n"
		"       %s compact --offline [OPTIONS] DEVICE|IMAGE\n"
		"\n"
		"Move the data of cold files out of the emptiest clusters of a mounted\n"
		"ext4 into the holes of the fullest ones, each piece at a chosen block,\n"
		"then trim the clusters that became empty.  Files in use are left alone.\n"
		"With --offline, the same on an unmounted filesystem or image, every\n"
		"file movable, with libext2fs; emptied clusters are punched out of an\n"
		"image or discarded on a device.\n"
		"\n"
		"Options:\n"
		"      --offline            compact an unmounted filesystem or image\n"
		"  -n, --dry-run            say what a run would do (the moves with -v),\n"
		"                           change nothing\n"
		"  -v, --verbose            after the summary, every move (victim cluster,\n"
		"                           file by path, blocks, from, to)\n"
		"  -j, --json               machine-readable output\n"
		"  -g, --granularity BYTES  cluster size of the thin device (default: sysfs)\n"
		"  -a, --min-age DURATION   leave files changed more recently (default 1d)\n"
		"      --max-io BYTES       move at most this much data\n"
		"      --io-rate BYTES      move at most this much data per second\n"
		"      --time-budget DURATION\n"
		"                           start no cluster once this long has passed\n"
		"                           (exit 0; the rest is left for the next run)\n"
		"      --pressure-limit PCT move nothing while some avg10 of\n"
		"                           /proc/pressure/io is above PCT (0-100)\n"
		"                           (the three are thinpackd's io_rate,\n"
		"                           pass_budget and pressure_limit; default off)\n"
		"      --max-usage PCT      empty only clusters at most this full (default %d)\n"
		"      --slack PCT          leave this share of the holes free (default %d;\n"
		"                           0 with --offline)\n"
		"      --placement MODE     auto, borrow, or fallocate2[:NR] (default auto)\n"
		"      --no-trim            leave trimming to fstrim or a discard mount\n"
		"      --pool-margin PCT    on a dm-thin pool, refuse (exit 1) below this\n"
		"                           much free data space, or out of space,\n"
		"                           read-only, needs_check (default %d)\n"
		"      --wait[=DURATION]    wait for another run on the filesystem to end\n"
		"                           (at most DURATION), instead of exiting 16\n"
		"  -h, --help               show this help\n"
		"\n"
		"Exit status: 0 done what could be done (clusters left because files\n"
		"were in use, the budget or a signal count as done); 1 the admin must\n"
		"act (read-only, bigalloc, no discard; moves failed with I/O errors);\n"
		"4 operational error; 8 usage error; 16 another thinpack or thinpackd\n"
		"run holds the filesystem.\n",
		program_invocation_short_name, program_invocation_short_name,
		DEFAULT_MAX_USAGE, DEFAULT_SLACK, TP_POOL_MARGIN_DEFAULT);
}

/* Refuse an offline compaction that cannot be done; else reopen the
 * filesystem read-write (a dry run stays read-only). */
static int prepare_offline(struct target *t, const struct compact_options *o)
{
	enum tp_blocker b = tp_compaction_blocker(t->dev, &t->info, 0);
	int r;

	if (t->dev->kind == TP_TARGET_MOUNTED)
		return target_fail(t, TP_EXIT_USAGE,
				   "%s: mounted on %s: unmount it first, or compact it "
				   "online (without --offline)", t->path,
				   t->dev->mountpoint ? t->dev->mountpoint : "?");
	if (t->short_device)
		return target_fail(t, TP_EXIT_USAGE, "%s: %s is smaller than the "
				   "filesystem on it: not compacted", t->path,
				   t->dev->device);
	if (b == TP_BLOCKER_BIGALLOC)
		return target_fail(t, TP_EXIT_NOTHING, "%s: compaction is impossible: "
				   "bigalloc filesystem (clusters of blocks are allocated "
				   "together)", t->path);
	if (b != TP_BLOCKER_NONE)
		return target_fail(t, TP_EXIT_NOTHING, "%s: compaction is impossible: %s",
				   t->path, tp_blocker_to_string(b));
	if (o->dry_run)
		return 0;
	if (target_lock(t, "thinpack compact --offline", o->wait_s, &stop_requested) != 0)
		return t->exit;
	t->fs = tp_fs_close(t->fs);
	r = tp_fs_open_rw(t->dev, &t->fs);
	if (r == -EBUSY)
		return target_fail(t, TP_EXIT_USAGE,
				   "%s: %s is in use (mounted, or opened exclusively)",
				   t->path, t->dev->device);
	if (r == -EUCLEAN)
		return target_fail(t, TP_EXIT_OPERATIONAL,
				   "%s: the filesystem needs checking (journal to replay, "
				   "or errors): run e2fsck -f first", t->path);
	if (r == -EACCES || r == -EPERM || r == -EROFS)
		return target_fail(t, TP_EXIT_OPERATIONAL,
				   "%s: cannot open %s for writing: %s", t->path,
				   t->dev->device, strerror(-r));
	if (r < 0) {
		const char *why = tp_fs_last_error();
		return target_fail(t, TP_EXIT_OPERATIONAL, "%s: cannot open %s: %s",
				   t->path, t->dev->device, why ? why : strerror(-r));
	}
	return 0;
}

/* Refuse a filesystem that cannot be compacted online, saying why. */
static int refuse(struct target *t)
{
	enum tp_blocker b = tp_compaction_blocker(t->dev, &t->info,
						  TP_CHECK_ONLINE | TP_CHECK_DISCARD);

	switch (b) {
	case TP_BLOCKER_NONE:
		return 0;
	case TP_BLOCKER_NOT_MOUNTED:
		return target_fail(t, TP_EXIT_USAGE, "%s: %s", t->path,
				   tp_blocker_to_string(b));
	case TP_BLOCKER_READ_ONLY:
		return target_fail(t, TP_EXIT_NOTHING,
				   "%s: mounted read-only: nothing can move", t->path);
	case TP_BLOCKER_NO_DISCARD:
		return target_fail(t, TP_EXIT_NOTHING,
				   "%s: %s does not support discard: emptied clusters "
				   "could not be returned to it", t->path, t->dev->device);
	case TP_BLOCKER_BLOCK_SIZE:
		return target_fail(t, TP_EXIT_NOTHING,
				   "%s: block size %" PRIu32 " differs from the page size "
				   "(%ld): online compaction is not supported", t->path,
				   t->info.block_size, sysconf(_SC_PAGESIZE));
	default:
		return target_fail(t, TP_EXIT_NOTHING, "%s: compaction is impossible: %s",
				   t->path, tp_blocker_to_string(b));
	}
}

static void print_summary(const struct target *t, const struct compact_options *o,
			  const struct tp_compact_result *res)
{
	const struct tp_geometry *g = &t->geo;
	char a[TP_SIZE_STR_MAX], b[TP_SIZE_STR_MAX], c[TP_SIZE_STR_MAX];
	const struct tp_placement_stats *p = &res->placement;

	if (o->dry_run) {
		printf("%s: would empty %" PRIu64 " clusters (%s) by moving %s\n",
		       t->path, res->victims,
		       tp_format_size(tp_clusters_to_bytes(g, res->victims), a),
		       tp_format_size(res->victim_bytes, b));
		return;
	}
	printf("%s: emptied %" PRIu64 " of %" PRIu64 " clusters (%s), moved %s in "
	       "%" PRIu64 " moves, trimmed %s%s\n",
	       t->path, res->clusters_emptied, res->victims,
	       tp_format_size(tp_clusters_to_bytes(g, res->clusters_emptied), a),
	       tp_format_size(res->moved_bytes, b), res->moves,
	       tp_format_size(res->trimmed_bytes, c),
	       res->stopped ? " (stopped)" : "");
	if (res->reclaim_measured) {
		printf("  the device took back %s (measured on %s)",
		       tp_format_size(res->returned_bytes, a),
		       t->dev->loop || t->dev->kind == TP_TARGET_IMAGE ?
			       "its backing file" : "the thin pool's metadata");
		if (res->provisioned_bytes)
			printf(", and had to back %s anew (%s where the run placed "
			       "data, the rest for the filesystem's own writes)",
			       tp_format_size(res->provisioned_bytes, b),
			       tp_format_size(res->provisioned_by_moves_bytes, c));
		printf("\n");
	}
	if (p->attempts)
		printf("  placement: %" PRIu64 " attempts, %" PRIu64 " exact, %" PRIu64
		       " missed (%.1f %% exact), %" PRIu64 " through the reservoir\n",
		       p->attempts, p->exact, p->missed,
		       100.0 * (double)p->exact / (double)p->attempts, p->reservoir);
	bool any = false;
	for (unsigned i = 0; i < _TP_SKIP_MAX; i++)
		if (res->skipped[i]) {
			printf("%s %s %" PRIu64, any ? "," : "  skipped:",
			       tp_skip_reason_to_string(i), res->skipped[i]);
			any = true;
		}
	if (any)
		printf("\n");
	if (res->victims_failed || res->victims_unplaced || res->victims_refilled)
		printf("  not emptied: %" PRIu64 " clusters (%" PRIu64 " skipped, %"
		       PRIu64 " found no room, %" PRIu64 " taken again)\n",
		       res->victims_failed + res->victims_unplaced +
			       res->victims_refilled,
		       res->victims_failed, res->victims_unplaced,
		       res->victims_refilled);
	printf("  %u passes, elapsed %.1f s\n", res->passes, res->elapsed_s);
}

static json_object *summary_json(const struct target *t,
				 const struct compact_options *o,
				 const struct tp_compact_result *res)
{
	json_object *j = json_object_new_object(), *p, *sk, *ph;
	static const char *const phase_names[] = { "scan", "plan", "move", "trim" };

	json_add_str(j, "path", t->path);
	json_add_str(j, "device", t->dev->device);
	json_add_bool(j, "dry_run", o->dry_run);
	json_add_u64(j, "granularity", t->geo.granularity);
	json_add_u64(j, "block_size", t->geo.block_size);
	json_add_str(j, "placement_mode", tp_placement_to_string(o->placement));
	json_add_u64(j, "victims", res->victims);
	json_add_u64(j, "victim_bytes", res->victim_bytes);
	json_add_u64(j, "moved_bytes", res->moved_bytes);
	json_add_u64(j, "moves", res->moves);
	json_add_u64(j, "clusters_emptied", res->clusters_emptied);
	json_add_u64(j, "victims_failed", res->victims_failed);
	json_add_u64(j, "victims_unplaced", res->victims_unplaced);
	json_add_u64(j, "victims_refilled", res->victims_refilled);
	json_add_u64(j, "trimmed_bytes", res->trimmed_bytes);
	json_add_u64(j, "trimmed_clusters", res->trimmed_clusters);
	json_add_u64(j, "discarded_bytes", res->discarded_bytes);
	json_add_u64(j, "retrimmed_clusters", res->retrimmed_clusters);
	json_object_object_add(j, "returned_bytes", res->reclaim_measured ?
			       json_object_new_uint64(res->returned_bytes) : NULL);
	json_object_object_add(j, "provisioned_bytes", res->reclaim_measured ?
			       json_object_new_uint64(res->provisioned_bytes) : NULL);
	json_object_object_add(j, "provisioned_by_moves_bytes", res->reclaim_measured ?
			       json_object_new_uint64(res->provisioned_by_moves_bytes) : NULL);
	json_object_object_add(j, "trim_error",
			       res->trim_error < 0 ? json_object_new_string(strerror(-res->trim_error)) : NULL);
	p = json_object_new_object();
	json_add_u64(p, "attempts", res->placement.attempts);
	json_add_u64(p, "exact", res->placement.exact);
	json_add_u64(p, "missed", res->placement.missed);
	json_add_u64(p, "reservoir", res->placement.reservoir);
	json_add_u64(p, "unreturned", res->placement.unreturned);
	json_object_object_add(j, "placement", p);
	sk = json_object_new_object();
	for (unsigned i = 0; i < _TP_SKIP_MAX; i++)
		json_object_object_add(sk, tp_skip_reason_to_string(i),
				       json_object_new_uint64(res->skipped[i]));
	json_object_object_add(j, "skipped", sk);
	json_add_bool(j, "stopped", res->stopped);
	json_object_object_add(j, "passes", json_object_new_int((int)res->passes));
	json_object_object_add(j, "elapsed_s", json_object_new_double(res->elapsed_s));
	ph = json_object_new_object();
	for (unsigned i = 0; i < 4; i++)
		json_object_object_add(ph, phase_names[i],
				       json_object_new_double(res->phase_s[i]));
	json_object_object_add(j, "phase_s", ph);
	return j;
}

/* ---- the thin pool ------------------------------------------------------ */

TP_DEFINE_CLEANUP(struct tp_pool *, tp_pool_free)

/* On a dm-thin pool, refuse what tp_pool_blocker() refuses (a dry run
 * only warns); *ret: the pool, to compare after the run. */
static int pool_gate(struct target *t, const struct compact_options *o,
		     struct tp_pool **ret)
{
	struct tp_pool *p = NULL;
	enum tp_blocker b;
	int r = tp_pool_read(t->dev, &p);

	if (r == -ENODEV)
		return 0;
	if (r < 0)
		return target_fail(t, TP_EXIT_OPERATIONAL, "%s: cannot read the "
				   "device-mapper table or thin pool of %s: %s; not "
				   "compacted", t->path, t->dev->device, strerror(-r));
	*ret = p;
	b = tp_pool_blocker(p, o->pool_margin);
	if (b == TP_BLOCKER_NONE)
		return 0;
	_cleanup_free_ char *why = tp_pool_blocker_message(p, o->pool_margin, b);
	if (!why)
		return target_fail(t, TP_EXIT_OPERATIONAL, "%s: out of memory", t->path);
	if (o->dry_run) {
		log_warning("%s: %s: a real run would refuse", t->path, why);
		return 0;
	}
	return target_fail(t, TP_EXIT_NOTHING, "%s: not compacted: %s", t->path, why);
}

/* The pool's own count of its data blocks in use, before the run and now. */
static void print_pool(const struct target *t, const struct tp_pool *before)
{
	_cleanup_(tp_pool_freep) struct tp_pool *after = NULL;
	char a[TP_SIZE_STR_MAX];

	if (!before || tp_pool_read(t->dev, &after) < 0)
		return;
	printf("  thin pool %s: %" PRIu64 " -> %" PRIu64 " of %" PRIu64 " data blocks "
	       "of %s in use", before->name, before->used_blocks, after->used_blocks,
	       after->total_blocks, tp_format_size(after->block_size, a));
	if (after->used_blocks > before->used_blocks)
		printf(" (%" PRIu64 " more: other writers, or the moves)",
		       after->used_blocks - before->used_blocks);
	printf("\n");
}

static void pool_json(json_object *fs, const struct target *t,
		      const struct tp_pool *before)
{
	_cleanup_(tp_pool_freep) struct tp_pool *after = NULL;
	json_object *j;

	if (!before)
		return;
	j = json_object_new_object();
	json_add_str(j, "name", before->name);
	json_add_u64(j, "thin_id", before->thin_id);
	json_add_u64(j, "block_size", before->block_size);
	json_add_u64(j, "total_blocks", before->total_blocks);
	json_add_u64(j, "used_blocks_before", before->used_blocks);
	if (tp_pool_read(t->dev, &after) >= 0)
		json_add_u64(j, "used_blocks_after", after->used_blocks);
	else
		json_object_object_add(j, "used_blocks_after", NULL);
	json_object_object_add(fs, "pool", j);
}

int cmd_compact(int argc, char **argv)
{
	enum { OPT_MAX_IO = 256, OPT_MAX_USAGE, OPT_SLACK, OPT_PLACEMENT, OPT_NO_TRIM,
	       OPT_OFFLINE, OPT_WAIT, OPT_POOL_MARGIN,
	       OPT_IO_RATE, OPT_TIME_BUDGET, OPT_PRESSURE_LIMIT };
	static const struct option longopts[] = {
		{ "dry-run", no_argument, NULL, 'n' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "json", no_argument, NULL, 'j' },
		{ "granularity", required_argument, NULL, 'g' },
		{ "min-age", required_argument, NULL, 'a' },
		{ "max-io", required_argument, NULL, OPT_MAX_IO },
		{ "max-usage", required_argument, NULL, OPT_MAX_USAGE },
		{ "slack", required_argument, NULL, OPT_SLACK },
		{ "placement", required_argument, NULL, OPT_PLACEMENT },
		{ "no-trim", no_argument, NULL, OPT_NO_TRIM },
		{ "offline", no_argument, NULL, OPT_OFFLINE },
		{ "pool-margin", required_argument, NULL, OPT_POOL_MARGIN },
		{ "wait", optional_argument, NULL, OPT_WAIT },
		{ "io-rate", required_argument, NULL, OPT_IO_RATE },
		{ "time-budget", required_argument, NULL, OPT_TIME_BUDGET },
		{ "pressure-limit", required_argument, NULL, OPT_PRESSURE_LIMIT },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	struct compact_options o = {
		.pool_margin = TP_POOL_MARGIN_DEFAULT,
		.trim = true,
		.min_age = DEFAULT_MIN_AGE,
		.max_usage = DEFAULT_MAX_USAGE,
		.slack = DEFAULT_SLACK,
		.placement = TP_PLACEMENT_BORROW,
	};
	struct target t = { 0 };
	_cleanup_free_ uint64_t *swaps = NULL;
	size_t n_swaps = 0;
	struct compact_throttle throttle;
	int c, r;

	compact_throttle_init(&throttle);
	optind = 1;
	while ((c = getopt_long(argc, argv, "nvjg:a:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'n':
			o.dry_run = true;
			break;
		case 'v':
			o.verbose = true;
			break;
		case 'j':
			o.json = true;
			break;
		case 'g':
			if (parse_granularity_option(optarg, &o.granularity) < 0)
				return TP_EXIT_USAGE;
			break;
		case 'a':
			if (parse_duration_option("--min-age", optarg, &o.min_age) < 0)
				return TP_EXIT_USAGE;
			break;
		case OPT_MAX_IO:
			if (parse_size_option("--max-io", optarg, &o.max_io) < 0)
				return TP_EXIT_USAGE;
			break;
		case OPT_MAX_USAGE:
			if (parse_uint_option("--max-usage", optarg, 100, &o.max_usage) < 0)
				return TP_EXIT_USAGE;
			break;
		case OPT_SLACK:
			if (parse_uint_option("--slack", optarg, 99, &o.slack) < 0)
				return TP_EXIT_USAGE;
			o.slack_given = true;
			break;
		case OPT_POOL_MARGIN:
			if (parse_uint_option("--pool-margin", optarg, 99, &o.pool_margin) < 0)
				return TP_EXIT_USAGE;
			break;
		case OPT_OFFLINE:
			o.offline = true;
			break;
		case OPT_PLACEMENT:
			if (parse_placement(optarg, &o) < 0)
				return TP_EXIT_USAGE;
			break;
		case OPT_NO_TRIM:
			o.trim = false;
			break;
		case OPT_WAIT:
			if (parse_wait_option(optarg, &o.wait_s) < 0)
				return TP_EXIT_USAGE;
			break;
		case OPT_IO_RATE:
		case OPT_TIME_BUDGET:
		case OPT_PRESSURE_LIMIT:
			if (compact_throttle_option(&throttle, c == OPT_IO_RATE ? "--io-rate" :
						    c == OPT_TIME_BUDGET ? "--time-budget" :
						    "--pressure-limit", optarg) < 0)
				return TP_EXIT_USAGE;
			break;
		case 'h':
			usage(stdout);
			return TP_EXIT_OK;
		default:
			usage(stderr);
			return TP_EXIT_USAGE;
		}
	}
	if (optind != argc - 1) {
		log_error("compact: expected one PATH");
		usage(stderr);
		return TP_EXIT_USAGE;
	}

	/* The offline engine moves in batches of 64 MiB and calls no pace
	 * hook: a throttle there would not hold. */
	if (o.offline && tp_throttle_active(&throttle.t)) {
		log_error("--io-rate, --time-budget and --pressure-limit throttle "
			  "online compaction only, not --offline");
		return TP_EXIT_USAGE;
	}
	if (o.offline) {
		o.placement = TP_PLACEMENT_OFFLINE;
		if (!o.slack_given)
			o.slack = 0;
	}
	/* Before the lock: SIGINT and SIGTERM end a --wait too.  A dry run
	 * changes nothing and takes no lock. */
	setup_signals();
	if (target_open(&t, argv[optind], o.granularity) != 0 ||
	    (o.offline ? prepare_offline(&t, &o) :
	     refuse(&t) != 0 ? t.exit :
	     o.dry_run ? 0 : target_lock(&t, "thinpack compact", o.wait_s,
					 &stop_requested)) != 0 ||
	    target_swapfiles(&t, &swaps, &n_swaps) != 0) {
		r = t.exit;
		target_clear(&t);
		return r;
	}
	_cleanup_(tp_pool_freep) struct tp_pool *pool = NULL;
	if (pool_gate(&t, &o, &pool) != 0) {
		r = t.exit;
		target_clear(&t);
		return r;
	}

	struct run run = {
		.o = &o,
		.geo = &t.geo,
		.start = tp_monotonic(),
		.tty = isatty(STDERR_FILENO),
		.throttle = &throttle,
	};
	/* A dry run moves nothing: nothing to throttle. */
	bool throttled = tp_throttle_active(&throttle.t) && !o.dry_run;
	struct tp_compact_options co = {
		.min_age = o.min_age,
		.max_usage = o.max_usage,
		.slack = o.slack,
		.max_io = o.max_io,
		.pool_margin = o.pool_margin,
		.placement = o.placement,
		.fallocate2_nr = o.fallocate2_nr,
		.dry_run = o.dry_run,
		.trim = o.trim,
		.pinned_inodes = swaps,
		.n_pinned_inodes = n_swaps,
		.stop = &stop_requested,
		.pace = throttled ? pace : NULL,
		.progress = on_progress,
		.on_move = on_move,
		.userdata = &run,
	};
	/* The budget or a signal that ends the wait for the pressure to
	 * fall, before the scan, ends the run with nothing done. */
	struct tp_compact_result res = { .stopped = true };
	r = 0;
	if (!throttled || compact_throttle_begin(&throttle, t.path, &stop_requested) >= 0)
		r = tp_compact(t.dev, t.fs, &t.geo, &co, &res);
	if (res.fallocate2_missing) {
		log_warning("%s: this kernel has no fallocate2; placing with borrow",
			    t.path);
		o.placement = TP_PLACEMENT_BORROW;
	}
	if (r == -EINVAL && o.placement == TP_PLACEMENT_FALLOCATE2 &&
		   o.fallocate2_nr < 0) {
		log_error("--placement fallocate2: this kernel has fallocate2; give "
			  "its syscall number as fallocate2:NR");
		target_clear(&t);
		return TP_EXIT_USAGE;
	}
	progress_done();
	if (r == -EUCLEAN && o.offline)
		target_fail(&t, TP_EXIT_OPERATIONAL, "%s: the block bitmaps disagree "
			    "with the files that own the blocks (%" PRIu64 " ranges "
			    "in use by files but free in the bitmap, %" PRIu64
			    " blocks more owned than the bitmap marks in use): run e2fsck -f; nothing changed",
			    t.path, res.owned_free_ranges, res.overcounted_blocks);
	else if (r == -ESTALE && !o.offline)
		target_fail(&t, TP_EXIT_OPERATIONAL, "%s: %s is no longer the mount "
			    "of %s: nothing moved", t.path, t.dev->mountpoint,
			    t.dev->device);
	else if (r == -EOPNOTSUPP && res.move_refused)
		target_fail(&t, TP_EXIT_NOTHING, "%s: the kernel refuses "
			    "EXT4_IOC_MOVE_EXT on this mount (EOPNOTSUPP) for files "
			    "nothing pins: stopped, %" PRIu64 " bytes moved; compact "
			    "it unmounted with --offline, or remount it without the "
			    "option that refuses it", t.path, res.moved_bytes);
	else if (r < 0) {
		const char *why = o.offline ? tp_fs_last_error() : NULL;
		target_fail(&t, TP_EXIT_OPERATIONAL, "%s: compaction failed: %s",
			    t.path, why ? why : strerror(-r));
	}
	if (r < 0) {
		free(run.log);
		tp_compact_result_clear(&res);
		r = t.exit;
		target_clear(&t);
		return r;
	}

	int exit_code = TP_EXIT_OK;
	if (res.reclaim_measured && res.provisioned_by_moves_bytes)
		log_warning("%s: the device had to back %" PRIu64 " bytes anew where "
			    "the run placed data (into clusters it held no space "
			    "for%s): that should not happen", t.path,
			    res.provisioned_by_moves_bytes,
			    pool ? ", or shared with a snapshot" : "");
	else if (res.reclaim_measured && res.provisioned_bytes)
		log_info("%s: the device backed %" PRIu64 " bytes anew for the "
			 "filesystem's own writes (new extent-tree blocks%s), none "
			 "where the run placed data", t.path, res.provisioned_bytes,
			 pool ? ", metadata updates in chunks shared with a snapshot" : "");
	if (res.trim_error < 0) {
		log_error("%s: trimming the emptied clusters failed: %s", t.path,
			  strerror(-res.trim_error));
		exit_code |= TP_EXIT_OPERATIONAL;
	}
	/* Clusters that could not be emptied (files in use or changed, no
	 * room), a budget or a signal that ended the run: done what could be
	 * done, exit 0.  The summary says what was left; a timer must not
	 * fail over it.  A move that failed with an I/O error, or whose data
	 * was not where it was placed once the kernel had moved it, is not
	 * ordinary: someone must look at the device or the kernel. */
	if (!o.dry_run && res.skipped[TP_SKIP_IO_ERROR]) {
		log_error("%s: %" PRIu64 " moves failed with an I/O error or did not "
			  "verify (the data was not where it was placed): see the "
			  "kernel log", t.path, res.skipped[TP_SKIP_IO_ERROR]);
		exit_code |= TP_EXIT_NOTHING;
	}

	/* The moves, by path: after the summary (--verbose), in the plan
	 * (--dry-run --json).  Paths that cannot be found leave them by
	 * inode only. */
	struct inode_paths mp = { 0 };
	if (run.log_failed < 0)
		log_warning("%s: out of memory: the moves are not listed", t.path);
	else if (run.n_log && (r = move_paths_find(&t, &run, &mp)) < 0)
		log_warning("%s: cannot find the paths of the files moved: %s",
			    t.path, strerror(-r));
	if (o.json) {
		json_object *fs = summary_json(&t, &o, &res);
		compact_throttle_json(fs, &throttle, &res, o.dry_run);
		pool_json(fs, &t, pool);
		if (o.dry_run) {
			/* the plan, a move at a time */
			struct plan_items pi = { &mp, run.log };
			json_print_filesystem_array(fs, "plan", run.n_log, plan_item, &pi);
		} else {
			json_object *arr = json_object_new_array();
			json_object_array_add(arr, fs);
			json_print_filesystems(arr);
		}
	} else
	{
		print_summary(&t, &o, &res);
		compact_throttle_print(&throttle, &res);
		print_pool(&t, pool);
		for (size_t i = 0; o.verbose && i < run.n_log; i++)
			print_move(&mp, &run.log[i]);
	}
	inode_paths_clear(&mp);
	free(run.log);
	tp_compact_result_clear(&res);
	target_clear(&t);
	return exit_code;
}

int cmd_trim(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "granularity", required_argument, NULL, 'g' },
		{ "json", no_argument, NULL, 'j' },
		{ "wait", optional_argument, NULL, 'w' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	uint64_t granularity = 0, clusters = 0, bytes = 0;
	double wait_s = 0;
	bool json = false;
	struct target t = { 0 };
	char a[TP_SIZE_STR_MAX], b[TP_SIZE_STR_MAX];
	int c, r;

	optind = 1;
	while ((c = getopt_long(argc, argv, "g:jh", longopts, NULL)) != -1) {
		switch (c) {
		case 'g':
			if (parse_granularity_option(optarg, &granularity) < 0)
				return TP_EXIT_USAGE;
			break;
		case 'j':
			json = true;
			break;
		case 'w':
			if (parse_wait_option(optarg, &wait_s) < 0)
				return TP_EXIT_USAGE;
			break;
		case 'h':
			printf("Usage: %s trim [--granularity BYTES] [--json] "
			       "[--wait[=DURATION]] PATH\n"
			       "\nFITRIM every empty cluster of a mounted ext4, and say "
			       "how many, how much\nthe kernel discarded, and how much "
			       "the device took back where that can be\nmeasured (a "
			       "loop device's backing file).  While thinpack compact or\n"
			       "thinpackd works on the filesystem, exit 16 at once, or "
			       "with --wait wait\nfor it (at most DURATION).\n",
			       program_invocation_short_name);
			return TP_EXIT_OK;
		default:
			return TP_EXIT_USAGE;
		}
	}
	if (optind != argc - 1) {
		log_error("trim: expected one PATH");
		return TP_EXIT_USAGE;
	}
	if (target_open(&t, argv[optind], granularity) != 0) {
		r = t.exit;
		target_clear(&t);
		return r;
	}
	if (t.dev->kind != TP_TARGET_MOUNTED || t.dev->read_only || !t.dev->discard) {
		r = target_fail(&t, t.dev->kind != TP_TARGET_MOUNTED ? TP_EXIT_USAGE :
								       TP_EXIT_NOTHING,
				"%s: %s", t.path,
				t.dev->kind != TP_TARGET_MOUNTED ? "not mounted" :
				t.dev->read_only ? "mounted read-only" :
						   "the device does not support discard");
		target_clear(&t);
		return r;
	}
	/* A FITRIM in the middle of a compaction would trim the holes the
	 * placement is about to fill, and find nothing the compaction will
	 * not trim itself. */
	setup_signals();
	if (target_lock(&t, "thinpack trim", wait_s, &stop_requested) != 0) {
		r = t.exit;
		target_clear(&t);
		return r;
	}
	/* What the device holds before and after: the figure that counts
	 * is what it took back, where it can be measured. */
	struct tp_provmap *before = NULL;
	struct tp_prov_delta delta = { 0 };
	bool verified = false;
	(void)tp_provmap_read(t.dev, &t.geo, &before);
	r = tp_trim_empty(t.dev, t.fs, &t.geo, &clusters, &bytes);
	if (r < 0) {
		tp_provmap_free(before);
		target_fail(&t, TP_EXIT_OPERATIONAL, "%s: trim failed: %s", t.path,
			    strerror(-r));
		r = t.exit;
		target_clear(&t);
		return r;
	}
	verified = tp_provmap_delta(t.dev, before, &delta) >= 0;
	tp_provmap_free(before);
	uint64_t returned = tp_clusters_to_bytes(&t.geo, delta.released);
	if (json) {
		json_object *arr = json_object_new_array();
		json_object *fs = json_object_new_object();
		json_add_str(fs, "path", t.path);
		json_add_u64(fs, "trimmed_clusters", clusters);
		json_add_u64(fs, "trimmed_bytes", tp_clusters_to_bytes(&t.geo, clusters));
		json_add_u64(fs, "discarded_bytes", bytes);
		if (verified)
			json_add_u64(fs, "returned_bytes", returned);
		else
			json_object_object_add(fs, "returned_bytes", NULL);
		json_object_array_add(arr, fs);
		json_print_filesystems(arr);
	} else {
		printf("%s: %" PRIu64 " empty clusters (%s) trimmed, %s discarded",
		       t.path, clusters,
		       tp_format_size(tp_clusters_to_bytes(&t.geo, clusters), a),
		       tp_format_size(bytes, b));
		if (verified)
			printf("; the device took back %s\n", tp_format_size(returned, a));
		else
			printf("; what the device took back is unknown\n");
	}
	target_clear(&t);
	return TP_EXIT_OK;
}
