// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Start-up probes: this machine's kernel has everything, and a kernel that
 * lacks a feature (simulated through the probe table) gets exactly the one
 * line an operator should read.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "probe.h"

/* A simulated kernel: everything present unless a test says otherwise. */
static struct {
	bool unprivileged;
	bool no_link_sockmap; /* a kernel before 6.10 */
	enum bpf_prog_type missing_prog;
	enum bpf_prog_type helper_prog;
	enum bpf_func_id missing_helper;
	enum bpf_attach_type missing_attach;
	int attach_err;
	unsigned helper_calls;
} sim;

static bool sim_privileged(void)
{
	return !sim.unprivileged;
}

static int sim_prog_type(enum bpf_prog_type type)
{
	return type != sim.missing_prog;
}

static int sim_attach_type(enum bpf_prog_type type, enum bpf_attach_type attach)
{
	if (sim.attach_err)
		return sim.attach_err;
	return attach != sim.missing_attach;
}

static int sim_map_type(enum bpf_map_type type)
{
	return 1;
}

static int sim_helper(enum bpf_prog_type type, enum bpf_func_id helper)
{
	sim.helper_calls++;
	return !(type == sim.helper_prog && helper == sim.missing_helper);
}

static int sim_present(void)
{
	return 1;
}

static int sim_link_sockmap(void)
{
	return !sim.no_link_sockmap;
}

static const struct probe_ops sim_ops = {
	.privileged = sim_privileged,
	.prog_type = sim_prog_type,
	.attach_type = sim_attach_type,
	.map_type = sim_map_type,
	.helper = sim_helper,
	.link_create = sim_present,
	.link_update = sim_present,
	.link_sockmap = sim_link_sockmap,
	.kernel_btf = sim_present,
	.bpffs = sim_present,
	.cgroup2 = sim_present,
};

static int reset_sim(void **state)
{
	memset(&sim, 0, sizeof(sim));
	sim.missing_prog = BPF_PROG_TYPE_UNSPEC;
	sim.missing_attach = __MAX_BPF_ATTACH_TYPE;
	return 0;
}

static const struct probe_result *find(const struct probe_report *r, const char *name)
{
	for (unsigned i = 0; i < r->n; i++)
		if (!strcmp(r->res[i].feature->name, name))
			return &r->res[i];
	fail_msg("no feature named %s", name);
	return NULL;
}

static unsigned count(const struct probe_report *r, enum probe_status status)
{
	unsigned n = 0;

	for (unsigned i = 0; i < r->n; i++)
		n += r->res[i].status == status;
	return n;
}

static void test_every_probe_passes_on_this_kernel(void **state)
{
	struct probe_report r;
	char line[512];

	if (!probe_ops_kernel.privileged())
		skip(); /* the probes load programs: root or CAP_BPF+CAP_NET_ADMIN */
	assert_int_equal(probe_kernel(&r), 0);
	assert_true(r.n >= 26);
	assert_int_equal(r.missing_fast_path, 0); /* Linux 6.10 or later has the fast path's too */
	for (unsigned i = 0; i < r.n; i++) {
		probe_line(&r.res[i], line, sizeof(line));
		if (r.res[i].status != PROBE_OK)
			fail_msg("%s", line);
	}
}

static void test_missing_helper_is_one_exact_line(void **state)
{
	struct probe_report r;
	char line[512];

	sim.helper_prog = BPF_PROG_TYPE_CGROUP_SOCK;
	sim.missing_helper = BPF_FUNC_get_socket_cookie;
	assert_int_equal(probe_kernel_ops(&sim_ops, &r), 1);
	assert_int_equal(count(&r, PROBE_MISSING), 1);
	assert_int_equal(count(&r, PROBE_SKIPPED), 0);
	probe_line(find(&r, "bpf_get_socket_cookie() in cgroup/sock programs"), line, sizeof(line));
	assert_string_equal(line, "bpf_get_socket_cookie() in cgroup/sock programs: missing: shunt "
				  "needs it to recognise the agent's listening sockets when they "
				  "are released; needs Linux 5.7 or later");
}

