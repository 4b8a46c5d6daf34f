"""Thread count for the PyTorch peers: torch.set_num_threads sets OpenMP's threads, but Debian's
PyTorch calls a system BLAS (OpenBLAS) that starts its own pool of one thread per core and
spins it between calls, against the OpenMP threads. A peer run with --threads N should use N
cores, so the BLAS pool is set to N as well where the BLAS is OpenBLAS.

    import cpu_threads
    cpu_threads.use(2)
"""
import ctypes

import torch


def use(threads):
    torch.set_num_threads(threads)
    try:
        blas = ctypes.CDLL("libblas.so.3")  # the library torch already loaded, not a second copy
    except OSError:
        return
    if hasattr(blas, "openblas_set_num_threads"):
        blas.openblas_set_num_threads(threads)
