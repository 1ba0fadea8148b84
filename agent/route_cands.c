// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * A request's candidate rules in an indexed VirtualService (struct rt_index,
 * built by route_index.c): the lists of the trie nodes its path walks
 * through, of the key fields it has, and the always list. route_select()
 * merges them in rule order (rt_cands_next()) and evaluates each candidate
 * fully, so the decision is the one a scan of every rule makes.
 *
 * Cost: one pass over the path's bytes (at most), one header lookup per key
 * field (at most RT_IX_FIELDS_MAX), a hash lookup per field present; then per
 * candidate a step over the gathered lists. Nothing is allocated.
 */
#include <string.h>

#include "route_int.h"

static inline char fold(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c + 'a' - 'A') : c;
}

/* Adds list @off of @ix to @cur unless it is empty; the new count. */
static inline size_t add(const struct rt_index *ix, uint32_t off, struct rt_cursor *cur, size_t n)
{
	const uint32_t *l = ix->pool + off;

	if (!off || !l[0])
		return n;
	cur[n].p = l + 1;
	cur[n].end = l + 1 + l[0];
	return n + 1;
}

/* The child of @nd whose label starts with @c, or NULL. */
static const struct rt_tnode *child(const struct rt_index *ix, const struct rt_tnode *nd, char c)
{
	size_t lo = 0, hi = nd->n_kids;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct rt_tnode *k = &ix->nodes[nd->kids + mid];
		unsigned char kc = (unsigned char)ix->chars[k->label];

		if (kc == (unsigned char)c)
			return k;
		if (kc < (unsigned char)c)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* Whether @s (any case) is @label (lower case). */
static inline bool label_eq(const char *s, const char *label, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (fold(s[i]) != label[i])
			return false;
	return true;
}

/*
 * The lists along the path: at each node the path (with its query, as a prefix match sees
 * it) reaches, the prefix list; at the node where the path without query ends, the exact
 * list. Keys are lower case; the path is folded as it is read.
 */
static size_t walk_path(const struct rt_index *ix, const struct rt_reqview *v,
			struct rt_cursor *cur, size_t n)
{
	const struct rt_tnode *nd = ix->nodes;
	const char *p = v->pathq;
	size_t len = v->pathq_len, d = 0;

	while (nd) {
		if (nd->label_len > len - d ||
		    !label_eq(p + d, ix->chars + nd->label, nd->label_len))
			break;
		d += nd->label_len;
		n = add(ix, nd->pre, cur, n);
		if (d == v->path_len)
			n = add(ix, nd->exact, cur, n);
		if (d == len)
			break;
		nd = child(ix, nd, fold(p[d]));
	}
	return n;
}

size_t rt_cands_gather(struct route_worker *w, const struct rt_vs *vs, const struct rt_reqview *v,
		       struct rt_cursor *cur)
{
	const struct rt_index *ix = &vs->ix;
	size_t n = walk_path(ix, v, cur, 0);
	const char *val;
	size_t len;
	uint32_t off;

	for (size_t i = 0; i < ix->n_fields; i++) {
		const struct rt_ixfield *f = &ix->fields[i];

		if (!rt_field_value(w, v, f->field, f->name, f->name_len, &val, &len))
			continue;
		n = add(ix, f->present, cur, n);
		if (f->values.slots && rt_strmap_get(&f->values, val, len, &off))
			n = add(ix, off, cur, n);
	}
	return add(ix, ix->always, cur, n);
}

bool rt_vs_applies(const struct rt_vs *vs, const struct rt_reqview *v, uint16_t port)
{
	const struct rt_index *ix = &vs->ix;

	for (size_t i = 0; i < ix->n_ports; i++)
		if (ix->ports[i] == port)
			return true;
	for (size_t i = 0; i < ix->n_cond; i++)
		if (rt_match_applies(&vs->matches[ix->cond[i]], v, port))
			return true;
	return false;
}
