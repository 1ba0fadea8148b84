// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * What each session state does with HTTP: route a request head, forward the
 * request and the response, answer locally (400, 404, 502, 503, ...), retry
 * on a fresh connection when a pooled one died unanswered, keep the
 * connections alive or close them as HTTP says.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "proxy_int.h"

_Static_assert(PROXY_BUF_SIZE <= H1_HEAD_MAX, "request head spans are 16-bit offsets");

/* Envoy's wording, so that operators and tests recognise them. */
#define RESET_BEFORE_HEADERS "upstream connect error or disconnect/reset before headers. "
#define BODY_CONNECT_FAILURE RESET_BEFORE_HEADERS "reset reason: connection failure"
#define BODY_CONNECT_TIMEOUT RESET_BEFORE_HEADERS "reset reason: connection timeout"
#define BODY_TERMINATION     RESET_BEFORE_HEADERS "reset reason: connection termination"
#define BODY_PROTOCOL_ERROR  RESET_BEFORE_HEADERS "reset reason: protocol error"

static void count_response(struct proxy *px, int status)
{
	STAT_INC(px, responses);
	switch (status / 100) {
	case 2:
		STAT_INC(px, responses_2xx);
		break;
	case 3:
		STAT_INC(px, responses_3xx);
		break;
	case 4:
		STAT_INC(px, responses_4xx);
		break;
	case 5:
		STAT_INC(px, responses_5xx);
		break;
	default:
		break;
	}
}

/*
 * Answers the current request from the proxy: drops the upstream and any
 * response bytes not yet committed to the client (interim responses already
 * let out stay ahead of the reply). The client connection stays open if the
 * request allows it and its body can be drained; otherwise it closes after
 * the reply.
 */
/* Answers the client with @status, @body and the header lines @extra (NULL: none). */
static void local_reply_ex(struct session *s, int status, const char *body, const char *extra,
			   bool close)
{
	struct proxy *px = s->px;
	bool keep;

	if (s->up) {
		px_up_close(s->up);
		s->up = NULL;
	}
	buf_free(&s->hout);
	keep = !close && (s->flags & SF_REQ_KA) && !(s->flags & (SF_CLIENT_EOF | SF_CLIENT_FIN)) &&
	       ((s->flags & SF_REQ_DONE) || !(s->flags & SF_EXPECT));
	if (!keep)
		s->flags |= SF_CLOSE;
	else if (!(s->flags & SF_REQ_DONE))
		s->flags |= SF_DRAIN;
	buf_consume(&s->req, s->req_fwd);
	s->req_parsed -= s->req_fwd;
	s->req_fwd = 0;
	s->rsp.len = s->rsp_fwd;
	if (buf_alloc(&s->rsp, PROXY_BUF_SIZE) ||
	    h1_local_response(&s->rsp, status, body, extra, s->flags & SF_HEAD_REQ, !keep)) {
		px_sess_close(s);
		return;
	}
	s->rsp_parsed = s->rsp_fwd = s->rsp.len;
	STAT_INC(px, local_replies);
	count_response(px, status);
	log_debug("proxy: fd %d: local reply %d (%s)", s->fd, status, body);
	s->state = SESS_LOCAL;
}

static void local_reply(struct session *s, int status, const char *body, bool close)
{
	local_reply_ex(s, status, body, NULL, close);
}

static void bad_request(struct session *s, int status)
{
	STAT_INC(s->px, bad_requests);
	local_reply(s, status,
		    status == 431 ? "request header fields too large\n" : "bad request\n", true);
}

/* Parses request body bytes; marks them for the upstream, or drops them when draining. */
static int req_pump(struct session *s)
{
	enum h1_ev ev;
	size_t used;

	if (s->flags & SF_REQ_DONE)
		return 0;
	/* Runs at least once: a message without a body completes on zero bytes. */
	do {
		ev = h1_req_execute(&s->hreq, buf_head(&s->req), buf_head(&s->req) + s->req_parsed,
				    s->req.len - s->req_parsed, &used);
		s->req_parsed += (uint32_t)used;
		if (ev == H1_ERROR || ev == H1_HEADERS)
			return -EBADMSG;
		if (s->flags & SF_DRAIN) {
			buf_consume(&s->req, s->req_parsed);
			s->req_parsed = 0;
		}
		s->req_fwd = s->req_parsed;
		if (ev == H1_MESSAGE || ev == H1_UPGRADE)
			s->flags |= SF_REQ_DONE;
	} while (!(s->flags & SF_REQ_DONE) && s->req_parsed < s->req.len);
	return 0;
}

static void tunnel_enter(struct session *s)
{
	STAT_INC(s->px, responses_1xx);
	count_response(s->px, 101);
	px_pick_done(s, 101); /* a tunnel is no longer a request */
	s->flags |= SF_COMMITTED;
	s->state = SESS_TUNNEL;
	log_debug("proxy: fd %d: switched protocols, tunnelling", s->fd);
}

