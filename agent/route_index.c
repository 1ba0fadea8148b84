// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Lookup structures of the route table: a string map (namespaces, services by
 * FQDN, paths), and the exact-path index of a VirtualService with many rules.
 *
 * The index keeps Envoy's first-match order: a rule is a candidate for a
 * request when one of its match entries is a case-sensitive exact uri equal to
 * the request's path, or when some entry is anything else (prefix, regex, no
 * uri, ignoreUriCase, or no match at all). route_select() walks the two
 * ascending lists of candidates merged, so it evaluates, in order, exactly the
 * rules a full scan could find matching, and skips the rest.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "route_int.h"

#define RT_INDEX_MIN_RULES 16 /* below this a scan is as fast */

int rt_strmap_init(struct rt_strmap *m, size_t expect)
{
	size_t cap = 16;

	while (cap < expect * 2)
		cap <<= 1;
	m->slots = calloc(cap, sizeof(*m->slots));
	if (!m->slots)
		return -ENOMEM;
	m->mask = cap - 1;
	m->n = 0;
	return 0;
}

void rt_strmap_free(struct rt_strmap *m)
{
	free(m->slots);
	memset(m, 0, sizeof(*m));
}

/* The slot of @key: the one holding it, or the empty one where it belongs. */
static struct rt_strmap_slot *slot_of(const struct rt_strmap *m, const char *key, size_t len)
{
	for (size_t h = lb_hash(key, len);; h++) {
		struct rt_strmap_slot *s = &m->slots[h & m->mask];

		if (!s->key || (s->len == len && !memcmp(s->key, key, len)))
			return s;
	}
}

bool rt_strmap_get(const struct rt_strmap *m, const char *key, size_t len, uint32_t *val)
{
	const struct rt_strmap_slot *s;

	if (!m->slots)
		return false;
	s = slot_of(m, key, len);
	if (!s->key)
		return false;
	*val = s->val;
	return true;
}

bool rt_strmap_put(struct rt_strmap *m, const char *key, uint32_t val)
{
	size_t len = strlen(key);
	struct rt_strmap_slot *s = slot_of(m, key, len);

	if (s->key)
		return false;
	*s = (struct rt_strmap_slot){.key = key, .len = len, .val = val};
	m->n++;
	return true;
}

static bool exact_only(const struct rt_match *m)
{
	return m->uri.kind == SM_EXACT && !m->uri.caseless;
}

static bool applies_always(const struct rt_match *m)
{
	return m->mesh && !m->port &&
	       (m->by_gateways || (!m->src_labels && m->src_ns == RT_NS_ANY));
}

/* Adds rule @r to the list of @id unless it is its last entry already. */
static void list_add(struct rt_vs *vs, const uint32_t *off, uint32_t *last, uint32_t id, uint32_t r)
{
	uint32_t *list = vs->lists + off[id];

	if (last[id] == r)
		return;
	last[id] = r;
	list[1 + list[0]++] = r;
}

int rt_vs_index(struct rt_vs *vs)
{
	size_t n_exact = 0, n_ids = 0, total = 0;
	uint32_t *cnt = NULL, *last = NULL, *off = NULL, id;
	int err = -ENOMEM;

	for (size_t r = 0; r < vs->n_rules; r++) {
		const struct rt_rule *rule = &vs->rules[r];

		vs->always_applies |= !rule->n_m;
		for (size_t k = 0; k < rule->n_m; k++) {
			n_exact += exact_only(&rule->m[k]);
			vs->always_applies |= applies_always(&rule->m[k]);
		}
	}
	if (vs->n_rules < RT_INDEX_MIN_RULES)
		return 0;
	vs->other = calloc(vs->n_rules, sizeof(*vs->other));
	cnt = calloc(n_exact + 1, sizeof(*cnt));
	last = calloc(n_exact + 1, sizeof(*last));
	off = calloc(n_exact + 1, sizeof(*off));
	if (!vs->other || !cnt || !last || !off || rt_strmap_init(&vs->by_path, n_exact))
		goto out;

	/* Pass 1: one id per distinct path, how many rules name it, which rules are "other". */
	memset(last, 0xff, (n_exact + 1) * sizeof(*last));
	for (uint32_t r = 0; r < vs->n_rules; r++) {
		const struct rt_rule *rule = &vs->rules[r];
		bool other = !rule->n_m;

		for (size_t k = 0; k < rule->n_m; k++) {
			const struct rt_match *m = &rule->m[k];

			if (!exact_only(m)) {
				other = true;
				continue;
			}
			if (!rt_strmap_get(&vs->by_path, m->uri.s, m->uri.len, &id)) {
				id = (uint32_t)n_ids++;
				rt_strmap_put(&vs->by_path, m->uri.s, id);
			}
			if (last[id] != r) {
				last[id] = r;
				cnt[id]++;
			}
		}
		if (other)
			vs->other[vs->n_other++] = r;
	}
	for (size_t i = 0; i < n_ids; i++) {
		off[i] = (uint32_t)total;
		total += 1 + cnt[i];
	}
	vs->lists = calloc(total + 1, sizeof(*vs->lists));
	if (!vs->lists)
		goto out;

	/* Pass 2: fill the lists, in rule order; the map then gives offsets. */
	memset(last, 0xff, (n_exact + 1) * sizeof(*last));
	for (uint32_t r = 0; r < vs->n_rules; r++) {
		const struct rt_rule *rule = &vs->rules[r];

		for (size_t k = 0; k < rule->n_m; k++)
			if (exact_only(&rule->m[k]) &&
			    rt_strmap_get(&vs->by_path, rule->m[k].uri.s, rule->m[k].uri.len, &id))
				list_add(vs, off, last, id, r);
	}
	for (size_t i = 0; i <= vs->by_path.mask; i++)
		if (vs->by_path.slots[i].key)
			vs->by_path.slots[i].val = off[vs->by_path.slots[i].val];
	vs->indexed = true;
	err = 0;
out:
	free(cnt);
	free(last);
	free(off);
	return err;
}

void rt_vs_index_free(struct rt_vs *vs)
{
	rt_strmap_free(&vs->by_path);
	free(vs->lists);
	free(vs->other);
}
