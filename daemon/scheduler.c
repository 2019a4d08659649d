/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Which filesystem, when, how fast.
 *
 * discover  the mount table (libmount) against the configuration: a
 *           section by UUID, by mount point, or [*] for every read-write
 *           ext4 on a device that takes discards and that fstab does not
 *           mark X-thinpack.skip.  Run at start, on every change of
 *           /proc/self/mountinfo and on reload: filesystems mounted or
 *           unmounted are picked up or dropped without a restart.
 * next      each filesystem is due an interval after its last pass ended
 *           (at once when a shutdown or a reload cut that pass short).
 * pass      tp_compact() with pace() between two victims: I/O rate, I/O
 *           pressure, time budget, signals.  The compaction itself lives
 *           in the library.
 */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include <blkid.h>
#include <libmount.h>

#include "thinpackd.h"
#include "basic/array.h"
#include "basic/cleanup.h"

/* Credit the rate limiter keeps through a pause (a scan, a yield): none to
 * speak of, so that the rate holds over any stretch of a pass. */
#define RATE_BURST_S 0.1
/* How often pressure is read again while yielding. */
#define YIELD_POLL_S 1.0
/* The status file is rewritten at most this often during a pass. */
#define STATUS_PERIOD_S 0.2
/* A failed cluster is left out for max(interval, min_age, this). */
#define RETRY_MIN_S 3600
#define MAX_FAILED_KEPT 100000

const char *fs_phase_to_string(enum fs_phase p)
{
	switch (p) {
	case PHASE_IDLE:
		return "idle";
	case PHASE_WAITING:
		return "waiting";
	case PHASE_SCAN:
		return "scanning";
	case PHASE_PLAN:
		return "planning";
	case PHASE_MOVE:
		return "moving";
	case PHASE_YIELD:
		return "yielding";
	case PHASE_TRIM:
		return "trimming";
	}
	return "unknown";
}

static struct fsent *fsent_free(struct fsent *f)
{
	if (!f)
		return NULL;
	free(f->mountpoint);
	free(f->device);
	free(f->uuid);
	free(f->section);
	free(f->problem);
	settings_done(&f->s);
	state_done(&f->st);
	pass_info_done(&f->pass);
	free(f);
	return NULL;
}

void scheduler_free(struct daemon *d)
{
	for (size_t i = 0; i < d->n_fs; i++)
		fsent_free(d->fs[i]);
	free(d->fs);
	d->fs = NULL;
	d->n_fs = 0;
}

/* ---- discover ---------------------------------------------------------------- */

static inline void mnt_unref_tablep(struct libmnt_table **t)
{
	mnt_unref_table(*t);
}

static inline void mnt_free_iterp(struct libmnt_iter **i)
{
	mnt_free_iter(*i);
}

/* The device (or, for a partition, its disk) takes discards. */
static bool device_discards(dev_t devno)
{
	char path[PATH_MAX], buf[64] = "";
	struct stat st;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/partition", major(devno),
		 minor(devno));
	bool part = stat(path, &st) == 0;
	snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/%squeue/discard_max_bytes",
		 major(devno), minor(devno), part ? "../" : "");
	f = fopen(path, "re");
	if (!f)
		return false;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = '\0';
	fclose(f);
	return strtoull(buf, NULL, 10) > 0;
}

static char *probe_uuid(const char *device)
{
	blkid_probe pr = blkid_new_probe_from_filename(device);
	const char *v = NULL;
	char *uuid = NULL;

	if (!pr)
		return NULL;
	blkid_probe_enable_superblocks(pr, 1);
	blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_UUID | BLKID_SUBLKS_TYPE);
	if (blkid_do_safeprobe(pr) == 0 &&
	    blkid_probe_lookup_value(pr, "UUID", &v, NULL) == 0 && v)
		uuid = strdup(v);
	blkid_free_probe(pr);
	return uuid;
}

static bool fstab_skips(struct libmnt_table *fstab, const char *mountpoint)
{
	struct libmnt_fs *fs;

	if (!fstab)
		return false;
	fs = mnt_table_find_target(fstab, mountpoint, MNT_ITER_FORWARD);
	return fs && (mnt_fs_match_options(fs, "X-thinpack.skip") == 1 ||
		      mnt_fs_match_options(fs, "x-thinpack.skip") == 1);
}

static bool is_ext(const char *type)
{
	return type && (!strcmp(type, "ext4") || !strcmp(type, "ext3") ||
			!strcmp(type, "ext2"));
}

