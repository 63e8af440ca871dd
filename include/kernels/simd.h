/* simd.h - compile a loop-heavy function twice and pick one at run time.
 *
 * The loop is written once, as an always-inline body, and wrapped twice: a
 * plain wrapper, built for the x86-64 baseline (SSE2), and one marked
 * LD_AVX2_TARGET, built with AVX2 enabled. The caller takes the AVX2 one when
 * matmul_isa_avx2() says so (matmul.h), so matmul_set_isa reaches every such
 * function and the tests run both builds on a machine with AVX2. The two
 * builds run the same C: with no fused multiply-add (the Makefile passes
 * -ffp-contract=off) and no reassociation they give bit-identical results;
 * only the vector width differs. LD_AVX2_PATH says whether there is an AVX2
 * build (not when the whole program is already built with AVX2, nor off
 * x86-64 or without GCC/clang).
 *
 * Not target_clones: its resolvers run at load time, through libgcc's CPU
 * probe, a constructor that asks CPUID a dozen questions, and in a virtual
 * machine each CPUID traps to the hypervisor, which costs a short run more
 * than it saves (docs/performance.md).
 */
#ifndef LORA_DEMO_SIMD_H
#define LORA_DEMO_SIMD_H

#include <limits.h> /* defines __GLIBC__ on glibc */

#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__) && !defined(__AVX2__)
#define LD_AVX2_PATH 1
#define LD_AVX2_TARGET __attribute__((target("avx2")))
#else
#define LD_AVX2_PATH 0
#define LD_AVX2_TARGET
#endif

/* ld_cpu_avx2(), ld_cpu_avx512f(): 1 if this CPU and OS run AVX2 (AVX-512
 * Foundation) code. glibc 2.33 and later
 * answer from the table they filled at start-up; otherwise GCC's
 * __builtin_cpu_supports (whose probe runs at start-up, see above). */
#if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__))
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
#include <sys/platform/x86.h>
static inline int ld_cpu_avx2(void)
{
    return CPU_FEATURE_ACTIVE(AVX2);
}
static inline int ld_cpu_avx512f(void)
{
    return CPU_FEATURE_ACTIVE(AVX512F);
}
#else
static inline int ld_cpu_avx2(void)
{
    return __builtin_cpu_supports("avx2");
}
static inline int ld_cpu_avx512f(void)
{
    return __builtin_cpu_supports("avx512f");
}
#endif
#endif

#endif /* LORA_DEMO_SIMD_H */
