/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests of the dm-thin metadata reader (lib/pool.c): thin_dump's XML,
 * written here by hand and, where thin-provisioning-tools is installed,
 * through thin_restore and thin_dump themselves (a metadata file, no
 * device-mapper needed); and of the pool gate, tp_pool_blocker().
 *
 * The fixture: a pool of 64 data blocks; device 1, the volume; device 2,
 * its snapshot, sharing data blocks 10..14 and 20; device 7, another
 * volume, sharing block 30 (which device 1 maps too: a clone).  The same
 * fixture with shared subtrees by name, as thin_dump 1.x writes them.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "unit.h"

#include "thinpack/thinpack.h"
#include "pool.h"

static const char fixture[] =
	"<superblock uuid=\"\" time=\"1\" transaction=\"3\" flags=\"0\" version=\"2\" "
	"data_block_size=\"128\" nr_data_blocks=\"64\">\n"
	"  <device dev_id=\"1\" mapped_blocks=\"13\" transaction=\"0\" "
	"creation_time=\"0\" snap_time=\"1\">\n"
	"    <range_mapping origin_begin=\"0\" data_begin=\"10\" length=\"8\" time=\"0\"/>\n"
	"    <single_mapping origin_block=\"8\" data_block=\"20\" time=\"0\"/>\n"
	"    <single_mapping origin_block=\"9\" data_block=\"21\" time=\"1\"/>\n"
	"    <range_mapping origin_begin=\"100\" data_begin=\"30\" length=\"3\" time=\"1\"/>\n"
	"  </device>\n"
	"  <device dev_id=\"2\" mapped_blocks=\"8\" transaction=\"1\" "
	"creation_time=\"1\" snap_time=\"1\">\n"
	"    <range_mapping origin_begin=\"0\" data_begin=\"10\" length=\"5\" time=\"0\"/>\n"
	"    <single_mapping origin_block=\"5\" data_block=\"40\" time=\"1\"/>\n"
	"    <single_mapping origin_block=\"8\" data_block=\"20\" time=\"0\"/>\n"
	"    <single_mapping origin_block=\"9\" data_block=\"41\" time=\"1\"/>\n"
	"  </device>\n"
	"  <device dev_id=\"7\" mapped_blocks=\"1\" transaction=\"2\" "
	"creation_time=\"1\" snap_time=\"1\">\n"
	"    <single_mapping origin_block=\"0\" data_block=\"30\" time=\"1\"/>\n"
	"  </device>\n"
	"</superblock>\n";

struct seen {
	uint64_t block[32], n[32];
	bool shared[32];
	size_t count;
};

static void on_run(uint64_t block, uint64_t n, bool shared, void *userdata)
{
	struct seen *s = userdata;

	assert_true(s->count < 32);
	s->block[s->count] = block;
	s->n[s->count] = n;
	s->shared[s->count] = shared;
	s->count++;
}

/* A file holding text, at offset 0. */
static int text_fd(const char *text)
{
	char path[] = "/tmp/tp-unit-pool-XXXXXX";
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	unlink(path);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	return fd;
}

/* Both passes over fd, as tp_pool_read_mappings() runs them. */
static int read_both(int fd, uint64_t id, struct tp_pool *p, struct seen *s)
{
	struct tp_thin_xml *x;
	int r;

	assert_int_equal(tp_thin_xml_new(id, 0, &x), 0);
	r = tp_thin_xml_parse(x, fd, false);
	if (r >= 0) {
		assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
		r = tp_thin_xml_parse(x, fd, true);
	}
	if (r >= 0)
		r = tp_thin_xml_finish(x, p, on_run, s);
	tp_thin_xml_free(x);
	return r;
}

static void check_fixture(struct tp_pool *p, const struct seen *s)
{
	static const struct {
		uint64_t block, n;
		bool shared;
	} want[] = {
		{ 0, 5, true }, { 5, 3, false }, { 8, 1, true }, { 9, 1, false },
		{ 100, 1, true }, { 101, 2, false },
	};

	CHECK_U64("fixture", "mapped", p->mapped_blocks, 13);
	CHECK_U64("fixture", "shared", p->shared_blocks, 7);
	assert_true(p->metadata_read);
	CHECK_U64("fixture", "runs", s->count, sizeof(want) / sizeof(want[0]));
	for (size_t i = 0; i < s->count; i++) {
		CHECK_U64("run", "block", s->block[i], want[i].block);
		CHECK_U64("run", "n", s->n[i], want[i].n);
		assert_int_equal(s->shared[i], want[i].shared);
	}
	/* most first: device 2 shares 6, device 7 one */
	CHECK_U64("fixture", "sharers", p->n_sharers, 2);
	CHECK_U64("sharer 0", "dev_id", p->sharers[0].dev_id, 2);
	CHECK_U64("sharer 0", "blocks", p->sharers[0].blocks, 6);
	CHECK_U64("sharer 1", "dev_id", p->sharers[1].dev_id, 7);
	CHECK_U64("sharer 1", "blocks", p->sharers[1].blocks, 1);
}

