// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * libFuzzer: the proxy's session state machine as a whole, over real
 * loopback sockets: one client connection and whatever upstream connections
 * the proxy opens, driven by a script the input is. The proxy runs on its own
 * event loop in this thread; a 0 ms timer is the driver, taking one step of
 * the script per loop iteration and letting the proxy settle between steps.
 *
 * The input: byte 0 picks the route the fake pick() returns (plain, a
 * rewrite with header edits both ways, retries on reset and 5xx, one request
 * per upstream connection); then steps, each an opcode byte and its operands:
 *   client writes N bytes, the upstream writes N bytes (to the newest
 *   upstream connection), the client or the upstream half-closes, the
 *   upstream closes, the client closes (with a FIN or a RST; the rest of the
 *   script is then upstream only). Every step, both sides' received bytes are read and dropped.
 * At the end both sides close (RST). Beyond "no crash, no leak, no UB": within 2 s
 * (real time: retry backoffs run on real timers) the proxy must have freed
 * the session and every upstream connection. A session that outlives both of
 * its peers is a bug this finds.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"
#include "proxy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define UPS_MAX	   8	/* upstream connections a script may see */
#define SETTLE	   3	/* loop iterations between two steps */
#define FINISH_MS  2000 /* after both sides closed, the proxy has this long to free everything */
#define SCRIPT_MAX 4096 /* bytes of script run; the rest is ignored */

struct drive {
	const uint8_t *p;
	size_t n, off;
	uint8_t route;
	int cli;	  /* -1: closed */
	int ups[UPS_MAX]; /* accepted upstream connections, -1: closed */
	int n_ups;
	int settle;
	bool finishing;
	uint64_t finish_at;
	struct loop_timer timer;
};

static struct loop *loop;
static struct proxy *px;
static int lfd = -1, upl = -1;
static struct sockaddr_in proxy_addr, up_addr;
static struct drive d;

static int fake_orig_dst(void *ctx, int fd, const struct sockaddr_in *peer,
			 const struct sockaddr_in *local, struct sockaddr_in *orig)
{
	(void)ctx, (void)fd, (void)peer, (void)local;
	orig->sin_family = AF_INET;
	orig->sin_addr.s_addr = htonl(0x0a60000a); /* 10.96.0.10 */
	orig->sin_port = htons(80);
	return 0;
}

static int fake_pick(void *ctx, const struct sockaddr_in *peer, const struct sockaddr_in *orig,
		     const struct http_req *req, struct proxy_pick *out)
{
	(void)ctx, (void)peer, (void)orig, (void)req;
	out->ep = up_addr;
	switch (d.route % 4) {
	case 1:
		out->target = "/rewritten?x=1";
		out->req_drop = "x-drop\nhost\n";
		out->req_add = "host: new.example\r\nx-added: 1\r\n";
		out->rsp_drop = "server\n";
		out->rsp_add = "x-rsp: yes\r\n";
		break;
	case 2:
		out->retries = 2;
		out->retry_on = PROXY_RETRY_RESET | PROXY_RETRY_5XX;
		break;
	case 3:
		out->max_requests_per_conn = 1;
		break;
	}
	return 0;
}

static int fake_repick(void *ctx, struct proxy_pick *pick)
{
	(void)ctx;
	pick->ep = up_addr;
	return 0;
}

