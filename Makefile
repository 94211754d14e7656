# gatekeeper: an exec gatekeeper for Linux hosts.
#   make            build gatekeeperd and gatekeeper-ctl (into $(BUILD)/)
#   make run        install dependencies, build, run gatekeeperd with the default policy
#   make test       install dependencies, build, run every test (unit, host kernel, guest kernels)
#   make unit       the unit tests (ASan/UBSan build)
#   make itest      the host-kernel suite (as root)
#   make vmtest     only the guest-kernel (BPF LSM) suite
#   make tsan       unit tests and the host suite's concurrency tests under ThreadSanitizer
#   make fuzz       the policy and control-request parsers under libFuzzer (60 s in all)
#   make bench      exec-gate benchmarks on this kernel (ratios to bare exec)
#   make bench-trace the round trip's phases, daemon vs raw responder (perf sched events)
#   make vmbench    the exec benchmark inside the guest kernels (bpf mode), then
#                   gatekeeper vs Debian's fapolicyd on a booted Debian 12 (sysbench)
#   make install PREFIX=/usr/local [DESTDIR=]
# Any CFLAGS/LDFLAGS given on the command line are added to the flags the
# code needs, never put in their place. V=1 prints every command.

# make's own default CC is cc: replace only that, never a CC given.
ifeq ($(origin CC),default)
CC      := gcc
endif
CLANG   ?= clang
BPFTOOL ?= bpftool
BUILD   ?= build
PREFIX  ?= /usr/local
DESTDIR ?=
VERSION ?= 0.1

CFLAGS  ?= -O2 -g
LDFLAGS ?=
# What the code relies on, outside CFLAGS so `make CFLAGS=...` keeps it.
# snprintf truncation of messages is deliberate, so -Wformat-truncation is noise.
GK_CFLAGS := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wno-format-truncation \
	-I. -I$(BUILD) -MMD -MP -DGK_VERSION='"$(VERSION)"'
SAN_FLAGS :=
ifeq ($(SAN),1)
SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
endif
ifeq ($(TSAN),1)
SAN_FLAGS := -fsanitize=thread -fno-omit-frame-pointer
endif
# The user's CFLAGS first: ours come after and win (-std, -Werror).
ALL_CFLAGS  = $(CFLAGS) $(GK_CFLAGS) $(SAN_FLAGS)
ALL_LDFLAGS = $(LDFLAGS) $(SAN_FLAGS)
# The daemon does not link libclamav: only gatekeeper-scand (and the scan
# benchmark) do; tests/integration checks it with ldd.
# sd_notify and the journal (gatekeeper/systemd.c, journal.c): libsystemd.
LDLIBS      := -lbpf -lelf -lz -lyaml -lsqlite3 -lcrypto -lpthread -lsystemd
SCAND_LDLIBS := -lclamav -lseccomp -lcrypto -lpthread
CTL_LDLIBS  := -lyaml -lcrypto

# Quiet by default: one short line per step; V=1 shows the commands.
V ?= 0
ifeq ($(V),1)
say :=
else ifneq ($(findstring s,$(firstword -$(MAKEFLAGS))),)
say = @
else
say = @printf '  %-8s %s\n' $(1) $(2);
endif

.DELETE_ON_ERROR:

POLICY_SRCS  := $(wildcard policy/*.c)
DB_SRCS      := $(wildcard db/*.c)
# libclamav's engine, the scanner process and its sandbox: gatekeeper-scand only.
SCAND_SRCS   := scanner/clamav.c scanner/scand.c scanner/sandbox.c
SCANNER_SRCS := $(filter-out $(SCAND_SRCS),$(wildcard scanner/*.c))
# policy check reads the hash lists with the scanner's own parser (libcrypto only).
CTL_SRCS     := $(wildcard gatekeeper/ctl/*.c) gatekeeper/proto.c scanner/hashlist.c scanner/scanner.c
CORE_SRCS    := $(filter-out gatekeeper/gatekeeperd.c,$(wildcard gatekeeper/*.c))
UNIT_SRCS    := $(wildcard tests/unit/test_*.c)

obj = $(patsubst %.c,$(BUILD)/%.o,$(1))
LIBGK   := $(BUILD)/libgk.a
DAEMON  := $(BUILD)/gatekeeperd
CTL     := $(BUILD)/gatekeeper-ctl
SCAND   := $(BUILD)/gatekeeper-scand
SCAN_BENCH := $(BUILD)/bench/scan_bench
UNITS   := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRCS))
BPF_SRC := bpf/gatekeeper.bpf.c
SKEL    := $(BUILD)/gatekeeper.skel.h

.PHONY: all deps run test unit units itest vmtest tsan buildtest bench vmbench fuzz install clean \
	helpers vm-helpers bench-helpers vmbench-helpers
all: $(DAEMON) $(CTL) $(SCAND)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(call say,CC,$@)$(CC) $(ALL_CFLAGS) -c -o $@ $<

# --- BPF: CO-RE object (vmlinux.h from the tree, see below), skeleton ---

$(BUILD)/gatekeeper.bpf.o: $(BPF_SRC) bpf/gatekeeper.h bpf/write_guard.bpf.h $(BUILD)/vmlinux.h
	$(call say,BPF,$@)$(CLANG) -g -O2 -target bpf -D__TARGET_ARCH_x86 -I. -I$(BUILD) -Wall -Werror -c $< -o $@

$(SKEL): $(BUILD)/gatekeeper.bpf.o
	$(call say,GEN,$@)$(BPFTOOL) gen skeleton $< name gatekeeper_bpf > $@

ifneq ($(wildcard $(BPF_SRC)),)
$(call obj,gatekeeper/kcache_bpf.c): $(SKEL)
endif

$(LIBGK): $(call obj,$(POLICY_SRCS) $(DB_SRCS) $(SCANNER_SRCS) $(CORE_SRCS))
	@rm -f $@
	$(call say,AR,$@)$(AR) rcs $@ $^

$(DAEMON): $(call obj,gatekeeper/gatekeeperd.c) $(LIBGK)
	$(call say,LD,$@)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LDLIBS)

# gatekeeper-ctl shares only the protocol with the daemon: it links the
# protocol, the policy parser and the hash-list parser, nothing else
# (tests/build checks ldd).
$(CTL): $(call obj,$(CTL_SRCS) $(POLICY_SRCS))
	$(call say,LD,$@)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(CTL_LDLIBS)

$(SCAND): $(call obj,$(SCAND_SRCS)) $(LIBGK)
	$(call say,LD,$@)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(SCAND_LDLIBS)

# Keep the objects (make would delete them as intermediates of this chain).
.SECONDARY: $(call obj,$(UNIT_SRCS))
# The scanner tests start gatekeeper-scand from the build tree.
$(BUILD)/tests/%: $(call obj,tests/unit/%.c) $(LIBGK) | $(SCAND)
	@mkdir -p $(dir $@)
	$(call say,LD,$@)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LDLIBS) -lcmocka

# The kernel cache's unit test places no fanotify mark: it is given its own
# fanotify_mark (a seam that logs the calls), so it needs neither root nor BPF.
$(BUILD)/tests/test_kcache: LDLIBS += -Wl,--wrap=fanotify_mark
# The admin rules' table when memory runs out: a calloc that fails on cue.
$(BUILD)/tests/test_core: LDLIBS += -Wl,--wrap=calloc

FUZZ := $(BUILD)/fuzz_policy $(BUILD)/fuzz_control
FUZZ_CFLAGS = -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -g -O1 \
	-fsanitize=fuzzer,address,undefined -I.
$(BUILD)/fuzz_policy: tests/fuzz/fuzz_policy.c $(POLICY_SRCS) $(wildcard policy/*.h)
	@mkdir -p $(dir $@)
	$(call say,FUZZ,$@)$(CLANG) $(FUZZ_CFLAGS) -o $@ tests/fuzz/fuzz_policy.c $(POLICY_SRCS) -lyaml -lcrypto

# --- helper programs of the tests and benchmarks (never built by scripts) ---
# Plain programs: no sanitizer, whatever build they sit in.
HELPER_CFLAGS = $(CFLAGS) -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wno-format-truncation -I. -I$(BUILD) \
	-MMD -MP
HELPERS := $(addprefix $(BUILD)/helpers/,spawner routes tail fileless elf fusefile sysfilter)
helpers: $(HELPERS)
$(BUILD)/helpers/%: tests/integration/%.c
	@mkdir -p $(dir $@)
	$(call say,CC,$@)$(CC) $(HELPER_CFLAGS) $(LDFLAGS) -o $@ $<
$(BUILD)/helpers/fusefile: tests/integration/fusefile.c
	@mkdir -p $(dir $@)
	$(call say,CC,$@)$(CC) $(HELPER_CFLAGS) $(LDFLAGS) -o $@ $< -lfuse3
$(BUILD)/helpers/sysfilter: tests/integration/sysfilter.c
	@mkdir -p $(dir $@)
	$(call say,CC,$@)$(CC) $(HELPER_CFLAGS) $(LDFLAGS) -o $@ $< -lseccomp

VMBIN := $(BUILD)/vm/bin
VM_HELPERS := $(addprefix $(VMBIN)/,gk-vmtool gk-hello gk-hello-static gk-hello-interp gk-kload \
	gk-routes gk-fileless gk-preload.so)
vm-helpers: $(VM_HELPERS)
$(VMBIN)/gk-vmtool: tests/vm/gk_vmtool.c
	@mkdir -p $(dir $@)
	$(call say,CC,$@)$(CC) $(HELPER_CFLAGS) $(LDFLAGS) -static -o $@ $<
$(VMBIN)/gk-hello: tests/vm/gk_hello.c
	@mkdir -p $(dir $@)
	$(call say,CC,$@)$(CC) $(HELPER_CFLAGS) $(LDFLAGS) -o $@ $<
# Its ELF interpreter is a copy the guest test may write (daemon-tests.sh).
$(VMBIN)/gk-hello-interp: tests/vm/gk_hello.c
	@mkdir -p $(dir $@)
	$(call say,CC,$@)$(CC) $(HELPER_CFLAGS) $(LDFLAGS) -Wl,--dynamic-linker=/t/interp/ld.so -o $@ $<
$(VMBIN)/gk-hello-static: tests/vm/gk_hello.c
	@mkdir -p $(dir $@)
	$(call say,CC,$@)$(CC) $(HELPER_CFLAGS) $(LDFLAGS) -static -o $@ $<
# Two sources: -MMD records the second's headers only, so the first's are named.
$(VMBIN)/gk-kload: tests/vm/gk_kload.c gatekeeper/kcache_bpf.c gatekeeper/kcache_bpf.h $(SKEL)
	@mkdir -p $(dir $@)
	$(call say,CC,$@)$(CC) $(HELPER_CFLAGS) $(LDFLAGS) -o $@ tests/vm/gk_kload.c gatekeeper/kcache_bpf.c -lbpf -lelf -lz
$(VMBIN)/gk-routes: tests/integration/routes.c
	@mkdir -p $(dir $@)
	$(call say,CC,$@)$(CC) $(HELPER_CFLAGS) $(LDFLAGS) -static -o $@ $<
$(VMBIN)/gk-fileless: tests/integration/fileless.c
	@mkdir -p $(dir $@)
	$(call say,CC,$@)$(CC) $(HELPER_CFLAGS) $(LDFLAGS) -static -o $@ $<
$(VMBIN)/gk-preload.so: tests/vm/gk_preload.c
	@mkdir -p $(dir $@)
	$(call say,CC,$@)$(CC) $(HELPER_CFLAGS) $(LDFLAGS) -shared -fPIC -o $@ $<

# bench/tiny.c is the exec target: built -O2 whatever CFLAGS say, so the
# benchmark's numbers do not depend on them.
BENCHBIN := $(BUILD)/bench
BENCH_HELPERS := $(addprefix $(BENCHBIN)/,tiny-static tiny-dynamic spawn_bench gk_probe \
	raw_responder mount_mark sha_bench scan_bench db_fill trust_bench)
bench-helpers: $(BENCH_HELPERS)
$(BENCHBIN)/tiny-static: bench/tiny.c
	@mkdir -p $(dir $@)
	$(call say,CC,$@)$(CC) -O2 -static -o $@ $<
$(BENCHBIN)/tiny-dynamic: bench/tiny.c
	@mkdir -p $(dir $@)
	$(call say,CC,$@)$(CC) -O2 -o $@ $<
$(BENCHBIN)/gk_probe $(BENCHBIN)/raw_responder $(BENCHBIN)/mount_mark: $(BENCHBIN)/%: bench/%.c
	@mkdir -p $(dir $@)
	$(call say,CC,$@)$(CC) $(HELPER_CFLAGS) -O2 $(LDFLAGS) -o $@ $<
SPAWN_BENCH_SRC := bench/spawn_bench.c bench/spawn_spec.c bench/spawn_bench.h
$(BENCHBIN)/spawn_bench: $(SPAWN_BENCH_SRC)
	@mkdir -p $(dir $@)
	$(call say,CC,$@)$(CC) $(HELPER_CFLAGS) -O2 $(LDFLAGS) -o $@ $(filter %.c,$^)
$(BENCHBIN)/sha_bench $(BENCHBIN)/trust_bench: $(BENCHBIN)/%: bench/%.c $(LIBGK)
	@mkdir -p $(dir $@)
	$(call say,CC,$@)$(CC) $(HELPER_CFLAGS) -O2 $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(BENCHBIN)/db_fill: tests/bench/db_fill.c $(LIBGK)
	@mkdir -p $(dir $@)
	$(call say,CC,$@)$(CC) $(HELPER_CFLAGS) -O2 $(LDFLAGS) -o $@ $^ $(LDLIBS)
# In-process ClamAV beside the scanner process, measured in the same run.
$(SCAN_BENCH): $(call obj,bench/scan_bench.c scanner/clamav.c) $(LIBGK) | $(SCAND)
	@mkdir -p $(dir $@)
	$(call say,LD,$@)$(CC) $(ALL_LDFLAGS) -o $@ $(filter-out $(SCAND),$^) $(SCAND_LDLIBS) -lz

# The guest benchmark's programs: all static (the guest has no libc of ours).
VMBENCH_HELPERS := $(addprefix $(BUILD)/vm/bench/,tiny-static tiny-dynamic spawn_bench)
vmbench-helpers: $(VMBENCH_HELPERS)
$(BUILD)/vm/bench/tiny-static: bench/tiny.c
	@mkdir -p $(dir $@)
	$(call say,CC,$@)$(CC) -O2 -static -o $@ $<
$(BUILD)/vm/bench/tiny-dynamic: bench/tiny.c
	@mkdir -p $(dir $@)
	$(call say,CC,$@)$(CC) -O2 -o $@ $<
$(BUILD)/vm/bench/exec_lat: $(BUILD)/vm/bench/%: bench/%.c
	@mkdir -p $(dir $@)
	$(call say,CC,$@)$(CC) $(HELPER_CFLAGS) -O2 $(LDFLAGS) -static -o $@ $<
$(BUILD)/vm/bench/spawn_bench: $(SPAWN_BENCH_SRC)
	@mkdir -p $(dir $@)
	$(call say,CC,$@)$(CC) $(HELPER_CFLAGS) -O2 $(LDFLAGS) -static -o $@ $(filter %.c,$^)

$(BUILD)/fuzz_control: tests/fuzz/fuzz_control.c gatekeeper/proto.c gatekeeper/proto.h
	@mkdir -p $(dir $@)
	$(call say,FUZZ,$@)$(CLANG) $(FUZZ_CFLAGS) -o $@ tests/fuzz/fuzz_control.c gatekeeper/proto.c

# --- commands ---
deps:
	@packaging/install-deps.sh

run: deps
	$(MAKE) all
	packaging/run-default.sh $(BUILD)

# One ThreadSanitizer build (BUILD/tsan) beside the ASan/UBSan one (BUILD/san).
TSAN_BUILD := $(BUILD)/tsan
test: deps
	$(MAKE) all helpers vm-helpers $(FUZZ)
	$(MAKE) BUILD=$(BUILD)/san SAN=1 all units
	$(MAKE) BUILD=$(TSAN_BUILD) TSAN=1 all units
	tests/run-all.sh $(BUILD)

units: $(UNITS)

# The unit tests run from the ASan/UBSan build.
unit:
	$(MAKE) BUILD=$(BUILD)/san SAN=1 units
	tests/run-all.sh --only unit $(BUILD)

itest: all helpers
	tests/run-all.sh --only host $(BUILD)

vmtest: all vm-helpers
	tests/run-all.sh --only vm $(BUILD)

tsan: helpers
	$(MAKE) BUILD=$(TSAN_BUILD) TSAN=1 all units
	tests/run-all.sh --only tsan $(BUILD)

buildtest: all
	tests/run-all.sh --only build $(BUILD)

bench: all bench-helpers
	bench/run.sh $(BUILD)
	bench/trust_run.sh $(BUILD)

# Where the round trip's extra microseconds go: not a benchmark (perf's
# tracing slows every phase), a breakdown; needs perf (linux-perf).
.PHONY: bench-trace
bench-trace: all bench-helpers
	bench/sched-trace.sh $(BUILD)

# vmbench: the initramfs guests' exec benchmark, then sysbench (both run
# even if the first fails; the target fails if either could not measure).
vmbench: all vmbench-helpers $(BUILD)/vm/bench/exec_lat
	@rc=0; bench/vm-run.sh $(BUILD) || rc=1; bench/sys-run.sh $(BUILD) || rc=1; exit $$rc

# sysbench: a booted Debian 12 (the systest image) bare, with gatekeeper
# enforcing whole-host, and with Debian's fapolicyd enforcing: boot time,
# cached and first exec latency, a shell workload; ratios to bare.
.PHONY: sysbench
sysbench: $(BUILD)/vm/bench/exec_lat
	bench/sys-run.sh $(BUILD)

fuzz: $(FUZZ)
	tests/run-all.sh --only fuzz $(BUILD)

# The unit file names the installed daemon: PREFIX goes into ExecStart.
install: all
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/share/man/man8 \
		$(DESTDIR)$(PREFIX)/share/man/man5 $(DESTDIR)/etc/gatekeeper \
		$(DESTDIR)$(PREFIX)/share/bash-completion/completions
	install -m 0755 $(DAEMON) $(CTL) $(DESTDIR)$(PREFIX)/sbin/
	install -d $(DESTDIR)$(PREFIX)/libexec/gatekeeper
	install -m 0755 $(SCAND) $(DESTDIR)$(PREFIX)/libexec/gatekeeper/
	install -m 0644 packaging/gatekeeperd.8 packaging/gatekeeper-ctl.8 $(DESTDIR)$(PREFIX)/share/man/man8/
	install -m 0644 packaging/gatekeeper-policy.5 $(DESTDIR)$(PREFIX)/share/man/man5/
	test -e $(DESTDIR)/etc/gatekeeper/policy.yaml || \
		install -m 0644 packaging/policy.yaml $(DESTDIR)/etc/gatekeeper/policy.yaml
	test -e $(DESTDIR)/etc/gatekeeper/deny.sha256 || \
		install -m 0644 packaging/deny.sha256 $(DESTDIR)/etc/gatekeeper/deny.sha256
	install -m 0644 packaging/gatekeeper-ctl.bash-completion \
		$(DESTDIR)$(PREFIX)/share/bash-completion/completions/gatekeeper-ctl
	install -d $(DESTDIR)/lib/systemd/system
	sed 's|/usr/local/sbin/|$(PREFIX)/sbin/|g' packaging/gatekeeperd.service \
		> $(DESTDIR)/lib/systemd/system/gatekeeperd.service
	chmod 0644 $(DESTDIR)/lib/systemd/system/gatekeeperd.service

clean:
	rm -rf $(BUILD)

-include $(patsubst %.o,%.d,$(call obj,$(POLICY_SRCS) $(DB_SRCS) $(SCANNER_SRCS) $(SCAND_SRCS) $(CORE_SRCS) $(CTL_SRCS) $(UNIT_SRCS) gatekeeper/gatekeeperd.c))
# The helpers' (HELPER_CFLAGS: -MMD beside each program).
-include $(wildcard $(BUILD)/helpers/*.d $(VMBIN)/*.d $(BENCHBIN)/*.d $(BUILD)/vm/bench/*.d)

# ==== packaging (issue 13): vmlinux.h, make deb, make systest ====
# The BPF object is CO-RE: it is built against the vmlinux.h kept in the tree
# for the target architecture (as libbpf-tools does), never against the build
# machine's kernel, so a package build works without /sys/kernel/btf/vmlinux.
# `make vmlinux-h` regenerates the header from BTF_VMLINUX (run it by hand,
# on purpose, and commit the result).
BPF_ARCH    ?= $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')
VMLINUX_H   := bpf/vmlinux/$(BPF_ARCH)/vmlinux.h
BTF_VMLINUX ?= /sys/kernel/btf/vmlinux

$(BUILD)/vmlinux.h: $(VMLINUX_H)
	@mkdir -p $(BUILD)
	cp $< $@

.PHONY: vmlinux-h deb systest
vmlinux-h:
	@mkdir -p $(dir $(VMLINUX_H))
	$(BPFTOOL) btf dump file $(BTF_VMLINUX) format c > $(VMLINUX_H).tmp && mv $(VMLINUX_H).tmp $(VMLINUX_H)

# The Debian package (dpkg-buildpackage, debhelper compat 13) from
# packaging/debian, copied to ./debian of a copy of the sources made under
# $(BUILD)/deb/src (the working tree is never cleaned); the .deb, its -dbgsym
# and the .buildinfo/.changes land in $(BUILD)/deb.
deb:
	packaging/make-deb.sh $(BUILD)/deb

# A booted Debian 12 system under qemu TCG: the package (built again by the
# suite, so that `make test` tests the package too), the unit, journald.
systest: all
	tests/run-all.sh --only sys $(BUILD)

