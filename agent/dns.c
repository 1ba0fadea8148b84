// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * DNS for mesh pods (dns.h). The answer side is a pure function of the
 * config and the query; the server side is one UDP socket for the pods and
 * one for the upstream resolver, both in the main loop: queries are small and
 * answered from memory, and forwarding waits on nothing but the socket.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"
#include "dns.h"
#include "dns_msg.h"
#include "istio.h"
#include "log.h"
#include "loop.h"
#include "snapshot.h"

#define ANSWERS_MAX 32 /* addresses in one answer (a headless service's endpoints) */

struct addrs {
	uint8_t v[ANSWERS_MAX][16];
	size_t n;
	size_t len; /* 4 or 16 */
};

static void add_addr(struct addrs *a, const void *ip)
{
	if (a->n < ANSWERS_MAX)
		memcpy(a->v[a->n++], ip, a->len);
}

/* A service's addresses of the asked family: its VIP, or its ready endpoints (headless). */
static void service_addrs(const struct service *s, uint16_t type, struct addrs *a)
{
	if (type == DNS_T_A && s->cluster_ip.s_addr) {
		add_addr(a, &s->cluster_ip);
		return;
	}
	if (type == DNS_T_AAAA && s->has_ip6) {
		add_addr(a, &s->cluster_ip6);
		return;
	}
	if (s->cluster_ip.s_addr || s->has_ip6 || s->se)
		return;
	for (size_t j = 0; j < s->n_ports && !a->n; j++)
		for (size_t e = 0; e < s->ports[j].n_ready; e++) {
			const struct endpoint *ep = &s->ports[j].eps[e];

			if (type == DNS_T_A && ep->ip.s_addr)
				add_addr(a, &ep->ip);
			else if (type == DNS_T_AAAA && ep->has_ip6)
				add_addr(a, &ep->ip6);
		}
}

/* "NAME.NS.svc.cluster.local", "NAME.NS.svc" or "NAME.NS": the service, or NULL. */
static const struct service *k8s_name(const struct config *cfg, const char *name, bool *under)
{
	static const char suffix[] = ".svc.cluster.local";
	char buf[DNS_NAME_MAX + 1], *dot;
	size_t len = strlen(name), sl = strlen(suffix);

	*under = len >= 14 && !strcmp(name + len - 14, ".cluster.local");
	snprintf(buf, sizeof(buf), "%s", name);
	if (len > sl && !strcmp(buf + len - sl, suffix))
		buf[len - sl] = '\0';
	else if (len > 4 && !strcmp(buf + len - 4, ".svc"))
		buf[len - 4] = '\0';
	dot = strchr(buf, '.');
	if (!dot || strchr(dot + 1, '.'))
		return NULL;
	*dot = '\0';
	return config_find_service(cfg, dot + 1, buf);
}

/* A ServiceEntry host with a VIP for @name (exact first, then the longest wildcard). */
static const struct service *se_name(const struct config *cfg, const char *name)
{
	const struct service *best = NULL;
	size_t best_len = 0, nl = strlen(name);

	for (size_t i = 0; i < cfg->n_services; i++) {
		const struct service *s = &cfg->services[i];
		size_t hl;

		if (!s->se || !s->fqdn || (!s->cluster_ip.s_addr && !s->has_ip6))
			continue;
		if (!strcasecmp(s->fqdn, name))
			return s;
		hl = strlen(s->fqdn);
		if (s->fqdn[0] == '*' && nl >= hl &&
		    !strcasecmp(name + nl - (hl - 1), s->fqdn + 1) && hl > best_len) {
			best = s;
			best_len = hl;
		}
	}
	return best;
}

/* The answer to @q (its question ending at @qend) with @rcode and @a's addresses. */
static size_t build(const uint8_t *q, size_t qend, int rcode, uint16_t type, bool aa,
		    const struct addrs *a, uint8_t *out, size_t cap)
{
	size_t p;

	if (qend > cap)
		qend = 12; /* the question does not fit: the header alone */
	memcpy(out, q, qend < 12 ? 12 : qend);
	out[2] = (uint8_t)(0x80 | (q[2] & 0x79) | (aa ? 0x04 : 0)); /* QR, opcode, AA, RD */
	out[3] = (uint8_t)(0x80 | (rcode & 0x0f));		    /* RA */
	dns_put16(out + 4, qend > 12 ? 1 : 0);
	dns_put16(out + 6, 0);
	dns_put16(out + 8, 0);
	dns_put16(out + 10, 0);
	p = qend;
	for (size_t i = 0; a && i < a->n && p + 12 + a->len <= cap; i++) {
		p += dns_put16(out + p, 0xc00c); /* the name of the question */
		p += dns_put16(out + p, type);
		p += dns_put16(out + p, DNS_C_IN);
		p += dns_put16(out + p, DNS_TTL >> 16);
		p += dns_put16(out + p, DNS_TTL & 0xffff);
		p += dns_put16(out + p, (uint16_t)a->len);
		memcpy(out + p, a->v[i], a->len);
		p += a->len;
		dns_put16(out + 6, (uint16_t)(i + 1));
	}
	return p;
}