/* A 5.8 kernel: everything but the sock_release hook. */
static void test_kernel_without_sock_release(void **state)
{
	struct probe_report r;
	char line[512];

	sim.missing_attach = BPF_CGROUP_INET_SOCK_RELEASE;
	assert_int_equal(probe_kernel_ops(&sim_ops, &r), 1);
	probe_line(find(&r, "cgroup/sock_release programs"), line, sizeof(line));
	assert_string_equal(line,
			    "cgroup/sock_release programs: missing: shunt needs it to void the "
			    "agent's heartbeat the instant its listener closes (fail open); "
			    "needs Linux 5.9 or later");
	probe_line(find(&r, "cgroup/getpeername4 and getpeername6 programs"), line, sizeof(line));
	assert_string_equal(line, "cgroup/getpeername4 and getpeername6 programs: ok (Linux 5.8+)");
}

static void test_missing_program_type_skips_what_depends_on_it(void **state)
{
	struct probe_report r;
	char line[512];

	sim.missing_prog = BPF_PROG_TYPE_CGROUP_SOCK_ADDR;
	assert_int_equal(probe_kernel_ops(&sim_ops, &r), 1);
	probe_line(find(&r, "cgroup/connect4 and connect6 programs"), line, sizeof(line));
	assert_string_equal(line,
			    "cgroup/connect4 and connect6 programs: missing: shunt needs it to "
			    "steer connect() to a service VIP to the agent or a backend; needs "
			    "Linux 4.17 or later");
	/* getpeername, 5 helpers, link create and update: not probed, so not blamed. */
	assert_int_equal(count(&r, PROBE_SKIPPED), 8);
	assert_int_equal(find(&r, "BPF_LINK_UPDATE")->status, PROBE_SKIPPED);
	/*
	 * libbpf's helper probe says "supported" for an unknown program type: never
	 * asked. The others are: sockops (2) and cgroup/sock (1), sk_msg (2).
	 */
	assert_int_equal(sim.helper_calls, 5);
}

/* A 6.9 kernel: all shunt needs, but no sk_msg link. Only --fast-path on is refused. */
static void test_kernel_without_sockmap_link_lacks_only_the_fast_path(void **state)
{
	struct probe_report r;
	char line[512];

	sim.no_link_sockmap = true;
	assert_int_equal(probe_kernel_ops(&sim_ops, &r), 0);
	assert_int_equal(r.missing, 0);
	assert_int_equal(r.missing_fast_path, 1);
	probe_line(find(&r, "bpf_link for sk_msg programs (BPF_LINK_TYPE_SOCKMAP)"), line,
		   sizeof(line));
	assert_string_equal(line, "bpf_link for sk_msg programs (BPF_LINK_TYPE_SOCKMAP): missing: "
				  "shunt needs it to keep the sk_msg program attached through a "
				  "pinned link, adopted by the next agent; needs Linux 6.10 or "
				  "later; or run shuntd --fast-path off");
	probe_summary(&r, line, sizeof(line));
	assert_non_null(strstr(line, "has every feature shunt needs, but lacks 1 feature(s) the "
				     "fast path needs (--fast-path on)"));
}

/* No sk_msg program type: the fast path's helpers and link are not probed, not blamed. */
static void test_kernel_without_sk_msg_skips_its_helpers(void **state)
{
	struct probe_report r;

	sim.missing_prog = BPF_PROG_TYPE_SK_MSG;
	assert_int_equal(probe_kernel_ops(&sim_ops, &r), 0);
	assert_int_equal(r.missing_fast_path, 1);
	assert_int_equal(find(&r, "sk_msg programs")->status, PROBE_MISSING);
	assert_int_equal(find(&r, "bpf_msg_redirect_hash() in sk_msg programs")->status,
			 PROBE_SKIPPED);
	assert_int_equal(find(&r, "bpf_sk_storage_get() in sk_msg programs")->status,
			 PROBE_SKIPPED);
	assert_int_equal(find(&r, "bpf_link for sk_msg programs (BPF_LINK_TYPE_SOCKMAP)")->status,
			 PROBE_SKIPPED);
	assert_int_equal(find(&r, "bpf_sock_hash_update() in sockops programs")->status, PROBE_OK);
}