/* The fixture's figures, as device 1, from text. */
static void fixture_as(const char *text)
{
	struct tp_pool *p = calloc(1, sizeof(*p));
	struct seen s = { 0 };
	int fd = text_fd(text);

	assert_int_equal(read_both(fd, 1, p, &s), 0);
	check_fixture(p, &s);
	close(fd);
	tp_pool_free(p);
}

static void test_fixture(void **state)
{
	(void)state;
	fixture_as(fixture);
}

/* The snapshot's view: what it shares with the origin, and nothing of
 * device 7. */
static void test_other_device(void **state)
{
	struct tp_pool *p = calloc(1, sizeof(*p));
	struct seen s = { 0 };
	int fd = text_fd(fixture);

	(void)state;
	assert_int_equal(read_both(fd, 2, p, &s), 0);
	CHECK_U64("dev 2", "mapped", p->mapped_blocks, 8);
	CHECK_U64("dev 2", "shared", p->shared_blocks, 6);
	CHECK_U64("dev 2", "sharers", p->n_sharers, 1);
	CHECK_U64("dev 2", "sharer", p->sharers[0].dev_id, 1);
	close(fd);
	tp_pool_free(p);
}

static int parse_text(const char *text, uint64_t id)
{
	struct tp_pool *p = calloc(1, sizeof(*p));
	struct seen s = { 0 };
	int fd = text_fd(text);
	int r = read_both(fd, id, p, &s);

	close(fd);
	tp_pool_free(p);
	return r;
}

static void test_bad_input(void **state)
{
	(void)state;
	/* no such device */
	assert_int_equal(parse_text(fixture, 3), -EPROTO);
	/* not XML, or cut short */
	assert_int_equal(parse_text("<superblock nr_data_blocks=\"4\"><device", 1), -EPROTO);
	assert_int_equal(parse_text("garbage", 1), -EPROTO);
	/* a data block past any pool; one past nr_data_blocks is read */
	assert_int_equal(parse_text("<superblock nr_data_blocks=\"4\"><device dev_id=\"1\">"
				    "<range_mapping origin_begin=\"0\" data_begin=\"2\" "
				    "length=\"281474976710656\"/></device></superblock>", 1),
			 -EPROTO);
	assert_int_equal(parse_text("<superblock nr_data_blocks=\"0\"><device dev_id=\"1\">"
				    "<range_mapping origin_begin=\"0\" data_begin=\"200\" "
				    "length=\"3\"/></device></superblock>", 1), 0);
	/* a mapping outside a device, a number that is not one */
	assert_int_equal(parse_text("<superblock nr_data_blocks=\"4\"><device dev_id=\"1\"/>"
				    "<single_mapping origin_block=\"0\" data_block=\"1\"/>"
				    "</superblock>", 1), -EPROTO);
	assert_int_equal(parse_text("<superblock nr_data_blocks=\"4\"><device dev_id=\"1\">"
				    "<single_mapping origin_block=\"-1\" data_block=\"1\"/>"
				    "</device></superblock>", 1), -EPROTO);
	/* shared subtrees by name: a ref to no def, a def in a device, a
	 * def after the devices, a name defined twice */
	assert_int_equal(parse_text("<superblock nr_data_blocks=\"4\"><def name=\"a\">"
				    "</def><device dev_id=\"1\"><ref name=\"b\"/></device>"
				    "</superblock>", 1), -EPROTO);
	assert_int_equal(parse_text("<superblock nr_data_blocks=\"4\"><device dev_id=\"1\">"
				    "<def name=\"a\"></def></device></superblock>", 1), -EPROTO);
	assert_int_equal(parse_text("<superblock nr_data_blocks=\"4\"><def name=\"a\">"
				    "</def><device dev_id=\"1\"><ref name=\"a\"/></device>"
				    "<def name=\"b\"></def></superblock>", 1), -EPROTO);
	assert_int_equal(parse_text("<superblock nr_data_blocks=\"4\"><def name=\"a\">"
				    "</def><def name=\"a\"></def><device dev_id=\"1\">"
				    "<ref name=\"a\"/></device></superblock>", 1), -EPROTO);
}

/* The fixture as thin_dump 1.x writes it: what devices 1 and 2 share as
 * named subtrees (<def>), each device referring to them (<ref>) among its
 * own mappings.  The same figures. */
