// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Request mirroring, the sending side (px_mirror_send()), against real
 * sockets on 127.0.0.1: each test runs a fresh proxy on its own event loop
 * thread and asks that thread to send copies (px_mirror_send() belongs to
 * the loop's thread). The mirror targets are one-shot fake servers, each
 * scripted by its test: read the copy, answer (or not), then report whether
 * and when the proxy closed the connection. Every socket has a receive
 * timeout and every wait is bounded: no test can hang.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <semaphore.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <cmocka.h>

#include "loop.h"
#include "proxy.h"
#include "proxy_int.h"

#define IO_TIMEOUT_S  5
#define BIG	      (1024 * 1024)
#define SRV_CONNS_MAX 8
#define INTERIM_MS    200 /* a fake server's pause between the two parts of its answer */

static const struct timeval io_timeout = {.tv_sec = IO_TIMEOUT_S};

/* Also called from server threads: no cmocka assertion there, they would jump across threads. */
static void set_timeouts(int fd)
{
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &io_timeout, sizeof(io_timeout)) ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &io_timeout, sizeof(io_timeout)))
		abort();
}

static struct sockaddr_in loopback(uint16_t port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return a;
}

static int listen_on_loopback(int backlog, bool nonblock, struct sockaddr_in *out)
{
	struct sockaddr_in a = loopback(0);
	socklen_t len = sizeof(a);
	int fd;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(fd, backlog), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	*out = a;
	return fd;
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};

	nanosleep(&ts, NULL);
}

static int sem_wait_bounded(sem_t *sem)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += IO_TIMEOUT_S;
	return sem_timedwait(sem, &ts);
}

/*
 * A fake mirror target. Its thread accepts n_conns connections, reading the
 * copy (expect bytes) from each, then, connection by connection: sends
 * answer, then answer2 INTERIM_MS later, then closes (close_after) or reads
 * until the proxy closes.
 */
struct srv_result {
	struct sockaddr_in peer;
	size_t got;		 /* bytes received on the connection, until its end */
	bool open_after_interim; /* still open INTERIM_MS after answer (when there is answer2) */
	bool eof;		 /* the proxy closed it (FIN or reset) before our timeout */
	long eof_ms;		 /* from the end of our answer (or of the copy if none) to that */
};

struct fake_srv {
	int lfd;
	struct sockaddr_in addr;
	pthread_t thread;
	int n_conns;
	size_t expect;	     /* bytes of the copy, read before answering */
	const char *answer;  /* NULL: never answer */
	const char *answer2; /* NULL: none */
	bool close_after;    /* close right after answering */
	bool keep; /* keep what the first connection received in got (the test frees it) */
	char *got;
	size_t got_len;
	size_t got_cap;
	sem_t requests; /* posted once per connection whose copy arrived */
	int accepted;
	struct srv_result res[SRV_CONNS_MAX];
};

static void srv_keep(struct fake_srv *srv, const char *p, size_t n)
{
	if (srv->got_len + n > srv->got_cap) {
		srv->got_cap = (srv->got_len + n) * 2;
		srv->got = realloc(srv->got, srv->got_cap);
		if (!srv->got)
			abort();
	}
	memcpy(srv->got + srv->got_len, p, n);
	srv->got_len += n;
}

/* Reads into the result of connection @i until @until bytes (0: until the end). */
static bool srv_read(struct fake_srv *srv, int i, int fd, size_t until)
{
	char buf[65536];

	while (!until || srv->res[i].got < until) {
		size_t want = until ? until - srv->res[i].got : sizeof(buf);
		ssize_t n = recv(fd, buf, want < sizeof(buf) ? want : sizeof(buf), 0);

		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return true; /* closed by the proxy */
		if (n < 0)
			return false; /* our timeout */
		if (i == 0 && srv->keep)
			srv_keep(srv, buf, (size_t)n);
		srv->res[i].got += (size_t)n;
	}
	return false;
}

