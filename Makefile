# mlpd — build, test and run. Plain GNU make + pkg-config.
#   make            build/libmlpcore.a, libmlpserver.a, libmlpapi.a and build/mlpd
#   make test       build and run every test (cmocka summaries on stdout)
#   make asan       the same under AddressSanitizer + UndefinedBehaviorSanitizer (objects in build/asan)
#   make run        start the daemon on 127.0.0.1:8080 with ./var as data dir
#   make deps       install the Debian packages (scripts/install-deps.sh, as root)
#   make format-check / make format

BUILD    ?= build
CC       ?= cc
PKGS     := libmicrohttpd jansson sqlite3 openblas cmocka libcurl zlib libcrypto libprotobuf-c
NO_DEPS_GOALS := deps format format-check clean

# A fresh machine has none of the libraries (maybe not even pkg-config): install them first.
ifeq ($(filter-out $(NO_DEPS_GOALS),$(or $(MAKECMDGOALS),all)),$(or $(MAKECMDGOALS),all))
  ifneq ($(shell pkg-config --exists $(PKGS) 2>/dev/null && echo ok),ok)
    $(info pkg-config cannot find all of: $(PKGS); running scripts/install-deps.sh)
    DEPS_RC := $(shell ./scripts/install-deps.sh >&2; echo $$?)
    ifneq ($(DEPS_RC),0)
      $(error scripts/install-deps.sh failed (exit $(DEPS_RC)); run it as root)
    endif
  endif
endif

WARN     := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wpointer-arith \
            -Wformat=2 -Wvla -Werror
OPT      ?= -O2 -g
SAN      ?=
CFLAGS_BASE := -std=c11 -D_GNU_SOURCE $(OPT) $(WARN) $(SAN) -MMD -MP -pthread
BLAS_CFLAGS := $(shell pkg-config --cflags openblas 2>/dev/null)
BLAS_LIBS   := $(shell pkg-config --libs openblas 2>/dev/null)
ALL_CFLAGS  := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
ALL_LIBS    := $(shell pkg-config --libs libmicrohttpd jansson sqlite3 openblas zlib libcrypto libprotobuf-c 2>/dev/null)
CMOCKA_LIBS := $(shell pkg-config --libs cmocka 2>/dev/null)
CURL_LIBS   := $(shell pkg-config --libs libcurl 2>/dev/null)
LDLIBS_CORE := $(BLAS_LIBS) -lm

# core/ sees libc, libm and cblas only. The poison directory comes first on the include path, so
# a stray #include of a library mlpd links (jansson, SQLite, libmicrohttpd, curl, zlib, OpenSSL)
# in core/ fails to compile; check-layers refuses every other non-ISO header on the sources.
POISON := $(BUILD)/poison
CORE_CFLAGS := $(CFLAGS_BASE) -I$(POISON) -Icore $(BLAS_CFLAGS)
# server/ (the services and the HTTP glue) sees core/, its own headers and the C libraries it
# wraps, never api/ or jansson: its own poison directory holds jansson.h and one file per api/
# header name (listed from api/*.h at build time), each an #error, ahead of every other -I.
SPOISON := $(BUILD)/spoison
# $(BUILD)/gen holds the generated onnx.pb-c.h (server/onnx_*.c encode and decode ONNX with it).
SERVER_LIB_CFLAGS := $(shell pkg-config --cflags libmicrohttpd sqlite3 zlib libcrypto openblas libprotobuf-c 2>/dev/null)
SERVER_CFLAGS := $(CFLAGS_BASE) -I$(SPOISON) -Icore -Iserver -I$(BUILD)/gen $(SERVER_LIB_CFLAGS)
# api/, main.c and the tests see everything.
SVC_CFLAGS  := $(CFLAGS_BASE) -Icore -Iserver -Iapi -I$(BUILD)/gen $(ALL_CFLAGS)

