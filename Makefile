# lora_demo - see README.md.
#   make          build ./lora_demo          make run     the default experiment
#   make test     every test                 make plot    results/losses.png (gnuplot)
#   make bench    speed against PyTorch      make native  ./lora_demo-native (-march=native)
#   make install  PREFIX=/usr/local DESTDIR=  make clean
CC      ?= cc
CFLAGS  ?= -std=c11 -O2 -Wall -Wextra -Wpedantic
# Kept apart from CFLAGS so `make CFLAGS='... -Werror'` keeps them:
# -ffp-contract=off: no fused multiply-add contraction, whatever the
# compiler's default (GCC's is off in ISO C mode, clang's is on), because the
# fast kernels promise results bit-identical to their naive twins and across
# code paths (matmul.h).
ALL_CFLAGS = $(CFLAGS) -ffp-contract=off -Iinclude
LDLIBS  += -lm -lpthread
PREFIX  ?= /usr/local
BUILD   ?= build
BIN     ?= lora_demo
RESULTS ?= results
SAN_FLAGS = -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -g

LIB_SRC  := $(filter-out src/main.c,$(wildcard src/*.c src/*/*.c))
LIB_OBJ  := $(LIB_SRC:src/%.c=$(BUILD)/%.o)
TEST_SRC := $(wildcard tests/test_*.c) tests/fixture.c
TEST_OBJ := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%.o)

.PHONY: all run test plot install uninstall clean expected sanitize valgrind fixtures fuzz bench native lint coverage
all: $(BIN)

$(BIN): $(BUILD)/main.o $(LIB_OBJ)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/%.o: src/%.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/tests/%.o: tests/%.c | $(BUILD)/tests
	$(CC) $(ALL_CFLAGS) -Itests -MMD -MP -c -o $@ $<

$(BUILD)/run_tests: $(TEST_OBJ) $(LIB_OBJ)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Every allocation of a run made to fail in turn (tests/alloc_fail.c): the
# project's own calls to the allocator are redirected with ld's --wrap.
ALLOC_WRAP = -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=aligned_alloc,--wrap=free
$(BUILD)/alloc_fail: $(BUILD)/tests/alloc_fail.o $(BUILD)/tests/test_util.o $(LIB_OBJ)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) $(ALLOC_WRAP) -o $@ $^ $(LDLIBS)

# Checks that every result file in a directory is whole (tests/fault_test.sh).
$(BUILD)/check_outputs: $(BUILD)/tests/check_outputs.o $(LIB_OBJ)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Fuzz targets (tests/fuzz/fuzz_<t>.c) and the replay driver that runs one
# on saved inputs with the ordinary compiler, no libFuzzer needed.
FUZZ_TARGETS = csv json safetensors cli
$(BUILD)/tests/fuzz/%.o: tests/fuzz/%.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<
$(BUILD)/fuzz_replay_%: $(BUILD)/tests/fuzz/replay.o $(BUILD)/tests/fuzz/fuzz_%.o $(LIB_OBJ)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/bench/%.o: scripts/bench/%.c | $(BUILD)/bench
	$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/lora_bench: $(BUILD)/bench/lora_bench.o $(LIB_OBJ)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# The core's peak, memory bandwidth and the matmul kernels' GFLOP/s
# (docs/performance.md, "Machine limits"; not a test).
$(BUILD)/gemm_bench: $(BUILD)/bench/gemm_bench.o $(LIB_OBJ)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/closed_form_error: $(BUILD)/bench/closed_form_error.o $(LIB_OBJ)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# The SVD's timings and accuracy on random matrices up to 1024 x 1024
# (docs/performance.md; not a test).
$(BUILD)/svd_time: $(BUILD)/bench/svd_time.o $(LIB_OBJ)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD) $(BUILD)/tests $(BUILD)/bench:
	mkdir -p $@

run: $(BIN)
	./$(BIN) --epochs 100 --seed 42

