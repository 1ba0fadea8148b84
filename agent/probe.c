// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Kernel feature probes. Each check names a feature of the bpf/ programs, what
 * shunt does with it, and the first mainline release that has it. Where
 * each version comes from is said next to it; "bpftool-cgroup.rst" is
 * tools/bpf/bpftool/Documentation/bpftool-cgroup.rst, whose attach type
 * list gives a "since" release per cgroup hook.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>
#include <linux/capability.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "probe.h"
#include "sysfs.h"

#ifndef CAP_BPF
#define CAP_BPF 39 /* Linux 5.8; older kernels never set it */
#endif

enum probe_kind {
	PK_PRIV,
	PK_BTF,
	PK_BPFFS,
	PK_CGROUP2,
	PK_PROG,
	PK_ATTACH,
	PK_MAP,
	PK_HELPER,
	PK_LINK_CREATE,
	PK_LINK_UPDATE,
	PK_LINK_SOCKMAP,
};

/* Check ids: a check may depend on one earlier check (needs). */
enum {
	C_PRIV,
	C_BTF,
	C_BPFFS,
	C_CGROUP2,
	C_SOCK_ADDR,
	C_GETPEERNAME,
	C_SOCKOPS,
	C_CGROUP_SOCK,
	C_SOCK_RELEASE,
	C_MAP_HASH,
	C_MAP_ARRAY,
	C_MAP_PERCPU_ARRAY,
	C_MAP_LRU_HASH,
	C_MAP_SK_STORAGE,
	C_H_SA_STORAGE_GET,
	C_H_SA_STORAGE_DELETE,
	C_H_SA_PRANDOM,
	C_H_SA_KTIME,
	C_H_SOCKOPS_STORAGE_GET,
	C_H_SOCK_COOKIE,
	C_H_SA_NETNS_COOKIE,
	C_LINK_CREATE,
	C_LINK_UPDATE,
	C_MAP_SOCKHASH,
	C_SK_MSG,
	C_H_SOCKOPS_SOCK_HASH_UPDATE,
	C_H_MSG_REDIRECT_HASH,
	C_H_MSG_STORAGE_GET,
	C_LINK_SOCKMAP,
	C_COUNT,
};

struct probe_check {
	struct probe_feature f;
	enum probe_kind kind;
	int type;  /* enum bpf_prog_type or enum bpf_map_type */
	int arg;   /* enum bpf_attach_type or enum bpf_func_id */
	int needs; /* check id that must be present first, or -1 */
};

/* Everything below goes through bpf(2), which needs the privileges first. */
#define BPF_NEEDS C_PRIV

#define FAST_PATH_HINT "or run shuntd --fast-path off"

