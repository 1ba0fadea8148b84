// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "strtab.h"

#define BLOCK_SIZE (32u << 10) /* a block's room; a larger request gets a block of its own */

struct strtab_block {
	struct strtab_block *next;
	size_t size;
	max_align_t data[]; /* size bytes */
};

static struct strtab_block *block_new(struct strtab *st, size_t room)
{
	struct strtab_block *b = malloc(sizeof(*b) + room);

	if (!b)
		return NULL;
	b->size = room;
	st->bytes += sizeof(*b) + room;
	return b;
}

void *strtab_alloc(struct strtab *st, size_t size)
{
	struct strtab_block *b;
	size_t pad;
	char *p;

	size = (size + 7) & ~(size_t)7;
	if (size > BLOCK_SIZE / 4) { /* its own block, behind the current one */
		b = block_new(st, size);
		if (!b)
			return NULL;
		b->next = st->blocks ? st->blocks->next : NULL;
		if (st->blocks)
			st->blocks->next = b;
		else
			st->blocks = b;
		return memset(b->data, 0, size);
	}
	/* Strings before it may have left the free space unaligned (none yet: no block). */
	pad = st->cur ? (size_t)(-(uintptr_t)st->cur & 7) : 0;
	if (pad && pad <= st->left) {
		st->cur += pad;
		st->left -= pad;
	}
	if (size > st->left) {
		b = block_new(st, BLOCK_SIZE);
		if (!b)
			return NULL;
		b->next = st->blocks;
		st->blocks = b;
		st->cur = (char *)b->data;
		st->left = BLOCK_SIZE;
	}
	p = st->cur;
	st->cur += size;
	st->left -= size;
	return memset(p, 0, size);
}

char *strtab_dup(struct strtab *st, const char *s)
{
	size_t n = strlen(s) + 1;
	char *p;

	/* Strings need no alignment: pack them byte by byte in the current block. */
	if (n <= st->left) {
		p = st->cur;
		st->cur += n;
		st->left -= n;
		return memcpy(p, s, n);
	}
	p = strtab_alloc(st, n);
	return p ? memcpy(p, s, n) : NULL;
}

static uint64_t str_hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a */

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
	return h ^ (h >> 29);
}

/* Doubles the intern index (or makes its first one). 0 or -ENOMEM. */
static int index_grow(struct strtab *st)
{
	size_t size = st->slots ? 2 * (st->mask + 1) : 256;
	const char **slots = calloc(size, sizeof(*slots));

	if (!slots)
		return -ENOMEM;
	for (size_t i = 0; st->slots && i <= st->mask; i++) {
		size_t h;

		if (!st->slots[i])
			continue;
		for (h = str_hash(st->slots[i]); slots[h & (size - 1)]; h++)
			;
		slots[h & (size - 1)] = st->slots[i];
	}
	free(st->slots);
	st->slots = slots;
	st->mask = size - 1;
	return 0;
}

char *strtab_intern(struct strtab *st, const char *s)
{
	size_t h;
	char *p;

	if (st->sealed)
		return NULL;
	if ((!st->slots || 2 * (st->n + 1) > st->mask + 1) && index_grow(st))
		return NULL;
	for (h = str_hash(s); st->slots[h & st->mask]; h++)
		if (!strcmp(st->slots[h & st->mask], s))
			return (char *)st->slots[h & st->mask];
	p = strtab_dup(st, s);
	if (!p)
		return NULL;
	st->slots[h & st->mask] = p;
	st->n++;
	return p;
}

void strtab_seal(struct strtab *st)
{
	free(st->slots);
	st->slots = NULL;
	st->sealed = true;
}

void strtab_free(struct strtab *st)
{
	struct strtab_block *b = st->blocks, *next;

	for (; b; b = next) {
		next = b->next;
		free(b);
	}
	free(st->slots);
	memset(st, 0, sizeof(*st));
}
