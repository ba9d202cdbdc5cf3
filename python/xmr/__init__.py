"""xmr: exact cross-modal (image-text) retrieval on the GPU and the CPU.

Dense k-NN (cosine / inner product; cuBLAS or OpenBLAS), Hamming search over binary codes,
multi-vector (late-interaction) search, binarisers (sign, LSH, ITQ, cross-modal ITQ), collections
with the multi-stage pipeline (shortlist -> exact re-score -> your re-rank scorer -> fusion), the
cross-modal index (image->text and text->image) and the retrieval metrics (mAP, Recall@K,
precision@K, NDCG@K, PR curves).

Arrays: NumPy in and out, zero-copy when the rows are contiguous (float32 / float16 / uint8 /
int64); CUDA arrays (PyTorch, CuPy: __cuda_array_interface__ or DLPack) are searched in place on
their GPU. The GIL is released while xmr works. See docs/python.md.
"""

from ._xmr import (  # noqa: F401
    Binarizer,
    BinaryIndex,
    CallbackError,
    Collection,
    CorruptDataError,
    CrossModalBinarizer,
    CrossModalIndex,
    DenseIndex,
    Device,
    DeviceError,
    Direction,
    DType,
    Error,
    IndexExtras,
    InternalError,
    InvalidArgumentError,
    IoError,
    Metric,
    MultiVectorIndex,
    OutOfMemoryError,
    PairBatch,
    PipelineResult,
    RangeSearchResult,
    Reduce,
    Resources,
    UnavailableError,
    __version__,
    built_with_cuda,
    device_summary,
    gpu_count,
    hamming_cpu_kernel,
    map_dense,
    map_hamming,
    ndcg_at_k,
    neighbor_recall_at_k,
    pack_bits,
    pr_curve_hamming,
    precision_at_k,
    read_index_info,
    recall_at_k,
    retrieve,
    synthetic_cross_modal,
    train_cross_modal_itq,
    unpack_bits,
)

__all__ = [name for name in dir() if not name.startswith("_")] + ["__version__"]
