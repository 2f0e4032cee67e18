"""The matrix-multiply micro-kernel: a 6-row block of C kept in vector registers.

Every fast matrix multiply, in BLAS libraries as here, spends its time in one small loop. It
holds a block of C, ``MR`` rows by ``NR`` columns, in the CPU's vector registers, and for each
step ``k`` of the sum it does an *outer product*::

    b = B[k, j : j + NR]                      # NR numbers: one or more vector loads
    for r in range(MR):
        a = A[i + r, k]                       # one number, copied into every lane ("broadcast")
        acc[r, :] += a * b                    # NR/lanes fused multiply-adds

So a step loads NR/lanes vectors and one number per row, and does MR * NR/lanes multiply-adds:
with MR = 6 and four 16-float vectors (AVX-512), 24 multiply-adds per 4 loads, and the 24
accumulators never leave registers until the loop ends. No sum across vector lanes is ever
needed, so short sums (K = 65) cost no more per step than long ones.

:func:`microkernel_reference` below is that loop in plain Python: it is the definition, it is what
runs under ``NUMBA_DISABLE_JIT=1``, and the tests hold the compiled kernel equal to it.

Why not write the loop in Python and let numba compile it? We tried, and measured:
LLVM vectorises a loop over K (a dot product), not this one, because it cannot know
that 24 accumulators may stay in registers across iterations -- numba's arrays may alias each
other, and 96 scalar variables are not recognised as 24 vectors. The dot-product kernel this
replaced reached 0.5-0.8x BLAS; this one reaches the FMA units' peak (about 116 GFLOP/s a core on
Zen 4, measured). So the loop is written once more, in LLVM's own language, through numba's
``@intrinsic``: :func:`microkernel` emits, for each vector width and block width the CPU can use,
exactly the loop above, with vectors as LLVM vector types (``<16 x float>``) and
``llvm.fma`` for the multiply-add. IEEE rules are kept (no fast-math flags), so NaN and inf
propagate as in numpy.

numba's on-disk cache keys compiled code to the file that calls this (``matmul.py``), not to
this file: after editing the code generation here, touch ``matmul.py`` (or delete its
``__pycache__``) so that the kernels are compiled again.

Addressing, in elements (all arrays are used through their data pointer)::

    A[i + r, k0 + k] = a[a_off + r * a_rs + k * a_ks]     (either layout of A, no copy)
    B[k0 + k, j + q] = b[b_off + k * b_ks + q]            (q < nv * lanes, contiguous)
    C[i + r, j + q]  = c[c_off + r * c_rs + q]
"""

from typing import NamedTuple

import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils, config
from numba.extending import intrinsic

MR = 6  # rows of C per block: 6 x (up to 4 vectors) = 24 accumulators, + 4 loads + 1 broadcast


class Variant(NamedTuple):
    """A register and cache blocking of the matrix multiply, tuned for one kind of CPU.

    Which CPU gets which, and why: :func:`micrograd_plus.kernels._cpu.choose_variant`.
    """

    name: str
    nv: int  # vectors per block row: the block is MR rows x nv vectors (the CPU's widest, at most
    max_vector_bytes: int  # this wide: 32 keeps AVX2's ymm even on an AVX-512 CPU)
    kc: int  # K is summed in slices of kc
    pack_wide: bool  # pack B into aligned panels even when its panels are wider than a cache line
    tuned_for: str  # what the bench prints


#: The variants by name. The "zen4" and "avx2" figures were measured (bench/machines); the Intel
#: one is built from counts (see _cpu.py) and its speed on Intel is unmeasured.
VARIANTS = {
    "zen4": Variant("zen4", 4, 64, 512, False, "AMD Zen 4 (znver4), measured"),
    "avx2": Variant("avx2", 2, 32, 512, False, "AVX2, 16 vector registers (measured on Zen 4 and an AVX2 EPYC)"),
    "intel": Variant("intel", 4, 64, 512, True, "Intel AVX-512 (Skylake-SP..Granite Rapids), speed on Intel unmeasured"),
}


