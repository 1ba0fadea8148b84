// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The access log: a request's line in Istio's default text format, field by
 * field; "-" for what is missing; strings that cannot break a line; Envoy's
 * response flags in Envoy's order; and the writer, which never waits for a
 * full pipe but counts what it had to drop.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "accesslog.h"
#include "loop.h"
#include "proxy.h"

static struct sockaddr_in addr(const char *ip, uint16_t port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};

	inet_pton(AF_INET, ip, &a.sin_addr);
	return a;
}

/* A forwarded request as the proxy reports it. */
static struct proxy_reqinfo forwarded(void)
{
	struct proxy_reqinfo ri = {
		.peer = addr("10.77.0.10", 40000),
		.orig = addr("10.96.77.10", 3000),
		.ep = addr("10.77.0.13", 3000),
		.up_local = addr("10.77.0.1", 51234),
		.status = 200,
		.details = "via_upstream",
		.body_in = 5,
		.body_out = 1234,
		.duration_us = 12999,
		.upstream_ms = 11,
		/* 2024-05-01T12:34:56.789Z */
		.start_unix_us = 1714566896789000ll,
	};

	ri.str[PROXY_RQ_METHOD] = "POST";
	ri.str[PROXY_RQ_PATH] = "/hello?x=1";
	ri.str[PROXY_RQ_PROTOCOL] = "HTTP/1.1";
	ri.str[PROXY_RQ_UA] = "shunt-client";
	ri.str[PROXY_RQ_ID] = "4f1c2a8e-0b7d-4c3e-9a61-2d5f8e7b6c10";
	ri.str[PROXY_RQ_AUTHORITY] = "greeter";
	ri.str[PROXY_RQ_CLUSTER] = "outbound|3000|v2|greeter.default.svc.cluster.local";
	ri.str[PROXY_RQ_ROUTE] = "canary";
	return ri;
}

static const char *line_of(const struct proxy_reqinfo *ri)
{
	static char buf[ALOG_LINE_MAX];

	assert_int_not_equal(alog_format(ri, buf, sizeof(buf)), 0);
	return buf;
}

static void forwarded_request_in_istios_field_order(void **state)
{
	struct proxy_reqinfo ri = forwarded();

	assert_string_equal(
		line_of(&ri),
		"[2024-05-01T12:34:56.789Z] \"POST /hello?x=1 HTTP/1.1\" 200 - via_upstream - "
		"\"-\" "
		"5 1234 12 11 \"-\" \"shunt-client\" \"4f1c2a8e-0b7d-4c3e-9a61-2d5f8e7b6c10\" "
		"\"greeter\" \"10.77.0.13:3000\" "
		"outbound|3000|v2|greeter.default.svc.cluster.local "
		"10.77.0.1:51234 10.96.77.10:3000 10.77.0.10:40000 - canary\n");
}

static void missing_fields_are_dashes(void **state)
{
	struct proxy_reqinfo ri = {.upstream_ms = -1};

	assert_string_equal(line_of(&ri), "[-] \"- - -\" 0 - - - \"-\" 0 0 0 - \"-\" \"-\" \"-\" "
					  "\"-\" \"-\" - - - - - -\n");
}

static void local_reply_after_a_dead_upstream(void **state)
{
	struct proxy_reqinfo ri = forwarded();

	ri.status = 503;
	ri.flags = PROXY_RF_URX | PROXY_RF_UF;
	ri.details = "upstream_reset_before_response_started{connection_failure}";
	ri.up_local = (struct sockaddr_in){0};
	ri.upstream_ms = -1;
	ri.str[PROXY_RQ_XFF] = "192.0.2.1";
	ri.str[PROXY_RQ_SNI] = "greeter.example.com";
	assert_string_equal(
		line_of(&ri),
		"[2024-05-01T12:34:56.789Z] \"POST /hello?x=1 HTTP/1.1\" 503 UF,URX "
		"upstream_reset_before_response_started{connection_failure} - \"-\" 5 1234 12 - "
		"\"192.0.2.1\" \"shunt-client\" \"4f1c2a8e-0b7d-4c3e-9a61-2d5f8e7b6c10\" "
		"\"greeter\" \"10.77.0.13:3000\" "
		"outbound|3000|v2|greeter.default.svc.cluster.local "
		"- 10.96.77.10:3000 10.77.0.10:40000 greeter.example.com canary\n");
}

static void strings_cannot_break_the_line(void **state)
{
	struct proxy_reqinfo ri = forwarded();
	const char *l;

	ri.str[PROXY_RQ_UA] = "evil\" \"x\\y\nz\x01";
	l = line_of(&ri);
	assert_non_null(strstr(l, " \"evil\\\" \\\"x\\\\y\\x0az\\x01\" "));
	assert_ptr_equal(strchr(l, '\n'), l + strlen(l) - 1); /* one line */
}

