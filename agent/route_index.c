// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Lookup structures of the route table: a string map (namespaces, services by
 * FQDN, header values), and the candidate index of a VirtualService with many
 * rules (struct rt_index; route_cands.c reads it per request).
 *
 * The index keeps Envoy's first-match order and never changes a decision: a
 * match entry is filed under one condition it cannot match without, its key,
 * so a rule that could match is among the request's candidates, and
 * route_select() evaluates the candidates fully, in rule order. Each entry's
 * key is, among its conditions that can be keys, the one the fewest rules
 * share (the most selective, on this config):
 *   - a path: uri exact, uri prefix, or the literal prefix of a uri regex
 *     (route_prefix.c), in one radix trie over lower-case bytes
 *     (ignoreUriCase and case-sensitive keys together; a case-sensitive key
 *     then names a few rules too many, which evaluation refuses);
 *   - a field's value: method, authority or a header, exact;
 *   - a field's presence: a header or the authority, whatever the match.
 * withoutHeaders, queryParams, :path, sourceLabels and the like are no keys;
 * an entry with no key, and a rule without entries, is always a candidate. At
 * most RT_IX_FIELDS_MAX fields serve as keys (those most entries could use),
 * so that a request looks up a bounded number of headers.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "route_int.h"

#define RT_INDEX_MIN_RULES 8 /* below this a scan costs about what the index does */
#define RT_IX_FIELDS_MAX   8 /* header and pseudo-header fields used as keys */

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

bool rt_strmap_put_len(struct rt_strmap *m, const char *key, size_t len, uint32_t val)
{
	struct rt_strmap_slot *s;

	if (len > UINT32_MAX) /* no such key in a config: a slot keeps 32 bits of length */
		return false;
	s = slot_of(m, key, len);
	if (s->key)
		return false;
	*s = (struct rt_strmap_slot){.key = key, .len = (uint32_t)len, .val = val};
	m->n++;
	return true;
}

bool rt_strmap_put(struct rt_strmap *m, const char *key, uint32_t val)
{
	return rt_strmap_put_len(m, key, strlen(key), val);
}

/* ---- building the index ---- */

enum ix_kind { IX_EXACT, IX_PREFIX, IX_VALUE, IX_PRESENT };

/* One condition of one entry that could be its key. */
struct ix_key {
	uint8_t kind;	/* enum ix_kind */
	bool chosen;	/* the key of its entry */
	uint32_t field; /* IX_VALUE, IX_PRESENT: index in b->fields */
	const char *s;	/* path (lower case, in b->arena), or the value */
	size_t len;
	uint32_t entry, rule;
	uint32_t count; /* rules sharing this key */
};

struct ix_field {
	enum rt_field field;
	const char *name;
	size_t name_len;
	uint32_t uses;	/* keys on it */
	int32_t slot;	/* in ix->fields; -1: not a key */
	uint32_t first; /* the lowest rule whose entry has its key on it */
};

/* A distinct path of the trie, and its node. */
struct ix_path {
	const char *s;
	size_t len;
	uint32_t node;
};

struct ix_build {
	struct rt_vs *vs;
	struct ix_key *keys;
	size_t n_keys;
	char *arena; /* lower-case paths */
	size_t arena_len;
	struct ix_field *fields;
	size_t n_fields;
	struct rt_strmap header_ids; /* header name -> index in fields */
	int64_t *best;		     /* per entry: its key (index in keys), -1: none */
	struct ix_path *paths;	     /* distinct chosen paths, sorted */
	size_t n_paths;
	size_t pool_len;
};

static char fold(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c + 'a' - 'A') : c;
}

static void add_key(struct ix_build *b, enum ix_kind kind, uint32_t field, const char *s,
		    size_t len, uint32_t entry, uint32_t rule)
{
	b->keys[b->n_keys++] = (struct ix_key){.kind = (uint8_t)kind,
					       .field = field,
					       .s = s,
					       .len = len,
					       .entry = entry,
					       .rule = rule};
}

