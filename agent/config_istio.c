// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * networking.istio.io, the part shared by both kinds: strict decoding (the
 * webhook refuses unknown fields; the proto's snake_case names are accepted
 * like protojson does), typed fields (durations, StringMatch, Destination,
 * exportTo, labels) validated with Istio's rules and messages; then the
 * DestinationRule parser and the release of the model. The VirtualService
 * parser is in config_istio_vs.c, the checks that need every object in
 * config_istio_finish.c.
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

/* ---- DestinationRule ---- */

static const struct ist_field dr_spec_fields[] = {
	{"host", IST_PARSED, NULL},
	{"trafficPolicy", IST_PARSED, NULL},
	{"subsets", IST_PARSED, NULL},
	{"exportTo", IST_PARSED, NULL},
	{"workloadSelector", IST_PARSED, NULL},
	{NULL, IST_PARSED, NULL},
};

static const struct ist_field policy_fields[] = {
	{"loadBalancer", IST_PARSED, NULL},
	{"connectionPool", IST_PARSED, NULL},
	{"outlierDetection", IST_PARSED, NULL},
	{"tls", IST_NOTICE, "client TLS settings are ignored (mTLS is not shunt's business yet)"},
	{"portLevelSettings", IST_WARN,
	 "not supported yet: the rule's traffic policy applies to every port"},
	{"tunnel", IST_WARN, NULL},
	{"proxyProtocol", IST_WARN, NULL},
	{"retryBudget", IST_WARN, NULL},
	{NULL, IST_PARSED, NULL},
};

static const struct ist_field lb_fields[] = {
	{"simple", IST_PARSED, NULL},
	{"consistentHash", IST_PARSED, NULL},
	{"localityLbSetting", IST_WARN, "locality load balancing is not supported yet, ignored"},
	{"warmupDurationSecs", IST_WARN, NULL},
	{"warmup", IST_WARN, NULL},
	{NULL, IST_PARSED, NULL},
};

static const struct ist_field hash_fields[] = {
	{"httpHeaderName", IST_PARSED, NULL},
	{"httpCookie", IST_PARSED, NULL},
	{"useSourceIp", IST_PARSED, NULL},
	{"httpQueryParameterName", IST_PARSED, NULL},
	{"ringHash", IST_PARSED, NULL},
	{"minimumRingSize", IST_PARSED, NULL},
	{"maglev", IST_WARN, "Maglev is not supported yet: a ring hash is used"},
	{NULL, IST_PARSED, NULL},
};

static const struct ist_field cookie_fields[] = {
	{"name", IST_PARSED, NULL},	{"path", IST_PARSED, NULL}, {"ttl", IST_PARSED, NULL},
	{"attributes", IST_WARN, NULL}, {NULL, IST_PARSED, NULL},
};

static const struct ist_field ring_fields[] = {{"minimumRingSize", IST_PARSED, NULL},
					       {NULL, IST_PARSED, NULL}};

static const struct ist_field pool_fields[] = {
	{"tcp", IST_PARSED, NULL}, {"http", IST_PARSED, NULL}, {NULL, IST_PARSED, NULL}};

static const struct ist_field pool_tcp_fields[] = {
	{"maxConnections", IST_PARSED, NULL}, {"connectTimeout", IST_PARSED, NULL},
	{"tcpKeepalive", IST_WARN, NULL},     {"maxConnectionDuration", IST_WARN, NULL},
	{"idleTimeout", IST_WARN, NULL},      {NULL, IST_PARSED, NULL},
};

static const struct ist_field pool_http_fields[] = {
	{"http1MaxPendingRequests", IST_PARSED, NULL},
	{"http2MaxRequests", IST_PARSED, NULL},
	{"maxRequestsPerConnection", IST_PARSED, NULL},
	{"idleTimeout", IST_PARSED, NULL},
	{"maxRetries", IST_WARN, NULL},
	{"h2UpgradePolicy", IST_WARN, NULL},
	{"useClientProtocol", IST_WARN, NULL},
	{"maxConcurrentStreams", IST_WARN, NULL},
	{NULL, IST_PARSED, NULL},
};

static const struct ist_field outlier_fields[] = {
	{"consecutive5xxErrors", IST_PARSED, NULL},
	{"consecutiveGatewayErrors", IST_PARSED, NULL},
	{"consecutiveErrors", IST_PARSED, NULL},
	{"interval", IST_PARSED, NULL},
	{"baseEjectionTime", IST_PARSED, NULL},
	{"maxEjectionPercent", IST_PARSED, NULL},
	{"minHealthPercent", IST_PARSED, NULL},
	{"splitExternalLocalOriginErrors", IST_WARN, NULL},
	{"consecutiveLocalOriginFailures", IST_WARN, NULL},
	{NULL, IST_PARSED, NULL},
};

