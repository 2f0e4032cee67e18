"""A fast ``exp`` for numba loops, and the fast-math flags every kernel compiles with.

**The flags.** ``fastmath=True`` lets LLVM assume that no value is ever NaN or infinite
(``nnan``, ``ninf``). The kernels do not need that, and it is false the moment training diverges:
a comparison with NaN may then be folded to either answer, and a NaN can come out as a finite
number. So every kernel compiles with :data:`FASTMATH` instead, the liberties that make loops fast
and keep IEEE's NaN and infinity rules: ``reassoc`` (sums may be reordered, which is what lets a
dot product run on SIMD lanes), ``contract`` (fused multiply-add), ``afn`` (approximate library
functions) and ``nsz`` (the sign of a zero may be lost). Not ``arcp`` either: with it LLVM turns
``1 / sqrt(v)`` into a reciprocal-square-root estimate plus a Newton step, which gives NaN for
``v = inf`` where the answer is 0. Elementwise loops, and the elementwise parts of the row
kernels, have no sums to reorder and use :data:`FASTMATH_NO_REASSOC`, so that
``x * (1 - t*t) * k * (1 + c*x*x)`` overflows (or not) exactly where numpy's left-to-right
evaluation does, and ``(x - mean) * rstd`` is not rewritten as ``x*rstd - mean*rstd``. Every kernel also compiles with ``error_model="numpy"``: a division by zero gives
inf or NaN, as in numpy, instead of raising ``ZeroDivisionError`` (which inside a parallel loop
surfaced as ``SystemError``). Measured cost of dropping ``nnan``/``ninf``: see
``docs/chapters/performance.md`` (none that rises above this machine's noise).

**The exp.** Why not ``math.exp``? Inside a numba loop it compiles to a call into the C library,
one element at a time, so the loop around it cannot use SIMD instructions. On this machine that
costs about 3.4 ns per element, while a softmax row needs one ``exp`` per attention score.
Written out as plain arithmetic, the same function vectorises: 16 float32 lanes per instruction.

The idea, in three steps:

1. Split ``x = n * ln(2) + r`` with ``n`` an integer and ``|r| <= ln(2) / 2``. Then
   ``exp(x) = 2**n * exp(r)``.
2. ``exp(r)`` on that short interval is a truncated Taylor series: degree 7 in float32
   (error below ``0.347**8 / 8! ~ 5e-9``, so float32 rounding dominates), degree 12 in float64
   (below ``2e-16``). It is evaluated by Horner's rule, one fused multiply-add per degree.
3. ``2**n`` is built directly from its bits: a float's exponent field holds ``n + 127``
   (float32) or ``n + 1023`` (float64), so we write that integer into the field. ``n`` can reach
   128 (float32) or 1024 (float64), one past the largest exponent, so ``2**n`` is made as
   ``2**h * 2**(n - h)`` with ``h = floor(n / 2)``.

The edges are numpy's: ``exp(NaN)`` is NaN, ``exp(+inf)`` and anything above ``ln(max float)``
(about 88.72 in float32, 709.78 in float64) is inf, ``exp(-inf)`` is 0. Inputs below about -87
(float32) or -708 (float64) return exactly 0, where numpy would give a subnormal number: next to
a softmax row's maximum (whose ``exp`` is 1) such a term is far below rounding anyway.

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
# ln of the largest float: above it exp overflows to inf.
_HIGHEST_32 = np.float32(np.log(np.float64(np.finfo(np.float32).max)))
_HIGHEST_64 = float(np.log(np.finfo(np.float64).max))

# Taylor coefficients 1/k!, highest degree first (Horner order).
_COEF_32 = tuple(np.float32(1.0 / math.factorial(k)) for k in range(7, -1, -1))
_COEF_64 = tuple(1.0 / math.factorial(k) for k in range(12, -1, -1))

#: The fast-math flags of every kernel that sums (matmul, attention, norms): all of LLVM's
#: liberties except ``nnan`` and ``ninf`` (see the module docstring). Pass ``set(FASTMATH)``.
FASTMATH = frozenset({"reassoc", "contract", "afn", "nsz"})

#: Elementwise loops (GELU) and the exp itself: no reassociation either. For the exp, reassociating
#: would merge the two halves of the Cody-Waite split back into one rounded ln(2) and lose about
#: 2 digits near x = -87.
FASTMATH_NO_REASSOC = frozenset({"contract", "afn", "nsz"})


def fast_exp(x):
    """``exp(x)`` to within about 2e-7 (float32) or 1e-15 (float64) relative error.

    NaN gives NaN, +inf (and anything that overflows) inf, -inf 0, as ``np.exp``; below about -87
    (float32) or -708 (float64) the result is 0 instead of a subnormal number.
    This Python body is the readable definition (and what runs under ``NUMBA_DISABLE_JIT=1``);
    compiled code uses the equivalent branch-free version below, which vectorises.
    """
    f32 = isinstance(x, np.float32)
    lowest, highest = (_LOWEST_32, _HIGHEST_32) if f32 else (_LOWEST_64, _HIGHEST_64)
    if x != x:  # NaN
        return x
    if x > highest:
        return type(x)(math.inf)
    if x < lowest:
        return type(x)(0.0)
    n = math.floor(float(x) * _LOG2E_64 + 0.5)  # nearest integer to x / ln(2)
    r = float(x) - n * _LN2_HI_64 - n * _LN2_LO_64  # |r| <= ln(2) / 2
    poly = 0.0
    for c in _COEF_64:
        poly = poly * r + c
    try:
        with np.errstate(over="ignore"):  # at the very top of the range float32 may round to inf
            return type(x)(math.ldexp(poly, n))  # poly * 2**n
    except OverflowError:  # float64 within rounding of the largest float
        return type(x)(math.inf)


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


@overload(fast_exp, jit_options={"fastmath": set(FASTMATH_NO_REASSOC), "error_model": "numpy"})
def _fast_exp_compiled(x):
    # Every select below is a compare and a blend on SIMD lanes, not a branch. NaN fails every
    # comparison, so the clamps turn it into a finite number before the float -> int conversion
    # (which would be undefined for NaN), and the last select puts it back.
    if x == types.float32:
        c7, c6, c5, c4, c3, c2, c1, c0 = _COEF_32
        hi, lo, log2e = _LN2_HI_32, _LN2_LO_32, _LOG2E_32
        lowest, highest = _LOWEST_32, _HIGHEST_32
        zero, half, inf = np.float32(0), np.float32(0.5), np.float32(np.inf)

        def exp32(x):
            xc = x if x > lowest else lowest  # keep n in range even where we return 0 or inf
            xc = xc if xc < highest else highest
            n = np.floor(xc * log2e + half)  # in [-125, 128]
            r = (xc - n * hi) - n * lo
            p = c0 + r * (c1 + r * (c2 + r * (c3 + r * (c4 + r * (c5 + r * (c6 + r * c7))))))
            h = np.floor(n * half)
            y = p * _pow2_f32(h) * _pow2_f32(n - h)  # 2**n in two halves: n may be 128
            y = y if x >= lowest else zero
            y = y if x <= highest else inf
            return y if x == x else x  # NaN stays NaN

        return exp32
    if x == types.float64:
        c = _COEF_64
        hi, lo, log2e, lowest, highest = _LN2_HI_64, _LN2_LO_64, _LOG2E_64, _LOWEST_64, _HIGHEST_64

        def exp64(x):
            xc = x if x > lowest else lowest
            xc = xc if xc < highest else highest
            n = np.floor(xc * log2e + 0.5)  # in [-1021, 1024]
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
            h = np.floor(n * 0.5)
            y = p * _pow2_f64(h) * _pow2_f64(n - h)
            y = y if x >= lowest else 0.0
            y = y if x <= highest else np.inf
            return y if x == x else x

        return exp64
    return None


@njit(cache=True, fastmath=set(FASTMATH_NO_REASSOC), error_model="numpy")
def fast_exp_array(x):
    """Apply :func:`fast_exp` elementwise to a 1-D float32 or float64 array (tests, benchmarks)."""
    out = np.empty_like(x)
    for i in range(x.shape[0]):
        out[i] = fast_exp(x[i])
    return out