/* The build's field for @kv (pseudo-headers by kind, headers by name). */
static uint32_t field_id(struct ix_build *b, const struct rt_kv *kv)
{
	uint32_t id;

	if (kv->field != RF_HEADER) {
		for (id = 0; id < b->n_fields; id++)
			if (b->fields[id].field == kv->field)
				return id;
	} else if (rt_strmap_get(&b->header_ids, kv->name, kv->name_len, &id)) {
		return id;
	}
	id = (uint32_t)b->n_fields++;
	b->fields[id] = (struct ix_field){
		.field = kv->field, .name = kv->name, .name_len = kv->name_len, .slot = -1};
	if (kv->field == RF_HEADER)
		rt_strmap_put_len(&b->header_ids, kv->name, kv->name_len, id);
	return id;
}

/* The conditions of entry @k of rule @r that could be its key. */
static void entry_keys(struct ix_build *b, const struct rt_rule *r, size_t k, uint32_t entry)
{
	const struct rt_match *m = &r->m[k];
	char *path = b->arena + b->arena_len;
	size_t len = 0;

	if (m->uri.kind == SM_EXACT || m->uri.kind == SM_PREFIX) {
		len = m->uri.len;
		memcpy(path, m->uri.s, len);
	} else if (m->uri.kind == SM_REGEX) {
		const char *pat = r->src->match[k].uri.value;

		len = rt_regex_prefix(pat, path, pat ? strlen(pat) : 0);
	}
	for (size_t i = 0; i < len; i++)
		path[i] = fold(path[i]);
	if (len) {
		add_key(b, m->uri.kind == SM_EXACT ? IX_EXACT : IX_PREFIX, 0, path, len, entry,
			(uint32_t)r->index);
		b->arena_len += len;
	}
	for (size_t i = 0; i < m->n_hdrs; i++) {
		const struct rt_kv *kv = &m->hdrs[i];
		uint32_t f;

		if (kv->invert || kv->field == RF_PATH)
			continue;
		f = field_id(b, kv);
		if (kv->m.kind == SM_EXACT)
			add_key(b, IX_VALUE, f, kv->m.s, kv->m.len, entry, (uint32_t)r->index);
		if (kv->field == RF_HEADER || kv->field == RF_AUTHORITY)
			add_key(b, IX_PRESENT, f, NULL, 0, entry, (uint32_t)r->index);
	}
}

static int bytes_cmp(const char *a, size_t al, const char *b, size_t bl)
{
	int c = memcmp(a, b, al < bl ? al : bl);

	return c ? c : al < bl ? -1 : al > bl;
}

/* Keys by what they name (kind, field, string), then by rule and entry. */
static int key_cmp(const void *pa, const void *pb)
{
	const struct ix_key *a = pa, *b = pb;
	int c;

	if (a->kind != b->kind)
		return a->kind < b->kind ? -1 : 1;
	if (a->field != b->field)
		return a->field < b->field ? -1 : 1;
	c = bytes_cmp(a->s ? a->s : "", a->len, b->s ? b->s : "", b->len);
	if (c)
		return c;
	if (a->rule != b->rule)
		return a->rule < b->rule ? -1 : 1;
	return a->entry < b->entry ? -1 : a->entry > b->entry;
}

static bool same_key(const struct ix_key *a, const struct ix_key *b)
{
	return a->kind == b->kind && a->field == b->field && a->len == b->len &&
	       (!a->len || !memcmp(a->s, b->s, a->len));
}

/* The end of the group of keys naming what keys[i] names. */
static size_t group_end(const struct ix_build *b, size_t i)
{
	size_t j = i + 1;

	while (j < b->n_keys && same_key(&b->keys[i], &b->keys[j]))
		j++;
	return j;
}

/* Counts the rules of each key, and lets the RT_IX_FIELDS_MAX fields most keys name be keys. */
static void count_keys(struct ix_build *b)
{
	for (size_t i = 0, j; i < b->n_keys; i = j) {
		uint32_t n = 0;

		j = group_end(b, i);
		for (size_t k = i; k < j; k++)
			n += k == i || b->keys[k].rule != b->keys[k - 1].rule;
		for (size_t k = i; k < j; k++)
			b->keys[k].count = n;
		if (b->keys[i].kind >= IX_VALUE)
			b->fields[b->keys[i].field].uses += j - i;
	}
	for (int32_t slot = 0; slot < RT_IX_FIELDS_MAX; slot++) {
		struct ix_field *top = NULL;

		for (size_t f = 0; f < b->n_fields; f++)
			if (b->fields[f].slot < 0 && (!top || b->fields[f].uses > top->uses))
				top = &b->fields[f];
		if (!top)
			break;
		top->slot = slot;
	}
}