static void srv_answer(struct fake_srv *srv, int i, int fd)
{
	struct srv_result *r = &srv->res[i];
	char c;

	if (srv->answer && send(fd, srv->answer, strlen(srv->answer), MSG_NOSIGNAL) < 0)
		return;
	if (srv->answer2) {
		sleep_ms(INTERIM_MS);
		r->open_after_interim = recv(fd, &c, 1, MSG_DONTWAIT) < 0 && errno == EAGAIN;
		if (send(fd, srv->answer2, strlen(srv->answer2), MSG_NOSIGNAL) < 0)
			return;
	}
	if (srv->close_after)
		return;
	r->eof_ms = now_ms();
	r->eof = srv_read(srv, i, fd, 0);
	r->eof_ms = now_ms() - r->eof_ms;
}

static void *srv_main(void *arg)
{
	struct fake_srv *srv = arg;
	int fds[SRV_CONNS_MAX];

	for (int i = 0; i < srv->n_conns; i++) {
		socklen_t len = sizeof(srv->res[i].peer);

		fds[i] =
			accept4(srv->lfd, (struct sockaddr *)&srv->res[i].peer, &len, SOCK_CLOEXEC);
		if (fds[i] < 0)
			break; /* nobody came: the test sees accepted < n_conns */
		srv->accepted++;
		set_timeouts(fds[i]);
		if (srv_read(srv, i, fds[i], srv->expect))
			srv->res[i].eof = true;
		sem_post(&srv->requests);
	}
	for (int i = 0; i < srv->accepted; i++) {
		if (!srv->res[i].eof)
			srv_answer(srv, i, fds[i]);
		close(fds[i]);
	}
	return NULL;
}

static void srv_start(struct fake_srv *srv, int n_conns, size_t expect, const char *answer)
{
	memset(srv, 0, sizeof(*srv));
	srv->n_conns = n_conns;
	srv->expect = expect;
	srv->answer = answer;
	sem_init(&srv->requests, 0, 0);
	srv->lfd = listen_on_loopback(SRV_CONNS_MAX, false, &srv->addr);
	set_timeouts(srv->lfd); /* accept() gives up too */
}

static void srv_run(struct fake_srv *srv)
{
	assert_int_equal(pthread_create(&srv->thread, NULL, srv_main, srv), 0);
}

/* Waits for the thread (bounded by the socket timeouts) and releases the server but got. */
static void srv_join(struct fake_srv *srv)
{
	pthread_join(srv->thread, NULL);
	close(srv->lfd);
	sem_destroy(&srv->requests);
}

/* The proxy under test on its loop thread, and a way to run code on that thread. */

struct fixture;
typedef void (*loop_call_fn)(struct fixture *f, void *arg);

struct fixture {
	struct loop *loop;
	struct proxy *px;
	int lfd;
	struct sockaddr_in addr;
	pthread_t thread;
	bool running;
	int loop_rc;
	int call_rd, call_wr; /* a byte on the pipe: run call_fn on the loop thread */
	loop_call_fn call_fn;
	void *call_arg;
	sem_t call_done;
};

static int stub_orig_dst(void *ctx, int fd, const struct sockaddr_in *peer,
			 const struct sockaddr_in *local, struct sockaddr_in *orig)
{
	return -ENOENT;
}

static int stub_pick(void *ctx, const struct sockaddr_in *peer, const struct sockaddr_in *orig,
		     const struct http_req *req, struct proxy_pick *out)
{
	return -ENOENT;
}

static void on_call(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct fixture *f = arg;
	char c;

	if (read(fd, &c, 1) != 1)
		return;
	f->call_fn(f, f->call_arg);
	sem_post(&f->call_done);
}

static void *loop_main(void *arg)
{
	struct fixture *f = arg;

	f->loop_rc = loop_run(f->loop);
	return NULL;
}