static const struct ist_field subset_fields[] = {
	{"name", IST_PARSED, NULL},
	{"labels", IST_PARSED, NULL},
	{"trafficPolicy", IST_PARSED, NULL},
	{NULL, IST_PARSED, NULL},
};

static const struct ist_field selector_fields[] = {{"matchLabels", IST_PARSED, NULL},
						   {NULL, IST_PARSED, NULL}};

/* An int32 field that Istio wants non-negative, with Istio's message. */
static void nonneg(struct yt *t, yaml_node_t *map, const char *camel, const char *what,
		   uint32_t *out)
{
	const char *key = ist_key(t, map, camel);
	long v;

	if (yt_int(t, map, key, 0, INT32_MIN, INT32_MAX, &v))
		return;
	if (v < 0)
		yt_error(t, yt_get(t, map, key, NULL)->start_mark, key, "%s must be non-negative",
			 what);
	else
		*out = (uint32_t)v;
}

static void parse_cookie(struct yt *t, yaml_node_t *hash, struct lb_policy *lb)
{
	struct yt_frame f;
	yaml_node_t *c;

	if (yt_enter_map(t, hash, ist_key(t, hash, "httpCookie"), 0, &f, &c))
		return;
	ist_check_fields(t, c, cookie_fields);
	free(lb->hash_key);
	lb->hash = LB_HASH_COOKIE;
	lb->hash_key = NULL;
	if (yt_str(t, c, "name", 0, &lb->hash_key) || !*lb->hash_key)
		yt_error(t, c->start_mark, "name", "name required for HttpCookie");
	yt_str(t, c, "path", 0, &lb->cookie_path);
	ist_duration(t, c, "ttl", 0, &lb->cookie_ttl_ms);
	yt_pop(t, &f);
}

/* consistentHash: exactly one key, and at most one ring size setting. */
static void parse_hash(struct yt *t, yaml_node_t *lbm, struct lb_policy *lb)
{
	static const char *const keys[] = {"httpHeaderName", "httpCookie", "useSourceIp",
					   "httpQueryParameterName"};
	const char *first = NULL;
	struct yt_frame f, fr;
	yaml_node_t *h, *ring, *n;
	bool b;
	long v;

	if (yt_enter_map(t, lbm, ist_key(t, lbm, "consistentHash"), 0, &f, &h))
		return;
	ist_check_fields(t, h, hash_fields);
	for (size_t i = 0; i < 4; i++) {
		const char *key = ist_key(t, h, keys[i]);

		n = yt_get(t, h, key, NULL);
		if (!n)
			continue;
		if (first) {
			yt_error(t, n->start_mark, key, "only one of %s and %s may be set", first,
				 key);
			continue;
		}
		first = key;
		if (i == 0 && !yt_str(t, h, key, 0, &lb->hash_key)) {
			lb->hash = LB_HASH_HEADER;
			if (!ist_header_name(lb->hash_key))
				yt_error(t, n->start_mark, key,
					 "header name %s is not a valid header name", lb->hash_key);
			for (char *c = lb->hash_key; *c; c++)
				*c = (char)(*c >= 'A' && *c <= 'Z' ? *c - 'A' + 'a' : *c);
		} else if (i == 1) {
			parse_cookie(t, h, lb);
		} else if (i == 2 && !yt_bool(t, h, key, 0, &b)) {
			if (b)
				lb->hash = LB_HASH_SOURCE_IP;
			else
				yt_report(t, LOG_WARN, n->start_mark, key,
					  "false hashes nothing: requests are spread as if at "
					  "random");
		} else if (i == 3 && !yt_str(t, h, key, 0, &lb->hash_key)) {
			lb->hash = LB_HASH_QUERY;
		}
	}
	if (!first)
		yt_error(t, h->start_mark, NULL,
			 "one of httpHeaderName, httpCookie, useSourceIp or httpQueryParameterName "
			 "is required");
	if (!ist_int(t, h, "minimumRingSize", 0, LONG_MAX, &v)) {
		n = yt_get(t, h, ist_key(t, h, "minimumRingSize"), NULL);
		yt_report(t, LOG_WARN, n->start_mark, ist_key(t, h, "minimumRingSize"),
			  "consistent hash MinimumRingSize is deprecated, use ConsistentHashLB's "
			  "RingHash configuration instead");
		lb->minimum_ring_size = (uint64_t)v;
		n = yt_get(t, h, ist_key(t, h, "ringHash"), NULL);
		if (!n)
			n = yt_get(t, h, "maglev", NULL);
		if (n && v)
			yt_error(t, n->start_mark, NULL,
				 "only one of MinimumRingSize or Maglev/Ringhash can be specified");
	}
	if (!yt_enter_map(t, h, ist_key(t, h, "ringHash"), 0, &fr, &ring)) {
		ist_check_fields(t, ring, ring_fields);
		if (!ist_int(t, ring, "minimumRingSize", 0, LONG_MAX, &v))
			lb->minimum_ring_size = (uint64_t)v;
		yt_pop(t, &fr);
	}
	yt_pop(t, &f);
}

