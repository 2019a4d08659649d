/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The cluster map as a picture: one square per cluster (or per run of
 * clusters on large devices), coloured by occupancy, so the problem is seen
 * at a glance.  Cells carry a class a script can count:
 *   e  empty           f  full             x  partial, pinned
 *   p1 partial <= 25%  p2 <= 50%  p3 <= 75%  p4 < 100% (all movable)
 * and, where the device says what it holds (tp_provmap_read()), before the
 * occupancy:
 *   sh its space shared with a snapshot  u  not backed by the device
 * (so that "e" is what trim returns now).
 */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "thinpack.h"
#include "basic/cleanup.h"

#define CELL 6
#define GAP 1
#define COLUMNS 128
#define MAX_ROWS 128
#define MARGIN 12
#define TITLE_H 40
#define LEGEND_H 30

static const struct {
	const char *cls, *colour, *label;
} legend[] = {
	{ "e", "#d9f0d3", "empty" },
	{ "p1", "#fee391", "partial <= 25%" },
	{ "p2", "#fec44f", "<= 50%" },
	{ "p3", "#fe9929", "<= 75%" },
	{ "p4", "#d95f0e", "< 100%" },
	{ "f", "#253494", "full" },
	{ "x", "#969696", "pinned (partial, unmovable blocks)" },
	{ "u", "#f0f0f0", "not backed" },
	{ "sh", "#7b3294", "shared with a snapshot" },
};

static void xml_escaped(FILE *f, const char *s)
{
	for (; *s; s++)
		switch (*s) {
		case '&': fputs("&amp;", f); break;
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '"': fputs("&quot;", f); break;
		default: fputc(*s, f);
		}
}

/* The class of cells covering clusters [first, first + k): sh or u when
 * all of them are, else by occupancy. */
static const char *cell_class(const struct tp_clustermap *map,
			      const struct tp_provmap *prov, uint64_t first,
			      uint64_t k)
{
	const struct tp_geometry *g = tp_clustermap_geometry(map);
	uint64_t used = 0, empty = 0, full = 0, shared = 0, unbacked = 0;
	bool pinned = false;

	for (uint64_t i = first; i < first + k; i++) {
		enum tp_prov pv = tp_provmap_get(prov, i);
		shared += pv == TP_PROV_SHARED;
		unbacked += pv == TP_PROV_UNMAPPED;
	}
	if (shared == k)
		return "sh";
	if (unbacked == k)
		return "u";
	for (uint64_t i = first; i < first + k; i++) {
		struct tp_cluster c;

		tp_clustermap_get(map, i, &c);
		switch (tp_cluster_state(g, &c)) {
		case TP_CLUSTER_EMPTY:
			empty++;
			break;
		case TP_CLUSTER_FULL:
			full++;
			break;
		case TP_CLUSTER_PARTIAL:
			if (!tp_cluster_eligible(&c))
				pinned = true;
			break;
		}
		used += c.used;
	}
	if (empty == k)
		return "e";
	if (full == k)
		return "f";
	if (pinned)
		return "x";
	uint64_t cap = k * g->cluster_blocks;
	if (used * 4 <= cap)
		return "p1";
	if (used * 2 <= cap)
		return "p2";
	if (used * 4 <= cap * 3)
		return "p3";
	return "p4";
}

static unsigned section_rows(const struct tp_geometry *g, uint64_t *ret_k)
{
	uint64_t cells_max = (uint64_t)COLUMNS * MAX_ROWS;
	uint64_t k = g->clusters > cells_max ?
			     (g->clusters + cells_max - 1) / cells_max : 1;
	uint64_t cells = (g->clusters + k - 1) / k;

	*ret_k = k;
	return (unsigned)((cells + COLUMNS - 1) / COLUMNS);
}

