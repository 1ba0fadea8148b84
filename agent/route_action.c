// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * What a matched rule does to the request besides choosing where it goes,
 * the way Istio configures Envoy for it: path and Host rewrite, header
 * edits, fault injection, timeout and retry policy, mirrors, CORS. Whatever
 * depends on the config alone (flattened header edits, retry policy, regexes,
 * percentages) is computed once per table by rt_actions_build(); per request
 * route_actions() only draws, looks at the request and copies into the
 * worker's grow-once buffers.
 *
 * Envoy's order, which decides who wins:
 *   - headers: each HeaderParser removes first, then sets (replace) and adds
 *     (append) in order; empty values are skipped. A rule with one
 *     destination has one parser, the rule's operations then the
 *     destination's (Istio appends them), so the destination's set wins; a
 *     weighted destination's parser runs before the rule's, so the rule's win
 *     there. Host and :authority are never edited as headers: set or add on
 *     them is a host rewrite, the rule's (rewrite.authority first) before the
 *     destination's.
 *   - filters: fault (delay, then abort after the delay), CORS, router.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "regex.h"
#include "route_int.h"

#define PPM_ALL		 1000000u
#define TARGET_MAX	 65536 /* a rewritten request-target longer than this fails the request */
#define DEFAULT_RETRIES	 2     /* Istio's default HTTP retry policy */
#define DEFAULT_RETRY_ON (PROXY_RETRY_CONNECT_FAILURE | PROXY_RETRY_STATUS)

/* ---- building ---- */

enum step_kind { ST_REMOVE, ST_SET, ST_ADD };

/* One header operation in the order Envoy applies it. */
struct step {
	enum step_kind kind;
	const char *name;
	const char *value;
};

static bool is_authority(const char *name)
{
	return !strcasecmp(name, ":authority") || !strcasecmp(name, "host");
}

/* Istio drops these from header operations: Envoy cannot edit pseudo-headers or Host. */
static bool is_internal(const char *name)
{
	return name[0] == ':' || !strcasecmp(name, "host");
}

/* Appends @o's removes (@phase 0) or its sets then adds (@phase 1) to @st. */
static size_t push_ops(struct step *st, size_t n, const struct header_ops *o, int phase)
{
	if (!phase) {
		for (size_t i = 0; i < o->n_remove; i++)
			if (!is_internal(o->remove[i]))
				st[n++] = (struct step){ST_REMOVE, o->remove[i], NULL};
		return n;
	}
	for (size_t i = 0; i < o->n_set; i++)
		if (!is_internal(o->set[i].key) && o->set[i].value[0])
			st[n++] = (struct step){ST_SET, o->set[i].key, o->set[i].value};
	for (size_t i = 0; i < o->n_add; i++)
		if (!is_internal(o->add[i].key) && o->add[i].value[0])
			st[n++] = (struct step){ST_ADD, o->add[i].key, o->add[i].value};
	return n;
}

/* The rule's and the destination's operations of one direction, in Envoy's order. */
static size_t flatten(struct step *st, const struct header_ops *rule, const struct header_ops *dst,
		      bool single)
{
	size_t n = 0;

	if (single) {
		n = push_ops(st, n, rule, 0);
		n = push_ops(st, n, dst, 0);
		n = push_ops(st, n, rule, 1);
		return push_ops(st, n, dst, 1);
	}
	n = push_ops(st, n, dst, 0);
	n = push_ops(st, n, dst, 1);
	n = push_ops(st, n, rule, 0);
	return push_ops(st, n, rule, 1);
}

static int append(char **s, size_t *len, const char *a, const char *b, const char *c)
{
	size_t n = strlen(a) + strlen(b) + strlen(c);
	char *p = realloc(*s, *len + n + 1);

	if (!p)
		return -ENOMEM;
	*s = p;
	*len += (size_t)sprintf(p + *len, "%s%s%s", a, b, c);
	return 0;
}

static int append_line(char **s, size_t *len, const char *name, const char *value)
{
	int err = append(s, len, name, ": ", value);

	return err ? err : append(s, len, "\r\n", "", "");
}

