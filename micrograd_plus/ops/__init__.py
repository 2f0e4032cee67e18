"""The operations of :class:`micrograd_plus.Tensor`, one family per file.

Each file holds a *mixin* class whose methods ``Tensor`` inherits (``class Tensor(ArithmeticOps,
ElementwiseOps, ...)`` in :mod:`micrograd_plus._tensor`). Every op is its forward computation and
its local backward rule side by side, finished by ``self._result(y, parents, name, backward)``,
and registered with ``@differentiable`` in the one registry the gradient-check tests read.

* :mod:`~micrograd_plus.ops.arithmetic` -- ``+ - * / **``, comparisons, casts, maximum/minimum
* :mod:`~micrograd_plus.ops.elementwise` -- exp, log, sin, tanh, sigmoid, relu, gelu, clamp, ...
* :mod:`~micrograd_plus.ops.reduce` -- sum, mean, max, var, prod, logsumexp, cumsum, softmax, sort, ...
* :mod:`~micrograd_plus.ops.shape` -- reshape, permute, transpose, expand, repeat, flip, roll, tril, ...
* :mod:`~micrograd_plus.ops.indexing` -- ``t[...]``, masked_fill, gather, scatter_add, split
* :mod:`~micrograd_plus.ops.linalg` -- ``@`` (on the library's matmul kernels)
* :mod:`~micrograd_plus.ops.inplace` -- ``+=``, ``add_``, ``t[i] = v``, ``zero_`` ...: the ops above, written back

These modules import only :mod:`micrograd_plus.autograd` (and the kernels), never the tensor
module, so the imports flow one way: functional -> tensor -> ops -> autograd.
"""

METHODS_AS_FUNCTIONS = (
    "exp", "expm1", "log", "log2", "log10", "log1p", "sqrt", "rsqrt", "square", "reciprocal",
    "sin", "cos", "erf", "tanh", "sigmoid", "relu", "abs", "sign", "floor", "ceil", "round", "trunc",
    "clamp", "clip", "isnan", "isinf", "isfinite", "sum", "mean", "prod", "std", "var", "norm",
    "max", "min", "amax", "amin", "argmax", "argmin", "all", "any", "logsumexp", "cumsum",
    "softmax", "log_softmax", "sort", "topk", "flip", "roll", "tril", "triu", "reshape", "flatten",
    "squeeze", "unsqueeze", "permute", "transpose", "gather", "scatter_add", "index_select",
    "matmul", "split", "chunk", "unbind", "masked_fill", "logical_not", "logical_and", "logical_or",
    "add", "sub", "mul", "div",
)
"""The Tensor methods that PyTorch also spells as functions, ``micrograd_plus.<name>(input, ...)``
(``micrograd_plus.exp(x)`` is ``x.exp()``): :mod:`micrograd_plus._methods_as_functions` makes them,
and the front door offers them. Only names: this package's ``__init__`` imports nothing."""
