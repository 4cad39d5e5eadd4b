#!/usr/bin/env bash
# Sourced by the side-by-side benchmarks: prints the line that says what the figures were
# measured on (CPU model, core count, widest SIMD), since hosts here differ (AVX-512 or AVX2).
cpu_line() {
  local cpu flags simd="no FMA"
  cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')
  flags=$(grep -m1 '^flags' /proc/cpuinfo)
  if [[ " $flags " == *" avx512f "* ]]; then simd="AVX-512F"; elif [[ " $flags " == *" fma "* ]]; then simd="AVX2+FMA, no AVX-512"; fi
  echo "CPU: $cpu; $(nproc) cores; widest SIMD: $simd"
}
