/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The admin API: a tiny HTTP/1.1 server on its own address (127.0.0.1:15000
 * by default, like Envoy's), served from the main thread's event loop.
 * One request per connection; never on the data path. Answers of any size
 * are written as the client takes them.
 */
#ifndef SHUNT_ADMIN_H
#define SHUNT_ADMIN_H

#include <stdbool.h>
#include <netinet/in.h>

struct loop;
struct admin;

/*
 * What the admin API reports. Callbacks run on the admin loop's thread;
 * stats() appends text to @buf (at most @len bytes) and returns the length.
 */
struct admin_ops {
	bool (*ready)(void *ctx);
	int (*stats)(void *ctx, char *buf, size_t len);
	void *ctx;
};

/* One request, as a handler sees it. */
struct admin_req {
	const char *method; /* "GET", "HEAD" or "POST" */
	const char *path;   /* without the query */
	const char *query;  /* after '?', still percent-encoded; "" when none */
};

/*
 * A handler's answer: status 200 and text/plain unless it says otherwise,
 * and a body that grows as it is written (admin_printf).
 */
struct admin_resp {
	int status;
	const char *content_type;
	char *body;
	size_t len, cap;
	bool oom; /* a write did not fit in memory: the answer becomes a 500 */
};

typedef void (*admin_handler)(void *ctx, const struct admin_req *req, struct admin_resp *resp);

/* Appends to the body. */
void admin_printf(struct admin_resp *resp, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void admin_write(struct admin_resp *resp, const char *data, size_t len);
/* Appends @s as a JSON string, quotes included. NULL becomes null. */
void admin_json_str(struct admin_resp *resp, const char *s);
/* Sets the status and a one-line text body (the previous body is dropped). */
void admin_error(struct admin_resp *resp, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * The value of @key in @query, percent-decoded into @out (at most @len bytes
 * with the NUL). True when present; a key without '=' has the value "".
 */
bool admin_query_get(const char *query, const char *key, char *out, size_t len);

/* Binds @addr and serves on @loop. Stores the server in *@out; 0 or -errno. */
int admin_new(struct loop *loop, const struct sockaddr_in *addr, const struct admin_ops *ops,
	      struct admin **out);

/*
 * Serves @path (exact match) with @fn; @help is one line for the index at
 * "/". Up to ADMIN_HANDLERS_MAX paths. 0, -ENOSPC or -EEXIST.
 */
#define ADMIN_HANDLERS_MAX 32
int admin_handle(struct admin *adm, const char *path, const char *help, admin_handler fn,
		 void *ctx);

/* The listening socket (to learn the port bound for a port-0 address). */
int admin_listen_fd(const struct admin *adm);

/* Closes the listener and every admin connection. NULL is fine. */
void admin_free(struct admin *adm);

#endif /* SHUNT_ADMIN_H */
