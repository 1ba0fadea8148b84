// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The same-node fast path (shuntd --fast-path on|off): the sk_msg program
 * on shunt_sock4, attached through a pinned bpf_link like the cgroup
 * programs, and the CFG_F_FAST_PATH flag that lets sockops index sockets.
 * See docs/kernel.md, "Same-node fast path".
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "kern_int.h"
#include "log.h"
#include "sk_msg.skel.h"

#define FAST_LINK_PIN "link_skmsg"

/*
 * struct bpf_link_info as Linux 6.10 fills it for a sockmap link: the uapi
 * headers this builds against (Linux 6.1) predate BPF_LINK_TYPE_SOCKMAP.
 */
#define LINK_TYPE_SOCKMAP 14
struct sockmap_link_info {
	__u32 type; /* enum bpf_link_type */
	__u32 id;
	__u32 prog_id;
	__u32 pad;	   /* the union that follows is 8-aligned */
	__u32 map_id;	   /* the sockmap or sockhash */
	__u32 attach_type; /* BPF_SK_MSG_VERDICT */
};

int kern_fast_load(struct kern *k, const struct bpf_object_open_opts *opts)
{
	int err;

	if (!k->fast_path)
		return 0;
	k->sm = sk_msg_bpf__open_opts(opts);
	if (!k->sm) {
		err = -errno;
		log_error("kern: cannot open the sk_msg program: %s", strerror(-err));
		return err;
	}
	err = sk_msg_bpf__load(k->sm);
	if (err) {
		log_error("kern: cannot load the sk_msg program (--fast-path off runs without "
			  "it): %s",
			  strerror(-err));
		sk_msg_bpf__destroy(k->sm);
		k->sm = NULL;
	}
	return err;
}

static __u32 map_id_of(int fd)
{
	struct bpf_map_info info;
	__u32 len = sizeof(info);

	memset(&info, 0, sizeof(info));
	return bpf_obj_get_info_by_fd(fd, &info, &len) ? 0 : info.id;
}

/* The link an earlier agent pinned, if it is an sk_msg link on shunt_sock4: its fd, else -1. */
static int pinned_link_on_sock4(struct kern *k, const char *path)
{
	struct sockmap_link_info info;
	__u32 len = sizeof(info);
	int fd;

	if (access(path, F_OK))
		return -1;
	fd = bpf_obj_get(path);
	if (fd < 0)
		return -1;
	memset(&info, 0, sizeof(info));
	if (!bpf_obj_get_info_by_fd(fd, &info, &len) && info.type == LINK_TYPE_SOCKMAP &&
	    info.attach_type == BPF_SK_MSG_VERDICT && info.map_id == map_id_of(k->sock4_fd))
		return fd;
	close(fd);
	log_info("kern: %s is not an sk_msg link on %s: replacing it", path, SHUNT_MAP_SOCK4);
	if (unlink(path) && errno != ENOENT)
		log_warn("kern: cannot remove %s: %s", path, strerror(errno));
	return -1;
}

/* Attaches (or adopts) the sk_msg link. 0 or -errno, logged. */
static int fast_link_up(struct kern *k)
{
	int prog = bpf_program__fd(k->sm->progs.shunt_msg), fd, err;
	char path[PATH_MAX];

	kern_pin_path(k, FAST_LINK_PIN, path);
	fd = pinned_link_on_sock4(k, path);
	if (fd >= 0) {
		if (!bpf_link_update(fd, prog, NULL)) {
			log_info("kern: adopted %s: shunt_msg attached to %s since before this "
				 "agent",
				 path, SHUNT_MAP_SOCK4);
			k->fast_link_fd = fd;
			return 0;
		}
		log_info("kern: cannot update %s (%s): replacing it", path, strerror(errno));
		close(fd);
		if (unlink(path) && errno != ENOENT)
			log_warn("kern: cannot remove %s: %s", path, strerror(errno));
	}
	fd = bpf_link_create(prog, k->sock4_fd, BPF_SK_MSG_VERDICT, NULL);
	if (fd < 0) {
		err = -errno;
		log_error("kern: cannot attach shunt_msg to %s: %s (sk_msg links need Linux "
			  "6.10; --fast-path off runs without them)",
			  SHUNT_MAP_SOCK4, strerror(-err));
		return err;
	}
	if (bpf_obj_pin(fd, path)) {
		err = -errno;
		log_error("kern: cannot pin %s: %s", path, strerror(-err));
		close(fd);
		return err;
	}
	k->fast_link_fd = fd;
	return 0;
}

/*
 * Takes every socket out of shunt_sock4: each gets its own TCP operations
 * back (a socket in no sockmap loses its psock) and its program with it.
 * Bounded by max_entries. Returns how many were taken out.
 */
static unsigned sock4_flush(struct kern *k)
{
	struct sock4_key key;
	unsigned n = 0;

	while (n < SHUNT_SOCK4_MAX && !bpf_map_get_next_key(k->sock4_fd, NULL, &key)) {
		if (bpf_map_delete_elem(k->sock4_fd, &key))
			break;
		n++;
	}
	return n;
}

int kern_fast_attach(struct kern *k)
{
	char path[PATH_MAX];
	unsigned n;
	int err;

	if (k->fast_path) {
		/* The program first: a socket gets the programs the map has when it goes in. */
		err = fast_link_up(k);
		if (err)
			return err;
		k->cfg.flags |= CFG_F_FAST_PATH;
		err = kern_cfg_write(k);
		if (err)
			log_error("kern: cannot switch the fast path on in %s: %s", SHUNT_MAP_CFG,
				  strerror(-err));
		else
			log_info("kern: fast path on: pod<->agent data redirected between sockets "
				 "(%s)",
				 SHUNT_MAP_SOCK4);
		return err;
	}
	k->cfg.flags &= (__u16)~CFG_F_FAST_PATH;
	err = kern_cfg_write(k);
	if (err)
		return err;
	kern_pin_path(k, FAST_LINK_PIN, path);
	if (!access(path, F_OK)) {
		if (unlink(path))
			log_warn("kern: cannot remove %s: %s", path, strerror(errno));
		else
			log_info("kern: fast path off: removed %s an earlier agent left", path);
	}
	n = sock4_flush(k);
	if (n)
		log_info("kern: fast path off: took %u sockets out of %s", n, SHUNT_MAP_SOCK4);
	return 0;
}

void kern_fast_detach(struct kern *k, bool unpin)
{
	char path[PATH_MAX];

	kern_pin_path(k, FAST_LINK_PIN, path);
	if (unpin && unlink(path) && errno != ENOENT)
		log_warn("kern: cannot remove %s: %s", path, strerror(errno));
	if (k->fast_link_fd >= 0)
		close(k->fast_link_fd); /* the pin keeps it attached */
	k->fast_link_fd = -1;
}

void kern_fast_close(struct kern *k)
{
	sk_msg_bpf__destroy(k->sm);
	k->sm = NULL;
}
