/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * A JSON writer on an admin answer body (struct admin_resp): objects and
 * arrays nest, commas and indentation are its business, strings are escaped.
 * The admin API's config views (/config_dump, /routes, /explain) write with
 * it, and so does shuntctl's offline mode. Nesting past JW_DEPTH_MAX marks the
 * body out of memory (answered 500) instead of writing bad JSON.
 */
#ifndef SHUNT_JSON_W_H
#define SHUNT_JSON_W_H

#include <stdbool.h>
#include <stdint.h>

#include "admin.h"

#define JW_DEPTH_MAX 32

struct jw {
	struct admin_resp *r;
	int depth;		       /* open objects and arrays */
	bool has[JW_DEPTH_MAX + 1];    /* the container at that depth has a member already */
	bool is_obj[JW_DEPTH_MAX + 1]; /* it is an object: members need a key */
};

/* Starts writing into @r (appended to what it holds). */
void jw_init(struct jw *w, struct admin_resp *r);
/* Opens an object or array: member @key of the enclosing object, or (@key NULL) an array
 * element or the top-level value. */
void jw_obj(struct jw *w, const char *key);
void jw_arr(struct jw *w, const char *key);
/* Closes the innermost object or array. */
void jw_end(struct jw *w);
/* Scalars, with @key as for jw_obj(); a NULL string is written as null. */
void jw_str(struct jw *w, const char *key, const char *s);
void jw_strf(struct jw *w, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void jw_u64(struct jw *w, const char *key, uint64_t v);
void jw_i64(struct jw *w, const char *key, int64_t v);
void jw_dbl(struct jw *w, const char *key, double v);
void jw_bool(struct jw *w, const char *key, bool v);
void jw_null(struct jw *w, const char *key);
/* Closes whatever is open and ends the text with a newline. */
void jw_finish(struct jw *w);

#endif /* SHUNT_JSON_W_H */