/* Runs @fn(@f, @arg) on the loop thread and waits until it returned. */
static void on_loop(struct fixture *f, loop_call_fn fn, void *arg)
{
	f->call_fn = fn;
	f->call_arg = arg;
	assert_int_equal(write(f->call_wr, "x", 1), 1);
	assert_int_equal(sem_wait_bounded(&f->call_done), 0);
}

static struct fixture *fixture_start(uint32_t mirror_timeout_ms, uint32_t mark)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct proxy_ops ops = {
		.orig_dst = stub_orig_dst,
		.pick = stub_pick,
		.upstream_mark = mark,
		.mirror_timeout_ms = mirror_timeout_ms,
	};
	int fds[2];

	assert_non_null(f);
	f->loop = loop_new();
	assert_non_null(f->loop);
	f->lfd = listen_on_loopback(16, true, &f->addr);
	f->px = proxy_new(f->loop, f->lfd, &ops);
	assert_non_null(f->px);
	assert_int_equal(pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
	f->call_rd = fds[0];
	f->call_wr = fds[1];
	sem_init(&f->call_done, 0, 0);
	assert_int_equal(loop_add(f->loop, f->call_rd, EPOLLIN, on_call, f), 0);
	assert_int_equal(pthread_create(&f->thread, NULL, loop_main, f), 0);
	f->running = true;
	return f;
}

static void fixture_stop_loop(struct fixture *f)
{
	if (!f->running)
		return;
	loop_stop(f->loop);
	pthread_join(f->thread, NULL);
	f->running = false;
	assert_int_equal(f->loop_rc, 0);
}

/* Stops the loop, then frees the proxy with whatever mirrors it still has. */
static void fixture_free(struct fixture *f)
{
	fixture_stop_loop(f);
	proxy_free(f->px);
	loop_del(f->loop, f->call_rd);
	loop_free(f->loop);
	close(f->lfd);
	close(f->call_rd);
	close(f->call_wr);
	sem_destroy(&f->call_done);
	free(f);
}

static int setup(void **state)
{
	*state = fixture_start(0, 0);
	return 0;
}

static int teardown(void **state)
{
	fixture_free(*state);
	return 0;
}

/* Replaces the fixture's proxy with one configured otherwise. */
static struct fixture *restart_fixture(void **state, uint32_t mirror_timeout_ms, uint32_t mark)
{
	fixture_free(*state);
	*state = fixture_start(mirror_timeout_ms, mark);
	return *state;
}

static struct proxy_stats stats(struct fixture *f)
{
	struct proxy_stats s;

	proxy_get_stats(f->px, &s);
	return s;
}

/* The counters settle when the loop thread gets to them: poll, bounded. */
static bool wait_mirrors(struct fixture *f, uint64_t sent, uint64_t failed, uint64_t active)
{
	for (int i = 0; i < IO_TIMEOUT_S * 1000; i++) {
		struct proxy_stats s = stats(f);

		if (s.mirror_sent == sent && s.mirror_failed == failed && s.mirror_active == active)
			return true;
		sleep_ms(1);
	}
	return false;
}

/* What the loop thread is asked to send: @count copies of @head + @body to @ep. */
struct send_args {
	struct sockaddr_in ep;
	const char *head;
	const char *body;
	size_t body_len;
	int count;
};

static void do_send(struct fixture *f, void *arg)
{
	struct send_args *a = arg;

	for (int i = 0; i < a->count; i++)
		px_mirror_send(f->px, &a->ep, a->head, strlen(a->head), a->body, a->body_len);
}

static void send_mirrors(struct fixture *f, const struct sockaddr_in *ep, const char *head,
			 const char *body, size_t body_len, int count)
{
	struct send_args a = {*ep, head, body, body_len, count};

	on_loop(f, do_send, &a);
}

static const char GET_HEAD[] = "GET /mirrored?q=1 HTTP/1.1\r\n"
			       "host: reviews-shadow:9080\r\n"
			       "x-request-id: 6f1c\r\n"
			       "\r\n";

/* Tests. */

