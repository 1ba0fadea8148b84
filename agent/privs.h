/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Dropping capabilities once the programs are loaded and attached.
 *
 * Linux keeps capabilities per thread, so each of shuntd's threads drops to
 * what its own work needs, when it starts or (the main thread) once the agent
 * is ready; a thread created later inherits its creator's set. What is kept:
 *
 *   main     CAP_BPF, CAP_SYS_ADMIN: map updates on reload (kernels before 6.5
 *            check bpf() callers' capabilities on every command), setns() into
 *            pods' network namespaces in the pod scans it starts, program and
 *            link lookups by id; and whatever a worker keeps, so that it stays
 *            a superset of every thread's (what LeakSanitizer's ptrace() of the
 *            threads at exit needs, and the threads a reload starts inherit)
 *   worker   CAP_BPF (original-destination lookups, as above), CAP_NET_ADMIN
 *            (SO_MARK on every upstream socket), CAP_NET_BIND_SERVICE (Gateway
 *            ports below 1024 open on reloads)
 *   net      the Kubernetes API watchers: CAP_NET_ADMIN, for SO_MARK on each
 *            connection they open (reconnects too)
 *   none     the resolver and reload threads: their sockets and files are open
 *            or readable without privilege
 *
 * Everything else (CAP_SYS_RESOURCE, CAP_DAC_OVERRIDE, CAP_SYS_PTRACE,
 * CAP_SYS_MODULE, CAP_SETUID, ...) leaves the permitted set and the bounding
 * set, and no_new_privs is set, so no thread can get it back. Threads share
 * one address space: this narrows what a stray syscall can do, it is not a
 * wall between threads.
 */
#ifndef SHUNT_PRIVS_H
#define SHUNT_PRIVS_H

#include <stdint.h>

enum privs_role {
	PRIVS_MAIN,
	PRIVS_WORKER,
	PRIVS_NET,
	PRIVS_NONE,
};

/* The capabilities @role keeps, as a mask of 1 << CAP_*. */
uint64_t privs_keep_mask(enum privs_role role);

/*
 * Reduces the calling thread's capabilities (effective, permitted,
 * inheritable, ambient, bounding) to privs_keep_mask(@role) and sets
 * no_new_privs. Only ever takes away: a capability the thread lacks stays
 * lacking. 0 or -errno (logged); the bounding set is best effort (it needs
 * CAP_SETPCAP, which a container may not grant).
 */
int privs_drop(enum privs_role role);

/* The calling thread's effective capabilities, as a mask of 1 << CAP_*; 0 on error. */
uint64_t privs_effective(void);

#endif
