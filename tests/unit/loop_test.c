// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The event loop: fd handlers, stale events after loop_del(), timers in
 * deadline order, deferred calls after the batch, loop_stop() from another
 * thread and before loop_run().
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "loop.h"

struct pipe_pair {
	int rd, wr;
};

static void make_pipe(struct pipe_pair *p)
{
	int fds[2];

	assert_int_equal(pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
	p->rd = fds[0];
	p->wr = fds[1];
}

static void close_pipe(struct pipe_pair *p)
{
	if (p->rd >= 0)
		close(p->rd);
	if (p->wr >= 0)
		close(p->wr);
}

/* Arms a timer that stops the loop: every loop_run() in these tests is bounded in time. */
static struct loop_timer guard;

static void on_guard(struct loop *loop, struct loop_timer *t, void *arg)
{
	*(bool *)arg = true;
	loop_stop(loop);
}

static bool guard_fired;

static void run_for_at_most(struct loop *loop, uint64_t ms)
{
	guard_fired = false;
	assert_int_equal(loop_timer_arm(loop, &guard, ms, on_guard, &guard_fired), 0);
	assert_int_equal(loop_run(loop), 0);
	loop_timer_cancel(loop, &guard);
}

static void run_bounded(struct loop *loop)
{
	run_for_at_most(loop, 2000);
}

struct read_ctx {
	int calls;
	char got[16];
};

static void on_readable(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct read_ctx *c = arg;
	ssize_t n;

	c->calls++;
	n = read(fd, c->got, sizeof(c->got) - 1);
	assert_true(n > 0);
	c->got[n] = '\0';
	loop_stop(loop);
}

static void handler_runs_when_fd_is_readable(void **state)
{
	struct loop *loop = loop_new();
	struct read_ctx c = {0};
	struct pipe_pair p;

	assert_non_null(loop);
	make_pipe(&p);
	assert_int_equal(loop_add(loop, p.rd, EPOLLIN, on_readable, &c), 0);
	assert_int_equal(write(p.wr, "hi", 2), 2);
	run_bounded(loop);
	assert_false(guard_fired);
	assert_int_equal(c.calls, 1);
	assert_string_equal(c.got, "hi");
	assert_int_equal(loop_del(loop, p.rd), 0);
	close_pipe(&p);
	loop_free(loop);
}

static void add_twice_mod_and_del_unknown(void **state)
{
	struct loop *loop = loop_new();
	struct read_ctx c = {0};
	struct pipe_pair p;

	make_pipe(&p);
	assert_int_equal(loop_add(loop, p.rd, EPOLLIN, on_readable, &c), 0);
	assert_int_equal(loop_add(loop, p.rd, EPOLLIN, on_readable, &c), -EEXIST);
	assert_int_equal(loop_mod(loop, p.rd, EPOLLIN), 0);
	assert_int_equal(loop_mod(loop, p.rd, 0), 0);
	assert_int_equal(loop_del(loop, p.rd), 0);
	assert_int_equal(loop_del(loop, p.rd), -ENOENT);
	assert_int_equal(loop_mod(loop, p.rd, EPOLLIN), -ENOENT);
	assert_int_equal(loop_add(loop, -1, EPOLLIN, on_readable, &c), -EBADF);
	close_pipe(&p);
	loop_free(loop);
}

/* Two readable pipes: whichever handler runs first deletes the other and reuses its fd number. */
struct stale_ctx {
	struct pipe_pair a, b, fresh;
	int calls, fresh_calls;
};

static void on_fresh(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct stale_ctx *c = arg;

	c->fresh_calls++;
}

static void on_stale_pipe(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct stale_ctx *c = arg;
	struct pipe_pair *other = fd == c->a.rd ? &c->b : &c->a;
	int old = other->rd;

	c->calls++;
	assert_int_equal(loop_del(loop, other->rd), 0);
	close(other->rd);
	other->rd = -1;
	/* The fd number is free again: a new registration may take it in the same batch. */
	make_pipe(&c->fresh);
	assert_int_equal(c->fresh.rd, old);
	assert_int_equal(loop_add(loop, c->fresh.rd, EPOLLIN, on_fresh, c), 0);
	assert_int_equal(loop_del(loop, fd), 0);
	loop_stop(loop);
}

static void deleted_fd_gets_no_stale_event(void **state)
{
	struct loop *loop = loop_new();
	struct stale_ctx c = {0};

	make_pipe(&c.a);
	make_pipe(&c.b);
	assert_int_equal(loop_add(loop, c.a.rd, EPOLLIN, on_stale_pipe, &c), 0);
	assert_int_equal(loop_add(loop, c.b.rd, EPOLLIN, on_stale_pipe, &c), 0);
	assert_int_equal(write(c.a.wr, "x", 1), 1);
	assert_int_equal(write(c.b.wr, "x", 1), 1);
	run_bounded(loop);
	assert_int_equal(c.calls, 1);
	assert_int_equal(c.fresh_calls, 0);
	loop_del(loop, c.fresh.rd);
	close_pipe(&c.a);
	close_pipe(&c.b);
	close_pipe(&c.fresh);
	loop_free(loop);
}

struct order_ctx {
	int seen[64];
	int n;
	int stop_after;
};

struct tagged_timer {
	struct loop_timer t;
	int tag;
	struct order_ctx *ctx;
};

static void on_tagged(struct loop *loop, struct loop_timer *t, void *arg)
{
	struct tagged_timer *tt = arg;

	tt->ctx->seen[tt->ctx->n++] = tt->tag;
	if (tt->ctx->n == tt->ctx->stop_after)
		loop_stop(loop);
}

static void timers_fire_in_deadline_order(void **state)
{
	struct loop *loop = loop_new();
	struct order_ctx c = {.stop_after = 3};
	struct tagged_timer t[4] = {{.tag = 30}, {.tag = 10}, {.tag = 20}, {.tag = 99}};

	for (int i = 0; i < 4; i++) {
		t[i].ctx = &c;
		assert_int_equal(
			loop_timer_arm(loop, &t[i].t, (uint64_t)t[i].tag, on_tagged, &t[i]), 0);
	}
	assert_true(loop_timer_armed(&t[3].t));
	loop_timer_cancel(loop, &t[3].t);
	assert_false(loop_timer_armed(&t[3].t));
	loop_timer_cancel(loop, &t[3].t); /* twice is fine */
	run_bounded(loop);
	assert_false(guard_fired);
	assert_int_equal(c.n, 3);
	assert_int_equal(c.seen[0], 10);
	assert_int_equal(c.seen[1], 20);
	assert_int_equal(c.seen[2], 30);
	loop_free(loop);
}

static void rearming_moves_a_timer(void **state)
{
	struct loop *loop = loop_new();
	struct order_ctx c = {.stop_after = 2};
	struct tagged_timer a = {.tag = 1, .ctx = &c}, b = {.tag = 2, .ctx = &c};

	assert_int_equal(loop_timer_arm(loop, &a.t, 5, on_tagged, &a), 0);
	assert_int_equal(loop_timer_arm(loop, &b.t, 20, on_tagged, &b), 0);
	assert_int_equal(loop_timer_arm(loop, &a.t, 40, on_tagged, &a), 0); /* now after b */
	run_bounded(loop);
	assert_int_equal(c.n, 2);
	assert_int_equal(c.seen[0], 2);
	assert_int_equal(c.seen[1], 1);
	loop_free(loop);
}

struct periodic {
	struct loop_timer t;
	int left;
	uint64_t first_ms, last_ms;
};

static void on_periodic(struct loop *loop, struct loop_timer *t, void *arg)
{
	struct periodic *p = arg;

	p->last_ms = loop_now_ms(loop);
	if (--p->left)
		assert_int_equal(loop_timer_arm(loop, t, 10, on_periodic, p), 0);
	else
		loop_stop(loop);
}

static void timer_rearmed_from_its_handler(void **state)
{
	struct loop *loop = loop_new();
	struct periodic p = {.left = 3};

	p.first_ms = loop_now_ms(loop);
	assert_int_equal(loop_timer_arm(loop, &p.t, 10, on_periodic, &p), 0);
	run_bounded(loop);
	assert_false(guard_fired);
	assert_int_equal(p.left, 0);
	assert_true(p.last_ms >= p.first_ms + 30);
	loop_free(loop);
}

/* Many timers with random delays, some cancelled: they fire by deadline, the cancelled never. */
struct heap_ctx {
	struct loop_timer t[500];
	uint64_t deadline[500];
	bool cancelled[500];
	uint64_t last;
	int fired, expected;
	bool in_order;
};

static void on_heap_timer(struct loop *loop, struct loop_timer *t, void *arg)
{
	struct heap_ctx *c = arg;
	size_t i = (size_t)(t - c->t);

	if (c->cancelled[i] || c->deadline[i] < c->last)
		c->in_order = false;
	c->last = c->deadline[i];
	if (++c->fired == c->expected)
		loop_stop(loop);
}

static void timer_heap_keeps_deadline_order(void **state)
{
	struct loop *loop = loop_new();
	struct heap_ctx *c = calloc(1, sizeof(*c));
	unsigned seed = 42;

	c->in_order = true;
	for (int i = 0; i < 500; i++) {
		uint64_t d = (uint64_t)(rand_r(&seed) % 40);

		c->deadline[i] = loop_now_ms(loop) + d;
		assert_int_equal(loop_timer_arm(loop, &c->t[i], d, on_heap_timer, c), 0);
	}
	for (int i = 0; i < 500; i += 3) {
		loop_timer_cancel(loop, &c->t[i]);
		c->cancelled[i] = true;
	}
	c->expected = 500 - 167;
	run_bounded(loop);
	assert_false(guard_fired);
	assert_int_equal(c->fired, c->expected);
	assert_true(c->in_order);
	free(c);
	loop_free(loop);
}

struct defer_ctx {
	struct loop *loop;
	int step; /* a clock of events: the handler ends at 1, deferred calls come after */
	int deferred_at;
	int nested_at;
	int cancelled_ran;
};

static void deferred_nested(void *arg)
{
	struct defer_ctx *c = arg;

	c->nested_at = ++c->step;
}

static void deferred_cancelled(void *arg)
{
	struct defer_ctx *c = arg;

	c->cancelled_ran++;
}

static void deferred(void *arg)
{
	struct defer_ctx *c = arg;

	c->deferred_at = ++c->step;
	assert_int_equal(loop_defer(c->loop, deferred_nested, c), 0);
}

struct defer_test {
	struct defer_ctx c;
	struct pipe_pair p;
};

static void on_defer_fd(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct defer_test *t = arg;
	char b;

	assert_int_equal(read(fd, &b, 1), 1);
	assert_int_equal(loop_defer(loop, deferred, &t->c), 0);
	assert_int_equal(loop_defer(loop, deferred_cancelled, &t->c), 0);
	loop_defer_cancel(loop, deferred_cancelled, &t->c);
	t->c.step++; /* the handler's last step: deferred calls must come after */
	loop_stop(loop);
}

static void deferred_calls_run_after_the_batch(void **state)
{
	struct defer_test t = {0};

	t.c.loop = loop_new();
	make_pipe(&t.p);
	assert_int_equal(loop_add(t.c.loop, t.p.rd, EPOLLIN, on_defer_fd, &t), 0);
	assert_int_equal(write(t.p.wr, "x", 1), 1);
	run_bounded(t.c.loop);
	assert_int_equal(t.c.deferred_at, 2);
	assert_int_equal(t.c.nested_at, 3);
	assert_int_equal(t.c.cancelled_ran, 0);
	loop_del(t.c.loop, t.p.rd);
	close_pipe(&t.p);
	loop_free(t.c.loop);
}

static void loop_free_runs_pending_deferred_calls(void **state)
{
	struct loop *loop = loop_new();

	/* Never run by a batch: loop_free() must still call free() (valgrind checks). */
	assert_int_equal(loop_defer(loop, free, malloc(64)), 0);
	loop_free(loop);
}

static void *run_thread(void *arg)
{
	return (void *)(intptr_t)loop_run(arg);
}

static void stop_from_another_thread(void **state)
{
	struct loop *loop = loop_new();
	struct timespec deadline;
	pthread_t th;
	void *ret;

	assert_int_equal(pthread_create(&th, NULL, run_thread, loop), 0);
	loop_stop(loop);
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += 5;
	assert_int_equal(pthread_timedjoin_np(th, &ret, &deadline), 0);
	assert_int_equal((intptr_t)ret, 0);
	loop_free(loop);
}

static void stop_before_run_is_remembered_once(void **state)
{
	struct loop *loop = loop_new();

	loop_stop(loop);
	assert_int_equal(loop_run(loop), 0);
	/* The request was used up: the next run goes until the guard timer stops it. */
	run_for_at_most(loop, 20);
	assert_true(guard_fired);
	loop_free(loop);
}

struct posted {
	struct loop *loop;
	pthread_t on;	/* the thread the call ran on */
	unsigned order; /* 1 + how many ran before */
	unsigned *ran;
	bool stop; /* the last one stops the loop */
};

static void posted_call(void *arg)
{
	struct posted *p = arg;

	p->on = pthread_self();
	p->order = ++*p->ran;
	if (p->stop)
		loop_stop(p->loop);
}

/* Calls posted from another thread run on the loop's thread, in order; pending ones at free. */
static void post_runs_on_the_loop_thread_in_order(void **state)
{
	struct loop *loop = loop_new();
	struct posted p[3] = {{0}};
	struct timespec deadline;
	unsigned ran = 0, ran2 = 0;
	struct posted late = {.ran = &ran2};
	pthread_t th;
	void *ret;

	assert_int_equal(pthread_create(&th, NULL, run_thread, loop), 0);
	for (int i = 0; i < 3; i++) {
		p[i] = (struct posted){.loop = loop, .ran = &ran, .stop = i == 2};
		assert_int_equal(loop_post(loop, posted_call, &p[i]), 0);
	}
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += 5;
	assert_int_equal(pthread_timedjoin_np(th, &ret, &deadline), 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(p[i].order, i + 1);
		assert_true(pthread_equal(p[i].on, th));
	}
	assert_int_equal(loop_post(loop, posted_call, &late), 0); /* never run: freed first */
	loop_free(loop);
	assert_int_equal(late.order, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(handler_runs_when_fd_is_readable),
		cmocka_unit_test(add_twice_mod_and_del_unknown),
		cmocka_unit_test(deleted_fd_gets_no_stale_event),
		cmocka_unit_test(timers_fire_in_deadline_order),
		cmocka_unit_test(rearming_moves_a_timer),
		cmocka_unit_test(timer_rearmed_from_its_handler),
		cmocka_unit_test(timer_heap_keeps_deadline_order),
		cmocka_unit_test(deferred_calls_run_after_the_batch),
		cmocka_unit_test(loop_free_runs_pending_deferred_calls),
		cmocka_unit_test(stop_from_another_thread),
		cmocka_unit_test(stop_before_run_is_remembered_once),
		cmocka_unit_test(post_runs_on_the_loop_thread_in_order),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
