// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* shuntctl's HTTP client for the admin API: one request per connection, as the server serves. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "addr.h"
#include "ctl.h"

#define CTL_HTTP_TIMEOUT_S 5
#define CTL_HTTP_MAX	   (64u << 20) /* the admin API's own limit */

void ctl_url_encode(char *out, size_t cap, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(out);

	for (; *s && n + 4 <= cap; s++) {
		unsigned char ch = (unsigned char)*s;

		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || strchr("-._~/", ch)) {
			out[n++] = (char)ch;
		} else {
			out[n++] = '%';
			out[n++] = hex[ch >> 4];
			out[n++] = hex[ch & 15];
		}
	}
	out[n] = '\0';
}

/* Connects to @addr with the timeouts set: the fd, or -errno. */
static int dial(const char *addr)
{
	struct timeval tv = {.tv_sec = CTL_HTTP_TIMEOUT_S};
	struct sockaddr_in sa;
	int fd, err;

	if (addr_parse_ipv4_port(addr, &sa))
		return -EINVAL;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* SO_SNDTIMEO bounds connect() too */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) ||
	    connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

/* Reads until the server closes: the whole answer in *@buf (NUL-terminated). 0 or -errno. */
static int read_all(int fd, char **buf, size_t *len)
{
	size_t cap = 8192;
	char *p = malloc(cap), *q;
	ssize_t n;

	*len = 0;
	while (p) {
		if (*len + 1 >= cap) {
			q = cap < CTL_HTTP_MAX ? realloc(p, cap * 2) : NULL;
			if (!q)
				break;
			p = q;
			cap *= 2;
		}
		n = recv(fd, p + *len, cap - *len - 1, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			free(p);
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		}
		if (!n) {
			p[*len] = '\0';
			*buf = p;
			return 0;
		}
		*len += (size_t)n;
	}
	free(p);
	return -ENOMEM;
}

int ctl_http(const char *addr, const char *method, const char *target, int *status, char **body,
	     size_t *len)
{
	char req[4096], *all = NULL, *head_end;
	size_t all_len = 0;
	int fd, n, err;

	n = snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n",
		     method, target, addr);
	if (n < 0 || (size_t)n >= sizeof(req))
		return -E2BIG;
	fd = dial(addr);
	if (fd < 0)
		return fd;
	err = send(fd, req, (size_t)n, MSG_NOSIGNAL) == n ? read_all(fd, &all, &all_len) : -errno;
	close(fd);
	if (err)
		return err;
	head_end = strstr(all, "\r\n\r\n");
	if (!head_end || sscanf(all, "HTTP/1.%*d %d", status) != 1) {
		free(all);
		return -EBADMSG;
	}
	*len = all_len - (size_t)(head_end + 4 - all);
	memmove(all, head_end + 4, *len + 1);
	*body = all;
	return 0;
}
