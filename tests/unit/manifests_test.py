#!/usr/bin/env python3
"""What kubectl apply -k manifests/ would install, checked without a cluster.

Reads manifests/kustomization.yaml and every file it lists with a real YAML
parser (PyYAML: YAML 1.1, the dialect kubectl's decoder speaks, so an unquoted
`off` is a boolean here as there), and checks the invariants of issue 9:
RBAC is list/watch on exactly the resources the agent reads; the DaemonSet
runs privileged on the node's network with bpffs, the cgroup2 hierarchy and the
pods' network namespaces mounted as the agent needs them, NODE_NAME from the
downward API, probes on the admin API, requests and limits, system-node-critical,
and a preStop that leaves the pins alone; every image is the kustomization's.
Then against the build: every flag the manifests pass to shuntd and shuntctl is
one `BUILD/shuntd --help` lists, and the whole command line parses (the same
arguments, ConfigMap values substituted, with --help last); the Dockerfile's
runtime stage installs the package of every shared library they name (DT_NEEDED, found
where ldd finds it; apt brings what those need).

    python3 tests/unit/manifests_test.py [BUILD_DIR]

One "ok - " or "not ok - " line per check, "#   " lines under a failure. Exit
0 pass, 1 fail, 77 skip (no PyYAML: apt-get install python3-yaml).
"""
import os
import re
import shutil
import subprocess
import sys

try:
    import yaml
except ImportError:
    print("#" * 72)
    print("# SKIP manifests_test: no PyYAML (apt-get install python3-yaml; make deps)")
    print("#" * 72)
    sys.exit(77)

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
MANIFESTS = os.path.join(ROOT, "manifests")

# What the agent lists and watches (the discovery contract), as (apiGroup, resource).
RBAC_RESOURCES = {
    ("", "services"),
    ("", "pods"),
    ("", "namespaces"),
    ("", "secrets"),  # Gateway tls.credentialName: see rbac.yaml
    ("discovery.k8s.io", "endpointslices"),
    ("networking.istio.io", "virtualservices"),
    ("networking.istio.io", "destinationrules"),
    ("networking.istio.io", "serviceentries"),
    ("networking.istio.io", "gateways"),
    ("networking.istio.io", "sidecars"),
    ("networking.istio.io", "workloadentries"),
}
RBAC_VERBS = {"list", "watch"}
CAPABILITIES = {"BPF", "NET_ADMIN", "SYS_ADMIN", "SYS_RESOURCE"}
# ...and, for Gateway ports below 1024, this one more.
CAPABILITIES_GATEWAY = CAPABILITIES | {"NET_BIND_SERVICE"}
# Values for the downward API's fields when a command line is parsed here.
FIELD_SAMPLES = {"spec.nodeName": "node-a", "status.hostIP": "10.0.0.1", "status.podIP": "10.0.0.1"}
# A $(VAR) reference in a command or args, which kubelet expands from the container's env.
VAR_REF = r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)"
# Nothing a pod's preStop runs may remove what the next agent adopts.
UNPINNING = re.compile(r"\brm\b|unlink|unpin|detach|bpftool")

passed = failed = 0


def ok(what):
    global passed
    passed += 1
    print("ok - " + what)


def not_ok(what, details=()):
    global failed
    failed += 1
    print("not ok - " + what)
    for line in details:
        print("#   " + str(line))


def check(what, problems):
    """ok when @problems (a list of strings) is empty, else not ok with them."""
    if problems:
        not_ok(what, problems)
    else:
        ok(what)