static void head_and_body_arrive_byte_exact(void **state)
{
	struct fixture *f = *state;
	static const char head[] = "POST /upload HTTP/1.1\r\n"
				   "host: reviews-shadow:9080\r\n"
				   "content-length: 1048576\r\n"
				   "\r\n";
	struct fake_srv srv;
	char *body = malloc(BIG);

	assert_non_null(body);
	for (size_t i = 0; i < BIG; i++)
		body[i] = (char)(i * 7 + 3);
	srv_start(&srv, 1, strlen(head) + BIG, "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
	srv.keep = true;
	srv_run(&srv);
	send_mirrors(f, &srv.addr, head, body, BIG, 1);
	srv_join(&srv);
	/* Everything the connection carried, until the proxy closed it, is the copy. */
	assert_int_equal(srv.accepted, 1);
	assert_true(srv.res[0].eof);
	assert_int_equal(srv.got_len, strlen(head) + BIG);
	assert_memory_equal(srv.got, head, strlen(head));
	assert_memory_equal(srv.got + strlen(head), body, BIG);
	assert_true(wait_mirrors(f, 1, 0, 0));
	assert_int_equal(stats(f).mirror_dropped, 0);
	free(srv.got);
	free(body);
}

static void head_only_copy_arrives_byte_exact(void **state)
{
	struct fixture *f = *state;
	struct fake_srv srv;
	char got[sizeof(GET_HEAD)] = "";

	srv_start(&srv, 1, strlen(GET_HEAD), "HTTP/1.1 204 No Content\r\n\r\n");
	srv.keep = true;
	srv_run(&srv);
	send_mirrors(f, &srv.addr, GET_HEAD, NULL, 0, 1);
	srv_join(&srv);
	assert_true(srv.res[0].eof);
	assert_int_equal(srv.got_len, strlen(GET_HEAD));
	memcpy(got, srv.got, srv.got_len);
	free(srv.got);
	assert_string_equal(got, GET_HEAD);
	assert_true(wait_mirrors(f, 1, 0, 0));
}

static void keepalive_response_closed_once_complete(void **state)
{
	struct fixture *f = *state;
	struct fake_srv srv;

	/* An interim response is not the answer; a chunked keep-alive one is, at its last chunk.
	 * The timeout is 10 s: only the parser can close this soon. */
	srv_start(&srv, 1, strlen(GET_HEAD), "HTTP/1.1 100 Continue\r\n\r\n");
	srv.answer2 = "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n";
	srv_run(&srv);
	send_mirrors(f, &srv.addr, GET_HEAD, NULL, 0, 1);
	srv_join(&srv);
	assert_true(srv.res[0].open_after_interim);
	assert_true(srv.res[0].eof);
	assert_true(srv.res[0].eof_ms < 2000);
	assert_true(wait_mirrors(f, 1, 0, 0));
}

static void head_request_response_has_no_body(void **state)
{
	struct fixture *f = *state;
	static const char head[] = "HEAD /file HTTP/1.1\r\nhost: files-shadow\r\n\r\n";
	struct fake_srv srv;

	/* Content-length describes the GET's body: the response to HEAD ends with its head. */
	srv_start(&srv, 1, strlen(head), "HTTP/1.1 200 OK\r\ncontent-length: 5000\r\n\r\n");
	srv_run(&srv);
	send_mirrors(f, &srv.addr, head, NULL, 0, 1);
	srv_join(&srv);
	assert_true(srv.res[0].eof);
	assert_true(srv.res[0].eof_ms < 2000);
	assert_true(wait_mirrors(f, 1, 0, 0));
}

static void response_ended_by_close_counts_sent(void **state)
{
	struct fixture *f = *state;
	struct fake_srv srv;

	srv_start(&srv, 1, strlen(GET_HEAD), "HTTP/1.1 200 OK\r\n\r\nbody until the close");
	srv.close_after = true;
	srv_run(&srv);
	send_mirrors(f, &srv.addr, GET_HEAD, NULL, 0, 1);
	srv_join(&srv);
	assert_true(wait_mirrors(f, 1, 0, 0));
}

static void close_without_answer_counts_failed(void **state)
{
	struct fixture *f = *state;
	struct fake_srv srv;

	srv_start(&srv, 1, strlen(GET_HEAD), NULL);
	srv.close_after = true;
	srv_run(&srv);
	send_mirrors(f, &srv.addr, GET_HEAD, NULL, 0, 1);
	srv_join(&srv);
	assert_true(wait_mirrors(f, 0, 1, 0));
}

static void malformed_response_closed_and_counted_failed(void **state)
{
	struct fixture *f = *state;
	struct fake_srv srv;

	srv_start(&srv, 1, strlen(GET_HEAD), "SMTP ready\r\n\r\n");
	srv_run(&srv);
	send_mirrors(f, &srv.addr, GET_HEAD, NULL, 0, 1);
	srv_join(&srv);
	assert_true(srv.res[0].eof);
	assert_true(srv.res[0].eof_ms < 2000);
	assert_true(wait_mirrors(f, 0, 1, 0));
}

static void refused_connect_counts_failed(void **state)
{
	struct fixture *f = *state;
	struct sockaddr_in refused = loopback(0);
	socklen_t len = sizeof(refused);
	int fd;

	/* Bound but not listening: connect() is refused. */
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&refused, sizeof(refused)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&refused, &len), 0);
	send_mirrors(f, &refused, GET_HEAD, NULL, 0, 2);
	assert_true(wait_mirrors(f, 0, 2, 0));
	assert_int_equal(stats(f).mirror_dropped, 0);
	close(fd);
}

