# tests/fuzz: libFuzzer harnesses of what llmfbd reads from others
# (docs/fuzzing.md).  Included by the Makefile.
#
#   make fuzz           each target for FUZZ_SECONDS (60) under libFuzzer,
#                       ASan and UBSan, one after another; new finds go to
#                       $(B)/fuzz/corpus-new/TARGET, crashes to
#                       $(B)/fuzz/crashes/TARGET.  FUZZ_TARGETS picks some.
#   make fuzz-merge     the new finds that reach new code, into the
#                       tracked corpus (libFuzzer -merge=1); with
#                       FUZZ_MINIMISE=1 the whole corpus is minimised
#   make fuzz-cov       line coverage of each target's modules by the
#                       tracked corpus and regression inputs (llvm-cov)
#   make fuzz-replay    every tracked input once through each harness,
#                       built as the unit tests are; `make check` runs it,
#                       `make asan` runs it sanitized

FUZZ_ALL	:= server preamble config dialect_req dialect_ans tlshello \
		   dialect_stream sse answer
FUZZ_TARGETS	?= $(FUZZ_ALL)
FUZZ_SECONDS	?= 60
FUZZ_CC		?= clang
LLVM_COV	?= $(or $(shell command -v llvm-cov-14 2>/dev/null),llvm-cov)
LLVM_PROFDATA	?= $(or $(shell command -v llvm-profdata-14 2>/dev/null),\
		   llvm-profdata)
FUZZ_DIR	:= $(B)/fuzz

# The modules each target is there for: what fuzz-cov reports.
FUZZ_MOD_server		:= daemon/server.c daemon/preamble.c
FUZZ_MOD_preamble	:= daemon/preamble.c
FUZZ_MOD_tlshello	:= daemon/tlshello.c
FUZZ_MOD_config		:= daemon/config.c daemon/ynode.c
FUZZ_MOD_dialect_req	:= daemon/dialect.c
FUZZ_MOD_dialect_ans	:= daemon/dialect.c
FUZZ_MOD_dialect_stream	:= daemon/dialect_stream.c daemon/sse.c
FUZZ_MOD_sse		:= daemon/sse.c
FUZZ_MOD_answer		:= daemon/answer.c daemon/sse.c daemon/api_openai_chat.c \
			   daemon/api_anthropic_messages.c

fuzz_empty :=
fuzz_space := $(fuzz_empty) $(fuzz_empty)
fuzz_comma := ,

.PHONY: fuzz fuzz-merge fuzz-cov fuzz-replay fuzz-build

# ---- replay, in make check: the normal compiler, flags and objects ----

FUZZ_REPLAY_BINS := $(FUZZ_ALL:%=$(B)/tests/fuzz_%)

$(B)/obj/tests/fuzz/%.o: ALL_CFLAGS += -Idaemon
$(B)/tests/fuzz_%: $(B)/obj/tests/fuzz/%.o $(B)/obj/tests/fuzz/replay.o \
	$(DAEMON_LIB_OBJ) $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) -o $@ $^ $(LDFLAGS) $(DAEMON_LIBS)

fuzz-replay: $(FUZZ_REPLAY_BINS)
	$(Q)tests/fuzz/run.sh replay $(FUZZ_REPLAY_BINS)

# ---- libFuzzer and coverage builds: clang, objects of their own -------

# The daemon's modules without eBPF: no skeletons to build, and nothing
# of it is reached from a parser.
FUZZ_LIB_SRC := $(filter-out $(EBPF_SRC),$(DAEMON_LIB_SRC)) ebpf/nobpf.c \
	$(COMMON_SRC)
FUZZ_CFLAGS := -std=gnu11 $(WARN) -O1 -g -fno-omit-frame-pointer \
	-D_GNU_SOURCE -Icommon -Iebpf -Idaemon $(DAEMON_CFLAGS)
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_PROF := -fprofile-instr-generate -fcoverage-mapping

$(FUZZ_DIR)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC(fuzz) $<")
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_SAN) -fsanitize=fuzzer-no-link \
		-MMD -MP -c -o $@ $<

$(FUZZ_DIR)/fuzz_%: $(FUZZ_DIR)/obj/tests/fuzz/%.o \
	$(FUZZ_LIB_SRC:%.c=$(FUZZ_DIR)/obj/%.o)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $^ $(DAEMON_LIBS)

$(FUZZ_DIR)/cov/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC(cov) $<")
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_PROF) -MMD -MP -c -o $@ $<

$(FUZZ_DIR)/cov/fuzz_%: $(FUZZ_DIR)/cov/obj/tests/fuzz/%.o \
	$(FUZZ_DIR)/cov/obj/tests/fuzz/replay.o \
	$(FUZZ_LIB_SRC:%.c=$(FUZZ_DIR)/cov/obj/%.o)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(FUZZ_CC) $(FUZZ_PROF) -o $@ $^ $(DAEMON_LIBS)

fuzz-build: $(FUZZ_TARGETS:%=$(FUZZ_DIR)/fuzz_%)

fuzz: fuzz-build
	$(Q)B=$(B) FUZZ_SECONDS=$(FUZZ_SECONDS) tests/fuzz/run.sh fuzz \
		$(FUZZ_TARGETS)

fuzz-merge: fuzz-build
	$(Q)B=$(B) FUZZ_MINIMISE=$(FUZZ_MINIMISE) tests/fuzz/run.sh merge \
		$(FUZZ_TARGETS)

fuzz-cov: $(FUZZ_TARGETS:%=$(FUZZ_DIR)/cov/fuzz_%)
	$(Q)B=$(B) LLVM_COV=$(LLVM_COV) LLVM_PROFDATA=$(LLVM_PROFDATA) \
		tests/fuzz/run.sh cov $(foreach t,$(FUZZ_TARGETS),\
		$(t):$(subst $(fuzz_space),$(fuzz_comma),$(FUZZ_MOD_$(t))))

-include $(shell find $(FUZZ_DIR) -name '*.d' -type f 2>/dev/null)
