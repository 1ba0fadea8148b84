// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * What the last sync wrote, so that the next one writes only what changed.
 *
 * For each family (shunt_svc4_v2 and shunt_be4, shunt_svc6 and shunt_be6) the
 * agent keeps, by svc_id, the service entry and the backend slots it wrote.
 * While that record is valid the maps hold exactly it: nobody else writes
 * them, and stale entries are deleted at the end of every sync. A sync then
 * compares each port with the record and writes the slots that differ, then
 * the entry when it differs (slots before the count that covers them, as
 * always), and at the end deletes what the record has and the new config
 * does not, without walking the maps. An unchanged reload writes nothing.
 *
 * The record starts invalid (a new agent adopting pinned maps does not know
 * what an earlier one left), becomes valid after a sync that succeeded in
 * full, and is dropped by any failure: the next sync then writes everything
 * and walks the maps for stale entries, as the first one does.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>

#include "kern_int.h"

void kern_last_free(struct kern_last *l)
{
	free(l->ports);
	free(l->slots);
	memset(l, 0, sizeof(*l));
}

void kern_last_install(struct kern_last *l, struct kern_last *next, bool ok)
{
	kern_last_free(l);
	if (!ok) {
		kern_last_free(next);
		return;
	}
	*l = *next;
	l->valid = true;
	memset(next, 0, sizeof(*next));
}

/* Starts the record of a sync over ids below @span, slots of @slot_size bytes. 0 or -ENOMEM. */
int kern_last_begin(struct kern_last *next, size_t span, size_t slot_size)
{
	memset(next, 0, sizeof(*next));
	next->slot_size = slot_size;
	next->n_ports = span;
	next->ports = calloc(span + 1, sizeof(*next->ports));
	return next->ports ? 0 : -ENOMEM;
}

/* Room for @n more slots in @l. 0 or -ENOMEM. */
static int slots_reserve(struct kern_last *l, size_t n)
{
	size_t cap = l->cap_slots ? l->cap_slots : 1024;
	unsigned char *p;

	if (l->n_slots + n <= l->cap_slots)
		return 0;
	while (cap < l->n_slots + n)
		cap *= 2;
	p = realloc(l->slots, cap * l->slot_size);
	if (!p)
		return -ENOMEM;
	l->slots = p;
	l->cap_slots = cap;
	return 0;
}

/* Appends slot value @v to the port being staged in @l. 0 or -ENOMEM. */
int kern_last_stage(struct kern_last *l, const void *v)
{
	if (slots_reserve(l, 1))
		return -ENOMEM;
	memcpy(l->slots + l->n_slots++ * l->slot_size, v, l->slot_size);
	return 0;
}

/* The slots of @id in @l. */
static const unsigned char *slots_of(const struct kern_last *l, uint32_t id)
{
	return l->slots + (size_t)l->ports[id].off * l->slot_size;
}

static bool same_port(const struct kern_last *prev, uint32_t id, const struct kern_last_port *p)
{
	const struct kern_last_port *q;

	if (!prev->valid || id >= prev->n_ports || !prev->ports[id].live)
		return false;
	q = &prev->ports[id];
	return !memcmp(q->key, p->key, sizeof(p->key)) && !memcmp(&q->val, &p->val, sizeof(p->val));
}

/* Writes slot @s of @id (value @v) unless @prev says the map holds it already. */
static int write_slot(struct kern *k, int be_fd, const struct kern_last *prev, uint32_t id,
		      uint32_t s, const unsigned char *v, size_t size)
{
	struct be4_key key = {.svc_id = id, .slot = s};

	if (prev->valid && id < prev->n_ports && prev->ports[id].live &&
	    s < prev->ports[id].val.n_slots && !memcmp(slots_of(prev, id) + s * size, v, size))
		return 0;
	k->writes++;
	return bpf_map_update_elem(be_fd, &key, v, BPF_ANY) ? -errno : 0;
}

int kern_last_commit(struct kern *k, int svc_fd, int be_fd, const struct kern_last *prev,
		     struct kern_last *next, uint32_t id, const void *key, size_t key_size,
		     const struct svc4_val *val, uint32_t first, enum kern_sized_map *failed)
{
	struct kern_last_port *p = &next->ports[id];
	int err = 0;

	memset(p, 0, sizeof(*p));
	memcpy(p->key, key, key_size);
	p->val = *val;
	p->off = first;
	*failed = KERN_MAP_BE4;
	for (uint32_t s = 0; s < val->n_slots && !err; s++)
		err = write_slot(k, be_fd, prev, id, s, slots_of(next, id) + s * next->slot_size,
				 next->slot_size);
	if (err)
		return err;
	*failed = KERN_MAP_SVC4;
	p->live = true;
	if (same_port(prev, id, p))
		return 0;
	k->writes++;
	return bpf_map_update_elem(svc_fd, key, val, BPF_ANY) ? -errno : 0;
}

/* Whether @next keeps service key @key (of @key_size bytes) under some id. */
static bool key_kept(const struct kern_last *next, const void *key, size_t key_size)
{
	for (size_t i = 0; i < next->n_ports; i++)
		if (next->ports[i].live && !memcmp(next->ports[i].key, key, key_size))
			return true;
	return false;
}

int kern_last_delete_stale(struct kern *k, int svc_fd, int be_fd, const struct kern_last *prev,
			   const struct kern_last *next, size_t key_size)
{
	int n = 0;

	for (uint32_t id = 0; id < prev->n_ports; id++) {
		const struct kern_last_port *q = &prev->ports[id];
		bool live = id < next->n_ports && next->ports[id].live;
		uint32_t keep = live ? next->ports[id].val.n_slots : 0;

		if (!q->live)
			continue;
		if ((!live || memcmp(q->key, next->ports[id].key, key_size)) &&
		    !key_kept(next, q->key, key_size)) {
			k->writes++;
			n += !bpf_map_delete_elem(svc_fd, q->key);
		}
		for (uint32_t s = keep; s < q->val.n_slots; s++) {
			struct be4_key bk = {.svc_id = id, .slot = s};

			k->writes++;
			n += !bpf_map_delete_elem(be_fd, &bk);
		}
	}
	return n;
}
