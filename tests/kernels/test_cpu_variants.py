"""Which matmul variant each CPU gets.

The selection is a pure function of LLVM's name for the CPU and its feature flags
(:func:`micrograd_plus.kernels._cpu.choose_variant`), so it is tested here for CPUs this machine
is not. What the Intel variant compiles to: ``test_bench_fma_counts.py``. Speed on Intel is not
tested (no timing in tests, and no Intel machine was at hand when the variant was built).
"""

import pytest

from micrograd_plus.kernels._cpu import choose_variant

AVX512 = {f: True for f in ("avx", "avx2", "fma", "avx512f", "avx512bw", "avx512dq", "avx512vl")}
AVX2 = {"avx": True, "avx2": True, "fma": True}


@pytest.mark.parametrize("name, features, expected", [
    # Intel's AVX-512 cores, by LLVM's name (the Xeon reported `rocketlake`)
    ("rocketlake", AVX512, "intel"),
    ("sapphirerapids", {**AVX512, "amx-tile": True, "avx512fp16": True}, "intel"),
    ("icelake-server", AVX512, "intel"),
    ("graniterapids", AVX512, "intel"),
    ("skylake-avx512", AVX512, "intel"),
    ("cascadelake", AVX512, "intel"),
    # a name LLVM does not know (a hypervisor's generic model), but Intel-only features
    ("x86-64-v4", {**AVX512, "amx-tile": True}, "intel"),
    ("x86-64-v4", {**AVX512, "avx512fp16": True}, "intel"),
    # AMD: Zen 4 (the variant's own), Zen 5, and an unknown AVX-512 CPU keep the Zen 4 variant
    ("znver4", {**AVX512, "avx512bf16": True}, "zen4"),
    ("znver5", {**AVX512, "avx512vp2intersect": True}, "zen4"),
    ("x86-64-v4", AVX512, "zen4"),
    # 16 vector registers: AVX2 CPUs, and Intel names whose AVX-512 is switched off
    ("haswell", AVX2, "avx2"),
    ("znver3", AVX2, "avx2"),
    ("alderlake", AVX2, "avx2"),
    ("rocketlake", {**AVX512, "avx512f": False}, "avx2"),
    ("x86-64", {"sse2": True}, "avx2"),
    # arm64: 32 NEON registers, the 6 x 4 blocking
    ("apple-m1", {"neon": True}, "zen4"),
])
def test_variant_is_chosen_from_cpu_name_and_features(name, features, expected):
    assert choose_variant(name, features) == expected


def test_every_listed_intel_name_gets_the_intel_variant_only_with_avx512():
    from micrograd_plus.kernels._cpu import INTEL_AVX512_CPUS

    for name in INTEL_AVX512_CPUS:
        assert choose_variant(name, AVX512) == "intel"
        assert choose_variant(name, AVX2) == "avx2"