/* One mount per device: read-write before read-only, the whole
 * filesystem (root "/") before a bind mount of a part, then the first. */
static bool better_mount(struct libmnt_fs *a, struct libmnt_fs *b)
{
	bool a_rw = mnt_fs_match_options(a, "rw") == 1,
	     b_rw = mnt_fs_match_options(b, "rw") == 1;
	const char *ar = mnt_fs_get_root(a), *br = mnt_fs_get_root(b);
	bool a_root = ar && !strcmp(ar, "/"), b_root = br && !strcmp(br, "/");

	if (a_rw != b_rw)
		return a_rw;
	return a_root && !b_root;
}

static struct fsent *find_fs(struct daemon *d, const char *uuid, dev_t devno,
			     const char *mountpoint)
{
	for (size_t i = 0; i < d->n_fs; i++) {
		struct fsent *f = d->fs[i];
		if (uuid && f->uuid && !strcmp(uuid, f->uuid))
			return f;
		if (!uuid && !f->uuid && f->devno == devno &&
		    !strcmp(f->mountpoint, mountpoint))
			return f;
	}
	return NULL;
}

static bool interrupted(const struct pass_info *p)
{
	return p->result == PASS_STOPPED &&
	       (p->stop == STOP_SHUTDOWN || p->stop == STOP_RELOAD);
}

static double due_after_last(const struct fsent *f)
{
	const struct pass_info *l = &f->st.last;

	if (l->start == 0 || interrupted(l))
		return now_realtime();
	return (l->end ? l->end : l->start) + (double)f->s.interval;
}

static void format_when(double t, char buf[static 32])
{
	time_t tt = (time_t)ceil(t);
	struct tm tm;

	localtime_r(&tt, &tm);
	if (t - now_realtime() < 20 * 3600)
		strftime(buf, 32, "%H:%M", &tm);
	else
		strftime(buf, 32, "%Y-%m-%d %H:%M", &tm);
}

static void set_problem(struct fsent *f, int priority, const char *fmt, ...)
	_printf_(3, 4);
static void set_problem(struct fsent *f, int priority, const char *fmt, ...)
{
	char *msg = NULL;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	if (!msg)
		return;
	if (!f->problem || strcmp(f->problem, msg) != 0)
		log_fs(priority, f->mountpoint, f->uuid, UINT64_MAX, UINT64_MAX,
		       "%s: %s", f->mountpoint, msg);
	free(f->problem);
	f->problem = msg;
}

static void clear_problem(struct fsent *f)
{
	free(f->problem);
	f->problem = NULL;
}

struct seen {
	struct libmnt_fs *fs;
	dev_t devno;
};

