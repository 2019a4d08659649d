/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * thinpackd: the service that keeps thin pools compact.  It only
 * schedules -- which filesystem, when, how fast; tp_compact() does the
 * work.
 *
 *   config.c     the option table, thinpackd.conf (inih), the command line
 *   scheduler.c  the filesystems to compact, their passes, pace()
 *   state.c      what survives a restart, per filesystem UUID
 *   metrics.c    the Prometheus text file and the status JSON
 *   notify.c     sd_notify: READY, STATUS, WATCHDOG, RELOADING, STOPPING
 *   log.c        the journal, with fields; stderr in the foreground
 */
#ifndef TP_DAEMON_THINPACKD_H
#define TP_DAEMON_THINPACKD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <syslog.h>

#include "thinpack/thinpack.h"
#include "basic/macros.h"

/* Exit codes, as thinpack(8): 0 done, 1 work left, 4 operational error,
 * 8 usage or configuration error. */
enum {
	TPD_EXIT_OK = 0,
	TPD_EXIT_WORK_LEFT = 1,
	TPD_EXIT_OPERATIONAL = 4,
	TPD_EXIT_CONFIG = 8,
};

#define TPD_DEFAULT_CONFIG SYSCONFDIR "/thinpack/thinpackd.conf"
#define TPD_DEFAULT_RUNTIME_DIR "/run/thinpack"
#define TPD_DEFAULT_STATE_DIR "/var/lib/thinpack"

/* ---- log.c ------------------------------------------------------------------ */

/* To the journal (with fields) unless foreground, or no journal socket. */
void log_setup(bool foreground);
bool log_to_journal(void);
void log_msg(int priority, const char *fmt, ...) _printf_(2, 3);
/* A message about one filesystem, with THINPACK_FILESYSTEM, THINPACK_UUID
 * and, when bytes or clusters are not UINT64_MAX, THINPACK_BYTES and
 * THINPACK_CLUSTERS. */
void log_fs(int priority, const char *mountpoint, const char *uuid,
	    uint64_t clusters, uint64_t bytes, const char *fmt, ...) _printf_(6, 7);
/* A line as it is, with no program name (configuration errors). */
void log_line(int priority, const char *line);
#define log_error(...) log_msg(LOG_ERR, __VA_ARGS__)
#define log_warning(...) log_msg(LOG_WARNING, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_NOTICE, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
int log_error_errno(int r, const char *fmt, ...) _printf_(2, 3);

/* ---- config.c --------------------------------------------------------------- */

struct placement_setting {
	enum tp_placement mode;
	long fallocate2_nr; /* -1: ask the kernel */
};

/* What a filesystem is compacted with.  One key of the table each. */
struct settings {
	uint64_t interval;    /* seconds between two passes */
	uint64_t min_age;     /* seconds */
	unsigned max_usage;   /* percent */
	unsigned slack;       /* percent */
	uint64_t io_rate;     /* bytes moved per second; 0: no limit */
	uint64_t pass_budget; /* seconds; 0: no limit */
	double pressure_limit; /* percent of "some avg10"; < 0: off */
	uint64_t granularity; /* bytes; 0: the device's (sysfs) */
	struct placement_setting placement;
	bool trim;
	char *metrics_file;   /* [global] only; NULL: default, "": none */
};

enum section_kind {
	SECTION_GLOBAL, /* [global] */
	SECTION_ALL,    /* [*] */
	SECTION_PATH,   /* [/srv] */
	SECTION_UUID,   /* [UUID=...] */
};

enum key_id {
	KEY_INTERVAL,
	KEY_MIN_AGE,
	KEY_MAX_USAGE,
	KEY_SLACK,
	KEY_IO_RATE,
	KEY_PASS_BUDGET,
	KEY_PRESSURE_LIMIT,
	KEY_GRANULARITY,
	KEY_PLACEMENT,
	KEY_TRIM,
	KEY_METRICS_FILE,
	_KEY_MAX,
};

