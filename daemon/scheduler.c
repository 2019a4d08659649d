/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Which filesystem, when; a pass.
 *
 * next      each filesystem is due an interval after its last pass ended
 *           (at once when a shutdown or a reload cut that pass short).
 * pass      tp_compact() with pace() between two victims (pace.c): I/O
 *           rate, I/O pressure, time budget (lib/throttle.c), signals.
 *           The compaction itself lives in the library.
 * lock      a pass holds the filesystem's lock (lib/fslock.h), as thinpack
 *           compact and trim do; one that finds it held is skipped, never
 *           waited for: a daemon that waits on a manual run for an hour
 *           would miss the watchdog and every other filesystem.
 */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "scheduler.h"
#include "basic/cleanup.h"
#include "fslock.h"
#include "clock.h"
#include "journal.h"
#include "notify.h"
#include "pace.h"
#include "publish.h"
#include "signals.h"
#include "state.h"

/* A failed cluster is left out for max(interval, min_age, this). */
#define RETRY_MIN_S 3600
/* A filesystem held by another runner is tried again after
 * min(interval, this). */
#define HELD_RETRY_S 600
#define MAX_FAILED_KEPT 100000

static bool interrupted(const struct pass_info *p)
{
	return p->result == PASS_STOPPED &&
	       (p->stop == STOP_SHUTDOWN || p->stop == STOP_RELOAD);
}

double scheduler_due_after_last(const struct fsent *f)
{
	const struct pass_info *l = &f->st.last;

	if (l->start == 0 || interrupted(l))
		return tp_realtime();
	return (l->end ? l->end : l->start) + (double)f->s.interval;
}

struct fsent *scheduler_next(struct daemon *d, double *ret_wait)
{
	struct fsent *best = NULL;
	double now = tp_realtime();

	for (size_t i = 0; i < d->n_fs; i++) {
		struct fsent *f = d->fs[i];
		/* A problem found at discovery (read-only, no discard) waits
		 * for the mount table to change; one found by a pass is tried
		 * again an interval later. */
		if (!f->present || f->blocked)
			continue;
		if (!best || f->next_due < best->next_due)
			best = f;
	}
	if (best)
		*ret_wait = best->next_due > now ? best->next_due - now : 0;
	return best;
}

/* ---- a pass -------------------------------------------------------------------- */

static void on_move(const struct tp_move_report *m, void *userdata)
{
	struct pacer *pc = userdata;

	if (m->result == 0) {
		pc->f->pass.moved_bytes += m->len * pc->block_size;
		pc->f->pass.moves++;
	}
}

static void on_progress(const char *phase, uint64_t done, uint64_t total,
			void *userdata)
{
	struct pacer *pc = userdata;
	struct fsent *f;

	f = pc->f;
	enum fs_phase p = !strcmp(phase, "scan") ? PHASE_SCAN :
			  !strcmp(phase, "plan") ? PHASE_PLAN :
			  !strcmp(phase, "move") ? PHASE_MOVE : PHASE_TRIM;
	bool changed = f->phase != p;

	f->phase = p;
	f->phase_done = done;
	f->phase_total = total;
	notify_watchdog();
	publish(pc->d, changed, false);
}

TP_DEFINE_CLEANUP(struct tp_device *, tp_device_free)
TP_DEFINE_CLEANUP(struct tp_fs *, tp_fs_close)
TP_DEFINE_CLEANUP(struct tp_pool *, tp_pool_free)
TP_DEFINE_CLEANUP(struct tp_fslock *, tp_fslock_release)

/* Open the filesystem of f for a pass, as thinpack compact would; the
 * reason in f->problem when it cannot be compacted. */
static int open_target(struct daemon *d, struct fsent *f, struct tp_device **ret_dev,
		       struct tp_fs **ret_fs, struct tp_geometry *geo)
{
	_cleanup_(tp_device_freep) struct tp_device *dev = NULL;
	_cleanup_(tp_fs_closep) struct tp_fs *fs = NULL;
	const struct tp_fs_info *info;
	enum tp_blocker b;
	char a[TP_SIZE_STR_MAX];
	int r;

