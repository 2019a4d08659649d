/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * thinpack explain: the owners of a cluster's used blocks, grouped by
 * owner, and in words -- what each is, where, and why it does not move
 * (the reasons the scan gave, with the detail an administrator acts on).
 */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ext2fs/ext2_fs.h> /* inode flag values only */

#include "explain.h"
#include "basic/cleanup.h"
#include "pinning.h"

/* ---- the owners of one cluster, grouped ------------------------------------ */

static int cmp_owner_key(const void *a, const void *b)
{
	const struct tp_owner *x = *(const struct tp_owner *const *)a;
	const struct tp_owner *y = *(const struct tp_owner *const *)b;

#define CMP(f)                                                                 \
	if (x->f != y->f)                                                      \
		return x->f < y->f ? -1 : 1
	CMP(kind);
	CMP(ino);
	CMP(group);
	CMP(movable);
	CMP(reason);
	CMP(blk);
#undef CMP
	return 0;
}

static bool same_owner(const struct tp_owner *x, const struct tp_owner *y)
{
	return x->kind == y->kind && x->ino == y->ino && x->group == y->group &&
	       x->movable == y->movable && x->reason == y->reason;
}

static int cmp_group(const void *a, const void *b)
{
	const struct group *x = a, *y = b;
	uint64_t p = x->runs[0]->blk, q = y->runs[0]->blk;

	if (p != q)
		return p < q ? -1 : 1;
	return (int)x->runs[0]->kind - (int)y->runs[0]->kind;
}

/* The owners of cluster idx, one group each, in block order.  *ret_runs
 * holds the runs the groups point into. */
static int cluster_groups(const struct explain *e, uint64_t idx,
			  const struct tp_owner ***ret_runs,
			  struct group **ret, size_t *ret_n)
{
	size_t n_all, a = 0, n = 0, n_groups = 0;
	const struct tp_owner *all = tp_clustermap_owners(e->map, &n_all);
	_cleanup_free_ const struct tp_owner **runs = NULL;
	_cleanup_free_ struct group *groups = NULL;

	while (a < n_all && all[a].cluster < idx)
		a++;
	while (a + n < n_all && all[a + n].cluster == idx)
		n++;
	runs = malloc(MAX(n, 1) * sizeof(*runs));
	groups = calloc(MAX(n, 1), sizeof(*groups));
	if (!runs || !groups)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		runs[i] = &all[a + i];
	qsort(runs, n, sizeof(*runs), cmp_owner_key);
	for (size_t i = 0; i < n; i++) {
		if (i == 0 || !same_owner(runs[i], runs[i - 1]))
			groups[n_groups++].runs = &runs[i];
		struct group *g = &groups[n_groups - 1];
		g->n_runs++;
		g->blocks += runs[i]->len;
	}
	qsort(groups, n_groups, sizeof(*groups), cmp_group);
	*ret_runs = TAKE_PTR(runs);
	*ret = TAKE_PTR(groups);
	*ret_n = n_groups;
	return 0;
}

/* Whether run b continues run a on disk (and in the file, for data). */
bool continues(const struct tp_owner *a, const struct tp_owner *b)
{
	return a->blk + a->len == b->blk && a->unwritten == b->unwritten &&
	       (a->logical == 0 && b->logical == 0 ?
			true : a->logical + a->len == b->logical);
}

/* ---- words -------------------------------------------------------------------- */

const char *prov_to_string(enum tp_prov p)
{
	switch (p) {
	case TP_PROV_MAPPED:
		return "mapped";
	case TP_PROV_UNMAPPED:
		return "unmapped";
	case TP_PROV_SHARED:
		return "shared";
	default:
		return "unknown";
	}
}

/* The path of ino in the filesystem ("/a/b"), or NULL. */
const char *fs_path(const struct explain *e, uint32_t ino)
{
	return inode_path(&e->paths, ino);
}

char *host_path(const struct explain *e, const char *path)
{
	return target_host_path(&e->t, path);
}

bool names_inode(enum tp_owner_kind k)
{
	return k >= TP_OWNER_FILE && k <= TP_OWNER_XATTR_BLOCK &&
	       k != TP_OWNER_XATTR_INODE;
}

