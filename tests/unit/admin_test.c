// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The admin API as an operator's probe sees it: /ready follows the agent's
 * readiness (503, then 200), /healthz, /stats, HEAD without a body, 404 and
 * 405 for the rest. The admin loop runs in its own thread on 127.0.0.1:0.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "admin.h"
#include "log.h"
#include "loop.h"

struct fixture {
	struct loop *loop;
	struct admin *adm;
	struct sockaddr_in addr;
	pthread_t thread;
	bool ready; /* atomic */
};

static bool fake_ready(void *ctx)
{
	struct fixture *f = ctx;

	return __atomic_load_n(&f->ready, __ATOMIC_ACQUIRE);
}

static int fake_stats(void *ctx, char *buf, size_t len)
{
	return snprintf(buf, len, "kernel.captured 7\nproxy.requests 3\n");
}

static void *loop_main(void *arg)
{
	struct fixture *f = arg;

	loop_run(f->loop);
	return NULL;
}

/* Sends @req to the admin API; the whole answer (until close) goes to @out. Returns its length. */
static size_t ask(struct fixture *f, const char *req, char *out, size_t cap)
{
	struct timeval tv = {.tv_sec = 5};
	size_t len = 0;
	ssize_t n;
	int fd;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	assert_int_equal(connect(fd, (struct sockaddr *)&f->addr, sizeof(f->addr)), 0);
	assert_int_equal(send(fd, req, strlen(req), 0), (ssize_t)strlen(req));
	while (len < cap - 1 && (n = recv(fd, out + len, cap - 1 - len, 0)) > 0)
		len += (size_t)n;
	assert_true(n == 0 || len == cap - 1); /* closed by the server, not a timeout */
	out[len] = '\0';
	close(fd);
	return len;
}

static int setup(void **state)
{
	static struct fixture f;
	struct admin_ops ops = {.ready = fake_ready, .stats = fake_stats, .ctx = &f};
	struct sockaddr_in any = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(f.addr);
	int fd;

	memset(&f, 0, sizeof(f));
	log_level_cur = LOG_WARN;
	f.loop = loop_new();
	assert_non_null(f.loop);
	assert_int_equal(admin_new(f.loop, &any, &ops, &f.adm), 0);
	/* Bound to port 0: ask the listener which port it got. */
	fd = admin_listen_fd(f.adm);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&f.addr, &len), 0);
	assert_int_equal(pthread_create(&f.thread, NULL, loop_main, &f), 0);
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	loop_stop(f->loop);
	pthread_join(f->thread, NULL);
	admin_free(f->adm);
	loop_free(f->loop);
	return 0;
}

static void ready_is_503_until_the_agent_is_ready(void **state)
{
	struct fixture *f = *state;
	char out[1024];

	ask(f, "GET /ready HTTP/1.1\r\nHost: x\r\n\r\n", out, sizeof(out));
	assert_non_null(strstr(out, "HTTP/1.1 503 "));
	assert_non_null(strstr(out, "\r\n\r\nnot ready\n"));
	__atomic_store_n(&f->ready, true, __ATOMIC_RELEASE);
	ask(f, "GET /ready HTTP/1.1\r\nHost: x\r\n\r\n", out, sizeof(out));
	assert_non_null(strstr(out, "HTTP/1.1 200 "));
	assert_non_null(strstr(out, "\r\n\r\nready\n"));
	__atomic_store_n(&f->ready, false, __ATOMIC_RELEASE); /* shutting down */
	ask(f, "GET /ready?verbose HTTP/1.1\r\nHost: x\r\n\r\n", out, sizeof(out));
	assert_non_null(strstr(out, "HTTP/1.1 503 "));
}

