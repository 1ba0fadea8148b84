// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * networking.istio.io, the part shared by both kinds: strict decoding (the
 * webhook refuses unknown fields; the proto's snake_case names are accepted
 * like protojson does), typed fields (durations, StringMatch, Destination,
 * exportTo, labels) validated with Istio's rules and messages; then the
 * release of the model. The VirtualService parser is in config_istio_vs.c,
 * the DestinationRule parser in config_istio_dr.c, the checks that need every
 * object in config_istio_finish.c.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config_int.h"
#include "istio.h"
#include "log.h"
#include "regex.h"

#define CLUSTER_DOMAIN "svc.cluster.local"
#define REGEX_MAX_LEN  1024 /* Istio's stand-in for Envoy's RE2 program size limit */

/* ---- field names and strict decoding ---- */

/* The proto (snake_case) name of JSON name @camel. */
static const char *snake_of(const char *camel, char *buf, size_t len)
{
	size_t o = 0;

	if (!strcmp(camel, "consecutive5xxErrors"))
		return "consecutive_5xx_errors";
	for (const char *c = camel; *c && o + 2 < len; c++) {
		if (*c >= 'A' && *c <= 'Z') {
			buf[o++] = '_';
			buf[o++] = (char)(*c - 'A' + 'a');
		} else {
			buf[o++] = *c;
		}
	}
	buf[o] = '\0';
	return buf;
}

static const char *key_str(const yaml_node_t *k)
{
	return k && k->type == YAML_SCALAR_NODE ? (const char *)k->data.scalar.value : NULL;
}

const char *ist_key(struct yt *t, yaml_node_t *map, const char *camel)
{
	char buf[64];
	const char *snake = snake_of(camel, buf, sizeof(buf));

	if (!map || map->type != YAML_MAPPING_NODE || !strcmp(snake, camel))
		return camel;
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
	     p++) {
		const char *k = key_str(yt_node(t, p->key));

		if (k && !strcmp(k, camel))
			return camel;
		if (k && !strcmp(k, snake))
			return k; /* points into the document, which outlives the parse */
	}
	return camel;
}

static const struct ist_field *find_field(const struct ist_field *fields, const char *key)
{
	char buf[64];

	for (const struct ist_field *f = fields; f->name; f++) {
		if (!strcmp(f->name, key) || !strcmp(snake_of(f->name, buf, sizeof(buf)), key))
			return f;
	}
	return NULL;
}

void ist_check_fields(struct yt *t, yaml_node_t *map, const struct ist_field *fields)
{
	if (!map || map->type != YAML_MAPPING_NODE)
		return;
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = yt_node(t, p->key), *v = yt_node(t, p->value);
		const char *key = key_str(k);
		const struct ist_field *f;

		if (!key)
			continue;
		f = find_field(fields, key);
		if (!f) {
			yt_error(t, k->start_mark, key, "unknown field (not in the Istio API)");
			continue;
		}
		/* Both spellings of one field: protojson refuses that too. */
		for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < p; q++) {
			const char *prev = key_str(yt_node(t, q->key));

			if (prev && strcmp(prev, key) && find_field(fields, prev) == f)
				yt_error(t, k->start_mark, key, "set twice (also as %s)", prev);
		}
		if (!v || yt_is_null(v))
			continue;
		switch (f->use) {
		case IST_PARSED:
			break;
		case IST_WARN:
			yt_report(t, LOG_WARN, k->start_mark, key, "%s",
				  f->why ? f->why : "not supported yet, ignored");
			break;
		case IST_NOTICE:
			yt_report(t, LOG_INFO, k->start_mark, key, "%s",
				  f->why ? f->why : "not used by shunt, ignored");
			break;
		case IST_REJECT:
			yt_error(t, k->start_mark, key, "%s", f->why ? f->why : "not supported");
			break;
		}
	}
}

/* ---- typed fields ---- */

int ist_int(struct yt *t, yaml_node_t *map, const char *camel, long min, long max, long *out)
{
	return yt_int(t, map, ist_key(t, map, camel), 0, min, max, out);
}

