// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * HEAD: a request head is parsed, checked against the limits and what the
 * proxy refuses, routed (pick()), and written as it goes upstream (with
 * Envoy's x-request-id, x-forwarded-*, and the router's edits), mirrors sent
 * a copy; proxy_exchange.c then forwards it or answers it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "proxy_int.h"

_Static_assert(PROXY_HEAD_MAX <= H1_HEAD_MAX, "request head spans are 16-bit offsets");
_Static_assert(PROXY_BUF_SIZE <= PROXY_HEAD_MAX, "a head fills the buffer before it grows");

static bool idempotent(uint8_t method)
{
	return method == HTTP_GET || method == HTTP_HEAD || method == HTTP_OPTIONS ||
	       method == HTTP_TRACE || method == HTTP_PUT || method == HTTP_DELETE;
}

static bool has_expect_continue(const struct http_req *req)
{
	for (size_t i = 0; i < req->n_hdrs; i++) {
		const struct http_hdr *h = &req->hdrs[i];

		if (h->name_len == 6 && !strncasecmp(h->name, "expect", 6) && h->value_len == 12 &&
		    !strncasecmp(h->value, "100-continue", 12))
			return true;
	}
	return false;
}

/* The first value of header @name (lower case) in @req, or NULL. */
static const struct http_hdr *find_hdr(const struct http_req *req, const char *name, size_t len)
{
	for (size_t i = 0; i < req->n_hdrs; i++)
		if (req->hdrs[i].name_len == len && !strncasecmp(req->hdrs[i].name, name, len))
			return &req->hdrs[i];
	return NULL;
}

/* Room for @n bytes in the proxy's scratch buffer. */
static char *scratch(struct proxy *px, size_t n)
{
	if (n > px->scratch_cap) {
		char *p = realloc(px->scratch, n);

		if (!p)
			return NULL;
		px->scratch = p;
		px->scratch_cap = n;
	}
	return px->scratch;
}

/*
 * The header lines the proxy itself adds, as Envoy does, and the names they
 * replace: x-request-id when the client sent none, x-forwarded-proto when
 * absent, the client's address appended to x-forwarded-for, and
 * x-envoy-original-path when the route rewrote the path. The router's edits
 * come with them. Built in px->scratch: drop list, NUL, add lines.
 */
static int build_edit(struct session *s, const struct http_req *req, struct h1_edit *e)
{
	struct proxy *px = s->px;
	const struct proxy_pick *pk = &s->pick;
	size_t drop_len = pk->req_drop ? strlen(pk->req_drop) : 0;
	size_t add_len = pk->req_add ? strlen(pk->req_add) : 0, xff_len = 0, cap;
	char ip[INET_ADDRSTRLEN];
	char *buf, *drop, *add, *p;

	inet_ntop(AF_INET, &s->peer.sin_addr, ip, sizeof(ip));
	for (size_t i = 0; i < req->n_hdrs; i++)
		if (req->hdrs[i].name_len == 15 &&
		    !strncasecmp(req->hdrs[i].name, "x-forwarded-for", 15))
			xff_len += req->hdrs[i].value_len + 2;
	cap = drop_len + 64 + add_len + xff_len + req->url_len + 256;
	buf = scratch(px, cap);
	if (!buf)
		return -ENOMEM;
	drop = p = buf;
	memcpy(p, pk->req_drop ? pk->req_drop : "", drop_len);
	p += drop_len;
	p += sprintf(p, "x-forwarded-for\nx-envoy-attempt-count\n%s",
		     pk->target ? "x-envoy-original-path\n" : "");
	*p++ = '\0';
	add = p;
	memcpy(p, pk->req_add ? pk->req_add : "", add_len);
	p += add_len;
	if (!find_hdr(req, "x-request-id", 12)) {
		/* the one the access log names, when it made one */
		const char *id = px_rq_str(s, PROXY_RQ_ID);
		char made[PX_REQUEST_ID_LEN + 1];

		if (!id)
			px_request_id(px, made);
		p += sprintf(p, "x-request-id: %s\r\n", id ? id : made);
	}
	if (!find_hdr(req, "x-forwarded-proto", 17))
		p += sprintf(p, "x-forwarded-proto: http\r\n");
	p += sprintf(p, "x-forwarded-for: ");
	for (size_t i = 0; i < req->n_hdrs; i++) {
		const struct http_hdr *h = &req->hdrs[i];

		if (h->name_len == 15 && !strncasecmp(h->name, "x-forwarded-for", 15)) {
			memcpy(p, h->value, h->value_len);
			p += h->value_len;
			p += sprintf(p, ", ");
		}
	}
	p += sprintf(p, "%s\r\n", ip);
	if (pk->target) {
		p += sprintf(p, "x-envoy-original-path: ");
		memcpy(p, req->url, req->url_len);
		p += req->url_len;
		p += sprintf(p, "\r\n");
	}
	*e = (struct h1_edit){
		.target = pk->target,
		.target_len = pk->target ? strlen(pk->target) : 0,
		.drop = drop,
		.add = add,
		.add_len = (size_t)(p - add),
		.open = true,
	};
	return 0;
}