static void test_unprivileged_is_one_line_not_twenty(void **state)
{
	struct probe_report r;
	char line[512];

	sim.unprivileged = true;
	assert_int_equal(probe_kernel_ops(&sim_ops, &r), 1);
	probe_line(&r.res[0], line, sizeof(line));
	assert_string_equal(line,
			    "privileges to load BPF programs: missing: shunt needs it to load "
			    "its programs and attach them to cgroups; run as root, or with "
			    "CAP_BPF and CAP_NET_ADMIN (CAP_SYS_ADMIN before Linux 5.8)");
	/* What needs no bpf(2) call is still probed. */
	assert_int_equal(find(&r, "kernel BTF (/sys/kernel/btf/vmlinux)")->status, PROBE_OK);
	assert_int_equal(find(&r, "a mounted cgroup v2 hierarchy")->status, PROBE_OK);
	assert_int_equal(sim.helper_calls, 0);
}

static void test_failed_probe_is_unknown_not_missing(void **state)
{
	struct probe_report r;
	char line[512];

	sim.attach_err = -EPERM;
	assert_int_equal(probe_kernel_ops(&sim_ops, &r), 0);
	assert_int_equal(count(&r, PROBE_UNKNOWN), 2);
	probe_line(find(&r, "cgroup/getpeername4 and getpeername6 programs"), line, sizeof(line));
	assert_string_equal(line, "cgroup/getpeername4 and getpeername6 programs: cannot probe: "
				  "Operation not permitted; needs Linux 5.8 or later");
}

static void test_summary_names_the_running_kernel(void **state)
{
	struct probe_report r = {.missing = 2};
	char line[256], want[256];
	struct utsname u;

	assert_int_equal(uname(&u), 0);
	snprintf(want, sizeof(want), "shuntd: this kernel (%s) lacks 2 feature(s) shunt needs",
		 u.release);
	probe_summary(&r, line, sizeof(line));
	assert_string_equal(line, want);
}

static void test_verifier_summary_takes_the_last_words(void **state)
{
	static const char msg[] = "libbpf: prog 'shunt_connect4': -- BEGIN PROG LOAD LOG --\n"
				  "0: R1=ctx() R10=fp0\n"
				  "; int shunt_connect4(struct bpf_sock_addr *ctx)\n"
				  "12: (61) r2 = *(u32 *)(r1 +4)\n"
				  "R1 invalid mem access 'scalar'\n"
				  "processed 12 insns (limit 1000000) max_states_per_insn 0\n"
				  "-- END PROG LOAD LOG --\n";
	char prog[64], line[256];

	assert_int_equal(probe_verifier_summary(msg, prog, sizeof(prog), line, sizeof(line)), 0);
	assert_string_equal(prog, "shunt_connect4");
	assert_string_equal(line, "R1 invalid mem access 'scalar'");
	assert_int_equal(probe_verifier_summary("prog 'x': BPF program load failed: Permission "
						"denied\n",
						prog, sizeof(prog), line, sizeof(line)),
			 -ENOENT);
}

/* What an operator or an init container runs: exit 0 on this kernel. */
static void test_check_kernel_exits_0_here(void **state)
{
	char out[8192];
	size_t n;
	FILE *p;
	int rc;

	if (access("build/shuntd", X_OK) || !probe_ops_kernel.privileged())
		skip();
	p = popen("build/shuntd --check-kernel 2>&1", "r");
	assert_non_null(p);
	n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = '\0';
	rc = pclose(p);
	assert_true(WIFEXITED(rc));
	assert_int_equal(WEXITSTATUS(rc), 0);
	assert_non_null(strstr(out, "cgroup/sock_release programs: ok (Linux 5.9+)"));
	assert_non_null(strstr(out, "has every feature shunt needs"));
	assert_null(strstr(out, "missing"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_probe_passes_on_this_kernel),
		cmocka_unit_test_setup(test_missing_helper_is_one_exact_line, reset_sim),
		cmocka_unit_test_setup(test_kernel_without_sock_release, reset_sim),
		cmocka_unit_test_setup(test_missing_program_type_skips_what_depends_on_it,
				       reset_sim),
		cmocka_unit_test_setup(test_kernel_without_sockmap_link_lacks_only_the_fast_path,
				       reset_sim),
		cmocka_unit_test_setup(test_kernel_without_sk_msg_skips_its_helpers, reset_sim),
		cmocka_unit_test_setup(test_unprivileged_is_one_line_not_twenty, reset_sim),
		cmocka_unit_test_setup(test_failed_probe_is_unknown_not_missing, reset_sim),
		cmocka_unit_test(test_summary_names_the_running_kernel),
		cmocka_unit_test(test_verifier_summary_takes_the_last_words),
		cmocka_unit_test(test_check_kernel_exits_0_here),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
