"""A fast ``exp`` for numba loops: range reduction by powers of two plus a short polynomial.

Why not ``math.exp``? Inside a numba loop it compiles to a call into the C library, one element
at a time, so the loop around it cannot use SIMD instructions. On this machine that costs about
3.4 ns per element, while a softmax row needs one ``exp`` per attention score. Written out as
plain arithmetic, the same function vectorises: 16 float32 lanes per instruction.

The idea, in three steps, for ``x <= 0`` (softmax only ever needs that, after subtracting the max):

1. Split ``x = n * ln(2) + r`` with ``n`` an integer and ``|r| <= ln(2) / 2``. Then
   ``exp(x) = 2**n * exp(r)``.
2. ``exp(r)`` on that short interval is a truncated Taylor series: degree 7 in float32
   (error below ``0.347**8 / 8! ~ 5e-9``, so float32 rounding dominates), degree 12 in float64
   (below ``2e-16``). It is evaluated by Horner's rule, one fused multiply-add per degree.
3. ``2**n`` is built directly from its bits: a float's exponent field holds ``n + 127``
   (float32) or ``n + 1023`` (float64), so we write that integer into the field.

Inputs below about -87 (float32) or -708 (float64) return exactly 0: there ``2**n`` would no longer
be a normal float, and next to the row maximum (whose ``exp`` is 1) such a term is far below
rounding anyway.

:func:`fast_exp` is written as ordinary Python (it runs as such under ``NUMBA_DISABLE_JIT=1``);
numba compiles the branch-free version registered with ``@overload`` below.
"""

import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic, overload

# Cody-Waite split of ln(2): the high part has trailing zero bits, so n * LN2_HI is exact.
_LN2_HI_32, _LN2_LO_32 = np.float32(0.693359375), np.float32(-2.12194440e-4)
_LN2_HI_64, _LN2_LO_64 = 6.93147180369123816490e-01, 1.90821492927058770002e-10
_LOG2E_32, _LOG2E_64 = np.float32(1.4426950408889634), 1.4426950408889634
_LOWEST_32, _LOWEST_64 = np.float32(-87.0), -708.0  # 2**n stays a normal float above these

# Taylor coefficients 1/k!, highest degree first (Horner order).
_COEF_32 = tuple(np.float32(1.0 / math.factorial(k)) for k in range(7, -1, -1))
_COEF_64 = tuple(1.0 / math.factorial(k) for k in range(12, -1, -1))

# Every fast-math liberty except reassociation: reassociating would merge the two halves of the
# Cody-Waite split back into one rounded ln(2) and lose about 2 digits near x = -87.
_FASTMATH_NO_REASSOC = {"nnan", "ninf", "nsz", "arcp", "contract", "afn"}


def fast_exp(x):
    """``exp(x)`` for ``x <= 0`` to within about 2e-7 (float32) or 1e-15 (float64) relative error.

    This Python body is the readable definition (and what runs under ``NUMBA_DISABLE_JIT=1``);
    compiled code uses the equivalent branch-free version below, which vectorises.
    """
    lowest = _LOWEST_32 if isinstance(x, np.float32) else _LOWEST_64
    if x < lowest:
        return type(x)(0.0)
    n = math.floor(float(x) * _LOG2E_64 + 0.5)  # nearest integer to x / ln(2)
    r = float(x) - n * _LN2_HI_64 - n * _LN2_LO_64  # |r| <= ln(2) / 2
    poly = 0.0
    for c in _COEF_64:
        poly = poly * r + c
    return type(x)(math.ldexp(poly, n))  # poly * 2**n


@intrinsic
def _pow2_f32(typingctx, n):
    """2**n for a float32 holding an integer in [-126, 127], made from the exponent bits."""
    if n != types.float32:
        return None

    def codegen(context, builder, signature, args):
        i32 = ir.IntType(32)
        bits = builder.add(builder.fptosi(args[0], i32), ir.Constant(i32, 127))
        bits = builder.shl(bits, ir.Constant(i32, 23))
        return builder.bitcast(bits, ir.FloatType())

    return types.float32(types.float32), codegen


@intrinsic
def _pow2_f64(typingctx, n):
    """2**n for a float64 holding an integer in [-1022, 1023], made from the exponent bits."""
    if n != types.float64:
        return None

    def codegen(context, builder, signature, args):
        i64 = ir.IntType(64)
        bits = builder.add(builder.fptosi(args[0], i64), ir.Constant(i64, 1023))
        bits = builder.shl(bits, ir.Constant(i64, 52))
        return builder.bitcast(bits, ir.DoubleType())

    return types.float64(types.float64), codegen


@overload(fast_exp, jit_options={"fastmath": _FASTMATH_NO_REASSOC})
def _fast_exp_compiled(x):
    if x == types.float32:
        c7, c6, c5, c4, c3, c2, c1, c0 = _COEF_32
        hi, lo, log2e, lowest, zero = _LN2_HI_32, _LN2_LO_32, _LOG2E_32, _LOWEST_32, np.float32(0)
        half = np.float32(0.5)

        def exp32(x):
            xc = max(x, lowest)  # keep the integer part in range even where we return 0
            n = np.floor(xc * log2e + half)
            r = (xc - n * hi) - n * lo
            p = c0 + r * (c1 + r * (c2 + r * (c3 + r * (c4 + r * (c5 + r * (c6 + r * c7))))))
            y = p * _pow2_f32(n)
            return y if x >= lowest else zero

        return exp32
    if x == types.float64:
        c = _COEF_64
        hi, lo, log2e, lowest = _LN2_HI_64, _LN2_LO_64, _LOG2E_64, _LOWEST_64

        def exp64(x):
            xc = max(x, lowest)
            n = np.floor(xc * log2e + 0.5)
            r = (xc - n * hi) - n * lo
            p = c[0]
            p = p * r + c[1]
            p = p * r + c[2]
            p = p * r + c[3]
            p = p * r + c[4]
            p = p * r + c[5]
            p = p * r + c[6]
            p = p * r + c[7]
            p = p * r + c[8]
            p = p * r + c[9]
            p = p * r + c[10]
            p = p * r + c[11]
            p = p * r + c[12]
            y = p * _pow2_f64(n)
            return y if x >= lowest else 0.0

        return exp64
    return None


@njit(cache=True, fastmath=True)
def fast_exp_array(x):
    """Apply :func:`fast_exp` elementwise to a 1-D float32 or float64 array (tests, benchmarks)."""
    out = np.empty_like(x)
    for i in range(x.shape[0]):
        out[i] = fast_exp(x[i])
    return out
