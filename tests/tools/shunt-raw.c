// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * shunt-raw: raw bytes over one TCP connection, for the HTTP edge-case tests
 * (tests/e2e/http_edge_test.sh): what a well-behaved HTTP client would never
 * send, sent as it is, and what comes back shown as it is.
 *
 *   shunt-raw --connect IP:PORT [--timeout-ms MS] STEP...
 *   shunt-raw --listen IP:PORT --upgrade-echo
 *
 * As a client, runs the steps in order on one connection:
 *   send:TEXT        sends TEXT (\r \n \t \\ \xNN are escapes)
 *   slow:MS:TEXT     sends TEXT a byte every MS milliseconds; stops early, and
 *                    says so, when the peer answers or closes meanwhile
 *   wait:TEXT        reads until what was received contains TEXT
 *   shut             shuts the write side (a FIN: half-close)
 *   eof              reads until the peer closes (EOF or reset)
 *   sleep:MS         waits
 * and prints one line per step ("step N KIND ok|FAILED ms=<since connect>",
 * slow adds "sent=<bytes of TEXT sent>"), then "recv=<all received, escaped>".
 * Every wait is bounded by --timeout-ms (default 5000) from the connect.
 * Exit 0 all steps ok, 2 usage, 3 connect failed, 4 a step failed.
 *
 * As a server (--upgrade-echo), answers each connection's request head with
 * 101 Switching Protocols (a WebSocket one: Sec-WebSocket-Accept from the
 * request's Sec-WebSocket-Key), echoes every byte that follows until the
 * peer's FIN, then sends "bye" and closes: a peer that half-closed still gets
 * its answer. One connection at a time; prints "listening on IP:PORT" and,
 * per connection, "tunnel echoed=<bytes> then bye". SIGTERM ends it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#define EXIT_USAGE   2
#define EXIT_CONNECT 3
#define EXIT_OTHER   4
#define RECV_MAX     (1024 * 1024)
#define TEXT_MAX     (128 * 1024)

static char *recvd;
static size_t recvd_len;
static bool peer_closed;
static int timeout_ms = 5000;
static uint64_t t0;

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int parse_addr(const char *s, struct sockaddr_in *a)
{
	char ip[64];
	const char *colon = strrchr(s, ':');
	char *end;
	unsigned long port;

	if (!colon || (size_t)(colon - s) >= sizeof(ip))
		return -1;
	memcpy(ip, s, (size_t)(colon - s));
	ip[colon - s] = '\0';
	port = strtoul(colon + 1, &end, 10);
	memset(a, 0, sizeof(*a));
	a->sin_family = AF_INET;
	a->sin_port = htons((uint16_t)port);
	return *end || !port || port > 65535 || inet_pton(AF_INET, ip, &a->sin_addr) != 1 ? -1 : 0;
}

/* TEXT with its escapes undone into @out (TEXT_MAX bytes); returns the length, or -1. */
static long unescape(const char *s, char *out)
{
	size_t n = 0;

	for (; *s; s++) {
		char c = *s;

		if (n == TEXT_MAX)
			return -1;
		if (c == '\\' && s[1]) {
			s++;
			switch (*s) {
			case 'r':
				c = '\r';
				break;
			case 'n':
				c = '\n';
				break;
			case 't':
				c = '\t';
				break;
			case 'x': {
				char hex[3] = {s[1], s[1] ? s[2] : 0, 0};
				char *end;

				c = (char)strtoul(hex, &end, 16);
				if (end != hex + 2)
					return -1;
				s += 2;
				break;
			}
			default:
				c = *s;
				break;
			}
		}
		out[n++] = c;
	}
	return (long)n;
}

static void print_escaped(const char *p, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c == '\\')
			fputs("\\\\", stdout);
		else if (c == '\r')
			fputs("\\r", stdout);
		else if (c == '\n')
			fputs("\\n", stdout);
		else if (c < 0x20 || c >= 0x7f)
			printf("\\x%02x", c);
		else
			putchar(c);
	}
}

/* Reads what is there within @wait_ms (-1: until the deadline). False on the deadline. */
static bool read_some(int fd, int wait_ms)
{
	int left = timeout_ms - (int)(now_ms() - t0);
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	ssize_t n;

	if (left <= 0)
		return false;
	if (wait_ms >= 0 && wait_ms < left)
		left = wait_ms;
	if (peer_closed || poll(&pfd, 1, left) <= 0)
		return false;
	n = recv(fd, recvd + recvd_len, RECV_MAX - recvd_len, 0);
	if (n <= 0)
		peer_closed = true; /* EOF, or a reset */
	else
		recvd_len += (size_t)n;
	return true;
}

