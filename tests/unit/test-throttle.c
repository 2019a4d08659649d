/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests of the throttles (lib/throttle.c), on the real clock with
 * short times: the rate's schedule, the budget ending a run and a wait on
 * time, the pressure read from a file the test writes (above the limit:
 * no return until it falls or the budget ends the wait; at or below: at
 * once; unreadable: ignored, said once), a stop from the caller, and the
 * values administrators write.
 */

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "unit.h"

#include "throttle.h"

struct seen {
	unsigned events[TP_THROTTLE_NO_PSI + 1];
	unsigned checks, alive;
	int stop_after; /* check() stops from this call on (0: never) */
	const char *psi;  /* rewritten on the first poll of a wait, when set */
	const char *fall_to;
};

static void on_event(const struct tp_throttle *t, enum tp_throttle_event ev,
		     void *userdata)
{
	struct seen *s = userdata;

	(void)t;
	s->events[ev]++;
	if (ev == TP_THROTTLE_YIELD_POLL && s->fall_to && s->events[ev] == 2) {
		FILE *f = fopen(s->psi, "we");
		assert_non_null(f);
		fputs(s->fall_to, f);
		fclose(f);
	}
}

static int check(void *userdata)
{
	struct seen *s = userdata;

	s->checks++;
	return s->stop_after && s->checks >= (unsigned)s->stop_after ? -ECANCELED : 0;
}

static void alive(void *userdata)
{
	((struct seen *)userdata)->alive++;
}

static void init(struct tp_throttle *t, struct seen *s)
{
	*t = (struct tp_throttle){
		.pressure_limit = TP_THROTTLE_OFF,
		.wake_fd = -1,
		.check = check,
		.alive = alive,
		.event = on_event,
		.userdata = s,
	};
}

