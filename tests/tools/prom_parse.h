/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * A strict parser of the Prometheus text exposition format (version 0.0.4),
 * for the tests: shunt-promcheck and tests/unit/metrics_test.c include it.
 * Header-only on purpose: the agent never parses its own output.
 *
 * prom_parse() checks, and reports the first problem as "line N: why":
 *   - every line is "# HELP name text", "# TYPE name type", another comment,
 *     or a sample "name{label="value",...} value [timestamp]" with valid names,
 *     escapes (\\ \" \n only) and a number (+Inf, -Inf, NaN included);
 *   - a family's HELP and TYPE come at most once each, before its samples,
 *     and its samples are contiguous; a series appears once;
 *   - counters are not negative;
 *   - a histogram's series (by labels without le) have _bucket lines with
 *     increasing le ending at +Inf, cumulative counts, a _sum, and a _count
 *     equal to the +Inf bucket.
 * prom_query() sums the samples of a name whose labels include given ones.
 */
#ifndef SHUNT_PROM_PARSE_H
#define SHUNT_PROM_PARSE_H

#include <ctype.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PP_LABELS_MAX 40
#define PP_NAME_MAX   128

struct pp_label {
	char *name, *value; /* value unescaped */
};

struct pp_sample {
	char name[PP_NAME_MAX];
	struct pp_label l[PP_LABELS_MAX];
	int n;
	double v;
	int line;
};

struct pp_family {
	char name[PP_NAME_MAX];
	char type[16]; /* "" until its TYPE line */
	bool help, typed, sampled, closed;
};

struct pp_doc {
	struct pp_sample *s;
	int n, cap;
	struct pp_family *f;
	int n_f, cap_f;
	char **keys; /* every series' pp_key(), a hash set: a series appears once */
	size_t n_keys, cap_keys;
	char err[256];
};

static inline bool pp_name_ok(const char *s, size_t n, bool metric)
{
	if (!n)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!(isalpha((unsigned char)c) || c == '_' || (metric && c == ':') ||
		      (i && isdigit((unsigned char)c))))
			return false;
	}
	return true;
}

static inline int pp_fail(struct pp_doc *d, int line, const char *why, const char *what)
{
	snprintf(d->err, sizeof(d->err), "line %d: %s%s%s", line, why, what ? ": " : "",
		 what ? what : "");
	return -1;
}

static inline bool pp_number(const char *s, double *v)
{
	char *end;

	if (!strcmp(s, "+Inf") || !strcmp(s, "Inf")) {
		*v = INFINITY;
		return true;
	}
	if (!strcmp(s, "-Inf")) {
		*v = -INFINITY;
		return true;
	}
	if (!strcmp(s, "NaN")) {
		*v = NAN;
		return true;
	}
	if (!*s || isspace((unsigned char)*s))
		return false;
	*v = strtod(s, &end);
	return !*end;
}

/* The family a sample name belongs to: itself, or a histogram's base for _bucket/_sum/_count. */
static inline struct pp_family *pp_family_of(struct pp_doc *d, const char *name)
{
	static const char *const sfx[] = {"_bucket", "_sum", "_count"};

	for (int i = d->n_f - 1; i >= 0; i--) {
		size_t n = strlen(d->f[i].name);

		if (!strcmp(d->f[i].name, name))
			return &d->f[i];
		if (!strcmp(d->f[i].type, "histogram") && !strncmp(d->f[i].name, name, n))
			for (int k = 0; k < 3; k++)
				if (!strcmp(name + n, sfx[k]))
					return &d->f[i];
	}
	return NULL;
}

static inline struct pp_family *pp_family_add(struct pp_doc *d, const char *name)
{
	struct pp_family *f;

	if (d->n_f == d->cap_f) {
		int cap = d->cap_f ? 2 * d->cap_f : 16;
		struct pp_family *p = realloc(d->f, (size_t)cap * sizeof(*p));

		if (!p)
			return NULL;
		d->f = p;
		d->cap_f = cap;
	}
	f = &d->f[d->n_f++];
	memset(f, 0, sizeof(*f));
	snprintf(f->name, sizeof(f->name), "%s", name);
	return f;
}

