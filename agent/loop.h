/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * A small epoll event loop, one per worker thread (Redis ae.c in spirit):
 * level-triggered fd handlers, one-shot timers on a min-heap that drive
 * epoll_wait's timeout, and deferred calls that run after the current batch
 * of handlers so that an object is never freed under its own handler.
 *
 * Nothing here is thread-safe except loop_stop(): a loop belongs to the
 * thread that runs it.
 */
#ifndef SHUNT_LOOP_H
#define SHUNT_LOOP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>

struct loop;
struct loop_timer;

/* An fd handler: @events is what epoll reported (EPOLLIN, EPOLLOUT, EPOLLRDHUP, EPOLLERR, ...). */
typedef void (*loop_fn)(struct loop *loop, int fd, uint32_t events, void *arg);

/* A timer handler; the timer is disarmed before the call and may be re-armed from it. */
typedef void (*loop_timer_fn)(struct loop *loop, struct loop_timer *t, void *arg);

/*
 * A one-shot timer, embedded in the caller's object. All-zero is a valid
 * disarmed timer. The fields are the loop's; read them only through
 * loop_timer_armed().
 */
struct loop_timer {
	uint64_t expires; /* deadline, in loop_now_ms() time */
	uint32_t slot;	  /* 1 + index in the loop's heap; 0 = not armed */
	loop_timer_fn fn;
	void *arg;
};

/* Creates a loop (epoll instance and wake-up eventfd). NULL on failure, errno set. */
struct loop *loop_new(void);

/*
 * Frees the loop. Runs deferred calls that are still pending (so memory
 * handed to loop_defer() is not leaked) and drops every registration and
 * armed timer without calling them; fds are not closed, they are the
 * callers'. NULL is fine. Must not be called while loop_run() is running.
 */
void loop_free(struct loop *loop);

/*
 * Watches @fd for @events (EPOLLIN, EPOLLOUT, EPOLLRDHUP; level-triggered;
 * EPOLLERR and EPOLLHUP are always reported) and calls @fn(loop, fd, events,
 * @arg) when one is ready. 0, -EEXIST if @fd is already registered, or -errno.
 */
int loop_add(struct loop *loop, int fd, uint32_t events, loop_fn fn, void *arg);

/* Changes the events watched on a registered @fd; a no-op when unchanged. 0, -ENOENT or -errno. */
int loop_mod(struct loop *loop, int fd, uint32_t events);

/*
 * Stops watching @fd. Call it before close(fd). Events already collected for
 * @fd in the current batch are dropped, so the handler is never called
 * after this returns, even if the fd number is reused at once. 0 or -ENOENT.
 */
int loop_del(struct loop *loop, int fd);

/*
 * Runs handlers, timers and deferred calls until loop_stop(). 0 when
 * stopped, -errno if epoll_wait() failed. One batch is: wait, call the fd
 * handlers for the ready events, fire the expired timers, run the deferred
 * calls.
 */
int loop_run(struct loop *loop);

/*
 * Makes loop_run() return after the current batch (or at once if it is
 * waiting). Safe from any thread, and before loop_run() was entered: the
 * request is remembered until loop_run() returns because of it.
 */
void loop_stop(struct loop *loop);

/* Monotonic milliseconds, read once per batch (and at loop_new()). */
uint64_t loop_now_ms(const struct loop *loop);

/*
 * Arms @t to call @fn(loop, t, @arg) once, @delay_ms after loop_now_ms().
 * Re-arming an armed timer moves it. @t must stay valid until it fires or is
 * cancelled. 0 or -ENOMEM (the timer is then left as it was).
 */
int loop_timer_arm(struct loop *loop, struct loop_timer *t, uint64_t delay_ms, loop_timer_fn fn,
		   void *arg);

/* Disarms @t if it is armed; a no-op otherwise. */
void loop_timer_cancel(struct loop *loop, struct loop_timer *t);

/* True while @t is armed. */
static inline bool loop_timer_armed(const struct loop_timer *t)
{
	return t->slot != 0;
}

/*
 * Runs @fn(@arg) after the current batch of fd handlers and timers (or after
 * the next batch when called outside loop_run()), in the order deferred.
 * This is how an object is freed from inside its own handler. 0 or -ENOMEM.
 */
int loop_defer(struct loop *loop, void (*fn)(void *arg), void *arg);

/*
 * From any thread: runs @fn(@arg) on the loop's thread, soon (the loop is
 * woken), in the order posted. How another thread hands work to a loop. A
 * call still pending when the loop is freed runs in loop_free(), so @arg is
 * never lost. 0 or -ENOMEM.
 */
int loop_post(struct loop *loop, void (*fn)(void *arg), void *arg);

/* Drops every pending deferred call of @fn with @arg (e.g. before freeing @arg). */
void loop_defer_cancel(struct loop *loop, void (*fn)(void *arg), void *arg);

#endif /* SHUNT_LOOP_H */
