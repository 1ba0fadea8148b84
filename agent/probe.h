/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Start-up checks: does this kernel (and this process) have every feature
 * shunt's programs need? Answered before anything is loaded, so a node
 * that cannot run shunt gets one readable line per missing feature instead
 * of a verifier dump.
 */
#ifndef SHUNT_PROBE_H
#define SHUNT_PROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/bpf.h>

/* One feature shunt needs, as an operator reads it. */
struct probe_feature {
	const char *name;   /* "cgroup/getpeername4 programs" */
	const char *need;   /* what shunt does with it */
	const char *kernel; /* first Linux release that has it; NULL: not a kernel feature */
	const char *hint;   /* what to do when it is missing, or NULL */
	bool fast_path;	    /* needed by shuntd --fast-path on only */
};

enum probe_status {
	PROBE_OK,      /* present */
	PROBE_MISSING, /* absent: shunt cannot run here */
	PROBE_SKIPPED, /* not probed: something it depends on is missing */
	PROBE_UNKNOWN, /* the probe itself failed (err): the loader will tell */
};

struct probe_result {
	const struct probe_feature *feature;
	enum probe_status status;
	int err; /* PROBE_UNKNOWN: -errno of the probe */
};

#define PROBE_MAX 32

struct probe_report {
	struct probe_result res[PROBE_MAX];
	unsigned n;		    /* results in res[], in check order */
	unsigned missing;	    /* how many are PROBE_MISSING among those every agent needs */
	unsigned missing_fast_path; /* how many are PROBE_MISSING among fast_path ones */
};

/*
 * How each kind of feature is probed. Each returns 1 (present), 0 (absent)
 * or -errno (cannot tell). Tests pass their own table to simulate a kernel.
 */
struct probe_ops {
	bool (*privileged)(void); /* may this process load and attach programs? */
	int (*prog_type)(enum bpf_prog_type type);
	int (*attach_type)(enum bpf_prog_type type, enum bpf_attach_type attach);
	int (*map_type)(enum bpf_map_type type);
	int (*helper)(enum bpf_prog_type type, enum bpf_func_id helper);
	int (*link_create)(void);  /* BPF_LINK_CREATE for cgroup programs */
	int (*link_update)(void);  /* BPF_LINK_UPDATE */
	int (*link_sockmap)(void); /* BPF_LINK_CREATE for sk_msg on a sockmap; NULL: present */
	int (*kernel_btf)(void);   /* vmlinux BTF, for CO-RE relocations */
	int (*bpffs)(void);	   /* the bpf filesystem type */
	int (*cgroup2)(void);	   /* a mounted cgroup2 hierarchy */
};

/* The real probes: libbpf's probing API, bpf(2), /sys and /proc. */
extern const struct probe_ops probe_ops_kernel;

/*
 * Probes every feature shunt needs with the real probes, loading nothing
 * that outlives the call. Fills *@out; returns out->missing (0: all there),
 * which leaves out what only the fast path needs (out->missing_fast_path).
 */
int probe_kernel(struct probe_report *out);

/* probe_kernel() with the probes of @ops. */
int probe_kernel_ops(const struct probe_ops *ops, struct probe_report *out);

/*
 * Writes the one line an operator reads for @r (no newline): for a missing
 * feature, its name, what shunt needs it for and the first kernel that has
 * it. Returns what snprintf() returns.
 */
int probe_line(const struct probe_result *r, char *buf, size_t len);

/* Writes "shuntd: this kernel (RELEASE) lacks N feature(s) shunt needs". */
int probe_summary(const struct probe_report *r, char *buf, size_t len);

/* "ok", "missing", "skipped" or "unknown". */
const char *probe_status_str(enum probe_status status);

/*
 * From one libbpf warning that carries a verifier log ("prog 'NAME': --
 * BEGIN PROG LOAD LOG --\n...-- END PROG LOAD LOG --\n"), copies the
 * program name to @prog and the verifier's last words (the last line that
 * is not a statistics line) to @line. Returns 0, or -ENOENT when @msg is
 * not such a message.
 */
int probe_verifier_summary(const char *msg, char *prog, size_t prog_len, char *line,
			   size_t line_len);

#endif /* SHUNT_PROBE_H */