static void healthz_and_stats(void **state)
{
	struct fixture *f = *state;
	char out[1024];

	ask(f, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", out, sizeof(out));
	assert_non_null(strstr(out, "HTTP/1.1 200 "));
	ask(f, "GET /stats HTTP/1.1\r\nHost: x\r\n\r\n", out, sizeof(out));
	assert_non_null(strstr(out, "HTTP/1.1 200 "));
	assert_non_null(strstr(out, "content-length: 35\r\n"));
	assert_non_null(strstr(out, "\r\n\r\nkernel.captured 7\nproxy.requests 3\n"));
}

static void head_gets_headers_only(void **state)
{
	struct fixture *f = *state;
	char out[1024];
	size_t len;

	len = ask(f, "HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n", out, sizeof(out));
	assert_non_null(strstr(out, "content-length: 3\r\n"));
	assert_int_equal(strstr(out, "\r\n\r\n") + 4 - out, (long)len); /* nothing after the head */
}

static void unknown_path_404_and_post_405(void **state)
{
	struct fixture *f = *state;
	char out[1024];

	ask(f, "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n", out, sizeof(out));
	assert_non_null(strstr(out, "HTTP/1.1 404 "));
	ask(f, "POST /ready HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", out, sizeof(out));
	assert_non_null(strstr(out, "HTTP/1.1 405 "));
	ask(f, "garbage\r\n\r\n", out, sizeof(out));
	assert_non_null(strstr(out, "HTTP/1.1 400 "));
}

static void echo_handler(void *ctx, const struct admin_req *req, struct admin_resp *resp)
{
	char v[64];

	if (admin_query_get(req->query, "fail", v, sizeof(v))) {
		admin_error(resp, 400, "fail=%s", v);
		return;
	}
	resp->content_type = "application/json";
	admin_printf(resp, "{\"method\":");
	admin_json_str(resp, req->method);
	admin_printf(resp, ",\"host\":");
	admin_json_str(resp, admin_query_get(req->query, "host", v, sizeof(v)) ? v : NULL);
	admin_printf(resp, "}");
}

/* A body far beyond one socket buffer: the answer is written as the client reads it. */
static void big_handler(void *ctx, const struct admin_req *req, struct admin_resp *resp)
{
	for (int i = 0; i < 200000; i++)
		admin_printf(resp, "line %06d\n", i);
}

static void handlers_get_query_and_large_bodies(void **state)
{
	struct fixture *f = *state;
	static char out[4 << 20];
	size_t len;

	assert_int_equal(admin_handle(f->adm, "/echo", "echo", echo_handler, NULL), 0);
	assert_int_equal(admin_handle(f->adm, "/echo", "again", echo_handler, NULL), -EEXIST);
	assert_int_equal(admin_handle(f->adm, "/big", "big", big_handler, NULL), 0);
	ask(f, "GET /echo?x=1&host=a%2Eb+c%22 HTTP/1.1\r\n\r\n", out, sizeof(out));
	assert_non_null(strstr(out, "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"));
	assert_non_null(strstr(out, "\r\n\r\n{\"method\":\"GET\",\"host\":\"a.b c\\\"\"}"));
	ask(f, "POST /echo HTTP/1.1\r\nContent-Length: 0\r\n\r\n", out, sizeof(out));
	assert_non_null(strstr(out, "{\"method\":\"POST\",\"host\":null}"));
	ask(f, "GET /echo?fail=yes HTTP/1.1\r\n\r\n", out, sizeof(out));
	assert_non_null(strstr(out, "HTTP/1.1 400 "));
	assert_non_null(strstr(out, "\r\n\r\nfail=yes\n"));
	len = ask(f, "GET /big HTTP/1.1\r\n\r\n", out, sizeof(out));
	assert_non_null(strstr(out, "content-length: 2400000\r\n"));
	assert_int_equal(len - (size_t)(strstr(out, "\r\n\r\n") + 4 - out), 2400000);
	assert_non_null(strstr(out, "line 199999\n"));
	ask(f, "GET / HTTP/1.1\r\n\r\n", out, sizeof(out));
	assert_non_null(strstr(out, "/echo"));
	assert_non_null(strstr(out, "/big"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(ready_is_503_until_the_agent_is_ready, setup,
						teardown),
		cmocka_unit_test_setup_teardown(healthz_and_stats, setup, teardown),
		cmocka_unit_test_setup_teardown(head_gets_headers_only, setup, teardown),
		cmocka_unit_test_setup_teardown(unknown_path_404_and_post_405, setup, teardown),
		cmocka_unit_test_setup_teardown(handlers_get_query_and_large_bodies, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
