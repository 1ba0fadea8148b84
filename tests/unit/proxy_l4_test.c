// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The proxy's raw connections against real sockets on 127.0.0.1: a proxy on
 * its own loop thread whose fake conn_mode() makes every connection TLS (the
 * ClientHello read for its SNI, routed by pick_l4()) or TCP (routed at once),
 * and a raw backend that echoes what it reads, says "bye" when the client's
 * FIN reaches it and closes. A ClientHello is OpenSSL's, sent in pieces.
 * Every socket has a receive timeout: no test can hang.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
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
#include <netinet/in.h>
#include <cmocka.h>
#include <openssl/ssl.h>

#include "loop.h"
#include "proxy.h"

static const struct timeval io_timeout = {.tv_sec = 5};

static struct {
	struct loop *loop;
	struct proxy *px;
	int lfd, bfd;		  /* the proxy's listener, the backend's */
	struct sockaddr_in addr;  /* the proxy's */
	struct sockaddr_in baddr; /* the backend's */
	pthread_t loop_thread, backend_thread;
	enum proxy_conn_mode mode; /* what conn_mode() answers */
	bool server_first;	   /* the backend greets first */
	pthread_mutex_t mu;
	char sni[300]; /* the last pick_l4() call's, "-" for NULL */
	int picks, dones, done_status;
} f;

static void sleep_ms(long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = ms % 1000 * 1000000};

	nanosleep(&ts, NULL);
}

static int listen_loopback(bool nonblock, struct sockaddr_in *out)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(fd, 64), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	*out = a;
	return fd;
}

/* The backend: one connection at a time; echoes, answers the FIN with "bye", closes. */
static void *backend_main(void *arg)
{
	char buf[4096];
	int fd;

	while ((fd = accept(f.bfd, NULL, NULL)) >= 0) {
		ssize_t n;

		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &io_timeout, sizeof(io_timeout));
		if (f.server_first)
			(void)send(fd, "220 hello\r\n", 11, MSG_NOSIGNAL);
		while ((n = recv(fd, buf, sizeof(buf), 0)) > 0)
			if (send(fd, buf, (size_t)n, MSG_NOSIGNAL) != n)
				break;
		if (!n)
			(void)send(fd, "bye", 3, MSG_NOSIGNAL);
		close(fd);
	}
	return NULL;
}

static int fake_orig_dst(void *ctx, int fd, const struct sockaddr_in *peer,
			 const struct sockaddr_in *local, struct sockaddr_in *orig)
{
	*orig = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons(443)};
	orig->sin_addr.s_addr = htonl(0x0a600001);
	return 0;
}

static int fake_pick(void *ctx, const struct sockaddr_in *peer, const struct sockaddr_in *orig,
		     const struct http_req *req, struct proxy_pick *out)
{
	out->status = 404;
	return 0;
}

static enum proxy_conn_mode fake_conn_mode(void *ctx, const struct sockaddr_in *peer,
					   const struct sockaddr_in *orig, bool gateway)
{
	return f.mode;
}

/* "refused.example" is refused, "nowhere.example" goes to a port nobody listens on. */
static int fake_pick_l4(void *ctx, const struct sockaddr_in *peer, const struct sockaddr_in *orig,
			bool gateway, const char *sni, struct proxy_pick *out)
{
	pthread_mutex_lock(&f.mu);
	snprintf(f.sni, sizeof(f.sni), "%s", sni ? sni : "-");
	f.picks++;
	pthread_mutex_unlock(&f.mu);
	if (sni && !strcmp(sni, "refused.example")) {
		out->status = 502;
		return 0;
	}
	out->ep = f.baddr;
	if (sni && !strcmp(sni, "nowhere.example"))
		out->ep.sin_port = htons(1); /* tcpmux: nobody on loopback */
	out->token[0] = 42;
	return 0;
}

static void fake_done(void *ctx, const struct proxy_pick *pick, int status)
{
	pthread_mutex_lock(&f.mu);
	f.dones++;
	f.done_status = status;
	pthread_mutex_unlock(&f.mu);
}

static void *loop_main(void *arg)
{
	loop_run(f.loop);
	return NULL;
}

static int setup(void **state)
{
	struct proxy_ops ops = {
		.orig_dst = fake_orig_dst,
		.pick = fake_pick,
		.done = fake_done,
		.conn_mode = fake_conn_mode,
		.pick_l4 = fake_pick_l4,
		.connect_timeout_ms = 500,
	};

	memset(&f, 0, sizeof(f));
	pthread_mutex_init(&f.mu, NULL);
	f.mode = PROXY_CONN_TLS;
	f.bfd = listen_loopback(false, &f.baddr);
	f.lfd = listen_loopback(true, &f.addr);
	f.loop = loop_new();
	assert_non_null(f.loop);
	f.px = proxy_new(f.loop, f.lfd, &ops);
	assert_non_null(f.px);
	assert_int_equal(pthread_create(&f.backend_thread, NULL, backend_main, NULL), 0);
	assert_int_equal(pthread_create(&f.loop_thread, NULL, loop_main, NULL), 0);
	return 0;
}

static int teardown(void **state)
{
	loop_stop(f.loop);
	pthread_join(f.loop_thread, NULL);
	proxy_free(f.px);
	loop_free(f.loop);
	close(f.lfd);
	shutdown(f.bfd, SHUT_RDWR); /* wakes accept() */
	pthread_join(f.backend_thread, NULL);
	close(f.bfd);
	return 0;
}

static int client(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &io_timeout, sizeof(io_timeout));
	assert_int_equal(connect(fd, (struct sockaddr *)&f.addr, sizeof(f.addr)), 0);
	return fd;
}

