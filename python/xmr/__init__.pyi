"""Type stubs of the xmr package (the extension module xmr._xmr, re-exported by xmr)."""

import enum
import os
from collections.abc import Callable, Sequence
from typing import Any, Literal, overload

import numpy as np
import numpy.typing as npt

__version__: str

# ---- arrays and options ----------------------------------------------------------------------

#: A 2-D array: a NumPy array (zero copy when its rows are contiguous), anything numpy.asarray
#: accepts, or, where noted, a CUDA array (PyTorch / CuPy tensor: __cuda_array_interface__ or
#: DLPack) used in place on its GPU.
ArrayLike = npt.ArrayLike | Any
IdsLike = Sequence[int] | npt.NDArray[np.integer]
PathLike = str | os.PathLike[str]
MetricLike = Literal["cosine", "ip", "inner_product", "dot"] | Metric
DeviceLike = Literal["auto", "cpu", "gpu", "cuda"] | Device
DTypeLike = Literal["float32", "float16", "fp32", "fp16", "half"] | DType | type | np.dtype[Any]
ReduceLike = Literal["maxsim", "max_sim", "sum_max_sim", "colbert"] | Reduce
DirectionLike = Literal["i2t", "image_to_text", "t2i", "text_to_image"] | Direction

# ---- errors ------------------------------------------------------------------------------------

class Error(Exception):
    """Every error xmr reports; `code` names the xmr::ErrorCode."""

    code: str | None

class InvalidArgumentError(Error, ValueError): ...
class OutOfMemoryError(Error, MemoryError): ...
class IoError(Error, OSError): ...
class CorruptDataError(Error, ValueError): ...
class DeviceError(Error, RuntimeError): ...
class UnavailableError(Error, RuntimeError): ...
class InternalError(Error, RuntimeError): ...
class CallbackError(Error, RuntimeError): ...

# ---- enums -------------------------------------------------------------------------------------

class Metric(enum.Enum):
    INNER_PRODUCT = 0
    COSINE = 1

class Device(enum.Enum):
    AUTO = 0
    CPU = 1
    GPU = 2

class DType(enum.Enum):
    FLOAT32 = 0
    FLOAT16 = 1

class Reduce(enum.Enum):
    MAX_SIM = 0
    SUM_MAX_SIM = 1

class Direction(enum.Enum):
    IMAGE_TO_TEXT = 0
    TEXT_TO_IMAGE = 1

# ---- devices -----------------------------------------------------------------------------------

class Resources:
    """CUDA device, stream (owned, or borrowed: an int handle) and scratch budget of searches."""

    def __init__(self, device_id: int = 0, stream: int = 0) -> None: ...
    @property
    def device_id(self) -> int: ...
    @property
    def stream(self) -> int: ...
    workspace_bytes: int
    def set_tile_caps(self, max_query_rows: int, max_db_rows: int) -> None: ...

def gpu_count() -> int: ...
def built_with_cuda() -> bool: ...
def device_summary() -> str: ...
def hamming_cpu_kernel() -> str: ...

# ---- indexes -----------------------------------------------------------------------------------

class IndexExtras:
    @property
    def labels(self) -> npt.NDArray[np.uint8] | None: ...
    @property
    def binarizer(self) -> Binarizer | None: ...
    @property
    def cross_modal_binarizer(self) -> CrossModalBinarizer | None: ...