int ist_str(struct yt *t, yaml_node_t *map, const char *camel, unsigned flags, char **out)
{
	return yt_str(t, map, ist_key(t, map, camel), flags, out);
}

int ist_bool(struct yt *t, yaml_node_t *map, const char *camel, bool *out)
{
	return yt_bool(t, map, ist_key(t, map, camel), 0, out);
}

void ist_str_list_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

int ist_str_list(struct yt *t, yaml_node_t *map, const char *camel, char ***out, size_t *n)
{
	const char *key = ist_key(t, map, camel);
	struct yt_frame f;
	yaml_node_t *seq;
	int err;

	*out = NULL;
	*n = 0;
	err = yt_seq(t, map, key, 0, &seq);
	if (err)
		return err;
	*out = calloc(yt_seq_len(seq) + 1, sizeof(**out));
	if (!*out) {
		t->oom = true;
		return -EINVAL;
	}
	for (size_t i = 0; i < yt_seq_len(seq); i++) {
		yaml_node_t *item = yt_seq_item(t, seq, i);

		yt_push(t, &f, key, (long)i, item->start_mark);
		if (yt_is_null(item))
			yt_error(t, item->start_mark, NULL, "expected a string, got null");
		else if (!yt_node_str(t, item, NULL, &(*out)[*n]))
			(*n)++;
		yt_pop(t, &f);
	}
	return 0;
}

/* Go's time.ParseDuration units, in nanoseconds. */
static const struct {
	const char *name;
	int64_t ns;
} dur_units[] = {
	{"ns", 1},
	{"us", 1000},
	{"\xc2\xb5s", 1000}, /* U+00B5 micro sign */
	{"\xce\xbcs", 1000}, /* U+03BC Greek mu */
	{"ms", 1000000},
	{"s", 1000000000},
	{"m", 60LL * 1000000000},
	{"h", 3600LL * 1000000000},
};

/* One "12.5ms" term at *@s: adds its value to *@total. 0 or -EINVAL/-ERANGE. */
static int dur_term(const char **s, __int128 *total)
{
	const char *p = *s, *unit;
	__int128 whole = 0, frac = 0, scale = 1;
	bool digits = false;
	size_t ulen;

	for (; *p >= '0' && *p <= '9'; p++, digits = true) {
		whole = whole * 10 + (*p - '0');
		if (whole > INT64_MAX)
			return -ERANGE;
	}
	if (*p == '.') {
		for (p++; *p >= '0' && *p <= '9'; p++, digits = true) {
			if (scale < (__int128)1000000000000000000LL) {
				frac = frac * 10 + (*p - '0');
				scale *= 10;
			}
		}
	}
	if (!digits)
		return -EINVAL;
	unit = p;
	while (*p && !(*p >= '0' && *p <= '9') && *p != '.')
		p++;
	ulen = (size_t)(p - unit);
	for (size_t i = 0; i < sizeof(dur_units) / sizeof(dur_units[0]); i++) {
		if (strlen(dur_units[i].name) == ulen && !memcmp(dur_units[i].name, unit, ulen)) {
			*total += whole * dur_units[i].ns + frac * dur_units[i].ns / scale;
			if (*total > INT64_MAX)
				return -ERANGE;
			*s = p;
			return 0;
		}
	}
	return -EINVAL;
}

int ist_parse_duration(const char *s, int64_t *ns)
{
	__int128 total = 0;
	bool neg = false;
	int err;

	if (*s == '-' || *s == '+')
		neg = *s++ == '-';
	if (!strcmp(s, "0")) {
		*ns = 0;
		return 0;
	}
	if (!*s)
		return -EINVAL;
	while (*s) {
		err = dur_term(&s, &total);
		if (err)
			return err;
	}
	*ns = neg ? -(int64_t)total : (int64_t)total;
	return 0;
}