CORE_SRC   := $(wildcard core/*.c)
SERVER_SRC := $(wildcard server/*.c)
API_SRC    := $(wildcard api/*.c)
API_HDRS   := $(notdir $(wildcard api/*.h))
# The generated tables are data of server/migrate.c and server/assets.c: they go with server/.
# So does the ONNX message code protoc-c generates from Debian's onnx.proto (libonnx-dev).
ONNX_PROTO ?= /usr/include/onnx/onnx.proto
ONNX_GEN   := $(BUILD)/gen/onnx.pb-c.c
ONNX_GEN_H := $(ONNX_GEN:.c=.h)
GEN_SRC    := $(BUILD)/gen/migrations.c $(BUILD)/gen/assets.c $(ONNX_GEN)
# Static files served by the binary: pairs of URL path and source file (see server/assets.h).
ASSETS     := $(shell cat web/ASSETS 2>/dev/null)
ASSET_FILES := $(filter-out /%,$(ASSETS))
CORE_OBJ   := $(CORE_SRC:%.c=$(BUILD)/obj/%.o)
SERVER_OBJ := $(SERVER_SRC:%.c=$(BUILD)/obj/%.o) $(GEN_SRC:%.c=%.o)
API_OBJ    := $(API_SRC:%.c=$(BUILD)/obj/%.o)
MAIN_OBJ   := $(BUILD)/obj/main.o
# Link order, highest layer first: main.o, then api, server and core.
LIBS_ALL   := $(BUILD)/libmlpapi.a $(BUILD)/libmlpserver.a $(BUILD)/libmlpcore.a

TEST_CORE_SRC := $(wildcard tests/core/test_*.c)
TEST_SVC_SRC  := $(wildcard tests/server/test_*.c) $(wildcard tests/api/test_*.c)
TEST_E2E_SRC  := $(wildcard tests/e2e/test_*.c)
CORE_SUPPORT  := $(filter-out $(wildcard tests/core/test_*.c),$(wildcard tests/core/*.c))
SVC_SUPPORT   := $(filter-out $(wildcard tests/*/test_*.c),$(wildcard tests/server/*.c tests/api/*.c tests/e2e/*.c))
TEST_CORE_BIN := $(TEST_CORE_SRC:tests/%.c=$(BUILD)/tests/%)
TEST_SVC_BIN  := $(TEST_SVC_SRC:tests/%.c=$(BUILD)/tests/%)
TEST_E2E_BIN  := $(TEST_E2E_SRC:tests/%.c=$(BUILD)/tests/%)
TEST_BINS     := $(TEST_CORE_BIN) $(TEST_SVC_BIN) $(TEST_E2E_BIN)
CORE_SUPPORT_OBJ := $(CORE_SUPPORT:%.c=$(BUILD)/obj/%.o)
SVC_SUPPORT_OBJ  := $(SVC_SUPPORT:%.c=$(BUILD)/obj/%.o)

HAVE_MAIN := $(wildcard main.c)
DAEMON    := $(if $(HAVE_MAIN),$(BUILD)/mlpd)

.PHONY: all test asan run deps format format-check clean check-layers check-exports test-openapi test-metrics test-examples test-browser
.DELETE_ON_ERROR:
.SECONDARY:

all: $(BUILD)/libmlpcore.a $(DAEMON)

$(POISON)/.stamp:
	@mkdir -p $(POISON)/curl $(POISON)/openssl
	@for h in jansson.h sqlite3.h microhttpd.h curl/curl.h zlib.h openssl/sha.h openssl/evp.h openssl/crypto.h; do \
	  printf '#error "core/ must not include <%s>: it is the numeric library (libc, libm, cblas only)"\n' $$h > $(POISON)/$$h; \
	done
	@touch $@

$(BUILD)/obj/core/%.o: core/%.c $(POISON)/.stamp
	@mkdir -p $(dir $@)
	$(CC) $(CORE_CFLAGS) -c $< -o $@

# The list of api/ header names, rewritten only when it changes, so that adding or removing an
# api/ header rebuilds the poison (and server/), while editing one does not.
SPOISON_LIST := $(SPOISON)/api-headers.txt
ifeq ($(filter-out $(NO_DEPS_GOALS),$(or $(MAKECMDGOALS),all)),$(or $(MAKECMDGOALS),all))
  $(shell mkdir -p $(SPOISON) && { echo '$(API_HDRS)' | cmp -s - $(SPOISON_LIST) || echo '$(API_HDRS)' > $(SPOISON_LIST); })
endif
$(SPOISON)/.stamp: $(SPOISON_LIST)
	@find $(SPOISON) -name '*.h' -delete
	@printf '#error "server/ must not include <jansson.h>: JSON belongs to api/"\n' > $(SPOISON)/jansson.h
	@for h in $(API_HDRS); do \
	  printf '#error "server/ must not include %s: it is an api/ header (server/ is the lower layer)"\n' $$h > $(SPOISON)/$$h; \
	done
	@touch $@

$(BUILD)/obj/server/%.o: server/%.c $(SPOISON)/.stamp | $(ONNX_GEN_H)
	@mkdir -p $(dir $@)
	$(CC) $(SERVER_CFLAGS) -c $< -o $@

$(BUILD)/gen/%.o: $(BUILD)/gen/%.c $(SPOISON)/.stamp
	$(CC) $(SERVER_CFLAGS) -c $< -o $@

$(BUILD)/obj/api/%.o: | $(GEN_SRC) $(ONNX_GEN_H)
$(MAIN_OBJ): | $(GEN_SRC) $(ONNX_GEN_H)
$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(SVC_CFLAGS) -c $< -o $@

# The migrations are compiled into the binary: nothing is read from the source tree at run time.
$(BUILD)/gen/migrations.c: $(sort $(wildcard migrations/*.sql)) scripts/embed-migrations.sh
	@mkdir -p $(dir $@)
	./scripts/embed-migrations.sh $(sort $(wildcard migrations/*.sql)) > $@.tmp && mv $@.tmp $@

# ONNX messages (onnx.proto, proto2) as C structs with pack/unpack: protoc-c (protobuf-c-compiler)
# writes onnx.pb-c.c and .h, the library libprotobuf-c does the wire format. It compiles under the
# full warning set with gcc and clang, so no flag is relaxed for it; its exports are protobuf-c's
# generated API (most unused by mlpd), so check-exports leaves the object out.
$(ONNX_GEN_H): $(ONNX_GEN)
$(ONNX_GEN): $(ONNX_PROTO)
	@mkdir -p $(dir $@)
	protoc-c --proto_path=$(dir $(ONNX_PROTO)) --c_out=$(dir $@) $(ONNX_PROTO)
	@test -f $(ONNX_GEN_H) && touch $@

$(BUILD)/gen/assets.c: $(ASSET_FILES) web/ASSETS scripts/embed-assets.sh
	@mkdir -p $(dir $@)
	./scripts/embed-assets.sh $(ASSETS) > $@.tmp && mv $@.tmp $@

# The dashboard's chart library, uPlot, comes from the npm registry, pinned in
# web/package-lock.json: `npm ci` fetches it (node/npm installed by scripts/install-browser-deps.sh
# when missing) and its dist files are embedded like the rest (web/ASSETS lists them under
# build/web/, shared by every BUILD directory).
web/node_modules/.package-lock.json: web/package.json web/package-lock.json
	@command -v npm >/dev/null 2>&1 || ./scripts/install-browser-deps.sh
	npm ci --prefix web --no-audit --no-fund
	@touch $@
build/web/%: web/node_modules/.package-lock.json
	@mkdir -p $(dir $@)
	cp web/node_modules/uplot/dist/$* $@

$(BUILD)/libmlpcore.a: $(CORE_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/libmlpserver.a: $(SERVER_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/libmlpapi.a: $(API_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/mlpd: $(MAIN_OBJ) $(LIBS_ALL)
	$(CC) $(CFLAGS_BASE) -o $@ $^ $(ALL_LIBS) -lm

$(BUILD)/obj/tests/core/%.o: tests/core/%.c $(POISON)/.stamp
	@mkdir -p $(dir $@)
	$(CC) $(CORE_CFLAGS) -Itests -c $< -o $@

# A static pattern rule: the core suites never fall to the service-test rule below, which make
# would otherwise prefer once dependency files name its objects but not tests/core's support.
$(TEST_CORE_BIN): $(BUILD)/tests/core/%: tests/core/%.c $(CORE_SUPPORT_OBJ) $(BUILD)/libmlpcore.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) -Icore -Itests $(BLAS_CFLAGS) -o $@ $< $(CORE_SUPPORT_OBJ) $(BUILD)/libmlpcore.a $(CMOCKA_LIBS) $(LDLIBS_CORE)

# End-to-end tests drive the real daemon binary.
$(TEST_E2E_BIN): $(BUILD)/mlpd
# test_registry races a writer into the registry's store reads through the linker's --wrap.
$(BUILD)/tests/server/test_registry: TEST_LDFLAGS := -Wl,--wrap=store_model_version_get \
  -Wl,--wrap=store_model_alias_resolve
# The service tests link the api archive too: the linker takes from it only what a test names
# (test_jobs hands api's run-spec hooks to the workers), and nothing in server/ can need it.
$(BUILD)/tests/%: tests/%.c $(SVC_SUPPORT_OBJ) $(LIBS_ALL)
	@mkdir -p $(dir $@)
	$(CC) $(SVC_CFLAGS) $(TEST_LDFLAGS) -Itests -o $@ $< $(SVC_SUPPORT_OBJ) $(LIBS_ALL) $(CMOCKA_LIBS) $(CURL_LIBS) $(ALL_LIBS) -lm

# Every test binary runs even when an earlier one fails; the target fails if any did.
test: all $(TEST_BINS) check-layers check-exports
	@[ -n "$(strip $(TEST_BINS))" ] || { echo "no tests found" >&2; exit 1; }
	@fail=0; for t in $(TEST_BINS); do \
	  echo "=== $$t"; \
	  MLPD_BIN=$(abspath $(BUILD))/mlpd OPENBLAS_NUM_THREADS=$${OPENBLAS_NUM_THREADS:-2} $$t || { echo "FAILED: $$t"; fail=1; }; \
	done; \
	for x in test-openapi test-metrics test-examples test-crash test-docker test-onnx test-onnx-import; do \
	  $(MAKE) --no-print-directory $$x || { echo "FAILED: $$x"; fail=1; }; \
	done; \
	$(MAKE) --no-print-directory test-browser || { echo "FAILED: test-browser"; fail=1; }; \
	if [ $$fail = 0 ]; then echo "all test binaries passed"; else echo "some tests FAILED"; exit 1; fi

# The dashboard end to end in a real browser: Debian's chromium driven by playwright-core (pinned
# in tests/browser/package-lock.json) against the real daemon; saves $(BUILD)/dashboard.png. Every
# tests/browser/*.test.js runs, one file at a time (each starts its own daemon and browser).
# Fails, never skips, when chromium is missing and cannot be installed.
tests/browser/node_modules/.package-lock.json: tests/browser/package.json tests/browser/package-lock.json
	./scripts/install-browser-deps.sh
	npm ci --prefix tests/browser --no-audit --no-fund
	@touch $@
test-browser: $(BUILD)/mlpd tests/browser/node_modules/.package-lock.json
	./scripts/install-browser-deps.sh
	cd tests/browser && MLPD_BIN=$(abspath $(BUILD))/mlpd MLPD_SHOT=$(abspath $(BUILD))/dashboard.png \
	  node --test --test-concurrency=1 $(sort $(notdir $(wildcard tests/browser/*.test.js)))

# Tests outside cmocka: the OpenAPI document validated by @apidevtools/swagger-parser (pinned in
# tests/openapi/package-lock.json, fetched by npm ci), /metrics parsed by Debian's
# python3-prometheus-client, and the README's examples run against a live daemon.
tests/openapi/node_modules/.package-lock.json: tests/openapi/package.json tests/openapi/package-lock.json
	npm ci --prefix tests/openapi --no-audit --no-fund
	@touch $@
test-openapi: tests/openapi/node_modules/.package-lock.json
	node --test tests/openapi/validate.js
test-metrics: $(BUILD)/mlpd
	MLPD_BIN=$(abspath $(BUILD))/mlpd /usr/bin/python3 tests/metrics/test_metrics.py
test-examples: $(BUILD)/mlpd
	MLPD_BIN=$(abspath $(BUILD))/mlpd tests/examples/run_readme.sh

# ONNX export (issue 15): tests/onnx/export_test.py trains tiny models for every activation and
# task, exports each with ?format=onnx and runs Debian python3-onnx's checker on it; then
# tests/onnx/ort.test.js runs every file in onnxruntime-node (pinned in tests/onnx/package-lock.json;
# its CPU library ships in the npm package, so the optional CUDA download is skipped) and compares
# with mlpd's :predict. Fails, never skips, when either is missing.
tests/onnx/node_modules/.package-lock.json: tests/onnx/package.json tests/onnx/package-lock.json
	@command -v npm >/dev/null 2>&1 || ./scripts/install-browser-deps.sh
	ONNXRUNTIME_NODE_INSTALL=skip npm ci --prefix tests/onnx --no-audit --no-fund
	@touch $@
.PHONY: test-onnx
test-onnx: $(BUILD)/mlpd tests/onnx/node_modules/.package-lock.json
	@/usr/bin/python3 -c 'import onnx' 2>/dev/null || { echo "test-onnx: Debian's python3-onnx is \
	  missing (scripts/install-deps.sh installs it): the exported files cannot be checked" >&2; exit 1; }
	@test -f tests/onnx/node_modules/onnxruntime-node/package.json || { echo "test-onnx: \
	  onnxruntime-node is missing (npm ci --prefix tests/onnx)" >&2; exit 1; }
	MLPD_BIN=$(abspath $(BUILD))/mlpd OPENBLAS_NUM_THREADS=$${OPENBLAS_NUM_THREADS:-2} \
	  /usr/bin/python3 tests/onnx/export_test.py $(abspath $(BUILD))/onnx-test
	cd tests/onnx && ONNX_MANIFEST=$(abspath $(BUILD))/onnx-test/manifest.json node --test ort.test.js

# ONNX import against PyTorch: tests/onnx/import_*.py with Debian's python3-torch and python3-onnx
# (scripts/install-deps.sh); a missing one fails the target, it never skips.
.PHONY: test-onnx-import
test-onnx-import: $(BUILD)/mlpd
	@/usr/bin/python3 -c 'import torch, onnx' || { echo "test-onnx-import: python3-torch and python3-onnx are needed (scripts/install-deps.sh)" >&2; exit 1; }
	@for t in tests/onnx/import_*.py; do \
	  MLPD_BIN=$(abspath $(BUILD))/mlpd OPENBLAS_NUM_THREADS=$${OPENBLAS_NUM_THREADS:-2} /usr/bin/python3 $$t || exit 1; \
	done

# docker/Dockerfile replayed without a container engine: its build stage in an empty directory,
# step by step and in order (a fresh `make` of its own), then its runtime stage checked.
.PHONY: test-docker
test-docker:
	/usr/bin/python3 tests/docker/replay_test.py

# Crash safety (issue 6): kill -9 at random points, SIGTERM drain, unwritable dir and full disk.
.PHONY: test-crash
test-crash: $(BUILD)/mlpd
	@fail=0; for t in $(sort $(wildcard tests/crash/*_test.sh)); do \
	  echo "=== $$t"; MLPD_BIN=$(abspath $(BUILD))/mlpd $$t || { echo "FAILED: $$t"; fail=1; }; \
	done; exit $$fail

# Fuzzing (issue 6): libFuzzer targets tests/fuzz/fuzz_*.c with seed corpora (and every crash
# found, kept as a regression input) in tests/fuzz/corpus/<target>/. The libraries are rebuilt
# with clang under ASan+UBSan in build/fuzz. fuzz-smoke replays each corpus, then fuzzes each
# target for FUZZ_SECONDS; .ci/run calls it.
FUZZ_SECONDS ?= 20
# A fixed seed and a fresh work dir make each smoke run the same input sequence (cut at
# FUZZ_SECONDS): a prefix checked locally for longer is what CI replays.
FUZZ_SEED ?= 1
FUZZ_TARGETS := $(patsubst tests/fuzz/%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
.PHONY: fuzz fuzz-bins fuzz-smoke
fuzz:
	./scripts/install-fuzz-deps.sh
	$(MAKE) --no-print-directory BUILD=build/fuzz CC=clang OPT="-O1 -g" \
	  SAN="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all" fuzz-bins
fuzz-bins: $(FUZZ_TARGETS:%=$(BUILD)/fuzz/%) $(BUILD)/fuzz/mkseeds
$(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/tiny.h $(LIBS_ALL)
	@mkdir -p $(dir $@)
	$(CC) $(SVC_CFLAGS) -fsanitize=fuzzer -Itests/fuzz -o $@ $< $(LIBS_ALL) $(ALL_LIBS) -lm
$(BUILD)/fuzz/mkseeds: tests/fuzz/mkseeds.c tests/fuzz/tiny.h $(LIBS_ALL)
	@mkdir -p $(dir $@)
	$(CC) $(SVC_CFLAGS) -Itests/fuzz -o $@ $< $(LIBS_ALL) $(ALL_LIBS) -lm
fuzz-smoke: fuzz
	@fail=0; for t in $(FUZZ_TARGETS); do \
	  rm -rf build/fuzz/work/$$t; mkdir -p build/fuzz/work/$$t build/fuzz/crashes; \
	  echo "=== fuzz $$t ($(FUZZ_SECONDS) s, seed $(FUZZ_SEED))"; \
	  build/fuzz/fuzz/$$t -seed=$(FUZZ_SEED) -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -rss_limit_mb=2048 \
	    -timeout=10 -print_final_stats=0 -artifact_prefix=build/fuzz/crashes/$$t- \
	    build/fuzz/work/$$t tests/fuzz/corpus/$$t 2>build/fuzz/work/$$t.log \
	    && tail -n 1 build/fuzz/work/$$t.log \
	    || { tail -n 40 build/fuzz/work/$$t.log; echo "FAILED: fuzz $$t"; fail=1; }; \
	done; exit $$fail

# The e2e suites with the daemon under valgrind memcheck (slow; not in CI). Reports in
# /tmp/mlpd-valgrind.<pid>; a daemon with errors or definite leaks exits 99 and its test fails.
.PHONY: valgrind
valgrind: all $(TEST_E2E_BIN)
	@rm -f /tmp/mlpd-valgrind.*; fail=0; for t in $(TEST_E2E_BIN); do echo "=== $$t (valgrind)"; \
	  MLPD_BIN=$(abspath tests/valgrind/mlpd-valgrind.sh) MLPD_REAL_BIN=$(abspath $(BUILD))/mlpd \
	    OPENBLAS_NUM_THREADS=2 $$t || { echo "FAILED: $$t"; fail=1; }; done; \
	for f in /tmp/mlpd-valgrind.*; do [ -s "$$f" ] && { echo "--- $$f"; cat "$$f"; fail=1; }; done; \
	exit $$fail

asan:
	$(MAKE) BUILD=build/asan OPT="-O1 -g -fno-omit-frame-pointer" \
	  SAN="-fsanitize=address,undefined -fno-sanitize-recover=all" test

run: all
	mkdir -p var
	$(BUILD)/mlpd --listen 127.0.0.1:8080 --data-dir ./var

deps:
	./scripts/install-deps.sh

# The layering rules on the sources: core/ includes only the C11 standard headers, <cblas.h> and
# its own headers (an allow-list, tests/layers/core_includes.sh); server/ includes neither
# <jansson.h> nor an api/ header (tests/layers/server_includes.sh). Each names any offence as
# file:line. Each checker's self-test runs first, so a checker that accepts everything fails.
check-layers:
	@tests/layers/core_includes_test.sh
	@tests/layers/core_includes.sh core
	@tests/layers/server_includes_test.sh
	@tests/layers/server_includes.sh server api

# Dead exports: every global symbol of the product's objects must be used by another object or
# named by a test or fuzz source (tests/layers/check_exports.sh, after its self-test); the few
# let through are listed with their reason in tests/layers/exports.allow.
check-exports: $(CORE_OBJ) $(filter-out $(ONNX_GEN:.c=.o),$(SERVER_OBJ)) $(API_OBJ) $(if $(HAVE_MAIN),$(MAIN_OBJ))
	@CC="$(CC)" tests/layers/check_exports_test.sh
	@tests/layers/check_exports.sh tests/layers/exports.allow tests $^

FMT_SRC = $(wildcard main.c core/*.[ch] server/*.[ch] api/*.[ch] tests/*/*.[ch] bench/*.c)
format:
	clang-format -i $(FMT_SRC)
format-check:
	clang-format --dry-run --Werror $(FMT_SRC)

clean:
	rm -rf build

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