static void write_psi(const char *path, const char *text)
{
	FILE *f = fopen(path, "we");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

#define PSI_HIGH "some avg10=42.50 avg60=10.00 avg300=2.00 total=123\n" \
		 "full avg10=30.00 avg60=8.00 avg300=1.00 total=100\n"
#define PSI_LOW "some avg10=3.00 avg60=10.00 avg300=2.00 total=123\n" \
		"full avg10=1.00 avg60=8.00 avg300=1.00 total=100\n"

static void test_off(void **state)
{
	struct tp_throttle t;
	struct seen s = { 0 };

	(void)state;
	init(&t, &s);
	assert_false(tp_throttle_active(&t));
	tp_throttle_start(&t);
	double t0 = tp_monotonic();
	for (uint64_t b = 0; b < 100 * MiB; b += MiB)
		assert_int_equal(tp_throttle_pace(b, &t), 0);
	assert_true(tp_monotonic() - t0 < 0.1);
	assert_int_equal(s.checks, 100);
	assert_int_equal(s.alive, 100);
	assert_int_equal(s.events[TP_THROTTLE_PRESSURE], 0);
}

/* 1 MiB/s: four victims of 300 KiB, each paid for before the next one
 * starts, take 1.17 s; the run starts with no credit. */
static void test_rate(void **state)
{
	struct tp_throttle t;
	struct seen s = { 0 };

	(void)state;
	init(&t, &s);
	t.io_rate = MiB;
	assert_true(tp_throttle_active(&t));
	tp_throttle_start(&t);
	double t0 = tp_monotonic();
	for (uint64_t b = 0; b <= 4 * 300 * KiB; b += 300 * KiB)
		assert_int_equal(tp_throttle_pace(b, &t), 0);
	double el = tp_monotonic() - t0;
	double want = 4 * 300.0 / 1024;
	if (el < want - 0.1 - 0.02 || el > want + 0.3)
		fail_msg("1200 KiB at 1 MiB/s took %.3f s, want %.3f s", el, want);
	assert_true(t.rate_s > want - 0.15);
	assert_false(t.expired);
}

/* A rate the run did not keep up with earns no credit beyond a tenth of a
 * second: after a long pause (a scan), the next MiB still takes its time. */
static void test_rate_no_credit(void **state)
{
	struct tp_throttle t;
	struct seen s = { 0 };

	(void)state;
	init(&t, &s);
	t.io_rate = 4 * MiB;
	tp_throttle_start(&t);
	usleep(500000);
	double t0 = tp_monotonic();
	assert_int_equal(tp_throttle_pace(0, &t), 0);
	assert_int_equal(tp_throttle_pace(MiB, &t), 0);
	double el = tp_monotonic() - t0;
	if (el < 0.25 - 0.1 - 0.02)
		fail_msg("1 MiB at 4 MiB/s after a pause took %.3f s", el);
}

/* The budget: pace() goes on until it is spent, then -ETIME, said once;
 * a sleep for the rate ends on time at the deadline. */
static void test_budget(void **state)
{
	struct tp_throttle t;
	struct seen s = { 0 };
	int r;

	(void)state;
	init(&t, &s);
	t.budget_s = 1;
	t.io_rate = 100 * KiB;
	tp_throttle_start(&t);
	assert_true(t.deadline > t.start);
	/* 10 MiB at 100 KiB/s would take 100 s. */
	r = tp_throttle_pace(0, &t);
	assert_int_equal(r, 0);
	r = tp_throttle_pace(10 * MiB, &t);
	double el = tp_monotonic() - t.start;
	assert_int_equal(r, -ETIME);
	assert_true(t.expired);
	if (el < 1.0 || el > 1.3)
		fail_msg("the budget of 1 s ended the wait after %.3f s", el);
	assert_int_equal(tp_throttle_pace(10 * MiB, &t), -ETIME);
	assert_int_equal(s.events[TP_THROTTLE_EXPIRED], 1);
}

/* The caller's stop comes before the budget and ends a sleep. */
static void test_check_stops(void **state)
{
	struct tp_throttle t;
	struct seen s = { .stop_after = 4 };

	(void)state;
	init(&t, &s);
	t.io_rate = KiB;
	t.budget_s = 1;
	tp_throttle_start(&t);
	double t0 = tp_monotonic();
	assert_int_equal(tp_throttle_pace(0, &t), 0);
	/* A sleep of 1000 s, checked four times a second: the fourth
	 * check, a quarter of a second into it, stops it. */
	assert_int_equal(tp_throttle_pace(MiB, &t), -ECANCELED);
	double el = tp_monotonic() - t0;
	if (el < 0.2 || el > 0.7)
		fail_msg("a stop ended the sleep after %.3f s, want 0.25 s", el);
	assert_false(t.expired);
	assert_int_equal(s.alive, 3);
}

static char psi_path[] = "/tmp/thinpack-test-throttle.XXXXXX";

static void test_pressure(void **state)
{
	struct tp_throttle t;
	struct seen s = { .psi = psi_path, .fall_to = PSI_LOW };

	(void)state;
	init(&t, &s);
	t.psi_path = psi_path;
	t.pressure_limit = 10;
	write_psi(psi_path, PSI_LOW);
	tp_throttle_start(&t);
	/* Below the limit: at once. */
	assert_int_equal(tp_throttle_pace(0, &t), 0);
	assert_true(t.pressure == 3.0);
	assert_int_equal(s.events[TP_THROTTLE_YIELD_START], 0);
	/* Above: a second at a time until it falls (on_event lowers it
	 * before the second sleep). */
	write_psi(psi_path, PSI_HIGH);
	double t0 = tp_monotonic();
	assert_int_equal(tp_throttle_pace(0, &t), 0);
	double el = tp_monotonic() - t0;
	if (el < 1.9 || el > 2.6)
		fail_msg("waited %.3f s for the pressure, want 2 s", el);
	assert_int_equal(s.events[TP_THROTTLE_YIELD_START], 1);
	assert_int_equal(s.events[TP_THROTTLE_YIELD_POLL], 2);
	assert_int_equal(s.events[TP_THROTTLE_YIELD_SLEPT], 2);
	assert_int_equal(s.events[TP_THROTTLE_YIELD_END], 1);
	assert_true(t.yield_s >= 1.9);
	assert_false(t.yielding);
	assert_true(t.pressure == 3.0);
}

/* A limit of 0 waits out any pressure at all; 100 none; the budget ends
 * a wait. */
static void test_pressure_limits(void **state)
{
	struct tp_throttle t;
	struct seen s = { 0 };

	(void)state;
	init(&t, &s);
	t.psi_path = psi_path;
	write_psi(psi_path, PSI_HIGH);
	t.pressure_limit = 100;
	tp_throttle_start(&t);
	assert_int_equal(tp_throttle_pressure(&t), 0);
	assert_int_equal(s.events[TP_THROTTLE_YIELD_START], 0);

	write_psi(psi_path, "some avg10=0.01 avg60=0.00 avg300=0.00 total=1\n");
	t.pressure_limit = 0;
	t.budget_s = 1;
	tp_throttle_start(&t);
	assert_int_equal(tp_throttle_pressure(&t), -ETIME);
	assert_true(t.expired);
	assert_int_equal(s.events[TP_THROTTLE_YIELD_START], 1);
	assert_int_equal(s.events[TP_THROTTLE_YIELD_END], 1);

	write_psi(psi_path, "some avg10=0.00 avg60=0.00 avg300=0.00 total=1\n");
	tp_throttle_start(&t);
	assert_int_equal(tp_throttle_pressure(&t), 0);
	assert_int_equal(s.events[TP_THROTTLE_YIELD_START], 1);
}

/* No PSI: the limit is ignored, and said once. */
static void test_no_psi(void **state)
{
	struct tp_throttle t;
	struct seen s = { 0 };

	(void)state;
	init(&t, &s);
	t.psi_path = "/nonexistent/pressure/io";
	t.pressure_limit = 0;
	tp_throttle_start(&t);
	assert_int_equal(tp_throttle_pace(0, &t), 0);
	assert_int_equal(tp_throttle_pace(0, &t), 0);
	assert_int_equal(t.psi_error, -ENOENT);
	assert_int_equal(s.events[TP_THROTTLE_NO_PSI], 1);
	assert_true(t.pressure < 0);

	write_psi(psi_path, "full avg10=50.00 avg60=0.00 avg300=0.00 total=1\n");
	t.psi_path = psi_path;
	tp_throttle_start(&t);
	assert_int_equal(tp_throttle_pressure(&t), 0);
	assert_int_equal(t.psi_error, -EBADMSG);
}

static void test_parse(void **state)
{
	static const struct {
		const char *s;
		uint64_t v;
	} rates[] = {
		{ "0", 0 }, { "8M", 8 * MiB }, { "8M/s", 8 * MiB },
		{ "512KiB/s", 512 * KiB }, { "1.5G", 3 * GiB / 2 }, { "10MB", 10000000 },
	};
	static const char *const bad_rates[] = { "", "/s", "abc", "-1", "8M/h",
						 "8 M/s/s" };
	static const struct {
		const char *s;
		double v;
	} pressures[] = { { "0", 0 }, { "10", 10 }, { "2.5", 2.5 }, { "100", 100 },
			  { "off", TP_THROTTLE_OFF } };
	static const char *const bad_pressures[] = { "", "-5", "abc", "10%", " 10",
						     "nan", "inf", "OFF" };
	uint64_t u;
	double d;

	(void)state;
	for (size_t i = 0; i < sizeof(rates) / sizeof(rates[0]); i++) {
		if (tp_throttle_parse_rate(rates[i].s, &u) < 0)
			fail_msg("rate '%s' refused", rates[i].s);
		CHECK_U64(rates[i].s, "rate", u, rates[i].v);
	}
	for (size_t i = 0; i < sizeof(bad_rates) / sizeof(bad_rates[0]); i++)
		if (tp_throttle_parse_rate(bad_rates[i], &u) != -EINVAL)
			fail_msg("rate '%s' accepted", bad_rates[i]);
	for (size_t i = 0; i < sizeof(pressures) / sizeof(pressures[0]); i++) {
		if (tp_throttle_parse_pressure(pressures[i].s, &d) < 0 ||
		    d != pressures[i].v)
			fail_msg("pressure '%s' not %g", pressures[i].s, pressures[i].v);
	}
	for (size_t i = 0; i < sizeof(bad_pressures) / sizeof(bad_pressures[0]); i++)
		if (tp_throttle_parse_pressure(bad_pressures[i], &d) != -EINVAL)
			fail_msg("pressure '%s' accepted", bad_pressures[i]);
	assert_int_equal(tp_throttle_parse_pressure("150", &d), -ERANGE);
	assert_int_equal(tp_throttle_parse_pressure("100.5", &d), -ERANGE);
}

static int setup(void **state)
{
	int fd = mkstemp(psi_path);

	(void)state;
	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(psi_path);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_off),
		cmocka_unit_test(test_rate),
		cmocka_unit_test(test_rate_no_credit),
		cmocka_unit_test(test_budget),
		cmocka_unit_test(test_check_stops),
		cmocka_unit_test(test_pressure),
		cmocka_unit_test(test_pressure_limits),
		cmocka_unit_test(test_no_psi),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