def load_kustomization():
    path = os.path.join(MANIFESTS, "kustomization.yaml")
    with open(path) as f:
        kust = yaml.safe_load(f)
    problems, objects = [], []
    resources = kust.get("resources") or []
    for res in resources:
        p = os.path.join(MANIFESTS, res)
        if not os.path.isfile(p):
            problems.append("%s: listed in kustomization.yaml, not there" % res)
            continue
        try:
            with open(p) as f:
                docs = [d for d in yaml.safe_load_all(f) if d is not None]
        except yaml.YAMLError as e:
            problems.append("%s: %s" % (res, e))
            continue
        for d in docs:
            if not all(k in d for k in ("apiVersion", "kind", "metadata")) or not d["metadata"].get("name"):
                problems.append("%s: an object without apiVersion, kind or metadata.name" % res)
            else:
                objects.append(d)
    for name in sorted(os.listdir(MANIFESTS)):
        if name.endswith((".yaml", ".yml")) and name != "kustomization.yaml" and name not in resources:
            problems.append("%s: in manifests/, not in kustomization.yaml's resources" % name)
    check("kustomization.yaml: every resource exists and parses, every manifest is listed", problems)
    return kust, objects


def one(objects, kind):
    found = [o for o in objects if o["kind"] == kind]
    check("one %s" % kind, [] if len(found) == 1 else ["found %d" % len(found)])
    return found[0] if found else {}


def rbac_checks(role, binding, sa):
    problems, seen = [], set()
    for i, rule in enumerate(role.get("rules") or []):
        if set(rule.get("verbs") or []) != RBAC_VERBS:
            problems.append("rules[%d].verbs: %s, expected exactly list and watch" % (i, rule.get("verbs")))
        for key in ("resourceNames", "nonResourceURLs"):
            if key in rule:
                problems.append("rules[%d].%s: not expected" % (i, key))
        for g in rule.get("apiGroups") or []:
            for r in rule.get("resources") or []:
                seen.add((g, r))
    for g, r in sorted(seen - RBAC_RESOURCES):
        problems.append("grants %s/%s, which the agent does not read" % (g or "core", r))
    for g, r in sorted(RBAC_RESOURCES - seen):
        problems.append("lacks %s/%s, which the agent lists and watches" % (g or "core", r))
    check("ClusterRole: list and watch only, on exactly the resources the agent reads", problems)

    ref = binding.get("roleRef") or {}
    subjects = binding.get("subjects") or []
    meta = sa.get("metadata", {})
    problems = []
    if (ref.get("apiGroup"), ref.get("kind"), ref.get("name")) != (
        "rbac.authorization.k8s.io", "ClusterRole", role.get("metadata", {}).get("name")):
        problems.append("roleRef %s is not the ClusterRole" % ref)
    if [(s.get("kind"), s.get("name"), s.get("namespace")) for s in subjects] != [
            ("ServiceAccount", meta.get("name"), meta.get("namespace"))]:
        problems.append("subjects %s: expected only the ServiceAccount" % subjects)
    check("ClusterRoleBinding: the ClusterRole to the ServiceAccount", problems)


def flag_value(args, name):
    """The value of --NAME=V in @args, or None."""
    for a in args:
        if a.startswith("--%s=" % name):
            return a.split("=", 1)[1]
    return None


def host_port(addr):
    host, _, port = addr.rpartition(":")
    return host, int(port) if port.isdigit() else None


def mount(container, volumes, path):
    """(volumeMount, volume) of @container at @path, or (None, None)."""
    for m in container.get("volumeMounts") or []:
        if os.path.normpath(m.get("mountPath", "")) == path:
            return m, volumes.get(m.get("name"), {})
    return None, None


def same_dir(a, b):
    norm = lambda p: re.sub(r"^/var/run(?=/|$)", "/run", os.path.normpath(p))
    return norm(a) == norm(b)