static const char *const lb_names[] = {
	[LB_UNSET] = "UNSPECIFIED",	      [LB_ROUND_ROBIN] = "ROUND_ROBIN",
	[LB_LEAST_REQUEST] = "LEAST_REQUEST", [LB_RANDOM] = "RANDOM",
	[LB_PASSTHROUGH] = "PASSTHROUGH",
};

static void parse_lb(struct yt *t, yaml_node_t *pol, struct lb_policy *lb)
{
	struct yt_frame f;
	yaml_node_t *m, *n;
	char *s = NULL;

	if (yt_enter_map(t, pol, ist_key(t, pol, "loadBalancer"), 0, &f, &m))
		return;
	lb->set = true;
	ist_check_fields(t, m, lb_fields);
	if (!yt_str(t, m, "simple", 0, &s)) {
		n = yt_get(t, m, "simple", NULL);
		if (!strcmp(s, "LEAST_CONN"))
			lb->simple = LB_LEAST_REQUEST; /* deprecated alias, as Istio maps it */
		for (size_t i = 0; i < sizeof(lb_names) / sizeof(lb_names[0]) && !lb->simple; i++)
			if (!strcmp(s, lb_names[i]))
				lb->simple = (enum lb_simple)i;
		if (!lb->simple && strcmp(s, "UNSPECIFIED"))
			yt_error(t, n->start_mark, "simple",
				 "unknown value \"%s\" (expected ROUND_ROBIN, LEAST_REQUEST, "
				 "LEAST_CONN, RANDOM or PASSTHROUGH)",
				 s);
		if (yt_get(t, m, ist_key(t, m, "consistentHash"), NULL))
			yt_error(t, n->start_mark, "simple",
				 "simple and consistentHash are mutually exclusive");
		free(s);
	}
	parse_hash(t, m, lb);
	yt_pop(t, &f);
}

static void parse_pool(struct yt *t, yaml_node_t *pol, struct connection_pool *cp)
{
	struct yt_frame f, fs;
	yaml_node_t *m, *s;

	if (yt_enter_map(t, pol, ist_key(t, pol, "connectionPool"), 0, &f, &m))
		return;
	cp->set = true;
	ist_check_fields(t, m, pool_fields);
	if (!yt_get(t, m, "tcp", NULL) && !yt_get(t, m, "http", NULL))
		yt_error(t, m->start_mark, NULL, "connection pool must have at least one field");
	if (!yt_enter_map(t, m, "tcp", 0, &fs, &s)) {
		ist_check_fields(t, s, pool_tcp_fields);
		nonneg(t, s, "maxConnections", "max connections", &cp->tcp_max_connections);
		ist_duration(t, s, "connectTimeout", IST_DUR_MIN_1MS, &cp->tcp_connect_timeout_ms);
		yt_pop(t, &fs);
	}
	if (!yt_enter_map(t, m, "http", 0, &fs, &s)) {
		ist_check_fields(t, s, pool_http_fields);
		nonneg(t, s, "http1MaxPendingRequests", "http1 max pending requests",
		       &cp->http1_max_pending_requests);
		nonneg(t, s, "http2MaxRequests", "http2 max requests", &cp->http2_max_requests);
		nonneg(t, s, "maxRequestsPerConnection", "max requests per connection",
		       &cp->max_requests_per_connection);
		ist_duration(t, s, "idleTimeout", IST_DUR_MIN_1MS, &cp->idle_timeout_ms);
		yt_pop(t, &fs);
	}
	yt_pop(t, &f);
}

static void percent_field(struct yt *t, yaml_node_t *m, const char *camel, void *out, bool sign)
{
	const char *key = ist_key(t, m, camel);
	long v;

	if (yt_int(t, m, key, 0, INT32_MIN, INT32_MAX, &v))
		return;
	if (v < 0 || v > 100)
		yt_error(t, yt_get(t, m, key, NULL)->start_mark, key,
			 "percentage %ld is not in range 0..100", v);
	else if (sign)
		*(int32_t *)out = (int32_t)v;
	else
		*(uint32_t *)out = (uint32_t)v;
}

static void parse_outlier(struct yt *t, yaml_node_t *pol, struct outlier_detection *od)
{
	struct yt_frame f;
	yaml_node_t *m, *n;
	uint32_t legacy = 0;
	long v;

	if (yt_enter_map(t, pol, ist_key(t, pol, "outlierDetection"), 0, &f, &m))
		return;
	/* Envoy's defaults, which Istio keeps. */
	*od = (struct outlier_detection){.set = true,
					 .consecutive_5xx_errors = 5,
					 .interval_ms = 10000,
					 .base_ejection_ms = 30000,
					 .max_ejection_percent = 10};
	ist_check_fields(t, m, outlier_fields);
	if (!ist_int(t, m, "consecutive5xxErrors", 0, UINT32_MAX, &v)) {
		od->consecutive_5xx_errors = (uint32_t)v;
		od->has_consecutive_5xx = true;
	}
	if (!ist_int(t, m, "consecutiveGatewayErrors", 0, UINT32_MAX, &v))
		od->consecutive_gateway_errors = (uint32_t)v;
	nonneg(t, m, "consecutiveErrors", "consecutive errors", &legacy);
	if (legacy) {
		/* Istio reads the deprecated field as gateway errors, 5xx not counted. */
		n = yt_get(t, m, ist_key(t, m, "consecutiveErrors"), NULL);
		yt_report(t, LOG_WARN, n->start_mark, ist_key(t, m, "consecutiveErrors"),
			  "outlier detection consecutive errors is deprecated, use "
			  "consecutiveGatewayErrors or consecutive5xxErrors instead");
		if (!od->consecutive_gateway_errors)
			od->consecutive_gateway_errors = legacy;
		if (!od->has_consecutive_5xx) {
			od->consecutive_5xx_errors = 0;
			od->has_consecutive_5xx = true;
		}
	}
	ist_duration(t, m, "interval", IST_DUR_MIN_1MS, &od->interval_ms);
	ist_duration(t, m, "baseEjectionTime", IST_DUR_MIN_1MS, &od->base_ejection_ms);
	percent_field(t, m, "maxEjectionPercent", &od->max_ejection_percent, false);
	percent_field(t, m, "minHealthPercent", &od->min_health_percent, true);
	yt_pop(t, &f);
}

/* A TrafficPolicy at field @camel of @parent. */
static void parse_policy(struct yt *t, yaml_node_t *parent, const char *camel,
			 struct traffic_policy *p)
{
	struct yt_frame f;
	yaml_node_t *m;

	if (yt_enter_map(t, parent, ist_key(t, parent, camel), 0, &f, &m))
		return;
	ist_check_fields(t, m, policy_fields);
	if (!m->data.mapping.pairs.top || m->data.mapping.pairs.top == m->data.mapping.pairs.start)
		yt_error(t, m->start_mark, NULL, "traffic policy must have at least one field");
	parse_lb(t, m, &p->lb);
	parse_pool(t, m, &p->pool);
	parse_outlier(t, m, &p->outlier);
	yt_pop(t, &f);
}

static void policy_release(struct traffic_policy *p)
{
	free(p->lb.hash_key);
	free(p->lb.cookie_path);
}

static void parse_subsets(struct yt *t, yaml_node_t *spec, struct destination_rule *dr)
{
	struct yt_frame f, fi;
	yaml_node_t *seq;
	size_t n;

	if (yt_enter_seq(t, spec, "subsets", 0, &f, &seq))
		return;
	n = yt_seq_len(seq);
	dr->subsets = calloc(n + 1, sizeof(*dr->subsets));
	if (!dr->subsets) {
		t->oom = true;
		goto pop;
	}
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *item = yt_seq_item(t, seq, i), *nn;
		struct subset *s = &dr->subsets[dr->n_subsets];

		yt_push(t, &fi, NULL, (long)i, item->start_mark);
		if (yt_check_map(t, item, NULL))
			goto next;
		dr->n_subsets++;
		s->loc = config_loc_of(t, item->start_mark);
		ist_check_fields(t, item, subset_fields);
		if (!yt_str(t, item, "name", YT_REQUIRED, &s->name)) {
			nn = yt_get(t, item, "name", NULL);
			if (!*s->name)
				yt_error(t, nn->start_mark, "name", "subset name cannot be empty");
			else if (!ist_dns1123_label(s->name))
				yt_error(t, nn->start_mark, "name", "subset name is invalid: %s",
					 s->name);
			for (size_t j = 0; j + 1 < dr->n_subsets; j++)
				if (dr->subsets[j].name && !strcmp(dr->subsets[j].name, s->name))
					yt_error(t, nn->start_mark, "name",
						 "duplicate subset names: %s (also subsets[%zu])",
						 s->name, j);
		}
		if (ist_labels(t, item, "labels", true, &s->labels) || !s->labels.n)
			yt_report(t, LOG_WARN, item->start_mark, "labels",
				  "a subset without labels selects every endpoint of the service");
		parse_policy(t, item, "trafficPolicy", &s->policy);
	next:
		yt_pop(t, &fi);
	}
pop:
	yt_pop(t, &f);
}

static bool parse_selector(struct yt *t, yaml_node_t *spec, struct labels *out)
{
	const char *key = ist_key(t, spec, "workloadSelector");
	struct yt_frame f;
	yaml_node_t *m;

	if (yt_enter_map(t, spec, key, 0, &f, &m))
		return yt_get(t, spec, key, NULL) != NULL;
	ist_check_fields(t, m, selector_fields);
	ist_labels(t, m, "matchLabels", false, out);
	for (size_t i = 0; i < out->n; i++) {
		if (!*out->v[i].key || strchr(out->v[i].key, '*') || strchr(out->v[i].value, '*'))
			yt_error(t, m->start_mark, ist_key(t, m, "matchLabels"),
				 "%s key or wildcard is not supported in selector: \"%s=%s\"",
				 *out->v[i].key ? "a" : "an empty", out->v[i].key, out->v[i].value);
	}
	if (!out->n)
		yt_report(t, LOG_WARN, m->start_mark, NULL,
			  "workload selector specified without labels");
	yt_pop(t, &f);
	return true;
}

static void dr_release(struct destination_rule *d)
{
	free(d->name);
	free(d->namespace);
	free(d->creation_timestamp);
	free(d->host);
	free(d->fqdn);
	policy_release(&d->policy);
	for (size_t i = 0; i < d->n_subsets; i++) {
		free(d->subsets[i].name);
		ist_labels_release(&d->subsets[i].labels);
		policy_release(&d->subsets[i].policy);
	}
	free(d->subsets);
	ist_str_list_free(d->export_to, d->n_export_to);
	ist_labels_release(&d->workload_selector);
}

int istio_parse_destination_rule(struct load *ld, struct yt *t, yaml_node_t *obj)
{
	struct destination_rule d = {.loc = config_loc_of(t, obj->start_mark)};
	struct istio_config *ic = &ld->cfg->istio;
	unsigned errors = t->errors;
	yaml_node_t *spec, *n;
	struct yt_frame f;
	char why[160];
	bool selector;

	ist_meta(t, obj, &d.name, &d.namespace, &d.creation_timestamp);
	if (yt_enter_map(t, obj, "spec", YT_REQUIRED, &f, &spec))
		goto check;
	ist_check_fields(t, spec, dr_spec_fields);
	if (!yt_str(t, spec, "host", YT_REQUIRED, &d.host)) {
		n = yt_get(t, spec, "host", NULL);
		if (ist_check_wildcard_domain(d.host, why, sizeof(why)))
			yt_error(t, n->start_mark, "host", "%s", why);
		d.fqdn = istio_resolve_host(d.host, d.namespace);
		t->oom |= !d.fqdn;
	}
	parse_policy(t, spec, "trafficPolicy", &d.policy);
	parse_subsets(t, spec, &d);
	selector = parse_selector(t, spec, &d.workload_selector);
	ist_export_to(t, spec, d.namespace, selector, &d.export_to, &d.n_export_to);
	yt_pop(t, &f);
check:
	if (t->errors != errors || t->oom)
		goto drop;
	if (!config_append((void **)&ic->dr, &ic->n_dr, &ld->cap_dr, &d, sizeof(d)))
		return 0;
	t->oom = true;
drop:
	dr_release(&d);
	return t->oom ? -ENOMEM : 0;
}

/* ---- the model's release ---- */

void istio_config_release(struct istio_config *ic)
{
	for (size_t i = 0; i < ic->n_vs; i++)
		istio_vs_release(&ic->vs[i]);
	free(ic->vs);
	for (size_t i = 0; i < ic->n_dr; i++)
		dr_release(&ic->dr[i]);
	free(ic->dr);
	for (size_t i = 0; i < ic->n_sidecars; i++)
		istio_sidecar_release(&ic->sidecars[i]);
	free(ic->sidecars);
	istio_se_release_all(ic);
	istio_gw_release_all(ic);
	memset(ic, 0, sizeof(*ic));
}
