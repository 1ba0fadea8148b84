// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * What a rule's match conditions see of a request, and how they compare, the
 * way Envoy evaluates the route Istio generates:
 *   - uri: exact and regex on the path without query (and fragment), prefix on
 *     the path with its query (Envoy's prefix matcher sees the whole :path);
 *     ignoreUriCase for exact and prefix only (Envoy's case_sensitive does
 *     not apply to regexes);
 *   - method, authority, scheme: header matchers on :method, :authority (the
 *     Host header as sent, port included), :scheme;
 *   - headers: names case-insensitive, values case-sensitive, repeated
 *     headers joined with "," first; {} and regex "*" mean "present";
 *   - withoutHeaders: the inverse, a missing header counted as "" (absent
 *     for "present");
 *   - queryParams: the first value of the name, raw (not percent-decoded), ""
 *     for a bare "?name"; {} and regex "*" mean "present".
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "regex.h"
#include "route_int.h"

int rt_str_compile(struct rt_str *out, const struct str_match *sm, bool caseless, bool star_present,
		   const char *field)
{
	char err[256];
	int ret;

	memset(out, 0, sizeof(*out));
	out->kind = sm->kind;
	if (sm->kind == SM_NONE || !sm->value) {
		out->kind = SM_NONE;
		return 0;
	}
	if (sm->kind != SM_REGEX) {
		out->s = sm->value;
		out->len = strlen(sm->value);
		out->caseless = caseless;
		return 0;
	}
	if (star_present && !strcmp(sm->value, "*")) {
		out->kind = SM_NONE; /* Istio: "*" is not RE2; it turns it into present_match */
		return 0;
	}
	ret = regex_compile(sm->value, false, &out->re, err, sizeof(err));
	if (ret == -EINVAL)
		log_error("%s:%d:%d: %s: regex \"%s\": %s", sm->loc.file ? sm->loc.file : "?",
			  sm->loc.line, sm->loc.col, field, sm->value, err);
	return ret;
}

void rt_str_release(struct rt_str *s)
{
	regex_free(s->re);
	s->re = NULL;
}

static bool str_match(const struct rt_str *m, const char *s, size_t len)
{
	switch (m->kind) {
	case SM_EXACT:
		if (len != m->len)
			return false;
		return m->caseless ? !strncasecmp(s, m->s, len) : !memcmp(s, m->s, len);
	case SM_PREFIX:
		if (len < m->len)
			return false;
		return m->caseless ? !strncasecmp(s, m->s, m->len) : !memcmp(s, m->s, m->len);
	case SM_REGEX:
		return regex_full_match(m->re, s, len);
	default:
		return true;
	}
}

/* Whether @s, in any ASCII case, is @lower (lower case), both @len bytes. */
static inline bool eq_lower(const char *s, const char *lower, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		char c = s[i] >= 'A' && s[i] <= 'Z' ? (char)(s[i] + 'a' - 'A') : s[i];

		if (c != lower[i])
			return false;
	}
	return true;
}

/* Whether @s[0..len) starts with @p, in any case (@p lower case, of @pl bytes). */
static bool has_prefix_ci(const char *s, size_t len, const char *p, size_t pl)
{
	return len >= pl && eq_lower(s, p, pl);
}

/*
 * The first header from @from on named @name, or NULL. @name is lower case (the config stores
 * header names so), so a request's name is folded as it is compared, only when its length is
 * @name's: no libc call, no pass over the other names.
 */
static const struct http_hdr *find_hdr(const struct http_req *req, const char *name, size_t len,
				       size_t from)
{
	for (size_t i = from; i < req->n_hdrs; i++)
		if (req->hdrs[i].name_len == len && eq_lower(req->hdrs[i].name, name, len))
			return &req->hdrs[i];
	return NULL;
}

void rt_reqview_init(struct rt_reqview *v, const struct route_req *rq,
		     const struct rt_client *client)
{
	const struct http_req *req = rq->req;
	const char *u = req->url, *end = req->url + req->url_len, *p;
	const struct http_hdr *host;

	memset(v, 0, sizeof(*v));
	v->rq = rq;
	v->client = client;
	/* absolute-form (a request to a proxy): the authority comes from the target */
	if (has_prefix_ci(u, req->url_len, "http://", 7) ||
	    has_prefix_ci(u, req->url_len, "https://", 8)) {
		u = (const char *)memchr(u, ':', req->url_len) + 3;
		for (p = u; p < end && *p != '/' && *p != '?' && *p != '#'; p++)
			;
		v->authority = u;
		v->authority_len = (size_t)(p - u);
		u = p;
	} else if ((host = find_hdr(req, "host", 4, 0))) {
		v->authority = host->value;
		v->authority_len = host->value_len;
	}
	p = memchr(u, '#', (size_t)(end - u));
	if (p)
		end = p;
	v->pathq = u;
	v->pathq_len = (size_t)(end - u);
	p = memchr(u, '?', v->pathq_len);
	v->path = u;
	v->path_len = p ? (size_t)(p - u) : v->pathq_len;
	if (p) {
		v->query = p + 1;
		v->query_len = (size_t)(end - p - 1);
	}
	if (!v->pathq_len) { /* "http://host" alone: the path is "/" */
		v->path = v->pathq = "/";
		v->path_len = v->pathq_len = 1;
	}
}

