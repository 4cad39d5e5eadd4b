//! Loops compiled for the widest SIMD the processor has, chosen at run time: the crates are built
//! for baseline x86-64 (SSE2, two f64 a register), so without this the hot elementwise loops
//! would never use AVX2 or AVX-512 on the hosts that have them. One dispatcher for the training
//! step's loops and the serving path's (drift binning).

/// Runs `f` compiled for AVX-512 or AVX2 when this CPU has them (pulp, gemm's own dispatcher;
/// inlined closures inherit the chosen target features). Plain IEEE arithmetic, never fused
/// multiply-add, so the result is the same on every path.
#[inline(always)]
pub fn vectorized<R>(f: impl FnOnce() -> R) -> R {
    pulp::Arch::new().dispatch(f)
}