int ist_duration(struct yt *t, yaml_node_t *map, const char *camel, unsigned flags, uint64_t *ms)
{
	const char *key = ist_key(t, map, camel);
	yaml_node_t *n = yt_get(t, map, key, NULL);
	char buf[64];
	int64_t ns;
	int err;

	if (!n) {
		if (!(flags & YT_REQUIRED))
			return -ENOENT;
		yt_error(t, t->owner, key, "required field is missing");
		return -EINVAL;
	}
	if (n->type != YAML_SCALAR_NODE || yt_looks_number(n)) {
		yt_error(t, n->start_mark, key,
			 "expected a duration such as \"10s\", \"100ms\" or \"1m\", got %s",
			 yt_describe(n, buf, sizeof(buf)));
		return -EINVAL;
	}
	err = ist_parse_duration((const char *)n->data.scalar.value, &ns);
	if (err) {
		yt_error(t, n->start_mark, key,
			 err == -ERANGE ? "duration %s is too long"
					: "invalid duration %s (expected a number and a unit: h, "
					  "m, s, ms, us or ns, such as \"10s\" or \"1m30s\")",
			 yt_describe(n, buf, sizeof(buf)));
		return -EINVAL;
	}
	if ((flags & IST_DUR_MIN_1MS) && ns < 1000000) {
		yt_error(t, n->start_mark, key, "duration must be greater than 1ms");
		return -EINVAL;
	}
	if (ns < 0) {
		yt_error(t, n->start_mark, key, "duration must not be negative");
		return -EINVAL;
	}
	if ((flags & IST_DUR_MIN_1MS) && ns % 1000000) {
		yt_error(t, n->start_mark, key, "only durations to ms precision are supported");
		return -EINVAL;
	}
	if ((flags & IST_DUR_SECONDS) && ns % 1000000000) {
		yt_error(t, n->start_mark, key,
			 "max_age duration is accurate only to seconds precision");
		return -EINVAL;
	}
	*ms = (uint64_t)ns / 1000000;
	return 0;
}

/* ---- names ---- */

static bool is_alnum(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* [a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])? of @len bytes: Istio's label format, which takes
 * upper case too. */
static bool dns_label_n(const char *s, size_t len)
{
	if (!len || len > 63 || !is_alnum(s[0]) || !is_alnum(s[len - 1]))
		return false;
	for (size_t i = 1; i + 1 < len; i++) {
		if (!is_alnum(s[i]) && s[i] != '-')
			return false;
	}
	return true;
}

bool ist_dns1123_label(const char *s)
{
	return dns_label_n(s, strlen(s));
}

bool ist_header_name(const char *s)
{
	size_t n = strlen(s);

	return n &&
	       strspn(s, "-_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") == n;
}

/* Istio's ValidateDNS1123Labels: labels, the last one may be empty ("a.b."), and a top-level
 * domain that is not all digits. */
static const char *check_dns_labels(const char *domain, const char *full, char *buf, size_t len)
{
	const char *last = strrchr(domain, '.'), *p = domain;

	last = last ? last + 1 : domain;
	if (*last && strspn(last, "0123456789") == strlen(last)) {
		snprintf(buf, len,
			 "domain name \"%s\" invalid (top level domain \"%s\" cannot be "
			 "all-numeric)",
			 full, last);
		return buf;
	}
	for (;;) {
		const char *dot = strchr(p, '.');
		size_t n = dot ? (size_t)(dot - p) : strlen(p);

		if (!dot && n == 0 && p != domain)
			return NULL; /* trailing dot */
		if (!dns_label_n(p, n)) {
			snprintf(buf, len, "domain name \"%s\" invalid (label \"%.*s\" invalid)",
				 full, (int)n, p);
			return buf;
		}
		if (!dot)
			return NULL;
		p = dot + 1;
	}
}

const char *ist_check_fqdn(const char *name, char *buf, size_t len)
{
	if (!*name) {
		snprintf(buf, len, "empty domain name not allowed");
		return buf;
	}
	if (strlen(name) > 255) {
		snprintf(buf, len, "domain name \"%.40s...\" too long (max 255)", name);
		return buf;
	}
	return check_dns_labels(name, name, buf, len);
}

