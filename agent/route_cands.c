// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * A request's candidate rules in an indexed VirtualService (struct rt_index,
 * built by route_index.c): the lists of the trie nodes its path walks
 * through, of the key fields it has, and the always list, merged in rule
 * order (rt_cands_next()); route_select() evaluates each candidate fully, so
 * the decision is the one a scan of every rule makes.
 *
 * Cost: one pass over the path's bytes (at most); a key field (at most
 * RT_IX_FIELDS_MAX) is looked up in the request, and its value in a hash
 * map, only when the merge reaches the field's first rule, so a request that
 * an early rule takes looks up no header; then per candidate one step over
 * the gathered lists. Nothing is allocated.
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

void rt_cands_init(struct rt_cands *c, struct route_worker *w, const struct rt_vs *vs,
		   const struct rt_reqview *v)
{
	*c = (struct rt_cands){.w = w, .vs = vs, .v = v, .cur = w->cur};
	c->n = walk_path(&vs->ix, v, c->cur, 0);
	c->n = add(&vs->ix, vs->ix.always, c->cur, c->n);
}

/* The lowest rule the gathered lists hold, UINT32_MAX when they are used up. */
static inline uint32_t lowest(const struct rt_cands *c)
{
	uint32_t min = UINT32_MAX;

	for (size_t i = 0; i < c->n; i++)
		if (*c->cur[i].p < min)
			min = *c->cur[i].p;
	return min;
}

/* Looks up the next key field in the request and gathers the lists its value names. */
static void gather_field(struct rt_cands *c)
{
	const struct rt_index *ix = &c->vs->ix;
	const struct rt_ixfield *f = &ix->fields[c->next_field++];
	const char *val;
	size_t len;
	uint32_t off;

	if (!rt_field_value(c->w, c->v, f->field, f->name, f->name_len, &val, &len))
		return;
	c->n = add(ix, f->present, c->cur, c->n);
	if (f->values.slots && rt_strmap_get(&f->values, val, len, &off))
		c->n = add(ix, off, c->cur, c->n);
}

bool rt_cands_next(struct rt_cands *c, uint32_t *rule)
{
	const struct rt_index *ix = &c->vs->ix;
	uint32_t min = lowest(c);

	/* A field whose lists may hold a rule before @min is looked up first: fields come by
	 * their first rule, and every rule they hold is past the ones returned already. */
	while (c->next_field < ix->n_fields && ix->fields[c->next_field].first <= min) {
		gather_field(c);
		min = lowest(c);
	}
	if (min == UINT32_MAX)
		return false;
	for (size_t i = 0; i < c->n;) {
		if (*c->cur[i].p == min && ++c->cur[i].p == c->cur[i].end) {
			c->cur[i] = c->cur[--c->n];
			continue;
		}
		i++;
	}
	*rule = min;
	return true;
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
