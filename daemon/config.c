/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * thinpackd.conf: one table of keys feeds the file (read with inih), the
 * command line (--io-rate 4M), --check-config's listing and --help.
 *
 *   [global]          defaults for every filesystem, and global keys
 *   [*]               every mounted ext4 on a discard-capable device that
 *                     fstab does not mark X-thinpack.skip
 *   [/srv]            one filesystem by mount point
 *   [UUID=...]        one filesystem by UUID
 *
 * inih splits "key = value" and strips comments; the reader below feeds it
 * one line at a time, which is how every error gets its line number, and
 * handles the section headers itself so that an empty section counts and a
 * duplicate one is seen.
 */

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "thinpackd.h"
#include "basic/cleanup.h"

enum key_type {
	T_DURATION,
	T_RATE,
	T_PERCENT,
	T_PRESSURE,
	T_GRANULARITY,
	T_PLACEMENT,
	T_BOOL,
	T_PATH,
};

struct key {
	const char *name;
	enum key_type type;
	bool global_only;
	size_t offset;     /* in struct settings */
	uint64_t min, max; /* durations: at least min seconds; percent: 0..max */
	const char *def;   /* the default, as it is written in the file */
	const char *arg;   /* for --help */
	const char *help;
};

#define OFF(field) offsetof(struct settings, field)

static const struct key keys[_KEY_MAX] = {
	[KEY_INTERVAL] = { "interval", T_DURATION, false, OFF(interval), 1, 0, "1d",
			   "DURATION", "time from the end of one pass to the next" },
	[KEY_MIN_AGE] = { "min_age", T_DURATION, false, OFF(min_age), 0, 0, "1d",
			  "DURATION", "leave files changed more recently" },
	[KEY_MAX_USAGE] = { "max_usage", T_PERCENT, false, OFF(max_usage), 0, 100, "50",
			    "PERCENT", "empty only clusters at most this full" },
	[KEY_SLACK] = { "slack", T_PERCENT, false, OFF(slack), 0, 99, "10",
			"PERCENT", "share of the target holes left free" },
	[KEY_IO_RATE] = { "io_rate", T_RATE, false, OFF(io_rate), 0, 0, "8M",
			  "BYTES", "data moved per second at most (0: no limit)" },
	[KEY_PASS_BUDGET] = { "pass_budget", T_DURATION, false, OFF(pass_budget), 0, 0,
			      "1h", "DURATION", "longest pass (0: no limit)" },
	[KEY_PRESSURE_LIMIT] = { "pressure_limit", T_PRESSURE, false,
				 OFF(pressure_limit), 0, 0, "10", "PERCENT|off",
				 "pause while /proc/pressure/io some avg10 is above" },
	[KEY_GRANULARITY] = { "granularity", T_GRANULARITY, false, OFF(granularity),
			      0, 0, "auto", "BYTES|auto",
			      "cluster size of the thin device (auto: sysfs)" },
	[KEY_PLACEMENT] = { "placement", T_PLACEMENT, false, OFF(placement), 0, 0,
			    "auto", "MODE", "auto, borrow or fallocate2[:NR]" },
	[KEY_TRIM] = { "trim", T_BOOL, false, OFF(trim), 0, 0, "yes", "yes|no",
		       "FITRIM the clusters emptied" },
	[KEY_METRICS_FILE] = { "metrics_file", T_PATH, true, OFF(metrics_file), 0, 0,
			       NULL, "PATH|none",
			       "Prometheus text file (default: thinpack.prom in "
			       "the runtime directory)" },
};

/* ---- values ------------------------------------------------------------------- */

/* Parse one value into s.  NULL, or what is wrong (static or in *buf). */
static const char *parse_value(const struct key *k, const char *v,
			       struct settings *s, char *buf, size_t bufsz)
{
	void *field = (char *)s + k->offset;
	uint64_t u;
	char *end;