/* The upstream broke HTTP: 502 if the client saw nothing of the response, else cut it there. */
static void rsp_malformed(struct session *s)
{
	char ep[32];

	STAT_INC(s->px, upstream_bad_response);
	log_debug("proxy: malformed response from %s: %s", px_addr_str(&s->ep, ep, sizeof(ep)),
		  llhttp_get_error_reason(&s->hrsp.ll));
	px_pick_done(s, 0);
	if (!(s->flags & SF_COMMITTED)) {
		local_reply(s, 502, BODY_PROTOCOL_ERROR, false);
		return;
	}
	px_up_close(s->up);
	s->up = NULL;
	s->flags |= SF_CLOSE;
	s->rsp.len = s->rsp_fwd;
	s->rsp_parsed = s->rsp_fwd;
}

/* A whole message was parsed: an interim one goes out and the wait goes on; a final one ends. */
static void rsp_message(struct session *s)
{
	int status = s->hrsp.ll.status_code;

	if (status == 101) {
		if (s->flags & SF_UPGRADE)
			tunnel_enter(s);
		else
			rsp_malformed(s);
		return;
	}
	if (status / 100 == 1 && (s->flags & SF_HTTP10)) {
		/* HTTP/1.0 has no 1xx (RFC 9110 15.2): its client would take it for the answer.
		 * Nothing is let out before the final response, so the interim one is at the head.
		 */
		buf_consume(&s->rsp, s->rsp_parsed);
		s->rsp_parsed = s->rsp_fwd = 0;
		return;
	}
	s->rsp_fwd = s->rsp_parsed;
	if (status / 100 == 1) {
		STAT_INC(s->px, responses_1xx);
		return;
	}
	s->flags |= SF_COMMITTED | SF_RSP_DONE;
	if (llhttp_should_keep_alive(&s->hrsp.ll))
		s->flags |= SF_RSP_KA;
	count_response(s->px, status);
}

/* Parses response bytes; lets them out once the head of a final response parsed cleanly. */
static void rsp_pump(struct session *s)
{
	enum h1_ev ev;
	size_t used;

	while (s->state == SESS_EXCHANGE && !(s->flags & SF_RSP_DONE) &&
	       s->rsp_parsed < s->rsp.len) {
		ev = h1_rsp_execute(&s->hrsp, buf_head(&s->rsp) + s->rsp_parsed,
				    s->rsp.len - s->rsp_parsed, &used);
		s->rsp_parsed += (uint32_t)used;
		if (ev == H1_MESSAGE) {
			rsp_message(s);
		} else if (ev == H1_MORE) {
			if (s->hrsp.head_done) {
				s->rsp_fwd = s->rsp_parsed;
				s->flags |= SF_COMMITTED;
			}
		} else {
			rsp_malformed(s);
		}
	}
	if (s->state == SESS_EXCHANGE && !(s->flags & SF_COMMITTED) && !s->rsp_fwd &&
	    !buf_room(&s->rsp))
		rsp_malformed(s); /* a response head larger than the buffer */
}

/*
 * A pooled connection died before answering (the backend closed it as we
 * sent): an idempotent request that took no body byte can go again as is.
 */
static bool can_retry(const struct session *s)
{
	return (s->flags & (SF_REUSED | SF_IDEMPOTENT)) == (SF_REUSED | SF_IDEMPOTENT) &&
	       !(s->flags & (SF_RSP_SEEN | SF_UP_WERR)) && !s->body_sent;
}

static bool idempotent(uint8_t method)
{
	return method == HTTP_GET || method == HTTP_HEAD || method == HTTP_OPTIONS ||
	       method == HTTP_TRACE || method == HTTP_PUT || method == HTTP_DELETE;
}

/* The upstream closed or reset; everything it sent is parsed. */
static void up_gone(struct session *s)
{
	struct proxy *px = s->px;
	int err;

	if (can_retry(s)) {
		/* The pooled connection was closed under us: the request can go again as is. */
		STAT_INC(px, upstream_retries);
		px_up_close(s->up);
		s->up = NULL;
		s->flags &= ~(SF_REUSED | SF_UP_EOF | SF_UP_WERR);
		s->hout_sent = 0;
		err = px_up_connect(s);
		if (err) {
			STAT_INC(px, upstream_connect_failed);
			px_pick_done(s, 0);
			local_reply(s, 503, BODY_CONNECT_FAILURE, false);
			return;
		}
		s->state = SESS_CONNECT;
		return;
	}
	if (!(s->flags & SF_COMMITTED)) {
		STAT_INC(px, upstream_reset);
		px_pick_done(s, 0);
		local_reply(s, 503, BODY_TERMINATION, false);
		return;
	}
	if (h1_rsp_finish(&s->hrsp) == H1_MESSAGE) {
		rsp_message(s); /* a response delimited by the close */
		return;
	}
	STAT_INC(px, upstream_reset);
	px_pick_done(s, 0); /* cut mid-response: a failure of that endpoint */
	px_up_close(s->up);
	s->up = NULL;
	s->flags |= SF_CLOSE;
}