static void draw_section(FILE *f, const struct map_section *s, unsigned y0)
{
	const struct tp_geometry *g = tp_clustermap_geometry(s->map);
	const struct tp_summary *sum = s->summary;
	char a[TP_SIZE_STR_MAX], b[TP_SIZE_STR_MAX], c[TP_SIZE_STR_MAX];
	uint64_t k;

	(void)section_rows(g, &k);
	fprintf(f, "<text x=\"%d\" y=\"%u\" class=\"t\">", MARGIN, y0 + 16);
	xml_escaped(f, s->title);
	fprintf(f, " \xe2\x80\x94 %" PRIu64 " clusters of %s", g->clusters,
		tp_format_size(g->granularity, a));
	if (k > 1)
		fprintf(f, " (%" PRIu64 " per square)", k);
	fprintf(f, "</text>\n");
	fprintf(f, "<text x=\"%d\" y=\"%u\" class=\"s\">%" PRIu64 " full, %" PRIu64
		   " partial (%" PRIu64 " pinned), %" PRIu64 " empty; trim returns "
		   "%s now, compaction %s by moving %s</text>\n",
		MARGIN, y0 + 32, sum->full, sum->partial, sum->pinned, sum->empty,
		tp_format_size(sum->empty_bytes, a),
		tp_format_size(sum->compaction_bytes, b),
		tp_format_size(sum->compaction_io_bytes, c));

	fprintf(f, "<g data-clusters-per-cell=\"%" PRIu64 "\">\n", k);
	uint64_t cell = 0;
	for (uint64_t first = 0; first < g->clusters; first += k, cell++) {
		uint64_t n = g->clusters - first < k ? g->clusters - first : k;
		unsigned x = MARGIN + (unsigned)(cell % COLUMNS) * (CELL + GAP);
		unsigned y = y0 + TITLE_H + (unsigned)(cell / COLUMNS) * (CELL + GAP);
		fprintf(f, "<rect class=\"%s\" x=\"%u\" y=\"%u\"/>\n",
			cell_class(s->map, s->prov, first, n), x, y);
	}
	fprintf(f, "</g>\n");
}

int write_svg_map(const char *path, const struct map_section *sections, size_t n)
{
	_cleanup_free_ char *tmp = NULL;
	_cleanup_fclose_ FILE *f = NULL;
	unsigned width = 2 * MARGIN + COLUMNS * (CELL + GAP);
	unsigned height = MARGIN, *offsets;
	int fd;

	offsets = calloc(n, sizeof(*offsets));
	if (!offsets)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		uint64_t k;
		offsets[i] = height;
		height += TITLE_H +
			  section_rows(tp_clustermap_geometry(sections[i].map), &k) *
				  (CELL + GAP) + MARGIN;
	}
	unsigned legend_y = height;
	height += LEGEND_H + MARGIN;

	if (asprintf(&tmp, "%s.XXXXXX", path) < 0) {
		free(offsets);
		return -ENOMEM;
	}
	fd = mkstemp(tmp);
	if (fd < 0) {
		int r = -errno;
		free(offsets);
		return r;
	}
	(void)fchmod(fd, 0644);
	f = fdopen(fd, "w");
	if (!f) {
		int r = -errno;
		close(fd);
		unlink(tmp);
		free(offsets);
		return r;
	}

	fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		   "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%u\" "
		   "height=\"%u\" viewBox=\"0 0 %u %u\">\n",
		width, height, width, height);
	fprintf(f, "<style>\n"
		   "rect{width:%dpx;height:%dpx}\n"
		   "text{font-family:sans-serif;fill:#222}\n"
		   ".t{font-size:13px;font-weight:bold}.s,.l{font-size:11px}\n",
		CELL, CELL);
	for (size_t i = 0; i < ELEMENTSOF(legend); i++)
		fprintf(f, ".%s{fill:%s}\n", legend[i].cls, legend[i].colour);
	fprintf(f, "</style>\n<rect x=\"0\" y=\"0\" style=\"width:100%%;height:100%%;fill:#fff\"/>\n");

	for (size_t i = 0; i < n; i++)
		draw_section(f, &sections[i], offsets[i]);
	free(offsets);

	unsigned x = MARGIN;
	fprintf(f, "<g class=\"legend\">\n");
	for (size_t i = 0; i < ELEMENTSOF(legend); i++) {
		fprintf(f, "<rect class=\"%s\" x=\"%u\" y=\"%u\" style=\"width:10px;height:10px\"/>"
			   "<text class=\"l\" x=\"%u\" y=\"%u\">",
			legend[i].cls, x, legend_y + 6, x + 14, legend_y + 15);
		xml_escaped(f, legend[i].label);
		fprintf(f, "</text>\n");
		x += 14 + 7 * (unsigned)strlen(legend[i].label) + 14;
	}
	fprintf(f, "</g>\n</svg>\n");

	if (fflush(f) != 0 || ferror(f) || fsync(fileno(f)) < 0) {
		int r = -errno;
		unlink(tmp);
		return r ? r : -EIO;
	}
	if (rename(tmp, path) < 0) {
		int r = -errno;
		unlink(tmp);
		return r;
	}
	return 0;
}