static const struct probe_check checks[C_COUNT] = {
	[C_PRIV] = {{"privileges to load BPF programs",
		     "load its programs and attach them to "
		     "cgroups",
		     NULL,
		     "run as root, or with CAP_BPF and CAP_NET_ADMIN (CAP_SYS_ADMIN before "
		     "Linux 5.8)"},
		    PK_PRIV,
		    0,
		    0,
		    -1},
	/*
	 * /sys/kernel/btf/vmlinux: commit 341dfcf8d78e ("btf: expose BTF info
	 * through sysfs", Aug 2019), merged for 5.4 (its ABI file says 5.5).
	 */
	[C_BTF] = {{"kernel BTF (/sys/kernel/btf/vmlinux)",
		    "relocate the programs' CO-RE field accesses (libbpf reads it)", "5.4",
		    "build the kernel with CONFIG_DEBUG_INFO_BTF=y"},
		   PK_BTF,
		   0,
		   0,
		   -1},
	/* bpffs: commit b2197755b263 ("bpf: add support for persistent maps/progs"), 4.4. */
	[C_BPFFS] = {{"the bpf filesystem (bpffs)",
		      "pin its maps and links so they outlive the agent", "4.4",
		      "build the kernel with CONFIG_BPF_SYSCALL=y"},
		     PK_BPFFS,
		     0,
		     0,
		     -1},
	/* The "cgroup2" filesystem type: commit 67e9c74b8a87, 4.5. sysfs.c finds the mount. */
	[C_CGROUP2] = {{"a mounted cgroup v2 hierarchy",
			"attach its programs to the mesh pods' cgroup v2 directory", "4.5",
			"mount it: mount -t cgroup2 none /sys/fs/cgroup/unified"},
		       PK_CGROUP2,
		       0,
		       0,
		       -1},
	/* connect4/connect6: "since 4.17" in bpftool-cgroup.rst. */
	[C_SOCK_ADDR] = {{"cgroup/connect4 and connect6 programs",
			  "steer connect() to a service VIP to the agent or a backend", "4.17",
			  NULL},
			 PK_PROG,
			 BPF_PROG_TYPE_CGROUP_SOCK_ADDR,
			 0,
			 BPF_NEEDS},
	/* getpeername4/6: "since 5.8" in bpftool-cgroup.rst (Daniel Borkmann, May 2020). */
	[C_GETPEERNAME] = {{"cgroup/getpeername4 and getpeername6 programs",
			    "answer getpeername() with the service VIP on a redirected socket",
			    "5.8", NULL},
			   PK_ATTACH,
			   BPF_PROG_TYPE_CGROUP_SOCK_ADDR,
			   BPF_CGROUP_INET4_GETPEERNAME,
			   C_SOCK_ADDR},
	/*
	 * sockops: commit 40304b2a1567 ("bpf: BPF support for sock_ops", July
	 * 2017), 4.13 (docs.ebpf.io; bpftool-cgroup.rst says 4.12).
	 */
	[C_SOCKOPS] = {{"sockops programs",
			"index connections sent to the agent by 4-tuple when they are established",
			"4.13", NULL},
		       PK_PROG,
		       BPF_PROG_TYPE_SOCK_OPS,
		       0,
		       BPF_NEEDS},
	/* cgroup sock programs (sock_create): "since 4.10" in bpftool-cgroup.rst. */
	[C_CGROUP_SOCK] = {{"cgroup/sock programs", "host the cgroup/sock_release hook", "4.10",
			    NULL},
			   PK_PROG,
			   BPF_PROG_TYPE_CGROUP_SOCK,
			   0,
			   BPF_NEEDS},
	/* sock_release: "since 5.9" in bpftool-cgroup.rst; commit f5836749c9c0 (July 2020). */
	[C_SOCK_RELEASE] = {{"cgroup/sock_release programs",
			     "void the agent's heartbeat the instant its listener closes (fail "
			     "open)",
			     "5.9", NULL},
			    PK_ATTACH,
			    BPF_PROG_TYPE_CGROUP_SOCK,
			    BPF_CGROUP_INET_SOCK_RELEASE,
			    C_CGROUP_SOCK},
	/* Map types: docs.ebpf.io map-type pages (hash and array 3.19, percpu array 4.6, LRU 4.10).
	 */
	[C_MAP_HASH] = {{"hash maps", "hold services, backends and the agent's listeners", "3.19",
			 NULL},
			PK_MAP,
			BPF_MAP_TYPE_HASH,
			0,
			BPF_NEEDS},
	[C_MAP_ARRAY] = {{"array maps", "hold the agent's address and heartbeat", "3.19", NULL},
			 PK_MAP,
			 BPF_MAP_TYPE_ARRAY,
			 0,
			 BPF_NEEDS},
	[C_MAP_PERCPU_ARRAY] = {{"per-CPU array maps", "count what the programs did", "4.6", NULL},
				PK_MAP,
				BPF_MAP_TYPE_PERCPU_ARRAY,
				0,
				BPF_NEEDS},
	[C_MAP_LRU_HASH] = {{"LRU hash maps",
			     "hold the 4-tuple index and evict what dead clients leave", "4.10",
			     NULL},
			    PK_MAP,
			    BPF_MAP_TYPE_LRU_HASH,
			    0,
			    BPF_NEEDS},
	/* sk_storage: Documentation/bpf/map_sk_storage.rst "introduced in kernel version 5.2". */
	[C_MAP_SK_STORAGE] = {{"socket-local storage maps",
			       "keep each captured socket's original destination", "5.2", NULL},
			      PK_MAP,
			      BPF_MAP_TYPE_SK_STORAGE,
			      0,
			      BPF_NEEDS},
	/*
	 * sk_storage helpers in sock_addr and sockops programs (with ctx->sk):
	 * "bpf: export bpf_sock for BPF_PROG_TYPE_CGROUP_SOCK_ADDR / SOCK_OPS
	 * prog type" (Stanislav Fomichev), bpf-next pull of 2019-06-19, 5.3.
	 */
	[C_H_SA_STORAGE_GET] = {{"bpf_sk_storage_get() in cgroup/connect and getpeername programs",
				 "record and read a socket's original destination", "5.3", NULL},
				PK_HELPER,
				BPF_PROG_TYPE_CGROUP_SOCK_ADDR,
				BPF_FUNC_sk_storage_get,
				C_SOCK_ADDR},
	[C_H_SA_STORAGE_DELETE] = {{"bpf_sk_storage_delete() in cgroup/connect programs",
				    "drop a reconnecting socket's stale original destination",
				    "5.3", NULL},
				   PK_HELPER,
				   BPF_PROG_TYPE_CGROUP_SOCK_ADDR,
				   BPF_FUNC_sk_storage_delete,
				   C_SOCK_ADDR},
	/*
	 * Both in the base helper set of every networking program since 4.2
	 * (commit 17ca8cbf49be for ktime; prandom since 4.1), so with
	 * cgroup/connect4 itself.
	 */
	[C_H_SA_PRANDOM] = {{"bpf_get_prandom_u32() in cgroup/connect programs",
			     "pick a backend slot at random", "4.17", NULL},
			    PK_HELPER,
			    BPF_PROG_TYPE_CGROUP_SOCK_ADDR,
			    BPF_FUNC_get_prandom_u32,
			    C_SOCK_ADDR},
	[C_H_SA_KTIME] = {{"bpf_ktime_get_ns() in cgroup/connect programs",
			   "tell a live agent's heartbeat from a stale one", "4.17", NULL},
			  PK_HELPER,
			  BPF_PROG_TYPE_CGROUP_SOCK_ADDR,
			  BPF_FUNC_ktime_get_ns,
			  C_SOCK_ADDR},
	[C_H_SOCKOPS_STORAGE_GET] = {{"bpf_sk_storage_get() in sockops programs",
				      "read the original destination when indexing a connection",
				      "5.3", NULL},
				     PK_HELPER,
				     BPF_PROG_TYPE_SOCK_OPS,
				     BPF_FUNC_sk_storage_get,
				     C_SOCKOPS},
	/*
	 * "bpf: Enable retrieval of socket cookie for bind/post-bind hook"
	 * (Daniel Borkmann) adds it to all cgroup/sock programs; bpf-next pull
	 * of 2020-03-30, 5.7.
	 */
	[C_H_SOCK_COOKIE] = {{"bpf_get_socket_cookie() in cgroup/sock programs",
			      "recognise the agent's listening sockets when they are released",
			      "5.7", NULL},
			     PK_HELPER,
			     BPF_PROG_TYPE_CGROUP_SOCK,
			     BPF_FUNC_get_socket_cookie,
			     C_CGROUP_SOCK},
	/*
	 * "bpf: Add netns cookie and enable it for bpf cgroup hooks" (Daniel
	 * Borkmann), the same bpf-next pull of 2020-03-30, 5.7.
	 */
	[C_H_SA_NETNS_COOKIE] = {{"bpf_get_netns_cookie() in cgroup/connect programs",
				  "tell a mesh pod's sockets from the others on the node", "5.7",
				  NULL},
				 PK_HELPER,
				 BPF_PROG_TYPE_CGROUP_SOCK_ADDR,
				 BPF_FUNC_get_netns_cookie,
				 C_SOCK_ADDR},
	/*
	 * "bpf: Implement bpf_link-based cgroup BPF program attachment" and
	 * "bpf: Implement bpf_prog replacement for an active bpf_cgroup_link"
	 * (Andrii Nakryiko): same bpf-next pull of 2020-03-30, 5.7.
	 */
	[C_LINK_CREATE] = {{"bpf_link for cgroup programs (BPF_LINK_CREATE)",
			    "keep the programs attached through pinned links when the agent "
			    "exits or dies",
			    "5.7", NULL},
			   PK_LINK_CREATE,
			   0,
			   0,
			   C_SOCK_ADDR},
	[C_LINK_UPDATE] = {{"BPF_LINK_UPDATE",
			    "let a new agent swap its programs into the pinned links with no "
			    "gap",
			    "5.7", NULL},
			   PK_LINK_UPDATE,
			   0,
			   0,
			   C_SOCK_ADDR},
	/*
	 * The fast path's features (shuntd --fast-path on only). Sockhash: commit
	 * 81110384441a ("bpf: sockmap, add hash map support", John Fastabend,
	 * May 2018), 4.18, with bpf_sock_hash_update and bpf_msg_redirect_hash.
	 */
	[C_MAP_SOCKHASH] = {{"sockhash maps",
			     "index pod<->agent sockets for the same-node fast path", "4.18",
			     FAST_PATH_HINT, true},
			    PK_MAP,
			    BPF_MAP_TYPE_SOCKHASH,
			    0,
			    BPF_NEEDS},
	/* sk_msg: commit 4f738adba30a ("bpf: create tcp_bpf_ulp allowing BPF to monitor socket
	 * TX/RX data", March 2018), 4.17. */
	[C_SK_MSG] = {{"sk_msg programs", "redirect pod<->agent data between sockets (fast path)",
		       "4.17", FAST_PATH_HINT, true},
		      PK_PROG,
		      BPF_PROG_TYPE_SK_MSG,
		      0,
		      BPF_NEEDS},
	[C_H_SOCKOPS_SOCK_HASH_UPDATE] = {{"bpf_sock_hash_update() in sockops programs",
					   "put established pod<->agent sockets in the sockhash",
					   "4.18", FAST_PATH_HINT, true},
					  PK_HELPER,
					  BPF_PROG_TYPE_SOCK_OPS,
					  BPF_FUNC_sock_hash_update,
					  C_SOCKOPS},
	[C_H_MSG_REDIRECT_HASH] = {{"bpf_msg_redirect_hash() in sk_msg programs",
				    "hand a message to the peer socket's ingress queue", "4.18",
				    FAST_PATH_HINT, true},
				   PK_HELPER,
				   BPF_PROG_TYPE_SK_MSG,
				   BPF_FUNC_msg_redirect_hash,
				   C_SK_MSG},
	/*
	 * Commit 13d70f5a5ecf ("bpf, sk_msg: Add get socket storage helpers",
	 * John Fastabend), with sk_msg_md->sk; bpf-next of June 2020, 5.8.
	 */
	[C_H_MSG_STORAGE_GET] = {{"bpf_sk_storage_get() in sk_msg programs",
				  "keep each socket on one path (never reorder its bytes)", "5.8",
				  FAST_PATH_HINT, true},
				 PK_HELPER,
				 BPF_PROG_TYPE_SK_MSG,
				 BPF_FUNC_sk_storage_get,
				 C_SK_MSG},
	/*
	 * Commit 699c23f02c65 ("bpf: Add bpf_link support for sk_msg and sk_skb
	 * progs", Yonghong Song, April 2024), 6.10.
	 */
	[C_LINK_SOCKMAP] = {{"bpf_link for sk_msg programs (BPF_LINK_TYPE_SOCKMAP)",
			     "keep the sk_msg program attached through a pinned link, adopted "
			     "by the next agent",
			     "6.10", FAST_PATH_HINT, true},
			    PK_LINK_SOCKMAP,
			    0,
			    0,
			    C_SK_MSG},
};