	r = tp_device_open(f->mountpoint, &dev);
	if (r < 0) {
		d->mounts_changed = true;
		fsent_set_problem(f, LOG_ERR, "cannot resolve: %s", strerror(-r));
		return r;
	}
	if (dev->kind != TP_TARGET_MOUNTED || dev->devno != f->devno ||
	    !tp_device_is_ext(dev)) {
		d->mounts_changed = true;
		fsent_set_problem(f, LOG_WARNING, "%s",
			    dev->kind != TP_TARGET_MOUNTED ? "not mounted any more" :
			    dev->devno != f->devno ? "another filesystem is mounted there now" :
						     "not ext4 any more");
		return -ESTALE;
	}
	if (f->s.granularity)
		tp_device_set_granularity(dev, f->s.granularity, TP_GRANULARITY_CONFIG);
	r = tp_fs_open(dev, &fs);
	if (r < 0) {
		const char *why = tp_fs_last_error();
		fsent_set_problem(f, LOG_ERR, "cannot read %s: %s", dev->device,
			    why ? why : strerror(-r));
		return r;
	}
	info = tp_fs_get_info(fs);
	b = tp_compaction_blocker(dev, info, TP_CHECK_ONLINE | TP_CHECK_DISCARD);
	switch (b) {
	case TP_BLOCKER_NONE:
		break;
	case TP_BLOCKER_READ_ONLY:
		fsent_set_problem(f, LOG_WARNING, "mounted read-only: not compacted");
		return -EROFS;
	case TP_BLOCKER_NO_DISCARD:
		fsent_set_problem(f, LOG_WARNING, "%s does not support discard: not compacted",
			    dev->device);
		return -EOPNOTSUPP;
	case TP_BLOCKER_BLOCK_SIZE:
		fsent_set_problem(f, LOG_WARNING, "block size %" PRIu32 " differs from the "
			    "page size (%ld): online compaction is not supported",
			    info->block_size, sysconf(_SC_PAGESIZE));
		return -EOPNOTSUPP;
	default:
		fsent_set_problem(f, LOG_WARNING, "compaction is impossible: %s",
			    tp_blocker_to_string(b));
		return -EOPNOTSUPP;
	}
	/* A thin pool short of space, read-only or needing a check: skipped
	 * this time, as thinpack compact refuses it (tp_pool_blocker()). */
	_cleanup_(tp_pool_freep) struct tp_pool *pool = NULL;
	r = tp_pool_read(dev, &pool);
	if (r < 0 && r != -ENODEV) {
		fsent_set_problem(f, LOG_ERR, "%s: cannot read its device-mapper table "
			    "or thin pool (needs /dev/mapper/control): %s; not compacted",
			    dev->device, strerror(-r));
		return r;
	}
	b = tp_pool_blocker(pool, f->s.pool_margin);
	if (b != TP_BLOCKER_NONE) {
		_cleanup_free_ char *why = tp_pool_blocker_message(pool, f->s.pool_margin, b);
		fsent_set_problem(f, LOG_WARNING, "not compacted: %s",
				  why ? why : tp_blocker_to_string(b));
		return -ENOSPC;
	}
	uint64_t gran = dev->granularity;
	if (gran < info->block_size && dev->granularity_source != TP_GRANULARITY_CONFIG) {
		gran = info->block_size;
		tp_device_set_granularity(dev, gran, dev->granularity_source);
	}
	r = tp_geometry_init(geo, info->block_size, info->blocks_count, dev->offset,
			     gran);
	if (r < 0) {
		fsent_set_problem(f, LOG_ERR, "granularity %s (%s) does not fit %" PRIu32
			    "-byte blocks at offset %" PRIu64 ": %s",
			    tp_format_size(gran, a),
			    tp_granularity_source_to_string(dev->granularity_source),
			    info->block_size, dev->offset, strerror(-r));
		return r;
	}
	if (dev->loop && dev->granularity_source == TP_GRANULARITY_SYSFS &&
	    f->granularity != gran)
		log_fs(LOG_WARNING, f->mountpoint, f->uuid, UINT64_MAX, UINT64_MAX,
		       "%s: %s is a loop device: its granularity (%s) says nothing "
		       "of what the filesystem under %s frees; set granularity in "
		       "[%s]", f->mountpoint, dev->device, tp_format_size(gran, a),
		       dev->loop_backing_file ? dev->loop_backing_file : "it",
		       f->section);
	f->granularity = gran;
	f->granularity_source = tp_granularity_source_to_string(dev->granularity_source);
	fsent_clear_problem(f);
	*ret_dev = TAKE_PTR(dev);
	*ret_fs = TAKE_PTR(fs);
	return 0;
}