class Pod:
    """The DaemonSet's pod template, its shuntd container (c) and what the checks share."""

    def __init__(self, ds, cm):
        self.spec = ds.get("spec", {})
        self.pod = self.spec.get("template", {}).get("spec", {})
        self.labels = self.spec.get("template", {}).get("metadata", {}).get("labels") or {}
        self.volumes = {v.get("name"): v for v in self.pod.get("volumes") or []}
        self.containers = (self.pod.get("initContainers") or []) + (self.pod.get("containers") or [])
        main = [c for c in self.pod.get("containers") or [] if is_cmd(c, "shuntd")]
        self.c = main[0] if len(main) == 1 else None
        self.args = (self.c or {}).get("args") or []
        self.env = {e.get("name"): e for e in (self.c or {}).get("env") or []}
        self.cm_name = cm.get("metadata", {}).get("name")
        self.cm_data = cm.get("data") or {}
        self.pin_dir = flag_value(self.args, "pin-dir") or "/sys/fs/bpf/shunt"


def pod_checks(p, sa):
    problems = []
    for k, v in (p.spec.get("selector", {}).get("matchLabels") or {}).items():
        if p.labels.get(k) != v:
            problems.append("selector %s=%s does not select the pod template" % (k, v))
    if p.pod.get("serviceAccountName") != sa.get("metadata", {}).get("name"):
        problems.append("serviceAccountName %s is not the ServiceAccount" % p.pod.get("serviceAccountName"))
    surge = (p.spec.get("updateStrategy", {}).get("rollingUpdate") or {}).get("maxSurge", 0)
    if str(surge) not in ("0", "0%"):
        problems.append("maxSurge %s: two agents on one node would fight over the pin dir" % surge)
    check("DaemonSet: selects its pods, runs as the ServiceAccount, one agent per node", problems)
    check("DaemonSet: hostNetwork, dnsPolicy ClusterFirstWithHostNet",
          [] if p.pod.get("hostNetwork") is True and p.pod.get("dnsPolicy") == "ClusterFirstWithHostNet"
          else ["hostNetwork %s, dnsPolicy %s" % (p.pod.get("hostNetwork"), p.pod.get("dnsPolicy"))])
    check("DaemonSet: priorityClassName system-node-critical",
          [] if p.pod.get("priorityClassName") == "system-node-critical" else [p.pod.get("priorityClassName")])


def privileged(container):
    return (container.get("securityContext") or {}).get("privileged") is True


def security_checks(p, ns):
    sc = p.c.get("securityContext") or {}
    caps = {x.upper().replace("CAP_", "") for x in (sc.get("capabilities") or {}).get("add") or []}
    problems = []
    if sc.get("privileged") is not True and caps not in (CAPABILITIES, CAPABILITIES_GATEWAY):
        problems.append("neither privileged nor exactly %s (and NET_BIND_SERVICE): %s" % (
            sorted(CAPABILITIES), sorted(caps)))
    if sc.get("privileged") is not True and any(
            m.get("mountPropagation") == "Bidirectional" for m in p.c.get("volumeMounts") or []):
        problems.append("Bidirectional mount propagation needs privileged: true")
    check("shuntd: privileged, or exactly the capabilities BPF, NET_ADMIN, SYS_ADMIN, SYS_RESOURCE", problems)
    pss = (ns.get("metadata", {}).get("labels") or {}).get("pod-security.kubernetes.io/enforce")
    check("Namespace: Pod Security admits privileged pods", [] if pss == "privileged" else [pss])


