# llmfb: one Makefile, output in build/.  `make V=1` shows the commands.

CC	?= cc
B	:= build

# Where `make install` puts things (DESTDIR is prepended to all of them).
# The Debian package sets LIBDIR to the multiarch directory and UNITDIR to
# /lib/systemd/system.  The config stays in /etc whatever PREFIX is: that
# is where llmfbd looks by default.
PREFIX	?= /usr/local
BINDIR	?= $(PREFIX)/bin
SBINDIR	?= $(PREFIX)/sbin
LIBDIR	?= $(PREFIX)/lib
PKGLIBDIR ?= $(LIBDIR)/llmfb
SYSCONFDIR ?= /etc
MANDIR	?= $(PREFIX)/share/man
DOCDIR	?= $(PREFIX)/share/doc/llmfb
UNITDIR	?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
VERSION	:= $(shell sed -n 's/^\#define LLMFB_VERSION[^"]*"\(.*\)"/\1/p' common/ctl_proto.h)

OPT	?= -O2 -g
WARN	:= -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
	   -Wmissing-prototypes -Wformat=2 -Wno-format-nonliteral \
	   -Wpointer-arith -Wvla
CFLAGS	?= $(OPT)
CPPFLAGS ?=
ALL_CFLAGS := -std=gnu11 $(WARN) $(CFLAGS) $(CPPFLAGS) -D_GNU_SOURCE \
	   -Icommon -Iebpf -I$(B)/gen -fstack-protector-strong \
	   -U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=2
LDFLAGS	?=

PKGS_DAEMON := libcurl jansson yaml-0.1 libnl-route-3.0 hiredis
DAEMON_CFLAGS := $(shell pkg-config --cflags $(PKGS_DAEMON) 2>/dev/null)
DAEMON_LIBS := $(shell pkg-config --libs $(PKGS_DAEMON) 2>/dev/null) -lhttp_parser \
	-lssl -lcrypto

# eBPF: built when clang, bpftool and libbpf are there (BPF=1), else
# llmfbd links ebpf/nobpf.c and says at run time that it has none.
# `make BPF=0` leaves it out on purpose.
BPFTOOL	?= $(or $(shell command -v bpftool 2>/dev/null),$(wildcard /usr/sbin/bpftool))
CLANG	?= clang
BPF	?= $(if $(and $(shell command -v $(CLANG) 2>/dev/null),$(BPFTOOL),\
	   $(shell pkg-config --exists libbpf && echo y)),1,0)
BPF_ARCH := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')
BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_$(BPF_ARCH) -Wall -Werror \
	   -Iebpf -I/usr/include/$(shell $(CC) -dumpmachine)
ifeq ($(BPF),1)
EBPF_SRC := ebpf/ebpf.c ebpf/netlat.c ebpf/sslwatch.c ebpf/redirect.c
DAEMON_LIBS += -lbpf
else
EBPF_SRC := ebpf/nobpf.c
endif
CHECK_LIBS := $(shell pkg-config --libs check 2>/dev/null)
GO	?= $(shell command -v go 2>/dev/null)

ifeq ($(V),1)
Q :=
else
Q := @
endif

COMMON_SRC := common/log.c common/util.c common/buf.c
DAEMON_LIB_SRC := daemon/loop.c daemon/ynode.c daemon/config.c \
	daemon/ladder.c daemon/route.c daemon/server.c daemon/upstream.c \
	daemon/call.c daemon/control.c daemon/stats.c daemon/hostsfile.c \
	daemon/daemon.c daemon/preamble.c daemon/breaker.c daemon/answer.c \
	daemon/budget.c daemon/caller.c daemon/latency.c daemon/events.c \
	daemon/sse.c daemon/dialect.c daemon/dialect_stream.c daemon/inject.c \
	daemon/metrics.c daemon/netwatch.c daemon/netview.c daemon/systemd.c \
	daemon/relay.c daemon/ca.c daemon/tlshello.c daemon/tlsterm.c \
	daemon/kredir.c daemon/record.c daemon/otel.c daemon/outbound.c daemon/api.c daemon/api_openai_chat.c \
	daemon/api_anthropic_messages.c daemon/api_openai_embeddings.c \
	daemon/api_openai_responses.c daemon/xlate_responses.c \
	daemon/api_openai_completions.c daemon/xlate_completions.c \
	daemon/ratelimit.c daemon/group.c daemon/shared.c daemon/qualify.c \
	daemon/midstream.c daemon/attempt.c daemon/passthrough.c \
	$(EBPF_SRC)