/* What owns a group's blocks, in words. */
char *owner_label(const struct explain *e, const struct tp_owner *o)
{
	_cleanup_free_ char *path = NULL;
	char *s = NULL;
	int r = -1;

	if (names_inode(o->kind))
		path = host_path(e, fs_path(e, o->ino));
	switch (o->kind) {
	case TP_OWNER_BOOT_BLOCK:
		r = asprintf(&s, "boot block");
		break;
	case TP_OWNER_SUPERBLOCK:
		r = asprintf(&s, "%s of group %" PRIu32,
			     o->group ? "backup superblock" : "superblock", o->group);
		break;
	case TP_OWNER_GROUP_DESCRIPTORS:
		r = asprintf(&s, "group descriptors (copy in group %" PRIu32 ")", o->group);
		break;
	case TP_OWNER_RESERVED_GDT:
		r = asprintf(&s, "reserved GDT blocks (in group %" PRIu32 ")", o->group);
		break;
	case TP_OWNER_BLOCK_BITMAP:
		r = asprintf(&s, "block bitmap of group %" PRIu32, o->group);
		break;
	case TP_OWNER_INODE_BITMAP:
		r = asprintf(&s, "inode bitmap of group %" PRIu32, o->group);
		break;
	case TP_OWNER_INODE_TABLE:
		r = asprintf(&s, "inode table of group %" PRIu32, o->group);
		break;
	case TP_OWNER_RESIZE_INODE:
		r = asprintf(&s, "resize inode (inode 7)");
		break;
	case TP_OWNER_MMP:
		r = asprintf(&s, "MMP block");
		break;
	case TP_OWNER_JOURNAL:
		r = asprintf(&s, "journal (inode %" PRIu32 ")", o->ino);
		break;
	case TP_OWNER_QUOTA:
		r = asprintf(&s, "quota file (inode %" PRIu32 ")", o->ino);
		break;
	case TP_OWNER_ORPHAN_FILE:
		r = asprintf(&s, "orphan file (inode %" PRIu32 ")", o->ino);
		break;
	case TP_OWNER_RESERVED_INODE:
		r = asprintf(&s, "reserved inode %" PRIu32, o->ino);
		break;
	case TP_OWNER_XATTR_INODE:
		r = asprintf(&s, "extended attribute value (inode %" PRIu32 ")", o->ino);
		break;
	case TP_OWNER_FILE:
	case TP_OWNER_DIRECTORY:
	case TP_OWNER_SYMLINK:
	case TP_OWNER_SPECIAL:
	case TP_OWNER_EXTENT_TREE:
	case TP_OWNER_XATTR_BLOCK: {
		static const char *const what[] = {
			[TP_OWNER_FILE] = "file",
			[TP_OWNER_DIRECTORY] = "directory",
			[TP_OWNER_SYMLINK] = "symlink",
			[TP_OWNER_SPECIAL] = "special file",
			[TP_OWNER_EXTENT_TREE] = "extent tree of",
			[TP_OWNER_XATTR_BLOCK] = "extended attributes of",
		};
		r = asprintf(&s, "%s %s (inode %" PRIu32 ")", what[o->kind],
			     path ? path : "(no name)", o->ino);
		break;
	}
	case TP_OWNER_NONE:
		r = asprintf(&s, "no owner");
		break;
	case TP_OWNER_FREE:
		r = asprintf(&s, "owned, yet free in the bitmap");
		break;
	case TP_OWNER_TWICE:
		r = asprintf(&s, "owned twice");
		break;
	default:
		r = asprintf(&s, "%s", tp_owner_kind_to_string(o->kind));
		break;
	}
	return r < 0 ? NULL : s;
}

