/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The kernel side of the agent: loads the capture programs, pins and fills
 * their maps, attaches them to the mesh cgroup, and answers "where was this
 * accepted connection going" from the 4-tuple index.
 */
#ifndef SHUNT_KERN_H
#define SHUNT_KERN_H

#include <stdbool.h>
#include <stdint.h>
#include <netinet/in.h>
#include <linux/types.h>

#include "shunt_maps.h"

struct config;
struct kern;

/*
 * Opens and loads the programs. Maps are pinned by name in @pin_dir, which
 * must exist on a bpffs; maps already pinned there with the same layout are
 * reused (their content is reconciled later by kern_sync_services()).
 * Stores the handle in *@out; returns 0 or -errno.
 */
int kern_open(const char *pin_dir, struct kern **out);

/*
 * Tells the kernel where captured connections go and which socket mark is
 * the agent's own. Call before kern_attach(). 0 or -errno.
 */
int kern_set_listener(struct kern *k, const struct sockaddr_in *listen, uint32_t skip_mark);

/*
 * Makes shunt_svc4 hold exactly the TCP service ports of @cfg that have a
 * clusterIP: adds and updates first, then deletes what is stale, so a live
 * service is never missing. Returns the number of entries written, or -errno.
 */
int kern_sync_services(struct kern *k, const struct config *cfg);

/* Attaches every program to the cgroup @cgroup_fd (the caller keeps the fd). 0 or -errno. */
int kern_attach(struct kern *k, int cgroup_fd);

/* Detaches the programs (existing sockets keep what they have) and stops capture. */
void kern_detach(struct kern *k);

/*
 * Takes the original destination of a connection the agent accepted from
 * @peer on @local out of the 4-tuple index (the entry is deleted). 0, or
 * -ENOENT when the connection was not captured.
 */
int kern_orig_dst(const struct kern *k, const struct sockaddr_in *peer,
		  const struct sockaddr_in *local, struct orig4 *orig);

/* Frees the handle; with @unpin, also removes the pins and the pin directory. */
void kern_close(struct kern *k, bool unpin);

/* Reads the per-CPU counters of a shunt_stats map fd, summed. 0 or -errno. */
int kern_read_stats(int stats_fd, uint64_t out[SHUNT_STAT_MAX]);

/* The operator-facing name of a counter ("captured", ...). */
const char *kern_stat_name(enum shunt_stat stat);

/* The fd of the pinned counters map, for the admin API. */
int kern_stats_fd(const struct kern *k);

#endif /* SHUNT_KERN_H */
