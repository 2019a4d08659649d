/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The keys of thinpackd.conf: one table feeds the file (conf.c), the
 * command line (--io-rate 4M), --check-config's listing and --help.  Each
 * key has its type, which parses, copies and prints its value the same
 * way wherever it comes from.
 */

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"
#include "basic/cleanup.h"
#include "throttle.h"

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
	[KEY_POOL_MARGIN] = { "pool_margin", T_PERCENT, false, OFF(pool_margin), 0, 99,
			      "5", "PERCENT",
			      "skip a dm-thin pool with less free data space" },
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
			       "Prometheus text file (thinpack.prom in node_exporter's "
			       "textfile directory, or the runtime directory)" },
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
		/* As thinpack compact --io-rate reads it (lib/throttle.h). */
		int r = tp_throttle_parse_rate(v, &u);

		if (r == -ENOMEM)
			return "out of memory";
		if (r < 0) {
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

		/* As thinpack compact --pressure-limit reads it. */
		if (tp_throttle_parse_pressure(v, &x) < 0) {
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
		if (tp_parse_size(v, &u) < 0 || u < 512 || u % 512) {
			snprintf(buf, bufsz, "'%s' is not a multiple of 512 bytes "
				 "(like 64K, 192K, 1M or 4M), or auto", v);
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
	       a->pool_margin == b->pool_margin &&
	       a->io_rate == b->io_rate && a->pass_budget == b->pass_budget &&
	       a->pressure_limit == b->pressure_limit &&
	       a->granularity == b->granularity &&
	       a->placement.mode == b->placement.mode &&
	       a->placement.fallocate2_nr == b->placement.fallocate2_nr &&
	       a->trim == b->trim;
}

void settings_defaults(struct settings *s)
{
	char buf[256];

	*s = (struct settings){ 0 };
	for (size_t i = 0; i < _KEY_MAX; i++)
		if (keys[i].def)
			(void)parse_value(&keys[i], keys[i].def, s, buf, sizeof(buf));
}

/* ---- one key -------------------------------------------------------------------- */

int key_from_name(const char *name)
{
	for (size_t i = 0; i < _KEY_MAX; i++)
		if (strcmp(keys[i].name, name) == 0)
			return (int)i;
	return -ENOENT;
}

const char *key_name(enum key_id id)
{
	return keys[id].name;
}

bool key_global_only(enum key_id id)
{
	return keys[id].global_only;
}

const char *key_parse(enum key_id id, const char *v, struct settings *s,
		      char *buf, size_t bufsz)
{
	return parse_value(&keys[id], v, s, buf, bufsz);
}

int key_copy(enum key_id id, struct settings *dst, const struct settings *src)
{
	return copy_value(&keys[id], dst, src);
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

void key_print(enum key_id id, const struct settings *s, FILE *out)
{
	const struct key *k = &keys[id];
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

/* ---- the command line ----------------------------------------------------------- */

static char long_names[_KEY_MAX][32];

size_t keys_long_options(struct option *opts, size_t max, int first_val)
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

int overrides_set(struct overrides *o, int val, int first_val, const char *arg,
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

void overrides_done(struct overrides *o)
{
	settings_done(&o->s);
}

void keys_print_help(FILE *out)
{
	for (size_t i = 0; i < _KEY_MAX; i++) {
		char opt[512];

		snprintf(opt, sizeof(opt), "--%s %s", long_names[i][0] ? long_names[i] :
				 keys[i].name, keys[i].arg);
		fprintf(out, "  %-30s %s (default %s)\n", opt, keys[i].help,
			keys[i].def ? keys[i].def : "see thinpackd.conf(5)");
	}
}