/* The response went out completely: pool the upstream and wait for the next request, or close. */
static void exchange_end(struct session *s)
{
	struct proxy *px = s->px;
	uint32_t both_ka = SF_REQ_DONE | SF_REQ_KA | SF_RSP_KA;
	bool reuse, keep;

	px_pick_done(s, s->hrsp.ll.status_code);
	/* The upstream never saw the client's Connection header: its own answer decides. */
	reuse = (s->flags & (SF_REQ_DONE | SF_RSP_KA)) == (SF_REQ_DONE | SF_RSP_KA) &&
		!(s->flags & (SF_UP_EOF | SF_UP_WERR)) && s->rsp_parsed == s->rsp.len &&
		!px_up_pending(s);
	keep = (s->flags & both_ka) == both_ka && !(s->flags & (SF_CLOSE | SF_CLIENT_EOF)) &&
	       !((s->flags & SF_CLIENT_FIN) && buf_empty(&s->req)); /* pipelined ones still count */
	if (reuse)
		px_pool_put(px, s->up);
	else
		px_up_close(s->up);
	s->up = NULL;
	if (!keep) {
		px_sess_finish(s);
		return;
	}
	px_sess_next_request(s);
}

/* The client half-closed before its request was whole: it never will be. */
static bool req_cut_short(const struct session *s)
{
	return (s->flags & SF_CLIENT_FIN) && !(s->flags & SF_REQ_DONE) &&
	       s->req_parsed == s->req.len;
}

void px_do_exchange(struct session *s)
{
	if (req_pump(s)) {
		/* A body with broken framing: the upstream has part of it, it cannot be reused. */
		if (s->flags & SF_COMMITTED) {
			STAT_INC(s->px, bad_requests);
			px_sess_abort(s);
		} else {
			bad_request(s, 400);
		}
		return;
	}
	if (!(s->flags & SF_UP_WERR) && px_up_flush(s)) {
		if (can_retry(s)) {
			s->flags |= SF_UP_EOF; /* up_gone() sends the request again */
		} else {
			/* Keep reading: the upstream may have answered before it stopped reading.
			 */
			s->flags |= SF_UP_WERR | SF_DRAIN;
			s->hout_sent = s->hout.len;
			buf_consume(&s->req, s->req_fwd);
			s->req_parsed -= s->req_fwd;
			s->req_fwd = 0;
		}
	}
	if (req_cut_short(s) && !(s->flags & SF_DRAIN)) {
		px_sess_abort(s);
		return;
	}
	rsp_pump(s);
	if (s->state != SESS_EXCHANGE)
		return;
	if ((s->flags & SF_UP_EOF) && s->up && !(s->flags & SF_RSP_DONE)) {
		up_gone(s);
		if (s->state != SESS_EXCHANGE)
			return;
	}
	if (px_client_flush(s)) {
		px_sess_abort(s);
		return;
	}
	if (s->rsp_fwd)
		return;
	if (s->flags & SF_CLOSE)
		px_sess_finish(s);
	else if (s->flags & SF_RSP_DONE)
		exchange_end(s);
	else if (s->flags & SF_CLIENT_EOF)
		px_sess_abort(s);
}

void px_do_local(struct session *s)
{
	if (req_pump(s))
		s->flags |= SF_CLOSE;
	if (px_client_flush(s)) {
		px_sess_close(s);
		return;
	}
	if (s->rsp_fwd && !(s->flags & SF_CLIENT_EOF))
		return;
	if (s->flags & (SF_CLOSE | SF_CLIENT_EOF | SF_CLIENT_FIN))
		px_sess_finish(s);
	else if (s->flags & SF_REQ_DONE)
		px_sess_next_request(s);
}

void px_do_linger(struct session *s)
{
	buf_consume(&s->req, s->req.len);
	s->req_parsed = s->req_fwd = 0;
	if (s->flags & (SF_CLIENT_EOF | SF_CLIENT_FIN))
		px_sess_close(s);
}