static uint64_t retry_after(const struct fsent *f)
{
	return MAX(MAX(f->s.interval, f->s.min_age), (uint64_t)RETRY_MIN_S);
}

/* Forget the failures that are old enough to try again; the others, to
 * skip. */
static int failed_to_skip(struct fsent *f, uint64_t **ret, size_t *ret_n)
{
	double limit = tp_realtime() - (double)retry_after(f);
	uint64_t *skip = malloc((f->st.n_failed + 1) * sizeof(*skip));
	size_t n = 0;

	if (!skip)
		return -ENOMEM;
	for (size_t i = 0; i < f->st.n_failed; i++)
		if ((double)f->st.failed[i].since >= limit) {
			f->st.failed[n] = f->st.failed[i];
			skip[n] = f->st.failed[i].cluster;
			n++;
		}
	f->st.n_failed = n;
	f->n_skipping = n;
	*ret = skip;
	*ret_n = n;
	return 0;
}

static int remember_failed(struct fsent *f, const uint64_t *c, size_t n)
{
	int64_t now = (int64_t)tp_realtime();
	size_t total = f->st.n_failed + n;
	struct failed_cluster *v;

	if (!n)
		return 0;
	v = realloc(f->st.failed, total * sizeof(*v));
	if (!v)
		return -ENOMEM;
	f->st.failed = v;
	for (size_t i = 0; i < n; i++)
		v[f->st.n_failed++] = (struct failed_cluster){ c[i], now };
	if (f->st.n_failed > MAX_FAILED_KEPT) {
		size_t drop = f->st.n_failed - MAX_FAILED_KEPT;
		memmove(v, v + drop, MAX_FAILED_KEPT * sizeof(*v));
		f->st.n_failed = MAX_FAILED_KEPT;
	}
	f->n_skipping = f->st.n_failed;
	return 0;
}