/* "# HELP name ..." or "# TYPE name type". */
static inline int pp_comment(struct pp_doc *d, int line, char *s)
{
	bool help = !strncmp(s, "# HELP ", 7), type = !strncmp(s, "# TYPE ", 7);
	char *name = s + 7, *rest;
	struct pp_family *f;

	if (!help && !type)
		return 0; /* any other comment */
	rest = name + strcspn(name, " ");
	if (*rest)
		*rest++ = '\0';
	if (!pp_name_ok(name, strlen(name), true))
		return pp_fail(d, line, "bad metric name", name);
	f = NULL;
	for (int i = 0; i < d->n_f; i++)
		if (!strcmp(d->f[i].name, name))
			f = &d->f[i];
	if (f && (f->sampled || (help && f->help) || (type && f->typed)))
		return pp_fail(d, line, "HELP or TYPE repeated or after the samples", name);
	if (!f && !(f = pp_family_add(d, name)))
		return pp_fail(d, line, "out of memory", NULL);
	if (help) {
		f->help = true;
		return 0;
	}
	if (strcmp(rest, "counter") && strcmp(rest, "gauge") && strcmp(rest, "histogram") &&
	    strcmp(rest, "summary") && strcmp(rest, "untyped"))
		return pp_fail(d, line, "unknown TYPE", rest);
	f->typed = true;
	snprintf(f->type, sizeof(f->type), "%s", rest);
	return 0;
}

/* Parses a label value at *@p (after the opening quote), unescaping it in place. */
static inline char *pp_value(char **p)
{
	char *out = *p, *w = *p, *r = *p;

	for (; *r && *r != '"'; r++) {
		if (*r != '\\') {
			*w++ = *r;
			continue;
		}
		r++;
		if (*r == '\\' || *r == '"')
			*w++ = *r;
		else if (*r == 'n')
			*w++ = '\n';
		else
			return NULL;
	}
	if (*r != '"')
		return NULL;
	*w = '\0';
	*p = r + 1;
	return out;
}

static inline int pp_labels(struct pp_doc *d, int line, char **p, struct pp_sample *sm)
{
	char *s = *p;

	while (*s != '}') {
		char *name = s, *eq;

		if (sm->n == PP_LABELS_MAX)
			return pp_fail(d, line, "too many labels", NULL);
		eq = strchr(s, '=');
		if (!eq || eq[1] != '"' || !pp_name_ok(name, (size_t)(eq - name), false))
			return pp_fail(d, line, "bad label", NULL);
		*eq = '\0';
		s = eq + 2;
		sm->l[sm->n].name = name;
		if (!(sm->l[sm->n].value = pp_value(&s)))
			return pp_fail(d, line, "bad label value of", name);
		for (int i = 0; i < sm->n; i++)
			if (!strcmp(sm->l[i].name, name))
				return pp_fail(d, line, "label repeated", name);
		sm->n++;
		if (*s == ',')
			s++;
		else if (*s != '}')
			return pp_fail(d, line, "expected , or } after a label", NULL);
	}
	*p = s + 1;
	return 0;
}

static inline const char *pp_get(const struct pp_sample *s, const char *name)
{
	for (int i = 0; i < s->n; i++)
		if (!strcmp(s->l[i].name, name))
			return s->l[i].value;
	return NULL;
}

/* "NAME\x02L1=V1\x01L2=V2..." (@with_name), the labels by name, less @skip: malloc'd. */
static inline char *pp_key(const struct pp_sample *s, const char *skip, bool with_name)
{
	int idx[PP_LABELS_MAX], n = 0;
	size_t len = strlen(s->name) + 2, off;
	char *k;

	for (int i = 0; i < s->n; i++) {
		int j = n;

		if (skip && !strcmp(s->l[i].name, skip))
			continue;
		len += strlen(s->l[i].name) + strlen(s->l[i].value) + 2;
		while (j > 0 && strcmp(s->l[idx[j - 1]].name, s->l[i].name) > 0) {
			idx[j] = idx[j - 1];
			j--;
		}
		idx[j] = i;
		n++;
	}
	k = malloc(len);
	if (!k)
		return NULL;
	off = (size_t)snprintf(k, len, "%s\x02", with_name ? s->name : "");
	for (int i = 0; i < n; i++)
		off += (size_t)snprintf(k + off, len - off, "%s=%s\x01", s->l[idx[i]].name,
					s->l[idx[i]].value);
	return k;
}

static inline uint64_t pp_hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
	return h;
}

