/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Fill levels of the pinned maps, for shuntctl maps and the metrics: how many
 * entries a map holds against its max_entries. Reads the pins directly, so it
 * works whether or not an agent runs.
 */
#ifndef SHUNT_KERN_FILL_H
#define SHUNT_KERN_FILL_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include <bpf/bpf.h>

/* Whether @fd is a @kind of anonymous inode ("bpf-map", "bpf-link"): a pin dir holds both. */
bool kern_fd_is(int fd, const char *kind);

/*
 * How many entries map @fd (described by @info) holds: an array holds all of
 * its max_entries; a hash map is walked, never counting past max_entries; -1
 * when it cannot be counted (socket storage, no key). Costs one syscall per
 * entry of a hash map.
 */
long kern_map_entries(int fd, const struct bpf_map_info *info);

/* One map of a pin dir. */
struct kern_fill {
	char name[NAME_MAX + 1];
	uint32_t type; /* enum bpf_map_type */
	uint32_t max_entries;
	long entries; /* kern_map_entries() */
};

/*
 * Calls @fn for every map pinned in @pin_dir, in name order (links and
 * entries that are not bpf objects are skipped). 0, or -errno when the
 * directory cannot be read.
 */
int kern_fill_dir(const char *pin_dir, void (*fn)(const struct kern_fill *f, void *arg), void *arg);

#endif /* SHUNT_KERN_FILL_H */