def mount_checks(p):
    problems = []
    m, v = mount(p.c, p.volumes, "/sys/fs/bpf")
    if not m or (v.get("hostPath") or {}).get("path") != "/sys/fs/bpf":
        problems.append("no mount of the node's /sys/fs/bpf at /sys/fs/bpf")
    elif m.get("readOnly"):
        problems.append("/sys/fs/bpf: read-only, where shuntd pins")
    elif privileged(p.c) and m.get("mountPropagation") != "Bidirectional":
        problems.append("/sys/fs/bpf: Bidirectional, so that a bpffs shuntd mounts is the node's")
    elif m.get("mountPropagation") not in ("Bidirectional", "HostToContainer"):
        # Without privileged, Bidirectional is refused: the node must have bpffs mounted first.
        problems.append("/sys/fs/bpf: HostToContainer at least, so that the node's bpffs is seen")
    if not p.pin_dir.startswith("/sys/fs/bpf/"):
        problems.append("--pin-dir %s is not on the mounted bpffs" % p.pin_dir)
    m, v = mount(p.c, p.volumes, "/sys/fs/cgroup")
    if not m or (v.get("hostPath") or {}).get("path") != "/sys/fs/cgroup":
        problems.append("no mount of the node's /sys/fs/cgroup at /sys/fs/cgroup")
    netns = flag_value(p.args, "netns-dir") or "/var/run/netns"
    found = [(m, p.volumes.get(m.get("name"), {})) for m in p.c.get("volumeMounts") or []
             if same_dir(m.get("mountPath", ""), netns)]
    if not found or not same_dir((found[0][1].get("hostPath") or {}).get("path", ""), netns):
        problems.append("no mount of the node's %s (--netns-dir)" % netns)
    elif found[0][0].get("mountPropagation") not in ("HostToContainer", "Bidirectional"):
        problems.append("%s: pods' namespaces appear as mounts: HostToContainer propagation" % netns)
    check("shuntd: bpffs, the cgroup2 hierarchy and the netns dir from the node", problems)


def env_checks(p):
    node = (p.env.get("NODE_NAME", {}).get("valueFrom") or {}).get("fieldRef", {}).get("fieldPath")
    check("shuntd: NODE_NAME from the downward API (spec.nodeName)",
          [] if node == "spec.nodeName" else ["NODE_NAME: %s" % p.env.get("NODE_NAME")])
    problems, used_keys = [], set()
    for k, val in p.cm_data.items():
        if not isinstance(val, str):
            problems.append("ConfigMap %s: %r is not a string (quote it)" % (k, val))
    for container in p.containers:
        cenv = {e.get("name"): e for e in container.get("env") or []}
        for name, e in cenv.items():
            ref = (e.get("valueFrom") or {}).get("configMapKeyRef")
            if ref is None:
                continue
            used_keys.add(ref.get("key"))
            if ref.get("name") != p.cm_name or ref.get("key") not in p.cm_data or ref.get("optional"):
                problems.append("%s: %s is not a required key of ConfigMap %s" % (name, ref, p.cm_name))
        for word in (container.get("command") or []) + (container.get("args") or []):
            for var in re.findall(VAR_REF, word):
                if var not in cenv:
                    problems.append("%s: $(%s) is no env var of %s" % (word, var, container.get("name")))
    for k in sorted(set(p.cm_data) - used_keys):
        problems.append("ConfigMap key %s is used by no container" % k)
    check("flags from the ConfigMap: every $(VAR) defined, every key used, all strings", problems)


def probe_port_checks(p):
    admin_host, admin_port = host_port(flag_value(p.args, "admin") or "127.0.0.1:15000")
    problems = []
    for probe, path in (("readinessProbe", "/ready"), ("livenessProbe", "/healthz"),
                        ("startupProbe", "/healthz")):
        get = (p.c.get(probe) or {}).get("httpGet")
        if not get:
            problems.append("%s: no httpGet" % probe)
            continue
        if (get.get("path"), get.get("port")) != (path, admin_port):
            problems.append("%s: %s:%s, expected the admin API's %s on %s" % (
                probe, get.get("port"), get.get("path"), path, admin_port))
        # Without host, kubelet dials the pod IP: the node's address, where a loopback admin API is not.
        if admin_host not in ("0.0.0.0", "") and get.get("host") != admin_host:
            problems.append("%s: host %s, the admin API listens on %s" % (probe, get.get("host"), admin_host))
    # The first config (every resource listed once, with --kubernetes) comes before the admin
    # API: liveness must not count that time.
    start = p.c.get("startupProbe") or {}
    if start.get("periodSeconds", 10) * start.get("failureThreshold", 3) < 300:
        problems.append("startupProbe: allows less than 5 minutes for the first config")
    check("shuntd: readiness /ready, startup and liveness /healthz on the admin API's address",
          problems)

    _, listen_port = host_port(flag_value(p.args, "listen") or ":")
    ports = {(q.get("containerPort"), q.get("protocol", "TCP")) for q in p.c.get("ports") or []}
    check("shuntd: the capture port is declared",
          [] if (listen_port, "TCP") in ports else ["--listen port %s not in %s" % (listen_port, ports)])