/* Adds @key (taken over) to the set: 0, 1 when it was there, -1 out of memory. */
static inline int pp_key_add(struct pp_doc *d, char *key)
{
	size_t i;

	if (!key)
		return -1;
	if (2 * (d->n_keys + 1) > d->cap_keys) {
		size_t cap = d->cap_keys ? 2 * d->cap_keys : 1024;
		char **k = calloc(cap, sizeof(*k));

		if (!k) {
			free(key);
			return -1;
		}
		for (size_t j = 0; j < d->cap_keys; j++)
			if (d->keys[j]) {
				for (i = pp_hash(d->keys[j]) & (cap - 1); k[i]; i = (i + 1) & (cap - 1))
					;
				k[i] = d->keys[j];
			}
		free(d->keys);
		d->keys = k;
		d->cap_keys = cap;
	}
	for (i = pp_hash(key) & (d->cap_keys - 1); d->keys[i]; i = (i + 1) & (d->cap_keys - 1))
		if (!strcmp(d->keys[i], key)) {
			free(key);
			return 1;
		}
	d->keys[i] = key;
	d->n_keys++;
	return 0;
}

static inline int pp_sample_line(struct pp_doc *d, int line, char *s)
{
	struct pp_sample *sm;
	struct pp_family *f;
	size_t n = strcspn(s, "{ ");
	char *val, *ts;

	if (d->n == d->cap) {
		int cap = d->cap ? 2 * d->cap : 256;
		struct pp_sample *p = realloc(d->s, (size_t)cap * sizeof(*p));

		if (!p)
			return pp_fail(d, line, "out of memory", NULL);
		d->s = p;
		d->cap = cap;
	}
	sm = &d->s[d->n];
	memset(sm, 0, sizeof(*sm));
	sm->line = line;
	if (!pp_name_ok(s, n, true) || n >= PP_NAME_MAX)
		return pp_fail(d, line, "bad metric name", NULL);
	memcpy(sm->name, s, n);
	s += n;
	if (*s == '{') {
		s++;
		if (pp_labels(d, line, &s, sm))
			return -1;
	}
	if (*s != ' ')
		return pp_fail(d, line, "expected a space before the value", NULL);
	val = s + 1;
	ts = strchr(val, ' ');
	if (ts)
		*ts++ = '\0';
	if (!pp_number(val, &sm->v) || (ts && !pp_number(ts, &(double){0})))
		return pp_fail(d, line, "bad value", val);
	f = pp_family_of(d, sm->name);
	if (!f && !(f = pp_family_add(d, sm->name)))
		return pp_fail(d, line, "out of memory", NULL);
	if (f->closed)
		return pp_fail(d, line, "samples of a family not together", sm->name);
	for (int i = 0; i < d->n_f; i++)
		if (&d->f[i] != f && d->f[i].sampled)
			d->f[i].closed = true;
	f->sampled = true;
	if (!strcmp(f->type, "counter") && !(sm->v >= 0))
		return pp_fail(d, line, "negative counter", sm->name);
	switch (pp_key_add(d, pp_key(sm, NULL, true))) {
	case -1:
		return pp_fail(d, line, "out of memory", NULL);
	case 1:
		return pp_fail(d, line, "series repeated", sm->name);
	default:
		break;
	}
	d->n++;
	return 0;
}

/* A sample of a histogram family, for the checks once every line is read. */
struct pp_hent {
	char *key; /* pp_key() less le, without the name */
	int kind;  /* 0 _bucket, 1 _sum, 2 _count */
	double le;
	const struct pp_sample *s;
};

static inline int pp_hent_cmp(const void *pa, const void *pb)
{
	const struct pp_hent *a = pa, *b = pb;
	int c = strcmp(a->key, b->key);

	if (c)
		return c;
	if (a->kind != b->kind)
		return a->kind - b->kind;
	return a->le < b->le ? -1 : a->le > b->le;
}

/* One series of a histogram: its entries e[0 .. n), sorted: buckets by le, _sum, _count. */
static inline int pp_hseries(struct pp_doc *d, const struct pp_hent *e, int n)
{
	double last = 0, inf = -1;
	int i, sums = 0, counts = 0, prev_line = 0;

	for (i = 0; i < n && e[i].kind == 0; i++) {
		const char *le = pp_get(e[i].s, "le");

		if (!le || isnan(e[i].le))
			return pp_fail(d, e[i].s->line, "bucket without a numeric le", le);
		if (e[i].s->line < prev_line)
			return pp_fail(d, e[i].s->line, "buckets not in increasing le order", le);
		if (e[i].s->v < last)
			return pp_fail(d, e[i].s->line, "bucket counts not cumulative", le);
		prev_line = e[i].s->line;
		last = e[i].s->v;
		if (isinf(e[i].le))
			inf = e[i].s->v;
	}
	for (; i < n; i++) {
		sums += e[i].kind == 1;
		counts += e[i].kind == 2;
	}
	if (inf < 0)
		return pp_fail(d, e[0].s->line, "histogram series without an +Inf bucket", NULL);
	if (!sums || !counts)
		return pp_fail(d, e[0].s->line, "histogram series without _sum or _count", NULL);
	if (e[n - 1].s->v != inf)
		return pp_fail(d, e[n - 1].s->line, "_count is not the +Inf bucket", NULL);
	return 0;
}