class DenseIndex:
    """Exact dense k-NN by cosine or inner product (descending score, ties by ascending id)."""

    def __init__(
        self, dim: int, *, metric: MetricLike = "cosine", storage: DTypeLike = "float32", device: DeviceLike = "auto"
    ) -> None: ...
    def add(self, vectors: ArrayLike, ids: IdsLike | None = None) -> None: ...
    def remove(self, ids: IdsLike) -> None: ...
    def search(
        self, queries: ArrayLike, k: int, *, device: DeviceLike | None = None, resources: Resources | None = None
    ) -> tuple[Any, Any]:
        """(scores [Q x k] float32, ids [Q x k] int64): NumPy arrays, or tensors of the queries'
        library on their device for CUDA queries."""
    def rescore(
        self,
        queries: ArrayLike,
        candidates: ArrayLike,
        *,
        device: DeviceLike | None = None,
        resources: Resources | None = None,
    ) -> npt.NDArray[np.float32]: ...
    def save(
        self,
        path: PathLike,
        *,
        labels: ArrayLike | None = None,
        binarizer: Binarizer | None = None,
        cross_modal_binarizer: CrossModalBinarizer | None = None,
    ) -> None: ...
    def to_bytes(self) -> bytes: ...
    @overload
    @staticmethod
    def load(
        path: PathLike,
        *,
        mmap: bool = False,
        verify: bool = True,
        device: DeviceLike | None = None,
        resources: Resources | None = None,
        return_extras: Literal[False] = False,
    ) -> DenseIndex: ...
    @overload
    @staticmethod
    def load(
        path: PathLike,
        *,
        mmap: bool = False,
        verify: bool = True,
        device: DeviceLike | None = None,
        resources: Resources | None = None,
        return_extras: Literal[True],
    ) -> tuple[DenseIndex, IndexExtras]: ...
    @staticmethod
    def from_bytes(
        data: bytes | bytearray | memoryview | npt.NDArray[np.uint8],
        *,
        verify: bool = True,
        device: DeviceLike | None = None,
        return_extras: bool = False,
    ) -> DenseIndex | tuple[DenseIndex, IndexExtras]: ...
    @property
    def size(self) -> int: ...
    def __len__(self) -> int: ...
    @property
    def dim(self) -> int: ...
    @property
    def metric(self) -> Metric: ...
    @property
    def storage(self) -> DType: ...
    @property
    def device(self) -> Device: ...
    def ids(self) -> npt.NDArray[np.int64]: ...

class RangeSearchResult:
    """CSR radius-search result: query q's results are ids[offsets[q]:offsets[q+1]]."""

    @property
    def offsets(self) -> npt.NDArray[np.int64]: ...
    @property
    def ids(self) -> npt.NDArray[np.int64]: ...
    @property
    def distances(self) -> npt.NDArray[np.int32]: ...
    @property
    def num_within(self) -> npt.NDArray[np.int64]: ...
    @property
    def radius(self) -> int: ...
    @property
    def max_results(self) -> int: ...
    @property
    def device(self) -> Device: ...
    def any_truncated(self) -> bool: ...
    def __len__(self) -> int: ...

class BinaryIndex:
    """Exact Hamming k-NN / radius search over packed codes (ascending distance, ties by id)."""

    def __init__(self, bits: int, *, device: DeviceLike = "auto") -> None: ...
    def add(self, codes: ArrayLike, ids: IdsLike | None = None) -> None: ...
    def remove(self, ids: IdsLike) -> None: ...
    def search(
        self, queries: ArrayLike, k: int, *, device: DeviceLike | None = None, resources: Resources | None = None
    ) -> tuple[Any, Any]:
        """(distances [Q x k] int32, ids [Q x k] int64)."""
    def range_search(
        self,
        queries: ArrayLike,
        radius: int,
        max_results: int,
        *,
        device: DeviceLike | None = None,
        resources: Resources | None = None,
    ) -> RangeSearchResult: ...
    def save(
        self,
        path: PathLike,
        *,
        labels: ArrayLike | None = None,
        binarizer: Binarizer | None = None,
        cross_modal_binarizer: CrossModalBinarizer | None = None,
    ) -> None: ...
    def to_bytes(self) -> bytes: ...
    @staticmethod
    def load(
        path: PathLike,
        *,
        mmap: bool = False,
        verify: bool = True,
        device: DeviceLike | None = None,
        resources: Resources | None = None,
        return_extras: bool = False,
    ) -> BinaryIndex | tuple[BinaryIndex, IndexExtras]: ...
    @staticmethod
    def from_bytes(
        data: bytes | bytearray | memoryview | npt.NDArray[np.uint8],
        *,
        verify: bool = True,
        device: DeviceLike | None = None,
        return_extras: bool = False,
    ) -> BinaryIndex | tuple[BinaryIndex, IndexExtras]: ...
    @property
    def size(self) -> int: ...
    def __len__(self) -> int: ...
    @property
    def bits(self) -> int: ...
    @property
    def code_bytes(self) -> int: ...
    @property
    def device(self) -> Device: ...
    def ids(self) -> npt.NDArray[np.int64]: ...

