/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The one byte buffer of the agent: a fixed-size linear buffer holding the
 * bytes [head, head + len) of data. Readers append at the tail, writers
 * consume from the head; the content is moved to the front only when the
 * tail runs out of room. An all-zero struct buf means "no buffer" (nothing
 * allocated), so idle connections cost no buffer memory.
 */
#ifndef SHUNT_BUF_H
#define SHUNT_BUF_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct buf {
	char *data;    /* NULL: no buffer */
	uint32_t size; /* bytes allocated at data */
	uint32_t head; /* offset of the first byte not consumed yet */
	uint32_t len;  /* bytes held, from head */
};

/* Gives @b a @size-byte allocation if it has none. 0 or -ENOMEM. */
static inline int buf_alloc(struct buf *b, uint32_t size)
{
	if (b->data)
		return 0;
	b->data = malloc(size);
	if (!b->data)
		return -ENOMEM;
	b->size = size;
	b->head = 0;
	b->len = 0;
	return 0;
}

/* Frees the allocation, whatever it holds; @b is all-zero again. */
static inline void buf_free(struct buf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

static inline bool buf_empty(const struct buf *b)
{
	return b->len == 0;
}

static inline bool buf_full(const struct buf *b)
{
	return b->data && b->len == b->size;
}

/* First byte held. */
static inline char *buf_head(const struct buf *b)
{
	return b->data + b->head;
}

/* True when the room left at the tail is small enough to move the content to the front. */
static inline bool buf_tail_short(const struct buf *b)
{
	return b->head && b->size - b->head - b->len < b->size / 4;
}

/* Where the next byte goes; may first move the content to the front (offsets from head stay). */
static inline char *buf_tail(struct buf *b)
{
	if (buf_tail_short(b)) {
		memmove(b->data, b->data + b->head, b->len);
		b->head = 0;
	}
	return b->data + b->head + b->len;
}

/* Bytes that fit at buf_tail(), counting the move buf_tail() may do. */
static inline uint32_t buf_room(const struct buf *b)
{
	if (!b->data)
		return 0;
	return buf_tail_short(b) ? b->size - b->len : b->size - b->head - b->len;
}

/* Records @n bytes written at buf_tail(). */
static inline void buf_commit(struct buf *b, uint32_t n)
{
	b->len += n;
}

/* Drops @n bytes from the head; an emptied buffer starts over at the front. */
static inline void buf_consume(struct buf *b, uint32_t n)
{
	b->head += n;
	b->len -= n;
	if (!b->len)
		b->head = 0;
}

/* Appends @n bytes if they fit. 0 or -ENOSPC. */
static inline int buf_put(struct buf *b, const void *p, uint32_t n)
{
	if (buf_room(b) < n)
		return -ENOSPC;
	memcpy(buf_tail(b), p, n);
	buf_commit(b, n);
	return 0;
}

#endif /* SHUNT_BUF_H */