/* What is left per name after the steps (see struct rt_hdr_edit), and the Host rewrite. */
static int edit_build(struct rt_hdr_edit *e, const struct step *st, size_t n, const char *authority)
{
	size_t dl = 0, al = 0;
	int err = 0;

	e->drop = strdup("");
	e->add = strdup("");
	if (!e->drop || !e->add)
		return -ENOMEM;
	for (size_t i = 0; !err && i < n; i++) {
		size_t from = 0, j;
		bool reset = false;

		for (j = 0; j < i && strcmp(st[j].name, st[i].name); j++)
			;
		if (j < i) /* done with this name */
			continue;
		for (j = i; j < n; j++) {
			if (!strcmp(st[j].name, st[i].name) && st[j].kind != ST_ADD) {
				from = j;
				reset = true;
			}
		}
		if (reset)
			err = append(&e->drop, &dl, st[i].name, "\n", "");
		for (j = from; !err && j < n; j++)
			if (!strcmp(st[j].name, st[i].name) && st[j].kind != ST_REMOVE)
				err = append_line(&e->add, &al, st[j].name, st[j].value);
	}
	if (!err && authority) {
		err = append(&e->drop, &dl, "host\n", "", "");
		if (!err)
			err = append_line(&e->add, &al, "host", authority);
	}
	return err;
}

/* The Host an operation list sets: set wins over add, the last of each. NULL: none. */
static const char *ops_authority(const struct header_ops *o)
{
	const char *set = NULL, *add = NULL;

	for (size_t i = 0; i < o->n_set; i++)
		if (is_authority(o->set[i].key) && o->set[i].value[0])
			set = o->set[i].value;
	for (size_t i = 0; i < o->n_add; i++)
		if (is_authority(o->add[i].key) && o->add[i].value[0])
			add = o->add[i].value;
	return set ? set : add;
}

static int dest_edits(struct rt_rule *r, struct rt_dest *d)
{
	const struct http_route *src = r->src;
	const struct istio_headers *rh = &src->headers, *dh = &d->src->headers;
	size_t n = rh->request.n_set + rh->request.n_add + rh->request.n_remove +
		   rh->response.n_set + rh->response.n_add + rh->response.n_remove +
		   dh->request.n_set + dh->request.n_add + dh->request.n_remove +
		   dh->response.n_set + dh->response.n_add + dh->response.n_remove;
	struct step *st = calloc(n + 1, sizeof(*st));
	bool single = src->n_route == 1;
	int err;

	if (!st)
		return -ENOMEM;
	d->authority = src->rewrite && src->rewrite->authority && *src->rewrite->authority
			       ? src->rewrite->authority
			       : ops_authority(&rh->request);
	if (!d->authority)
		d->authority = ops_authority(&dh->request);
	n = flatten(st, &rh->request, &dh->request, single);
	err = edit_build(&d->req, st, n, d->authority);
	if (!err) {
		n = flatten(st, &rh->response, &dh->response, single);
		err = edit_build(&d->rsp, st, n, NULL);
	}
	free(st);
	return err;
}

/* Istio's Percent to Envoy's FractionalPercent over a million (truncated, as Istio does). */
static uint32_t ppm(const struct percent *p, uint32_t unset)
{
	if (!p->set)
		return unset;
	if (p->value >= 100)
		return PPM_ALL;
	return p->value > 0 ? (uint32_t)(p->value * 10000.0) : 0;
}

/* One retryOn token (HTTP/1 meaning; gRPC and HTTP/2 conditions never happen here). */
static void retry_token(struct rt_retry *rr, const char *tok, size_t n)
{
	static const struct {
		const char *name;
		uint32_t bit;
	} names[] = {
		{"5xx", PROXY_RETRY_5XX},
		{"gateway-error", PROXY_RETRY_GATEWAY},
		{"reset", PROXY_RETRY_RESET},
		{"reset-before-request", PROXY_RETRY_CONNECT_FAILURE},
		{"connect-failure", PROXY_RETRY_CONNECT_FAILURE},
		{"retriable-4xx", PROXY_RETRY_4XX},
		{"retriable-status-codes", PROXY_RETRY_STATUS},
	};
	char buf[16], *end;
	long code;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strlen(names[i].name) == n && !strncmp(tok, names[i].name, n)) {
			rr->on |= names[i].bit;
			return;
		}
	}
	if (!n || n >= sizeof(buf))
		return;
	memcpy(buf, tok, n);
	buf[n] = '\0';
	code = strtol(buf, &end, 10);
	/* The webhook let through only codes Go knows: Istio makes them retriable status codes. */
	if (*end || code < 100 || code > 599)
		return;
	rr->on |= PROXY_RETRY_STATUS;
	for (size_t i = 0; i < rr->n_status; i++)
		if (rr->status[i] == code)
			return;
	if (rr->n_status < PROXY_RETRY_STATUS_MAX)
		rr->status[rr->n_status++] = (uint16_t)code;
}