def resource_checks(p):
    problems = []
    for container in p.containers:
        res = container.get("resources") or {}
        for kind in ("requests", "limits"):
            for r in ("cpu", "memory"):
                if r not in (res.get(kind) or {}):
                    problems.append("%s: no %s.%s" % (container.get("name"), kind, r))
    check("every container: cpu and memory requests and limits", problems)


def prestop_checks(p):
    problems = []
    pre = (p.c.get("lifecycle") or {}).get("preStop")
    if not pre:
        problems.append("no preStop")
    else:
        words = (pre.get("exec") or {}).get("command") or []
        if UNPINNING.search(" ".join(words)):
            problems.append("preStop %r may remove what the next agent adopts" % " ".join(words))
        if flag_value(words, "pin-dir") not in (None, p.pin_dir):
            problems.append("preStop reads %s, the agent pins in %s" % (flag_value(words, "pin-dir"), p.pin_dir))
    for container in p.containers:
        words = (container.get("command") or []) + (container.get("args") or [])
        if any(w.startswith("--unpin-on-exit") for w in words) or "--unpin-on-exit" in p.cm_data.values():
            problems.append("%s: --unpin-on-exit would detach the programs at every restart" % container.get("name"))
    check("shuntd: a preStop, and nothing that unpins on the way out", problems)


def image_checks(p, kust):
    images = {i.get("name"): i for i in kust.get("images") or []}
    problems = []
    for container in p.containers:
        image = container.get("image", "")
        repo, sep, tag = image.rpartition(":")
        if not sep or "/" in tag:  # no tag (a colon, if any, is a registry's port)
            repo, tag = image, ""
        entry = images.get(repo)
        if not entry:
            problems.append("%s: image %s has no images: entry" % (container.get("name"), repo))
        elif tag and entry.get("newTag") and tag != entry["newTag"]:
            problems.append("%s: tag %s, the kustomization sets %s" % (container.get("name"), tag, entry["newTag"]))
    check("every container's image is the kustomization's images: entry", problems)


def daemonset_checks(ds, sa, ns, cm, kust):
    """Every DaemonSet check; the pod template (a Pod), or None without one shuntd container."""
    p = Pod(ds, cm)
    check("DaemonSet: one container runs shuntd", [] if p.c else ["none, or more than one"])
    if not p.c:
        return None
    pod_checks(p, sa)
    security_checks(p, ns)
    mount_checks(p)
    env_checks(p)
    probe_port_checks(p)
    resource_checks(p)
    prestop_checks(p)
    image_checks(p, kust)
    return p


def rel(path):
    return os.path.relpath(path, ROOT)


def is_cmd(container, prog):
    cmd = container.get("command") or []
    return bool(cmd) and os.path.basename(cmd[0]) == prog


def substitute(words, env, cm_data):
    """@words with $(VAR) replaced as kubelet would, from @env (fieldRef: FIELD_SAMPLES)."""
    def value(var):
        vf = env[var].get("valueFrom") or {}
        if "value" in env[var]:
            return env[var]["value"]
        if "configMapKeyRef" in vf:
            return cm_data.get(vf["configMapKeyRef"].get("key"), "")
        return FIELD_SAMPLES.get((vf.get("fieldRef") or {}).get("fieldPath"), "x")
    return [re.sub(VAR_REF,
                   lambda mo: value(mo.group(1)) if mo.group(1) in env else mo.group(0), w) for w in words]


