// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"
#include "kern.h"
#include "log.h"
#include "loop.h"
#include "proxy.h"
#include "snapshot.h"
#include "worker.h"

struct worker {
	struct worker_opts opts;
	int listen_fd;
	struct loop *loop;
	struct proxy *proxy;
	pthread_t thread;
	bool started;

	struct snapshot *snap; /* the snapshot this worker routes with; a reference */
	uint32_t *rr;	       /* next endpoint per service port, indexed by snapshot port_base */
};

static int listen_socket(const struct sockaddr_in *addr)
{
	int fd, one = 1, err;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)))
		goto fail;
	if (bind(fd, (const struct sockaddr *)addr, sizeof(*addr)))
		goto fail;
	if (listen(fd, 4096))
		goto fail;
	return fd;
fail:
	err = -errno;
	close(fd);
	return err;
}

/* Moves the worker to the current snapshot if a newer one was published. */
static int worker_refresh(struct worker *w)
{
	struct snapshot *snap;
	uint32_t *rr;

	if (w->snap && w->snap->generation == snapshot_generation(w->opts.store))
		return 0;
	snap = snapshot_acquire(w->opts.store);
	if (!snap)
		return -ENOENT;
	rr = calloc(snap->n_ports + 1, sizeof(*rr));
	if (!rr) {
		snapshot_release(snap);
		return -ENOMEM;
	}
	snapshot_release(w->snap);
	free(w->rr);
	w->snap = snap;
	w->rr = rr;
	return 0;
}

static int worker_orig_dst(void *ctx, int fd, const struct sockaddr_in *peer,
			   const struct sockaddr_in *local, struct sockaddr_in *orig)
{
	struct worker *w = ctx;
	struct orig4 o;
	int err;

	err = kern_orig_dst(w->opts.kern, peer, local, &o);
	if (err)
		return err;
	memset(orig, 0, sizeof(*orig));
	orig->sin_family = AF_INET;
	orig->sin_addr.s_addr = o.ip;
	orig->sin_port = o.port;
	return 0;
}

/* Round robin over the ready endpoints of the service port @orig names. */
static int worker_pick(void *ctx, const struct sockaddr_in *peer, const struct sockaddr_in *orig,
		       const struct http_req *req, struct proxy_pick *out)
{
	const struct svc_port *sp;
	const struct service *svc;
	struct worker *w = ctx;
	const struct endpoint *e;
	size_t slot;
	int err;

	err = worker_refresh(w);
	if (err)
		return err;
	sp = config_find_vip(w->snap->cfg, orig->sin_addr, orig->sin_port, IPPROTO_TCP, &svc);
	if (!sp) {
		out->status = 404; /* Envoy: no route, empty body */
		out->flags = "NR";
		return 0;
	}
	if (!sp->n_ready) {
		out->status = 503;
		out->body = "no healthy upstream";
		out->flags = "UH";
		return 0;
	}

	slot = w->snap->port_base[svc - w->snap->cfg->services] + (size_t)(sp - svc->ports);
	e = &sp->eps[w->rr[slot]++ % sp->n_ready];
	out->ep.sin_family = AF_INET;
	out->ep.sin_addr = e->ip;
	out->ep.sin_port = htons(e->port);
	return 0;
}

int worker_new(const struct worker_opts *opts, struct worker **out)
{
	struct proxy_ops ops = {
		.orig_dst = worker_orig_dst,
		.pick = worker_pick,
		.upstream_mark = opts->mark,
	};
	char addr[INET_ADDRSTRLEN];
	struct worker *w;
	int err;

	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->opts = *opts;
	ops.ctx = w;

	w->listen_fd = listen_socket(&opts->listen);
	if (w->listen_fd < 0) {
		err = w->listen_fd;
		log_error("worker %u: cannot listen on %s:%u: %s", opts->id,
			  inet_ntop(AF_INET, &opts->listen.sin_addr, addr, sizeof(addr)),
			  ntohs(opts->listen.sin_port), strerror(-err));
		goto free_worker;
	}
	w->loop = loop_new();
	if (!w->loop) {
		err = -errno;
		goto close_fd;
	}
	w->proxy = proxy_new(w->loop, w->listen_fd, &ops);
	if (!w->proxy) {
		err = -errno ? -errno : -ENOMEM;
		goto free_loop;
	}
	*out = w;
	return 0;

free_loop:
	loop_free(w->loop);
close_fd:
	close(w->listen_fd);
free_worker:
	free(w);
	return err;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	int err;

	err = loop_run(w->loop);
	if (err)
		log_error("worker %u: event loop failed: %s", w->opts.id, strerror(-err));
	return NULL;
}

int worker_start(struct worker *w)
{
	int err;

	err = pthread_create(&w->thread, NULL, worker_main, w);
	if (err)
		return -err;
	w->started = true;
	return 0;
}

void worker_free(struct worker *w)
{
	if (!w)
		return;
	if (w->started) {
		loop_stop(w->loop);
		pthread_join(w->thread, NULL);
	}
	proxy_free(w->proxy);
	loop_free(w->loop);
	close(w->listen_fd);
	snapshot_release(w->snap);
	free(w->rr);
	free(w);
}

void worker_stats(struct worker *w, struct proxy_stats *out)
{
	proxy_get_stats(w->proxy, out);
}