struct section {
	enum section_kind kind;
	char *name;      /* as written in the brackets */
	char *match;     /* normalized mount point, or lower-case UUID */
	unsigned line;
	unsigned key_line[_KEY_MAX]; /* where each key was set; 0: not set */
	bool duplicate;  /* ignored: reported */
	bool unmounted_said; /* names no mounted filesystem: said once */
	struct settings s; /* resolved: own keys, then [global], then defaults */
};

struct config {
	char *path;
	bool implicit;   /* no file: [*] with the defaults */
	struct section *sections; /* [0] is [global], written or not */
	size_t n_sections;
};

/* Values given on the command line: they win over every section. */
struct overrides {
	unsigned set[_KEY_MAX]; /* non-zero: given */
	struct settings s;
};

/* Errors are "FILE:LINE: key: what is wrong", one line each, passed to
 * the caller's function. */
typedef void (*config_error_fn)(const char *line, void *userdata);

/* Load path.  missing_ok: a file that does not exist is [*] with the
 * defaults.  -EINVAL after reporting errors, -errno when unreadable. */
int config_load(const char *path, bool missing_ok, const struct overrides *o,
		config_error_fn err, void *userdata, struct config **ret);
struct config *config_free(struct config *c);
void settings_done(struct settings *s);
int settings_copy(struct settings *dst, const struct settings *src);
bool settings_equal(const struct settings *a, const struct settings *b);
const struct section *config_global(const struct config *c);
/* The section for a filesystem: by UUID, by mount point, then [*] (when
 * all is true: fstab does not opt it out).  NULL: not configured. */
const struct section *config_match(const struct config *c, const char *uuid,
				   const char *mountpoint, bool all);
/* s is [UUID=uuid] or [mountpoint] (not a duplicate). */
bool section_names(const struct section *s, const char *uuid, const char *mountpoint);
/* Print the configuration as thinpackd reads it. */
void config_print(const struct config *c, FILE *out);

/* The command line: --interval 1h and so on, from the same table. */
struct option;
size_t config_long_options(struct option *opts, size_t max, int first_val);
int config_override(struct overrides *o, int val, int first_val,
		    const char *arg, config_error_fn err, void *userdata);
void config_overrides_done(struct overrides *o);
void config_print_keys(FILE *out);

/* Formatting of values, shared with status and logs. */
const char *format_pressure(double p, char buf[static 32]);

/* ---- state.c ------------------------------------------------------------------ */

struct totals {
	uint64_t passes, passes_stopped, pass_errors;
	uint64_t moved_bytes, moves, clusters_emptied;
	uint64_t trimmed_bytes, discarded_bytes;
	uint64_t placement_attempts, placement_exact, placement_missed;
	uint64_t placement_reservoir;
	uint64_t skipped[_TP_SKIP_MAX];
	double pass_s, yield_s;
};

enum pass_result {
	PASS_NONE,    /* no pass yet */
	PASS_RUNNING,
	PASS_DONE,    /* nothing left that this pass could do */
	PASS_STOPPED, /* by the time budget, a reload or a shutdown */
	PASS_ERROR,
};
const char *pass_result_to_string(enum pass_result r);

enum stop_reason {
	STOP_NONE,
	STOP_BUDGET,   /* pass_budget ran out */
	STOP_SHUTDOWN, /* SIGTERM, SIGINT */
	STOP_RELOAD,   /* SIGHUP */
};
const char *stop_reason_to_string(enum stop_reason r);

struct pass_info {
	double start, end; /* realtime seconds; end 0 while it runs */
	enum pass_result result;
	enum stop_reason stop;
	uint64_t moved_bytes, moves, victims, clusters_emptied, victims_failed;
	uint64_t trimmed_bytes;
	uint64_t granularity;
	double yield_s;
	char *error;
};

struct failed_cluster {
	uint64_t cluster; /* on the whole device */
	int64_t since;    /* realtime seconds */
};

struct fs_state {
	struct totals t;
	struct pass_info last;
	struct failed_cluster *failed;
	size_t n_failed;
};

int state_load(const char *dir, const char *uuid, struct fs_state *ret,
	       bool *ret_future);