static void silent_server_closed_at_timeout(void **state)
{
	struct fixture *f = restart_fixture(state, 300, 0);
	struct fake_srv srv;

	srv_start(&srv, 1, strlen(GET_HEAD), NULL);
	srv_run(&srv);
	send_mirrors(f, &srv.addr, GET_HEAD, NULL, 0, 1);
	srv_join(&srv);
	assert_int_equal(srv.res[0].got, strlen(GET_HEAD));
	assert_true(srv.res[0].eof);
	/* From the copy's arrival, a little after the timer started. */
	assert_true(srv.res[0].eof_ms >= 200);
	assert_true(srv.res[0].eof_ms < 3000);
	assert_true(wait_mirrors(f, 0, 1, 0));
}

static void connect_never_completing_times_out(void **state)
{
	struct fixture *f = restart_fixture(state, 300, 0);
	struct sockaddr_in blackhole;
	int lfd, filler;
	long t0;

	/* A backlog of 0 holds one connection; with it taken, further SYNs go unanswered. */
	lfd = listen_on_loopback(0, false, &blackhole);
	filler = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(connect(filler, (struct sockaddr *)&blackhole, sizeof(blackhole)), 0);
	t0 = now_ms();
	send_mirrors(f, &blackhole, GET_HEAD, NULL, 0, 1);
	assert_int_equal(stats(f).mirror_active, 1);
	assert_true(wait_mirrors(f, 0, 1, 0));
	assert_true(now_ms() - t0 >= 250);
	close(filler);
	close(lfd);
}

static void more_than_cap_in_flight_dropped(void **state)
{
	struct fixture *f = *state;
	struct sockaddr_in addr;
	int lfd;

	/* Connections complete in the kernel and are never accepted: every copy stays in flight.
	 * proxy_free() then closes the PROXY_MIRROR_MAX of them (teardown). */
	lfd = listen_on_loopback(2 * PROXY_MIRROR_MAX, false, &addr);
	send_mirrors(f, &addr, GET_HEAD, NULL, 0, PROXY_MIRROR_MAX + 3);
	assert_int_equal(stats(f).mirror_active, PROXY_MIRROR_MAX);
	assert_int_equal(stats(f).mirror_dropped, 3);
	assert_int_equal(stats(f).mirror_failed, 0);
	/* One more later is dropped too: the cap is on what is in flight, not a burst. */
	sleep_ms(50);
	send_mirrors(f, &addr, GET_HEAD, NULL, 0, 1);
	assert_int_equal(stats(f).mirror_dropped, 4);
	assert_int_equal(stats(f).mirror_active, PROXY_MIRROR_MAX);
	fixture_free(f);
	*state = fixture_start(0, 0);
	close(lfd);
}