	if (!*v)
		return "empty value";
	switch (k->type) {
	case T_DURATION:
		if (tp_parse_duration(v, &u) < 0) {
			snprintf(buf, bufsz, "'%s' is not a duration (like 30s, 15m, "
				 "12h or 1d)", v);
			return buf;
		}
		if (u < k->min) {
			snprintf(buf, bufsz, "'%s' is too short (at least %" PRIu64
				 "s)", v, k->min);
			return buf;
		}
		*(uint64_t *)field = u;
		return NULL;
	case T_RATE: {
		_cleanup_free_ char *copy = strdup(v);
		size_t n = copy ? strlen(copy) : 0;

		if (!copy)
			return "out of memory";
		if (n > 2 && strcmp(copy + n - 2, "/s") == 0)
			copy[n - 2] = '\0';
		if (tp_parse_size(copy, &u) < 0) {
			snprintf(buf, bufsz, "'%s' is not a rate in bytes per second "
				 "(like 512K, 8M or 1G, 0 for no limit)", v);
			return buf;
		}
		*(uint64_t *)field = u;
		return NULL;
	}
	case T_PERCENT: {
		unsigned long x;

		errno = 0;
		x = strtoul(v, &end, 10);
		if (errno || end == v || *end || !isdigit((unsigned char)v[0]) ||
		    x > k->max) {
			snprintf(buf, bufsz, "'%s' is not a whole number from 0 to "
				 "%" PRIu64, v, k->max);
			return buf;
		}
		*(unsigned *)field = (unsigned)x;
		return NULL;
	}
	case T_PRESSURE: {
		double x;

		if (strcmp(v, "off") == 0) {
			*(double *)field = -1;
			return NULL;
		}
		errno = 0;
		x = strtod(v, &end);
		if (errno || end == v || *end || !isdigit((unsigned char)v[0]) ||
		    !(x >= 0 && x <= 100)) {
			snprintf(buf, bufsz, "'%s' is not a percentage from 0 to 100, "
				 "or off", v);
			return buf;
		}
		*(double *)field = x;
		return NULL;
	}
	case T_GRANULARITY:
		if (strcmp(v, "auto") == 0) {
			*(uint64_t *)field = 0;
			return NULL;
		}
		if (tp_parse_size(v, &u) < 0 || !tp_is_power_of_2(u) || u < 512) {
			snprintf(buf, bufsz, "'%s' is not a power of two of at least "
				 "512 bytes (like 64K, 1M or 4M), or auto", v);
			return buf;
		}
		*(uint64_t *)field = u;
		return NULL;
	case T_PLACEMENT: {
		struct placement_setting *p = field;

		if (strcmp(v, "auto") == 0 || strcmp(v, "borrow") == 0) {
			*p = (struct placement_setting){ TP_PLACEMENT_BORROW, -1 };
			return NULL;
		}
		if (strcmp(v, "fallocate2") == 0) {
			*p = (struct placement_setting){ TP_PLACEMENT_FALLOCATE2, -1 };
			return NULL;
		}
		if (strncmp(v, "fallocate2:", 11) == 0 && isdigit((unsigned char)v[11])) {
			unsigned long nr;

			errno = 0;
			nr = strtoul(v + 11, &end, 10);
			if (!errno && !*end && nr <= 100000) {
				*p = (struct placement_setting){ TP_PLACEMENT_FALLOCATE2,
								 (long)nr };
				return NULL;
			}
		}
		snprintf(buf, bufsz, "'%s' is not auto, borrow or fallocate2[:NR]", v);
		return buf;
	}
	case T_BOOL:
		if (!strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "on") ||
		    !strcmp(v, "1")) {
			*(bool *)field = true;
			return NULL;
		}
		if (!strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "off") ||
		    !strcmp(v, "0")) {
			*(bool *)field = false;
			return NULL;
		}
		snprintf(buf, bufsz, "'%s' is not yes or no", v);
		return buf;
	case T_PATH: {
		char **p = field, *copy;

		if (strcmp(v, "none") == 0)
			copy = strdup("");
		else if (v[0] != '/') {
			snprintf(buf, bufsz, "'%s' is not an absolute path, or none", v);
			return buf;
		} else
			copy = strdup(v);
		if (!copy)
			return "out of memory";
		free(*p);
		*p = copy;
		return NULL;
	}
	}
	return "unknown type";
}