enum dns_verdict dns_answer(const struct config *cfg, const uint8_t *q, size_t qlen, uint8_t *out,
			    size_t cap, size_t *out_len)
{
	char name[DNS_NAME_MAX + 1];
	uint16_t type, class, qd;
	struct addrs a = {0};
	const struct service *s;
	size_t qend;
	bool under;

	if (qlen < 12 || cap < 12)
		return DNS_FORWARD; /* not even a header: the caller drops it */
	qd = (uint16_t)(q[4] << 8 | q[5]);
	if ((q[2] & 0x80) || qd != 1 || !dns_msg_question(q, qlen, name, &type, &class, &qend)) {
		*out_len = build(q, 12, DNS_RC_FORMERR, 0, false, NULL, out, cap);
		return DNS_ANSWER;
	}
	if ((q[2] >> 3 & 0x0f) != 0) { /* not a standard query */
		*out_len = build(q, qend, DNS_RC_NOTIMP, 0, false, NULL, out, cap);
		return DNS_ANSWER;
	}
	if (class != DNS_C_IN)
		return DNS_FORWARD;
	a.len = type == DNS_T_AAAA ? 16 : 4;
	s = k8s_name(cfg, name, &under);
	if (!s)
		s = se_name(cfg, name);
	if (!s) {
		if (!under)
			return DNS_FORWARD;
		*out_len = build(q, qend, DNS_RC_NXDOMAIN, 0, true, NULL, out, cap);
		return DNS_ANSWER;
	}
	if (type == DNS_T_A || type == DNS_T_AAAA)
		service_addrs(s, type, &a);
	*out_len = build(q, qend, 0, type, true, &a, out, cap);
	return DNS_ANSWER;
}

/* ---- the server ---- */

#define PENDING_MAX 1024 /* a power of two, at most 1024: the slot is in the id's low bits */
#define FORWARD_MS  2000 /* an upstream answer later than this gets SERVFAIL instead */

struct pending {
	bool used;
	uint16_t up_id; /* the id sent upstream: its low bits are the slot */
	uint16_t client_id;
	struct sockaddr_in client;
	uint64_t deadline;
	uint8_t q[DNS_MSG_MAX]; /* kept to answer SERVFAIL with the question */
	size_t qlen;
};

struct dns_server {
	struct loop *loop;
	int fd, up_fd;
	struct sockaddr_in upstream;
	struct snapshot_store *store;
	struct pending *pending; /* slot: the low bits of the id sent upstream */
	uint16_t next_slot, gen;
	struct loop_timer sweep;
	uint64_t answered, forwarded, failed;
};

static void reply(struct dns_server *d, const struct sockaddr_in *to, const uint8_t *msg,
		  size_t len)
{
	if (sendto(d->fd, msg, len, MSG_DONTWAIT, (const struct sockaddr *)to, sizeof(*to)) < 0)
		d->failed++;
}

static void servfail(struct dns_server *d, const struct pending *p)
{
	uint8_t out[DNS_MSG_MAX];
	char name[DNS_NAME_MAX + 1];
	uint16_t type, class;
	size_t qend = 12, len;

	if (!dns_msg_question(p->q, p->qlen, name, &type, &class, &qend))
		qend = 12;
	len = build(p->q, qend, DNS_RC_SERVFAIL, 0, false, NULL, out, sizeof(out));
	reply(d, &p->client, out, len);
	d->failed++;
}

static void forward(struct dns_server *d, const struct sockaddr_in *from, uint8_t *q, size_t len)
{
	struct pending *p = NULL;

	for (int i = 0; i < PENDING_MAX && !p; i++) {
		struct pending *c = &d->pending[d->next_slot++ % PENDING_MAX];

		if (!c->used)
			p = c;
	}
	if (!p || len > sizeof(p->q)) {
		struct pending tmp = {.client = *from, .qlen = len < sizeof(tmp.q) ? len : 12};

		memcpy(tmp.q, q, tmp.qlen);
		servfail(d, &tmp);
		return;
	}
	*p = (struct pending){.used = true,
			      .up_id = (uint16_t)((++d->gen & 0x3f) << 10 | (p - d->pending)),
			      .client_id = (uint16_t)(q[0] << 8 | q[1]),
			      .client = *from,
			      .deadline = loop_now_ms(d->loop) + FORWARD_MS,
			      .qlen = len};
	memcpy(p->q, q, len);
	q[0] = (uint8_t)(p->up_id >> 8);
	q[1] = (uint8_t)p->up_id;
	if (!d->upstream.sin_port ||
	    sendto(d->up_fd, q, len, MSG_DONTWAIT, (const struct sockaddr *)&d->upstream,
		   sizeof(d->upstream)) < 0) {
		servfail(d, p);
		p->used = false;
		return;
	}
	d->forwarded++;
}

