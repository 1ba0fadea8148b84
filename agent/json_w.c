// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "json_w.h"

void jw_init(struct jw *w, struct admin_resp *r)
{
	w->r = r;
	w->depth = 0;
	w->has[0] = false;
	w->is_obj[0] = false;
}

/* The separator, indentation and key before a value. */
static void member(struct jw *w, const char *key)
{
	if (w->has[w->depth])
		admin_write(w->r, ",", 1);
	w->has[w->depth] = true;
	if (w->depth)
		admin_printf(w->r, "\n%*s", 2 * w->depth, "");
	if (w->is_obj[w->depth]) {
		admin_json_str(w->r, key ? key : "");
		admin_write(w->r, ": ", 2);
	}
}

static void open_one(struct jw *w, const char *key, bool obj)
{
	member(w, key);
	if (w->depth == JW_DEPTH_MAX) {
		w->r->oom = true; /* deeper than any view goes: a bug, answered 500 */
		return;
	}
	admin_write(w->r, obj ? "{" : "[", 1);
	w->depth++;
	w->has[w->depth] = false;
	w->is_obj[w->depth] = obj;
}

void jw_obj(struct jw *w, const char *key)
{
	open_one(w, key, true);
}

void jw_arr(struct jw *w, const char *key)
{
	open_one(w, key, false);
}

void jw_end(struct jw *w)
{
	bool obj;

	if (!w->depth)
		return;
	obj = w->is_obj[w->depth];
	if (w->has[w->depth])
		admin_printf(w->r, "\n%*s", 2 * (w->depth - 1), "");
	w->depth--;
	admin_write(w->r, obj ? "}" : "]", 1);
}

void jw_str(struct jw *w, const char *key, const char *s)
{
	member(w, key);
	admin_json_str(w->r, s);
}

void jw_strf(struct jw *w, const char *key, const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0) {
		w->r->oom = true;
		return;
	}
	jw_str(w, key, s);
	free(s);
}

void jw_u64(struct jw *w, const char *key, uint64_t v)
{
	member(w, key);
	admin_printf(w->r, "%llu", (unsigned long long)v);
}

void jw_i64(struct jw *w, const char *key, int64_t v)
{
	member(w, key);
	admin_printf(w->r, "%lld", (long long)v);
}

void jw_dbl(struct jw *w, const char *key, double v)
{
	member(w, key);
	admin_printf(w->r, "%.10g", v);
}

void jw_bool(struct jw *w, const char *key, bool v)
{
	member(w, key);
	admin_printf(w->r, "%s", v ? "true" : "false");
}

void jw_null(struct jw *w, const char *key)
{
	member(w, key);
	admin_write(w->r, "null", 4);
}

void jw_finish(struct jw *w)
{
	while (w->depth)
		jw_end(w);
	admin_write(w->r, "\n", 1);
}