static const char fixture_defs[] =
	"<superblock uuid=\"\" time=\"1\" transaction=\"3\" version=\"2\" "
	"data_block_size=\"128\" nr_data_blocks=\"64\">\n"
	"  <def name=\"4711\">\n"
	"    <range_mapping origin_begin=\"0\" data_begin=\"10\" length=\"5\" time=\"0\"/>\n"
	"  </def>\n"
	"  <def name=\"815\">\n"
	"    <single_mapping origin_block=\"8\" data_block=\"20\" time=\"0\"/>\n"
	"  </def>\n"
	"  <device dev_id=\"1\" mapped_blocks=\"13\" transaction=\"0\" "
	"creation_time=\"0\" snap_time=\"1\">\n"
	"    <ref name=\"4711\"/>\n"
	"    <range_mapping origin_begin=\"5\" data_begin=\"15\" length=\"3\" time=\"0\"/>\n"
	"    <ref name=\"815\"/>\n"
	"    <single_mapping origin_block=\"9\" data_block=\"21\" time=\"1\"/>\n"
	"    <range_mapping origin_begin=\"100\" data_begin=\"30\" length=\"3\" time=\"1\"/>\n"
	"  </device>\n"
	"  <device dev_id=\"2\" mapped_blocks=\"8\" transaction=\"1\" "
	"creation_time=\"1\" snap_time=\"1\">\n"
	"    <ref name=\"4711\"/>\n"
	"    <single_mapping origin_block=\"5\" data_block=\"40\" time=\"1\"/>\n"
	"    <ref name=\"815\"/>\n"
	"    <single_mapping origin_block=\"9\" data_block=\"41\" time=\"1\"/>\n"
	"  </device>\n"
	"  <device dev_id=\"7\" mapped_blocks=\"1\" transaction=\"2\" "
	"creation_time=\"1\" snap_time=\"1\">\n"
	"    <single_mapping origin_block=\"0\" data_block=\"30\" time=\"1\"/>\n"
	"  </device>\n"
	"</superblock>\n";

static void test_fixture_defs(void **state)
{
	(void)state;
	fixture_as(fixture_defs);
}

/* The real tools: thin_restore the fixture into a metadata file, read it
 * back with thin_dump, and parse that. */
static void test_thin_dump_roundtrip(void **state)
{
	char dir[] = "/tmp/tp-unit-pool-XXXXXX", cmd[1024], xml[64], meta[64];
	struct tp_pool *p;
	struct seen s = { 0 };
	FILE *f;

	(void)state;
	if (system("command -v thin_restore >/dev/null 2>&1 && "
		   "command -v thin_dump >/dev/null 2>&1") != 0)
		skip();
	assert_non_null(mkdtemp(dir));
	snprintf(xml, sizeof(xml), "%s/in.xml", dir);
	snprintf(meta, sizeof(meta), "%s/meta", dir);
	f = fopen(xml, "w");
	assert_non_null(f);
	fputs(fixture, f);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "truncate -s 4M %s && thin_restore -q -i %s -o %s "
		 ">/dev/null 2>&1 && thin_dump -f xml %s >%s/out.xml 2>/dev/null",
		 meta, xml, meta, meta, dir);
	assert_int_equal(system(cmd), 0);
	snprintf(cmd, sizeof(cmd), "%s/out.xml", dir);
	int fd = open(cmd, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	p = calloc(1, sizeof(*p));
	assert_int_equal(read_both(fd, 1, p, &s), 0);
	check_fixture(p, &s);
	close(fd);
	tp_pool_free(p);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

static void test_blocker(void **state)
{
	struct tp_pool p = { .used_blocks = 90, .total_blocks = 100 };

	(void)state;
	assert_int_equal(tp_pool_blocker(NULL, 5), TP_BLOCKER_NONE);
	assert_int_equal(tp_pool_blocker(&p, 5), TP_BLOCKER_NONE);
	assert_int_equal(tp_pool_blocker(&p, 10), TP_BLOCKER_NONE);
	assert_int_equal(tp_pool_blocker(&p, 11), TP_BLOCKER_POOL_MARGIN);
	assert_int_equal(tp_pool_free_percent(&p), 10);
	p.used_blocks = 100;
	assert_int_equal(tp_pool_blocker(&p, 0), TP_BLOCKER_NONE);
	assert_int_equal(tp_pool_blocker(&p, 1), TP_BLOCKER_POOL_MARGIN);
	p.out_of_data_space = true;
	assert_int_equal(tp_pool_blocker(&p, 0), TP_BLOCKER_POOL_OUT_OF_SPACE);
	p.read_only = true;
	assert_int_equal(tp_pool_blocker(&p, 0), TP_BLOCKER_POOL_READ_ONLY);
	p.needs_check = true;
	assert_int_equal(tp_pool_blocker(&p, 0), TP_BLOCKER_POOL_NEEDS_CHECK);
	assert_non_null(tp_blocker_to_string(TP_BLOCKER_POOL_MARGIN));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fixture),
		cmocka_unit_test(test_fixture_defs),
		cmocka_unit_test(test_other_device),
		cmocka_unit_test(test_bad_input),
		cmocka_unit_test(test_thin_dump_roundtrip),
		cmocka_unit_test(test_blocker),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