static void slot_freed_when_a_mirror_ends(void **state)
{
	struct fixture *f = *state;
	struct sockaddr_in addr;
	struct fake_srv srv;
	int lfd;

	lfd = listen_on_loopback(2 * PROXY_MIRROR_MAX, false, &addr);
	send_mirrors(f, &addr, GET_HEAD, NULL, 0, PROXY_MIRROR_MAX - 1);
	srv_start(&srv, 1, strlen(GET_HEAD), "HTTP/1.1 204 No Content\r\n\r\n");
	srv_run(&srv);
	send_mirrors(f, &srv.addr, GET_HEAD, NULL, 0, 1); /* the last slot */
	srv_join(&srv);
	assert_true(wait_mirrors(f, 1, 0, PROXY_MIRROR_MAX - 1));
	send_mirrors(f, &addr, GET_HEAD, NULL, 0, 2); /* one fits again */
	assert_int_equal(stats(f).mirror_active, PROXY_MIRROR_MAX);
	assert_int_equal(stats(f).mirror_dropped, 1);
	fixture_free(f);
	*state = fixture_start(0, 0);
	close(lfd);
}

static void proxy_free_with_mirrors_in_flight(void **state)
{
	struct fixture *f = *state;
	struct sockaddr_in blackhole, quiet;
	int bh_lfd, filler, quiet_lfd;
	struct fake_srv srv;

	/* In flight in every state: exchanging (3 on a silent server), connected but never
	 * accepted (2), connecting forever (1). Valgrind checks that nothing leaks. */
	srv_start(&srv, 3, strlen(GET_HEAD), NULL);
	srv_run(&srv);
	quiet_lfd = listen_on_loopback(8, false, &quiet);
	bh_lfd = listen_on_loopback(0, false, &blackhole);
	filler = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(connect(filler, (struct sockaddr *)&blackhole, sizeof(blackhole)), 0);
	send_mirrors(f, &srv.addr, GET_HEAD, NULL, 0, 3);
	send_mirrors(f, &quiet, GET_HEAD, NULL, 0, 2);
	send_mirrors(f, &blackhole, GET_HEAD, NULL, 0, 1);
	for (int i = 0; i < 3; i++)
		assert_int_equal(sem_wait_bounded(&srv.requests), 0);
	assert_int_equal(stats(f).mirror_active, 6);
	fixture_free(f);
	*state = fixture_start(0, 0);
	srv_join(&srv);
	assert_int_equal(srv.accepted, 3);
	for (int i = 0; i < 3; i++) {
		assert_true(srv.res[i].eof);
		assert_true(srv.res[i].eof_ms < 2000);
	}
	close(filler);
	close(bh_lfd);
	close(quiet_lfd);
}

