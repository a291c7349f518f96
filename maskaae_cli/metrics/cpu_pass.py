"""How an image feature extractor runs on a CPU: fixed-size chunks, one single-threaded stream per
thread, and (for long passes) the network compiled once by torch.compile.

Measured on a 2-core machine with the FID Inception network (docs/performance.md): two streams of
one thread ran the pass 12% faster than two threads sharing every convolution, and one stream keeps
going while another program holds the other core; the compiled network (inductor with frozen,
pre-packed weights) gives the same features within 1e-6 and is about 1.15x faster a chunk, for
16-70 s of compiling once per process.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import torch

Layer = Callable[[torch.Tensor], torch.Tensor]


class CpuPass:
    """Runs ``layer`` (images -> features) over chunks of ``chunk`` images on the CPU.

    ``compiled`` (set by :meth:`compile`) runs the full-size chunks; a last, smaller chunk runs
    eagerly, so the compiled network only ever sees one shape and never recompiles.
    """

    def __init__(self, layer: Layer, chunk: int = 16) -> None:
        self.layer = layer
        self.chunk = chunk
        self.compiled: Layer | None = None
        self.compiled_chunk = 0  # the one chunk size the compiled network takes
        self.compile_error: str | None = None

    def compile(self, module: torch.nn.Module, to_layer: Callable[[Callable[..., object]], Layer],
                sample: torch.Tensor) -> bool:
        """Compile ``module`` for chunks shaped like ``sample``'s first ``chunk`` images; True when it worked.

        ``to_layer`` turns the compiled module into an images -> features function. A machine without a
        C++ compiler (or any other failure) keeps the eager pass and says why in ``compile_error``.
        """
        if self.compiled is not None or self.compile_error is not None:
            return self.compiled is not None
        import torch._inductor.config as inductor

        # "No CUDA runtime is found": a C++ toolchain notice that says nothing about a CPU pass
        logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)

        first = sample[: self.chunk]
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # its kernels run inside single-threaded streams
        try:
            with inductor.patch(freezing=True), warnings.catch_warnings(), torch.no_grad():
                warnings.simplefilter("ignore")
                layer = to_layer(torch.compile(module, dynamic=False))
                layer(first)  # compiles now, on this thread, before any stream calls it
        except Exception as exc:  # no compiler, an unsupported op, ...
            first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
            self.compile_error = f"{type(exc).__name__}: {first_line}"
            return False
        finally:
            torch.set_num_threads(threads)
        self.compiled, self.compiled_chunk = layer, len(first)
        return True

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        chunks = x.split(self.chunk)
        threads = torch.get_num_threads()
        if threads == 1 or len(chunks) == 1 or torch.is_autocast_enabled("cpu"):  # autocast is per thread
            return torch.cat([self._run(c) for c in chunks])
        torch.set_num_threads(1)  # the streams' own ops run single-threaded
        try:
            with ThreadPoolExecutor(min(threads, len(chunks))) as pool:
                return torch.cat(list(pool.map(self._run, chunks)))
        finally:
            torch.set_num_threads(threads)

    def _run(self, chunk: torch.Tensor) -> torch.Tensor:
        # grad mode is per thread: a pool thread would otherwise record every op for autograd
        with torch.no_grad():
            if self.compiled is not None and len(chunk) == self.compiled_chunk:
                return self.compiled(chunk)
            return self.layer(chunk)