/* Copy key k's value from src to dst. */
static int copy_value(const struct key *k, struct settings *dst,
		      const struct settings *src)
{
	const char *from = (const char *)src + k->offset;
	char *to = (char *)dst + k->offset;

	switch (k->type) {
	case T_DURATION:
	case T_RATE:
	case T_GRANULARITY:
		memcpy(to, from, sizeof(uint64_t));
		return 0;
	case T_PERCENT:
		memcpy(to, from, sizeof(unsigned));
		return 0;
	case T_PRESSURE:
		memcpy(to, from, sizeof(double));
		return 0;
	case T_PLACEMENT:
		memcpy(to, from, sizeof(struct placement_setting));
		return 0;
	case T_BOOL:
		memcpy(to, from, sizeof(bool));
		return 0;
	case T_PATH: {
		char *const *s = (char *const *)from;
		char **d = (char **)to;
		char *copy = NULL;

		if (*s && !(copy = strdup(*s)))
			return -ENOMEM;
		free(*d);
		*d = copy;
		return 0;
	}
	}
	return -EINVAL;
}

void settings_done(struct settings *s)
{
	free(s->metrics_file);
	s->metrics_file = NULL;
}

int settings_copy(struct settings *dst, const struct settings *src)
{
	*dst = (struct settings){ 0 };
	for (size_t i = 0; i < _KEY_MAX; i++)
		if (copy_value(&keys[i], dst, src) < 0) {
			settings_done(dst);
			return -ENOMEM;
		}
	return 0;
}

bool settings_equal(const struct settings *a, const struct settings *b)
{
	if ((a->metrics_file == NULL) != (b->metrics_file == NULL) ||
	    (a->metrics_file && strcmp(a->metrics_file, b->metrics_file) != 0))
		return false;
	return a->interval == b->interval && a->min_age == b->min_age &&
	       a->max_usage == b->max_usage && a->slack == b->slack &&
	       a->io_rate == b->io_rate && a->pass_budget == b->pass_budget &&
	       a->pressure_limit == b->pressure_limit &&
	       a->granularity == b->granularity &&
	       a->placement.mode == b->placement.mode &&
	       a->placement.fallocate2_nr == b->placement.fallocate2_nr &&
	       a->trim == b->trim;
}

static void settings_defaults(struct settings *s)
{
	char buf[256];

	*s = (struct settings){ 0 };
	for (size_t i = 0; i < _KEY_MAX; i++)
		if (keys[i].def)
			(void)parse_value(&keys[i], keys[i].def, s, buf, sizeof(buf));
}

/* ---- formatting ---------------------------------------------------------------- */

static const char *format_bytes(uint64_t b, char buf[static 32])
{
	static const char units[] = "KMGTP";

	if (b == 0) {
		snprintf(buf, 32, "0");
		return buf;
	}
	for (int i = 4; i >= 0; i--) {
		uint64_t m = UINT64_C(1) << (10 * (i + 1));
		if (b % m == 0) {
			snprintf(buf, 32, "%" PRIu64 "%c", b / m, units[i]);
			return buf;
		}
	}
	snprintf(buf, 32, "%" PRIu64, b);
	return buf;
}

const char *format_pressure(double p, char buf[static 32])
{
	if (p < 0)
		snprintf(buf, 32, "off");
	else
		snprintf(buf, 32, "%g", p);
	return buf;
}