def pack_bits(bits: ArrayLike) -> npt.NDArray[np.uint8]: ...
def unpack_bits(codes: ArrayLike) -> npt.NDArray[np.uint8]: ...

MultiVectors = ArrayLike | Sequence[ArrayLike]

class MultiVectorIndex:
    """Exact multi-vector search (MaxSim / sum-of-max)."""

    def __init__(self, dim: int, *, metric: MetricLike = "cosine", device: DeviceLike = "auto") -> None: ...
    def add(self, vectors: MultiVectors, offsets: IdsLike | None = None, ids: IdsLike | None = None) -> None: ...
    def remove(self, ids: IdsLike) -> None: ...
    def search(
        self,
        queries: MultiVectors,
        k: int,
        *,
        offsets: IdsLike | None = None,
        reduce: ReduceLike = "maxsim",
        device: DeviceLike | None = None,
        resources: Resources | None = None,
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]: ...
    def rescore(
        self, queries: MultiVectors, candidates: ArrayLike, *, offsets: IdsLike | None = None, reduce: ReduceLike = "maxsim"
    ) -> npt.NDArray[np.float32]: ...
    def reconstruct(self, ids: IdsLike) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]: ...
    @property
    def size(self) -> int: ...
    def __len__(self) -> int: ...
    @property
    def num_vectors(self) -> int: ...
    @property
    def dim(self) -> int: ...
    @property
    def metric(self) -> Metric: ...
    @property
    def device(self) -> Device: ...
    def ids(self) -> npt.NDArray[np.int64]: ...

# ---- binarisers --------------------------------------------------------------------------------

class Binarizer:
    @staticmethod
    def sign(dim: int) -> Binarizer: ...
    @staticmethod
    def sign_median(train: ArrayLike) -> Binarizer: ...
    @staticmethod
    def lsh(
        bits: int, *, dim: int | None = None, train: ArrayLike | None = None, seed: int = 0, center: bool = True
    ) -> Binarizer: ...
    @staticmethod
    def itq(train: ArrayLike, bits: int, *, iterations: int = 50, seed: int = 0) -> Binarizer: ...
    def encode(self, x: ArrayLike) -> npt.NDArray[np.uint8]: ...
    @property
    def kind(self) -> str: ...
    @property
    def dim(self) -> int: ...
    @property
    def bits(self) -> int: ...
    @property
    def code_bytes(self) -> int: ...
    @property
    def mean(self) -> npt.NDArray[np.float32]: ...
    @property
    def thresholds(self) -> npt.NDArray[np.float32]: ...
    @property
    def projection(self) -> npt.NDArray[np.float32]: ...
    @property
    def rotation(self) -> npt.NDArray[np.float32]: ...
    @property
    def training_loss(self) -> npt.NDArray[np.float64]: ...
    def save(self, path: PathLike) -> None: ...
    @staticmethod
    def load(path: PathLike) -> Binarizer: ...
    def to_bytes(self) -> bytes: ...
    @staticmethod
    def from_bytes(data: bytes | bytearray | memoryview) -> Binarizer: ...

class CrossModalBinarizer:
    @property
    def image(self) -> Binarizer: ...
    @property
    def text(self) -> Binarizer: ...
    def save(self, path: PathLike) -> None: ...
    @staticmethod
    def load(path: PathLike) -> CrossModalBinarizer: ...
    def to_bytes(self) -> bytes: ...
    @staticmethod
    def from_bytes(data: bytes | bytearray | memoryview) -> CrossModalBinarizer: ...