const char *ist_check_wildcard_domain(const char *host, char *buf, size_t len)
{
	const char *dot = strchr(host, '.'), *first = host;
	size_t n = dot ? (size_t)(dot - host) : strlen(host);

	if (!*host) {
		snprintf(buf, len, "empty domain name not allowed");
		return buf;
	}
	if (strlen(host) > 255) {
		snprintf(buf, len, "domain name \"%.40s...\" too long (max 255)", host);
		return buf;
	}
	/* The first label: "*", "*foo", "*-foo" or a plain label. */
	if (first[0] == '*') {
		first++;
		n--;
		if (n && first[0] == '-') {
			first++;
			n--;
		}
	}
	if (n > 62 || (n && !dns_label_n(first, n)) || (!n && first != host + 1)) {
		snprintf(buf, len, "domain name \"%s\" invalid (label \"%.*s\" invalid)", host,
			 (int)(dot ? (size_t)(dot - host) : strlen(host)), host);
		return buf;
	}
	return dot ? check_dns_labels(dot + 1, host, buf, len) : NULL;
}

char *istio_resolve_host(const char *host, const char *ns)
{
	char *out;

	/* "*", IPv6 literals and names with a dot are taken as written, as Istio does. */
	if (!strcmp(host, "*") || strchr(host, '.') || strchr(host, ':'))
		return strdup(host);
	if (asprintf(&out, "%s.%s." CLUSTER_DOMAIN, host, ns) < 0)
		return NULL;
	return out;
}

bool istio_exported_to(char *const *export_to, size_t n, const char *own_ns, const char *ns)
{
	if (!n)
		return true;
	for (size_t i = 0; i < n; i++) {
		const char *e = export_to[i];

		if (!strcmp(e, "*") || (!strcmp(e, ".") && !strcmp(own_ns, ns)) || !strcmp(e, ns))
			return true;
	}
	return false;
}

/* ---- labels ---- */

void ist_labels_release(struct labels *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].key);
		free(l->v[i].value);
	}
	free(l->v);
	memset(l, 0, sizeof(*l));
}