/* r0 = 1; exit: accepted by every hook shunt uses (1 lets the syscall proceed). */
static const struct bpf_insn ret1[] = {
	{.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 1},
	{.code = BPF_JMP | BPF_EXIT},
};

static int load_ret1(enum bpf_prog_type type, enum bpf_attach_type attach)
{
	LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = attach);

	return bpf_prog_load(type, NULL, "GPL", ret1, sizeof(ret1) / sizeof(ret1[0]), &opts);
}

static bool kernel_privileged(void)
{
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {{0}};

	if (syscall(SYS_capget, &hdr, data))
		return geteuid() == 0;
#define HAS_CAP(c) (data[(c) / 32].effective & (1u << ((c) % 32)))
	/* bpf_capable() is CAP_BPF or CAP_SYS_ADMIN; networking programs also want CAP_NET_ADMIN.
	 */
	return HAS_CAP(CAP_SYS_ADMIN) || (HAS_CAP(CAP_BPF) && HAS_CAP(CAP_NET_ADMIN));
#undef HAS_CAP
}

static int kernel_prog_type(enum bpf_prog_type type)
{
	return libbpf_probe_bpf_prog_type(type, NULL);
}

/*
 * The kernel checks expected_attach_type at load time and refuses one it
 * does not know with EINVAL, so loading a trivial program is the probe.
 */
