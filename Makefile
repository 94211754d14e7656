# gatekeeper: an exec gatekeeper for Linux hosts.
#   make            build gatekeeperd and gatekeeper-ctl (into $(BUILD)/)
#   make run        install dependencies, build, run gatekeeperd with the default policy
#   make test       install dependencies, build, run every test (unit, host kernel, guest kernels)
#   make vmtest     only the guest-kernel (BPF LSM) suite
#   make fuzz       the policy parser under libFuzzer for 60 s
#   make bench      exec-gate benchmarks on this kernel (ratios to bare exec)
#   make vmbench    the exec benchmark inside the guest kernels (bpf mode)
#   make install PREFIX=/usr/local [DESTDIR=]

CC      ?= gcc
CLANG   ?= clang
BPFTOOL ?= bpftool
BUILD   ?= build
PREFIX  ?= /usr/local
DESTDIR ?=

CFLAGS  ?= -O2 -g
# snprintf truncation of messages is deliberate, so -Wformat-truncation is noise.
CFLAGS  += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wno-format-truncation -I. -I$(BUILD) -MMD -MP
LDLIBS  := -lbpf -lelf -lz -lclamav -lyaml -lsqlite3 -lcrypto -lpthread
ifeq ($(SAN),1)
CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS += -fsanitize=address,undefined
endif

POLICY_SRCS  := $(wildcard policy/*.c)
DB_SRCS      := $(wildcard db/*.c)
SCANNER_SRCS := $(wildcard scanner/*.c)
CORE_SRCS    := $(filter-out gatekeeper/gatekeeperd.c gatekeeper/gatekeeper-ctl.c,$(wildcard gatekeeper/*.c))
UNIT_SRCS    := $(wildcard tests/unit/test_*.c)

obj = $(patsubst %.c,$(BUILD)/%.o,$(1))
LIBGK   := $(BUILD)/libgk.a
DAEMON  := $(BUILD)/gatekeeperd
CTL     := $(BUILD)/gatekeeper-ctl
UNITS   := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRCS))
BPF_SRC := bpf/gatekeeper.bpf.c
SKEL    := $(BUILD)/gatekeeper.skel.h

.PHONY: all deps run test unit itest vmtest bench vmbench fuzz install clean
all: $(DAEMON) $(CTL)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

# --- BPF: CO-RE object (vmlinux.h from the tree, see below), skeleton ---

$(BUILD)/gatekeeper.bpf.o: $(BPF_SRC) bpf/gatekeeper.h $(BUILD)/vmlinux.h
	$(CLANG) -g -O2 -target bpf -D__TARGET_ARCH_x86 -I. -I$(BUILD) -Wall -Werror -c $< -o $@

$(SKEL): $(BUILD)/gatekeeper.bpf.o
	$(BPFTOOL) gen skeleton $< name gatekeeper_bpf > $@.tmp && mv $@.tmp $@

ifneq ($(wildcard $(BPF_SRC)),)
$(call obj,gatekeeper/kcache_bpf.c): $(SKEL)
endif

$(LIBGK): $(call obj,$(POLICY_SRCS) $(DB_SRCS) $(SCANNER_SRCS) $(CORE_SRCS))
	@rm -f $@
	$(AR) rcs $@ $^

$(DAEMON): $(call obj,gatekeeper/gatekeeperd.c) $(LIBGK)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(CTL): $(call obj,gatekeeper/gatekeeper-ctl.c) $(LIBGK)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: $(call obj,tests/unit/%.c) $(LIBGK)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcmocka

FUZZ := $(BUILD)/fuzz_policy
$(FUZZ): tests/fuzz/fuzz_policy.c $(POLICY_SRCS) policy/policy.h
	@mkdir -p $(dir $@)
	$(CLANG) -g -O1 -fsanitize=fuzzer,address,undefined -I. -o $@ tests/fuzz/fuzz_policy.c $(POLICY_SRCS) -lyaml -lcrypto

# --- commands ---
deps:
	@packaging/install-deps.sh

run: deps
	$(MAKE) all
	packaging/run-default.sh $(BUILD)

test: deps
	$(MAKE) all $(FUZZ)
	$(MAKE) BUILD=$(BUILD)/san SAN=1 all units
	tests/run-all.sh $(BUILD)

units: $(UNITS)

unit: units
	tests/run-all.sh --only unit $(BUILD)

itest: all
	tests/run-all.sh --only host $(BUILD)

vmtest: all
	tests/run-all.sh --only vm $(BUILD)

bench: all
	bench/run.sh $(BUILD)

vmbench: all
	bench/vm-run.sh $(BUILD)

fuzz: $(FUZZ)
	tests/run-all.sh --only fuzz $(BUILD)

install: all
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/share/man/man8 \
		$(DESTDIR)$(PREFIX)/share/man/man5 $(DESTDIR)/etc/gatekeeper
	install -m 0755 $(DAEMON) $(CTL) $(DESTDIR)$(PREFIX)/sbin/
	install -m 0644 packaging/gatekeeperd.8 packaging/gatekeeper-ctl.8 $(DESTDIR)$(PREFIX)/share/man/man8/
	install -m 0644 packaging/gatekeeper-policy.5 $(DESTDIR)$(PREFIX)/share/man/man5/
	test -e $(DESTDIR)/etc/gatekeeper/policy.yaml || \
		install -m 0644 packaging/policy.yaml $(DESTDIR)/etc/gatekeeper/policy.yaml
	test -e $(DESTDIR)/etc/gatekeeper/deny.sha256 || \
		install -m 0644 packaging/deny.sha256 $(DESTDIR)/etc/gatekeeper/deny.sha256
	install -d $(DESTDIR)/lib/systemd/system
	sed 's|/usr/local/sbin/|$(PREFIX)/sbin/|' packaging/gatekeeperd.service > $(DESTDIR)/lib/systemd/system/gatekeeperd.service

clean:
	rm -rf $(BUILD)

-include $(patsubst %.o,%.d,$(call obj,$(POLICY_SRCS) $(DB_SRCS) $(SCANNER_SRCS) $(CORE_SRCS) $(UNIT_SRCS) gatekeeper/gatekeeperd.c gatekeeper/gatekeeper-ctl.c))

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

# sd_notify and the journal (gatekeeper/systemd.c, journal.c) are the
# daemon's alone: only gatekeeperd links libsystemd.
$(DAEMON): LDLIBS += -lsystemd