/* (?:[A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9] */
static bool qualified_name(const char *s, size_t n)
{
	if (!n || !is_alnum(s[0]) || !is_alnum(s[n - 1]))
		return false;
	for (size_t i = 0; i < n; i++) {
		if (!is_alnum(s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
			return false;
	}
	return true;
}

/* A Kubernetes label key: an optional DNS-name prefix and '/', then a qualified name. */
static const char *check_label_key(const char *k)
{
	const char *slash = strchr(k, '/'), *name = slash ? slash + 1 : k;

	if (slash) {
		const char *p = k;

		if (slash - k > 253)
			return "invalid tag key: \"%s\" (DNS prefix is too long)";
		while (p < slash) {
			const char *dot = memchr(p, '.', (size_t)(slash - p));
			size_t n = dot ? (size_t)(dot - p) : (size_t)(slash - p);

			if (!dns_label_n(p, n))
				return "invalid tag key: \"%s\"";
			p += n + 1;
		}
	}
	if (!qualified_name(name, strlen(name)))
		return "invalid tag key: \"%s\"";
	if (strlen(name) > 63)
		return "invalid tag key: \"%s\" (name is too long)";
	return NULL;
}

int ist_labels(struct yt *t, yaml_node_t *parent, const char *camel, bool validate,
	       struct labels *out)
{
	const char *key = ist_key(t, parent, camel);
	yaml_node_pair_t *p;
	yaml_node_t *map;
	struct yt_frame f;
	int err;

	err = yt_enter_map(t, parent, key, 0, &f, &map);
	if (err)
		return err;
	out->v = calloc((size_t)(map->data.mapping.pairs.top - map->data.mapping.pairs.start) + 1,
			sizeof(*out->v));
	if (!out->v) {
		t->oom = true;
		goto pop;
	}
	for (p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
		struct label *l = &out->v[out->n];
		yaml_node_t *k = yt_node(t, p->key), *v = yt_node(t, p->value);
		const char *why;

		if (yt_node_str(t, k, NULL, &l->key))
			continue;
		if (yt_is_null(v)) {
			l->value = strdup("");
			t->oom |= !l->value;
		} else {
			yt_node_str(t, v, l->key, &l->value);
		}
		if (!l->value) {
			free(l->key);
			continue;
		}
		out->n++;
		if (!validate)
			continue;
		why = check_label_key(l->key);
		if (why)
			yt_error(t, k->start_mark, l->key, why, l->key);
		if (*l->value && !qualified_name(l->value, strlen(l->value)))
			yt_error(t, v->start_mark, l->key, "invalid tag value: \"%s\"", l->value);
	}
pop:
	yt_pop(t, &f);
	return 0;
}

/* ---- StringMatch, Percent, Destination ---- */

void ist_str_match_release(struct str_match *m)
{
	free(m->value);
	m->value = NULL;
	m->kind = SM_NONE;
}

static const struct ist_field string_match_fields[] = {
	{"exact", IST_PARSED, NULL},
	{"prefix", IST_PARSED, NULL},
	{"regex", IST_PARSED, NULL},
	{NULL, IST_PARSED, NULL},
};

/* Where byte @off of scalar @n's value is, when the value is written on one line without
 * escapes (plain, or quoted with nothing to unescape); else where the scalar starts. */
yaml_mark_t ist_mark_at(const yaml_node_t *n, size_t off)
{
	yaml_mark_t m = n->start_mark;
	size_t quotes = n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE ? 0 : 2;
	bool one_line = n->end_mark.line == n->start_mark.line &&
			n->end_mark.column - n->start_mark.column == n->data.scalar.length + quotes;

	if (one_line && (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE ||
			 n->data.scalar.style == YAML_SINGLE_QUOTED_SCALAR_STYLE ||
			 n->data.scalar.style == YAML_DOUBLE_QUOTED_SCALAR_STYLE))
		m.column += quotes / 2 + off;
	return m;
}

/* Checks a regex to report what Istio's webhook would refuse, pointing at the culprit. */
static void check_regex(struct yt *t, yaml_node_t *n, const char *key, const char *re)
{
	char err[256];
	size_t off = 0;

	if (!*re) {
		yt_error(t, n->start_mark, key, "regex string match should not be empty");
		return;
	}
	if (strlen(re) > REGEX_MAX_LEN) {
		yt_error(t, n->start_mark, key, "regex is too large, max length allowed is %d",
			 REGEX_MAX_LEN);
		return;
	}
	switch (regex_check(re, &off, err, sizeof(err))) {
	case 0:
		break;
	case -ENOMEM:
		t->oom = true;
		break;
	default:
		yt_error(t, ist_mark_at(n, off), key, "invalid regex: %s (Istio uses RE2 syntax)",
			 err);
	}
}

int ist_string_match(struct yt *t, yaml_node_t *n, const char *key, struct str_match *out)
{
	static const enum str_match_kind kinds[] = {SM_EXACT, SM_PREFIX, SM_REGEX};
	unsigned errors = t->errors;
	struct yt_frame f;

	memset(out, 0, sizeof(*out));
	out->loc = config_loc_of(t, n->start_mark);
	if (yt_check_map(t, n, key))
		return -EINVAL;
	yt_push(t, &f, key, -1, n->start_mark);
	ist_check_fields(t, n, string_match_fields);
	for (size_t i = 0; i < 3; i++) {
		const char *name = string_match_fields[i].name;
		yaml_node_t *v = yt_get(t, n, name, NULL);
		char *s;

		if (!v || yt_str(t, n, name, 0, &s))
			continue;
		if (out->kind != SM_NONE) {
			yt_error(t, v->start_mark, name,
				 "only one of exact, prefix or regex may be set");
			free(s);
			continue;
		}
		out->kind = kinds[i];
		out->value = s;
		if (out->kind == SM_REGEX)
			check_regex(t, v, name, s);
	}
	yt_pop(t, &f);
	return t->errors == errors ? 0 : -EINVAL;
}

static const struct ist_field percent_fields[] = {{"value", IST_PARSED, NULL},
						  {NULL, IST_PARSED, NULL}};

int ist_percent(struct yt *t, yaml_node_t *map, const char *camel, bool strict, struct percent *out)
{
	struct yt_frame f;
	yaml_node_t *m, *v;
	double d = 0;
	int err;

	err = yt_enter_map(t, map, ist_key(t, map, camel), 0, &f, &m);
	if (err)
		return err;
	ist_check_fields(t, m, percent_fields);
	err = yt_double(t, m, "value", 0, &d);
	if (err == -EINVAL)
		goto pop;
	v = yt_get(t, m, "value", NULL);
	if (strict && (d < 0 || d > 100 || (d > 0 && d < 0.0001))) {
		yt_error(t, v ? v->start_mark : m->start_mark, "value",
			 "percentage %g is neither 0.0, nor in range [0.0001, 100.0]", d);
		err = -EINVAL;
		goto pop;
	}
	out->value = d;
	out->set = true;
	err = 0;
pop:
	yt_pop(t, &f);
	return err;
}

void ist_destination_release(struct istio_destination *d)
{
	free(d->host);
	free(d->fqdn);
	free(d->subset);
	memset(d, 0, sizeof(*d));
}

static const struct ist_field destination_fields[] = {
	{"host", IST_PARSED, NULL},
	{"subset", IST_PARSED, NULL},
	{"port", IST_PARSED, NULL},
	{NULL, IST_PARSED, NULL},
};
static const struct ist_field port_selector_fields[] = {{"number", IST_PARSED, NULL},
							{NULL, IST_PARSED, NULL}};

int ist_destination(struct yt *t, yaml_node_t *map, const char *camel, const char *ns,
		    struct istio_destination *out)
{
	unsigned errors = t->errors;
	yaml_node_t *m, *n, *port;
	struct yt_frame f, fp;
	char why[160];
	long v;
	int err;

	err = yt_enter_map(t, map, ist_key(t, map, camel), 0, &f, &m);
	if (err)
		return err;
	out->loc = config_loc_of(t, m->start_mark);
	ist_check_fields(t, m, destination_fields);
	if (!yt_str(t, m, "host", YT_REQUIRED, &out->host)) {
		n = yt_get(t, m, "host", NULL);
		if (!strcmp(out->host, "*"))
			yt_error(t, n->start_mark, "host", "invalid destination host *");
		else if (ist_check_wildcard_domain(out->host, why, sizeof(why)))
			yt_error(t, n->start_mark, "host", "%s", why);
		out->fqdn = istio_resolve_host(out->host, ns);
		t->oom |= !out->fqdn;
	}
	if (!yt_str(t, m, "subset", 0, &out->subset)) {
		n = yt_get(t, m, "subset", NULL);
		if (!*out->subset)
			yt_error(t, n->start_mark, "subset", "subset name cannot be empty");
		else if (!ist_dns1123_label(out->subset))
			yt_error(t, n->start_mark, "subset", "subset name is invalid: %s",
				 out->subset);
	}
	if (!yt_enter_map(t, m, "port", 0, &fp, &port)) {
		ist_check_fields(t, port, port_selector_fields);
		n = yt_get(t, port, "number", NULL);
		if (!yt_int(t, port, "number", 0, LONG_MIN, LONG_MAX, &v)) {
			if (v < 1 || v > 65535)
				yt_error(t, n->start_mark, "number",
					 "port number %ld must be in the range 1..65535", v);
			else
				out->port = (uint32_t)v;
		}
		yt_pop(t, &fp);
	}
	yt_pop(t, &f);
	return t->errors == errors ? 0 : -EINVAL;
}

/* ---- exportTo, metadata ---- */

void ist_export_to(struct yt *t, yaml_node_t *spec, const char *ns, bool dr_with_selector,
		   char ***out, size_t *n)
{
	const char *key = ist_key(t, spec, "exportTo");
	yaml_node_t *seq = yt_get(t, spec, key, NULL);
	bool public = false, own = false;

	if (ist_str_list(t, spec, "exportTo", out, n) || !*n)
		return;
	for (size_t i = 0; i < *n; i++) {
		const char *e = (*out)[i], *as = strcmp(e, ".") ? e : ns;
		yaml_node_t *item = yt_seq_item(t, seq, i);
		struct yt_frame f;

		yt_push(t, &f, key, (long)i, item->start_mark);
		for (size_t j = 0; j < i; j++) {
			const char *p = (*out)[j], *pas = strcmp(p, ".") ? p : ns;

			if (strcmp(as, pas))
				continue;
			if (strcmp(p, e))
				yt_error(
					t, item->start_mark, NULL,
					"duplicate entries in exportTo: . and current namespace %s",
					ns);
			else
				yt_error(t, item->start_mark, NULL,
					 "duplicate entries in exportTo for entry %s", e);
			break;
		}
		if (!strcmp(e, "~"))
			yt_error(
				t, item->start_mark, NULL,
				"exportTo ~ (none) is not allowed for Istio configuration objects");
		else if (strcmp(e, "*") && strcmp(e, ".") && !ist_dns1123_label(e))
			yt_error(t, item->start_mark, NULL,
				 "only ., *, or a valid DNS 1123 label is allowed as exportTo "
				 "entry");
		public |= !strcmp(e, "*");
		own |= !strcmp(as, ns);
		yt_pop(t, &f);
	}
	if (public && *n > 1)
		yt_error(t, seq->start_mark, key,
			 "cannot have both public (*) and non-public exportTo values for a "
			 "resource");
	if (dr_with_selector && (!own || *n > 1))
		yt_error(
			t, seq->start_mark, key,
			own ? "destination rule with workload selector cannot have multiple "
			      "entries "
			      "in exportTo"
			    : "destination rule with workload selector cannot have exportTo beyond "
			      "current namespace");
}

int ist_parse_rfc3339(const char *s, int64_t *secs)
{
	struct tm tm = {0};
	int n = 0, off = 0;
	const char *p;

	if (sscanf(s, "%4d-%2d-%2d%*1[Tt ]%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
		   &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6 ||
	    n != 19)
		return -EINVAL;
	p = s + n;
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9'; p++)
			;
	if ((*p == 'Z' || *p == 'z') && !p[1]) {
		off = 0;
	} else if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':') {
		int hh = atoi(p + 1), mm = atoi(p + 4);

		off = (hh * 60 + mm) * 60 * (*p == '-' ? -1 : 1);
	} else {
		return -EINVAL;
	}
	if (tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 ||
	    tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60)
		return -EINVAL;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	*secs = (int64_t)timegm(&tm) - off;
	return 0;
}

void ist_meta(struct yt *t, yaml_node_t *obj, char **name, char **ns, char **created)
{
	yaml_node_t *md, *n;
	struct yt_frame f;
	int64_t secs;

	if (yt_enter_map(t, obj, "metadata", 0, &f, &md)) {
		if (!yt_get(t, obj, "metadata", NULL))
			yt_error(t, t->owner, "metadata.name", "required field is missing");
		goto default_ns;
	}
	if (!yt_str(t, md, "name", YT_REQUIRED, name) && !**name)
		yt_error(t, yt_get(t, md, "name", NULL)->start_mark, "name", "must not be empty");
	yt_str(t, md, "namespace", 0, ns);
	if (!yt_str(t, md, "creationTimestamp", 0, created) && ist_parse_rfc3339(*created, &secs)) {
		n = yt_get(t, md, "creationTimestamp", NULL);
		yt_error(t, n->start_mark, "creationTimestamp",
			 "expected an RFC 3339 time such as 2024-01-02T15:04:05Z, got \"%s\"",
			 *created);
	}
	yt_pop(t, &f);
default_ns:
	if (!*ns || !**ns) {
		free(*ns);
		*ns = strdup("default");
		t->oom |= !*ns;
	}
}

/* ---- the model's release ---- */

void istio_config_release(struct istio_config *ic)
{
	for (size_t i = 0; i < ic->n_vs; i++)
		istio_vs_release(&ic->vs[i]);
	free(ic->vs);
	free(ic->dr); /* what they hold is in the config's string table (config_istio_dr.c) */
	for (size_t i = 0; i < ic->n_sidecars; i++)
		istio_sidecar_release(&ic->sidecars[i]);
	free(ic->sidecars);
	istio_se_release_all(ic);
	istio_gw_release_all(ic);
	memset(ic, 0, sizeof(*ic));
}