static int kernel_attach_type(enum bpf_prog_type type, enum bpf_attach_type attach)
{
	int fd = load_ret1(type, attach);

	if (fd >= 0) {
		close(fd);
		return 1;
	}
	fd = -errno;
	return fd == -EINVAL || fd == -EOPNOTSUPP ? 0 : fd;
}

static int kernel_map_type(enum bpf_map_type type)
{
	return libbpf_probe_bpf_map_type(type, NULL);
}

static int kernel_helper(enum bpf_prog_type type, enum bpf_func_id helper)
{
	return libbpf_probe_bpf_helper(type, helper, NULL);
}

/*
 * A command the kernel does not know fails with EINVAL; one it knows gets
 * as far as the bad fd we pass on purpose (-1: no cgroup, no link) and
 * fails with EBADF, attaching nothing.
 */
static int bad_fd_means_present(int ret)
{
	if (ret >= 0) {
		close(ret);
		return 1;
	}
	return ret == -EBADF ? 1 : ret == -EINVAL ? 0 : ret;
}

static int kernel_link_create(void)
{
	int prog = load_ret1(BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_CGROUP_INET4_CONNECT), ret;

	if (prog < 0)
		return -errno;
	ret = bpf_link_create(prog, -1, BPF_CGROUP_INET4_CONNECT, NULL);
	ret = ret < 0 ? -errno : ret;
	close(prog);
	return bad_fd_means_present(ret);
}

