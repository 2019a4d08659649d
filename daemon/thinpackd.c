/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * thinpackd: keep the thin pools under mounted ext4 filesystems compact,
 * in the background, at idle priority, within an I/O rate and a time
 * budget, yielding to I/O pressure.
 *
 * One thread.  Signals are blocked and read from a signalfd: in the main
 * loop's poll(), and between two victims of a pass (signals.h).  The
 * modules are listed in model.h.
 */

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "config.h"
#include "model.h"
#include "basic/cleanup.h"
#include "clock.h"
#include "conf.h"
#include "discover.h"
#include "journal.h"
#include "keys.h"
#include "notify.h"
#include "publish.h"
#include "scheduler.h"
#include "signals.h"

#define IOPRIO_CLASS_IDLE 3
#define IOPRIO_CLASS_SHIFT 13
#define IOPRIO_WHO_PROCESS 1

/* The longest the main loop sleeps without looking at the clock again
 * (a suspend, a clock change). */
#define MAX_SLEEP_S 60.0

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: %s [OPTIONS]\n"
		"\n"
		"Keep the thin pools under mounted ext4 filesystems compact: every\n"
		"interval, move the data of cold files out of the emptiest clusters\n"
		"and trim them, slowly, at idle priority, yielding to I/O pressure.\n"
		"\n"
		"Options:\n"
		"  -c, --config FILE   configuration (default %s)\n"
		"  -f, --foreground    log to stderr, not to the journal\n"
		"      --oneshot       one pass on each filesystem now, then exit\n"
		"      --check-config  check the configuration, print it as read\n"
		"  -h, --help          show this help\n"
		"  -V, --version       show the version\n"
		"\n"
		"Settings, over every section of the configuration:\n",
		program_invocation_short_name, TPD_DEFAULT_CONFIG);
	keys_print_help(out);
	fprintf(out,
		"\n"
		"Signals: SIGHUP reloads the configuration, SIGTERM stops between two\n"
		"moves.  Exit status: 0 done what could be done; 1 the admin must act:\n"
		"a filesystem named in the configuration cannot be compacted, or moves\n"
		"failed with I/O errors (--oneshot); 4 operational error; 8 usage or\n"
		"configuration error; 16 a filesystem was held by another run and\n"
		"left to it (--oneshot).  See thinpackd(8).\n");
}

static void print_error(const char *line, void *userdata)
{
	int priority = userdata ? *(int *)userdata : LOG_ERR;

	log_line(priority, line);
}

static void print_stderr(const char *line, void *userdata)
{
	(void)userdata;
	fprintf(stderr, "%s\n", line);
}

/* "$VAR" (the first of a colon-separated list) or fallback, created. */
static int directory(const char *var, const char *fallback, char **ret)
{
	const char *e = getenv(var);
	char *dir = e && *e ? strndup(e, strcspn(e, ":")) : strdup(fallback);

	if (!dir)
		return -ENOMEM;
	for (char *s = dir + 1;; s++) {
		char c = *s;
		if (c != '/' && c != '\0')
			continue;
		*s = '\0';
		if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
			int r = -errno;
			*s = c;
			log_error("cannot create %s: %s", dir, strerror(-r));
			free(dir);
			return r;
		}
		*s = c;
		if (!c)
			break;
	}
	*ret = dir;
	return 0;
}

/* Idle I/O class and nice 19 (the unit sets both too: this is for a
 * thinpackd started by hand). */
static void lower_priority(void)
{
	long prio = syscall(SYS_ioprio_get, IOPRIO_WHO_PROCESS, 0);

	if ((prio < 0 || prio >> IOPRIO_CLASS_SHIFT != IOPRIO_CLASS_IDLE) &&
	    syscall(SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0,
		    IOPRIO_CLASS_IDLE << IOPRIO_CLASS_SHIFT) < 0)
		log_warning("cannot use the idle I/O scheduling class: %s",
			    strerror(errno));
	errno = 0;
	if (getpriority(PRIO_PROCESS, 0) < 19 && setpriority(PRIO_PROCESS, 0, 19) < 0)
		log_warning("cannot lower the CPU priority: %s", strerror(errno));
}

