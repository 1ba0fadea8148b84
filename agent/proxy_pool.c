// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Upstream connections of the proxy: non-blocking connect and the per-proxy idle pool. */
#include <errno.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "proxy_int.h"

void px_up_close(struct upconn *up)
{
	struct proxy *px = up->px;

	if (up->state == UP_CLOSED)
		return;
	if (up->state == UP_IDLE) {
		dlist_del(&up->bucket);
		dlist_del(&up->lru);
		px->n_idle--;
		STAT_DEC(px, upstream_idle);
	}
	loop_timer_cancel(px->loop, &up->timer);
	loop_del(px->loop, up->fd);
	close(up->fd);
	up->state = UP_CLOSED;
	up->s = NULL;
	STAT_DEC(px, upstream_active);
	up->next_dead = px->dead_ups;
	px->dead_ups = up;
	px_schedule_reap(px);
}

static unsigned pool_hash(const struct sockaddr_in *ep)
{
	uint32_t h = (ep->sin_addr.s_addr ^ ((uint32_t)ep->sin_port << 16)) * 2654435761u;

	return (h >> 20) % POOL_BUCKETS;
}

/* The most recently pooled connection to @ep, taken out of the pool; NULL if none. */
struct upconn *px_pool_take(struct proxy *px, const struct sockaddr_in *ep)
{
	struct dlist *h = &px->pool[pool_hash(ep)];

	for (struct dlist *n = h->next; n != h; n = n->next) {
		struct upconn *up = container_of(n, struct upconn, bucket);

		if (up->ep.sin_addr.s_addr != ep->sin_addr.s_addr ||
		    up->ep.sin_port != ep->sin_port)
			continue;
		dlist_del(&up->bucket);
		dlist_del(&up->lru);
		px->n_idle--;
		STAT_DEC(px, upstream_idle);
		loop_timer_cancel(px->loop, &up->timer);
		up->state = UP_BUSY;
		return up;
	}
	return NULL;
}

static void on_pool_idle_timeout(struct loop *loop, struct loop_timer *t, void *arg)
{
	px_up_close(arg);
}

/* Parks @up, which finished an exchange cleanly; the least recently used goes if the pool is full.
 */
void px_pool_put(struct proxy *px, struct upconn *up)
{
	if (px->n_idle >= px->ops.pool_max_idle)
		px_up_close(container_of(px->pool_lru.prev, struct upconn, lru));
	up->s = NULL;
	up->state = UP_IDLE;
	dlist_add(&px->pool[pool_hash(&up->ep)], &up->bucket);
	dlist_add(&px->pool_lru, &up->lru);
	px->n_idle++;
	STAT_INC(px, upstream_idle);
	/* Any event on an idle connection (bytes, FIN, RST) means it cannot carry a request. */
	uint32_t idle = up->idle_timeout_ms ? up->idle_timeout_ms : px->ops.pool_idle_timeout_ms;

	if (loop_mod(px->loop, up->fd, EPOLLIN | EPOLLRDHUP) ||
	    (idle && loop_timer_arm(px->loop, &up->timer, idle, on_pool_idle_timeout, up)))
		px_up_close(up);
}

/* Starts a non-blocking connect to s->ep, marked so that the kernel never captures it. */
int px_up_connect(struct session *s)
{
	struct proxy *px = s->px;
	struct upconn *up;
	int fd, one = 1, err;

	up = calloc(1, sizeof(*up));
	if (!up)
		return -ENOMEM;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		err = -errno;
		goto free_up;
	}
	if (px->ops.upstream_mark && setsockopt(fd, SOL_SOCKET, SO_MARK, &px->ops.upstream_mark,
						sizeof(px->ops.upstream_mark))) {
		err = -errno;
		log_every(LOG_WARN, LOG_EVERY_MS,
			  "proxy: cannot set SO_MARK 0x%x on an upstream socket: %s",
			  px->ops.upstream_mark, strerror(-err));
		goto close_fd;
	}
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one))) {
		err = -errno;
		goto close_fd;
	}
	if (connect(fd, (const struct sockaddr *)&s->ep, sizeof(s->ep)) && errno != EINPROGRESS) {
		err = -errno;
		goto close_fd;
	}
	up->px = px;
	up->s = s;
	up->fd = fd;
	up->ep = s->ep;
	up->state = UP_CONNECTING;
	dlist_init(&up->bucket);
	dlist_init(&up->lru);
	err = loop_add(px->loop, fd, EPOLLOUT, px_on_upstream, up);
	if (err)
		goto close_fd;
	err = loop_timer_arm(px->loop, &up->timer,
			     s->pick.connect_timeout_ms ? s->pick.connect_timeout_ms
							: px->ops.connect_timeout_ms,
			     px_on_connect_timeout, up);
	if (err)
		goto del_fd;
	s->up = up;
	up->n_requests = 1;
	STAT_INC(px, upstream_connects);
	STAT_INC(px, upstream_active);
	return 0;

del_fd:
	loop_del(px->loop, fd);
close_fd:
	close(fd);
free_up:
	free(up);
	return err;
}
