# shunt: sidecarless service mesh data plane. See README.md.
#
#   make            build BPF objects, skeletons, build/shuntd, build/shuntctl, test tools
#   make test       install what is missing, then every test (unit + end-to-end), as built
#                   and again under ASan+UBSan (make test-san)
#   make demo       install what is missing, then the local demo node
#   make fuzz       every libFuzzer harness for FUZZ_SECS (60) seconds (make test: 10 s each)
#   make check      format check, static analysis, tests
#   make bench      shunt L7 and L4 vs direct, HAProxy and nginx, with wrk; route and scale figures
#   make vmlinux    regenerate vmlinux/$(ARCH)/vmlinux.h from the running kernel
#   V=1             show the commands

.DELETE_ON_ERROR:
.SUFFIXES:
# Keep generated skeletons and objects: they are outputs, not throwaway intermediates.
.SECONDARY:

ARCH ?= $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')
BUILD ?= build
CC ?= cc
CLANG ?= clang
BPFTOOL ?= bpftool
LLHTTP_DIR ?= /usr/share/llhttp
LLHTTP_INC ?= /usr/share/include/llhttp

ifeq ($(V),1)
Q :=
msg = @true
else
Q := @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

SAN ?=
CFLAGS ?= -O2 -g
WARN := -Wall -Wextra -Wno-unused-parameter -Wshadow -Wstrict-prototypes -Wmissing-prototypes
CPPFLAGS += -D_GNU_SOURCE -Iinclude -Iagent -I$(BUILD) -I$(LLHTTP_INC)
ALL_CFLAGS = $(CFLAGS) $(WARN) -MMD -MP $(SAN)
LDLIBS := -lbpf -lelf -lz -lyaml -lpcre2-8 -lssl -lcrypto -ljansson -lcurl -lpthread
TEST_LDLIBS := -lcmocka