def microkernel_reference(vbytes, nv, a, a_off, a_rs, a_ks, b, b_off, b_ks, c, c_off, c_rs, kc, accumulate):
    """``C_block (MR, nv*lanes) (+)= A_block (MR, kc) @ B_block (kc, nv*lanes)``, in plain Python.

    ``a``, ``b`` and ``c`` are any arrays, read and written as flat memory with the offsets and
    strides above (in elements); ``lanes = vbytes // itemsize``. With ``accumulate`` the block is
    added to what C holds; without it C's old contents are ignored (C may be uninitialised).
    """
    lanes = vbytes // c.itemsize
    nr = nv * lanes
    a, b, c = a.reshape(-1), b.reshape(-1), c.reshape(-1)  # flat views of the same memory
    acc = np.zeros((MR, nr), dtype=c.dtype)  # (MR, NR): the registers
    for k in range(kc):
        row_b = b[b_off + k * b_ks : b_off + k * b_ks + nr]  # (NR,)
        for r in range(MR):
            acc[r] += a[a_off + r * a_rs + k * a_ks] * row_b
    for r in range(MR):
        out = c[c_off + r * c_rs : c_off + r * c_rs + nr]  # (NR,) view into C
        out[:] = out + acc[r] if accumulate else acc[r]


def variants(vector_bytes):
    """The (vector bytes, vectors per row) pairs compiled on a CPU whose widest vectors have
    ``vector_bytes``: its own width with 1-4 vectors, and 32-byte vectors with 1-2 (the blocking
    for 16-register CPUs, so the tests can run that path on a 32-register machine too)."""
    out = [(vector_bytes, nv) for nv in range(1, 5)]
    if vector_bytes > 32:
        out += [(32, 1), (32, 2)]
    return out


def make_microkernel(vector_bytes, fma=True, wide=False):
    """Build the compiled micro-kernel for a CPU whose widest vectors have ``vector_bytes``.

    With ``fma`` the multiply-adds are fused (``llvm.fma``: one rounding, one instruction);
    without it (x86 CPUs older than AVX2, where ``llvm.fma`` would become a library call per
    element) they are a multiply then an add. With ``wide`` the function that calls it is marked
    as using 512-bit vectors (:func:`_mark_wide`: on Intel's AVX-512 cores).

    Returns a function with :func:`microkernel_reference`'s arguments, callable from numba code.
    ``vbytes`` and ``nv`` choose among :func:`variants`; any other pair does nothing, so callers
    must pass one of them (``matmul`` does).
    """
    if config.DISABLE_JIT:
        return microkernel_reference
    compiled = tuple(variants(vector_bytes))

    @intrinsic
    def microkernel(typingctx, vbytes, nv, a, a_off, a_rs, a_ks, b, b_off, b_ks, c, c_off, c_rs, kc, accumulate):
        sig = types.void(vbytes, nv, a, a_off, a_rs, a_ks, b, b_off, b_ks, c, c_off, c_rs, kc, accumulate)

        def codegen(context, builder, signature, args):
            def as_intp(i):  # argument i as a machine-size integer
                return context.cast(builder, args[i], signature.args[i], types.intp)

            def pointer(i, offset):  # the address of element `offset` of array argument i
                data = context.make_array(signature.args[i])(context, builder, args[i]).data
                return builder.gep(data, [offset])

            intp = context.get_value_type(types.intp)
            ct = signature.args[9]  # C's array type
            fty = context.get_value_type(ct.dtype)
            a_rs, a_ks, b_ks, c_rs, kc = (as_intp(i) for i in (4, 5, 8, 11, 12))
            a_p, b_p, c_p = pointer(2, as_intp(3)), pointer(6, as_intp(7)), pointer(9, as_intp(10))
            accumulate = context.cast(builder, args[13], signature.args[13], types.boolean)
            key = builder.add(builder.mul(as_intp(0), _const(intp, 8)), as_intp(1))  # vbytes * 8 + nv
            done = builder.append_basic_block("mk.done")
            switch = builder.switch(key, done)
            for vb, nv in compiled:
                lanes = vb * 8 // ct.dtype.bitwidth
                block = builder.append_basic_block(f"mk.{vb}x{nv}")
                switch.add_case(_const(intp, vb * 8 + nv), block)
                builder.position_at_end(block)
                _emit_loop(builder, fty, intp, lanes, nv, a_p, a_rs, a_ks, b_p, b_ks, c_p, c_rs, kc, accumulate, fma)
                builder.branch(done)
            builder.position_at_end(done)
            if wide:
                _mark_wide(builder.function)
            return context.get_dummy_value()

        return sig, codegen

    return microkernel


def make_wide_marker(wide):
    """``prefer_wide_vectors()``, called first thing in a numba function on the hot path, marks
    that function as :func:`_mark_wide` says when ``wide`` is true; otherwise it does nothing.

    For the loops LLVM vectorises itself (the edge columns' dot products): on Intel's AVX-512
    cores it would otherwise choose 256-bit vectors (16 ymm FMAs there, 16 zmm with the mark).
    """
    if config.DISABLE_JIT:
        return lambda: None

    @intrinsic
    def prefer_wide_vectors(typingctx):
        def codegen(context, builder, signature, args):
            if wide:
                _mark_wide(builder.function)
            return context.get_dummy_value()

        return types.void(), codegen

    return prefer_wide_vectors


