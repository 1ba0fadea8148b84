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

static inline bool pp_same_labels(const struct pp_sample *a, const struct pp_sample *b,
				  const char *skip)
{
	int na = 0, nb = 0;

	for (int i = 0; i < a->n; i++) {
		bool found = false;

		if (skip && !strcmp(a->l[i].name, skip))
			continue;
		na++;
		for (int j = 0; j < b->n && !found; j++)
			found = !strcmp(a->l[i].name, b->l[j].name) &&
				!strcmp(a->l[i].value, b->l[j].value);
		if (!found)
			return false;
	}
	for (int j = 0; j < b->n; j++)
		nb += !skip || strcmp(b->l[j].name, skip);
	return na == nb;
}

static inline const char *pp_get(const struct pp_sample *s, const char *name)
{
	for (int i = 0; i < s->n; i++)
		if (!strcmp(s->l[i].name, name))
			return s->l[i].value;
	return NULL;
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
	for (int i = d->n - 1; i >= 0 && !strcmp(d->s[i].name, sm->name); i--)
		if (pp_same_labels(&d->s[i], sm, NULL))
			return pp_fail(d, line, "series repeated", sm->name);
	d->n++;
	return 0;
}

/* The checks of histogram @f's series, once every line is read. */
static inline int pp_histogram(struct pp_doc *d, const struct pp_family *f)
{
	char bucket[PP_NAME_MAX + 8], sum[PP_NAME_MAX + 8], count[PP_NAME_MAX + 8];

	snprintf(bucket, sizeof(bucket), "%s_bucket", f->name);
	snprintf(sum, sizeof(sum), "%s_sum", f->name);
	snprintf(count, sizeof(count), "%s_count", f->name);
	for (int i = 0; i < d->n; i++) {
		const struct pp_sample *c = &d->s[i];
		double last_le = -INFINITY, last = 0, inf = -1;
		bool has_sum = false;

		if (strcmp(c->name, count))
			continue;
		for (int j = 0; j < d->n; j++) {
			const struct pp_sample *b = &d->s[j];
			const char *le = pp_get(b, "le");
			double v;

			if (!strcmp(b->name, sum) && pp_same_labels(b, c, NULL))
				has_sum = true;
			if (strcmp(b->name, bucket) || !pp_same_labels(b, c, "le"))
				continue;
			if (!le || !pp_number(le, &v) || !(v > last_le))
				return pp_fail(d, b->line, "bucket le missing or not increasing",
					       le);
			if (b->v < last)
				return pp_fail(d, b->line, "bucket counts not cumulative", NULL);
			last_le = v;
			last = b->v;
			if (isinf(v))
				inf = b->v;
		}
		if (inf < 0)
			return pp_fail(d, c->line, "histogram series without an +Inf bucket", NULL);
		if (inf != c->v)
			return pp_fail(d, c->line, "_count is not the +Inf bucket", NULL);
		if (!has_sum)
			return pp_fail(d, c->line, "histogram series without _sum", NULL);
	}
	return 0;
}

static inline void pp_free(struct pp_doc *d, char *text)
{
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