static void print_value(const struct key *k, const struct settings *s, FILE *out)
{
	const void *field = (const char *)s + k->offset;
	char buf[32];

	switch (k->type) {
	case T_DURATION:
		fputs(tp_format_duration(*(const uint64_t *)field, buf), out);
		break;
	case T_RATE:
		fputs(format_bytes(*(const uint64_t *)field, buf), out);
		break;
	case T_PERCENT:
		fprintf(out, "%u", *(const unsigned *)field);
		break;
	case T_PRESSURE:
		fputs(format_pressure(*(const double *)field, buf), out);
		break;
	case T_GRANULARITY: {
		uint64_t g = *(const uint64_t *)field;
		fputs(g ? format_bytes(g, buf) : "auto", out);
		break;
	}
	case T_PLACEMENT: {
		const struct placement_setting *p = field;
		if (p->mode != TP_PLACEMENT_FALLOCATE2)
			fputs("auto", out);
		else if (p->fallocate2_nr < 0)
			fputs("fallocate2", out);
		else
			fprintf(out, "fallocate2:%ld", p->fallocate2_nr);
		break;
	}
	case T_BOOL:
		fputs(*(const bool *)field ? "yes" : "no", out);
		break;
	case T_PATH: {
		const char *p = *(char *const *)field;
		if (!p)
			fputs("(default)", out);
		else
			fputs(*p ? p : "none", out);
		break;
	}
	}
}

/* ---- sections ------------------------------------------------------------------- */

static bool is_uuid(const char *s)
{
	static const char pattern[] = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";

	if (strlen(s) != sizeof(pattern) - 1)
		return false;
	for (size_t i = 0; pattern[i]; i++)
		if (pattern[i] == '-' ? s[i] != '-' : !isxdigit((unsigned char)s[i]))
			return false;
	return true;
}

/* "/srv//data/" -> "/srv/data"; NULL for a path with "." or "..". */
static char *normalize_path(const char *p)
{
	char *out = malloc(strlen(p) + 2), *o = out;

	if (!out)
		return NULL;
	while (*p) {
		const char *c;
		size_t n;

		while (*p == '/')
			p++;
		if (!*p)
			break;
		c = strchrnul(p, '/');
		n = (size_t)(c - p);
		if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.')) {
			free(out);
			return NULL;
		}
		*o++ = '/';
		memcpy(o, p, n);
		o += n;
		p = c;
	}
	if (o == out)
		*o++ = '/';
	*o = '\0';
	return out;
}

/* Classify a section name.  0, or -EINVAL. */
static int section_classify(const char *name, enum section_kind *ret_kind,
			    char **ret_match)
{
	const char *u = NULL;

	if (strcmp(name, "global") == 0) {
		*ret_kind = SECTION_GLOBAL;
		*ret_match = NULL;
		return 0;
	}
	if (strcmp(name, "*") == 0) {
		*ret_kind = SECTION_ALL;
		*ret_match = NULL;
		return 0;
	}
	if (name[0] == '/') {
		char *m = normalize_path(name);
		if (!m)
			return -EINVAL;
		*ret_kind = SECTION_PATH;
		*ret_match = m;
		return 0;
	}
	if (strncasecmp(name, "UUID=", 5) == 0)
		u = name + 5;
	else if (is_uuid(name))
		u = name;
	if (u && is_uuid(u)) {
		char *m = strdup(u);
		if (!m)
			return -ENOMEM;
		for (char *c = m; *c; c++)
			*c = (char)tolower((unsigned char)*c);
		*ret_kind = SECTION_UUID;
		*ret_match = m;
		return 0;
	}
	return -EINVAL;
}

static void section_done(struct section *s)
{
	free(s->name);
	free(s->match);
	settings_done(&s->s);
}

struct config *config_free(struct config *c)
{
	if (!c)
		return NULL;
	for (size_t i = 0; i < c->n_sections; i++)
		section_done(&c->sections[i]);
	free(c->sections);
	free(c->path);
	free(c);
	return NULL;
}

TP_DEFINE_CLEANUP(struct config *, config_free)

const struct section *config_global(const struct config *c)
{
	return &c->sections[0];
}

bool section_names(const struct section *s, const char *uuid, const char *mountpoint)
{
	if (s->duplicate)
		return false;
	switch (s->kind) {
	case SECTION_UUID:
		return uuid && strcasecmp(uuid, s->match) == 0;
	case SECTION_PATH:
		return mountpoint && strcmp(mountpoint, s->match) == 0;
	case SECTION_ALL:
	case SECTION_GLOBAL:
		break;
	}
	return false;
}

