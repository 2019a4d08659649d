/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The filesystems to compact: the mount table (libmount) against the
 * configuration: a section by UUID, by mount point, or [*] for every
 * read-write ext4 on a device that takes discards and that fstab does not
 * mark X-thinpack.skip.  Run at start, on every change of
 * /proc/self/mountinfo and on reload: filesystems mounted or unmounted are
 * picked up or dropped without a restart.
 */

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <blkid.h>
#include <libmount.h>

#include "discover.h"
#include "basic/array.h"
#include "basic/cleanup.h"
#include "clock.h"
#include "conf.h"
#include "journal.h"
#include "scheduler.h"
#include "state.h"

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

struct seen {
	struct libmnt_fs *fs;
	dev_t devno;
};

int discover(struct daemon *d)
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
				f->next_due = scheduler_due_after_last(f);
		}
		f->blocked = true;
		if (!rw)
			fsent_set_problem(f, LOG_WARNING, "mounted read-only: not compacted");
		else if (!is_ext(type) || strcmp(type, "ext4") != 0)
			fsent_set_problem(f, LOG_WARNING, "%s, not ext4: not compacted", type);
		else if (!device_discards(f->devno))
			fsent_set_problem(f, LOG_WARNING, "%s does not support discard: "
				    "emptied clusters could not be returned to it; "
				    "not compacted", device);
		else {
			f->blocked = false;
			if (f->problem && (fresh || moved || changed))
				fsent_clear_problem(f); /* a pass will tell */
		}

		if (fresh || moved) {
			char when[32];
			format_when(f->next_due, when);
			log_fs(LOG_INFO, f->mountpoint, f->uuid, UINT64_MAX, UINT64_MAX,
			       "%s: %s (%s, UUID %s, section [%s]); next pass %s%s",
			       f->mountpoint, fresh ? "found" : "moved", f->device,
			       f->uuid ? f->uuid : "unknown", f->section,
			       f->next_due <= tp_realtime() ? "now" : "at ",
			       f->next_due <= tp_realtime() ? "" : when);
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