/* sk_msg programs attach to a sockmap through a link since 6.10; before, EINVAL. */
static int kernel_link_sockmap(void)
{
	int prog = load_ret1(BPF_PROG_TYPE_SK_MSG, BPF_SK_MSG_VERDICT), ret;

	if (prog < 0)
		return -errno;
	ret = bpf_link_create(prog, -1, BPF_SK_MSG_VERDICT, NULL);
	ret = ret < 0 ? -errno : ret;
	close(prog);
	return bad_fd_means_present(ret);
}

static int kernel_link_update(void)
{
	int prog = load_ret1(BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_CGROUP_INET4_CONNECT), ret;

	if (prog < 0)
		return -errno;
	ret = bpf_link_update(-1, prog, NULL);
	ret = ret < 0 ? -errno : ret;
	close(prog);
	return bad_fd_means_present(ret);
}

/* What libbpf's CO-RE will load: /sys/kernel/btf/vmlinux first, then vmlinux images on disk. */
static int kernel_btf(void)
{
	struct btf *btf;

	if (!access("/sys/kernel/btf/vmlinux", R_OK))
		return 1;
	btf = btf__load_vmlinux_btf();
	if (!btf)
		return 0;
	btf__free(btf);
	return 1;
}

static int kernel_bpffs(void)
{
	char line[128];
	FILE *f = fopen("/proc/filesystems", "re");
	int found = 0;

	if (!f)
		return -errno;
	while (!found && fgets(line, sizeof(line), f))
		found = !strcmp(line, "nodev\tbpf\n");
	fclose(f);
	return found;
}

/* The same lookup cgroup_open() does for a relative --cgroup. */
static int kernel_cgroup2(void)
{
	char path[PATH_MAX];
	int err = cgroup2_mount_path(path, sizeof(path));

	return !err ? 1 : err == -ENOENT ? 0 : err;
}

const struct probe_ops probe_ops_kernel = {
	.privileged = kernel_privileged,
	.prog_type = kernel_prog_type,
	.attach_type = kernel_attach_type,
	.map_type = kernel_map_type,
	.helper = kernel_helper,
	.link_create = kernel_link_create,
	.link_update = kernel_link_update,
	.link_sockmap = kernel_link_sockmap,
	.kernel_btf = kernel_btf,
	.bpffs = kernel_bpffs,
	.cgroup2 = kernel_cgroup2,
};

static int run_check(const struct probe_ops *ops, const struct probe_check *c)
{
	switch (c->kind) {
	case PK_PRIV:
		return ops->privileged();
	case PK_BTF:
		return ops->kernel_btf();
	case PK_BPFFS:
		return ops->bpffs();
	case PK_CGROUP2:
		return ops->cgroup2();
	case PK_PROG:
		return ops->prog_type(c->type);
	case PK_ATTACH:
		return ops->attach_type(c->type, c->arg);
	case PK_MAP:
		return ops->map_type(c->type);
	case PK_HELPER:
		return ops->helper(c->type, c->arg);
	case PK_LINK_CREATE:
		return ops->link_create();
	case PK_LINK_UPDATE:
		return ops->link_update();
	case PK_LINK_SOCKMAP:
		return ops->link_sockmap ? ops->link_sockmap() : 1;
	}
	return -EINVAL;
}