/* A short name for one-line summaries: the path alone, or the kind. */
static char *owner_short(const struct explain *e, const struct tp_owner *o)
{
	const char *path = names_inode(o->kind) ? fs_path(e, o->ino) : NULL;
	char *s = NULL;

	if (o->ino == EXT2_ROOT_INO && o->kind == TP_OWNER_DIRECTORY)
		return strdup("the root directory");
	if (path)
		return host_path(e, path);
	if (o->kind == TP_OWNER_NONE)
		return asprintf(&s, "blocks no inode owns") < 0 ? NULL : s;
	if (names_inode(o->kind) || o->kind == TP_OWNER_XATTR_INODE)
		return asprintf(&s, "inode %" PRIu32, o->ino) < 0 ? NULL : s;
	s = strdup(tp_owner_kind_to_string(o->kind));
	for (char *p = s; p && *p; p++)
		if (*p == '_')
			*p = ' ';
	return s;
}

static bool is_swap(const struct explain *e, uint32_t ino)
{
	for (size_t i = 0; i < e->n_swaps; i++)
		if (e->swaps[i] == ino)
			return true;
	return false;
}

/* Why a pinned owner stays, beyond its reason's name; NULL if its name
 * says it all. */
char *pin_detail(const struct explain *e, const struct tp_owner *o)
{
	char a[TP_SIZE_STR_MAX], b[TP_SIZE_STR_MAX];
	char *s = NULL;
	int r = 0;

	if (o->movable)
		return NULL;
	switch (o->reason) {
	case TP_PIN_RECENT:
		if (o->changed > e->now)
			r = asprintf(&s, "changed in the future, by its times; "
					 "--min-age %s", tp_format_duration(e->o->min_age, b));
		else if (o->changed == e->now)
			r = asprintf(&s, "changed just now, within --min-age %s",
				     tp_format_duration(e->o->min_age, b));
		else
			r = asprintf(&s, "changed %s ago, within --min-age %s",
				     tp_format_duration((uint64_t)(e->now - o->changed), a),
				     tp_format_duration(e->o->min_age, b));
		break;
	case TP_PIN_ATTRIBUTE: {
		static const struct { uint32_t flag; const char *name; } flags[] = {
			{ EXT2_IMMUTABLE_FL, "immutable" },
			{ EXT2_APPEND_FL, "append-only" },
			{ EXT4_ENCRYPT_FL, "encrypted" },
			{ EXT4_VERITY_FL, "verity" },
			{ FS_DAX_FL, "DAX" },
			{ EXT3_JOURNAL_DATA_FL, "data journalling" },
		};
		/* every attribute that pins, by name */
		_Static_assert((EXT2_IMMUTABLE_FL | EXT2_APPEND_FL | EXT4_ENCRYPT_FL |
				EXT4_VERITY_FL | FS_DAX_FL | EXT3_JOURNAL_DATA_FL) ==
				       TP_PINNING_FLAGS,
			       "a pinning attribute without a name");
		char buf[128] = "";
		for (size_t i = 0; i < ELEMENTSOF(flags); i++)
			if (o->flags & flags[i].flag) {
				if (buf[0])
					strcat(buf, ", ");
				strcat(buf, flags[i].name);
			}
		r = asprintf(&s, "%s", buf[0] ? buf : "an attribute MOVE_EXT refuses");
		break;
	}
	case TP_PIN_BLOCK_MAPPED:
		r = asprintf(&s, "no extents (block-mapped)");
		break;
	case TP_PIN_IN_USE:
		r = asprintf(&s, "%s", o->links == 0 ? "deleted, still open" :
				       is_swap(e, o->ino) ? "an active swap file" :
							    "in use");
		break;
	case TP_PIN_BEYOND_EOF:
		r = asprintf(&s, "allocated past its end (size %" PRIu64 " bytes), "
				 "where EXT4_IOC_MOVE_EXT cannot reach", o->size);
		break;
	case TP_PIN_XATTR:
		if (o->kind == TP_OWNER_XATTR_BLOCK && o->refs > 1)
			r = asprintf(&s, "shared by %" PRIu32 " inodes", o->refs);
		break;
	case TP_PIN_UNOWNED:
		r = asprintf(&s, "%s", o->kind == TP_OWNER_NONE ?
			     "used in the bitmap, owned by no inode (an ext4 "
			     "preallocation, or a file that changed during the scan)" :
			     o->kind == TP_OWNER_FREE ?
			     "a file changed during the scan" :
			     "a file changed during the scan, or damage (e2fsck -fn)");
		break;
	default:
		break;
	}
	return r < 0 ? NULL : s;
}