# Speed against PyTorch (scripts/bench.py; not a test, nothing depends on
# timing). BENCH_ARGS passes options, e.g. BENCH_ARGS="--threads 2". Then the
# SVD at 1024 x 1024, its portable sweep against the AVX2 one in one run.
PYTHON ?= python3
bench: $(BIN) $(BUILD)/lora_bench $(BUILD)/gemm_bench $(BUILD)/svd_time
	$(PYTHON) scripts/bench.py $(BENCH_ARGS)
	./$(BUILD)/svd_time --repeats 3 --isa both 1024 1024

# The same program tuned for this machine's CPU (-march=native), in its own
# build directory and binary; the default build stays x86-64 baseline.
native:
	$(MAKE) BUILD=$(BUILD)/native BIN=$(BUILD)/native/lora_demo \
	    CFLAGS="$(CFLAGS) -march=native" $(BUILD)/native/lora_demo
	cp $(BUILD)/native/lora_demo lora_demo-native

# The whole suite: C unit tests, then the command-line and fault tests; the
# last line is the total "N passed, M failed".
# The bench tools are built too, so that a change to the library cannot leave them behind.
TEST_TOOLS = $(BUILD)/check_outputs $(BUILD)/alloc_fail $(FUZZ_TARGETS:%=$(BUILD)/fuzz_replay_%) \
    $(BUILD)/lora_bench $(BUILD)/closed_form_error $(BUILD)/svd_time $(BUILD)/gemm_bench
test: $(BIN) $(BUILD)/run_tests $(TEST_TOOLS)
	sh tests/run_all.sh ./$(BUILD)/run_tests ./$(BIN)

# The whole suite again, built with AddressSanitizer and UBSan in build/san
# (any finding aborts the test that hit it, so the suite fails).
sanitize:
	$(MAKE) BUILD=build/san BIN=build/san/lora_demo \
	    CFLAGS='-std=c11 -O1 -Wall -Wextra -Wpedantic $(SAN_FLAGS)' LDFLAGS='$(SAN_FLAGS)' test

# Line coverage of src/ by the whole suite: built with gcc --coverage -O0 in
# build/cov, make test run there, then gcov; prints each file and
# "lines: NN.N%" (tests/coverage.sh). COVERAGE_MIN fails below a floor.
COVERAGE_MIN ?= 0
coverage:
	rm -rf build/cov
	$(MAKE) CC=gcc BUILD=build/cov BIN=build/cov/lora_demo \
	    CFLAGS='-std=c11 -O0 -g --coverage' LDFLAGS='--coverage' test
	sh tests/coverage.sh build/cov $(COVERAGE_MIN)

# The default experiment, a small finetune run that saves its data and weights, a run that reads
# them back, and the unit tests under memcheck: 0 errors and no memory definitely or indirectly lost.
VALGRIND = valgrind -q --error-exitcode=1 --leak-check=full \
    --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect
valgrind: $(BIN) $(BUILD)/run_tests
	@command -v valgrind >/dev/null || { echo "valgrind: apt-get install valgrind" >&2; exit 1; }
	$(VALGRIND) ./$(BIN) --quiet --epochs 100 --seed 42 --output-dir tests/tmp/valgrind
	$(VALGRIND) ./$(BIN) --quiet --experiment finetune --epochs 40 --pretrain-epochs 40 \
	    --repeats 2 --batch-size 64 --save-data --save-weights --output-dir tests/tmp/valgrind-finetune
	$(VALGRIND) ./$(BIN) --quiet --experiment finetune --epochs 40 --output-dir tests/tmp/valgrind-data \
	    --data tests/tmp/valgrind-finetune/train.csv --base-weights tests/tmp/valgrind-finetune/base.safetensors
	$(VALGRIND) ./$(BUILD)/run_tests

# libFuzzer targets, built with clang in build/fuzz (address and UB
# sanitizers on), each run FUZZ_SECONDS from its seed corpus: see
# tests/fuzz/run_fuzz.sh. Needs clang and libclang-rt-14-dev.
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 60
FUZZ_BUILD = build/fuzz
FUZZ_CFLAGS = -std=c11 -g -O1 -ffp-contract=off -fno-omit-frame-pointer -fsanitize=address,undefined \
    -fno-sanitize-recover=all -Iinclude
FUZZ_LIB_OBJ = $(LIB_SRC:src/%.c=$(FUZZ_BUILD)/%.o)
$(FUZZ_BUILD):
	mkdir -p $@
