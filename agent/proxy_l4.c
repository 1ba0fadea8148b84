// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Raw connections (SF_L4): a TLS port routed by the ClientHello's SNI, read
 * without terminating TLS (sni.c), or a TCP port routed at once. Once routed
 * and connected, the bytes read so far go upstream first and then the
 * connection is a byte pipe both ways, through the same buffers and flush
 * functions as HTTP, with each side's FIN passed on to the other (half-close)
 * until both have closed.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "log.h"
#include "proxy_int.h"
#include "sni.h"

#define PEEK_MS 10000 /* a TLS client must send its ClientHello in this long (else: no SNI) */

static void l4_route(struct session *s, const char *sni);

static void on_peek_timeout(struct loop *loop, struct loop_timer *t, void *arg)
{
	struct session *s = arg;

	if (s->state != SESS_PEEK)
		return;
	/* As Istio's listeners continue on a listener-filter timeout: routed without SNI. */
	STAT_INC(s->px, sni_none);
	log_debug("proxy: fd %d: no ClientHello within %d ms", s->fd, PEEK_MS);
	l4_route(s, NULL);
	px_sess_kick(s);
}

void px_l4_begin(struct session *s)
{
	struct proxy *px = s->px;
	enum proxy_conn_mode mode;

	if (!px->ops.conn_mode || !px->ops.pick_l4)
		return;
	mode = px->ops.conn_mode(px->ops.ctx, &s->peer, &s->orig, s->flags & SF_GATEWAY);
	if (mode == PROXY_CONN_HTTP)
		return;
	s->flags |= SF_L4;
	if (s->flags & SF_OVERLOAD) {
		STAT_INC(px, l4_refused); /* a raw connection has no 503 to get */
		px_sess_close(s);
		return;
	}
	if (mode == PROXY_CONN_TCP) {
		loop_timer_cancel(px->loop, &s->timer);
		l4_route(s, NULL); /* server-first protocols send nothing: connect now */
		return;
	}
	s->state = SESS_PEEK;
	s->peek_need = 1;
	if (loop_timer_arm(px->loop, &s->timer, PEEK_MS, on_peek_timeout, s))
		px_sess_close(s);
}

/* Routes the connection and starts the upstream connect, or closes it. */
static void l4_route(struct session *s, const char *sni)
{
	struct proxy *px = s->px;
	char ep[32];
	int err;

	loop_timer_cancel(px->loop, &s->timer);
	memset(&s->pick, 0, sizeof(s->pick));
	px_rq_begin(s); /* the connection's record, for the metrics and the access log */
	if (sni)
		px_rq_set_str(s, PROXY_RQ_SNI, sni, strlen(sni));
	err = px->ops.pick_l4(px->ops.ctx, &s->peer, &s->orig, s->flags & SF_GATEWAY, sni,
			      &s->pick);
	if (!err)
		px_rq_routed(s);
	if (err || s->pick.status) {
		STAT_INC(px, l4_refused);
		log_debug("proxy: fd %d: raw connection to %s (SNI %s) not routed: %s", s->fd,
			  px_addr_str(&s->orig, ep, sizeof(ep)), sni ? sni : "none",
			  err		  ? strerror(-err)
			  : s->pick.flags ? s->pick.flags
					  : "refused");
		memset(&s->pick, 0, sizeof(s->pick));
		px_sess_close(s);
		return;
	}
	s->ep = s->pick.ep;
	s->flags |= SF_PICKED;
	s->state = SESS_CONNECT;
	err = px_up_connect(s);
	if (err) {
		log_debug("proxy: connect to %s: %s", px_addr_str(&s->ep, ep, sizeof(ep)),
			  strerror(-err));
		px_l4_connect_failed(s, false);
	}
}

void px_do_peek(struct session *s)
{
	char name[SNI_NAME_MAX + 1];
	enum sni_result r = SNI_MORE;
	size_t need = 0;

	if (s->req.len >= s->peek_need) {
		r = sni_parse((const uint8_t *)buf_head(&s->req), s->req.len, name, &need);
		s->peek_need = (uint32_t)need;
	}
	if (r == SNI_MORE && !(s->flags & (SF_CLIENT_EOF | SF_CLIENT_FIN)))
		return;
	if (r == SNI_MORE || r == SNI_TOO_BIG) {
		/* gone halfway through its ClientHello, or one over the buffer: nothing to route */
		STAT_INC(s->px, l4_refused);
		log_debug("proxy: fd %d: ClientHello %s after %u bytes", s->fd,
			  r == SNI_MORE ? "cut short" : "too big", s->req.len);
		px_sess_close(s);
		return;
	}
	if (r == SNI_FOUND) {
		STAT_INC(s->px, sni_read);
	} else {
		STAT_INC(s->px, sni_none);
		log_debug("proxy: fd %d: no server name (%s)", s->fd, sni_result_str(r));
	}
	l4_route(s, r == SNI_FOUND ? name : NULL);
}

void px_l4_connected(struct session *s)
{
	if (buf_alloc(&s->rsp, PROXY_BUF_SIZE)) {
		px_sess_close(s);
		return;
	}
	STAT_INC(s->px, l4_forwarded);
	px_rq_l4_opened(s);
	s->state = SESS_TUNNEL;
}

void px_l4_connect_failed(struct session *s, bool timed_out)
{
	char ep[32];

	STAT_INC(s->px, upstream_connect_failed);
	if (timed_out)
		STAT_INC(s->px, upstream_connect_timeouts);
	STAT_INC(s->px, l4_refused);
	px_rq_fail(s, PROXY_RF_UF, NULL);
	log_debug("proxy: fd %d: raw connection to %s failed%s", s->fd,
		  px_addr_str(&s->ep, ep, sizeof(ep)), timed_out ? " (timeout)" : "");
	px_pick_done(s, 0);
	px_sess_close(s); /* the client sees the connection close, as Envoy's tcp_proxy does */
}

void px_do_l4(struct session *s)
{
	s->rq.in += s->req.len - s->req_parsed; /* bytes from the client, counted once */
	s->req_parsed = s->req_fwd = s->req.len;
	s->rsp_parsed = s->rsp_fwd = s->rsp.len;
	if (px_up_flush(s) || px_client_flush(s) || (s->flags & SF_CLIENT_EOF)) {
		px_sess_close(s);
		return;
	}
	/* A FIN goes on once every byte before it is through. */
	if ((s->flags & SF_CLIENT_FIN) && !px_up_pending(s) && !(s->flags & SF_L4_UP_SHUT)) {
		(void)shutdown(s->up->fd, SHUT_WR);
		s->flags |= SF_L4_UP_SHUT;
	}
	if ((s->flags & SF_UP_EOF) && !s->rsp_fwd && !(s->flags & SF_L4_CL_SHUT)) {
		if (s->ssl)
			px_tls_shutdown(s); /* a 101 on a TLS Gateway port */
		(void)shutdown(s->fd, SHUT_WR);
		s->flags |= SF_L4_CL_SHUT;
	}
	if ((s->flags & (SF_L4_UP_SHUT | SF_L4_CL_SHUT)) == (SF_L4_UP_SHUT | SF_L4_CL_SHUT))
		px_sess_close(s);
}
