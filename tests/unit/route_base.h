/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * What the routing unit tests share: the topology of
 * tests/unit/testdata/route/base.yaml (read once per group, from $SHUNT_SRC
 * or the current directory) and configs loaded as that topology plus a test's
 * own documents. Include after <cmocka.h>, "config.h" and "log.h"; one test
 * program includes it once.
 */
#ifndef SHUNT_TEST_ROUTE_BASE_H
#define SHUNT_TEST_ROUTE_BASE_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "yaml_tree.h"

static char *base; /* base.yaml, NUL-terminated */
static size_t base_len;

/* For a group setup: quiet logs and base.yaml read into base. 0, or -1 (said why). */
static int route_base_read(void)
{
	const char *src = getenv("SHUNT_SRC");
	char path[512];
	int err;

	log_level_cur = LOG_ERROR;
	snprintf(path, sizeof(path), "%s/tests/unit/testdata/route/base.yaml", src ? src : ".");
	err = yt_read_file(path, &base, &base_len);
	if (err) {
		fprintf(stderr, "cannot read %s: %s\n", path, strerror(-err));
		return -1;
	}
	base[base_len] = '\0'; /* yt_read_file() allocates one byte more */
	return 0;
}

/* The base topology plus @yaml (documents) into *@cfg, as "route.yaml"; fails the test else. */
__attribute__((unused)) static void route_base_load(const char *yaml, struct config **cfg)
{
	size_t len = strlen(yaml);
	char *buf = malloc(base_len + len + 8);

	assert_non_null(buf);
	memcpy(buf, base, base_len);
	memcpy(buf + base_len, "\n---\n", 5);
	memcpy(buf + base_len + 5, yaml, len);
	assert_int_equal(config_load_buf("route.yaml", buf, base_len + 5 + len, cfg), 0);
	free(buf);
}

#endif /* SHUNT_TEST_ROUTE_BASE_H */
