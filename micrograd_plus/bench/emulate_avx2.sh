#!/usr/bin/env bash
# Run `micrograd-plus bench` on an AVX-512 machine as if it had AVX2 only, every contender alike:
#   numba compiles for Haswell (AVX2 + FMA, 16 vector registers: our kernels take their 6x2 blocking),
#   numpy's OpenBLAS uses its Haswell kernels, PyTorch's ATen, MKL and oneDNN stop at AVX2.
# This is an emulation, not an AVX2 machine: the cores, caches and clocks are still this machine's
# (a Zen 4 executes 256-bit FMAs at the same rate as its 512-bit ones), so read the ratios, not the
# absolute figures, and say "emulated" beside them. Results go to micrograd_plus/bench/machines/
# haswell-avx2-emulated-on-<this CPU>.json (in a source checkout; --json FILE to choose): every table
# in it names the emulation (`CPU haswell ..., AVX2 ... -- EMULATED on a znver4`), and the docs'
# performance page shows it as a column of its own, marked EMULATED.
#   usage: micrograd_plus/bench/emulate_avx2.sh [bench names...]     e.g. micrograd_plus/bench/emulate_avx2.sh matmul gpt
#          micrograd_plus/bench/emulate_avx2.sh -- COMMAND...         any command in the same environment,
#          e.g. micrograd_plus/bench/emulate_avx2.sh -- python -m pytest tests/kernels
set -euo pipefail
haswell="+64bit,+avx,+avx2,+bmi,+bmi2,+cmov,+cx16,+cx8,+f16c,+fma,+fsgsbase,+fxsr,+lzcnt,+mmx,+movbe"
haswell+=",+pclmul,+popcnt,+rdrnd,+sahf,+sse,+sse2,+sse3,+sse4.1,+sse4.2,+ssse3,+x87,+xsave,+xsaveopt"
haswell+=",-avx512f,-avx512bw,-avx512cd,-avx512dq,-avx512vl,-avx512vnni,-avx512bf16,-avx512ifma"
haswell+=",-avx512vbmi,-avx512vbmi2,-avx512bitalg,-avx512vpopcntdq,-evex512"
export NUMBA_CPU_NAME=haswell NUMBA_CPU_FEATURES="$haswell"
export NUMBA_CACHE_DIR="${NUMBA_CACHE_DIR:-${TMPDIR:-/tmp}/micrograd_plus-haswell-cache}"  # not the AVX-512 cache
export OPENBLAS_CORETYPE=Haswell ATEN_CPU_CAPABILITY=avx2 MKL_ENABLE_INSTRUCTIONS=AVX2 ONEDNN_MAX_CPU_ISA=AVX2
if [[ "${1:-}" == "--" ]]; then shift; exec "$@"; fi
echo "emulating AVX2 (numba: haswell; OpenBLAS: Haswell; torch: avx2)"
exec python -m micrograd_plus bench "$@"