/* Reads until EOF (or @cap bytes); the bytes read, -1 on a timeout or error. */
static ssize_t read_all(int fd, char *buf, size_t cap)
{
	size_t got = 0;
	ssize_t n;

	while (got < cap && (n = recv(fd, buf + got, cap - got, 0)) > 0)
		got += (size_t)n;
	return n < 0 ? -1 : (ssize_t)got;
}

static size_t hello(const char *sni, uint8_t *out, size_t cap)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	BIO *rb = BIO_new(BIO_s_mem()), *wb = BIO_new(BIO_s_mem());
	SSL *ssl = SSL_new(ctx);
	int n;

	SSL_set_bio(ssl, rb, wb);
	if (sni)
		SSL_set_tlsext_host_name(ssl, sni);
	SSL_set_connect_state(ssl);
	SSL_do_handshake(ssl);
	n = BIO_read(wb, out, (int)cap);
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	assert_true(n > 0);
	return (size_t)n;
}

static struct proxy_stats stats(void)
{
	struct proxy_stats st;

	proxy_get_stats(f.px, &st);
	return st;
}

/* A ClientHello in three pieces: routed by its SNI, then bytes both ways, the FIN passed on. */
static void hello_in_pieces_routed_by_sni(void **state)
{
	static uint8_t h[4096];
	static char back[8192];
	size_t n = hello("api.example.com", h, sizeof(h));
	int fd = client();

	assert_int_equal(send(fd, h, 3, 0), 3);
	sleep_ms(30);
	assert_int_equal(send(fd, h + 3, 40, 0), 40);
	sleep_ms(30);
	assert_int_equal(f.picks, 0); /* not routed before the ClientHello is whole */
	assert_int_equal(send(fd, h + 43, n - 43, 0), (ssize_t)(n - 43));
	assert_int_equal(send(fd, "ping", 4, 0), 4);
	assert_int_equal(shutdown(fd, SHUT_WR), 0);
	assert_int_equal(read_all(fd, back, sizeof(back)), (ssize_t)(n + 4 + 3));
	assert_memory_equal(back, h, n); /* the ClientHello went on untouched */
	assert_memory_equal(back + n, "pingbye", 7);
	close(fd);
	assert_string_equal(f.sni, "api.example.com");
	sleep_ms(50);
	assert_int_equal(f.dones, 1);
	assert_int_equal(f.done_status, -1);
	assert_int_equal(stats().sni_read, 1);
	assert_int_equal(stats().l4_forwarded, 1);
	assert_int_equal(stats().active, 0);
}

/* Plain HTTP on a TLS port: routed without SNI, forwarded as it came. */
static void not_tls_routed_without_sni(void **state)
{
	static const char req[] = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
	char back[256];
	int fd = client();

	assert_int_equal(send(fd, req, sizeof(req) - 1, 0), (ssize_t)sizeof(req) - 1);
	assert_int_equal(shutdown(fd, SHUT_WR), 0);
	assert_int_equal(read_all(fd, back, sizeof(back)), (ssize_t)sizeof(req) - 1 + 3);
	close(fd);
	assert_string_equal(f.sni, "-");
	assert_int_equal(stats().sni_none, 1);
}

/* A refused name, an unreachable backend, a ClientHello over 16 KiB: closed, counted. */
static void refused_unreachable_and_oversize_closed(void **state)
{
	static uint8_t h[4096], big[20000];
	char back[64];
	size_t n = hello("refused.example", h, sizeof(h));
	int fd = client();

	assert_int_equal(send(fd, h, n, 0), (ssize_t)n);
	assert_int_equal(read_all(fd, back, sizeof(back)), 0);
	close(fd);
	n = hello("nowhere.example", h, sizeof(h));
	fd = client();
	assert_int_equal(send(fd, h, n, 0), (ssize_t)n);
	assert_int_equal(read_all(fd, back, sizeof(back)), 0);
	close(fd);
	memcpy(big, "\x16\x03\x01\x40\x00\x01\x00\x4e\x20", 9); /* a 16 KB record, a 20 KB hello */
	fd = client();
	(void)send(fd, big, 9, MSG_NOSIGNAL);
	assert_int_equal(read_all(fd, back, sizeof(back)), 0);
	close(fd);
	sleep_ms(50);
	assert_int_equal(stats().l4_refused, 3);
	assert_int_equal(stats().upstream_connect_failed, 1);
	assert_int_equal(f.picks, 2); /* the oversize one was never routed */
	assert_int_equal(f.done_status, 0);
	assert_int_equal(stats().active, 0);
}

/* TCP: connected at once, so a server that speaks first is heard. */
static void tcp_connects_at_once(void **state)
{
	char back[64];
	int fd;

	f.mode = PROXY_CONN_TCP;
	f.server_first = true;
	fd = client();
	assert_int_equal(recv(fd, back, 11, MSG_WAITALL), 11);
	assert_memory_equal(back, "220 hello\r\n", 11);
	assert_int_equal(shutdown(fd, SHUT_WR), 0);
	assert_int_equal(read_all(fd, back, sizeof(back)), 3);
	assert_memory_equal(back, "bye", 3);
	close(fd);
	assert_string_equal(f.sni, "-");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(hello_in_pieces_routed_by_sni, setup, teardown),
		cmocka_unit_test_setup_teardown(not_tls_routed_without_sni, setup, teardown),
		cmocka_unit_test_setup_teardown(refused_unreachable_and_oversize_closed, setup,
						teardown),
		cmocka_unit_test_setup_teardown(tcp_connects_at_once, setup, teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