static void reload(struct daemon *d)
{
	struct config *c = NULL;
	int priority = LOG_ERR, r;

	d->reload = false;
	notify_reloading("reloading the configuration");
	log_info("reloading %s", d->config_path);
	r = config_load(d->config_path, !d->config_explicit, d->overrides,
			print_error, &priority, &c);
	if (r < 0) {
		if (r != -EINVAL)
			log_error("%s: cannot read: %s", d->config_path, strerror(-r));
		log_error("%s is wrong: keeping the configuration loaded before",
			  d->config_path);
		d->reload_failures++;
	} else {
		config_free(d->config);
		d->config = c;
		d->config_loaded = tp_realtime();
		d->reloads++;
		r = discover(d);
		if (r < 0)
			log_error("cannot apply the new configuration: %s", strerror(-r));
	}
	publish(d, true, true);
	_cleanup_free_ char *line = publish_status_line(d);
	notify_ready(line);
}

static int oneshot(struct daemon *d)
{
	int code = TPD_EXIT_OK;

	for (size_t i = 0; i < d->n_fs && !d->stop; i++) {
		struct fsent *f = d->fs[i];

		/* Only a section that names it makes a filesystem blocked
		 * ([*] takes only those that can be compacted): the
		 * configuration asks for what cannot be done. */
		if (f->blocked) {
			code |= TPD_EXIT_ACTION;
			continue;
		}
		int r = scheduler_run_pass(d, f);
		const struct pass_info *l = &f->st.last;
		if (r == -EBUSY)
			code |= TPD_EXIT_BUSY;
		else if (r < 0 && l->result == PASS_ERROR)
			code |= TPD_EXIT_OPERATIONAL;
		/* As thinpack compact: moves that failed with an I/O error or
		 * did not verify need someone to look at the device. */
		if (r != -EBUSY && l->io_errors)
			code |= TPD_EXIT_ACTION;
		publish(d, true, true);
		d->reload = false; /* no reloads in a one-shot run */
	}
	/* Clusters left behind, a budget or SIGTERM that ended a pass: done
	 * what could be done (the status file and the log say what). */
	return code;
}

static int run(struct daemon *d)
{
	_cleanup_free_ char *line = NULL;

	publish(d, true, true);
	line = publish_status_line(d);
	notify_ready(line);
	log_info("ready: %zu filesystem%s to keep compact", d->n_fs,
		 d->n_fs == 1 ? "" : "s");

	for (;;) {
		double wait = MAX_SLEEP_S;
		struct fsent *f;

		signals_read(d);
		if (d->stop)
			break;
		if (d->reload)
			reload(d);
		if (d->mounts_changed) {
			if (discover(d) < 0)
				log_error("cannot read the mount table");
			publish(d, true, true);
		}
		f = scheduler_next(d, &wait);
		if (f && wait <= 0) {
			scheduler_run_pass(d, f);
			publish(d, true, true);
			continue;
		}
		if (!f || wait > MAX_SLEEP_S)
			wait = MAX_SLEEP_S;
		uint64_t wd = notify_watchdog_period_usec();
		if (wd && (double)wd / 1e6 < wait)
			wait = (double)wd / 1e6;

		struct pollfd p[2] = {
			{ .fd = d->signal_fd, .events = POLLIN },
			{ .fd = d->mountinfo_fd, .events = POLLPRI },
		};
		if (poll(p, d->mountinfo_fd >= 0 ? 2 : 1, (int)ceil(wait * 1000)) < 0 &&
		    errno != EINTR)
			return log_error_errno(-errno, "poll failed");
		if (d->mountinfo_fd >= 0 && (p[1].revents & (POLLPRI | POLLERR)))
			d->mounts_changed = true;
		notify_watchdog();
		publish(d, false, false);
	}
	notify_stopping("stopping");
	d->stopped = true;
	publish(d, true, true);
	log_info("stopped");
	return 0;
}