SHIM_SRC := shim/shim.c shim/curl.c shim/net.c shim/tls.c shim/elf.c shim/dl.c
CTL_SRC := ctl/llmfbctl.c ctl/top.c ctl/ca.c ctl/import.c common/ctl_client.c

COMMON_OBJ := $(COMMON_SRC:%.c=$(B)/obj/%.o)
DAEMON_LIB_OBJ := $(DAEMON_LIB_SRC:%.c=$(B)/obj/%.o)
CTL_OBJ := $(CTL_SRC:%.c=$(B)/obj/%.o)
# The shim is built position independent and on its own: it must not
# drag libcurl, jansson or anything else into the host process.
SHIM_OBJ := $(SHIM_SRC:%.c=$(B)/pic/%.o)

UNIT_TESTS := util log config ladder route preamble breaker answer budget \
	caller latency sse dialect dialect_stream inject metrics netwatch \
	config_lint ca ratelimit call responses outbound loop record
UNIT_BINS := $(UNIT_TESTS:%=$(B)/tests/check_%)

TOOLS := $(B)/llmfb-mock $(B)/lcclient $(B)/llmfb-bench $(B)/llmfb-hotpath \
	$(B)/llmfb-xlate $(B)/guest $(if $(GO),$(B)/goclient)

.PHONY: all tools check unit e2e demo bench clean install asan deps nobpf \
	deb man units examples style FORCE
all: $(B)/libllmfb.so $(B)/llmfbd $(B)/llmfbctl man units

# The install paths compiled in (llmfbctl run finds the shim there),
# rewritten only when they change so a rebuild stays incremental.
$(B)/gen/paths.h: FORCE
	@mkdir -p $(dir $@)
	@printf '#define LLMFB_SHIM_PATH "%s/libllmfb.so"\n' '$(PKGLIBDIR)' \
		>$@.tmp
	@cmp -s $@.tmp $@ && rm $@.tmp || mv $@.tmp $@
$(B)/obj/ctl/llmfbctl.o: $(B)/gen/paths.h