static void default_retry(struct rt_retry *rr)
{
	*rr = (struct rt_retry){.on = DEFAULT_RETRY_ON, .retries = DEFAULT_RETRIES, .n_status = 1};
	rr->status[0] = 503;
}

/* Istio's retry.ConvertPolicy: the default policy, with what the rule gives in place. */
static void retry_build(struct rt_retry *rr, const struct http_retry *in)
{
	const char *p;

	default_retry(rr);
	if (!in->set)
		return;
	if (!in->attempts) {
		memset(rr, 0, sizeof(*rr));
		return;
	}
	rr->retries = in->attempts > UINT16_MAX ? UINT16_MAX : (uint16_t)in->attempts;
	rr->per_try_ms =
		in->per_try_timeout_ms > UINT32_MAX ? UINT32_MAX : (uint32_t)in->per_try_timeout_ms;
	if (!in->retry_on || !*in->retry_on)
		return;
	rr->on = 0;
	rr->n_status = 0;
	for (p = in->retry_on;;) {
		size_t n = strcspn(p, ",");
		const char *t = p, *e = p + n;

		while (t < e && (*t == ' ' || *t == '\t'))
			t++;
		while (e > t && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		retry_token(rr, t, (size_t)(e - t));
		if (!p[n])
			break;
		p += n + 1;
	}
}

static char *join(char **v, size_t n)
{
	size_t len = 0;
	char *s = NULL;

	if (!n)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (append(&s, &len, i ? "," : "", v[i], ""))
			return s; /* short: a NULL from the first call, or what was joined */
	return s;
}

static int cors_build(struct rt_actions *a, const struct cors_policy *c)
{
	int err;

	a->origins = calloc(c->n_allow_origins + 1, sizeof(*a->origins));
	if (!a->origins)
		return -ENOMEM;
	for (size_t i = 0; i < c->n_allow_origins; i++) {
		err = rt_str_compile(&a->origins[a->n_origins], &c->allow_origins[i], false, false,
				     "corsPolicy.allowOrigins");
		if (err)
			return err;
		a->n_origins++;
	}
	a->cors_methods = join(c->allow_methods, c->n_allow_methods);
	a->cors_headers = join(c->allow_headers, c->n_allow_headers);
	a->cors_expose = join(c->expose_headers, c->n_expose_headers);
	if ((c->n_allow_methods && !a->cors_methods) || (c->n_allow_headers && !a->cors_headers) ||
	    (c->n_expose_headers && !a->cors_expose))
		return -ENOMEM;
	if (c->max_age_s)
		snprintf(a->cors_max_age, sizeof(a->cors_max_age), "%llu",
			 (unsigned long long)c->max_age_s);
	return 0;
}

int rt_actions_build(struct route_table *rt, struct rt_rule *r)
{
	const struct http_route *src = r->src;
	struct rt_actions *a = &r->act;
	char why[256];
	int err;

	retry_build(&a->retry, &src->retries);
	if (src->fault) {
		a->delay_ppm = ppm(&src->fault->delay_pct, 0);
		a->abort_ppm = ppm(&src->fault->abort_pct, 0);
	}
	if (src->rewrite && src->rewrite->uri_regex_match) {
		a->rewrite_re =
			regex_compile_search(src->rewrite->uri_regex_match, why, sizeof(why));
		if (!a->rewrite_re) {
			log_error("%s:%d:%d: rewrite.uriRegexRewrite.match: regex \"%s\": %s",
				  src->rewrite->loc.file ? src->rewrite->loc.file : "?",
				  src->rewrite->loc.line, src->rewrite->loc.col,
				  src->rewrite->uri_regex_match, why);
			return -EINVAL;
		}
	}
	a->mirrors = calloc(src->n_mirrors + 1, sizeof(*a->mirrors));
	if (!a->mirrors)
		return -ENOMEM;
	for (size_t i = 0; i < src->n_mirrors; i++) {
		struct rt_mirror *m = &a->mirrors[a->n_mirrors++];

		rt_resolve(rt, &src->mirrors[i].dst, &m->svc, &m->port);
		m->subset = src->mirrors[i].dst.subset;
		m->ppm = ppm(&src->mirrors[i].pct, PPM_ALL);
	}
	if (src->cors) {
		err = cors_build(a, src->cors);
		if (err)
			return err;
	}
	for (size_t i = 0; i < r->n_d; i++) {
		err = dest_edits(r, &r->d[i]);
		if (err)
			return err;
	}
	return 0;
}

static void edit_free(struct rt_hdr_edit *e)
{
	free(e->drop);
	free(e->add);
}

void rt_actions_free(struct rt_rule *r)
{
	struct rt_actions *a = &r->act;

	regex_free(a->rewrite_re);
	free(a->mirrors);
	for (size_t i = 0; a->origins && i < a->n_origins; i++)
		rt_str_release(&a->origins[i]);
	free(a->origins);
	free(a->cors_methods);
	free(a->cors_headers);
	free(a->cors_expose);
	for (size_t i = 0; r->d && i < r->n_d; i++) {
		edit_free(&r->d[i].req);
		edit_free(&r->d[i].rsp);
	}
	memset(a, 0, sizeof(*a));
}

/* ---- per request ---- */

/* Room for @need bytes in @b; it only grows (a worker's buffers reach their size soon). */
static int sb_reserve(struct rt_sbuf *b, size_t need)
{
	size_t cap = b->cap ? b->cap : 256;
	char *p;

	if (need <= b->cap)
		return 0;
	while (cap < need)
		cap *= 2;
	p = realloc(b->p, cap);
	if (!p)
		return -ENOMEM;
	b->p = p;
	b->cap = cap;
	return 0;
}

static int sb_put(struct rt_sbuf *b, const char *s, size_t n)
{
	if (sb_reserve(b, b->len + n + 1))
		return -ENOMEM;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

static int sb_puts(struct rt_sbuf *b, const char *s)
{
	return sb_put(b, s, strlen(s));
}

/* "name: value\r\n" */
static int sb_line(struct rt_sbuf *b, const char *name, const char *value, size_t value_len)
{
	if (sb_puts(b, name) || sb_put(b, ": ", 2) || sb_put(b, value, value_len) ||
	    sb_put(b, "\r\n", 2))
		return -ENOMEM;
	return 0;
}

static bool draw(struct route_worker *w, uint32_t chance)
{
	if (chance >= PPM_ALL)
		return true;
	return chance && lb_rng_below(&w->rng, PPM_ALL) < chance;
}

/* The first header named @name (lower case), or NULL. */
static const struct http_hdr *header(const struct http_req *req, const char *name)
{
	size_t n = strlen(name);

	for (size_t i = 0; i < req->n_hdrs; i++)
		if (req->hdrs[i].name_len == n && !strncasecmp(req->hdrs[i].name, name, n))
			return &req->hdrs[i];
	return NULL;
}

/* The compiled rule of @res, and its destination in *@d (NULL: none). */
static const struct rt_rule *result_rule(const struct route_table *rt,
					 const struct route_result *res, const struct rt_dest **d)
{
	const struct istio_config *ic = &rt->cfg->istio;
	const struct rt_vs *vs;
	const struct rt_rule *r;
	size_t vi;

	*d = NULL;
	if (!res->rule || !res->vs)
		return NULL;
	vi = (size_t)(res->vs - ic->vs);
	if (vi >= ic->n_vs || res->rule_index >= rt->vs[vi].n_rules)
		return NULL;
	vs = &rt->vs[vi];
	r = &vs->rules[res->rule_index];
	for (size_t i = 0; res->rdst && i < r->n_d; i++)
		if (r->d[i].src == res->rdst)
			*d = &r->d[i];
	return r;
}

/* rewrite.uri in place of what the entry matched (Envoy's prefix_rewrite on the route Istio
 * made: a prefix match's prefix, an exact or regex match's whole path, else the prefix "/"), or
 * uriRegexRewrite over the path; the query stays. */
static int rewrite_target(const struct rt_rule *r, const struct route_result *res,
			  const struct rt_reqview *v, struct rt_sbuf *b, bool *done)
{
	const struct http_rewrite *rw = r->src->rewrite;
	const struct http_match *m = res->match;
	size_t cut, want = v->path_len * 2 + 64;
	int n;

	*done = false;
	if (!rw)
		return 0;
	if (r->act.rewrite_re) {
		for (;;) {
			if (sb_reserve(b, want))
				return -ENOMEM;
			n = regex_replace(r->act.rewrite_re, v->path, v->path_len,
					  rw->uri_regex_rewrite, b->p, b->cap);
			if (n != -ENOSPC || b->cap >= TARGET_MAX)
				break;
			want = b->cap * 2;
		}
		if (n < 0)
			return n;
		b->len = (size_t)n;
	} else if (rw->uri && *rw->uri) {
		if (m && m->uri.kind == SM_PREFIX && m->uri.value)
			cut = strlen(m->uri.value);
		else if (m && (m->uri.kind == SM_EXACT || m->uri.kind == SM_REGEX))
			cut = v->path_len;
		else
			cut = v->path_len && v->path[0] == '/';
		if (cut > v->pathq_len)
			cut = v->pathq_len;
		if (sb_puts(b, rw->uri) || sb_put(b, v->pathq + cut, v->pathq_len - cut))
			return -ENOMEM;
		*done = true;
		return 0;
	} else {
		return 0;
	}
	if (v->query && (sb_put(b, "?", 1) || sb_put(b, v->query, v->query_len)))
		return -ENOMEM;
	*done = true;
	return 0;
}

static bool origin_allowed(const struct rt_actions *a, const char *o, size_t n)
{
	for (size_t i = 0; i < a->n_origins; i++) {
		const struct rt_str *m = &a->origins[i];

		switch (m->kind) {
		case SM_EXACT:
			if ((m->len == 1 && m->s[0] == '*') || (n == m->len && !memcmp(o, m->s, n)))
				return true;
			break;
		case SM_PREFIX:
			if (!m->len || (m->len == 1 && m->s[0] == '*') ||
			    (n >= m->len && !memcmp(o, m->s, m->len)))
				return true;
			break;
		case SM_REGEX:
			if (regex_full_match(m->re, "*", 1) || regex_full_match(m->re, o, n))
				return true;
			break;
		default:
			break;
		}
	}
	return false;
}

/* The headers Envoy's CORS filter puts on the response to an allowed Origin @o. */
static int cors_simple(const struct cors_policy *c, const struct rt_actions *a,
		       const struct http_hdr *o, struct rt_sbuf *drop, struct rt_sbuf *add)
{
	if (drop && sb_puts(drop, "access-control-allow-origin\n"))
		return -ENOMEM;
	if (sb_line(add, "access-control-allow-origin", o->value, o->value_len))
		return -ENOMEM;
	if (c->allow_credentials == 1 &&
	    ((drop && sb_puts(drop, "access-control-allow-credentials\n")) ||
	     sb_line(add, "access-control-allow-credentials", "true", 4)))
		return -ENOMEM;
	if (a->cors_expose &&
	    ((drop && sb_puts(drop, "access-control-expose-headers\n")) ||
	     sb_line(add, "access-control-expose-headers", a->cors_expose, strlen(a->cors_expose))))
		return -ENOMEM;
	return 0;
}

/* The answer to an allowed preflight: 200, its headers, no body. */
static int cors_preflight(const struct cors_policy *c, const struct rt_actions *a,
			  const struct http_req *req, const struct http_hdr *o,
			  const struct http_hdr *method, struct rt_sbuf *b)
{
	const struct http_hdr *rh = header(req, "access-control-request-headers");

	if (sb_line(b, "access-control-allow-origin", o->value, o->value_len))
		return -ENOMEM;
	if (c->allow_credentials == 1 && sb_line(b, "access-control-allow-credentials", "true", 4))
		return -ENOMEM;
	/* "*" alone echoes what the browser asked for. */
	if (a->cors_methods &&
	    (strcmp(a->cors_methods, "*") ? sb_line(b, "access-control-allow-methods",
						    a->cors_methods, strlen(a->cors_methods))
					  : sb_line(b, "access-control-allow-methods",
						    method->value, method->value_len)))
		return -ENOMEM;
	if (a->cors_headers && strcmp(a->cors_headers, "*") &&
	    sb_line(b, "access-control-allow-headers", a->cors_headers, strlen(a->cors_headers)))
		return -ENOMEM;
	if (a->cors_headers && !strcmp(a->cors_headers, "*") && rh && rh->value_len &&
	    sb_line(b, "access-control-allow-headers", rh->value, rh->value_len))
		return -ENOMEM;
	if (a->cors_max_age[0] &&
	    sb_line(b, "access-control-max-age", a->cors_max_age, strlen(a->cors_max_age)))
		return -ENOMEM;
	return 0;
}

/* Envoy's shadow authority: "-shadow" after the host part of @host ("a:80" -> "a-shadow:80"). */
static int shadow_authority(struct rt_sbuf *b, const char *host, size_t n)
{
	const char *colon = memchr(host, ':', n);

	if (colon && memchr(colon + 1, ':', n - (size_t)(colon + 1 - host)))
		colon = NULL; /* not host:port (an IPv6 literal): the suffix goes at the end */
	if (!colon)
		return sb_put(b, host, n) || sb_puts(b, "-shadow") ? -ENOMEM : 0;
	if (sb_put(b, host, (size_t)(colon - host)) || sb_puts(b, "-shadow") ||
	    sb_put(b, colon, n - (size_t)(colon - host)))
		return -ENOMEM;
	return 0;
}

static void mirrors(const struct route_table *rt, struct route_worker *w, const struct rt_rule *r,
		    const struct rt_dest *d, const struct rt_reqview *v, struct proxy_pick *out)
{
	const char *host = d && d->authority ? d->authority : v->authority;
	size_t host_len = d && d->authority ? strlen(d->authority) : v->authority_len;

	for (size_t i = 0; i < r->act.n_mirrors && out->n_mirrors < PROXY_MIRRORS_MAX; i++) {
		struct proxy_mirror *pm = &out->mirrors[out->n_mirrors];
		struct rt_sbuf *b = &w->act[RT_SB_MIRROR + out->n_mirrors];

		if (!draw(w, r->act.mirrors[i].ppm) ||
		    !rt_mirror_pick(rt, w, &r->act.mirrors[i], v, &pm->ep))
			continue;
		/* No Host to shadow (HTTP/1.0 without one), or no memory: no copy. */
		if (!host || !host_len || shadow_authority(b, host, host_len))
			continue;
		pm->authority = b->p;
		out->n_mirrors++;
	}
}

static void put_retry(const struct rt_retry *rr, struct proxy_pick *out)
{
	out->retry_on = rr->on;
	out->retries = rr->retries;
	out->per_try_timeout_ms = rr->per_try_ms;
	out->n_retry_status = rr->n_status;
	memcpy(out->retry_status, rr->status, sizeof(rr->status));
}

/* A local reply instead of the upstream: give back the endpoint route_select() counted. */
static void local_reply(struct route_worker *w, const struct route_result *res,
			struct proxy_pick *out, int status, const char *body)
{
	if (res->verdict == RV_FORWARD)
		route_done(w, res, -1);
	out->token[0] = 0;
	memset(&out->ep, 0, sizeof(out->ep));
	out->status = status;
	out->body = body;
}

/* Response edits: the static ones, then the Set-Cookie, then CORS (its filter encodes last). */
static int response_edits(const struct rt_dest *d, const struct route_result *res,
			  const struct cors_policy *cors, const struct rt_actions *a,
			  const struct http_hdr *origin, struct route_worker *w,
			  struct proxy_pick *out)
{
	struct rt_sbuf *drop = &w->act[RT_SB_RSP_DROP], *add = &w->act[RT_SB_RSP_ADD];

	if (d && d->rsp.drop[0])
		out->rsp_drop = d->rsp.drop;
	if (d && d->rsp.add[0])
		out->rsp_add = d->rsp.add;
	if (!res->set_cookie && !origin)
		return 0;
	if (d && (sb_puts(drop, d->rsp.drop) || sb_puts(add, d->rsp.add)))
		return -ENOMEM;
	if (res->set_cookie && sb_line(add, "set-cookie", res->set_cookie, strlen(res->set_cookie)))
		return -ENOMEM;
	if (origin && cors_simple(cors, a, origin, drop, add))
		return -ENOMEM;
	out->rsp_drop = drop->len ? drop->p : NULL;
	out->rsp_add = add->len ? add->p : NULL;
	return 0;
}

/* The flags of a local reply of the router (UH, NC) that was also delayed, in Envoy's order. */
static const char *delayed_flags(const char *flags)
{
	if (!flags)
		return "DI";
	if (!strcmp(flags, "UH"))
		return "UH,DI";
	if (!strcmp(flags, "NC"))
		return "DI,NC";
	return flags;
}

int route_actions(const struct route_table *rt, struct route_worker *w, const struct route_req *rq,
		  const struct route_result *res, struct proxy_pick *out)
{
	bool fwd = res->verdict == RV_FORWARD || res->verdict == RV_PASSTHROUGH, delay = false,
	     rewritten;
	const struct http_hdr *origin = NULL, *acrm;
	const struct cors_policy *cors;
	const struct http_fault *f;
	const struct rt_dest *d;
	const struct rt_rule *r;
	struct rt_reqview v;
	int err;

	for (size_t i = 0; i < RT_SBUF_N; i++)
		w->act[i].len = 0;
	if (fwd && res->policy && res->policy->pool.set && res->policy->pool.tcp_connect_timeout_ms)
		out->connect_timeout_ms =
			res->policy->pool.tcp_connect_timeout_ms > UINT32_MAX
				? UINT32_MAX
				: (uint32_t)res->policy->pool.tcp_connect_timeout_ms;
	if (fwd && res->policy && res->policy->pool.set) {
		const struct connection_pool *cp = &res->policy->pool;

		out->max_requests_per_conn = cp->max_requests_per_connection;
		out->idle_timeout_ms = cp->idle_timeout_ms > UINT32_MAX
					       ? UINT32_MAX
					       : (uint32_t)cp->idle_timeout_ms;
	}
	r = result_rule(rt, res, &d);
	if (!r) {
		struct rt_retry rr;

		if (!fwd)
			return 0;
		default_retry(&rr); /* Istio's default route has the default policy too */
		put_retry(&rr, out);
		if (res->set_cookie)
			return response_edits(NULL, res, NULL, NULL, NULL, w, out);
		return 0;
	}
	rt_reqview_init(&v, rq, rt_client_find(rt, rq->src_ip));

	/* fault: the delay, then the abort once it elapsed */
	f = r->src->fault;
	if (f && f->has_delay && f->delay_ms && draw(w, r->act.delay_ppm)) {
		delay = true;
		out->delay_ms = f->delay_ms > UINT32_MAX ? UINT32_MAX : (uint32_t)f->delay_ms;
		out->flags = fwd ? "DI" : delayed_flags(out->flags);
	}
	if (f && f->has_abort && f->abort_status && draw(w, r->act.abort_ppm)) {
		local_reply(w, res, out, (int)f->abort_status, "fault filter abort");
		out->flags = delay ? "DI,FI" : "FI";
		out->headers = NULL;
		return 0;
	}

	/* CORS: a preflight from an allowed Origin is answered here */
	cors = r->src->cors;
	if (cors) {
		origin = header(rq->req, "origin");
		if (origin && (!origin->value_len ||
			       !origin_allowed(&r->act, origin->value, origin->value_len)))
			origin = NULL;
		acrm = header(rq->req, "access-control-request-method");
		if (origin && !strcmp(rq->req->method, "OPTIONS") && acrm && acrm->value_len) {
			local_reply(w, res, out, 200, NULL);
			out->flags = delay ? "DI" : NULL;
			err = cors_preflight(cors, &r->act, rq->req, origin, acrm,
					     &w->act[RT_SB_HEADERS]);
			out->headers = err ? NULL : w->act[RT_SB_HEADERS].p;
			return err;
		}
	}
	if (!fwd) {
		if (origin) { /* the router's local reply passes through the CORS filter */
			err = cors_simple(cors, &r->act, origin, NULL, &w->act[RT_SB_HEADERS]);
			if (err)
				return err;
			out->headers = w->act[RT_SB_HEADERS].p;
		}
		return 0;
	}

	err = rewrite_target(r, res, &v, &w->act[RT_SB_TARGET], &rewritten);
	if (err)
		return err;
	if (rewritten)
		out->target = w->act[RT_SB_TARGET].p;
	if (d && d->req.drop[0])
		out->req_drop = d->req.drop;
	if (d && d->req.add[0])
		out->req_add = d->req.add;
	err = response_edits(d, res, cors, &r->act, origin, w, out);
	if (err)
		return err;
	if (r->src->has_timeout)
		out->timeout_ms =
			r->src->timeout_ms > UINT32_MAX ? UINT32_MAX : (uint32_t)r->src->timeout_ms;
	put_retry(&r->act.retry, out);
	mirrors(rt, w, r, d, &v, out);
	return 0;
}