static void finish_pass(struct daemon *d, struct fsent *f,
			const struct tp_compact_result *res, int r)
{
	struct pass_info *p = &f->pass;
	struct totals *t = &f->st.t;
	char a[TP_SIZE_STR_MAX], b[TP_SIZE_STR_MAX], when[32];

	p->end = tp_realtime();
	p->granularity = f->granularity;
	/* A failed trim fails the pass, though the moves stand: the pool has
	 * not had its space back. */
	if (r >= 0 && res && res->trim_error < 0) {
		r = res->trim_error;
		if (!p->error && asprintf(&p->error, "trimming the emptied clusters "
					  "failed: %s", strerror(-r)) < 0)
			p->error = NULL;
	}
	if (r < 0 && !(p->stop != STOP_NONE && r == -ECANCELED)) {
		p->result = PASS_ERROR;
		if (!p->error)
			p->error = strdup(f->problem ? f->problem : strerror(-r));
		t->pass_errors++;
	} else if (p->stop != STOP_NONE || (res && res->stopped)) {
		p->result = PASS_STOPPED;
		t->passes_stopped++;
	} else
		p->result = PASS_DONE;
	if (res) {
		p->victims = res->victims;
		p->clusters_emptied = res->clusters_emptied;
		p->victims_failed = res->victims_failed + res->victims_unplaced +
				    res->victims_refilled;
		p->trimmed_bytes = res->trimmed_bytes;
		p->io_errors = res->skipped[TP_SKIP_IO_ERROR];
		p->moved_bytes = res->moved_bytes;
		p->moves = res->moves;
		t->moved_bytes += res->moved_bytes;
		t->moves += res->moves;
		t->clusters_emptied += res->clusters_emptied;
		t->trimmed_bytes += res->trimmed_bytes;
		t->discarded_bytes += res->discarded_bytes;
		t->placement_attempts += res->placement.attempts;
		t->placement_exact += res->placement.exact;
		t->placement_missed += res->placement.missed;
		t->placement_reservoir += res->placement.reservoir;
		for (int i = 0; i < _TP_SKIP_MAX; i++)
			t->skipped[i] += res->skipped[i];
		if (remember_failed(f, res->failed_clusters, res->n_failed_clusters) < 0)
			log_warning("%s: out of memory for the failed clusters",
				    f->mountpoint);
	}
	t->passes++;
	t->pass_s += p->end - p->start;
	t->yield_s += p->yield_s;

	pass_info_done(&f->st.last);
	f->st.last = *p;
	*p = (struct pass_info){ 0 };
	f->phase = PHASE_IDLE;
	f->next_due = scheduler_due_after_last(f);
	if (f->st.last.result == PASS_ERROR)
		f->next_due = f->st.last.end + (double)f->s.interval;

	if (f->uuid) {
		int q = state_save(d->state_dir, f->uuid, f->mountpoint, &f->st);
		if (q < 0 && !f->unsaved)
			log_warning("%s: cannot save the state in %s/%s.json: %s",
				    f->mountpoint, d->state_dir, f->uuid,
				    state_strerror(q));
		f->unsaved = q < 0;
	}

	const struct pass_info *l = &f->st.last;
	char next[64] = "";
	format_when(f->next_due, when);
	if (!d->oneshot)
		snprintf(next, sizeof(next), "; next pass at %s", when);
	if (l->result == PASS_ERROR)
		log_fs(LOG_ERR, f->mountpoint, f->uuid, UINT64_MAX, UINT64_MAX,
		       "%s: pass failed: %s%s", f->mountpoint,
		       l->error ? l->error : "unknown error", next);
	else
		log_fs(LOG_INFO, f->mountpoint, f->uuid, l->clusters_emptied,
		       l->moved_bytes,
		       "%s: pass %s%s%s: emptied %" PRIu64 " of %" PRIu64 " clusters "
		       "(%s), moved %s in %" PRIu64 " moves, %.1f s (%.1f s yielding)"
		       "%s", f->mountpoint,
		       pass_result_to_string(l->result),
		       l->stop != STOP_NONE ? " by " : "",
		       l->stop != STOP_NONE ? stop_reason_to_string(l->stop) : "",
		       l->clusters_emptied, l->victims,
		       tp_format_size(l->clusters_emptied * f->granularity, a),
		       tp_format_size(l->moved_bytes, b), l->moves,
		       l->end - l->start, l->yield_s, next);
	if (l->io_errors)
		log_fs(LOG_ERR, f->mountpoint, f->uuid, UINT64_MAX, UINT64_MAX,
		       "%s: %" PRIu64 " moves failed with an I/O error or did not "
		       "verify (the data was not where it was placed): see the "
		       "kernel log", f->mountpoint, l->io_errors);
}

/* Another runner holds the filesystem: no pass now and none counted (the
 * last pass stays the last), a new try a while later. */
static int skip_held(struct daemon *d, struct fsent *f,
		     const struct tp_fslock_holder *h)
{
	char when[32], next[64] = "";

	pass_info_done(&f->pass);
	f->pass = (struct pass_info){ 0 };
	f->phase = PHASE_IDLE;
	d->active = NULL;
	f->next_due = tp_realtime() + (double)MIN(f->s.interval, (uint64_t)HELD_RETRY_S);
	format_when(f->next_due, when);
	if (!d->oneshot)
		snprintf(next, sizeof(next), "; next try at %s", when);
	/* Said in the status and the metrics too, not only in the log. */
	f->st.t.passes_skipped++;
	f->skipped_at = tp_realtime();
	free(f->skipped_why);
	f->skipped_why = NULL;
	int k = h->pid > 0 ? asprintf(&f->skipped_why, "held by pid %d (%s)", (int)h->pid,
				      h->what[0] ? h->what : "?") :
			     asprintf(&f->skipped_why, "held by another process");
	if (k < 0)
		f->skipped_why = NULL;
	log_fs(LOG_NOTICE, f->mountpoint, f->uuid, UINT64_MAX, UINT64_MAX,
	       "%s: pass skipped: the filesystem is %s%s", f->mountpoint,
	       f->skipped_why ? f->skipped_why : "held", next);
	return -EBUSY;
}

/* The filesystem's lock, or -EBUSY after skip_held().  A lock that cannot
 * be taken at all (its directory not writable) does not stop the pass:
 * the lock keeps two runners from slowing each other down, and each move
 * is safe on its own. */
static int lock_fs(struct daemon *d, struct fsent *f, const struct tp_fs *fs,
		   struct tp_fslock **ret_lock)
{
	struct tp_fslock_holder h = { 0 };
	const char *dir = tp_fslock_dir();
	int r;

