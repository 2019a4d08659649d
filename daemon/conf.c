/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * thinpackd.conf, read with inih; its keys are those of keys.c.
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
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "conf.h"
#include "basic/cleanup.h"

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

static int handler(void *user, const char *section, const char *name,
		   const char *value)
{
	struct parser *p = user;
	int id = key_from_name(name);
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
	if (id < 0) {
		perror_at(p, "%s: unknown key", name);
		return 1;
	}
	if (key_global_only(id) && s->kind != SECTION_GLOBAL) {
		perror_at(p, "%s: only allowed in [global]", name);
		return 1;
	}
	if (s->key_line[id]) {
		perror_at(p, "%s: set twice in [%s] (first at line %u)", name,
			  s->kind == SECTION_GLOBAL ? "global" : s->name,
			  s->key_line[id]);
		return 1;
	}
	why = key_parse(id, value, &s->s, buf, sizeof(buf));
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
			r = key_copy(i, &g->s, &defaults);
	for (size_t n = 1; n < c->n_sections && r >= 0; n++)
		for (size_t i = 0; i < _KEY_MAX && r >= 0; i++)
			if (!c->sections[n].key_line[i])
				r = key_copy(i, &c->sections[n].s, &g->s);
	for (size_t n = 0; o && n < c->n_sections && r >= 0; n++)
		for (size_t i = 0; i < _KEY_MAX && r >= 0; i++)
			if (o->set[i])
				r = key_copy(i, &c->sections[n].s, &o->s);
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
			if (key_global_only(i) && s->kind != SECTION_GLOBAL)
				continue;
			fprintf(out, "%s = ", key_name(i));
			key_print(i, &s->s, out);
			fputc('\n', out);
		}
	}
}

