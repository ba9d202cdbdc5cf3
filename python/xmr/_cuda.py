"""CUDA interop used by the extension module: which device and stream a CUDA array belongs to, and
allocation of result arrays on that device by the array's own library (PyTorch or CuPy).

Nothing here imports PyTorch or CuPy unless an array of theirs is passed in.
"""

from __future__ import annotations

from typing import Any

# cudaStreamLegacy: the legacy default stream, which the CUDA Array Interface and DLPack both
# call stream 1.
_LEGACY_STREAM = 1


def _library(obj: Any) -> str:
    return type(obj).__module__.split(".", 1)[0]


def device_of(obj: Any) -> int:
    """CUDA ordinal of the device holding `obj`'s memory."""
    dlpack_device = getattr(obj, "__dlpack_device__", None)
    if dlpack_device is not None:
        try:
            _, ordinal = dlpack_device()
            return int(ordinal)
        except Exception:  # noqa: BLE001 - fall back to the attributes below
            pass
    device = getattr(obj, "device", None)
    for attr in ("index", "id"):
        value = getattr(device, attr, None)
        if isinstance(value, int):
            return value
    return 0


def stream_of(obj: Any, interface: dict) -> int:
    """The stream xmr must order its work on to see `obj`'s data: the producer's current stream.

    0 means "no ordering needed" (xmr then uses a stream of its own); 1 is the legacy default
    stream; anything else is a cudaStream_t handle.
    """
    library = _library(obj)
    if library == "torch":
        import torch

        stream = torch.cuda.current_stream(obj.device).cuda_stream
        return int(stream) if stream else _LEGACY_STREAM
    if library == "cupy":
        import cupy

        with cupy.cuda.Device(obj.device.id):
            stream = cupy.cuda.get_current_stream().ptr
        return int(stream) if stream else _LEGACY_STREAM
    if interface.get("version", 0) >= 3 and "stream" in interface:
        stream = interface["stream"]
        return 0 if stream is None else int(stream)
    return _LEGACY_STREAM


def empty_like(obj: Any, rows: int, cols: int, dtype: str) -> Any:
    """A [rows x cols] array of `dtype` on `obj`'s device, made by `obj`'s library (PyTorch or
    CuPy; for other producers whichever of the two is installed)."""
    library = _library(obj)
    ordinal = device_of(obj)
    candidates = [library] if library in ("torch", "cupy") else ["torch", "cupy"]
    for name in candidates:
        try:
            if name == "torch":
                import torch

                return torch.empty((rows, cols), dtype=getattr(torch, dtype), device=f"cuda:{ordinal}")
            import cupy

            with cupy.cuda.Device(ordinal):
                return cupy.empty((rows, cols), dtype=dtype)
        except ImportError:
            continue
    raise TypeError(
        f"results of a search on device memory are returned on the device as PyTorch or CuPy arrays, "
        f"and neither is installed (the queries came from {type(obj).__module__}.{type(obj).__name__})"
    )
