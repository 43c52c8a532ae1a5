# LMX build. `make` leaves the CLI at build/lmx; `make test` runs every test.
#
# Sources are picked up by wildcard: one module per file under src/<layer>/
# (src/server/ also one folder down: http/, core/, api/).
# ISA-specific kernels (kernels_avx2.c, kernels_avx512.c) get their own -m flags
# and are chosen at run time, so one binary runs on any x86-64.

CC      ?= cc
BUILD   ?= build
OPT     ?= -O2
SAN     ?=
CFLAGS  ?=
CFLAGS  += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -g $(OPT) $(SAN) -pthread -Isrc \
           -fno-math-errno -ffp-contract=off
# gcc warns on every snprintf that may truncate; ours truncate on purpose.
ifeq ($(findstring clang,$(shell $(CC) --version 2>/dev/null)),)
CFLAGS  += -Wno-format-truncation
endif
LIBS     = -lsqlite3 -lmicrohttpd -lgnutls -lpcre2-8 -ljansson -lutf8proc -lyaml -lcurl -lcrypto -lhiredis -lm -pthread

ENGINE_SRC = $(wildcard src/engine/*.c)
TEXT_SRC   = $(wildcard src/text/*.c)
UTIL_SRC   = $(wildcard src/util/*.c)
SCHED_SRC  = $(wildcard src/sched/*.c)
TRACE_SRC  = $(wildcard src/trace/*.c)
SERVER_SRC = $(wildcard src/server/*.c src/server/*/*.c)
MGR_SRC    = $(wildcard src/manager/*.c)
AGENTS_SRC = $(wildcard src/agents/*.c)
CLI_SRC    = $(wildcard src/cli/*.c)
LIB_SRC    = $(ENGINE_SRC) $(TEXT_SRC) $(UTIL_SRC) $(SCHED_SRC) $(TRACE_SRC) $(SERVER_SRC) $(MGR_SRC) $(AGENTS_SRC)
UNIT_SRC   = $(wildcard tests/unit/*.c)

LIB_OBJ  = $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ  = $(CLI_SRC:%.c=$(BUILD)/%.o)
UNIT_OBJ = $(UNIT_SRC:%.c=$(BUILD)/%.o)

ISA_FLAGS_avx2   = -mavx2 -mfma -mf16c
ISA_FLAGS_avx512 = -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512vnni -mavx2 -mfma -mf16c

all: $(BUILD)/lmx

$(BUILD)/lmx: $(CLI_OBJ) $(BUILD)/liblmx.a
	$(CC) $(CFLAGS) -o $@ $(CLI_OBJ) $(BUILD)/liblmx.a $(LIBS)

$(BUILD)/liblmx.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/test_unit: $(UNIT_OBJ) $(BUILD)/liblmx.a
	$(CC) $(CFLAGS) -o $@ $(UNIT_OBJ) $(BUILD)/liblmx.a $(LIBS)

# The work the callgrind gate counts (bench/callgrind_gate.sh).
$(BUILD)/cg_step: bench/cg_step.c $(BUILD)/liblmx.a
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/liblmx.a $(LIBS)

$(BUILD)/src/engine/%_avx2.o: src/engine/%_avx2.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(ISA_FLAGS_avx2) -MMD -MP -c $< -o $@

$(BUILD)/src/engine/%_avx512.o: src/engine/%_avx512.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(ISA_FLAGS_avx512) -MMD -MP -c $< -o $@

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

# Every test: unit tests, then end-to-end tests that drive build/lmx.
test: $(BUILD)/lmx $(BUILD)/test_unit
	python3 tests/run_all.py --build $(BUILD)

unit: $(BUILD)/test_unit
	$(BUILD)/test_unit

# Unit tests under AddressSanitizer + UndefinedBehaviorSanitizer (LSan included).
asan:
	$(MAKE) BUILD=build-asan OPT=-O1 SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" build-asan/test_unit build-asan/lmx

# libFuzzer harnesses (clang): the library built with coverage + ASan/UBSan.
FUZZ_SAN = -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
fuzz:
	$(MAKE) CC=clang BUILD=build-fuzz OPT=-O1 SAN="$(FUZZ_SAN) -fsanitize=fuzzer-no-link" build-fuzz/liblmx.a
	@for h in tests/fuzz/fuzz_*.c; do n=$$(basename $$h .c); \
	  echo "clang $$h -> build-fuzz/$$n"; \
	  clang -std=c11 -D_GNU_SOURCE -g -O1 -Isrc $(FUZZ_SAN) -fsanitize=fuzzer $$h build-fuzz/liblmx.a $(LIBS) -o build-fuzz/$$n || exit 1; done

# `make install [PREFIX=/usr/local] [DESTDIR=staging]`: the binary, the systemd
# unit and the launchd plist (docs/service.md says how to run them), and bash
# and zsh completion.
# The config file goes to SYSCONFDIR/lmx/config.yaml only when there is none.
PREFIX  ?= /usr/local
SYSCONFDIR ?= $(if $(filter /usr,$(PREFIX)),/etc,$(PREFIX)/etc)
SUBST = sed -e 's|@BINDIR@|$(PREFIX)/bin|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' -e 's|@PREFIX@|$(PREFIX)|g'
install: $(BUILD)/lmx
	install -D -m 0755 $(BUILD)/lmx $(DESTDIR)$(PREFIX)/bin/lmx
	@mkdir -p $(DESTDIR)$(PREFIX)/lib/systemd/system $(DESTDIR)$(PREFIX)/share/lmx $(DESTDIR)$(SYSCONFDIR)/lmx
	$(SUBST) packaging/lmx.service > $(DESTDIR)$(PREFIX)/lib/systemd/system/lmx.service
	$(SUBST) packaging/com.lmx.serve.plist > $(DESTDIR)$(PREFIX)/share/lmx/com.lmx.serve.plist
	install -m 0644 packaging/config.example.yaml $(DESTDIR)$(PREFIX)/share/lmx/config.example.yaml
	install -d $(DESTDIR)$(PREFIX)/share/doc/lmx
	install -m 0644 docs/service.md docs/configuration.md $(DESTDIR)$(PREFIX)/share/doc/lmx/
	install -D -m 0644 packaging/completion/lmx.bash $(DESTDIR)$(PREFIX)/share/bash-completion/completions/lmx
	install -D -m 0644 packaging/completion/_lmx $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_lmx
	[ -e $(DESTDIR)$(SYSCONFDIR)/lmx/config.yaml ] || \
	  install -m 0644 packaging/config.example.yaml $(DESTDIR)$(SYSCONFDIR)/lmx/config.yaml

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/lmx $(DESTDIR)$(PREFIX)/lib/systemd/system/lmx.service
	rm -rf $(DESTDIR)$(PREFIX)/share/lmx $(DESTDIR)$(PREFIX)/share/doc/lmx
	rm -f $(DESTDIR)$(PREFIX)/share/bash-completion/completions/lmx $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_lmx

# The include rules between layers (engine/ and text/ see only util/, the
# manager never the server ...): scripts/check-layers.py holds the table.
check-layers:
	python3 scripts/check-layers.py

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build build-asan build-fuzz

.PHONY: all test unit asan fuzz check-layers format clean install uninstall

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(UNIT_OBJ:.o=.d)
