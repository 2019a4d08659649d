/* SPDX-License-Identifier: GPL-2.0-or-later */
/* thinpack explain, shared by its two files: the command (cmd-explain.c)
 * and the owners of a cluster in words (explain-owners.c). */
#ifndef TP_TOOLS_EXPLAIN_H
#define TP_TOOLS_EXPLAIN_H

#include <stdbool.h>
#include <stdint.h>

#include "thinpack.h"

/* Owners named per reason on a one-line summary. */
#define SUMMARY_NAMES 2

struct explain_options {
	bool json;
	uint64_t granularity; /* 0: from the device */
	uint64_t min_age;
	unsigned top;
	bool top_given;
};

struct explain {
	const struct explain_options *o;
	struct target t;
	struct tp_clustermap *map;
	struct tp_provmap *prov;
	const char *blocker;   /* why the filesystem cannot be compacted */
	uint64_t *swaps;
	size_t n_swaps;
	int64_t now;
	/* the clusters shown (indexes), in the order asked, or emptiest
	 * first; and in top mode how many pinned ones there are */
	uint64_t *clusters;
	size_t n_clusters;
	uint64_t pinned;
	/* paths of the owners' inodes, in the filesystem */
	struct inode_paths paths;
};

/* One owner of a cluster: its runs, all alike but for where they are. */
struct group {
	const struct tp_owner **runs; /* sorted by block */
	size_t n_runs;
	uint64_t blocks;
};

struct cluster_view {
	uint64_t idx, number;  /* index in the map, number on the device */
	struct tp_cluster c;
	enum tp_cluster_state state;
	enum tp_prov prov;
	enum tp_verdict verdict;
	bool can_empty;
	uint64_t movable_files;
	const struct tp_owner **runs;
	struct group *groups;
	size_t n_groups;
	char *summary;         /* what pins it, one line; NULL when nothing */
};

/* Whether run b of an owner takes up where run a ends. */
bool continues(const struct tp_owner *a, const struct tp_owner *b);
/* What the device holds for a cluster, in words. */
const char *prov_to_string(enum tp_prov p);
/* The path of inode ino in the filesystem, or NULL. */
const char *fs_path(const struct explain *e, uint32_t ino);
/* path as seen from here (under the mount point when mounted). */
char *host_path(const struct explain *e, const char *path);
/* Whether owners of kind k are inodes with a path. */
bool names_inode(enum tp_owner_kind k);
/* One owner, in words (kind, path, inode); malloc()ed. */
char *owner_label(const struct explain *e, const struct tp_owner *o);
/* Why an owner does not move, in detail, or NULL; malloc()ed. */
char *pin_detail(const struct explain *e, const struct tp_owner *o);
/* The block ranges of an owner, "a-b, c"; malloc()ed. */
char *group_ranges(const struct group *g);
void cluster_view_clear(struct cluster_view *v);
/* Cluster idx, its owners grouped, its verdict and what pins it. */
int cluster_view(const struct explain *e, uint64_t idx, struct cluster_view *v);

#endif
