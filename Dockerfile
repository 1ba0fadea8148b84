# The shuntd image: shuntd and shuntctl (and bpftool, to read the pinned maps) on Debian 12,
# built from Debian's packages only. manifests/daemonset.yaml runs it; docs/install.md
# builds and loads it:
#
#   docker build -t ghcr.io/shunt-mesh/shuntd:dev .
#
# amd64 only for now: the BPF programs are compiled against vmlinux/x86/vmlinux.h, the one
# committed (make vmlinux on an arm64 machine would add vmlinux/arm64).
#
# It runs as root, and privileged (daemonset.yaml says why): loading BPF programs,
# attaching them to cgroups and entering the pods' network namespaces need it. shuntd
# drops the capabilities it no longer needs once it is ready (docs/security.md).

# Build: the compilers and -dev packages of scripts/deps.sh, none of its test tools.
FROM debian:12 AS build
RUN apt-get update \
	&& apt-get install -y --no-install-recommends \
		make gcc libc6-dev clang bpftool libbpf-dev libelf-dev zlib1g-dev \
		libyaml-dev node-llhttp libpcre2-dev libssl-dev libjansson-dev libcurl4-openssl-dev \
	&& rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN make -j"$(nproc)" build/shuntd build/shuntctl

# Run: the shared libraries the two binaries link (tests/unit/manifests_test.py checks this
# list against their DT_NEEDED entries), bpftool, and CA certificates for a --kubeconfig
# that names none (in a cluster the service account's ca.crt is used).
FROM debian:12
RUN apt-get update \
	&& apt-get install -y --no-install-recommends \
		libbpf1 libelf1 zlib1g libyaml-0-2 libpcre2-8-0 libssl3 libjansson4 libcurl4 \
		ca-certificates bpftool \
	&& rm -rf /var/lib/apt/lists/*
COPY --from=build /src/build/shuntd /src/build/shuntctl /usr/local/bin/
# A library missing from the list above fails the build here, not the pods.
RUN ! ldd /usr/local/bin/shuntd /usr/local/bin/shuntctl | grep 'not found' \
	&& shuntd --help >/dev/null && shuntctl --help >/dev/null
ENTRYPOINT ["/usr/local/bin/shuntd"]