/* "9472-9499, 9510": runs next to each other on disk are one, whatever
 * their logical blocks (the JSON keeps those apart). */
char *group_ranges(const struct group *g)
{
	char *s = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&s, &len);

	if (!f)
		return NULL;
	for (size_t i = 0; i < g->n_runs;) {
		uint64_t start = g->runs[i]->blk, end = start + g->runs[i]->len;
		size_t j = i + 1;
		for (; j < g->n_runs && g->runs[j]->blk == end; j++)
			end += g->runs[j]->len;
		fprintf(f, "%s%" PRIu64, i ? ", " : "", start);
		if (end - start > 1)
			fprintf(f, "-%" PRIu64, end - 1);
		i = j;
	}
	if (fclose(f) != 0) {
		free(s);
		return NULL;
	}
	return s;
}

/* "metadata: inode table, block bitmap; directory: /srv/d" for the
 * reasons of cluster c, with the owners that bring each. */
static char *pin_summary(const struct explain *e, const struct tp_cluster *c,
			 const struct group *groups, size_t n_groups)
{
	char *s = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&s, &len);
	const char *sep = "";

	if (!f)
		return NULL;
	for (unsigned r = 0; r < _TP_PIN_MAX; r++) {
		if (!(c->reasons & (1u << r)))
			continue;
		fprintf(f, "%s%s", sep, tp_pin_reason_to_string(r));
		sep = "; ";
		unsigned named = 0, more = 0;
		for (size_t i = 0; i < n_groups; i++) {
			const struct tp_owner *o = groups[i].runs[0];
			if (o->movable || o->reason != r)
				continue;
			/* one name per owner: the extent-tree and data
			 * groups of one inode, or pieces of one kind */
			bool dup = false;
			for (size_t k = 0; k < i; k++) {
				const struct tp_owner *p = groups[k].runs[0];
				if (!p->movable && p->reason == r &&
				    (o->ino ? p->ino == o->ino : p->kind == o->kind))
					dup = true;
			}
			if (dup)
				continue;
			if (named == SUMMARY_NAMES) {
				more++;
				continue;
			}
			_cleanup_free_ char *name = owner_short(e, o);
			fprintf(f, "%s%s", named ? ", " : ": ", name ? name : "?");
			named++;
		}
		if (more)
			fprintf(f, " and %u more", more);
	}
	if (fclose(f) != 0) {
		free(s);
		return NULL;
	}
	return s;
}

/* ---- one cluster -------------------------------------------------------------- */



void cluster_view_clear(struct cluster_view *v)
{
	free(v->runs);
	free(v->groups);
	free(v->summary);
}

int cluster_view(const struct explain *e, uint64_t idx, struct cluster_view *v)
{
	const struct tp_geometry *g = &e->t.geo;
	int r;

	*v = (struct cluster_view){ .idx = idx, .number = g->first_cluster + idx };
	tp_clustermap_get(e->map, idx, &v->c);
	v->state = tp_cluster_state(g, &v->c);
	v->prov = tp_provmap_get(e->prov, idx);
	v->verdict = tp_cluster_verdict(&v->c, v->prov);
	v->can_empty = v->verdict == TP_VERDICT_MOVABLE && !e->blocker;
	r = cluster_groups(e, idx, &v->runs, &v->groups, &v->n_groups);
	if (r < 0)
		return r;
	for (size_t i = 0; i < v->n_groups; i++) {
		const struct tp_owner *o = v->groups[i].runs[0];
		bool seen = false;
		if (!o->movable)
			continue;
		for (size_t k = 0; k < i; k++)
			if (v->groups[k].runs[0]->movable &&
			    v->groups[k].runs[0]->ino == o->ino)
				seen = true;
		if (!seen)
			v->movable_files++;
	}
	if (v->c.reasons) {
		v->summary = pin_summary(e, &v->c, v->groups, v->n_groups);
		if (!v->summary)
			return -ENOMEM;
	}
	return 0;
}

/* What emptying it takes, in words (text) */
