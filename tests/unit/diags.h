/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * What the config-loader unit tests share: the loader's diagnostics captured
 * (setup, teardown and group hooks for cmocka), compared line by line, and
 * load_ok(). Include after <cmocka.h>, "config.h" and "log.h"; one test
 * program includes it once.
 */
#ifndef SHUNT_TEST_DIAGS_H
#define SHUNT_TEST_DIAGS_H

#include <stdlib.h>
#include <string.h>

#define MAX_DIAGS 64

static struct {
	char *line[MAX_DIAGS];
	enum log_level level[MAX_DIAGS];
	size_t n;
} diags;

static void capture(enum log_level level, const char *line, void *arg)
{
	if (diags.n == MAX_DIAGS)
		fail_msg("more than %d diagnostics", MAX_DIAGS);
	diags.level[diags.n] = level;
	diags.line[diags.n++] = strdup(line);
}

static void diags_clear(void)
{
	for (size_t i = 0; i < diags.n; i++)
		free(diags.line[i]);
	diags.n = 0;
}

static int setup(void **state)
{
	diags_clear();
	return 0;
}

static int teardown(void **state)
{
	diags_clear();
	return 0;
}

static int group_setup(void **state)
{
	log_level_cur = LOG_ERROR; /* warnings and notices still reach the sink */
	config_set_diag_sink(capture, NULL);
	return 0;
}

static int group_teardown(void **state)
{
	config_set_diag_sink(NULL, NULL);
	return 0;
}

/* Asserts that the @level diagnostics are exactly @want (NULL-terminated), in order; the
 * summary line ("config: N problems, ...") is not counted. */
static void assert_diags(enum log_level level, const char *const *want)
{
	size_t k = 0;

	for (size_t i = 0; i < diags.n; i++) {
		if (diags.level[i] != level || !strncmp(diags.line[i], "config:", 7))
			continue;
		if (!want[k])
			fail_msg("unexpected diagnostic: %s", diags.line[i]);
		if (strcmp(diags.line[i], want[k]))
			fail_msg("diagnostic\n got: %s\nwant: %s", diags.line[i], want[k]);
		k++;
	}
	if (want[k])
		fail_msg("missing diagnostic: %s", want[k]);
}

static __attribute__((unused)) struct config *load_ok(const char *name, const char *yaml)
{
	struct config *cfg = NULL;

	if (config_load_buf(name, yaml, strlen(yaml), &cfg)) {
		for (size_t i = 0; i < diags.n; i++)
			print_message("%s\n", diags.line[i]);
		fail_msg("%s did not load", name);
	}
	return cfg;
}

#endif /* SHUNT_TEST_DIAGS_H */
