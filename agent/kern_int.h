/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Inside the kernel module of the agent: the handle kern.c and kern_fast.c
 * share. Not for other modules; they see struct kern through kern.h only.
 */
#ifndef SHUNT_KERN_INT_H
#define SHUNT_KERN_INT_H

#include <limits.h>
#include <stdbool.h>

#include <bpf/libbpf.h>

#include "kern.h"

#define KERN_N_LINKS 6

struct kern {
	struct sock_addr_bpf *sa; /* connect4 + getpeername4; creates the pinned maps */
	struct sockops_bpf *so;	  /* sockops; reuses the pinned maps */
	struct sk_msg_bpf *sm;	  /* the fast path's sk_msg program; NULL when it is off */
	struct bpf_link *links[KERN_N_LINKS];
	size_t n_links;
	char *pin_dir;
	int lock_fd; /* the pin directory, flock()ed: one agent per pin dir */
	int svc4_fd, be4_fd, pair4_fd, cfg_fd, stats_fd, lsn_fd, pods_fd, known4_fd; /* from sa */
	int sock4_fd;		 /* shunt_sock4, from sa */
	int fast_link_fd;	 /* the sk_msg link on shunt_sock4 this agent holds, or -1 */
	bool fast_path;		 /* shuntd --fast-path on */
	struct shunt_cfg cfg;	 /* what shunt_cfg_v2 holds */
	__u32 max[KERN_N_SIZED]; /* max_entries of the sized maps, as created */
	/*
	 * A sized map was recreated: until kern_attach(), the links an earlier agent
	 * pinned may still run its programs, which use the old, unpinned map.
	 */
	bool links_stale;
};

/* @name's path under the pin dir. */
void kern_pin_path(const struct kern *k, const char *name, char path[PATH_MAX]);

/* Writes k->cfg to shunt_cfg_v2. 0 or -errno. */
int kern_cfg_write(struct kern *k);

/*
 * With the fast path on, opens and loads the sk_msg program with @opts (its
 * maps resolve to the pins the other objects made); off, loads nothing.
 * 0 or -errno, logged.
 */
int kern_fast_load(struct kern *k, const struct bpf_object_open_opts *opts);

/*
 * On: attaches the sk_msg program to shunt_sock4 through the link pinned as
 * link_skmsg (one an earlier agent pinned is adopted and given this agent's
 * program), then lets sockops index sockets (CFG_F_FAST_PATH). Off: removes
 * a link an earlier agent pinned and empties shunt_sock4, so that no socket
 * keeps redirecting. 0 or -errno, logged.
 */
int kern_fast_attach(struct kern *k);

/*
 * Lets go of the sk_msg link (it stays attached through its pin unless
 * @unpin). With @unpin, a pinned link this agent does not hold is removed too.
 */
void kern_fast_detach(struct kern *k, bool unpin);

/* Frees the sk_msg program (after kern_fast_detach()). */
void kern_fast_close(struct kern *k);

#endif /* SHUNT_KERN_INT_H */
