// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "redirect.h"

struct span {
	const char *p;
	size_t n;
};

static struct span host_header(const struct http_req *req)
{
	for (size_t i = 0; i < req->n_hdrs; i++) {
		const struct http_hdr *h = &req->hdrs[i];

		if (h->name_len == 4 && !strncasecmp(h->name, "host", 4))
			return (struct span){h->value, h->value_len};
	}
	return (struct span){NULL, 0};
}

/* Splits the request-target into authority (absolute-form only), path and query ('?' on). */
static void split_target(const struct http_req *req, struct span *auth, struct span *path,
			 struct span *query)
{
	const char *u = req->url, *end = req->url + req->url_len, *p, *q;

	*auth = (struct span){NULL, 0};
	p = u;
	if (req->url_len > 7 && (!strncasecmp(u, "http://", 7) || !strncasecmp(u, "https://", 8))) {
		const char *a = u + (u[4] == ':' ? 7 : 8);

		p = memchr(a, '/', (size_t)(end - a));
		if (!p)
			p = end;
		q = memchr(a, '?', (size_t)(p - a));
		if (q)
			p = q;
		*auth = (struct span){a, (size_t)(p - a)};
	}
	q = memchr(p, '?', (size_t)(end - p));
	if (!q)
		q = end;
	*path = (struct span){p, (size_t)(q - p)};
	*query = (struct span){q, (size_t)(end - q)};
}

/* The host part of an authority: without ":port" (an IPv6 literal keeps its brackets). */
static size_t host_len(struct span a)
{
	size_t n = a.n;

	if (n && a.p[0] == '[') {
		const char *rb = memchr(a.p, ']', n);

		return rb ? (size_t)(rb - a.p) + 1 : n;
	}
	for (size_t i = n; i-- > 0;) {
		if (a.p[i] == ':')
			return i;
		if (a.p[i] < '0' || a.p[i] > '9')
			break;
	}
	return n;
}

static unsigned default_port(const char *scheme)
{
	return !strcasecmp(scheme, "https") ? 443 : 80;
}

int redirect_location(const struct http_redirect *r, const struct http_req *req, bool https,
		      char *out, size_t cap)
{
	struct span auth, path, query, tgt_auth;
	const char *scheme = r->scheme ? r->scheme : https ? "https" : "http";
	char port[16] = "";
	unsigned p = 0;
	size_t hl;
	int n;

	split_target(req, &tgt_auth, &path, &query);
	if (r->authority)
		auth = (struct span){r->authority, strlen(r->authority)};
	else {
		auth = host_header(req);
		if (!auth.n)
			auth = tgt_auth;
	}
	if (!auth.n)
		return -EINVAL;
	hl = host_len(auth);
	if (r->port)
		p = r->port;
	else if (r->derive_port)
		p = default_port(scheme);
	if (p) {
		if (p != default_port(scheme))
			snprintf(port, sizeof(port), ":%u", p);
	} else if (hl < auth.n) {
		unsigned have = 0;

		for (size_t i = hl + 1; i < auth.n && have < 100000; i++)
			have = have * 10 + (unsigned)(auth.p[i] - '0');
		/* A scheme redirect drops the port when it is the new scheme's default. */
		if (!(r->scheme && have == default_port(scheme)))
			snprintf(port, sizeof(port), ":%u", have);
	}
	if (r->uri) {
		path = (struct span){r->uri, strlen(r->uri)};
		if (strchr(r->uri, '?'))
			query = (struct span){"", 0};
	}
	if (!path.n)
		path = (struct span){"/", 1};
	n = snprintf(out, cap, "location: %s://%.*s%s%.*s%.*s\r\n", scheme, (int)hl, auth.p, port,
		     (int)path.n, path.p, (int)query.n, query.p);
	if (n < 0 || (size_t)n >= cap)
		return -ENOSPC;
	return 0;
}