int main(int argc, char **argv)
{
	enum { OPT_ONESHOT = 256, OPT_CHECK_CONFIG, OPT_KEYS = 1000 };
	static struct option longopts[32] = {
		{ "config", required_argument, NULL, 'c' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "oneshot", no_argument, NULL, OPT_ONESHOT },
		{ "check-config", no_argument, NULL, OPT_CHECK_CONFIG },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
	};
	struct overrides o = { 0 };
	struct daemon d = {
		.config_path = TPD_DEFAULT_CONFIG,
		.signal_fd = -1,
		.mountinfo_fd = -1,
		.overrides = &o,
	};
	bool check_only = false;
	int c, r, code = TPD_EXIT_OK;

	size_t n = 6;
	n += keys_long_options(longopts + n, ELEMENTSOF(longopts) - n - 1, OPT_KEYS);
	longopts[n] = (struct option){ 0 };

	while ((c = getopt_long(argc, argv, "c:fhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			d.config_path = optarg;
			d.config_explicit = true;
			break;
		case 'f':
			d.foreground = true;
			break;
		case OPT_ONESHOT:
			d.oneshot = true;
			break;
		case OPT_CHECK_CONFIG:
			check_only = true;
			break;
		case 'h':
			usage(stdout);
			return TPD_EXIT_OK;
		case 'V':
			printf("%s %s\n", PACKAGE_NAME, PACKAGE_VERSION);
			return TPD_EXIT_OK;
		default:
			if (c >= OPT_KEYS && c < OPT_KEYS + _KEY_MAX) {
				if (overrides_set(&o, c, OPT_KEYS, optarg, print_stderr,
						    NULL) < 0) {
					overrides_done(&o);
					return TPD_EXIT_CONFIG;
				}
				break;
			}
			usage(stderr);
			overrides_done(&o);
			return TPD_EXIT_CONFIG;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "%s: unexpected argument '%s'\n",
			program_invocation_short_name, argv[optind]);
		overrides_done(&o);
		return TPD_EXIT_CONFIG;
	}

	journal_setup(d.foreground || check_only);
	r = config_load(d.config_path, !d.config_explicit, &o,
			check_only ? print_stderr : print_error, NULL, &d.config);
	if (r < 0) {
		if (r == -EINVAL && !check_only)
			log_error("%s is wrong: not starting", d.config_path);
		else if (r != -EINVAL)
			log_error("%s: cannot read: %s", d.config_path, strerror(-r));
		overrides_done(&o);
		return TPD_EXIT_CONFIG;
	}
	if (check_only) {
		config_print(d.config, stdout);
		config_free(d.config);
		overrides_done(&o);
		return fflush(stdout) == 0 ? TPD_EXIT_OK : TPD_EXIT_OPERATIONAL;
	}
	if (d.config->implicit)
		log_notice("%s does not exist: compacting every mounted ext4 on a "
			   "discard-capable device ([*]) with the defaults",
			   d.config_path);

	d.started = d.config_loaded = tp_realtime();
	if (directory("RUNTIME_DIRECTORY", TPD_DEFAULT_RUNTIME_DIR, &d.runtime_dir) < 0 ||
	    directory("STATE_DIRECTORY", TPD_DEFAULT_STATE_DIR, &d.state_dir) < 0 ||
	    asprintf(&d.status_path, "%s/status.json", d.runtime_dir) < 0) {
		code = TPD_EXIT_OPERATIONAL;
		goto out;
	}
	r = signals_setup(&d);
	if (r < 0) {
		log_error_errno(r, "cannot set up the signals");
		code = TPD_EXIT_OPERATIONAL;
		goto out;
	}
	lower_priority();
	notify_setup();
	d.mountinfo_fd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
	if (d.mountinfo_fd < 0)
		log_warning("cannot watch /proc/self/mountinfo (%s): filesystems "
			    "mounted later are seen only on reload", strerror(errno));
	r = discover(&d);
	if (r < 0) {
		code = TPD_EXIT_OPERATIONAL;
		goto out;
	}
	if (d.oneshot)
		code = oneshot(&d);
	else if (run(&d) < 0)
		code = TPD_EXIT_OPERATIONAL;
out:
	daemon_free_fs(&d);
	config_free(d.config);
	overrides_done(&o);
	tp_safe_close(d.signal_fd);
	tp_safe_close(d.mountinfo_fd);
	free(d.runtime_dir);
	free(d.state_dir);
	free(d.status_path);
	return code;
}
