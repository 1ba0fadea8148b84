// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "loop.h"

#define LOOP_MAX_EVENTS 256 /* events taken from one epoll_wait() */

/*
 * One registered fd. epoll hands back a pointer to it rather than the fd, so
 * that an event collected before loop_del() can be recognised as stale (dead)
 * even when the fd number was reused in the same batch.
 */
struct loop_io {
	int fd;
	uint32_t events; /* what epoll watches now */
	bool dead;	 /* loop_del()ed; freed after the batch */
	loop_fn fn;
	void *arg;
	struct loop_io *next_dead;
};

struct loop_deferred {
	void (*fn)(void *arg); /* NULL: cancelled */
	void *arg;
};

struct loop_post {
	void (*fn)(void *arg);
	void *arg;
	struct loop_post *next;
};

struct loop {
	int epfd;
	int wake_fd; /* eventfd written by loop_stop() and loop_post() */
	bool stop;   /* set by loop_stop(), any thread: accessed atomically */
	uint64_t now_ms;

	struct loop_io **ios; /* indexed by fd */
	int n_ios;	      /* slots in ios */
	struct loop_io *dead; /* registrations to free after the batch */

	struct loop_timer **heap; /* min-heap on expires */
	uint32_t n_timers, cap_timers;

	struct loop_deferred *defers;
	size_t n_defers, cap_defers;

	pthread_mutex_t post_lock;	       /* posts, from any thread */
	struct loop_post *posts, **posts_tail; /* in the order posted */
};

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Takes the posted calls and runs them, in the order posted. */
static void run_posts(struct loop *loop)
{
	struct loop_post *p;

	pthread_mutex_lock(&loop->post_lock);
	p = loop->posts;
	loop->posts = NULL;
	loop->posts_tail = &loop->posts;
	pthread_mutex_unlock(&loop->post_lock);
	while (p) {
		struct loop_post *next = p->next;

		p->fn(p->arg);
		free(p);
		p = next;
	}
}

static void on_wake(struct loop *loop, int fd, uint32_t events, void *arg)
{
	uint64_t v;

	/* The counter only wakes epoll_wait; loop->stop and the post list carry the requests. */
	while (read(fd, &v, sizeof(v)) == (ssize_t)sizeof(v))
		;
	run_posts(loop);
}

int loop_post(struct loop *loop, void (*fn)(void *arg), void *arg)
{
	struct loop_post *p = malloc(sizeof(*p));
	uint64_t one = 1;

	if (!p)
		return -ENOMEM;
	p->fn = fn;
	p->arg = arg;
	p->next = NULL;
	pthread_mutex_lock(&loop->post_lock);
	*loop->posts_tail = p;
	loop->posts_tail = &p->next;
	pthread_mutex_unlock(&loop->post_lock);
	/* EAGAIN means the counter is already non-zero: the loop is being woken anyway. */
	(void)!write(loop->wake_fd, &one, sizeof(one));
	return 0;
}

struct loop *loop_new(void)
{
	struct loop *loop;
	int err;

	loop = calloc(1, sizeof(*loop));
	if (!loop)
		return NULL;
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->epfd < 0) {
		err = errno;
		goto free_loop;
	}
	loop->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (loop->wake_fd < 0) {
		err = errno;
		goto close_epfd;
	}
	err = -loop_add(loop, loop->wake_fd, EPOLLIN, on_wake, NULL);
	if (err)
		goto close_wake;
	loop->now_ms = mono_ms();
	pthread_mutex_init(&loop->post_lock, NULL);
	loop->posts_tail = &loop->posts;
	return loop;

close_wake:
	close(loop->wake_fd);
close_epfd:
	close(loop->epfd);
free_loop:
	free(loop->ios);
	free(loop);
	errno = err;
	return NULL;
}

static void free_dead(struct loop *loop)
{
	while (loop->dead) {
		struct loop_io *io = loop->dead;

		loop->dead = io->next_dead;
		free(io);
	}
}

/* Runs the deferred calls, including those deferred by a deferred call. */
static void run_defers(struct loop *loop)
{
	for (size_t i = 0; i < loop->n_defers; i++) {
		struct loop_deferred d = loop->defers[i];

		if (d.fn)
			d.fn(d.arg);
	}
	loop->n_defers = 0;
}