const struct section *config_match(const struct config *c, const char *uuid,
				   const char *mountpoint, bool all)
{
	const struct section *star = NULL, *path = NULL;

	for (size_t i = 1; i < c->n_sections; i++) {
		const struct section *s = &c->sections[i];

		if (s->kind == SECTION_ALL && !s->duplicate)
			star = s;
		else if (section_names(s, uuid, mountpoint)) {
			if (s->kind == SECTION_UUID)
				return s;
			path = s;
		}
	}
	if (path)
		return path;
	return all ? star : NULL;
}

/* ---- the parser --------------------------------------------------------------- */

struct parser {
	struct config *c;
	FILE *f;
	const char *path;
	unsigned line;
	ssize_t cur;          /* index of the current section; -1: none yet */
	char *buf;
	size_t bufsz;
	unsigned errors;
	config_error_fn err;
	void *userdata;
	int oom;
};

static void perror_at(struct parser *p, const char *fmt, ...) _printf_(2, 3);
static void perror_at(struct parser *p, const char *fmt, ...)
{
	char msg[1024];
	_cleanup_free_ char *line = NULL;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (asprintf(&line, "%s:%u: %s", p->path, p->line, msg) < 0) {
		p->oom = -ENOMEM;
		return;
	}
	p->errors++;
	if (p->err)
		p->err(line, p->userdata);
}

static struct section *section_add(struct parser *p, enum section_kind kind,
				   const char *name, char *match)
{
	struct section *v, *s;

	v = realloc(p->c->sections, (p->c->n_sections + 1) * sizeof(*v));
	if (!v) {
		free(match);
		p->oom = -ENOMEM;
		return NULL;
	}
	p->c->sections = v;
	s = &v[p->c->n_sections];
	*s = (struct section){ .kind = kind, .match = match, .line = p->line };
	s->name = strdup(name);
	if (!s->name) {
		free(match);
		p->oom = -ENOMEM;
		return NULL;
	}
	p->c->n_sections++;
	return s;
}

/* "[name]" at s: the header of a section. */
static void section_line(struct parser *p, char *s)
{
	char *close = strchr(s, ']'), *name = s + 1, *rest, *end;
	enum section_kind kind;
	char *match = NULL;
	int r;

	p->cur = -2; /* keys until the next good header are ignored */
	if (!close) {
		perror_at(p, "syntax error: '[' without ']'");
		return;
	}
	*close = '\0';
	for (rest = close + 1; isspace((unsigned char)*rest); rest++)
		;
	if (*rest && *rest != '#' && *rest != ';') {
		perror_at(p, "syntax error: text after ']'");
		return;
	}
	while (isspace((unsigned char)*name))
		name++;
	for (end = name + strlen(name); end > name && isspace((unsigned char)end[-1]);)
		*--end = '\0';
	if (!*name) {
		perror_at(p, "[]: empty section name");
		return;
	}
	r = section_classify(name, &kind, &match);
	if (r == -ENOMEM) {
		p->oom = r;
		return;
	}
	if (r < 0) {
		perror_at(p, "[%s]: not a section: expected [global], [*], a mount "
			  "point like [/srv], or [UUID=...]", name);
		return;
	}
	for (size_t i = 0; i < p->c->n_sections; i++) {
		struct section *o = &p->c->sections[i];
		bool same = o->kind == kind && o->line &&
			    (kind == SECTION_GLOBAL || kind == SECTION_ALL ||
			     strcmp(o->match, match) == 0);

		if (same && !o->duplicate) {
			perror_at(p, "[%s]: duplicate section (first at line %u)", name,
				  o->line);
			struct section *d = section_add(p, kind, name, match);
			if (d) {
				d->duplicate = true;
				p->cur = (ssize_t)(d - p->c->sections);
			}
			return;
		}
	}
	if (kind == SECTION_GLOBAL) {
		/* [global] is sections[0], present from the start. */
		free(match);
		p->c->sections[0].line = p->line;
		p->cur = 0;
		return;
	}
	if (section_add(p, kind, name, match))
		p->cur = (ssize_t)p->c->n_sections - 1;
}

/* inih's fgets: one line of the file, or an empty line for what this file
 * handles itself (section headers, errors). */