def help_flags(binary):
    out = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=10)
    return set(re.findall(r"(--[a-z0-9][a-z0-9-]*)", out.stdout)), out.stdout


def flag_checks(build, containers, cm_data):
    shuntd, shuntctl = os.path.join(build, "shuntd"), os.path.join(build, "shuntctl")
    missing_bin = [b for b in (shuntd, shuntctl) if not os.access(b, os.X_OK)]
    if missing_bin:
        not_ok("flags checked against the build", ["not built: %s (make)" % " ".join(missing_bin)])
        return
    bins = {"shuntd": shuntd, "shuntctl": shuntctl}
    known = {prog: help_flags(path) for prog, path in bins.items()}
    lines = []  # (container, program, [words])
    for c in containers:
        env = {e.get("name"): e for e in c.get("env") or []}
        cmd = (c.get("command") or []) + (c.get("args") or [])
        for prog in ("shuntd", "shuntctl"):
            if is_cmd(c, prog):
                lines.append(("container " + c.get("name"), prog, substitute(cmd[1:], env, cm_data)))
        pre = ((c.get("lifecycle") or {}).get("preStop") or {}).get("exec", {}).get("command") or []
        if pre and os.path.basename(pre[0]) in known:
            lines.append(("preStop of " + c.get("name"), os.path.basename(pre[0]), pre[1:]))

    # shuntctl's commands: the first word of each line of its usage's "commands:" block.
    block = known["shuntctl"][1].partition("commands:\n")[2].partition("\n\n")[0]
    ctl_commands = set(re.findall(r"^  ([a-z]+)\b", block, re.M))
    unknown = []
    for who, prog, words in lines:
        for w in words:
            if w.startswith("--") and w.split("=", 1)[0] not in known[prog][0]:
                unknown.append("%s: %s is not in %s --help" % (who, w.split("=", 1)[0], rel(bins[prog])))
            elif prog == "shuntctl" and not w.startswith("-") and w not in ctl_commands:
                unknown.append("%s: shuntctl has no command %s" % (who, w))
    check("every flag the manifests pass is one %s and %s accept" % (rel(shuntd), rel(shuntctl)), unknown)
    if unknown:
        return
    problems = []
    for who, prog, words in lines:
        # --help last: every earlier option is parsed (and refused if bad) before it exits 0.
        run = subprocess.run([bins[prog]] + words + ["--help"],
                             capture_output=True, text=True, timeout=10)
        if run.returncode != 0:
            problems.append("%s: %s %s --help: exit %d: %s" % (
                who, prog, " ".join(words), run.returncode, run.stderr.strip().splitlines()[:1]))
    check("every command line parses, ConfigMap values and downward API fields substituted", problems)


