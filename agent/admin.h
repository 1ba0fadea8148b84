/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The admin API: a tiny HTTP/1.1 server on its own address (127.0.0.1:15000
 * by default, like Envoy's), served from the main thread's event loop.
 * One request per connection; never on the data path.
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

/* Binds @addr and serves on @loop. Stores the server in *@out; 0 or -errno. */
int admin_new(struct loop *loop, const struct sockaddr_in *addr, const struct admin_ops *ops,
	      struct admin **out);

/* The listening socket (to learn the port bound for a port-0 address). */
int admin_listen_fd(const struct admin *adm);

/* Closes the listener and every admin connection. NULL is fine. */
void admin_free(struct admin *adm);

#endif /* SHUNT_ADMIN_H */
