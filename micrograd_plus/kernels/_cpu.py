"""What CPU the kernels are compiled for: its name, its vector instruction set, its register count.

numba compiles for the machine it runs on, through LLVM, and LLVM reports that machine's CPU
name (``znver4``, ``skylake``, ``apple-m1``, ...) and features (``+avx2``, ``+avx512f``, ...).
The register count decides how big a block of C a matrix-multiply micro-kernel can keep in
registers: x86 with AVX2 has 16 vector registers, AVX-512 and arm64's NEON have 32.
"""

import platform
from functools import lru_cache


@lru_cache(maxsize=None)
def host_cpu():
    """``(name, isa, vector_registers)`` of the CPU numba compiles for, e.g.
    ``("znver4", "AVX-512", 32)`` or ``("haswell", "AVX2", 16)``.

    Honours ``NUMBA_CPU_NAME``/``NUMBA_CPU_FEATURES`` when set (numba then compiles for that CPU).
    """
    name, features = _name_and_features()
    machine = platform.machine().lower()
    if machine in ("arm64", "aarch64") or features.get("neon"):
        return name, "NEON", 32
    if features.get("avx512f"):
        return name, "AVX-512", 32
    if features.get("avx2"):
        return name, "AVX2", 16
    if features.get("avx"):
        return name, "AVX", 16
    return name, "SSE2" if machine in ("x86_64", "amd64") else machine or "unknown", 16


# ---------------------------------------------------------------------------------------------
# Which matmul variant a CPU gets: a pure function of LLVM's name for it and its features.
# ---------------------------------------------------------------------------------------------
#
# Three variants (their parameters: micrograd_plus/kernels/_microkernel.py's VARIANTS):
#   "zen4"  6 rows x 4 vectors (24 accumulators), B read in place when its panels are wide, K in
#           slices of 512. Tuned on AMD Zen 4, which executes a 512-bit FMA as two 256-bit
#           halves: one zmm FMA a cycle (about 116 GFLOP/s float32 a core, measured). Also every
#           other CPU with 32 vector registers not listed below (Zen 5, arm64's NEON, unknown).
#   "avx2"  6 rows x 2 ymm vectors (12 accumulators): CPUs with 16 vector registers.
#   "intel" Intel cores with AVX-512 (Skylake-SP to Granite Rapids): the same 6 x 4 register
#           block; B always packed (products of 512 rows or more) into 64-byte-aligned panels;
#           functions marked as wanting 512-bit vectors.
#
# Why Intel needs its own. Their server cores have two 512-bit FMA ports: 2 zmm FMAs a cycle,
# twice Zen 4's rate, so the same loop must be fed twice as fast. A Xeon (LLVM: `rocketlake`) ran
# our 1024^2 product at 84 GFLOP/s on one thread against OpenBLAS's 168 (0.50x, issue 26).
# Counted in the assembly, compiled on Zen 4 with NUMBA_CPU_NAME=skylake-avx512, rocketlake or
# sapphirerapids (tests/kernels/test_cpu_variants.py recounts it):
#   - The inner loop of the 6x4 micro-kernel is 24 zmm FMAs, 4 zmm loads of B and 6 broadcasts
#     of A (10 loads for 24 FMAs: 5 cycles of 2 load ports against 12 of FMA), 24 independent
#     accumulators (FMA latency 4 x 2 ports = 8 needed), no spill. So the register block was
#     NOT split into 256-bit halves. The "72 zmm + 46 ymm FMAs" are the whole `_tile`
#     (reproduced exactly): 72 in the 64-byte variants' loops, 46 in the AVX2 variant compiled
#     for the tests (30) and in the edge columns' dot products (16), which LLVM's loop vectoriser
#     makes 256-bit on Intel because these CPUs' tuning carries `prefer-256-bit`.
#   - It would be split if the function said `"min-legal-vector-width"="256"` (clang emits that
#     attribute; numba emits none, and LLVM then keeps 512-bit types legal): tried, the 6x4 loop
#     became 48 ymm FMAs with 62 stack references (48 accumulators do not fit 32 registers), half
#     the rate. The Intel variant states 512 on the functions that matter (_microkernel._mark_wide),
#     so that no toolchain can do it silently, and the dot products get zmm (16 zmm FMAs).
#   - What differs is memory. At 2 FMAs a cycle a step's 24 FMAs take 12 cycles and read 256
#     bytes of B: 21 bytes a cycle. Read in place, a (1024, 1024) B has its rows 4 KB apart: every
#     step starts a new page, lands in the same few L1 sets and is followed by no prefetcher; and
#     numpy places large arrays 16 bytes past a page boundary (measured here), so every 64-byte
#     load of B straddles two cache lines, which Intel's load ports pay twice. Zen 4, at half the
#     rate (10.7 bytes a cycle), was measured not to care. Packed, B's panel is one aligned
#     sequential stream. (Packing costs nothing measurable on Zen 4: 1024^2, one thread, 101
#     GFLOP/s packed and in place.)
#   - Not done: slicing K to keep a panel in L1 (kc 64-128) cost 12-20% on Zen 4 (each
#     micro-kernel call then starts 6 rows of A and a C block no prefetcher has seen; BLAS
#     libraries pack A as well). K keeps Zen 4's slices of 512, so the panel streams from L2.
# This is built from counts and the compiled code: the Intel variant's speed ON INTEL IS
# UNMEASURED (no Intel machine was at hand when it was built).

#: LLVM's names for Intel cores with AVX-512 (server parts have two 512-bit FMA ports; client
#: parts one, where the variant is still right: aligned sequential B is never slower).
INTEL_AVX512_CPUS = frozenset({
    "skylake-avx512", "cascadelake", "cooperlake", "cannonlake", "icelake-client",
    "icelake-server", "tigerlake", "rocketlake", "sapphirerapids", "emeraldrapids",
    "graniterapids", "graniterapids-d", "diamondrapids",
})
#: Features only Intel's AVX-512 cores have so far: they identify one under a name LLVM does not
#: know (a newer core, or a hypervisor's generic model).
_INTEL_ONLY_FEATURES = ("amx-tile", "avx512fp16")


def choose_variant(name, features):
    """The matmul variant for a CPU: ``"intel"``, ``"zen4"`` or ``"avx2"``.

    ``name`` is LLVM's name for the CPU (``"rocketlake"``, ``"znver4"``, ``"haswell"``...),
    ``features`` LLVM's feature map (``{"avx512f": True, ...}``, as
    ``llvmlite.binding.get_host_cpu_features()`` gives it). A pure function: no hardware needed,
    so tests can ask it about any CPU. Why each CPU gets its variant: the comment above.
    """
    if _registers(name, features) == 16:
        return "avx2"
    if features.get("avx512f") and (name in INTEL_AVX512_CPUS or (
            not name.startswith("znver") and any(features.get(f) for f in _INTEL_ONLY_FEATURES))):
        return "intel"
    return "zen4"


def _registers(name, features):
    """Vector registers of a CPU from its LLVM name and features: 32 (AVX-512, NEON) or 16."""
    if name.startswith(("apple-", "cortex-", "neoverse-")) or features.get("neon"):
        return 32
    return 32 if features.get("avx512f") else 16


def host_variant():
    """:func:`choose_variant` for the CPU numba compiles for (``NUMBA_CPU_NAME`` honoured)."""
    name, features = _name_and_features()
    if platform.machine().lower() in ("arm64", "aarch64"):
        return "zen4"  # the 32-register blocking; Intel's names cannot occur
    return choose_variant(name, features)


def has_fma():
    """Whether the CPU has fused multiply-add instructions (every AVX2 x86 and every arm64 does;
    older x86 CPUs do not, and there LLVM would turn ``llvm.fma`` into a slow library call)."""
    machine = platform.machine().lower()
    return machine in ("arm64", "aarch64") or bool(_name_and_features()[1].get("fma"))


@lru_cache(maxsize=None)
def _name_and_features():
    """LLVM's name for the host CPU and its features, ``{"avx2": True, ...}``."""
    # deferred: importing this module (e.g. for `describe` in the bench's header) stays free of numba
    import llvmlite.binding as llvm
    from numba.core import config

    name = config.CPU_NAME or llvm.get_host_cpu_name()
    if config.CPU_FEATURES:
        features = {f[1:]: f[0] == "+" for f in config.CPU_FEATURES.split(",") if f}
    else:
        features = dict(llvm.get_host_cpu_features())
    return name, features


def emulated():
    """The real host CPU's LLVM name when numba is told to compile for another one
    (``NUMBA_CPU_NAME``, as ``micrograd_plus/bench/emulate_avx2.sh`` does), else None: figures
    taken then are an emulation on this host, not measurements of that CPU."""
    import llvmlite.binding as llvm  # deferred, as in _name_and_features
    from numba.core import config

    host = llvm.get_host_cpu_name()
    return host if config.CPU_NAME and config.CPU_NAME != host else None


def describe():
    """One line, e.g. ``CPU znver4 (AMD EPYC 9R14), AVX-512, 32 vector registers``."""
    name, isa, registers = host_cpu()
    model = _model_name()
    line = f"CPU {name}{f' ({model})' if model else ''}, {isa}, {registers} vector registers"
    host = emulated()
    if host:
        line += f" -- EMULATED on a {host} (NUMBA_CPU_NAME={name}): not a real {name} machine"
    return line


def _model_name():
    """The marketing name from /proc/cpuinfo (Linux) or platform.processor(); '' if unknown."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or ""