	r = tp_fslock_take(dir, tp_fs_get_info(fs)->uuid,
			   d->oneshot ? "thinpackd --oneshot" : "thinpackd", 0, NULL,
			   ret_lock, &h);
	if (r == -EWOULDBLOCK)
		return skip_held(d, f, &h);
	if (r < 0)
		log_fs(LOG_WARNING, f->mountpoint, f->uuid, UINT64_MAX, UINT64_MAX,
		       "%s: cannot take the lock in %s (%s): compacting without it",
		       f->mountpoint, dir, strerror(-r));
	return 0;
}

/* ---- what is left: the summary after a pass ---------------------------------------- */

struct summary_scan {
	struct daemon *d;
	struct fsent *f;
	volatile sig_atomic_t cancel; /* tp_scan's stop */
};

/* The watchdog fed, the status kept, and SIGTERM or SIGHUP end the scan. */
static void on_summary_progress(const char *phase, uint64_t done, uint64_t total,
				void *userdata)
{
	struct summary_scan *ss = userdata;

	(void)phase;
	ss->f->phase = PHASE_SCAN;
	ss->f->phase_done = done;
	ss->f->phase_total = total;
	notify_watchdog();
	signals_read(ss->d);
	if (ss->d->stop || ss->d->reload)
		ss->cancel = 1;
	publish(ss->d, false, false);
}

/* The figures of `thinpack report` once the pass is over, for the metrics:
 * a read-only scan on a fresh handle (the pass's holds the bitmaps of
 * before its moves), with the pass's device, geometry, swap files and
 * min_age.  On failure the summary of before stays, with its time. */
static void summarize(struct daemon *d, struct fsent *f, const struct tp_device *dev,
		      const struct tp_geometry *geo, const uint64_t *swaps,
		      size_t n_swaps)
{
	_cleanup_(tp_fs_closep) struct tp_fs *fs = NULL;
	struct tp_clustermap *map = NULL;
	struct tp_provmap *prov = NULL;
	struct tp_summary *sum = NULL;
	struct summary_scan ss = { .d = d, .f = f };
	int r;

	r = tp_fs_open(dev, &fs);
	if (r >= 0) {
		struct tp_scan_options so = {
			.min_age = f->s.min_age,
			.pinned_inodes = swaps,
			.n_pinned_inodes = n_swaps,
			.stop = &ss.cancel,
			.progress = on_summary_progress,
			.userdata = &ss,
		};
		f->phase = PHASE_SCAN;
		f->phase_done = f->phase_total = 0;
		r = tp_scan(fs, geo, &so, &map);
	}
	/* No map of the space held: every cluster counts as provisioned, as
	 * in thinpack report. */
	if (r >= 0 && tp_provmap_read(dev, geo, &prov) < 0)
		prov = NULL;
	if (r >= 0)
		r = tp_summarize(map, prov, 0, &sum);
	if (r >= 0) {
		const struct tp_pool *pool = tp_provmap_pool(prov);
		f->summary = (struct fs_summary){
			.when = tp_realtime(),
			.total = sum->total,
			.empty = sum->empty,
			.partial = sum->partial,
			.full = sum->full,
			.pinned = sum->pinned,
			.eligible = sum->eligible,
			.bound = sum->bound,
			.trim_now_bytes = sum->trim_now_bytes,
			.reclaimable_bytes = sum->compaction_bytes,
			.reclaim_io_bytes = sum->compaction_io_bytes,
			.prov_source = tp_prov_source_to_string(sum->prov_source),
			.shared = sum->shared,
		};
		if (pool) {
			struct fs_summary *s = &f->summary;
			snprintf(s->pool_name, sizeof(s->pool_name), "%s", pool->name);
			s->pool_block_size = pool->block_size;
			s->pool_used_blocks = pool->used_blocks;
			s->pool_total_blocks = pool->total_blocks;
			s->pool_used_metadata_blocks = pool->used_metadata_blocks;
			s->pool_total_metadata_blocks = pool->total_metadata_blocks;
			s->pool_out_of_data_space = pool->out_of_data_space;
			s->pool_read_only = pool->read_only;
			s->pool_needs_check = pool->needs_check;
		}
	} else if (r != -ECANCELED)
		log_fs(LOG_WARNING, f->mountpoint, f->uuid, UINT64_MAX, UINT64_MAX,
		       "%s: cannot count what is left after the pass: %s",
		       f->mountpoint, strerror(-r));
	tp_summary_free(sum);
	tp_provmap_free(prov);
	tp_clustermap_free(map);
}

