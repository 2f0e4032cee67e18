"""Count the fused multiply-adds in the matmul's compiled inner loops, by register width.

    python -m micrograd_plus.bench.fma_counts                  # rocketlake, sapphirerapids, znver4
    python -m micrograd_plus.bench.fma_counts skylake-avx512   # any CPU name LLVM knows

numba compiles for the CPU named in ``NUMBA_CPU_NAME``, whatever machine it runs on; the code is
only read here, never run, so Intel's code can be counted on an AMD machine (and the reverse).
For each CPU, in a fresh process, it compiles the 6 x 4-vector micro-kernel block (the hot loop
of a large product) and a loop of four dot products like the edge columns' (which LLVM
vectorises itself), once plainly and once marked as the Intel variant marks them (512-bit
vectors wanted: :func:`micrograd_plus.kernels._microkernel._mark_wide`), and prints, for each
innermost loop, its zmm (512-bit) and ymm (256-bit) FMAs, its loads, and its stack references
(spills). Why these counts matter: the comment above ``choose_variant`` in
``micrograd_plus/kernels/_cpu.py``. ``tests/kernels/test_cpu_variants.py`` asserts them.
"""

import json
import os
import subprocess
import sys

# Run in the child process: compile, read the assembly, print one JSON line.
_CHILD = r'''
import json, re, sys
import numpy as np
from numba import njit
from micrograd_plus.kernels._microkernel import MR, make_microkernel, make_wide_marker

def innermost_loops(asm):
    """[zmm FMAs, ymm FMAs, loads, stack references] of each loop with no loop inside it."""
    lines, labels, out = asm.splitlines(), {}, []
    for i, line in enumerate(lines):
        if re.match(r"^\.LBB\w+:", line):
            labels[line.split(":")[0]] = i
    jumps = [(labels[m.group(1)], i) for i, line in enumerate(lines)
             if (m := re.match(r"\s*j\w+\s+(\.LBB\w+)", line)) and labels.get(m.group(1), i) < i]
    for start, end in jumps:
        if any(start < s and e < end for s, e in jumps if (s, e) != (start, end)):
            continue
        body = lines[start:end]
        fma = [re.findall(r"%(zmm|ymm|xmm)", x)[-1] for x in body if re.match(r"\s*vfn?madd", x)]
        loads = sum(bool(re.match(r"\s*v(movups|movaps|movupd|movapd|broadcastss|broadcastsd)\s+[^%]", x)) for x in body)
        if fma:
            out.append([fma.count("zmm"), fma.count("ymm"), loads, sum("(%rsp)" in x for x in body)])
    return out

wide = sys.argv[1] == "wide"
kernel = make_microkernel(64, wide=wide)
marker = make_wide_marker(wide)

@njit
def block(a, b, c, kc):  # one block of 6 rows x 4 vectors of C, summed over kc steps
    kernel(64, 4, a, 0, kc, 1, b, 0, 64, c, 0, 64, kc, False)

@njit(fastmath={"contract", "reassoc"})
def dots(a, b, out):  # four dot products along K, as matmul's _dot_columns does
    marker()
    s0 = s1 = s2 = s3 = np.float32(0)
    for k in range(a.shape[1]):
        y = b[k]
        s0 += a[0, k] * y
        s1 += a[1, k] * y
        s2 += a[2, k] * y
        s3 += a[3, k] * y
    out[0], out[1], out[2], out[3] = s0, s1, s2, s3

block(np.ones(MR * 64, np.float32), np.ones(64 * 64, np.float32), np.zeros(MR * 64, np.float32), 64)
dots(np.ones((4, 64), np.float32), np.ones(64, np.float32), np.zeros(4, np.float32))
ir = next(iter(block.inspect_llvm().values()))
print(json.dumps({
    "block": innermost_loops(next(iter(block.inspect_asm().values()))),
    "dots": innermost_loops(next(iter(dots.inspect_asm().values()))),
    "marked": '"min-legal-vector-width"="512"' in ir and '"prefer-vector-width"="512"' in ir,
}))
'''


def counts(cpu, wide):
    """``{"block": [[zmm, ymm, loads, stack refs], ...], "dots": [...], "marked": bool}`` for the
    code numba compiles for LLVM's ``cpu``, marked as wanting 512-bit vectors when ``wide``.

    Runs a fresh Python (numba's JIT on even under ``NUMBA_DISABLE_JIT=1``, nothing cached).
    """
    env = dict(os.environ, NUMBA_CPU_NAME=cpu, NUMBA_DISABLE_JIT="0", MICROGRAD_PLUS_QUIET_COMPILE="1")
    env.pop("NUMBA_CPU_FEATURES", None)  # the named CPU's own features
    out = subprocess.run([sys.executable, "-c", _CHILD, "wide" if wide else "plain"], env=env,
                         capture_output=True, text=True, timeout=300)
    if out.returncode != 0:
        raise RuntimeError(f"compiling for {cpu} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _describe(loops):
    """'24 zmm + 0 ymm FMAs, 10 loads, 0 stack refs' for each loop, joined by '; '."""
    return "; ".join(f"{z} zmm + {y} ymm FMAs, {ld} loads, {st} stack refs" for z, y, ld, st in loops)


def main(cpus=None):
    """Print the counts for each CPU name (default: rocketlake, sapphirerapids, znver4)."""
    for cpu in cpus or ["rocketlake", "sapphirerapids", "znver4"]:
        for wide in (False, True):
            got = counts(cpu, wide)
            print(f"{cpu:15s} {'marked 512' if wide else 'as numba emits it':18s} "
                  f"6x4 block: {_describe(got['block'])} | dot products: {_describe(got['dots'])}")


if __name__ == "__main__":
    main(sys.argv[1:])