def train_cross_modal_itq(
    image_train: ArrayLike,
    text_train: ArrayLike,
    bits: int,
    *,
    iterations: int = 50,
    seed: int = 0,
    regularization: float = 1e-4,
    correlation_power: float = 2.0,
) -> CrossModalBinarizer: ...

# ---- collections and the pipeline ----------------------------------------------------------

class PairBatch:
    """(query, candidate) pairs for the re-rank scorer; return len(batch) float scores."""

    @property
    def query_rows(self) -> npt.NDArray[np.int64]: ...
    @property
    def query_ids(self) -> npt.NDArray[np.int64]: ...
    @property
    def candidate_ids(self) -> npt.NDArray[np.int64]: ...
    @property
    def similarity(self) -> npt.NDArray[np.float32]: ...
    @property
    def batch_index(self) -> int: ...
    def __len__(self) -> int: ...

Scorer = Callable[[PairBatch], npt.ArrayLike]

class PipelineResult:
    @property
    def ids(self) -> npt.NDArray[np.int64]: ...
    @property
    def scores(self) -> npt.NDArray[np.float32]: ...
    @property
    def groups(self) -> npt.NDArray[np.int64] | None: ...
    @property
    def shortlist_scores(self) -> npt.NDArray[np.float32] | None: ...
    @property
    def rescore_scores(self) -> npt.NDArray[np.float32] | None: ...
    @property
    def rerank_scores(self) -> npt.NDArray[np.float32] | None: ...
    @property
    def stats(self) -> dict[str, float | int]: ...
    @property
    def device(self) -> Device: ...

class Collection:
    def __init__(
        self,
        name: str = "collection",
        *,
        dim: int = 0,
        metric: MetricLike = "cosine",
        storage: DTypeLike = "float32",
        multi_vector_dim: int = 0,
        code_bits: int = 0,
        num_labels: int = 0,
        groups: bool = False,
        device: DeviceLike = "auto",
    ) -> None: ...
    def add(
        self,
        *,
        ids: IdsLike | None = None,
        embeddings: ArrayLike | None = None,
        vectors: MultiVectors | None = None,
        offsets: IdsLike | None = None,
        codes: ArrayLike | None = None,
        labels: ArrayLike | None = None,
        groups: IdsLike | None = None,
    ) -> None: ...
    def remove(self, ids: IdsLike) -> None: ...
    @property
    def name(self) -> str: ...
    @property
    def dim(self) -> int: ...
    @property
    def metric(self) -> Metric: ...
    @property
    def storage(self) -> DType: ...
    @property
    def multi_vector_dim(self) -> int: ...
    @property
    def code_bits(self) -> int: ...
    @property
    def num_labels(self) -> int: ...
    @property
    def has_groups(self) -> bool: ...
    @property
    def device(self) -> Device: ...
    @property
    def size(self) -> int: ...
    def __len__(self) -> int: ...
    @property
    def paired(self) -> bool: ...
    def ids(self) -> npt.NDArray[np.int64]: ...
    def __contains__(self, id: int) -> bool: ...
    def groups_of(self, ids: IdsLike) -> npt.NDArray[np.int64]: ...
    def labels_of(self, ids: IdsLike) -> npt.NDArray[np.uint8]: ...
    def embeddings_of(self, ids: IdsLike) -> npt.NDArray[np.float32]: ...
    def codes_of(self, ids: IdsLike) -> npt.NDArray[np.uint8]: ...
    def vectors_of(self, ids: IdsLike) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]: ...