/* What is wrong with a state file that state_load() or state_save()
 * refused. */
const char *state_strerror(int r);
int state_save(const char *dir, const char *uuid, const char *mountpoint,
	       const struct fs_state *st);
void state_done(struct fs_state *st);
/* The totals as the state file and the status JSON carry them. */
struct json_object *totals_to_json(const struct totals *t);
void pass_info_done(struct pass_info *p);

/* ---- notify.c ---------------------------------------------------------------- */

void notify_setup(void);
/* Every WATCHDOG_USEC / 2 at least: 0 when there is no watchdog. */
uint64_t notify_watchdog_period_usec(void);
void notify_watchdog(void);   /* WATCHDOG=1, when due */
void notify_ready(const char *status);
void notify_reloading(const char *status);
void notify_stopping(const char *status);
/* STATUS=, at most once a second unless force. */
void notify_status(const char *status, bool force);

/* ---- scheduler.c -------------------------------------------------------------- */

enum fs_phase {
	PHASE_IDLE,
	PHASE_WAITING,  /* for I/O pressure to fall before a pass */
	PHASE_SCAN,
	PHASE_PLAN,
	PHASE_MOVE,
	PHASE_YIELD,    /* pressure above the limit: no moves */
	PHASE_TRIM,
};
const char *fs_phase_to_string(enum fs_phase p);

struct fsent {
	char *mountpoint, *device, *uuid, *section;
	dev_t devno;
	struct settings s;
	bool present;     /* in the mount table now */
	bool blocked;     /* read-only, not ext4, no discard: no passes */
	char *problem;    /* why it is not compacted, or NULL */
	bool unsaved;     /* its state could not be saved: said once */
	double next_due;  /* realtime seconds */
	struct fs_state st;
	struct pass_info pass; /* in progress (result PASS_RUNNING) */
	enum fs_phase phase;
	uint64_t phase_done, phase_total;
	uint64_t granularity;  /* of the last pass */
	const char *granularity_source;
	size_t n_skipping;     /* failed clusters left out of passes now */
	double pressure;       /* last "some avg10" read; < 0: unknown */
};

struct daemon {
	struct config *config;
	const char *config_path;
	bool config_explicit;
	const struct overrides *overrides;
	bool foreground, oneshot;
	char *state_dir, *runtime_dir, *status_path;

	struct fsent **fs;
	size_t n_fs;
	struct fsent *active; /* the one with a pass running */

	int signal_fd;
	int mountinfo_fd;
	bool stop, reload, mounts_changed;
	bool stopped;     /* the last status: it is exiting */
	double started;   /* realtime */
	double config_loaded;
	unsigned reloads, reload_failures;
	int exit_code;    /* --oneshot */
};

int scheduler_discover(struct daemon *d);
/* The filesystem whose pass is due first, or NULL; *ret_wait: seconds
 * until it is due (0: now). */
struct fsent *scheduler_next(struct daemon *d, double *ret_wait);
int scheduler_run_pass(struct daemon *d, struct fsent *f);
void scheduler_free(struct daemon *d);
/* Read signals that arrived (non-blocking): sets d->stop, d->reload. */
void daemon_read_signals(struct daemon *d);
/* The STATUS= line of the moment. */
char *daemon_status_line(const struct daemon *d);
/* Write the status JSON (at most every 0.2 s unless force) and, when
 * metrics, the Prometheus file. */
void daemon_publish(struct daemon *d, bool force, bool metrics);

/* ---- metrics.c ---------------------------------------------------------------- */

int metrics_write(const struct daemon *d, const char *path);
int status_write(const struct daemon *d, const char *path);

/* ---- helpers ------------------------------------------------------------------- */

double now_realtime(void);
double now_monotonic(void);
/* Write data to path through a temporary file and rename(2). */
int write_file_atomic(const char *path, const char *data, size_t len,
		      mode_t mode);
/* "/proc/pressure/io" "some avg10", percent; -errno when unavailable. */
int pressure_io_some_avg10(double *ret);

#endif