/* The checks of histogram @f's series, once every line is read: O(n log n). */
static inline int pp_histogram(struct pp_doc *d, const struct pp_family *f)
{
	static const char *const sfx[] = {"_bucket", "_sum", "_count"};
	size_t fl = strlen(f->name);
	struct pp_hent *e = calloc((size_t)d->n + 1, sizeof(*e));
	int n = 0, err = 0;

	if (!e)
		return pp_fail(d, 0, "out of memory", NULL);
	for (int i = 0; i < d->n && !err; i++) {
		const struct pp_sample *s = &d->s[i];
		const char *le;

		if (strncmp(s->name, f->name, fl))
			continue;
		for (int k = 0; k < 3; k++)
			if (!strcmp(s->name + fl, sfx[k])) {
				le = k ? NULL : pp_get(s, "le");
				e[n] = (struct pp_hent){pp_key(s, "le", false), k, 0, s};
				if (le && !pp_number(le, &e[n].le))
					e[n].le = NAN;
				err = !e[n].key ? pp_fail(d, s->line, "out of memory", NULL) : 0;
				n++;
			}
	}
	if (!err)
		qsort(e, (size_t)n, sizeof(*e), pp_hent_cmp);
	for (int i = 0, j; !err && i < n; i = j) {
		for (j = i + 1; j < n && !strcmp(e[j].key, e[i].key); j++)
			;
		err = pp_hseries(d, e + i, j - i);
	}
	for (int i = 0; i < n; i++)
		free(e[i].key);
	free(e);
	return err;
}

static inline void pp_free(struct pp_doc *d, char *text)
{
	for (size_t i = 0; i < d->cap_keys; i++)
		free(d->keys[i]);
	free(d->keys);
	free(d->s);
	free(d->f);
	free(text);
	memset(d, 0, sizeof(*d));
}

/*
 * Parses @text (modified in place and referred to by the samples: keep it
 * until pp_free()). 0, or -1 with the reason in d->err.
 */
static inline int prom_parse(struct pp_doc *d, char *text)
{
	int line = 0;

	memset(d, 0, sizeof(*d));
	for (char *s = text, *nl; s && *s; s = nl) {
		nl = strchr(s, '\n');
		line++;
		if (!nl)
			return pp_fail(d, line, "the last line does not end with a newline", NULL);
		*nl++ = '\0';
		if (!*s)
			continue;
		if (*s == '#' ? pp_comment(d, line, s) : pp_sample_line(d, line, s))
			return -1;
	}
	for (int i = 0; i < d->n_f; i++)
		if (!strcmp(d->f[i].type, "histogram") && pp_histogram(d, &d->f[i]))
			return -1;
	return 0;
}

/*
 * The sum of the samples named @name whose labels include every one of
 * @want (@n_want name/value pairs: want[2i] the name, want[2i+1] the value);
 * the number of such samples in *@n.
 */
static inline double prom_query(const struct pp_doc *d, const char *name,
				const char *const *want, int n_want, int *n)
{
	double sum = 0;

	*n = 0;
	for (int i = 0; i < d->n; i++) {
		bool ok = !strcmp(d->s[i].name, name);

		for (int k = 0; ok && k < n_want; k++) {
			const char *v = pp_get(&d->s[i], want[2 * k]);

			ok = v && !strcmp(v, want[2 * k + 1]);
		}
		if (ok) {
			sum += d->s[i].v;
			(*n)++;
		}
	}
	return sum;
}

/* A family's TYPE ("counter", ...), or NULL when it has none. */
static inline const char *prom_type(const struct pp_doc *d, const char *family)
{
	for (int i = 0; i < d->n_f; i++)
		if (!strcmp(d->f[i].name, family))
			return d->f[i].typed ? d->f[i].type : NULL;
	return NULL;
}

#endif /* SHUNT_PROM_PARSE_H */