void px_do_tunnel(struct session *s)
{
	s->req_parsed = s->req_fwd = s->req.len;
	s->rsp_parsed = s->rsp_fwd = s->rsp.len;
	if (px_up_flush(s) || px_client_flush(s) || (s->flags & (SF_CLIENT_EOF | SF_CLIENT_FIN)) ||
	    ((s->flags & SF_UP_EOF) && !s->rsp_fwd))
		px_sess_close(s);
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

/* Sends the routed request over a pooled connection to s->ep, or a new one. */
static void start_exchange(struct session *s)
{
	struct proxy *px = s->px;
	int err;

	h1_rsp_init(&s->hrsp);
	s->hrsp.no_body = s->flags & SF_HEAD_REQ;
	s->up = px_pool_take(px, &s->ep);
	if (s->up) {
		s->up->s = s;
		s->flags |= SF_REUSED;
		STAT_INC(px, upstream_reused);
		s->state = SESS_EXCHANGE;
		return;
	}
	err = px_up_connect(s);
	if (err) {
		char ep[32];

		STAT_INC(px, upstream_connect_failed);
		log_debug("proxy: connect to %s: %s", px_addr_str(&s->ep, ep, sizeof(ep)),
			  strerror(-err));
		px_pick_done(s, 0);
		local_reply(s, 503, BODY_CONNECT_FAILURE, false);
		return;
	}
	s->state = SESS_CONNECT;
}

/* Allocates hout and writes @req into it; makes sure rsp can take the response. */
static int write_head(struct session *s, const struct http_req *req)
{
	int err;

	err = buf_alloc(&s->hout, (uint32_t)h1_req_size(req));
	if (!err)
		err = buf_alloc(&s->rsp, PROXY_BUF_SIZE);
	if (!err)
		s->hout.len = (uint32_t)h1_req_write(req, s->flags & SF_UPGRADE, s->hout.data);
	return err;
}

/* A request head is parsed (req_parsed bytes of req): route it and write it for the upstream. */
static void on_request_head(struct session *s)
{
	struct proxy *px = s->px;
	struct http_hdr hdrs[H1_MAX_HDRS];
	struct http_req req;
	int err;

	STAT_INC(px, requests);
	loop_timer_cancel(px->loop, &s->timer);
	h1_req_view(&s->hreq, buf_head(&s->req), hdrs, &req);
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

	memset(&s->pick, 0, sizeof(s->pick));
	if (s->hreq.ll.method == HTTP_CONNECT) {
		s->pick.status = 405;
		s->pick.body = "CONNECT is not supported\n";
	} else if (s->flags & SF_NO_ROUTE) {
		s->pick.status = 404; /* the connection was not captured: nowhere to go */
		s->pick.flags = "NR";
	} else {
		err = px->ops.pick(px->ops.ctx, &s->peer, &s->orig, &req, &s->pick);
		if (err) {
			log_warn("proxy: routing failed: %s", strerror(-err));
			memset(&s->pick, 0, sizeof(s->pick));
			s->pick.status = 503;
			s->pick.body = "routing failed\n";
		} else if (!s->pick.status) {
			s->ep = s->pick.ep;
			s->flags |= SF_PICKED;
		}
	}
	if (!s->pick.status && write_head(s, &req)) {
		px_sess_close(s);
		return;
	}
	/* The head is in hout now (or answered locally): req holds the body and what follows. */
	buf_consume(&s->req, s->req_parsed);
	s->req_parsed = s->req_fwd = 0;

	if (!s->pick.status) {
		start_exchange(s);
		return;
	}
	if (s->pick.status == 404)
		STAT_INC(px, no_route);
	else if (s->pick.status == 503)
		STAT_INC(px, no_healthy_upstream);
	local_reply_ex(s, s->pick.status, s->pick.body ? s->pick.body : "", s->pick.headers,
		       s->pick.status == 405);
}

void px_do_head(struct session *s)
{
	enum h1_ev ev;
	size_t used;

	while (s->req_parsed < s->req.len) {
		ev = h1_req_execute(&s->hreq, buf_head(&s->req), buf_head(&s->req) + s->req_parsed,
				    s->req.len - s->req_parsed, &used);
		s->req_parsed += (uint32_t)used;
		if (ev == H1_HEADERS) {
			on_request_head(s);
			return;
		}
		if (ev == H1_UPGRADE && !used) {
			/* The previous request asked for a switch that did not happen. */
			h1_req_resume_http(&s->hreq);
			continue;
		}
		if (ev != H1_MORE) {
			bad_request(s, s->hreq.too_many ? 431 : 400);
			return;
		}
	}
	if (s->flags & (SF_CLIENT_EOF | SF_CLIENT_FIN))
		px_sess_close(s);
	else if (s->req.data && !buf_room(&s->req))
		bad_request(s, 431); /* the head does not fit in the buffer */
}

void px_connect_failed(struct session *s, bool timed_out)
{
	STAT_INC(s->px, upstream_connect_failed);
	if (timed_out)
		STAT_INC(s->px, upstream_connect_timeouts);
	px_pick_done(s, 0);
	local_reply(s, 503, timed_out ? BODY_CONNECT_TIMEOUT : BODY_CONNECT_FAILURE, false);
}