/* Each entry's key: the allowed one with the fewest rules (paths first on a tie). */
static void choose_keys(struct ix_build *b)
{
	for (size_t i = 0; i < b->n_keys; i++) {
		const struct ix_key *k = &b->keys[i];
		int64_t *best = &b->best[k->entry];

		if (k->kind >= IX_VALUE && b->fields[k->field].slot < 0)
			continue;
		if (*best < 0 || k->count < b->keys[*best].count ||
		    (k->count == b->keys[*best].count && k->kind < b->keys[*best].kind))
			*best = (int64_t)i;
	}
	for (size_t e = 0; e < b->vs->n_matches; e++)
		if (b->best[e] >= 0)
			b->keys[b->best[e]].chosen = true;
}

static int ix_path_cmp(const void *pa, const void *pb)
{
	const struct ix_path *a = pa, *b = pb;

	return bytes_cmp(a->s, a->len, b->s, b->len);
}

/* The distinct paths the chosen keys name, sorted. */
static int collect_paths(struct ix_build *b)
{
	size_t n = 0;

	b->paths = calloc(b->n_keys + 1, sizeof(*b->paths));
	if (!b->paths)
		return -ENOMEM;
	for (size_t i = 0; i < b->n_keys && b->keys[i].kind <= IX_PREFIX; i++)
		if (b->keys[i].chosen)
			b->paths[n++] = (struct ix_path){b->keys[i].s, b->keys[i].len, 0};
	qsort(b->paths, n, sizeof(*b->paths), ix_path_cmp);
	for (size_t i = 0; i < n; i++)
		if (!b->n_paths || ix_path_cmp(&b->paths[b->n_paths - 1], &b->paths[i]))
			b->paths[b->n_paths++] = b->paths[i];
	return 0;
}

/* One node to fill: paths[lo..hi), which share their first @depth bytes. */
struct trie_task {
	uint32_t node, lo, hi, depth;
};

/*
 * Fills node @t->node: its label runs from @t->depth to what all its paths share; a path that
 * ends there ends at it; the others go to one child per next byte, added at the end of the
 * array (breadth first: a node's children are contiguous and come after it).
 */
static void trie_node(struct ix_build *b, struct rt_index *ix, const size_t *off,
		      const struct trie_task *t, struct trie_task *queue, size_t *tail,
		      uint32_t *n_nodes)
{
	struct rt_tnode *nd = &ix->nodes[t->node];
	const struct ix_path *first = &b->paths[t->lo], *last = &b->paths[t->hi - 1];
	size_t lcp = t->depth, i = t->lo;

	while (lcp < first->len && lcp < last->len && first->s[lcp] == last->s[lcp])
		lcp++;
	nd->label = (uint32_t)(off[t->lo] + t->depth);
	nd->label_len = (uint32_t)(lcp - t->depth);
	if (first->len == lcp)
		b->paths[i++].node = t->node;
	nd->kids = *n_nodes;
	while (i < t->hi) {
		size_t j = i + 1;

		while (j < t->hi && b->paths[j].s[lcp] == b->paths[i].s[lcp])
			j++;
		queue[(*tail)++] =
			(struct trie_task){*n_nodes, (uint32_t)i, (uint32_t)j, (uint32_t)lcp};
		(*n_nodes)++;
		nd->n_kids++;
		i = j;
	}
}

/* The radix trie over the distinct paths (at most 2n nodes for n paths). */
static int build_trie(struct ix_build *b, struct rt_index *ix)
{
	size_t n = b->n_paths, cap = 2 * n + 1, chars = 0, head = 0, tail = 0;
	struct trie_task *queue;
	uint32_t n_nodes = 1;
	size_t *off;
	int err = -ENOMEM;

	if (!n)
		return 0;
	for (size_t i = 0; i < n; i++)
		chars += b->paths[i].len;
	ix->nodes = calloc(cap, sizeof(*ix->nodes));
	ix->chars = malloc(chars + 1);
	queue = calloc(cap, sizeof(*queue));
	off = calloc(n, sizeof(*off));
	if (!ix->nodes || !ix->chars || !queue || !off)
		goto out;
	chars = 0;
	for (size_t i = 0; i < n; i++) {
		off[i] = chars;
		memcpy(ix->chars + chars, b->paths[i].s, b->paths[i].len);
		chars += b->paths[i].len;
	}
	queue[tail++] = (struct trie_task){0, 0, (uint32_t)n, 0};
	while (head < tail)
		trie_node(b, ix, off, &queue[head++], queue, &tail, &n_nodes);
	ix->n_nodes = n_nodes;
	err = 0;
out:
	free(queue);
	free(off);
	return err;
}