def retrieve(
    collection: Collection,
    *,
    embeddings: ArrayLike | None = None,
    vectors: MultiVectors | None = None,
    offsets: IdsLike | None = None,
    codes: ArrayLike | None = None,
    query_ids: IdsLike | None = None,
    k: int = 10,
    candidates: int = 128,
    shortlist: Literal["embeddings", "multi_vector", "codes"] = "embeddings",
    rescore: Literal["none", "embeddings", "multi_vector"] = "none",
    reduce: ReduceLike = "maxsim",
    scorer: Scorer | None = None,
    scorer_batch: int = 256,
    listwise: bool = False,
    scorer_threads: int = 1,
    query_chunk: int = 0,
    fusion: Literal["replace", "sum", "weighted"] = "replace",
    weights: tuple[float, float, float] | None = None,
    any_labels: IdsLike | None = None,
    all_labels: IdsLike | None = None,
    allowed_ids: IdsLike | None = None,
    group_by: bool = False,
    device: DeviceLike | None = None,
    resources: Resources | None = None,
) -> PipelineResult: ...

class CrossModalIndex:
    """Image and text collections; i2t and t2i search by ids or by new query vectors."""

    def __init__(self, images: Collection, texts: Collection) -> None: ...
    @property
    def images(self) -> Collection: ...
    @property
    def texts(self) -> Collection: ...
    def search(
        self,
        direction: DirectionLike,
        ids: IdsLike | None = None,
        *,
        embeddings: ArrayLike | None = None,
        vectors: MultiVectors | None = None,
        offsets: IdsLike | None = None,
        codes: ArrayLike | None = None,
        k: int = 10,
        candidates: int = 128,
        shortlist: Literal["embeddings", "multi_vector", "codes"] = "embeddings",
        rescore: Literal["none", "embeddings", "multi_vector"] = "none",
        reduce: ReduceLike = "maxsim",
        scorer: Scorer | None = None,
        scorer_batch: int = 256,
        listwise: bool = False,
        scorer_threads: int = 1,
        query_chunk: int = 0,
        fusion: Literal["replace", "sum", "weighted"] = "replace",
        weights: tuple[float, float, float] | None = None,
        any_labels: IdsLike | None = None,
        all_labels: IdsLike | None = None,
        allowed_ids: IdsLike | None = None,
        group_by: bool = False,
        device: DeviceLike | None = None,
        resources: Resources | None = None,
    ) -> PipelineResult: ...

# ---- metrics and data ------------------------------------------------------------------------

MapVariant = Literal["map_all", "all", "map_at_k", "at_k", "map_k_first_relevant", "k_first_relevant"]
TiePolicy = Literal["ascending_index", "average"]

def map_hamming(
    query_codes: ArrayLike,
    db_codes: ArrayLike,
    query_labels: ArrayLike,
    db_labels: ArrayLike,
    *,
    variant: MapVariant = "map_all",
    k: int = 0,
    ties: TiePolicy = "ascending_index",
    device: DeviceLike = "auto",
    resources: Resources | None = None,
) -> dict[str, Any]: ...
def map_dense(
    queries: ArrayLike,
    database: ArrayLike,
    metric: MetricLike,
    query_labels: ArrayLike,
    db_labels: ArrayLike,
    *,
    variant: MapVariant = "map_all",
    k: int = 0,
    ties: TiePolicy = "ascending_index",
    device: DeviceLike = "auto",
    resources: Resources | None = None,
) -> dict[str, Any]: ...
def recall_at_k(images: ArrayLike, texts: ArrayLike, captions_per_image: int = 5) -> dict[str, float]: ...
def precision_at_k(ranked: ArrayLike, query_labels: ArrayLike, db_labels: ArrayLike, k: int) -> dict[str, Any]: ...
def ndcg_at_k(ranked: ArrayLike, query_labels: ArrayLike, db_labels: ArrayLike, k: int) -> dict[str, Any]: ...
def neighbor_recall_at_k(ranked: ArrayLike, ground_truth: ArrayLike, k: int) -> dict[str, Any]: ...
def pr_curve_hamming(
    query_codes: ArrayLike, db_codes: ArrayLike, query_labels: ArrayLike, db_labels: ArrayLike
) -> dict[str, Any]: ...
def read_index_info(path: PathLike) -> dict[str, Any]: ...
def synthetic_cross_modal(
    *, num_images: int = 1000, captions_per_image: int = 5, num_labels: int = 24, dim: int = 128, seed: int = 42
) -> dict[str, npt.NDArray[Any]]: ...
