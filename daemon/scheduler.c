/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Which filesystem, when; a pass.
 *
 * next      each filesystem is due an interval after its last pass ended
 *           (at once when a shutdown or a reload cut that pass short).
 * pass      tp_compact() with pace() between two victims (pace.c): I/O
 *           rate, I/O pressure, time budget, signals.  The compaction
 *           itself lives in the library.
 */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "scheduler.h"
#include "basic/cleanup.h"
#include "clock.h"
#include "journal.h"
#include "notify.h"
#include "pace.h"
#include "publish.h"
#include "state.h"

/* A failed cluster is left out for max(interval, min_age, this). */
#define RETRY_MIN_S 3600
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
		return now_realtime();
	return (l->end ? l->end : l->start) + (double)f->s.interval;
}

struct fsent *scheduler_next(struct daemon *d, double *ret_wait)
{
	struct fsent *best = NULL;
	double now = now_realtime();

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
	double limit = now_realtime() - (double)retry_after(f);
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
	int64_t now = (int64_t)now_realtime();
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

	p->end = now_realtime();
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
}

int scheduler_run_pass(struct daemon *d, struct fsent *f)
{
	_cleanup_(tp_device_freep) struct tp_device *dev = NULL;
	_cleanup_(tp_fs_closep) struct tp_fs *fs = NULL;
	_cleanup_free_ uint64_t *skip = NULL, *swaps = NULL;
	size_t n_skip = 0, n_swaps = 0;
	struct tp_compact_result res = { 0 };
	struct tp_geometry geo;
	bool have_res = false;
	struct pacer pc = {
		.d = d,
		.f = f,
		.start = now_monotonic(),
	};
	int r;

	pass_info_done(&f->pass);
	f->pass = (struct pass_info){ .start = now_realtime(), .result = PASS_RUNNING };
	if (f->s.pass_budget)
		pc.deadline = pc.start + (double)f->s.pass_budget;
	d->active = f;
	f->phase = PHASE_WAITING;

	/* A scan is I/O too: not while the device is busy. */
	r = pace_pressure(&pc, PHASE_WAITING);
	if (r < 0)
		goto done;
	r = open_target(d, f, &dev, &fs, &geo);
	if (r < 0)
		goto done;
	r = tp_device_swapfiles(dev, &swaps, &n_swaps);
	if (r < 0) {
		fsent_set_problem(f, LOG_ERR, "cannot read the swap table: %s", strerror(-r));
		goto done;
	}
	r = failed_to_skip(f, &skip, &n_skip);
	if (r < 0)
		goto done;
	pc.block_size = geo.block_size;
	pc.tat = now_monotonic();
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
	if (r < 0)
		fsent_set_problem(f, LOG_ERR, "compaction failed: %s", strerror(-r));
done:
	f->pass.stop = pc.stop;
	finish_pass(d, f, have_res ? &res : NULL, r);
	tp_compact_result_clear(&res);
	d->active = NULL;
	return r;
}