/*
 * Sends a copy of the request to each mirror the pick names, as the upstream
 * gets it but for Host (the router's "-shadow" authority). Fire and forget:
 * nothing of the copy touches this exchange. The body goes with the copy when
 * it is already here whole (Content-Length, all received with the head); a
 * body still on its way, or chunked, is not held back for a copy: that mirror
 * is dropped and counted (Envoy would stream it).
 */
/* Copies the header lines of @src (@len bytes) but Host ones to @out; returns the bytes copied. */
static size_t copy_lines_but_host(char *out, const char *src, size_t len)
{
	const char *p = src, *end = src + len, *nl;
	size_t n = 0;

	for (; p < end; p = nl + 1) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			nl = end - 1;
		if ((size_t)(nl + 1 - p) > 5 && !strncasecmp(p, "host:", 5))
			continue;
		memcpy(out + n, p, (size_t)(nl + 1 - p));
		n += (size_t)(nl + 1 - p);
	}
	return n;
}

static void send_mirrors(struct session *s, const struct http_req *req, const struct h1_edit *e)
{
	struct proxy *px = s->px;
	const llhttp_t *ll = &s->hreq.ll;
	const char *body = buf_head(&s->req) + s->req_parsed;
	uint32_t have = s->req.len - s->req_parsed;
	size_t body_len = 0;

	if (ll->flags & F_CHUNKED) {
		for (uint8_t i = 0; i < s->pick.n_mirrors; i++)
			STAT_INC(px, mirror_dropped);
		return;
	}
	if (ll->flags & F_CONTENT_LENGTH) {
		if (ll->content_length > have) {
			for (uint8_t i = 0; i < s->pick.n_mirrors; i++)
				STAT_INC(px, mirror_dropped);
			return;
		}
		body_len = (size_t)ll->content_length;
	}
	for (uint8_t i = 0; i < s->pick.n_mirrors; i++) {
		const struct proxy_mirror *m = &s->pick.mirrors[i];
		struct h1_edit me = *e;
		char *drop, *add, *head;
		size_t dl, al, n;

		if (!m->authority) { /* the router gives one; never trust a NULL to strlen() */
			STAT_INC(px, mirror_dropped);
			continue;
		}
		dl = strlen(e->drop);
		drop = malloc(dl + 6);
		add = malloc(e->add_len + strlen(m->authority) + 64);
		if (!drop || !add) {
			free(drop);
			free(add);
			STAT_INC(px, mirror_dropped);
			continue;
		}
		memcpy(drop, e->drop, dl);
		memcpy(drop + dl, "host\n", 6);
		al = copy_lines_but_host(add, e->add, e->add_len);
		me.add_len =
			al + (size_t)sprintf(add + al, "host: %s\r\nx-envoy-attempt-count: 1\r\n",
					     m->authority);
		me.drop = drop;
		me.add = add;
		me.open = false;
		head = malloc(h1_req_size(req, &me));
		if (head) {
			n = h1_req_write(req, s->flags & SF_UPGRADE, &me, head);
			px_mirror_send(px, &m->ep, head, n, body, body_len);
		} else {
			STAT_INC(px, mirror_dropped);
		}
		free(head);
		free(drop);
		free(add);
	}
}

/*
 * Writes @req as it goes upstream into hout, ending with the attempt count
 * (rewritten for each retry); copies the response edits the pick asks for;
 * makes sure rsp can take the response.
 */