/* The value of header @name, repeated ones joined with ",". false when absent. */
static bool header_value(struct route_worker *w, const struct http_req *req, const char *name,
			 size_t nlen, const char **val, size_t *len)
{
	const struct http_hdr *first = find_hdr(req, name, nlen, 0), *h;
	size_t total, i = (size_t)(first - req->hdrs) + 1, n;
	char *buf;

	if (!first)
		return false;
	h = find_hdr(req, name, nlen, i);
	if (!h) {
		*val = first->value;
		*len = first->value_len;
		return true;
	}
	total = first->value_len;
	for (; h; h = find_hdr(req, name, nlen, (size_t)(h - req->hdrs) + 1))
		total += 1 + h->value_len;
	if (total > w->buf_cap) {
		buf = realloc(w->buf, total);
		if (!buf) /* cannot join: match on the first, better than failing the request */
			goto first_only;
		w->buf = buf;
		w->buf_cap = total;
	}
	memcpy(w->buf, first->value, first->value_len);
	n = first->value_len;
	for (h = find_hdr(req, name, nlen, i); h;
	     h = find_hdr(req, name, nlen, (size_t)(h - req->hdrs) + 1)) {
		w->buf[n++] = ',';
		memcpy(w->buf + n, h->value, h->value_len);
		n += h->value_len;
	}
	*val = w->buf;
	*len = n;
	return true;
first_only:
	*val = first->value;
	*len = first->value_len;
	return true;
}

bool rt_field_value(struct route_worker *w, const struct rt_reqview *v, enum rt_field field,
		    const char *name, size_t name_len, const char **val, size_t *len)
{
	switch (field) {
	case RF_AUTHORITY:
		*val = v->authority;
		*len = v->authority_len;
		return v->authority != NULL;
	case RF_METHOD:
		*val = v->rq->req->method;
		*len = v->rq->req->method_len;
		return *val != NULL;
	case RF_SCHEME:
		*val = v->rq->https ? "https" : "http";
		*len = v->rq->https ? 5 : 4;
		return true;
	case RF_PATH:
		*val = v->pathq;
		*len = v->pathq_len;
		return true;
	default:
		return header_value(w, v->rq->req, name, name_len, val, len);
	}
}

static bool kv_header_match(struct route_worker *w, const struct rt_kv *kv,
			    const struct rt_reqview *v)
{
	const char *val;
	size_t len;
	bool hit;

	if (!rt_field_value(w, v, kv->field, kv->name, kv->name_len, &val, &len)) {
		if (!kv->invert)
			return false;
		/* Istio sets treat_missing_header_as_empty on withoutHeaders, except for "present".
		 */
		return kv->m.kind == SM_NONE ? true : !str_match(&kv->m, "", 0);
	}
	hit = kv->m.kind == SM_NONE || str_match(&kv->m, val, len);
	return kv->invert ? !hit : hit;
}

/* The first value of query parameter @name (raw), "" without "=". false when absent. */
static bool query_value(const struct rt_reqview *v, const char *name, size_t nlen, const char **val,
			size_t *len)
{
	const char *p = v->query, *end;

	if (!p)
		return false;
	end = p + v->query_len;
	while (p <= end) {
		const char *amp = memchr(p, '&', (size_t)(end - p)), *seg_end = amp ? amp : end;
		const char *eq = memchr(p, '=', (size_t)(seg_end - p));
		size_t klen = (size_t)((eq ? eq : seg_end) - p);

		if (klen == nlen && !memcmp(p, name, nlen)) {
			*val = eq ? eq + 1 : "";
			*len = eq ? (size_t)(seg_end - eq - 1) : 0;
			return true;
		}
		if (!amp)
			break;
		p = amp + 1;
	}
	return false;
}

enum rt_miss rt_match_applies_why(const struct rt_match *m, const struct rt_reqview *v,
				  uint16_t port)
{
	if (m->port && m->port != port)
		return RT_MISS_PORT;
	if (v->gw) /* through a Gateway: the entry (or its VirtualService) must name it */
		return config_binds_gateway(m->gws, m->n_gws, m->vs_ns, v->gw) ? RT_MISS_NONE
									       : RT_MISS_GATEWAY;
	if (!m->mesh)
		return RT_MISS_NOT_MESH;
	if (m->by_gateways) /* Istio: gateways given, sourceLabels and sourceNamespace ignored */
		return RT_MISS_NONE;
	if (m->src_labels &&
	    (!v->client->pod || !rt_labels_subset(m->src_labels, &v->client->pod->labels)))
		return RT_MISS_SOURCE_LABELS;
	return m->src_ns == RT_NS_ANY || m->src_ns == v->client->ns ? RT_MISS_NONE
								    : RT_MISS_SOURCE_NS;
}