int scheduler_discover(struct daemon *d)
{
	_cleanup_(mnt_unref_tablep) struct libmnt_table *tb = NULL, *fstab = NULL;
	_cleanup_(mnt_free_iterp) struct libmnt_iter *it = mnt_new_iter(MNT_ITER_FORWARD);
	_cleanup_free_ struct seen *seen = NULL;
	_cleanup_free_ bool *keep = NULL, *named = NULL;
	size_t n_seen = 0, cap = 0;
	struct libmnt_fs *mfs;

	d->mounts_changed = false;
	tb = mnt_new_table_from_file("/proc/self/mountinfo");
	if (!tb || !it)
		return log_error_errno(-errno ? -errno : -ENOMEM,
				       "Failed to read /proc/self/mountinfo");
	fstab = mnt_new_table();
	if (fstab && mnt_table_parse_fstab(fstab, NULL) < 0) {
		mnt_unref_table(fstab);
		fstab = NULL;
	}

	/* One mount of each ext device. */
	while (mnt_table_next_fs(tb, it, &mfs) == 0) {
		dev_t devno = mnt_fs_get_devno(mfs);
		size_t i;

		if (!is_ext(mnt_fs_get_fstype(mfs)) || major(devno) == 0)
			continue;
		for (i = 0; i < n_seen && seen[i].devno != devno; i++)
			;
		if (i < n_seen) {
			if (better_mount(mfs, seen[i].fs))
				seen[i].fs = mfs;
			continue;
		}
		if (TP_RESERVE(seen, cap, n_seen + 1) < 0)
			return -ENOMEM;
		seen[n_seen++] = (struct seen){ mfs, devno };
	}

	/* A mount hidden under another at the same place cannot be reached. */
	for (size_t i = 0; i < n_seen; i++)
		for (size_t k = i + 1; k < n_seen; k++)
			if (seen[i].fs && seen[k].fs &&
			    !strcmp(mnt_fs_get_target(seen[i].fs),
				    mnt_fs_get_target(seen[k].fs)) &&
			    mnt_fs_get_id(seen[k].fs) > mnt_fs_get_id(seen[i].fs))
				seen[i].fs = NULL;

	keep = calloc(d->n_fs + n_seen + 1, sizeof(*keep));
	named = calloc(d->config->n_sections + 1, sizeof(*named));
	if (!keep || !named)
		return -ENOMEM;
	for (size_t i = 0; i < n_seen; i++) {
		if (!seen[i].fs)
			continue;
		const char *mp = mnt_fs_get_target(seen[i].fs);
		const char *type = mnt_fs_get_fstype(seen[i].fs);
		bool rw = mnt_fs_match_options(seen[i].fs, "rw") == 1;
		_cleanup_free_ char *device = blkid_devno_to_devname(seen[i].devno);
		_cleanup_free_ char *uuid = NULL;
		const struct section *sec;
		struct fsent *f;

		if (!mp || !device)
			continue;
		f = NULL;
		for (size_t k = 0; k < d->n_fs; k++)
			if (d->fs[k]->devno == seen[i].devno &&
			    !strcmp(d->fs[k]->mountpoint, mp))
				f = d->fs[k];
		uuid = f && f->uuid ? strdup(f->uuid) : probe_uuid(device);
		for (size_t k = 1; k < d->config->n_sections; k++)
			if (section_names(&d->config->sections[k], uuid, mp))
				named[k] = true;
		bool all = !strcmp(type, "ext4") && rw && device_discards(seen[i].devno) &&
			   !fstab_skips(fstab, mp);
		sec = config_match(d->config, uuid, mp, all);
		if (!sec)
			continue;

		f = find_fs(d, uuid, seen[i].devno, mp);
		bool fresh = !f;
		if (fresh) {
			struct fsent **v = realloc(d->fs, (d->n_fs + 1) * sizeof(*v));
			if (!v)
				return -ENOMEM;
			d->fs = v;
			f = calloc(1, sizeof(*f));
			if (!f)
				return -ENOMEM;
			d->fs[d->n_fs++] = f;
			f->pressure = -1;
			f->uuid = uuid ? strdup(uuid) : NULL;
			if (f->uuid) {
				bool future;
				int r = state_load(d->state_dir, f->uuid, &f->st, &future);
				if (r < 0)
					log_warning("%s: the state file %s/%s.json %s; "
						    "starting afresh", mp, d->state_dir,
						    f->uuid, state_strerror(r));
				else if (future)
					log_warning("%s: the state file %s/%s.json holds "
						    "dates in the future (was the clock "
						    "set back?); taken as now", mp,
						    d->state_dir, f->uuid);
			}
		}
		for (size_t k = 0; k < d->n_fs; k++)
			if (d->fs[k] == f)
				keep[k] = true;

		bool moved = !fresh && (strcmp(f->mountpoint, mp) != 0 ||
					f->devno != seen[i].devno);
		free(f->mountpoint);
		free(f->device);
		free(f->section);
		f->mountpoint = strdup(mp);
		f->device = strdup(device);
		f->section = strdup(sec->name);
		f->devno = seen[i].devno;
		f->present = true;
		if (!f->mountpoint || !f->device || !f->section)
			return -ENOMEM;

		bool changed = fresh || !settings_equal(&f->s, &sec->s);
		if (changed) {
			settings_done(&f->s);
			if (settings_copy(&f->s, &sec->s) < 0)
				return -ENOMEM;
			if (d->active != f)
				f->next_due = due_after_last(f);
		}
		f->blocked = true;
		if (!rw)
			set_problem(f, LOG_WARNING, "mounted read-only: not compacted");
		else if (!is_ext(type) || strcmp(type, "ext4") != 0)
			set_problem(f, LOG_WARNING, "%s, not ext4: not compacted", type);
		else if (!device_discards(f->devno))
			set_problem(f, LOG_WARNING, "%s does not support discard: "
				    "emptied clusters could not be returned to it; "
				    "not compacted", device);
		else {
			f->blocked = false;
			if (f->problem && (fresh || moved || changed))
				clear_problem(f); /* a pass will tell */
		}

		if (fresh || moved) {
			char when[32];
			format_when(f->next_due, when);
			log_fs(LOG_INFO, f->mountpoint, f->uuid, UINT64_MAX, UINT64_MAX,
			       "%s: %s (%s, UUID %s, section [%s]); next pass %s%s",
			       f->mountpoint, fresh ? "found" : "moved", f->device,
			       f->uuid ? f->uuid : "unknown", f->section,
			       f->next_due <= now_realtime() ? "now" : "at ",
			       f->next_due <= now_realtime() ? "" : when);
		} else if (changed)
			log_fs(LOG_INFO, f->mountpoint, f->uuid, UINT64_MAX, UINT64_MAX,
			       "%s: new settings from [%s]", f->mountpoint, f->section);
	}

	/* A section that names no mounted filesystem does nothing: say so,
	 * once, and again when it has named one in between. */
	for (size_t k = 1; k < d->config->n_sections; k++) {
		struct section *s = &d->config->sections[k];

		if (s->kind != SECTION_UUID && s->kind != SECTION_PATH)
			continue;
		if (!named[k] && !s->duplicate && !s->unmounted_said)
			log_warning("%s:%u: [%s] names no mounted ext2/3/4 "
				    "filesystem: nothing to do for it until one is "
				    "mounted", d->config->path ? d->config->path : "",
				    s->line, s->name);
		s->unmounted_said = !named[k];
	}

	/* Dropped: unmounted, or no longer configured. */
	size_t n = 0;
	for (size_t k = 0; k < d->n_fs; k++) {
		struct fsent *f = d->fs[k];
		if (keep[k] || f == d->active) {
			d->fs[n++] = f;
			continue;
		}
		log_fs(LOG_INFO, f->mountpoint, f->uuid, UINT64_MAX, UINT64_MAX,
		       "%s: dropped (%s)", f->mountpoint,
		       config_match(d->config, f->uuid, f->mountpoint, true) ?
			       "no longer mounted" : "no longer in the configuration");
		fsent_free(f);
	}
	d->n_fs = n;
	return 0;
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

struct pacer {
	struct daemon *d;
	struct fsent *f;
	double start, deadline; /* monotonic; deadline 0: no budget */
	double tat;             /* when the next victim may start */
	uint64_t paid;          /* bytes accounted in tat */
	uint64_t block_size;
	bool yield_logged;
	enum stop_reason stop;
	volatile sig_atomic_t cancel; /* tp_compact's stop */
};

static bool psi_missing_warned;

/* Signals and the budget: 0, or < 0 to stop. */
static int check(struct pacer *pc)
{
	struct daemon *d = pc->d;

	daemon_read_signals(d);
	if (d->stop || d->reload) {
		pc->stop = d->stop ? STOP_SHUTDOWN : STOP_RELOAD;
		pc->cancel = 1;
		if (d->stop)
			notify_stopping("stopping after the current move");
		return -ECANCELED;
	}
	if (pc->deadline && now_monotonic() >= pc->deadline) {
		pc->stop = STOP_BUDGET;
		pc->cancel = 1;
		return -ETIME;
	}
	notify_watchdog();
	return 0;
}

/* Sleep up to s seconds, awake to signals; the budget ends it too. */
static int pace_sleep(struct pacer *pc, double s)
{
	double end = now_monotonic() + s;
	int r;

	for (;;) {
		double left = end - now_monotonic();
		struct pollfd p = { .fd = pc->d->signal_fd, .events = POLLIN };
		double slice = 0.25;

		if ((r = check(pc)) < 0)
			return r;
		if (left <= 0)
			return 0;
		if (pc->deadline && pc->deadline - now_monotonic() < slice)
			slice = MAX(pc->deadline - now_monotonic(), 0.001);
		if (slice > left)
			slice = left;
		if (poll(&p, 1, (int)ceil(slice * 1000)) < 0 && errno != EINTR)
			return -errno;
	}
}

/* While I/O pressure is above the limit: no moves. */
static int pace_pressure(struct pacer *pc, enum fs_phase while_high)
{
	struct fsent *f = pc->f;
	double p, since = 0;
	enum fs_phase before = f->phase;
	int r = 0;

	if (f->s.pressure_limit < 0)
		return 0;
	for (;;) {
		r = pressure_io_some_avg10(&p);
		if (r < 0) {
			if (!psi_missing_warned)
				log_warning("cannot read /proc/pressure/io (%s): "
					    "pressure_limit is ignored", strerror(-r));
			psi_missing_warned = true;
			r = 0;
			break;
		}
		f->pressure = p;
		if (p <= f->s.pressure_limit)
			break;
		if (!since) {
			char a[32];
			since = now_monotonic();
			f->phase = while_high;
			if (!pc->yield_logged)
				log_fs(LOG_INFO, f->mountpoint, f->uuid, UINT64_MAX,
				       UINT64_MAX, "%s: I/O pressure %.2f above "
				       "pressure_limit %s: %s", f->mountpoint, p,
				       format_pressure(f->s.pressure_limit, a),
				       while_high == PHASE_YIELD ? "yielding" : "waiting");
			pc->yield_logged = true;
		}
		daemon_publish(pc->d, false, false);
		double t0 = now_monotonic();
		r = pace_sleep(pc, YIELD_POLL_S);
		f->pass.yield_s += now_monotonic() - t0; /* live, for the status */
		if (r < 0)
			break;
	}
	if (since) {
		f->phase = before;
		/* No credit from the pause. */
		pc->tat = now_monotonic();
		daemon_publish(pc->d, true, false);
	}
	return r;
}

static int pace(uint64_t moved_bytes, void *userdata)
{
	struct pacer *pc = userdata;
	struct fsent *f = pc->f;
	int r;

	if ((r = check(pc)) < 0)
		return r;
	f->pass.moved_bytes = moved_bytes;
	f->phase = PHASE_MOVE;
	/* The status file has the bytes moved at this moment. */
	daemon_publish(pc->d, true, false);
	if (f->s.io_rate) {
		double now = now_monotonic();
		uint64_t delta = moved_bytes - pc->paid;

		pc->paid = moved_bytes;
		pc->tat = MAX(pc->tat, now - RATE_BURST_S) +
			  (double)delta / (double)f->s.io_rate;
		if (pc->tat > now && (r = pace_sleep(pc, pc->tat - now)) < 0)
			return r;
	}
	return pace_pressure(pc, PHASE_YIELD);
}

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
	daemon_publish(pc->d, changed, false);
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
		set_problem(f, LOG_ERR, "cannot resolve: %s", strerror(-r));
		return r;
	}
	if (dev->kind != TP_TARGET_MOUNTED || dev->devno != f->devno ||
	    !tp_device_is_ext(dev)) {
		d->mounts_changed = true;
		set_problem(f, LOG_WARNING, "%s",
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
		set_problem(f, LOG_ERR, "cannot read %s: %s", dev->device,
			    why ? why : strerror(-r));
		return r;
	}
	info = tp_fs_get_info(fs);
	b = tp_compaction_blocker(dev, info, TP_CHECK_ONLINE | TP_CHECK_DISCARD);
	switch (b) {
	case TP_BLOCKER_NONE:
		break;
	case TP_BLOCKER_READ_ONLY:
		set_problem(f, LOG_WARNING, "mounted read-only: not compacted");
		return -EROFS;
	case TP_BLOCKER_NO_DISCARD:
		set_problem(f, LOG_WARNING, "%s does not support discard: not compacted",
			    dev->device);
		return -EOPNOTSUPP;
	case TP_BLOCKER_BLOCK_SIZE:
		set_problem(f, LOG_WARNING, "block size %" PRIu32 " differs from the "
			    "page size (%ld): online compaction is not supported",
			    info->block_size, sysconf(_SC_PAGESIZE));
		return -EOPNOTSUPP;
	default:
		set_problem(f, LOG_WARNING, "compaction is impossible: %s",
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
		set_problem(f, LOG_ERR, "granularity %s (%s) does not fit %" PRIu32
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
	clear_problem(f);
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
	f->next_due = due_after_last(f);
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
		set_problem(f, LOG_ERR, "cannot read the swap table: %s", strerror(-r));
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
	daemon_publish(d, true, false);

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
		set_problem(f, LOG_ERR, "compaction failed: %s", strerror(-r));
done:
	f->pass.stop = pc.stop;
	finish_pass(d, f, have_res ? &res : NULL, r);
	tp_compact_result_clear(&res);
	d->active = NULL;
	return r;
}

/* ---- signals -------------------------------------------------------------------- */

void daemon_read_signals(struct daemon *d)
{
	struct signalfd_siginfo si;

	while (read(d->signal_fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGTERM:
		case SIGINT:
			if (!d->stop)
				log_info("%s: stopping", si.ssi_signo == SIGTERM ?
							 "SIGTERM" : "SIGINT");
			d->stop = true;
			break;
		case SIGHUP:
			d->reload = true;
			break;
		}
	}
}