static int write_head(struct session *s, const struct http_req *req)
{
	const struct proxy_pick *pk = &s->pick;
	struct h1_edit e;
	int err;

	err = build_edit(s, req, &e);
	if (!err)
		err = buf_alloc(&s->hout, (uint32_t)(h1_req_size(req, &e) + PX_ATTEMPT_LINE_MAX));
	if (!err)
		err = buf_alloc(&s->rsp, PROXY_BUF_SIZE);
	if (err)
		return err;
	s->hout_attempt = (uint32_t)h1_req_write(req, s->flags & SF_UPGRADE, &e, s->hout.data);
	s->attempt = 1;
	px_write_attempt(s);
	if (s->pick.n_mirrors && !(s->flags & SF_UPGRADE))
		send_mirrors(s, req, &e);
	if (pk->rsp_drop || pk->rsp_add) {
		size_t dl = pk->rsp_drop ? strlen(pk->rsp_drop) : 0;
		size_t al = pk->rsp_add ? strlen(pk->rsp_add) : 0;

		s->rsp_drop = malloc(dl + al + 2);
		if (!s->rsp_drop)
			return -ENOMEM;
		memcpy(s->rsp_drop, pk->rsp_drop ? pk->rsp_drop : "", dl + 1);
		s->rsp_add = s->rsp_drop + dl + 1;
		memcpy(s->rsp_add, pk->rsp_add ? pk->rsp_add : "", al + 1);
		s->rsp_add_len = (uint32_t)al;
		if (!dl) {
			/* Only additions: the in-place insert needs no drop list. */
			memmove(s->rsp_drop, s->rsp_add, al + 1);
			s->rsp_add = s->rsp_drop;
			s->rsp_drop = NULL;
		}
	}
	return 0;
}

/*
 * The worker's limits: a connection accepted over max_connections gets this
 * one 503 and is closed; a request that would make more than max_requests in
 * flight gets a 503 and the connection lives on. Either skips routing.
 */
static bool overloaded(struct session *s)
{
	struct proxy *px = s->px;

	if (s->flags & SF_OVERLOAD)
		return true;
	if (!px->ops.max_requests || px->stats.requests_active < px->ops.max_requests)
		return false;
	STAT_INC(px, overload_requests);
	log_every(LOG_WARN, LOG_EVERY_MS,
		  "proxy: %" PRIu64 " requests in flight, the limit is %u: answering 503",
		  px->stats.requests_active, px->ops.max_requests);
	return true;
}

/*
 * What refuses the request before it is routed: h1_req_check(), then a
 * Content-Length over max_body_bytes (413 before a byte of the body is read,
 * which a client sending Expect: 100-continue does not even send). 0 or the
 * status; *@details as px_bad_request() takes it.
 */
static int request_refused(struct session *s, const struct http_req *req, const char **details)
{
	const llhttp_t *ll = &s->hreq.ll;
	int status = h1_req_check(&s->hreq, req, details);

	if (!status && s->px->ops.max_body_bytes && (ll->flags & F_CONTENT_LENGTH) &&
	    ll->content_length > s->px->ops.max_body_bytes) {
		*details = NULL;
		status = 413;
	}
	return status;
}

/* A request head is parsed (req_parsed bytes of req): route it and write it for the upstream. */
static void on_request_head(struct session *s)
{
	struct proxy *px = s->px;
	struct http_hdr hdrs[H1_MAX_HDRS];
	const char *details;
	struct http_req req;
	int err, status;

	STAT_INC(px, requests);
	loop_timer_cancel(px->loop, &s->timer);
	h1_req_view(&s->hreq, buf_head(&s->req), hdrs, &req);
	px_rq_head(s, &req);
	if (llhttp_should_keep_alive(&s->hreq.ll))
		s->flags |= SF_REQ_KA;
	if (s->hreq.ll.method == HTTP_HEAD)
		s->flags |= SF_HEAD_REQ;
	if (has_expect_continue(&req))
		s->flags |= SF_EXPECT;
	if (h1_req_upgrade(&s->hreq))
		s->flags |= SF_UPGRADE;
	if (idempotent(s->hreq.ll.method))
		s->flags |= SF_IDEMPOTENT;
	if (req.http_major == 1 && req.http_minor == 0)
		s->flags |= SF_HTTP10;
	status = request_refused(s, &req, &details);
	if (status) {
		buf_consume(&s->req, s->req_parsed);
		s->req_parsed = s->req_fwd = 0;
		px_bad_request(s, status, details);
		return;
	}

	memset(&s->pick, 0, sizeof(s->pick));
	if (s->hreq.ll.method == HTTP_CONNECT) {
		s->pick.status = 405;
		s->pick.body = "CONNECT is not supported\n";
	} else if (s->flags & SF_NO_ROUTE) {
		s->pick.status = 404; /* the connection was not captured: nowhere to go */
		s->pick.flags = "NR";
		px_rq_fail(s, PROXY_RF_NR, "route_not_found");
	} else if (overloaded(s)) {
		s->pick.status = 503;
		s->pick.body = "overloaded\n";
		px_rq_fail(s, PROXY_RF_OM, "overload");
	} else {
		err = s->flags & SF_GATEWAY
			      ? px->ops.pick_gateway(px->ops.ctx, &s->peer, &s->orig, px_tls_sni(s),
						     &req, &s->pick)
			      : px->ops.pick(px->ops.ctx, &s->peer, &s->orig, &req, &s->pick);
		if (err) {
			log_every(LOG_WARN, LOG_EVERY_MS, "proxy: routing failed: %s",
				  strerror(-err));
			memset(&s->pick, 0, sizeof(s->pick));
			s->pick.status = 503;
			s->pick.body = "routing failed\n";
		} else if (!s->pick.status) {
			s->ep = s->pick.ep;
			s->flags |= SF_PICKED;
			STAT_INC(px, requests_active);
		}
		px_rq_routed(s);
	}
	if (!s->pick.status && write_head(s, &req)) {
		px_sess_close(s);
		return;
	}
	/* Strings of the pick live only as long as this call. */
	s->pick.route_name = s->pick.cluster = NULL;
	s->pick.target = s->pick.req_drop = s->pick.req_add = NULL;
	s->pick.rsp_drop = s->pick.rsp_add = NULL;
	for (uint8_t i = 0; i < s->pick.n_mirrors; i++)
		s->pick.mirrors[i].authority = NULL;
	/* The head is in hout now (or answered locally): req holds the body and what follows. */
	buf_consume(&s->req, s->req_parsed);
	s->req_parsed = s->req_fwd = 0;
	px_request_routed(s);
}

