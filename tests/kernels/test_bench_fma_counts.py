"""What the Intel variant compiles to, counted by ``micrograd_plus.bench.fma_counts``.

The code is compiled for Intel CPUs on whatever machine runs the tests (numba compiles for
``NUMBA_CPU_NAME``; the code is only read, never run) and the fused multiply-adds of each inner
loop are counted by register width. Why these counts: the comment above
``micrograd_plus.kernels._cpu.choose_variant``.
"""

import pytest

from micrograd_plus.bench import fma_counts


@pytest.mark.parametrize("cpu", ["rocketlake", "sapphirerapids"])
def test_intel_build_uses_512_bit_fmas_only(cpu):
    """Compiled for an Intel AVX-512 core, the 6 x 4 block's inner loop is 24 zmm FMAs fed by 10
    loads (4 of B, 6 broadcasts of A) with no spill, and the marked dot-product loop uses zmm too
    (unmarked, LLVM's `prefer-256-bit` tuning for these cores makes it ymm)."""
    wide = fma_counts.counts(cpu, wide=True)
    assert wide["marked"]
    assert [24, 0, 10, 0] in wide["block"]  # (zmm FMAs, ymm FMAs, loads, stack references)
    assert all(ymm == 0 for _, ymm, _, _ in wide["block"])
    main_loop = max(wide["dots"])  # the vectorised loop (the others are its remainder)
    assert main_loop[0] >= 4 and main_loop[1] == 0
    plain = fma_counts.counts(cpu, wide=False)
    assert not plain["marked"]
    assert all(zmm == 0 for zmm, _, _, _ in plain["dots"])  # why the mark is there