static void on_query(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct dns_server *d = arg;
	uint8_t q[DNS_MSG_MAX], out[DNS_MSG_MAX];

	for (int i = 0; i < 64; i++) {
		struct sockaddr_in from;
		socklen_t flen = sizeof(from);
		struct snapshot *snap;
		enum dns_verdict v;
		size_t olen = 0;
		ssize_t n;

		n = recvfrom(fd, q, sizeof(q), MSG_DONTWAIT, (struct sockaddr *)&from, &flen);
		if (n < 0)
			return;
		snap = snapshot_acquire(d->store);
		v = snap ? dns_answer(snap->cfg, q, (size_t)n, out, sizeof(out), &olen)
			 : DNS_FORWARD;
		snapshot_release(snap);
		if (v == DNS_ANSWER) {
			reply(d, &from, out, olen);
			d->answered++;
		} else if (n >= 12) {
			forward(d, &from, q, (size_t)n);
		}
	}
}

static void on_upstream(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct dns_server *d = arg;
	uint8_t a[DNS_MSG_MAX];

	for (int i = 0; i < 64; i++) {
		struct sockaddr_in from;
		socklen_t flen = sizeof(from);
		struct pending *p;
		ssize_t n;

		n = recvfrom(fd, a, sizeof(a), MSG_DONTWAIT, (struct sockaddr *)&from, &flen);
		if (n < 0)
			return;
		if (n < 12 || from.sin_addr.s_addr != d->upstream.sin_addr.s_addr ||
		    from.sin_port != d->upstream.sin_port)
			continue; /* not our resolver's: dropped */
		p = &d->pending[(a[0] << 8 | a[1]) % PENDING_MAX];
		if (!p->used || p->up_id != (uint16_t)(a[0] << 8 | a[1]))
			continue; /* late (answered SERVFAIL already) or forged */
		a[0] = (uint8_t)(p->client_id >> 8);
		a[1] = (uint8_t)p->client_id;
		reply(d, &p->client, a, (size_t)n);
		p->used = false;
	}
}

static void on_sweep(struct loop *loop, struct loop_timer *t, void *arg)
{
	struct dns_server *d = arg;
	uint64_t now = loop_now_ms(loop);

	for (size_t i = 0; i < PENDING_MAX; i++)
		if (d->pending[i].used && d->pending[i].deadline <= now) {
			servfail(d, &d->pending[i]);
			d->pending[i].used = false;
		}
	(void)loop_timer_arm(loop, t, FORWARD_MS / 4, on_sweep, d);
}

int dns_server_new(struct loop *loop, const struct sockaddr_in *listen,
		   const struct sockaddr_in *upstream, uint32_t mark, struct snapshot_store *store,
		   struct dns_server **out)
{
	struct dns_server *d = calloc(1, sizeof(*d));
	int err;

	if (!d)
		return -ENOMEM;
	d->loop = loop;
	d->store = store;
	d->upstream = *upstream;
	d->fd = d->up_fd = -1;
	d->pending = calloc(PENDING_MAX, sizeof(*d->pending));
	if (!d->pending)
		goto oom;
	d->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	d->up_fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (d->fd < 0 || d->up_fd < 0 ||
	    bind(d->fd, (const struct sockaddr *)listen, sizeof(*listen)) ||
	    /* the agent's own queries are never captured, even inside the mesh cgroup */
	    (mark && setsockopt(d->up_fd, SOL_SOCKET, SO_MARK, &mark, sizeof(mark))))
		goto sys;
	err = loop_add(loop, d->fd, EPOLLIN, on_query, d);
	if (!err)
		err = loop_add(loop, d->up_fd, EPOLLIN, on_upstream, d);
	if (!err)
		err = loop_timer_arm(loop, &d->sweep, FORWARD_MS / 4, on_sweep, d);
	if (err) {
		dns_server_free(d);
		return err;
	}
	*out = d;
	return 0;
sys:
	err = -errno;
	dns_server_free(d);
	return err;
oom:
	free(d);
	return -ENOMEM;
}

void dns_server_free(struct dns_server *d)
{
	if (!d)
		return;
	loop_timer_cancel(d->loop, &d->sweep);
	if (d->fd >= 0) {
		loop_del(d->loop, d->fd);
		close(d->fd);
	}
	if (d->up_fd >= 0) {
		loop_del(d->loop, d->up_fd);
		close(d->up_fd);
	}
	free(d->pending);
	free(d);
}

void dns_server_stats(const struct dns_server *d, uint64_t *answered, uint64_t *forwarded,
		      uint64_t *failed)
{
	*answered = d->answered;
	*forwarded = d->forwarded;
	*failed = d->failed;
}