/* SO_MARK of a socket, read back with sock_diag (INET_DIAG_MARK needs CAP_NET_ADMIN). */
static int sock_mark(const struct sockaddr_in *src, const struct sockaddr_in *dst, uint32_t *mark)
{
	struct {
		struct nlmsghdr nlh;
		struct inet_diag_req_v2 r;
	} req = {
		.nlh = {.nlmsg_len = sizeof(req),
			.nlmsg_type = SOCK_DIAG_BY_FAMILY,
			.nlmsg_flags = NLM_F_REQUEST},
		.r = {.sdiag_family = AF_INET,
		      .sdiag_protocol = IPPROTO_TCP,
		      .idiag_states = ~0u,
		      .id = {.idiag_sport = src->sin_port,
			     .idiag_dport = dst->sin_port,
			     .idiag_src = {src->sin_addr.s_addr},
			     .idiag_dst = {dst->sin_addr.s_addr},
			     .idiag_cookie = {INET_DIAG_NOCOOKIE, INET_DIAG_NOCOOKIE}}},
	};
	char buf[8192];
	struct nlmsghdr *h = (struct nlmsghdr *)buf;
	ssize_t n;
	int fd, err = -ENOENT;

	fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (fd < 0)
		return -errno;
	set_timeouts(fd);
	if (send(fd, &req, sizeof(req), 0) != (ssize_t)sizeof(req)) {
		close(fd);
		return -EIO;
	}
	n = recv(fd, buf, sizeof(buf), 0);
	if (n > 0 && NLMSG_OK(h, (size_t)n) && h->nlmsg_type == SOCK_DIAG_BY_FAMILY) {
		struct inet_diag_msg *m = NLMSG_DATA(h);
		struct rtattr *a = (struct rtattr *)(m + 1);
		int len = (int)(h->nlmsg_len - NLMSG_LENGTH(sizeof(*m)));

		for (; RTA_OK(a, len); a = RTA_NEXT(a, len)) {
			if (a->rta_type == INET_DIAG_MARK) {
				*mark = *(uint32_t *)RTA_DATA(a);
				err = 0;
			}
		}
	}
	close(fd);
	return err;
}

static void mirror_socket_carries_so_mark(void **state)
{
	struct fixture *f;
	struct fake_srv srv;
	uint32_t mark = 0, probe_mark = 1;
	int probe;

	probe = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (setsockopt(probe, SOL_SOCKET, SO_MARK, &probe_mark, sizeof(probe_mark))) {
		close(probe);
		skip(); /* not CAP_NET_ADMIN: SO_MARK (and reading it back) is not allowed */
	}
	close(probe);
	f = restart_fixture(state, 0, 0x5e4e0000u);
	srv_start(&srv, 1, strlen(GET_HEAD), NULL);
	srv_run(&srv);
	send_mirrors(f, &srv.addr, GET_HEAD, NULL, 0, 1);
	assert_int_equal(sem_wait_bounded(&srv.requests), 0);
	/* The mirror waits for an answer: its socket is open, ask the kernel for its mark. */
	assert_int_equal(sock_mark(&srv.res[0].peer, &srv.addr, &mark), 0);
	assert_int_equal(mark, 0x5e4e0000u);
	fixture_free(f);
	*state = fixture_start(0, 0);
	srv_join(&srv);
	assert_true(srv.res[0].eof);
}

static int group_setup(void **state)
{
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(head_and_body_arrive_byte_exact, setup, teardown),
		cmocka_unit_test_setup_teardown(head_only_copy_arrives_byte_exact, setup, teardown),
		cmocka_unit_test_setup_teardown(keepalive_response_closed_once_complete, setup,
						teardown),
		cmocka_unit_test_setup_teardown(head_request_response_has_no_body, setup, teardown),
		cmocka_unit_test_setup_teardown(response_ended_by_close_counts_sent, setup,
						teardown),
		cmocka_unit_test_setup_teardown(close_without_answer_counts_failed, setup,
						teardown),
		cmocka_unit_test_setup_teardown(malformed_response_closed_and_counted_failed, setup,
						teardown),
		cmocka_unit_test_setup_teardown(refused_connect_counts_failed, setup, teardown),
		cmocka_unit_test_setup_teardown(silent_server_closed_at_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(connect_never_completing_times_out, setup,
						teardown),
		cmocka_unit_test_setup_teardown(more_than_cap_in_flight_dropped, setup, teardown),
		cmocka_unit_test_setup_teardown(slot_freed_when_a_mirror_ends, setup, teardown),
		cmocka_unit_test_setup_teardown(proxy_free_with_mirrors_in_flight, setup, teardown),
		cmocka_unit_test_setup_teardown(mirror_socket_carries_so_mark, setup, teardown),
	};

	return cmocka_run_group_tests(tests, group_setup, NULL);
}