def _mark_wide(function):
    """Tell LLVM that ``function`` (an ``llvmlite.ir.Function``) wants 512-bit vectors.

    Intel's AVX-512 cores carry the tuning ``prefer-256-bit``. Under it, LLVM's loop vectoriser
    picks 256-bit vectors, and a function with ``"min-legal-vector-width"`` below 512 has its
    512-bit IR vectors split in two (the 6x4 block: 48 ymm FMAs and spills, counted).
    ``"prefer-vector-width"="512"`` and ``"min-legal-vector-width"="512"`` say otherwise, for
    this function only. (llvmlite checks attribute names against a list without these
    key-value ones, hence ``set.add``.)
    """
    for attribute in ('"min-legal-vector-width"="512"', '"prefer-vector-width"="512"'):
        set.add(function.attributes, attribute)


def _const(intp, value):
    """An LLVM integer constant of type ``intp``."""
    return ir.Constant(intp, value)


def _emit_loop(builder, fty, intp, lanes, nv, a_p, a_rs, a_ks, b_p, b_ks, c_p, c_rs, kc, accumulate, fused):
    """Emit :func:`microkernel_reference`'s loop for one (lanes, nv) pair at the builder's position."""
    vty = ir.VectorType(fty, lanes)
    bits = 32 if isinstance(fty, ir.FloatType) else 64
    llvm_fma = cgutils.get_or_insert_function(builder.module, ir.FunctionType(vty, [vty] * 3), f"llvm.fma.v{lanes}f{bits}")

    def fma(x, y, z):  # x * y + z
        return builder.call(llvm_fma, [x, y, z]) if fused else builder.fadd(builder.fmul(x, y), z)

    zero = ir.Constant(vty, [ir.Constant(fty, 0.0)] * lanes)
    splat = ir.Constant(ir.VectorType(ir.IntType(32), lanes), [0] * lanes)
    i32_0 = ir.Constant(ir.IntType(32), 0)
    entry = builder.block
    loop = builder.append_basic_block("mk.loop")
    store = builder.append_basic_block("mk.store")
    builder.cbranch(builder.icmp_signed(">", kc, _const(intp, 0)), loop, store)

    builder.position_at_end(loop)  # for k in range(kc):
    k = builder.phi(intp)
    acc = [[builder.phi(vty) for _ in range(nv)] for _ in range(MR)]  # (MR, nv) vectors
    b_row = builder.gep(b_p, [builder.mul(k, b_ks)])
    b_vec = [builder.load(builder.bitcast(builder.gep(b_row, [_const(intp, v * lanes)]), vty.as_pointer()), align=1)
             for v in range(nv)]
    a_col = builder.gep(a_p, [builder.mul(k, a_ks)])
    new = []
    for r in range(MR):
        a = builder.load(builder.gep(a_col, [builder.mul(_const(intp, r), a_rs)]))
        a_vec = builder.shuffle_vector(builder.insert_element(ir.Constant(vty, ir.Undefined), a, i32_0),
                                       ir.Constant(vty, ir.Undefined), splat)  # broadcast
        new.append([fma(a_vec, b_vec[v], acc[r][v]) for v in range(nv)])
    k_next = builder.add(k, _const(intp, 1))
    k.add_incoming(_const(intp, 0), entry)
    k.add_incoming(k_next, loop)
    for r in range(MR):
        for v in range(nv):
            acc[r][v].add_incoming(zero, entry)
            acc[r][v].add_incoming(new[r][v], loop)
    builder.cbranch(builder.icmp_signed("<", k_next, kc), loop, store)

    builder.position_at_end(store)  # C block (+)= acc
    totals = []  # the sums, whether the loop ran or not (phi nodes come first in a block)
    for r in range(MR):
        totals.append([])
        for v in range(nv):
            total = builder.phi(vty)
            total.add_incoming(zero, entry)
            total.add_incoming(new[r][v], loop)
            totals[r].append(total)
    for r in range(MR):
        c_row = builder.gep(c_p, [builder.mul(_const(intp, r), c_rs)])
        for v in range(nv):
            c_ptr = builder.bitcast(builder.gep(c_row, [_const(intp, v * lanes)]), vty.as_pointer())
            old = builder.load(c_ptr, align=1)
            builder.store(builder.select(accumulate, builder.fadd(old, totals[r][v]), totals[r][v]), c_ptr, align=1)