static bool send_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

static bool step_wait(int fd, const char *text, size_t len)
{
	while (!memmem(recvd, recvd_len, text, len))
		if (!read_some(fd, -1) || (peer_closed && !memmem(recvd, recvd_len, text, len)))
			return false;
	return true;
}

static bool step_slow(int fd, unsigned ms, const char *text, size_t len, size_t *sent)
{
	for (*sent = 0; *sent < len; (*sent)++) {
		if (send(fd, text + *sent, 1, MSG_NOSIGNAL) != 1)
			return true; /* the peer is gone: it answered, or closed */
		if (read_some(fd, (int)ms) && (recvd_len || peer_closed)) {
			(*sent)++;
			return true; /* answered (or closed) before the text was all out */
		}
	}
	return true;
}

/* Runs one step; prints its line. False when it failed. */
static bool run_step(int fd, int i, const char *step)
{
	static char text[TEXT_MAX];
	const char *kind = step;
	size_t sent = 0;
	long len = 0;
	bool ok = false;

	if (!strncmp(step, "send:", 5)) {
		kind = "send";
		len = unescape(step + 5, text);
		ok = len >= 0 && send_all(fd, text, (size_t)len);
	} else if (!strncmp(step, "slow:", 5)) {
		char *colon;
		unsigned long ms = strtoul(step + 5, &colon, 10);

		kind = "slow";
		if (*colon == ':' && (len = unescape(colon + 1, text)) >= 0)
			ok = step_slow(fd, (unsigned)ms, text, (size_t)len, &sent);
	} else if (!strncmp(step, "wait:", 5)) {
		kind = "wait";
		len = unescape(step + 5, text);
		ok = len > 0 && step_wait(fd, text, (size_t)len);
	} else if (!strcmp(step, "shut")) {
		ok = !shutdown(fd, SHUT_WR);
	} else if (!strcmp(step, "eof")) {
		while (!peer_closed && read_some(fd, -1))
			;
		ok = peer_closed;
	} else if (!strncmp(step, "sleep:", 6)) {
		struct timespec ts;
		unsigned long ms = strtoul(step + 6, NULL, 10);

		kind = "sleep";
		ts.tv_sec = (time_t)(ms / 1000);
		ts.tv_nsec = (long)(ms % 1000) * 1000000;
		ok = !nanosleep(&ts, NULL);
	} else {
		fprintf(stderr, "shunt-raw: unknown step %s\n", step);
		exit(EXIT_USAGE);
	}
	printf("step %d %s %s ms=%llu", i, kind, ok ? "ok" : "FAILED",
	       (unsigned long long)(now_ms() - t0));
	if (!strcmp(kind, "slow"))
		printf(" sent=%zu of %ld", sent, len);
	putchar('\n');
	return ok;
}

static int client(const struct sockaddr_in *a, int nsteps, char **steps)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), rc = 0;

	if (fd < 0 || connect(fd, (const struct sockaddr *)a, sizeof(*a))) {
		fprintf(stderr, "connect: %s\n", strerror(errno));
		return EXIT_CONNECT;
	}
	t0 = now_ms();
	for (int i = 0; i < nsteps; i++)
		if (!run_step(fd, i + 1, steps[i])) {
			rc = EXIT_OTHER;
			break;
		}
	fputs("recv=", stdout);
	print_escaped(recvd, recvd_len);
	putchar('\n');
	close(fd);
	return rc;
}

/* Sec-WebSocket-Accept for @key (RFC 6455 4.2.2) into @out (29 bytes). */
static void ws_accept(const char *key, size_t key_len, char out[29])
{
	static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
	unsigned char md[SHA_DIGEST_LENGTH];
	char buf[128];

	if (key_len > sizeof(buf) - sizeof(guid))
		key_len = sizeof(buf) - sizeof(guid);
	memcpy(buf, key, key_len);
	memcpy(buf + key_len, guid, sizeof(guid) - 1);
	SHA1((const unsigned char *)buf, key_len + sizeof(guid) - 1, md);
	EVP_EncodeBlock((unsigned char *)out, md, SHA_DIGEST_LENGTH);
}