void loop_free(struct loop *loop)
{
	if (!loop)
		return;
	run_posts(loop); /* what was handed over is the loop's to finish */
	run_defers(loop);
	for (int fd = 0; fd < loop->n_ios; fd++)
		free(loop->ios[fd]);
	free_dead(loop);
	close(loop->wake_fd);
	close(loop->epfd);
	free(loop->ios);
	free(loop->heap);
	free(loop->defers);
	pthread_mutex_destroy(&loop->post_lock);
	free(loop);
}

static struct loop_io *io_get(const struct loop *loop, int fd)
{
	if (fd < 0 || fd >= loop->n_ios)
		return NULL;
	return loop->ios[fd];
}

/* Makes room for ios[fd]. 0 or -ENOMEM. */
static int ios_reserve(struct loop *loop, int fd)
{
	struct loop_io **ios;
	int n = loop->n_ios ? loop->n_ios : 64;

	if (fd < loop->n_ios)
		return 0;
	while (n <= fd)
		n *= 2;
	ios = realloc(loop->ios, (size_t)n * sizeof(*ios));
	if (!ios)
		return -ENOMEM;
	memset(ios + loop->n_ios, 0, (size_t)(n - loop->n_ios) * sizeof(*ios));
	loop->ios = ios;
	loop->n_ios = n;
	return 0;
}

int loop_add(struct loop *loop, int fd, uint32_t events, loop_fn fn, void *arg)
{
	struct epoll_event ev = {.events = events};
	struct loop_io *io;
	int err;

	if (fd < 0)
		return -EBADF;
	if (io_get(loop, fd))
		return -EEXIST;
	err = ios_reserve(loop, fd);
	if (err)
		return err;
	io = calloc(1, sizeof(*io));
	if (!io)
		return -ENOMEM;
	io->fd = fd;
	io->events = events;
	io->fn = fn;
	io->arg = arg;
	ev.data.ptr = io;
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev)) {
		err = -errno;
		free(io);
		return err;
	}
	loop->ios[fd] = io;
	return 0;
}

int loop_mod(struct loop *loop, int fd, uint32_t events)
{
	struct loop_io *io = io_get(loop, fd);
	struct epoll_event ev = {.events = events};

	if (!io)
		return -ENOENT;
	if (io->events == events)
		return 0;
	ev.data.ptr = io;
	if (epoll_ctl(loop->epfd, EPOLL_CTL_MOD, fd, &ev))
		return -errno;
	io->events = events;
	return 0;
}

int loop_del(struct loop *loop, int fd)
{
	struct loop_io *io = io_get(loop, fd);

	if (!io)
		return -ENOENT;
	/* Fails only if the caller closed the fd first, which removed it already. */
	(void)epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
	loop->ios[fd] = NULL;
	io->dead = true;
	io->next_dead = loop->dead;
	loop->dead = io;
	return 0;
}

uint64_t loop_now_ms(const struct loop *loop)
{
	return loop->now_ms;
}

/* Heap helpers: slot is 1 + index, so that a zeroed timer reads as disarmed. */
static void heap_set(struct loop *loop, uint32_t i, struct loop_timer *t)
{
	loop->heap[i] = t;
	t->slot = i + 1;
}

static void heap_up(struct loop *loop, uint32_t i)
{
	struct loop_timer *t = loop->heap[i];

	while (i > 0) {
		uint32_t parent = (i - 1) / 2;

		if (loop->heap[parent]->expires <= t->expires)
			break;
		heap_set(loop, i, loop->heap[parent]);
		i = parent;
	}
	heap_set(loop, i, t);
}

static void heap_down(struct loop *loop, uint32_t i)
{
	struct loop_timer *t = loop->heap[i];

	for (;;) {
		uint32_t child = 2 * i + 1;

		if (child >= loop->n_timers)
			break;
		if (child + 1 < loop->n_timers &&
		    loop->heap[child + 1]->expires < loop->heap[child]->expires)
			child++;
		if (t->expires <= loop->heap[child]->expires)
			break;
		heap_set(loop, i, loop->heap[child]);
		i = child;
	}
	heap_set(loop, i, t);
}

static void heap_remove(struct loop *loop, struct loop_timer *t)
{
	uint32_t i = t->slot - 1;
	struct loop_timer *last = loop->heap[--loop->n_timers];

	t->slot = 0;
	if (last == t)
		return;
	heap_set(loop, i, last);
	heap_down(loop, i);
	heap_up(loop, last->slot - 1);
}

