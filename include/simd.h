/* simd.h - compile a loop-heavy function twice and pick one at run time.
 *
 * LD_AVX2_CLONES before a function definition makes GCC and clang build it
 * for the x86-64 baseline and again with AVX2 enabled, and choose the AVX2
 * build at load time on CPUs that have it (target_clones, an ifunc). The two
 * builds run the same C: with no fused multiply-add (the Makefile passes
 * -ffp-contract=off) and no reassociation, they give bit-identical results;
 * only the vector width differs. Elsewhere the macro is empty.
 *
 * matmul.c does the same by hand (target("avx2") + __builtin_cpu_supports)
 * so that tests can force either path; see matmul.h.
 */
#ifndef LORA_DEMO_SIMD_H
#define LORA_DEMO_SIMD_H

#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__) && defined(__linux__) && \
    !defined(__AVX2__)
#define LD_AVX2_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define LD_AVX2_CLONES
#endif

/* LD_AVX2_TARGET before a function definition builds that function with
 * AVX2 enabled, for a caller that checks the CPU first: an always-inline
 * body wrapped once plain and once with LD_AVX2_TARGET, the wrapper chosen
 * by matmul_isa_avx2() (train.c's narrow LoRA pass). Unlike target_clones
 * this follows matmul_set_isa, so the tests run both builds on a machine
 * with AVX2, and it adds no resolver to start-up. LD_AVX2_PATH says whether
 * there is an AVX2 build. */
#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__) && !defined(__AVX2__)
#define LD_AVX2_PATH 1
#define LD_AVX2_TARGET __attribute__((target("avx2")))
#else
#define LD_AVX2_PATH 0
#define LD_AVX2_TARGET
#endif

#endif /* LORA_DEMO_SIMD_H */
