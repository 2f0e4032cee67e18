"""Benchmarks: our kernels and training loops against numpy's BLAS and (if installed) PyTorch."""