enum rt_miss rt_match_request_why(struct route_worker *w, const struct rt_match *m,
				  const struct rt_reqview *v, size_t *cond)
{
	const char *val;
	size_t len;

	if (m->uri.kind == SM_PREFIX ? !str_match(&m->uri, v->pathq, v->pathq_len)
				     : !str_match(&m->uri, v->path, v->path_len))
		return RT_MISS_URI;
	for (size_t i = 0; i < m->n_hdrs; i++) {
		if (!kv_header_match(w, &m->hdrs[i], v)) {
			if (cond)
				*cond = i;
			return RT_MISS_HEADER;
		}
	}
	for (size_t i = 0; i < m->n_qps; i++) {
		const struct rt_kv *kv = &m->qps[i];

		if (!query_value(v, kv->name, kv->name_len, &val, &len) ||
		    (kv->m.kind != SM_NONE && !str_match(&kv->m, val, len))) {
			if (cond)
				*cond = i;
			return RT_MISS_QUERY;
		}
	}
	return RT_MISS_NONE;
}

/* The value of cookie @name in the request's Cookie headers, quotes stripped. */
static bool cookie_value(const struct http_req *req, const char *name, const char **val,
			 size_t *len)
{
	size_t nlen = strlen(name);

	for (const struct http_hdr *h = find_hdr(req, "cookie", 6, 0); h;
	     h = find_hdr(req, "cookie", 6, (size_t)(h - req->hdrs) + 1)) {
		const char *p = h->value, *end = h->value + h->value_len;

		while (p < end) {
			const char *semi = memchr(p, ';', (size_t)(end - p)),
				   *e = semi ? semi : end;
			const char *eq;

			while (p < e && (*p == ' ' || *p == '\t'))
				p++;
			eq = memchr(p, '=', (size_t)(e - p));
			if (eq && (size_t)(eq - p) == nlen && !memcmp(p, name, nlen)) {
				const char *vs = eq + 1, *ve = e;

				while (ve > vs && (ve[-1] == ' ' || ve[-1] == '\t'))
					ve--;
				if (ve - vs >= 2 && *vs == '"' && ve[-1] == '"') {
					vs++;
					ve--;
				}
				*val = vs;
				*len = (size_t)(ve - vs);
				return true;
			}
			p = e + 1;
		}
	}
	return false;
}

/*
 * No cookie and a ttl: make one up. Envoy derives the value from the upstream
 * address; a random value does the same job (the next requests carry it and
 * hash to the same ring point) without tying the cookie to one endpoint.
 */
static bool make_cookie(struct route_worker *w, const struct lb_policy *pol, uint64_t *h,
			const char **set_cookie)
{
	uint64_t ttl_s = pol->cookie_ttl_ms / 1000;
	char value[17];
	int n;

	snprintf(value, sizeof(value), "%016" PRIx64, lb_rng_next(&w->rng));
	*h = lb_hash(value, 16);
	n = snprintf(w->cookie, sizeof(w->cookie), "%s=\"%s\"", pol->hash_key, value);
	if (ttl_s && n > 0 && (size_t)n < sizeof(w->cookie))
		n += snprintf(w->cookie + n, sizeof(w->cookie) - (size_t)n, "; Max-Age=%" PRIu64,
			      ttl_s);
	if (pol->cookie_path && n > 0 && (size_t)n < sizeof(w->cookie))
		n += snprintf(w->cookie + n, sizeof(w->cookie) - (size_t)n, "; Path=%s",
			      pol->cookie_path);
	if (n > 0 && (size_t)n < sizeof(w->cookie))
		n += snprintf(w->cookie + n, sizeof(w->cookie) - (size_t)n, "; HttpOnly");
	if (n > 0 && (size_t)n < sizeof(w->cookie))
		*set_cookie = w->cookie;
	return true;
}

bool rt_hash_key(struct route_worker *w, const struct lb_policy *pol, const struct rt_reqview *v,
		 uint64_t *h, const char **set_cookie)
{
	const struct http_req *req = v->rq->req;
	const char *val;
	size_t len;
	char ip[INET_ADDRSTRLEN];

	switch (pol->hash) {
	case LB_HASH_HEADER:
		if (!pol->hash_key ||
		    !header_value(w, req, pol->hash_key, strlen(pol->hash_key), &val, &len))
			return false;
		break;
	case LB_HASH_COOKIE:
		if (!pol->hash_key)
			return false;
		if (!cookie_value(req, pol->hash_key, &val, &len))
			return pol->cookie_ttl_ms ? make_cookie(w, pol, h, set_cookie) : false;
		break;
	case LB_HASH_SOURCE_IP: {
		const unsigned char *b = (const unsigned char *)&v->rq->src_ip.s_addr;
		int n = snprintf(ip, sizeof(ip), "%u.%u.%u.%u", b[0], b[1], b[2], b[3]);

		val = ip;
		len = (size_t)n;
		break;
	}
	case LB_HASH_QUERY:
		if (!pol->hash_key ||
		    !query_value(v, pol->hash_key, strlen(pol->hash_key), &val, &len))
			return false;
		break;
	default:
		return false;
	}
	*h = lb_hash(val, len);
	return true;
}