static void line_that_does_not_fit_is_refused(void **state)
{
	struct proxy_reqinfo ri = forwarded();
	char small[64];

	assert_int_equal(alog_format(&ri, small, sizeof(small)), 0);
}

static void flags_in_envoys_order(void **state)
{
	char s[PROXY_RF_STR_MAX];
	uint32_t all = 0;

	assert_string_equal(proxy_rflags_str(0, s), "-");
	assert_string_equal(proxy_rflags_str(PROXY_RF_URX | PROXY_RF_UF, s), "UF,URX");
	assert_string_equal(proxy_rflags_str(PROXY_RF_NC | PROXY_RF_DI, s), "DI,NC");
	assert_string_equal(proxy_rflags_str(PROXY_RF_DI | PROXY_RF_UH, s), "UH,DI");
	assert_int_equal(proxy_rflags_parse("DI,FI"), PROXY_RF_DI | PROXY_RF_FI);
	assert_int_equal(proxy_rflags_parse("NR"), PROXY_RF_NR);
	assert_int_equal(proxy_rflags_parse(NULL), 0);
	assert_int_equal(proxy_rflags_parse("XX,UO"), PROXY_RF_UO);
	for (int i = 0; i < 13; i++)
		all |= 1u << i;
	assert_string_equal(proxy_rflags_str(all, s), "UH,UT,UF,UC,UO,NR,DI,FI,DC,URX,DPE,UPE,NC");
	assert_int_equal(proxy_rflags_parse(s), all);
}

static void lines_reach_a_file(void **state)
{
	char path[] = "/tmp/shunt-alog-XXXXXX", buf[8192];
	struct proxy_reqinfo ri = forwarded();
	struct alog_sink *sink;
	struct alog_stats st;
	struct loop *loop = loop_new();
	struct alog *a;
	int fd = mkstemp(path), lines = 0;
	ssize_t n;

	assert_true(fd >= 0);
	assert_int_equal(alog_sink_open(path, &sink), 0);
	assert_int_equal(alog_new(sink, loop, &a), 0);
	for (int i = 0; i < 1000; i++) /* more than the buffer holds: flushed when full */
		alog_request(a, &ri);
	alog_free(a);
	alog_sink_stats(sink, &st);
	assert_int_equal(st.lines, 1000);
	assert_int_equal(st.dropped, 0);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		for (ssize_t i = 0; i < n; i++)
			lines += buf[i] == '\n';
	assert_int_equal(lines, 1000);
	alog_sink_close(sink);
	loop_free(loop);
	close(fd);
	unlink(path);
}

static void full_pipe_never_blocks(void **state)
{
	char dir[] = "/tmp/shunt-alog-XXXXXX", path[64], buf[4096];
	struct proxy_reqinfo ri = forwarded();
	struct alog_sink *sink;
	struct alog_stats st;
	struct loop *loop = loop_new();
	struct alog *a;
	uint64_t got = 0;
	int rd, lines = 1000;
	ssize_t n;
	struct timespec t0, t1;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/fifo", dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	rd = open(path, O_RDONLY | O_NONBLOCK); /* a reader that reads nothing yet */
	assert_true(rd >= 0);
	assert_int_equal(alog_sink_open(path, &sink), 0);
	assert_int_equal(alog_new(sink, loop, &a), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	/* ~300 KB of lines into a 64 KB pipe nobody drains: none of it may wait */
	for (int i = 0; i < lines; i++)
		alog_request(a, &ri);
	alog_free(a);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_true((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000 < 1000);
	alog_sink_stats(sink, &st);
	assert_true(st.dropped > 0);
	assert_int_equal(st.lines + st.dropped, lines);
	/* what went through are whole lines */
	while ((n = read(rd, buf, sizeof(buf))) > 0)
		for (ssize_t i = 0; i < n; i++)
			got += buf[i] == '\n';
	assert_int_equal(got, st.lines);
	alog_sink_close(sink);
	loop_free(loop);
	close(rd);
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(forwarded_request_in_istios_field_order),
		cmocka_unit_test(missing_fields_are_dashes),
		cmocka_unit_test(local_reply_after_a_dead_upstream),
		cmocka_unit_test(strings_cannot_break_the_line),
		cmocka_unit_test(line_that_does_not_fit_is_refused),
		cmocka_unit_test(flags_in_envoys_order),
		cmocka_unit_test(lines_reach_a_file),
		cmocka_unit_test(full_pipe_never_blocks),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