int loop_timer_arm(struct loop *loop, struct loop_timer *t, uint64_t delay_ms, loop_timer_fn fn,
		   void *arg)
{
	if (!t->slot && loop->n_timers == loop->cap_timers) {
		uint32_t cap = loop->cap_timers ? loop->cap_timers * 2 : 64;
		struct loop_timer **heap = realloc(loop->heap, cap * sizeof(*heap));

		if (!heap)
			return -ENOMEM;
		loop->heap = heap;
		loop->cap_timers = cap;
	}
	if (t->slot)
		heap_remove(loop, t);
	t->expires = loop->now_ms + delay_ms;
	t->fn = fn;
	t->arg = arg;
	loop->heap[loop->n_timers] = t;
	heap_up(loop, loop->n_timers++);
	return 0;
}

void loop_timer_cancel(struct loop *loop, struct loop_timer *t)
{
	if (t->slot)
		heap_remove(loop, t);
}

/*
 * Fires the timers due now. A timer re-armed with no delay from its own
 * handler waits for the next batch: only as many timers fire as were armed
 * when the pass began.
 */
static void run_timers(struct loop *loop)
{
	uint32_t budget = loop->n_timers;

	while (budget-- && loop->n_timers && loop->heap[0]->expires <= loop->now_ms) {
		struct loop_timer *t = loop->heap[0];

		heap_remove(loop, t);
		t->fn(loop, t, t->arg);
	}
}

int loop_defer(struct loop *loop, void (*fn)(void *arg), void *arg)
{
	if (loop->n_defers == loop->cap_defers) {
		size_t cap = loop->cap_defers ? loop->cap_defers * 2 : 32;
		struct loop_deferred *d = realloc(loop->defers, cap * sizeof(*d));

		if (!d)
			return -ENOMEM;
		loop->defers = d;
		loop->cap_defers = cap;
	}
	loop->defers[loop->n_defers].fn = fn;
	loop->defers[loop->n_defers].arg = arg;
	loop->n_defers++;
	return 0;
}

void loop_defer_cancel(struct loop *loop, void (*fn)(void *arg), void *arg)
{
	for (size_t i = 0; i < loop->n_defers; i++) {
		if (loop->defers[i].fn == fn && loop->defers[i].arg == arg)
			loop->defers[i].fn = NULL;
	}
}

/* How long epoll_wait() may sleep: until the first timer, 0 if work is pending. */
static int wait_timeout(const struct loop *loop)
{
	uint64_t expires;

	if (loop->n_defers)
		return 0;
	if (!loop->n_timers)
		return -1;
	expires = loop->heap[0]->expires;
	if (expires <= loop->now_ms)
		return 0;
	if (expires - loop->now_ms > 1000000)
		return 1000000;
	return (int)(expires - loop->now_ms);
}

static void dispatch(struct loop *loop, const struct epoll_event *evs, int n)
{
	for (int i = 0; i < n; i++) {
		struct loop_io *io = evs[i].data.ptr;

		if (!io->dead)
			io->fn(loop, io->fd, evs[i].events, io->arg);
	}
}

int loop_run(struct loop *loop)
{
	struct epoll_event evs[LOOP_MAX_EVENTS];
	int n, err = 0;

	while (!__atomic_load_n(&loop->stop, __ATOMIC_ACQUIRE)) {
		n = epoll_wait(loop->epfd, evs, LOOP_MAX_EVENTS, wait_timeout(loop));
		if (n < 0 && errno != EINTR) {
			err = -errno;
			break;
		}
		loop->now_ms = mono_ms();
		if (n > 0)
			dispatch(loop, evs, n);
		run_timers(loop);
		run_defers(loop);
		free_dead(loop);
	}
	__atomic_store_n(&loop->stop, false, __ATOMIC_RELEASE);
	return err;
}

void loop_stop(struct loop *loop)
{
	uint64_t one = 1;

	__atomic_store_n(&loop->stop, true, __ATOMIC_RELEASE);
	/* EAGAIN means the counter is already non-zero: the loop is being woken anyway. */
	(void)!write(loop->wake_fd, &one, sizeof(one));
}
