# lora_demo - see README.md.
#   make          build ./lora_demo          make run     the default experiment
#   make test     every test                 make plot    results/losses.png (gnuplot)
#   make bench    speed against PyTorch      make native  ./lora_demo-native (-march=native)
#   make install  PREFIX=/usr/local DESTDIR=  make clean
CC      ?= cc
CFLAGS  ?= -std=c11 -O2 -Wall -Wextra -Wpedantic
# No fused multiply-add contraction, whatever the compiler's default (GCC's
# is off in ISO C mode, clang's is on): the fast kernels promise results
# bit-identical to their naive twins and across code paths (matmul.h).
CFLAGS  += -ffp-contract=off -Iinclude
LDLIBS  += -lm -lpthread
PREFIX  ?= /usr/local
BUILD   ?= build

LIB_SRC  := $(filter-out src/main.c,$(wildcard src/*.c))
LIB_OBJ  := $(LIB_SRC:src/%.c=$(BUILD)/%.o)
TEST_SRC := $(wildcard tests/test_*.c)
TEST_OBJ := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%.o)

.PHONY: all run test unit-test cli-test plot install uninstall clean expected bench native
all: lora_demo

lora_demo: $(BUILD)/main.o $(LIB_OBJ)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/%.o: src/%.c | $(BUILD)
	$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/tests/%.o: tests/%.c | $(BUILD)/tests
	$(CC) $(CFLAGS) -Itests -MMD -MP -c -o $@ $<

$(BUILD)/run_tests: $(TEST_OBJ) $(LIB_OBJ)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/bench/%.o: bench/%.c | $(BUILD)/bench
	$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/lora_bench: $(BUILD)/bench/lora_bench.o $(LIB_OBJ)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/closed_form_error: $(BUILD)/bench/closed_form_error.o $(LIB_OBJ)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD) $(BUILD)/tests $(BUILD)/bench:
	mkdir -p $@

# Speed against PyTorch (scripts/bench.py; not a test, nothing depends on
# timing). BENCH_ARGS passes options, e.g. BENCH_ARGS="--threads 2".
PYTHON ?= python3
bench: lora_demo $(BUILD)/lora_bench
	$(PYTHON) scripts/bench.py $(BENCH_ARGS)

# The same program tuned for this machine's CPU (-march=native), in its own
# build directory and binary; the default build stays x86-64 baseline.
native:
	$(MAKE) BUILD=$(BUILD)/native CFLAGS="$(CFLAGS) -march=native" $(BUILD)/native/lora_demo
	cp $(BUILD)/native/lora_demo lora_demo-native

$(BUILD)/lora_demo: $(BUILD)/main.o $(LIB_OBJ)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

run: lora_demo
	./lora_demo --epochs 100 --seed 42

# The whole suite: C unit tests, then the command-line tests; the last line
# is the total "N passed, M failed".
test: lora_demo $(BUILD)/run_tests
	sh tests/run_all.sh ./$(BUILD)/run_tests ./lora_demo

plot:
	sh scripts/plot.sh results

# Regenerate tests/expected/final_losses.csv from the default run. Only after
# a deliberate change to the numbers; say why in the commit.
expected: lora_demo
	sh scripts/make_expected.sh ./lora_demo tests/expected/final_losses.csv

install: lora_demo
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 755 lora_demo $(DESTDIR)$(PREFIX)/bin/lora_demo

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/lora_demo

clean:
	rm -rf $(BUILD) lora_demo lora_demo-native tests/tmp

-include $(wildcard $(BUILD)/*.d $(BUILD)/tests/*.d $(BUILD)/bench/*.d)
