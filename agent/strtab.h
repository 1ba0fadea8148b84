/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * A string table for what a config holds many times over: strings and small
 * arrays are carved out of large blocks (no per-string malloc header, no
 * per-string free), and strtab_intern() hands out one copy per distinct
 * string (namespace names, label keys and values, phases), so that 100,000
 * pods do not carry 100,000 copies of "app" and "default". Everything lives
 * until strtab_free(); nothing is freed one by one.
 */
#ifndef SHUNT_STRTAB_H
#define SHUNT_STRTAB_H

#include <stdbool.h>
#include <stddef.h>

struct strtab_block;

/* All-zero is an empty table. */
struct strtab {
	struct strtab_block *blocks; /* newest first */
	char *cur;		     /* free space of the newest block */
	size_t left;
	const char **slots; /* intern index: open addressing, NULL empty */
	size_t mask, n;
	bool sealed;  /* strtab_seal() dropped the index */
	size_t bytes; /* allocated in blocks, for figures */
};

/* @size bytes (8-aligned, zeroed) that live as long as @st. NULL on ENOMEM. */
void *strtab_alloc(struct strtab *st, size_t size);
/* A copy of @s in @st. NULL on ENOMEM. */
char *strtab_dup(struct strtab *st, const char *s);
/* The copy of @s in @st that every equal string gets (made on first use). NULL on ENOMEM,
 * or when @st is sealed and @s was never interned. */
char *strtab_intern(struct strtab *st, const char *s);
/* Drops the intern index (the strings stay): once nothing more is interned. */
void strtab_seal(struct strtab *st);
/* Frees every block; @st is empty again. */
void strtab_free(struct strtab *st);

#endif /* SHUNT_STRTAB_H */