int scheduler_run_pass(struct daemon *d, struct fsent *f)
{
	_cleanup_(tp_fslock_releasep) struct tp_fslock *lock = NULL;
	_cleanup_(tp_device_freep) struct tp_device *dev = NULL;
	_cleanup_(tp_fs_closep) struct tp_fs *fs = NULL;
	_cleanup_free_ uint64_t *skip = NULL, *swaps = NULL;
	size_t n_skip = 0, n_swaps = 0;
	struct tp_compact_result res = { 0 };
	struct tp_geometry geo;
	bool have_res = false;
	struct pacer pc;
	int r;

	pass_info_done(&f->pass);
	f->pass = (struct pass_info){ .start = tp_realtime(), .result = PASS_RUNNING };
	pacer_start(&pc, d, f);
	d->active = f;
	f->phase = PHASE_WAITING;

	/* A scan is I/O too: not while the device is busy. */
	r = pace_pressure(&pc, PHASE_WAITING);
	if (r < 0)
		goto done;
	r = open_target(d, f, &dev, &fs, &geo);
	if (r < 0)
		goto done;
	if (lock_fs(d, f, fs, &lock) == -EBUSY)
		return -EBUSY;
	r = tp_device_swapfiles(dev, &swaps, &n_swaps);
	if (r < 0) {
		fsent_set_problem(f, LOG_ERR, "cannot read the swap table: %s", strerror(-r));
		goto done;
	}
	r = failed_to_skip(f, &skip, &n_skip);
	if (r < 0)
		goto done;
	pc.block_size = geo.block_size;
	tp_throttle_rate_restart(&pc.t);
	f->phase = PHASE_SCAN;
	log_fs(LOG_INFO, f->mountpoint, f->uuid, UINT64_MAX, UINT64_MAX,
	       "%s: pass started (%s granularity from %s, %zu clusters left out "
	       "after failing lately)", f->mountpoint,
	       tp_format_size(geo.granularity, (char[TP_SIZE_STR_MAX]){ 0 }),
	       f->granularity_source, n_skip);
	publish(d, true, false);

	struct tp_compact_options co = {
		.min_age = f->s.min_age,
		.max_usage = f->s.max_usage,
		.slack = f->s.slack,
		.placement = f->s.placement.mode,
		.fallocate2_nr = f->s.placement.fallocate2_nr,
		.pool_margin = f->s.pool_margin,
		.trim = f->s.trim,
		.pinned_inodes = swaps,
		.n_pinned_inodes = n_swaps,
		.stop = &pc.cancel,
		.pace = pace,
		.skip_clusters = skip,
		.n_skip_clusters = n_skip,
		.progress = on_progress,
		.on_move = on_move,
		.userdata = &pc,
	};
	r = tp_compact(dev, fs, &geo, &co, &res);
	if (res.fallocate2_missing)
		log_fs(LOG_WARNING, f->mountpoint, f->uuid, UINT64_MAX, UINT64_MAX,
		       "%s: this kernel has no fallocate2; placing with borrow",
		       f->mountpoint);
	/* Filled even on failure: what was moved before it (a FITRIM that
	 * fails comes after the moves) counts. */
	have_res = true;
	if (r == -EOPNOTSUPP && res.move_refused)
		fsent_set_problem(f, LOG_ERR, "the kernel refuses EXT4_IOC_MOVE_EXT "
				  "on this mount (EOPNOTSUPP): compact it unmounted "
				  "with thinpack compact --offline");
	else if (r < 0)
		fsent_set_problem(f, LOG_ERR, "compaction failed: %s", strerror(-r));
	/* What is left now, for the metrics; not when a shutdown or a reload
	 * cut the pass short. */
	if (pc.stop != STOP_SHUTDOWN && pc.stop != STOP_RELOAD)
		summarize(d, f, dev, &geo, swaps, n_swaps);
done:
	f->pass.stop = pc.stop;
	finish_pass(d, f, have_res ? &res : NULL, r);
	tp_compact_result_clear(&res);
	d->active = NULL;
	return r;
}