/* The head is over max_head_bytes: 414 when its request-target alone reaches the limit, else
 * 431 (Envoy answers 431 to both, HAProxy 400). */
static void head_too_large(struct session *s)
{
	const struct h1_req *h = &s->hreq;

	px_bad_request(
		s, h->url_seen && h->url.off + h->url.len >= s->px->ops.max_head_bytes ? 414 : 431,
		NULL);
}

/* The buffer is full of a head under max_head_bytes: it grows to that, once. 0 or -errno. */
static int head_grow(struct session *s)
{
	uint32_t max = s->px->ops.max_head_bytes;
	char *d;

	if (s->req.size >= max)
		return -ENOSPC;
	d = realloc(s->req.data, max); /* spans are offsets from the head: they stay valid */
	if (!d)
		return -ENOMEM;
	s->req.data = d;
	s->req.size = max;
	return 0;
}

void px_head_timed_out(struct session *s)
{
	STAT_INC(s->px, header_timeouts);
	px_rq_fail(s, 0, "request_header_timeout");
	px_local_reply(s, 408, "request header timeout\n", NULL, true);
}

void px_do_head(struct session *s)
{
	struct proxy *px = s->px;
	enum h1_ev ev;
	size_t used;

	while (s->req_parsed < s->req.len) {
		if (!s->rq.open)
			px_rq_begin(s);
		ev = h1_req_execute(&s->hreq, buf_head(&s->req), buf_head(&s->req) + s->req_parsed,
				    s->req.len - s->req_parsed, &used);
		s->req_parsed += (uint32_t)used;
		s->rq.in += used;
		if (ev == H1_HEADERS) {
			/* The head starts at the buffer's: req_parsed is its size. */
			if (s->req_parsed > px->ops.max_head_bytes)
				head_too_large(s);
			else
				on_request_head(s);
			return;
		}
		if (ev == H1_UPGRADE && !used) {
			/* The previous request asked for a switch that did not happen. */
			h1_req_resume_http(&s->hreq);
			continue;
		}
		if (ev != H1_MORE) {
			px_bad_request(s, s->hreq.too_many ? 431 : 400, NULL);
			return;
		}
	}
	if (s->flags & (SF_CLIENT_EOF | SF_CLIENT_FIN)) {
		/* a head begun and never finished */
		px_rq_fail(s, PROXY_RF_DC, "downstream_remote_disconnect");
		px_sess_close(s);
	} else if (s->req_parsed >= px->ops.max_head_bytes ||
		   (s->req.data && !buf_room(&s->req) && head_grow(s))) {
		head_too_large(s);
	} else if (s->rq.open && px->ops.header_timeout_ms && !(s->flags & SF_HEAD_TIMER)) {
		/* Armed once per head, when a read ends inside it: a head that comes whole costs
		 * no timer, and one that trickles in cannot push its deadline back. */
		s->flags |= SF_HEAD_TIMER;
		(void)loop_timer_arm(px->loop, &s->timer, px->ops.header_timeout_ms,
				     px_on_client_timer, s);
	}
}