static char *reader(char *str, int num, void *stream)
{
	struct parser *p = stream;
	ssize_t n = getline(&p->buf, &p->bufsz, p->f);
	char *s;

	if (n < 0 || p->oom)
		return NULL;
	p->line++;
	while (n > 0 && (p->buf[n - 1] == '\n' || p->buf[n - 1] == '\r'))
		p->buf[--n] = '\0';
	s = p->buf;
	/* Everything after a NUL would be lost to the C strings below:
	 * "[*]\0/srv]" would read as "[*]", every filesystem. */
	if (memchr(s, '\0', (size_t)n)) {
		perror_at(p, "a NUL byte in the line");
		goto empty;
	}
	if (p->line == 1 && strncmp(s, "\xef\xbb\xbf", 3) == 0)
		s += 3; /* UTF-8 byte order mark */
	while (isspace((unsigned char)*s))
		s++;
	/* No continuation lines: every line stands alone. */
	if (!*s || *s == '#' || *s == ';')
		goto empty;
	if (*s == '[') {
		section_line(p, s);
		goto empty;
	}
	if (strlen(s) + 3 > (size_t)num) {
		perror_at(p, "line too long (at most %d characters)", num - 3);
		goto empty;
	}
	if (!strpbrk(s, "=:")) {
		perror_at(p, "syntax error: expected 'key = value', '[section]' or a "
			  "comment");
		goto empty;
	}
	snprintf(str, (size_t)num, "%s\n", s);
	return str;
empty:
	snprintf(str, (size_t)num, "\n");
	return str;
}

static const struct key *key_find(const char *name)
{
	for (size_t i = 0; i < _KEY_MAX; i++)
		if (strcmp(keys[i].name, name) == 0)
			return &keys[i];
	return NULL;
}

static int handler(void *user, const char *section, const char *name,
		   const char *value)
{
	struct parser *p = user;
	const struct key *k = key_find(name);
	struct section *s;
	char buf[512];
	const char *why;

	(void)section; /* ours is p->cur: inih truncates long names */
	if (p->cur == -2)
		return 1; /* in a section already reported as wrong */
	if (p->cur < 0) {
		perror_at(p, "%s: outside of any section (put it under [global])",
			  name);
		return 1;
	}
	s = &p->c->sections[p->cur];
	if (!k) {
		perror_at(p, "%s: unknown key", name);
		return 1;
	}
	size_t id = (size_t)(k - keys);
	if (k->global_only && s->kind != SECTION_GLOBAL) {
		perror_at(p, "%s: only allowed in [global]", name);
		return 1;
	}
	if (s->key_line[id]) {
		perror_at(p, "%s: set twice in [%s] (first at line %u)", name,
			  s->kind == SECTION_GLOBAL ? "global" : s->name,
			  s->key_line[id]);
		return 1;
	}
	why = parse_value(k, value, &s->s, buf, sizeof(buf));
	if (why) {
		perror_at(p, "%s: %s", name, why);
		return 1;
	}
	s->key_line[id] = p->line;
	return 1;
}

/* Each section: its own keys, then [global]'s, then the defaults;
 * then the command line over all of them. */
static int resolve(struct config *c, const struct overrides *o)
{
	struct settings defaults;
	struct section *g = &c->sections[0];
	int r = 0;

	settings_defaults(&defaults);
	for (size_t i = 0; i < _KEY_MAX && r >= 0; i++)
		if (!g->key_line[i])
			r = copy_value(&keys[i], &g->s, &defaults);
	for (size_t n = 1; n < c->n_sections && r >= 0; n++)
		for (size_t i = 0; i < _KEY_MAX && r >= 0; i++)
			if (!c->sections[n].key_line[i])
				r = copy_value(&keys[i], &c->sections[n].s, &g->s);
	for (size_t n = 0; o && n < c->n_sections && r >= 0; n++)
		for (size_t i = 0; i < _KEY_MAX && r >= 0; i++)
			if (o->set[i])
				r = copy_value(&keys[i], &c->sections[n].s, &o->s);
	settings_done(&defaults);
	return r;
}