static void drain(int fd)
{
	char buf[4096];

	while (fd >= 0 && recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		;
}

/* Closes *@fd: with a FIN, or (@reset) with a RST, which leaves no TIME_WAIT behind: the
 * end of every input resets, or a long run would use up the ephemeral ports. */
static void close_fd(int *fd, bool reset)
{
	struct linger lg = {.l_onoff = 1, .l_linger = 0};

	if (*fd >= 0) {
		if (reset)
			(void)setsockopt(*fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		close(*fd);
	}
	*fd = -1;
}

static int newest_up(void)
{
	for (int i = d.n_ups - 1; i >= 0; i--)
		if (d.ups[i] >= 0)
			return i;
	return -1;
}

/* The operand: a byte of the script, 0 past its end. */
static uint8_t operand(void)
{
	return d.off < d.n ? d.p[d.off++] : 0;
}

static void send_some(int fd)
{
	size_t len = (size_t)operand() % 96 + 1;

	if (len > d.n - d.off)
		len = d.n - d.off;
	if (fd >= 0 && len)
		(void)!send(fd, d.p + d.off, len, MSG_DONTWAIT | MSG_NOSIGNAL);
	d.off += len;
}

static void step(void)
{
	uint8_t op = operand();
	int u = newest_up();

	switch (op % 8) {
	case 0:
	case 1:
	case 2:
		send_some(d.cli);
		break;
	case 3:
	case 4:
		send_some(u >= 0 ? d.ups[u] : -1);
		break;
	case 5:
		if (d.cli >= 0)
			(void)shutdown(d.cli, SHUT_WR);
		break;
	case 6:
		if (u >= 0 && (op & 0x80))
			close_fd(&d.ups[u], op & 0x40);
		else if (u >= 0)
			(void)shutdown(d.ups[u], SHUT_WR);
		break;
	case 7:
		if (op & 0x80)
			close_fd(&d.cli, op & 0x40);
		break;
	}
}

static bool all_freed(void)
{
	struct proxy_stats st;

	proxy_get_stats(px, &st);
	return !st.active && !st.upstream_active;
}

static void on_drive(struct loop *l, struct loop_timer *t, void *arg)
{
	int fd;

	(void)arg;
	while (!d.finishing && d.n_ups < UPS_MAX &&
	       (fd = accept4(upl, NULL, NULL, SOCK_NONBLOCK)) >= 0)
		d.ups[d.n_ups++] = fd;
	if (d.finishing) {
		/* Connections the proxy opens now are closed as they come. */
		while ((fd = accept4(upl, NULL, NULL, SOCK_NONBLOCK)) >= 0)
			close_fd(&fd, true);
		if (all_freed()) {
			loop_stop(l);
			return;
		}
		if (loop_now_ms(l) > d.finish_at) {
			struct proxy_stats st;

			proxy_get_stats(px, &st);
			fprintf(stderr,
				"session_fuzz: %" PRIu64 " sessions and %" PRIu64
				" upstream connections (%" PRIu64
				" idle) outlived both peers by %d ms\n",
				st.active, st.upstream_active, st.upstream_idle, FINISH_MS);
			for (size_t i = 0; proxy_stat_name(i); i++)
				if (proxy_stat_value(&st, i))
					fprintf(stderr, "  %s %" PRIu64 "\n", proxy_stat_name(i),
						proxy_stat_value(&st, i));
			abort();
		}
		(void)loop_timer_arm(l, t, 1, on_drive, NULL);
		return;
	}
	drain(d.cli);
	for (int i = 0; i < d.n_ups; i++)
		drain(d.ups[i]);
	if (d.settle-- > 0) {
		(void)loop_timer_arm(l, t, 0, on_drive, NULL);
		return;
	}
	d.settle = SETTLE;
	if (d.off < d.n) {
		step();
	} else {
		close_fd(&d.cli, true);
		for (int i = 0; i < d.n_ups; i++)
			close_fd(&d.ups[i], true);
		d.finishing = true;
		d.finish_at = loop_now_ms(l) + FINISH_MS;
	}
	(void)loop_timer_arm(l, t, 0, on_drive, NULL);
}

static int listen_loopback(struct sockaddr_in *out)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 64) ||
	    getsockname(fd, (struct sockaddr *)&a, &len))
		abort();
	*out = a;
	return fd;
}

static void setup(void)
{
	struct proxy_ops ops = {
		.orig_dst = fake_orig_dst,
		.pick = fake_pick,
		.repick = fake_repick,
		.connect_timeout_ms = 200,
		.pool_max_idle = 4,
	};

	log_level_cur = getenv("SESSION_FUZZ_DEBUG") ? LOG_DEBUG : (enum log_level) - 1;
	loop = loop_new();
	if (!loop)
		abort();
	lfd = listen_loopback(&proxy_addr);
	upl = listen_loopback(&up_addr);
	px = proxy_new(loop, lfd, &ops);
	if (!px)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!loop)
		setup();
	if (size < 1)
		return 0;
	memset(&d, 0, sizeof(d));
	d.route = data[0];
	d.p = data + 1;
	d.n = size - 1 > SCRIPT_MAX ? SCRIPT_MAX : size - 1;
	for (int i = 0; i < UPS_MAX; i++)
		d.ups[i] = -1;
	d.cli = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (d.cli < 0)
		abort();
	if (connect(d.cli, (struct sockaddr *)&proxy_addr, sizeof(proxy_addr))) {
		if (errno == EINTR) { /* libFuzzer's alarm, at -max_total_time */
			close_fd(&d.cli, true);
			return 0;
		}
		perror("session_fuzz: the client's connect");
		abort();
	}
	(void)fcntl(d.cli, F_SETFL, O_NONBLOCK);
	d.settle = SETTLE;
	if (loop_timer_arm(loop, &d.timer, 0, on_drive, NULL) || loop_run(loop))
		abort();
	return 0;
}