/* The trie node of path @s. */
static uint32_t path_node(const struct ix_build *b, const char *s, size_t len)
{
	size_t lo = 0, hi = b->n_paths;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = bytes_cmp(b->paths[mid].s, b->paths[mid].len, s, len);

		if (!c)
			return b->paths[mid].node;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0; /* not reached: every chosen path is in paths */
}

/* Writes the rules of the chosen keys among keys[i..j) as a list; 0 (empty) if none. */
static uint32_t write_list(struct ix_build *b, struct rt_index *ix, size_t i, size_t j)
{
	uint32_t off = (uint32_t)b->pool_len, n = 0;

	for (size_t k = i; k < j; k++)
		if (b->keys[k].chosen && (!n || ix->pool[off + n] != b->keys[k].rule))
			ix->pool[off + 1 + n++] = b->keys[k].rule;
	if (!n)
		return 0;
	ix->pool[off] = n;
	b->pool_len += 1 + n;
	return off;
}

/* Gives the fields some entry has its key on their slots, by the lowest rule they name (the
 * order a request looks them up in), and their first rule to each. */
static void order_fields(struct ix_build *b, struct rt_index *ix)
{
	for (size_t f = 0; f < b->n_fields; f++)
		b->fields[f].first = UINT32_MAX;
	for (size_t i = 0; i < b->n_keys; i++) {
		struct ix_field *f = &b->fields[b->keys[i].field];

		if (b->keys[i].kind >= IX_VALUE && b->keys[i].chosen && b->keys[i].rule < f->first)
			f->first = b->keys[i].rule;
	}
	for (size_t f = 0; f < b->n_fields; f++)
		if (b->fields[f].first == UINT32_MAX)
			b->fields[f].slot = -1; /* allowed, but no entry's key */
	for (int32_t slot = 0;; slot++) {
		struct ix_field *next = NULL;

		for (size_t f = 0; f < b->n_fields; f++)
			if (b->fields[f].slot >= 0 && b->fields[f].slot < RT_IX_FIELDS_MAX &&
			    (!next || b->fields[f].first < next->first))
				next = &b->fields[f];
		if (!next)
			break;
		next->slot = RT_IX_FIELDS_MAX + slot; /* placed: out of the search */
		ix->n_fields++;
	}
	for (size_t f = 0; f < b->n_fields; f++)
		if (b->fields[f].slot >= RT_IX_FIELDS_MAX)
			b->fields[f].slot -= RT_IX_FIELDS_MAX;
}

/* The key fields in their slots; their value maps sized for their chosen values. */
static int build_fields(struct ix_build *b, struct rt_index *ix)
{
	size_t n_values[RT_IX_FIELDS_MAX] = {0};

	order_fields(b, ix);
	ix->fields = calloc(ix->n_fields + 1, sizeof(*ix->fields));
	if (!ix->fields)
		return -ENOMEM;
	for (size_t i = 0, j; i < b->n_keys; i = j) {
		j = group_end(b, i);
		if (b->keys[i].kind == IX_VALUE && b->fields[b->keys[i].field].slot >= 0)
			for (size_t k = i; k < j; k++)
				if (b->keys[k].chosen) {
					n_values[b->fields[b->keys[i].field].slot]++;
					break;
				}
	}
	for (size_t f = 0; f < b->n_fields; f++) {
		const struct ix_field *bf = &b->fields[f];
		struct rt_ixfield *xf;

		if (bf->slot < 0)
			continue;
		xf = &ix->fields[bf->slot];
		*xf = (struct rt_ixfield){.field = bf->field,
					  .name = bf->name,
					  .name_len = bf->name_len,
					  .first = bf->first};
		if (n_values[bf->slot] && rt_strmap_init(&xf->values, n_values[bf->slot]))
			return -ENOMEM;
	}
	return 0;
}

