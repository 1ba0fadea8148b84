// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * shunt-promcheck: checks a Prometheus text exposition (a /stats/prometheus
 * page) with a strict parser (tests/tools/prom_parse.h), then answers queries.
 *
 *   shunt-promcheck FILE|- [QUERY]...
 *
 * Exits 1 with "shunt-promcheck: line N: why" when the page does not parse
 * or breaks a rule of the format (see prom_parse.h), 2 on a usage error.
 * Otherwise prints "ok SAMPLES FAMILIES", then one line per QUERY:
 *   NAME{label="value",...}   "SUM N": the sum of NAME's samples whose labels
 *                             include those given (braces optional), and how
 *                             many samples that was
 *   type:FAMILY               the family's TYPE, or "none"
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prom_parse.h"

/* The whole of @path ("-": standard input), NUL-terminated; NULL on error. */
static char *slurp(const char *path)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "r") : stdin;
	size_t len = 0, cap = 65536, n;
	char *buf;

	if (!f)
		return NULL;
	buf = malloc(cap);
	while (buf && (n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
		len += n;
		if (len + 1 == cap) {
			char *p = realloc(buf, cap *= 2);

			if (!p) {
				free(buf);
				buf = NULL;
			}
			buf = p;
		}
	}
	if (buf)
		buf[len] = '\0';
	if (f != stdin)
		fclose(f);
	return buf;
}

static int query(const struct pp_doc *d, const char *q)
{
	struct pp_doc qd = {0};
	struct pp_sample *s;
	const char *want[2 * PP_LABELS_MAX];
	char *copy, *p;
	double sum;
	int n;

	if (!strncmp(q, "type:", 5)) {
		const char *t = prom_type(d, q + 5);

		printf("%s\n", t ? t : "none");
		return 0;
	}
	/* a query is a sample line without the value: parse it as one */
	copy = malloc(strlen(q) + 3);
	if (!copy)
		return 2;
	sprintf(copy, "%s 0", q);
	if (pp_sample_line(&qd, 1, copy)) {
		fprintf(stderr, "shunt-promcheck: query %s: %s\n", q, qd.err);
		free(copy);
		pp_free(&qd, NULL);
		return 2;
	}
	s = &qd.s[0];
	for (int i = 0; i < s->n; i++) {
		want[2 * i] = s->l[i].name;
		want[2 * i + 1] = s->l[i].value;
	}
	sum = prom_query(d, s->name, want, s->n, &n);
	p = copy;
	printf("%.17g %d\n", sum, n);
	pp_free(&qd, p);
	return 0;
}

int main(int argc, char **argv)
{
	struct pp_doc d;
	char *text;
	int rc = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: shunt-promcheck FILE|- [QUERY]...\n");
		return 2;
	}
	text = slurp(argv[1]);
	if (!text) {
		fprintf(stderr, "shunt-promcheck: %s: %s\n", argv[1], strerror(errno));
		return 2;
	}
	if (prom_parse(&d, text)) {
		fprintf(stderr, "shunt-promcheck: %s\n", d.err);
		pp_free(&d, text);
		return 1;
	}
	printf("ok %d %d\n", d.n, d.n_f);
	for (int i = 2; i < argc && !rc; i++)
		rc = query(&d, argv[i]);
	pp_free(&d, text);
	return rc;
}