$(FUZZ_BUILD)/%.o: src/%.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c -o $@ $<
$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_LIB_OBJ)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $^ -lm -lpthread
fuzz: $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/fuzz_%)
	sh tests/fuzz/run_fuzz.sh $(FUZZ_BUILD) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

# Static analysis, zero findings: cppcheck, then clang-tidy with the checks
# in .clang-tidy (every exclusion has its reason there), over src/ and
# tests/. cppcheck checks the configuration that is built (GCC or clang on
# x86-64, hence -D__GNUC__ -D__x86_64__), not every #ifdef combination.
# clang-tidy gets one file per run: given several, clang 14's analyzer
# carried va_list state from one file into the next and reported an
# uninitialised va_list in the second file's vsnprintf.
CPPCHECK ?= cppcheck
CLANG_TIDY ?= clang-tidy
LINT_SRC = $(wildcard src/*.c src/*/*.c) $(wildcard tests/*.c) $(wildcard tests/fuzz/*.c)
lint:
	@command -v $(CPPCHECK) >/dev/null || { echo "lint: apt-get install cppcheck" >&2; exit 1; }
	@command -v $(CLANG_TIDY) >/dev/null || { echo "lint: apt-get install clang-tidy" >&2; exit 1; }
	$(CPPCHECK) --std=c11 --enable=warning,style,performance,portability --error-exitcode=1 -q \
	    --inline-suppr --suppress=missingIncludeSystem -D__GNUC__ -D__x86_64__ \
	    -Iinclude -Itests $(LINT_SRC)
	printf '%s\n' $(LINT_SRC) | xargs -P 2 -n 1 sh -c \
	    'out=$$($(CLANG_TIDY) -quiet "$$1" -- -std=c11 -ffp-contract=off -Iinclude -Itests 2>&1); \
	     rc=$$?; [ -z "$$out" ] || printf "%s\n" "$$out" | grep -v "warnings* generated\.$$"; \
	     exit $$rc' clang-tidy
	@echo "lint: cppcheck and clang-tidy found nothing"

plot:
	sh scripts/plot.sh $(RESULTS)

# Regenerate tests/expected/final_losses.csv from the default run. Only after
# a deliberate change to the numbers; say why in the commit.
expected: $(BIN)
	sh scripts/make_expected.sh ./$(BIN) tests/expected/final_losses.csv

# Regenerate the PyTorch golden files tests/fixtures/*.ldfx (format and
# cases: scripts/torch_reference.py). Only this needs torch; make test reads
# the committed files. Uses the first of TORCH_PYTHON that can import torch.
TORCH_PYTHON ?= python3 /usr/bin/python3
fixtures:
	@py=; for p in $(TORCH_PYTHON); do \
	    if "$$p" -c 'import torch' >/dev/null 2>&1; then py=$$p; break; fi; \
	done; \
	if [ -z "$$py" ]; then \
	    echo "make fixtures: no Python that can import torch (tried: $(TORCH_PYTHON))" >&2; \
	    echo "install PyTorch with: apt-get install python3-torch" >&2; \
	    exit 1; \
	fi; \
	echo "$$py scripts/torch_reference.py tests/fixtures"; \
	"$$py" scripts/torch_reference.py tests/fixtures

install: $(BIN)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 755 $(BIN) $(DESTDIR)$(PREFIX)/bin/lora_demo
	install -m 644 lora_demo.1 $(DESTDIR)$(PREFIX)/share/man/man1/lora_demo.1

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/lora_demo $(DESTDIR)$(PREFIX)/share/man/man1/lora_demo.1

clean:
	rm -rf build $(BUILD) $(BIN) lora_demo-native tests/tmp

# Keep intermediate objects (the fuzz and replay builds), so a second make
# rebuilds nothing.
.SECONDARY:

-include $(wildcard $(BUILD)/*.d $(BUILD)/*/*.d $(BUILD)/tests/*.d $(BUILD)/tests/fuzz/*.d $(BUILD)/bench/*.d $(FUZZ_BUILD)/*.d $(FUZZ_BUILD)/*/*.d)