# Man pages and units: templates with the install paths filled in.
MAN_PAGES := $(notdir $(basename $(wildcard man/*.in)))
UNITS := llmfbd.service llmfbd.socket llmfb-preload.conf
SUBST := sed -e 's|@VERSION@|$(VERSION)|g' -e 's|@SBINDIR@|$(SBINDIR)|g' \
	-e 's|@BINDIR@|$(BINDIR)|g' -e 's|@PKGLIBDIR@|$(PKGLIBDIR)|g' \
	-e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' -e 's|@UNITDIR@|$(UNITDIR)|g'
man: $(MAN_PAGES:%=$(B)/man/%)
units: $(UNITS:%=$(B)/dist/%)
$(B)/man/%: man/%.in $(B)/gen/paths.h
	@mkdir -p $(dir $@)
	$(Q)$(SUBST) $< >$@
$(B)/dist/%: dist/%.in $(B)/gen/paths.h
	@mkdir -p $(dir $@)
	$(Q)$(SUBST) $< >$@
$(B)/dist/%: dist/%
	@mkdir -p $(dir $@)
	$(Q)cp $< $@

tools: all $(TOOLS)

$(B)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(ALL_CFLAGS) $(DAEMON_CFLAGS) -MMD -MP -c -o $@ $<

# The BPF programs and their skeletons (ebpf/x.bpf.c -> x.skel.h).
$(B)/ebpf/%.bpf.o: ebpf/%.bpf.c ebpf/%.h ebpf/vmlinux.h ebpf/selfpid.bpf.h
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  BPF     $<")
	$(Q)$(CLANG) $(BPF_CFLAGS) -c -o $@ $<

$(B)/ebpf/%.skel.h: $(B)/ebpf/%.bpf.o
	@$(if $(Q),echo "  GEN     $@")
	$(Q)$(BPFTOOL) gen skeleton $< name $* >$@.tmp && mv $@.tmp $@

$(B)/obj/ebpf/%.o: ALL_CFLAGS += -I$(B)/ebpf
$(B)/obj/ebpf/netlat.o: $(B)/ebpf/netlat.skel.h
$(B)/obj/ebpf/sslwatch.o: $(B)/ebpf/sslwatch.skel.h
$(B)/obj/ebpf/redirect.o: $(B)/ebpf/connredir.skel.h

# Unit tests reach into the daemon's modules; llmfbctl into its config.
$(B)/obj/tests/unit/%.o: ALL_CFLAGS += -Idaemon
$(B)/obj/ctl/%.o: ALL_CFLAGS += -Idaemon

$(B)/pic/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC(pic) $<")
	$(Q)$(CC) $(ALL_CFLAGS) -fPIC -fvisibility=hidden -MMD -MP -c -o $@ $<

$(B)/libllmfb.so: $(SHIM_OBJ)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) -shared -o $@ $^ $(LDFLAGS) -Wl,-z,now -Wl,-z,relro -ldl -lpthread

$(B)/llmfbd: $(B)/obj/daemon/main.o $(DAEMON_LIB_OBJ) $(COMMON_OBJ)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) -o $@ $^ $(LDFLAGS) $(DAEMON_LIBS)

# llmfbctl check reads a config as llmfbd does: the same parser, and the
# same API tables (which read answers, hence answer.o and sse.o).
API_OBJ := $(B)/obj/daemon/api.o $(B)/obj/daemon/api_openai_chat.o \
	$(B)/obj/daemon/api_anthropic_messages.o \
	$(B)/obj/daemon/api_openai_embeddings.o \
	$(B)/obj/daemon/api_openai_responses.o \
	$(B)/obj/daemon/api_openai_completions.o $(B)/obj/daemon/answer.o \
	$(B)/obj/daemon/sse.o
$(B)/llmfbctl: $(CTL_OBJ) $(B)/obj/daemon/config.o $(B)/obj/daemon/ynode.o \
	$(B)/obj/daemon/ca.o $(B)/obj/daemon/group.o $(API_OBJ) $(COMMON_OBJ)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) -o $@ $^ $(LDFLAGS) -ljansson -lyaml -lssl -lcrypto

$(B)/llmfb-mock: $(B)/obj/tests/mock/mock.o $(COMMON_OBJ)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) -o $@ $^ $(LDFLAGS) -lssl -lcrypto -ljansson -lhttp_parser -lz -lpthread

$(B)/lcclient: $(B)/obj/tests/e2e/lcclient.o
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) -o $@ $^ $(LDFLAGS) -lcurl

include tests/e2e/guest.mk

# A Go client (stdlib only, Debian's golang-go) for the end-to-end tests:
# Go's TLS and system calls are its own.  Without go, its cases skip.
$(B)/goclient: tests/e2e/go/goclient.go
	@$(if $(Q),echo "  GO      $@")
	$(Q)GOCACHE=$(abspath $(B))/go/cache GOPATH=$(abspath $(B))/go/path \
		GOFLAGS=-mod=mod GO111MODULE=off CGO_ENABLED=1 \
		$(GO) build -o $@ $<
include tests/fuzz/fuzz.mk

$(B)/llmfb-bench: $(B)/obj/bench/bench.o $(COMMON_OBJ)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) -o $@ $^ $(LDFLAGS) -lcurl -lpthread -lm

# The daemon's translation code, timed in-process.
$(B)/obj/bench/xlate.o: ALL_CFLAGS += -Idaemon
$(B)/llmfb-xlate: $(B)/obj/bench/xlate.o $(DAEMON_LIB_OBJ) $(COMMON_OBJ)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) -o $@ $^ $(LDFLAGS) $(DAEMON_LIBS)

$(B)/llmfb-hotpath: $(B)/obj/bench/hotpath.o $(COMMON_OBJ)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) -o $@ $^ $(LDFLAGS) -lssl -lcrypto -lpthread

$(B)/tests/check_%: $(B)/obj/tests/unit/check_%.o $(DAEMON_LIB_OBJ) $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) -o $@ $^ $(LDFLAGS) $(DAEMON_LIBS) $(CHECK_LIBS)

# call.c with its upstream faked: no network, scripted answers.
$(B)/obj/tests/unit/%.o: ALL_CFLAGS += -Itests/unit
$(B)/tests/check_call: $(B)/obj/tests/unit/check_call.o \
	$(B)/obj/tests/unit/fake_upstream.o \
	$(filter-out %/daemon/upstream.o,$(DAEMON_LIB_OBJ)) $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) -o $@ $^ $(LDFLAGS) $(DAEMON_LIBS) $(CHECK_LIBS)

# `make check` works on a fresh Debian 12: it installs what is missing
# first (as root), then builds and runs every test offline.
deps:
	$(Q)tests/deps.sh

check: deps
	$(Q)$(MAKE) --no-print-directory tools $(UNIT_BINS) nobpf
	$(Q)$(MAKE) --no-print-directory style unit examples fuzz-replay e2e

# Installing: binaries, the shim, man pages, units, the sysusers file,
# bash completion, the logrotate file (for the example config's event log;
# a file in /etc, so a conffile in the package) and the example config,
# which never replaces one already there.
install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SBINDIR) \
		$(DESTDIR)$(PKGLIBDIR) $(DESTDIR)$(SYSCONFDIR)/llmfb \
		$(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8 \
		$(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSUSERSDIR) \
		$(DESTDIR)$(DOCDIR)/examples $(DESTDIR)$(BASHCOMPDIR) \
		$(DESTDIR)$(SYSCONFDIR)/logrotate.d
	install -m 0755 $(B)/llmfbd $(DESTDIR)$(SBINDIR)/llmfbd
	install -m 0755 $(B)/llmfbctl $(DESTDIR)$(BINDIR)/llmfbctl
	install -m 0644 $(B)/libllmfb.so $(DESTDIR)$(PKGLIBDIR)/libllmfb.so
	install -m 0644 $(B)/man/llmfb.yaml.5 $(DESTDIR)$(MANDIR)/man5/
	install -m 0644 $(B)/man/llmfbd.8 $(B)/man/llmfbctl.8 \
		$(B)/man/libllmfb.8 $(DESTDIR)$(MANDIR)/man8/
	install -m 0644 $(B)/dist/llmfbd.service $(B)/dist/llmfbd.socket \
		$(DESTDIR)$(UNITDIR)/
	install -m 0644 dist/llmfb.sysusers $(DESTDIR)$(SYSUSERSDIR)/llmfb.conf
	install -m 0644 dist/completion/llmfbctl dist/completion/llmfbd \
		$(DESTDIR)$(BASHCOMPDIR)/
	install -m 0644 dist/llmfb.logrotate \
		$(DESTDIR)$(SYSCONFDIR)/logrotate.d/llmfb
	install -m 0644 examples/llmfb.yaml $(B)/dist/llmfb-preload.conf \
		examples/providers/*.yaml \
		dist/prometheus/llmfb-alerts.yml \
		dist/grafana/llmfb-dashboard.json $(DESTDIR)$(DOCDIR)/examples/
	@if [ -e $(DESTDIR)$(SYSCONFDIR)/llmfb/llmfb.yaml ]; then \
		echo "kept $(DESTDIR)$(SYSCONFDIR)/llmfb/llmfb.yaml (the" \
		    "example is in $(DOCDIR)/examples)"; \
	else \
		echo "install -m 0644 examples/llmfb.yaml" \
		    "$(DESTDIR)$(SYSCONFDIR)/llmfb/llmfb.yaml"; \
		install -m 0644 examples/llmfb.yaml \
		    $(DESTDIR)$(SYSCONFDIR)/llmfb/llmfb.yaml; \
	fi

# The Debian package, built from a copy of the tree in $(B)/deb.
deb:
	$(Q)B=$(B) dist/mkdeb.sh

# llmfbd as a machine without clang or bpftool builds it: the end-to-end
# tests check that it runs and says why it has no eBPF.
nobpf:
	$(Q)$(MAKE) --no-print-directory B=$(B)/nobpf BPF=0 $(B)/nobpf/llmfbd

# One brace style everywhere (tests/style.py says which).
style:
	$(Q)tests/style.py $$(git ls-files '*.c' '*.h' 2>/dev/null || \
		find . -name '*.[ch]' -not -path './build*')
	$(Q)tests/includes.py daemon shim ctl common

unit: $(UNIT_BINS)
	$(Q)tests/run-unit.sh $(UNIT_BINS)

# The shipped example configurations pass llmfbd -n.
examples: $(B)/llmfbd
	$(Q)tests/examples.sh $(B)/llmfbd

e2e: tools
	$(Q)B=$(B) tests/e2e/selftest.sh
	$(Q)B=$(B) tests/e2e/run.sh

demo: deps
	$(Q)$(MAKE) --no-print-directory tools
	$(Q)examples/demo.sh

bench: deps
	$(Q)$(MAKE) --no-print-directory tools
	$(Q)bench/run.sh

# The sanitizers over the whole suite: a separate build directory so the
# normal build is left alone.
# Debian's curl hangs with the ASan runtime preloaded, so under asan the
# sanitized shim is driven by the sanitized lcclient only (e2e says so).
asan: export LLMFB_TEST_SANITIZED = 1
asan:
	$(Q)$(MAKE) --no-print-directory B=build-asan \
		OPT="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
		LDFLAGS="-fsanitize=address,undefined" check

clean:
	rm -rf $(B) build-asan

-include $(shell find $(B)/obj $(B)/pic -name '*.d' -type f 2>/dev/null)
.SECONDARY:
