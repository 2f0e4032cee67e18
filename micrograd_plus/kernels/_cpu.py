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