/* Every list: trie nodes', fields', and the always list. */
static void fill_lists(struct ix_build *b, struct rt_index *ix)
{
	const struct rt_vs *vs = b->vs;

	b->pool_len = 1; /* offset 0: the empty list */
	for (size_t i = 0, j; i < b->n_keys; i = j) {
		const struct ix_key *k = &b->keys[i];
		uint32_t off;

		j = group_end(b, i);
		if (k->kind >= IX_VALUE && b->fields[k->field].slot < 0)
			continue;
		off = write_list(b, ix, i, j);
		if (!off)
			continue;
		if (k->kind == IX_EXACT)
			ix->nodes[path_node(b, k->s, k->len)].exact = off;
		else if (k->kind == IX_PREFIX)
			ix->nodes[path_node(b, k->s, k->len)].pre = off;
		else if (k->kind == IX_PRESENT)
			ix->fields[b->fields[k->field].slot].present = off;
		else
			rt_strmap_put_len(&ix->fields[b->fields[k->field].slot].values, k->s,
					  k->len, off);
	}
	ix->always = (uint32_t)b->pool_len;
	for (size_t r = 0; r < vs->n_rules; r++) {
		const struct rt_rule *rule = &vs->rules[r];
		bool always = !rule->n_m;

		for (size_t k = 0; k < rule->n_m && !always; k++)
			always = b->best[(size_t)(rule->m - vs->matches) + k] < 0;
		if (always)
			ix->pool[ix->always + 1 + ix->pool[ix->always]++] = (uint32_t)r;
	}
	b->pool_len += 1 + ix->pool[ix->always];
}

/* The most lists a request gathers: the always list, two per field, and along a trie path. */
static int count_cursors(struct rt_index *ix)
{
	uint32_t *lists = calloc(ix->n_nodes + 1, sizeof(*lists)), most = 0;

	if (!lists)
		return -ENOMEM;
	for (size_t i = 0; i < ix->n_nodes; i++) {
		const struct rt_tnode *nd = &ix->nodes[i];

		lists[i] += (nd->pre != 0) + (nd->exact != 0);
		most = lists[i] > most ? lists[i] : most;
		for (uint32_t k = 0; k < nd->n_kids; k++)
			lists[nd->kids + k] = lists[i];
	}
	ix->max_cursors = 1 + 2 * ix->n_fields + most;
	free(lists);
	return 0;
}

static bool client_conditions(const struct rt_match *m)
{
	return !m->by_gateways && (m->src_labels || m->src_ns != RT_NS_ANY);
}

static int u32_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* What a miss asks (rt_vs_applies()): the ports with an entry for every mesh client, and the
 * entries with client conditions. */
static int build_applies(struct rt_vs *vs)
{
	struct rt_index *ix = &vs->ix;
	size_t n_ports = 0, n_cond = 0;
	uint32_t *ports;

	for (size_t e = 0; e < vs->n_matches; e++) {
		n_ports += vs->matches[e].mesh && !client_conditions(&vs->matches[e]);
		n_cond += vs->matches[e].mesh && client_conditions(&vs->matches[e]);
	}
	ix->ports = calloc(n_ports + 1, sizeof(*ix->ports));
	ix->cond = calloc(n_cond + 1, sizeof(*ix->cond));
	if (!ix->ports || !ix->cond)
		return -ENOMEM;
	for (size_t e = 0; e < vs->n_matches; e++) {
		const struct rt_match *m = &vs->matches[e];

		if (m->mesh && client_conditions(m))
			ix->cond[ix->n_cond++] = (uint32_t)e;
		else if (m->mesh)
			ix->ports[ix->n_ports++] = m->port;
	}
	qsort(ix->ports, ix->n_ports, sizeof(*ix->ports), u32_cmp);
	n_ports = 0;
	for (size_t i = 0; i < ix->n_ports; i++)
		if (!n_ports || ix->ports[n_ports - 1] != ix->ports[i])
			ix->ports[n_ports++] = ix->ports[i];
	ix->n_ports = n_ports;
	ports = realloc(ix->ports, (n_ports + 1) * sizeof(*ports));
	if (ports)
		ix->ports = ports;
	return 0;
}