def dockerfile_checks(build, containers):
    path = os.path.join(ROOT, "Dockerfile")
    if not os.path.isfile(path):
        not_ok("Dockerfile", ["no Dockerfile at the top of the repository"])
        return
    with open(path) as f:
        text = re.sub(r"\\\n", " ", f.read())
    stages = re.split(r"(?im)^FROM\s+", text)[1:]
    problems = []
    for s in stages:
        if not s.split()[0].startswith("debian:12"):
            problems.append("a stage FROM %s, not debian:12" % s.split()[0])
    runtime = stages[-1] if stages else ""
    copied = set()
    for line in re.findall(r"(?im)^COPY\s+(.*)$", runtime):
        words = [w for w in line.split() if not w.startswith("--")]
        dest = words[-1]
        for src in words[:-1]:
            copied.add(os.path.join(dest, os.path.basename(src)) if dest.endswith("/") else dest)
    for c in containers:
        for cmd in ((c.get("command") or [])[:1],
                    (((c.get("lifecycle") or {}).get("preStop") or {}).get("exec") or {}).get("command", [])[:1]):
            if cmd and cmd[0].startswith("/usr/local/") and cmd[0] not in copied:
                problems.append("%s runs %s, which the image does not install" % (c.get("name"), cmd[0]))
    check("Dockerfile: Debian 12 stages, the runtime stage installs what the pods run", problems)

    installed = set()
    for line in re.findall(r"apt-get install ([^&;\n]*)", runtime):
        installed |= {w for w in line.split() if not w.startswith("-")}
    ldd = shutil.which("ldd")
    bins = [os.path.join(build, b) for b in ("shuntd", "shuntctl")]
    if not ldd or not shutil.which("dpkg") or not all(os.path.isfile(b) for b in bins):
        print("# runtime packages not checked: no ldd, dpkg or build")
        return
    out = subprocess.run([ldd] + bins, capture_output=True, text=True).stdout
    paths = dict(re.findall(r"^\s*(\S+) => (/\S+)", out, re.M))
    if any("libasan" in l or "libubsan" in l for l in paths):
        print("# runtime packages not checked: %s is a sanitizer build" % build)
        return
    # The libraries the binaries name (DT_NEEDED): apt installs what those need in turn.
    needed = set()
    for b in bins:
        dyn = subprocess.run(["readelf", "-d", b], capture_output=True, text=True).stdout
        needed |= set(re.findall(r"\(NEEDED\)\s+Shared library: \[([^]]+)\]", dyn))
    libs = sorted(paths[n] for n in needed if n in paths)
    problems = ["%s: ldd does not find it" % n for n in sorted(needed) if n not in paths]
    for lib in libs:
        pkg = dpkg_owner(lib)
        if pkg is None:
            problems.append("%s: no Debian package owns it" % lib)
        elif pkg != "libc6" and pkg not in installed:
            problems.append("%s (%s) is linked, the runtime stage does not install it" % (pkg, lib))
    check("Dockerfile: the runtime stage installs every library shuntd and shuntctl link", problems)


def dpkg_owner(lib):
    """The package owning @lib, trying the paths merged /usr gives it; None if none."""
    real = os.path.realpath(lib)
    for p in (lib, real, re.sub(r"^/usr/lib/", "/lib/", real), re.sub(r"^/lib/", "/usr/lib/", lib)):
        run = subprocess.run(["dpkg", "-S", p], capture_output=True, text=True)
        if run.returncode == 0:
            return run.stdout.split(":", 1)[0]
    return None


def install_doc_checks(pin_dir):
    path = os.path.join(ROOT, "docs", "install.md")
    text = open(path).read() if os.path.isfile(path) else ""
    problems = []
    for needle in ("kubectl apply -k manifests/", "kubectl kustomize manifests/", pin_dir):
        if needle not in text:
            problems.append("docs/install.md does not mention %s" % needle)
    check("docs/install.md: installs with -k and uninstalls the DaemonSet's pin dir", problems)


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else "build"
    if not os.path.isabs(build):
        build = os.path.join(ROOT, build)
    kust, objects = load_kustomization()
    ns, sa = one(objects, "Namespace"), one(objects, "ServiceAccount")
    role, binding = one(objects, "ClusterRole"), one(objects, "ClusterRoleBinding")
    ds, cm = one(objects, "DaemonSet"), one(objects, "ConfigMap")
    nsname = ns.get("metadata", {}).get("name")
    check("every namespaced object is in Namespace %s" % nsname,
          ["%s %s: namespace %s" % (o["kind"], o["metadata"]["name"], o["metadata"].get("namespace"))
           for o in objects if o["kind"] not in ("Namespace", "ClusterRole", "ClusterRoleBinding")
           and o["metadata"].get("namespace") != nsname])
    rbac_checks(role, binding, sa)
    p = daemonset_checks(ds, sa, ns, cm, kust)
    if p:
        flag_checks(build, p.containers, p.cm_data)
        dockerfile_checks(build, p.containers)
        install_doc_checks(p.pin_dir)
    print("# %d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