/* The value of header @name in the head @head (@len bytes), or NULL; its length in *@n. */
static const char *head_value(const char *head, size_t len, const char *name, size_t *n)
{
	size_t nl = strlen(name);

	for (const char *p = head, *end = head + len; p < end;) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));

		if (!eol)
			break;
		if ((size_t)(eol - p) > nl && !strncasecmp(p, name, nl) && p[nl] == ':') {
			const char *v = p + nl + 1, *ve = eol;

			while (v < ve && (*v == ' ' || *v == '\t'))
				v++;
			while (ve > v && (ve[-1] == '\r' || ve[-1] == ' '))
				ve--;
			*n = (size_t)(ve - v);
			return v;
		}
		p = eol + 1;
	}
	return NULL;
}

static void serve_upgrade(int fd)
{
	char buf[16384], rsp[256], accept_key[29] = "";
	size_t have = 0, echoed = 0, key_len = 0;
	const char *end = NULL, *key;
	ssize_t n;
	int len;

	while (!end && have < sizeof(buf)) {
		n = recv(fd, buf + have, sizeof(buf) - have, 0);
		if (n <= 0)
			return;
		have += (size_t)n;
		end = memmem(buf, have, "\r\n\r\n", 4);
	}
	if (!end)
		return;
	end += 4;
	key = head_value(buf, (size_t)(end - buf), "sec-websocket-key", &key_len);
	if (key)
		ws_accept(key, key_len, accept_key);
	len = snprintf(rsp, sizeof(rsp),
		       "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
		       "Connection: Upgrade\r\n%s%s%s\r\n",
		       key ? "Sec-WebSocket-Accept: " : "", accept_key, key ? "\r\n" : "");
	if (send(fd, rsp, (size_t)len, MSG_NOSIGNAL) != len)
		return;
	/* What came after the head is the tunnel's already. */
	if (end < buf + have && send(fd, end, (size_t)(buf + have - end), MSG_NOSIGNAL) < 0)
		return;
	echoed = (size_t)(buf + have - end);
	while ((n = recv(fd, buf, sizeof(buf), 0)) > 0) {
		if (send(fd, buf, (size_t)n, MSG_NOSIGNAL) != n)
			return;
		echoed += (size_t)n;
	}
	if (n == 0 && send(fd, "bye", 3, MSG_NOSIGNAL) == 3)
		printf("tunnel echoed=%zu then bye\n", echoed);
	fflush(stdout);
}

static int server(const struct sockaddr_in *a)
{
	int one = 1, lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
	char ip[INET_ADDRSTRLEN];

	if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(lfd, (const struct sockaddr *)a, sizeof(*a)) || listen(lfd, 16)) {
		fprintf(stderr, "shunt-raw: listen: %s\n", strerror(errno));
		return EXIT_OTHER;
	}
	printf("listening on %s:%u\n", inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip)),
	       ntohs(a->sin_port));
	fflush(stdout);
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EINTR)
				continue;
			return EXIT_OTHER;
		}
		/* A stuck peer cannot hold the server beyond the timeout. */
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		serve_upgrade(fd);
		close(fd);
	}
}

static void usage(FILE *f)
{
	fputs("usage: shunt-raw --connect IP:PORT [--timeout-ms MS] STEP...\n"
	      "       shunt-raw --listen IP:PORT --upgrade-echo [--timeout-ms MS]\n"
	      "steps: send:TEXT slow:MS:TEXT wait:TEXT shut eof sleep:MS\n",
	      f);
}

int main(int argc, char **argv)
{
	struct sockaddr_in a;
	const char *connect_to = NULL, *listen_on = NULL;
	bool upgrade_echo = false;
	int i = 1;

	signal(SIGPIPE, SIG_IGN);
	for (; i < argc && !strncmp(argv[i], "--", 2); i++) {
		if (!strcmp(argv[i], "--connect") && i + 1 < argc)
			connect_to = argv[++i];
		else if (!strcmp(argv[i], "--listen") && i + 1 < argc)
			listen_on = argv[++i];
		else if (!strcmp(argv[i], "--upgrade-echo"))
			upgrade_echo = true;
		else if (!strcmp(argv[i], "--timeout-ms") && i + 1 < argc)
			timeout_ms = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--help")) {
			usage(stdout);
			return 0;
		} else {
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (timeout_ms <= 0 || (!connect_to == !listen_on) || (listen_on && !upgrade_echo) ||
	    parse_addr(connect_to ? connect_to : listen_on, &a)) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (listen_on)
		return server(&a);
	recvd = malloc(RECV_MAX);
	if (!recvd)
		return EXIT_OTHER;
	return client(&a, argc - i, argv + i);
}
