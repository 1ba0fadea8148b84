// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <stdbool.h>
#include <string.h>

#include "admin.h"
#include "prom.h"

/* Appends @s with backslash and newline escaped, and the double quote too when @quote. */
static void escape(struct admin_resp *r, const char *s, bool quote)
{
	const char *run = s;

	for (; *s; s++) {
		const char *rep = *s == '\\'	       ? "\\\\"
				  : *s == '\n'	       ? "\\n"
				  : *s == '"' && quote ? "\\\""
						       : NULL;

		if (!rep)
			continue;
		admin_write(r, run, (size_t)(s - run));
		admin_write(r, rep, 2);
		run = s + 1;
	}
	admin_write(r, run, (size_t)(s - run));
}

void prom_header(struct admin_resp *r, const char *name, const char *type, const char *help)
{
	admin_printf(r, "# HELP %s ", name);
	escape(r, help, false);
	admin_printf(r, "\n# TYPE %s %s\n", name, type);
}

void prom_escape(struct admin_resp *r, const char *v)
{
	escape(r, v, true);
}

void prom_label(struct admin_resp *r, const char *name, const char *value, bool first)
{
	admin_printf(r, "%s%s=\"", first ? "" : ",", name);
	escape(r, value, true);
	admin_write(r, "\"", 1);
}

void prom_sample(struct admin_resp *r, const char *name, const char *labels, uint64_t v)
{
	if (labels && *labels)
		admin_printf(r, "%s{%s} %llu\n", name, labels, (unsigned long long)v);
	else
		admin_printf(r, "%s %llu\n", name, (unsigned long long)v);
}

void prom_sample_with(struct admin_resp *r, const char *name, const char *labels, const char *key,
		      const char *value, uint64_t v)
{
	admin_printf(r, "%s{%s", name, labels ? labels : "");
	prom_label(r, key, value, !labels || !*labels);
	admin_printf(r, "} %llu\n", (unsigned long long)v);
}