/* Sizes the build for @vs: keys, lower-case paths, fields. */
static int build_init(struct ix_build *b, struct rt_vs *vs)
{
	size_t n_keys = 0, chars = 0, n_hdrs = 0;

	b->vs = vs;
	for (size_t e = 0; e < vs->n_matches; e++) {
		const struct rt_match *m = &vs->matches[e];

		n_keys += 1 + 2 * m->n_hdrs;
		n_hdrs += m->n_hdrs;
		chars += m->uri.len;
	}
	for (size_t r = 0; r < vs->n_rules; r++)
		for (size_t k = 0; k < vs->rules[r].n_m; k++)
			if (vs->rules[r].m[k].uri.kind == SM_REGEX &&
			    vs->rules[r].src->match[k].uri.value)
				chars += strlen(vs->rules[r].src->match[k].uri.value);
	b->keys = calloc(n_keys + 1, sizeof(*b->keys));
	b->arena = malloc(chars + 1);
	b->fields = calloc(n_hdrs + 1, sizeof(*b->fields));
	b->best = malloc((vs->n_matches + 1) * sizeof(*b->best));
	vs->ix.pool = calloc(2 + vs->n_rules + 2 * n_keys, sizeof(*vs->ix.pool));
	if (!b->keys || !b->arena || !b->fields || !b->best || !vs->ix.pool ||
	    rt_strmap_init(&b->header_ids, n_hdrs))
		return -ENOMEM;
	memset(b->best, 0xff, (vs->n_matches + 1) * sizeof(*b->best));
	return 0;
}

static void build_free(struct ix_build *b)
{
	free(b->keys);
	free(b->arena);
	free(b->fields);
	free(b->best);
	free(b->paths);
	rt_strmap_free(&b->header_ids);
}

/* Builds vs->ix (see struct rt_index). 0 or -ENOMEM. */
static int build_index(struct rt_vs *vs)
{
	struct ix_build b = {0};
	uint32_t *pool;
	int err = build_init(&b, vs);

	for (size_t r = 0; !err && r < vs->n_rules; r++)
		for (size_t k = 0; k < vs->rules[r].n_m; k++)
			entry_keys(&b, &vs->rules[r], k,
				   (uint32_t)(vs->rules[r].m - vs->matches + k));
	if (err)
		goto out;
	qsort(b.keys, b.n_keys, sizeof(*b.keys), key_cmp);
	count_keys(&b);
	choose_keys(&b);
	err = collect_paths(&b);
	if (!err)
		err = build_trie(&b, &vs->ix);
	if (!err)
		err = build_fields(&b, &vs->ix);
	if (err)
		goto out;
	fill_lists(&b, &vs->ix);
	pool = realloc(vs->ix.pool, b.pool_len * sizeof(*pool));
	if (pool)
		vs->ix.pool = pool;
	err = count_cursors(&vs->ix);
	if (!err)
		err = build_applies(vs);
out:
	build_free(&b);
	return err;
}

static bool applies_always(const struct rt_match *m)
{
	return m->mesh && !m->port &&
	       (m->by_gateways || (!m->src_labels && m->src_ns == RT_NS_ANY));
}

int rt_vs_index(struct rt_vs *vs)
{
	int err;

	for (size_t r = 0; r < vs->n_rules; r++) {
		const struct rt_rule *rule = &vs->rules[r];

		vs->always_applies |= !rule->n_m;
		for (size_t k = 0; k < rule->n_m; k++)
			vs->always_applies |= applies_always(&rule->m[k]);
	}
	if (vs->n_rules < RT_INDEX_MIN_RULES)
		return 0;
	err = build_index(vs);
	if (err)
		return err;
	vs->indexed = true;
	return 0;
}

void rt_vs_index_free(struct rt_vs *vs)
{
	struct rt_index *ix = &vs->ix;

	for (size_t i = 0; ix->fields && i < ix->n_fields; i++)
		rt_strmap_free(&ix->fields[i].values);
	free(ix->fields);
	free(ix->nodes);
	free(ix->chars);
	free(ix->pool);
	free(ix->ports);
	free(ix->cond);
	memset(ix, 0, sizeof(*ix));
}