BPF_SRCS := $(wildcard bpf/*.bpf.c)
BPF_OBJS := $(patsubst bpf/%.bpf.c,$(BUILD)/bpf/%.bpf.o,$(BPF_SRCS))
SKELS := $(patsubst bpf/%.bpf.c,$(BUILD)/%.skel.h,$(BPF_SRCS))
BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -Ivmlinux/$(ARCH) -Iinclude -Ibpf -Wall

MAIN_SRCS := agent/shuntd.c agent/shuntctl.c
LIB_SRCS := $(filter-out $(MAIN_SRCS),$(wildcard agent/*.c))
LIB_OBJS := $(patsubst agent/%.c,$(BUILD)/agent/%.o,$(LIB_SRCS))
LLHTTP_OBJS := $(patsubst %,$(BUILD)/llhttp/%.o,llhttp api http)
LIB := $(BUILD)/libshunt.a

TOOL_SRCS := $(wildcard tests/tools/*.c)
TOOLS := $(patsubst tests/tools/%.c,$(BUILD)/%,$(TOOL_SRCS))
FUZZ_SRCS := $(wildcard tests/fuzz/*_fuzz.c)
FUZZ_BINS = $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(FUZZ_SRCS))
UNIT_SRCS := $(wildcard tests/unit/*_test.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRCS))
BENCH_SRCS := $(wildcard bench/*.c)
BENCH_BINS := $(patsubst bench/%.c,$(BUILD)/%,$(BENCH_SRCS))

.PHONY: all deps test test-unit test-e2e test-san fuzz fuzz-run demo bench check format vmlinux clean
all: $(BUILD)/shuntd $(BUILD)/shuntctl $(TOOLS) $(BENCH_BINS)

deps:
	$(Q)scripts/deps.sh

vmlinux:
	$(call msg,GEN,vmlinux/$(ARCH)/vmlinux.h)
	$(Q)mkdir -p vmlinux/$(ARCH)
	$(Q)$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > vmlinux/$(ARCH)/vmlinux.h.tmp
	$(Q)mv vmlinux/$(ARCH)/vmlinux.h.tmp vmlinux/$(ARCH)/vmlinux.h

$(BUILD)/bpf/%.bpf.o: bpf/%.bpf.c $(wildcard bpf/lib/*.h) include/shunt_maps.h vmlinux/$(ARCH)/vmlinux.h | $(BUILD)/bpf
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(BUILD)/%.skel.h: $(BUILD)/bpf/%.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< > $@

$(BUILD)/agent/%.o: agent/%.c $(SKELS) | $(BUILD)/agent
	$(call msg,CC,$@)
	$(Q)$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -c $< -o $@

# llhttp is generated C: compile it as shipped, without our warnings. Its strict mode is a
# compile-time switch (llhttp 8): without it the parser takes "Name : value" and
# "Na me: value" as field names and lets a chunk's data run past its size without the
# CRLF, which a backend reads otherwise (request smuggling).
$(BUILD)/llhttp/%.o: $(LLHTTP_DIR)/%.c Makefile | $(BUILD)/llhttp
	$(call msg,CC,$@)
	$(Q)$(CC) -I$(LLHTTP_INC) -DLLHTTP_STRICT_MODE=1 $(CFLAGS) $(SAN) -fPIC -c $< -o $@

$(LIB): $(LIB_OBJS) $(LLHTTP_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/shuntd $(BUILD)/shuntctl: $(BUILD)/%: $(BUILD)/agent/%.o $(LIB)
	$(call msg,LD,$@)
	$(Q)$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/%: tests/tools/%.c $(LIB) | $(BUILD)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -o $@ $< $(LIB) $(LDLIBS)

# make bench's own programs (bench/*.c), linked like the test tools.
$(BENCH_BINS): $(BUILD)/%: bench/%.c $(LIB) | $(BUILD)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -o $@ $< $(LIB) $(LDLIBS)

$(BUILD)/tests/%_test: tests/unit/%_test.c $(LIB) | $(BUILD)/tests
	$(call msg,CC,$@)
	$(Q)$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -o $@ $< $(LIB) $(LDLIBS) $(TEST_LDLIBS)

# libFuzzer harnesses: only in the fuzz build (make fuzz), whose library is instrumented.
$(BUILD)/fuzz/%_fuzz: tests/fuzz/%_fuzz.c tests/fuzz/fuzz_config.h $(LIB) | $(BUILD)/fuzz
	$(call msg,CC,$@)
	$(Q)$(CC) $(CPPFLAGS) -Itests/fuzz $(ALL_CFLAGS) -fsanitize=fuzzer -o $@ $< $(LIB) $(LDLIBS)

$(BUILD) $(BUILD)/bpf $(BUILD)/agent $(BUILD)/llhttp $(BUILD)/tests $(BUILD)/fuzz:
	$(Q)mkdir -p $@

# The test and demo entry points install what is missing first, then build.
# make test runs every suite twice: as built, then against an ASan+UBSan build
# ($(BUILD)-san), where any sanitizer report (leaks at exit included) fails the run.
SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
test: deps
	$(Q)$(MAKE) --no-print-directory all $(UNIT_BINS)
	$(Q)tests/run.sh $(BUILD)
	$(Q)$(MAKE) --no-print-directory test-san
	$(Q)$(MAKE) --no-print-directory fuzz-run FUZZ_SECS=$(FUZZ_SMOKE_SECS)

test-san:
	$(Q)$(MAKE) --no-print-directory BUILD=$(BUILD)-san SAN="$(SAN_FLAGS)" all \
		$(patsubst $(BUILD)/%,$(BUILD)-san/%,$(UNIT_BINS))
	$(Q)tests/run.sh --sanitizers $(BUILD)-san

# make fuzz: every libFuzzer harness (tests/fuzz/*_fuzz.c) for FUZZ_SECS seconds each on
# its corpus (tests/fuzz/corpus/NAME); make test runs each FUZZ_SMOKE_SECS. Built with
# clang into $(BUILD)-fuzz, ASan and UBSan on; a crash, leak or timeout fails.
FUZZ_SECS ?= 60
FUZZ_SMOKE_SECS ?= 10
FUZZ_SAN := -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer \
	-fno-sanitize-recover=all -Wno-missing-field-initializers
fuzz: deps
	$(Q)$(MAKE) --no-print-directory fuzz-run

fuzz-run:
	$(Q)$(MAKE) --no-print-directory BUILD=$(BUILD)-fuzz CC=clang SAN="$(FUZZ_SAN)" \
		$(patsubst $(BUILD)/%,$(BUILD)-fuzz/%,$(FUZZ_BINS))
	$(Q)tests/fuzz/run.sh $(BUILD)-fuzz $(FUZZ_SECS)

test-unit: all $(UNIT_BINS)
	$(Q)tests/run.sh --unit-only $(BUILD)

test-e2e: all
	$(Q)tests/run.sh --e2e-only $(BUILD)

demo: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)tests/e2e/demo.sh $(BUILD)

# Figures, never a pass or a fail: bench/run.sh builds, installs wrk, haproxy and nginx if
# missing (their services never started), and writes bench/results/<date>-<hostname>.md.
bench: deps
	$(Q)bench/run.sh $(BUILD)

FORMAT_SRCS = $(wildcard agent/*.c agent/*.h include/*.h bpf/*.c bpf/lib/*.h tests/unit/*.c tests/tools/*.c \
	tests/fuzz/*.c tests/fuzz/*.h bench/*.c)
format:
	$(Q)clang-format -i $(FORMAT_SRCS)

check: all $(UNIT_BINS)
	$(Q)clang-format --dry-run -Werror $(FORMAT_SRCS)
	$(Q)cppcheck -q --error-exitcode=1 --enable=warning,performance,portability --inline-suppr \
		--suppress=missingIncludeSystem -D_GNU_SOURCE '-DLIBBPF_OPTS(T,N,...)=struct T N' -Iinclude -Iagent agent tests/tools bench
	$(Q)tests/run.sh $(BUILD)

clean:
	$(Q)rm -rf $(BUILD)

-include $(wildcard $(BUILD)/agent/*.d $(BUILD)/*.d $(BUILD)/tests/*.d)