int probe_kernel_ops(const struct probe_ops *ops, struct probe_report *out)
{
	memset(out, 0, sizeof(*out));
	for (int i = 0; i < C_COUNT; i++) {
		const struct probe_check *c = &checks[i];
		struct probe_result *r = &out->res[out->n++];
		int ret;

		r->feature = &c->f;
		/*
		 * Without its prerequisite a probe would lie: libbpf's helper
		 * probe says "supported" when the program type itself is not.
		 */
		if (c->needs >= 0 && out->res[c->needs].status != PROBE_OK) {
			r->status = PROBE_SKIPPED;
			continue;
		}
		ret = run_check(ops, c);
		if (ret < 0) {
			r->status = PROBE_UNKNOWN;
			r->err = ret;
		} else {
			r->status = ret ? PROBE_OK : PROBE_MISSING;
			if (c->f.fast_path)
				out->missing_fast_path += !ret;
			else
				out->missing += !ret;
		}
	}
	return (int)out->missing;
}

int probe_kernel(struct probe_report *out)
{
	return probe_kernel_ops(&probe_ops_kernel, out);
}

const char *probe_status_str(enum probe_status status)
{
	switch (status) {
	case PROBE_OK:
		return "ok";
	case PROBE_MISSING:
		return "missing";
	case PROBE_SKIPPED:
		return "skipped";
	case PROBE_UNKNOWN:
		return "unknown";
	}
	return "?";
}

int probe_line(const struct probe_result *r, char *buf, size_t len)
{
	const struct probe_feature *f = r->feature;
	char since[32] = "";

	if (f->kernel)
		snprintf(since, sizeof(since), "; needs Linux %s or later", f->kernel);
	switch (r->status) {
	case PROBE_OK:
		return snprintf(buf, len, "%s: ok%s%s%s", f->name, f->kernel ? " (Linux " : "",
				f->kernel ? f->kernel : "", f->kernel ? "+)" : "");
	case PROBE_MISSING:
		return snprintf(buf, len, "%s: missing: shunt needs it to %s%s%s%s", f->name,
				f->need, since, f->hint ? "; " : "", f->hint ? f->hint : "");
	case PROBE_SKIPPED:
		return snprintf(buf, len, "%s: not probed (see the missing feature above)%s",
				f->name, since);
	case PROBE_UNKNOWN:
		return snprintf(buf, len, "%s: cannot probe: %s%s", f->name, strerror(-r->err),
				since);
	}
	return snprintf(buf, len, "%s: ?", f->name);
}

int probe_summary(const struct probe_report *r, char *buf, size_t len)
{
	struct utsname u;

	if (uname(&u))
		strcpy(u.release, "?");
	if (!r->missing && r->missing_fast_path)
		return snprintf(buf, len,
				"shuntd: this kernel (%s) has every feature shunt needs, but lacks "
				"%u feature(s) the fast path needs (--fast-path on)",
				u.release, r->missing_fast_path);
	if (!r->missing)
		return snprintf(buf, len, "shuntd: this kernel (%s) has every feature shunt needs",
				u.release);
	return snprintf(buf, len, "shuntd: this kernel (%s) lacks %u feature(s) shunt needs",
			u.release, r->missing);
}

#define LOAD_LOG_BEGIN "-- BEGIN PROG LOAD LOG --\n"
#define LOAD_LOG_END   "-- END PROG LOAD LOG --"

/* Lines the verifier adds after its verdict: statistics, not the reason. */
static bool verifier_stats_line(const char *s, size_t n)
{
	static const char *const prefixes[] = {"processed ", "verification time ", "stack depth "};

	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
		if (n >= strlen(prefixes[i]) && !strncmp(s, prefixes[i], strlen(prefixes[i])))
			return true;
	return false;
}

int probe_verifier_summary(const char *msg, char *prog, size_t prog_len, char *line,
			   size_t line_len)
{
	const char *body = strstr(msg, LOAD_LOG_BEGIN), *end, *name, *p, *last = NULL;
	size_t last_len = 0, name_len;

	if (!body || !prog_len || !line_len)
		return -ENOENT;
	/* libbpf: "prog '%s': -- BEGIN PROG LOAD LOG --\n%s-- END PROG LOAD LOG --\n" */
	name = strstr(msg, "prog '");
	name_len = 0;
	if (name && name < body) {
		name += strlen("prog '");
		while (name + name_len < body && name[name_len] != '\'')
			name_len++;
	}
	body += strlen(LOAD_LOG_BEGIN);
	end = strstr(body, LOAD_LOG_END);
	if (!end)
		end = body + strlen(body);
	for (p = body; p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);

		if (n && !verifier_stats_line(p, n)) {
			last = p;
			last_len = n;
		}
		p += n + 1;
	}
	snprintf(prog, prog_len, "%.*s", (int)name_len, name_len ? name : "");
	snprintf(line, line_len, "%.*s", (int)last_len, last ? last : "");
	return 0;
}