int config_load(const char *path, bool missing_ok, const struct overrides *o,
		config_error_fn err, void *userdata, struct config **ret)
{
	_cleanup_(config_freep) struct config *c = calloc(1, sizeof(*c));
	_cleanup_fclose_ FILE *f = NULL;
	struct parser p = { .path = path, .cur = -1, .err = err, .userdata = userdata };
	int r;

	if (!c)
		return -ENOMEM;
	c->path = strdup(path);
	c->sections = calloc(1, sizeof(*c->sections));
	if (!c->path || !c->sections)
		return -ENOMEM;
	c->n_sections = 1;
	c->sections[0].kind = SECTION_GLOBAL;
	c->sections[0].name = strdup("global");
	if (!c->sections[0].name)
		return -ENOMEM;
	p.c = c;

	f = fopen(path, "re");
	if (!f) {
		if (errno != ENOENT || !missing_ok)
			return -errno;
		c->implicit = true;
		p.line = 0;
		if (!section_add(&p, SECTION_ALL, "*", NULL))
			return -ENOMEM;
	} else {
		p.f = f;
		r = ini_parse_stream(reader, &p, handler, &p);
		free(p.buf);
		if (p.oom)
			return p.oom;
		if (ferror(f))
			return -EIO;
		if (r > 0 && p.errors == 0) {
			p.line = (unsigned)r;
			perror_at(&p, "syntax error");
		}
		if (r == -2)
			return -ENOMEM;
		if (p.errors)
			return -EINVAL;
	}
	r = resolve(c, o);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(c);
	return 0;
}

void config_print(const struct config *c, FILE *out)
{
	fprintf(out, "# %s%s, as thinpackd reads it\n", c->path,
		c->implicit ? " (absent: every filesystem, the defaults)" : "");
	for (size_t n = 0; n < c->n_sections; n++) {
		const struct section *s = &c->sections[n];

		if (s->duplicate)
			continue;
		fprintf(out, "%s[%s]\n", n ? "\n" : "", s->name);
		for (size_t i = 0; i < _KEY_MAX; i++) {
			if (keys[i].global_only && s->kind != SECTION_GLOBAL)
				continue;
			fprintf(out, "%s = ", keys[i].name);
			print_value(&keys[i], &s->s, out);
			fputc('\n', out);
		}
	}
}

/* ---- the command line ----------------------------------------------------------- */

static char long_names[_KEY_MAX][32];

size_t config_long_options(struct option *opts, size_t max, int first_val)
{
	size_t n = 0;

	for (size_t i = 0; i < _KEY_MAX && n < max; i++) {
		char *d = long_names[i];
		const char *s = keys[i].name;

		for (; *s && d < long_names[i] + sizeof(long_names[i]) - 1; s++, d++)
			*d = *s == '_' ? '-' : *s;
		*d = '\0';
		opts[n++] = (struct option){ long_names[i], required_argument, NULL,
					     first_val + (int)i };
	}
	return n;
}

int config_override(struct overrides *o, int val, int first_val, const char *arg,
		    config_error_fn err, void *userdata)
{
	size_t i = (size_t)(val - first_val);
	char buf[512], line[1024];
	const char *why;

	if (i >= _KEY_MAX)
		return -EINVAL;
	why = parse_value(&keys[i], arg, &o->s, buf, sizeof(buf));
	if (why) {
		snprintf(line, sizeof(line), "--%s: %s", long_names[i], why);
		if (err)
			err(line, userdata);
		return -EINVAL;
	}
	o->set[i] = 1;
	return 0;
}

void config_overrides_done(struct overrides *o)
{
	settings_done(&o->s);
}

void config_print_keys(FILE *out)
{
	for (size_t i = 0; i < _KEY_MAX; i++) {
		char opt[512];

		snprintf(opt, sizeof(opt), "--%s %s", long_names[i][0] ? long_names[i] :
				 keys[i].name, keys[i].arg);
		fprintf(out, "  %-30s %s (default %s)\n", opt, keys[i].help,
			keys[i].def ? keys[i].def : "see thinpackd.conf(5)");
	}
}
