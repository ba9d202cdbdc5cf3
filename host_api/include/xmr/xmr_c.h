#ifndef XMR_XMR_C_H
#define XMR_XMR_C_H
/**
 * \file
 * The stable C ABI of libxmr (C99): opaque handles over DenseIndex, BinaryIndex, Collection and
 * CrossModalIndex, the retrieval pipeline with a C re-rank scorer, the evaluation metrics, status
 * codes and a per-thread last-error message. For the languages that
 * call C (Go, Rust, Java, C#, Python's ctypes); docs/c_api.md has the conventions and an example.
 *
 * Conventions (every function below):
 * - Returns an xmr_status_t: XMR_OK (0), or the code of the error, one per xmr::ErrorCode with
 *   the same number. No exception ever crosses this boundary and nothing aborts or prints.
 * - On failure, xmr_last_error() holds the message (it names the argument and its value, e.g.
 *   "k (= 0) must be in [1, 2147483647]"); on success it is "". A failed call changes nothing:
 *   handles keep their contents and `out_*` handle pointers are left as they were. Output
 *   buffers (`out_ids`, `out_scores`, ...) are unspecified after a failure.
 * - Handles are made by `*_create` / `*_load` and released by `*_free` (which accepts NULL).
 *   Every pointer argument is borrowed for the duration of the call only; xmr keeps no pointer
 *   to caller memory.
 * - Matrices are dense row-major host memory: a [rows x cols] argument is rows * cols elements,
 *   row r starting at element r * cols. A pointer may be NULL only when its element count is 0.
 * - Searches write into caller buffers of [num_queries x k] elements; the shape is known before
 *   the call, so there is no size query. Result contract: descending score (dense) / ascending
 *   distance (binary), ties by ascending id; slots beyond the index size hold id -1 and score
 *   -INFINITY / distance XMR_EMPTY_DISTANCE.
 * - Threads: every function may be called concurrently from any thread, also on the same handle,
 *   except that `*_free` must not race with any other use of that handle.
 */

#include <stddef.h>
#include <stdint.h>

#include "xmr/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Every enumeration crosses the ABI as an int32_t (a fixed width for every language's FFI, and
 * any value, also an invalid one, is well defined); the constants are in the named enums.
 */

/** Status of every call: an XMR_OK / XMR_ERR_* value. The values equal xmr::ErrorCode's and
 *  never change. */
typedef int32_t xmr_status_t;
enum xmr_status {
  XMR_OK = 0,                   /**< success */
  XMR_ERR_INVALID_ARGUMENT = 1, /**< a shape, value, option or NULL pointer the call cannot accept */
  XMR_ERR_OUT_OF_MEMORY = 2,    /**< host or device allocation failed */
  XMR_ERR_IO = 3,               /**< a file could not be read or written */
  XMR_ERR_CORRUPT_DATA = 4,     /**< a file or buffer failed validation */
  XMR_ERR_DEVICE = 5,           /**< a CUDA or cuBLAS call failed */
  XMR_ERR_UNAVAILABLE = 6,      /**< the requested feature or device is not present */
  XMR_ERR_INTERNAL = 7,         /**< a bug in xmr (also: an unexpected C++ exception) */
  XMR_ERR_CALLBACK = 8          /**< a caller-supplied callback failed */
};

/** Similarity of a dense index: an XMR_METRIC_* value (those of xmr::Metric). */
typedef int32_t xmr_metric_t;
enum xmr_metric { XMR_METRIC_INNER_PRODUCT = 0, XMR_METRIC_COSINE = 1 };

/** Scalar type of stored vectors or of an input buffer: an XMR_DTYPE_* value (those of xmr::DType). */
typedef int32_t xmr_dtype_t;
enum xmr_dtype {
  XMR_DTYPE_F32 = 0, /**< float */
  XMR_DTYPE_F16 = 1  /**< IEEE binary16, as uint16_t bit patterns */
};

/** Where a computation runs: an XMR_DEVICE_* value (those of xmr::Device, plus XMR_DEVICE_DEFAULT). */
typedef int32_t xmr_device_t;
enum xmr_device {
  XMR_DEVICE_DEFAULT = -1, /**< searches: the index's default device; load: the saved one */
  XMR_DEVICE_AUTO = 0,     /**< the GPU when one is usable, else the CPU */
  XMR_DEVICE_CPU = 1,      /**< always the CPU */
  XMR_DEVICE_GPU = 2       /**< the GPU; XMR_ERR_UNAVAILABLE when there is none */
};

/** How a load gets the file's bytes: an XMR_LOAD_* value (those of xmr::LoadMode). */
typedef int32_t xmr_load_mode_t;
enum xmr_load_mode {
  XMR_LOAD_READ = 0, /**< read into memory owned by the index */
  XMR_LOAD_MAP = 1   /**< map the file read-only and use it in place (see xmr/index_file.h) */
};

/** Which mAP: an XMR_MAP_* value (those of xmr::eval::MapVariant; definitions in docs/eval.md). */
typedef int32_t xmr_map_variant_t;
enum xmr_map_variant {
  XMR_MAP_ALL = 0,             /**< AP over the whole ranking (k must be 0) */
  XMR_MAP_AT_K = 1,            /**< windowed AP@K (k >= 1) */
  XMR_MAP_K_FIRST_RELEVANT = 2 /**< DCMH/DSPH calc_map_k (k >= 1) */
};

/** Order of items with equal distance or score in mAP: an XMR_TIES_* value (xmr::eval::TiePolicy). */
typedef int32_t xmr_tie_policy_t;
enum xmr_tie_policy {
  XMR_TIES_ASCENDING_INDEX = 0, /**< ties by ascending item index */
  XMR_TIES_AVERAGE = 1          /**< expected AP over all orders within each tied group */
};

/** The distance of an empty result slot of a binary search (INT32_MAX). */
#define XMR_EMPTY_DISTANCE INT32_MAX

/** How the per-vector similarities of a multi-vector pair reduce to one score: an XMR_REDUCE_*
 *  value (those of xmr::MultiVectorReduce). */
typedef int32_t xmr_reduce_t;
enum xmr_reduce {
  XMR_REDUCE_MAX_SIM = 0,    /**< max over query vectors a and item vectors b of s(a, b) (BLIP-2 ITC) */
  XMR_REDUCE_SUM_MAX_SIM = 1 /**< sum over a of max over b of s(a, b) (ColBERT) */
};

/** Opaque execution resources (xmr::Resources): a CUDA device, a borrowed or owned stream and a
 *  scratch budget. See xmr_resources_create. */
typedef struct xmr_resources xmr_resources_t;

/** Per-call options of the `*_search_ex` entries and of xmr_multi_vector_index_search. Fill
 *  with xmr_search_options_init, then set fields. */
typedef struct xmr_search_options {
  xmr_device_t device;        /**< XMR_DEVICE_DEFAULT (the index's, default), AUTO, CPU or GPU */
  xmr_reduce_t reduce;        /**< multi-vector searches only: XMR_REDUCE_* (default MAX_SIM) */
  xmr_resources_t* resources; /**< borrowed for the call; NULL (default): the thread's default */
} xmr_search_options_t;

/** Fills `*options` with the defaults (DEFAULT device, MAX_SIM, no resources). NULL is a no-op. */
XMR_API void xmr_search_options_init(xmr_search_options_t* options);

/** Opaque exact dense index (xmr::DenseIndex). */
typedef struct xmr_dense_index xmr_dense_index_t;
/** Opaque exact Hamming index over packed binary codes (xmr::BinaryIndex). */
typedef struct xmr_binary_index xmr_binary_index_t;

/* ---------------------------------------------------------------------------------------------
 * Errors, version, devices
 * ------------------------------------------------------------------------------------------- */

/**
 * The message of the calling thread's last failed call, or "" when its last call succeeded (or
 * it made none). Never NULL. The pointer stays valid until the thread's next xmr_ call.
 */
XMR_API const char* xmr_last_error(void);

/** Name of a status, e.g. "InvalidArgument" ("Unknown" for a value outside the enum). Static. */
XMR_API const char* xmr_status_string(xmr_status_t status);

/** The version of the loaded libxmr, e.g. "0.1.0". Static; never fails. */
XMR_API const char* xmr_version(void);

/** Number of usable CUDA devices: 0 in a CPU-only build or without a driver or GPU. Never fails. */
XMR_API int xmr_gpu_count(void);

/**
 * One line describing the compute devices, e.g. "CPU (2 threads, popcount avx2); no GPU (...)".
 * Two-phase: writes at most `capacity` bytes including the terminating NUL into `buffer`
 * (truncating) and the full length without the NUL into `*out_length`.
 * \param buffer     may be NULL when `capacity` is 0 (to ask for the length).
 * \param out_length required.
 * \return XMR_OK; XMR_ERR_INVALID_ARGUMENT (NULL out_length, NULL buffer with capacity > 0);
 *         XMR_ERR_OUT_OF_MEMORY.
 */
XMR_API xmr_status_t xmr_device_summary(char* buffer, size_t capacity, size_t* out_length);

/* ---------------------------------------------------------------------------------------------
 * Dense index: exact k-NN by inner product or cosine (xmr/dense_index.h has the full contract)
 * ------------------------------------------------------------------------------------------- */

/**
 * Makes an empty dense index.
 * \param dim       vector dimension D, in [1, 2^31 - 1].
 * \param metric    XMR_METRIC_*.
 * \param storage   stored scalar type, XMR_DTYPE_*.
 * \param device    default device of searches: AUTO, CPU or GPU (not DEFAULT).
 * \param out_index receives the new handle (free it with xmr_dense_index_free); required.
 * \return XMR_OK, XMR_ERR_INVALID_ARGUMENT (a bad value, NULL out_index), XMR_ERR_OUT_OF_MEMORY.
 */
XMR_API xmr_status_t xmr_dense_index_create(int64_t dim, xmr_metric_t metric, xmr_dtype_t storage, xmr_device_t device,
                                            xmr_dense_index_t** out_index);

/** Releases an index and everything it holds. NULL is a no-op. Must not race with other calls on it. */
XMR_API void xmr_dense_index_free(xmr_dense_index_t* index);

/**
 * Appends `num_vectors` vectors. Every element must be finite; under cosine no row may have zero
 * norm; with fp16 storage every value must fit binary16.
 * \param vectors     [num_vectors x D] elements of `dtype` (float, or uint16_t binary16 bits).
 * \param ids         NULL for sequential ids (largest id so far + 1, or 0 when empty), else
 *                    [num_vectors] ids in [0, 2^63 - 2], distinct from each other and the stored ids.
 * \return XMR_OK, XMR_ERR_INVALID_ARGUMENT (NULL handle or vectors, num_vectors < 0, a bad dtype
 *         or value, a bad id), XMR_ERR_OUT_OF_MEMORY. On failure the index is unchanged.
 */
XMR_API xmr_status_t xmr_dense_index_add(xmr_dense_index_t* index, const void* vectors, xmr_dtype_t dtype,
                                         int64_t num_vectors, const int64_t* ids);

/**
 * Removes the vectors with these ids (each stored and given once; num_ids may be 0).
 * \param ids [num_ids] ids.
 * \return XMR_OK, XMR_ERR_INVALID_ARGUMENT (NULL handle or ids, num_ids < 0, an unknown or
 *         repeated id), XMR_ERR_OUT_OF_MEMORY. On failure the index is unchanged.
 */
XMR_API xmr_status_t xmr_dense_index_remove(xmr_dense_index_t* index, const int64_t* ids, int64_t num_ids);

/** Number of stored vectors into `*out_size`. XMR_ERR_INVALID_ARGUMENT on a NULL argument. */
XMR_API xmr_status_t xmr_dense_index_size(const xmr_dense_index_t* index, int64_t* out_size);
/** Vector dimension D into `*out_dim`. XMR_ERR_INVALID_ARGUMENT on a NULL argument. */
XMR_API xmr_status_t xmr_dense_index_dim(const xmr_dense_index_t* index, int64_t* out_dim);

/**
 * Batch k-NN search (descending score, ties by ascending id, padding -1 / -INFINITY).
 * \param queries     [num_queries x D] elements of `dtype`; finite; under cosine no zero row.
 *                    num_queries may be 0 (nothing is written; the outputs may then be NULL).
 * \param k           results per query, in [1, 2^31 - 1].
 * \param device      XMR_DEVICE_DEFAULT (the index's), AUTO, CPU or GPU.
 * \param out_ids     [num_queries x k] int64 results.
 * \param out_scores  [num_queries x k] float scores.
 * \return XMR_OK, XMR_ERR_INVALID_ARGUMENT (NULL argument, num_queries < 0, k, values, an empty
 *         index), XMR_ERR_UNAVAILABLE (GPU without a usable GPU), XMR_ERR_OUT_OF_MEMORY,
 *         XMR_ERR_DEVICE. Synchronous.
 */
XMR_API xmr_status_t xmr_dense_index_search(const xmr_dense_index_t* index, const void* queries, xmr_dtype_t dtype,
                                            int64_t num_queries, int64_t k, xmr_device_t device, int64_t* out_ids,
                                            float* out_scores);

/**
 * Saves the index to `path` atomically (a checksummed file; docs/index_format.md).
 * \return XMR_OK, XMR_ERR_INVALID_ARGUMENT (NULL argument), XMR_ERR_IO (names the path and the
 *         system's reason; the destination is then untouched), XMR_ERR_OUT_OF_MEMORY.
 */
XMR_API xmr_status_t xmr_dense_index_save(const xmr_dense_index_t* index, const char* path);

/**
 * Loads an index saved by xmr_dense_index_save (labels and binariser in the file are ignored).
 * \param mode      XMR_LOAD_READ or XMR_LOAD_MAP.
 * \param verify    nonzero: check every section's checksum and values; 0: header, parameters
 *                  and ids only (for trusted files).
 * \param device    the loaded index's default device; XMR_DEVICE_DEFAULT keeps the saved one,
 *                  GPU also uploads it (XMR_ERR_UNAVAILABLE without a GPU).
 * \param out_index receives the new handle; required.
 * \return XMR_OK, XMR_ERR_INVALID_ARGUMENT (NULL argument, bad option, a binary index file),
 *         XMR_ERR_IO (cannot open or read), XMR_ERR_CORRUPT_DATA (truncated or damaged file: names
 *         the path and what is wrong), XMR_ERR_UNAVAILABLE, XMR_ERR_OUT_OF_MEMORY.
 */
XMR_API xmr_status_t xmr_dense_index_load(const char* path, xmr_load_mode_t mode, int verify, xmr_device_t device,
                                          xmr_dense_index_t** out_index);

/* ---------------------------------------------------------------------------------------------
 * Binary index: exact Hamming k-NN over packed codes (xmr/binary_index.h has the full contract).
 * A code of B bits is B/8 bytes, bit j in byte j/8 at bit j%8 (numpy.packbits bitorder="little").
 * ------------------------------------------------------------------------------------------- */

/**
 * Makes an empty binary index.
 * \param bits      code length B, a multiple of 8 in [8, 4096].
 * \param device    default device of searches: AUTO, CPU or GPU (not DEFAULT).
 * \param out_index receives the new handle (free it with xmr_binary_index_free); required.
 * \return XMR_OK, XMR_ERR_INVALID_ARGUMENT, XMR_ERR_OUT_OF_MEMORY.
 */
XMR_API xmr_status_t xmr_binary_index_create(int64_t bits, xmr_device_t device, xmr_binary_index_t** out_index);

/** Releases an index. NULL is a no-op. Must not race with other calls on it. */
XMR_API void xmr_binary_index_free(xmr_binary_index_t* index);

/**
 * Appends `num_codes` codes, as xmr_dense_index_add.
 * \param codes [num_codes x B/8] bytes.
 * \param ids   NULL for sequential ids, else [num_codes] ids.
 */
XMR_API xmr_status_t xmr_binary_index_add(xmr_binary_index_t* index, const uint8_t* codes, int64_t num_codes,
                                          const int64_t* ids);

/** Removes codes by id, as xmr_dense_index_remove. */
XMR_API xmr_status_t xmr_binary_index_remove(xmr_binary_index_t* index, const int64_t* ids, int64_t num_ids);

/** Number of stored codes into `*out_size`. XMR_ERR_INVALID_ARGUMENT on a NULL argument. */
XMR_API xmr_status_t xmr_binary_index_size(const xmr_binary_index_t* index, int64_t* out_size);
/** Code length in bits (B) into `*out_bits`. XMR_ERR_INVALID_ARGUMENT on a NULL argument. */
XMR_API xmr_status_t xmr_binary_index_bits(const xmr_binary_index_t* index, int64_t* out_bits);

/**
 * Batch Hamming k-NN (ascending distance, ties by ascending id, padding -1 /
 * XMR_EMPTY_DISTANCE), bit-identical on CPU and GPU.
 * \param queries       [num_queries x B/8] bytes; num_queries may be 0.
 * \param out_ids       [num_queries x k] int64.
 * \param out_distances [num_queries x k] int32.
 * Other arguments and status codes as xmr_dense_index_search.
 */
XMR_API xmr_status_t xmr_binary_index_search(const xmr_binary_index_t* index, const uint8_t* queries,
                                             int64_t num_queries, int64_t k, xmr_device_t device, int64_t* out_ids,
                                             int32_t* out_distances);

/**
 * Radius search: every stored code within Hamming distance `radius` of each query, ascending
 * distance, ties by ascending id (xmr::BinaryIndex::range_search). A variable number of results
 * per query, returned by the caller-capacity convention: the caller gives room for
 * `max_results` per query, row q of the outputs holds the first out_counts[q] results and is
 * padded with id -1 / XMR_EMPTY_DISTANCE, and out_num_within[q] is how many codes are within the
 * radius (more than max_results: query q was truncated to its max_results nearest; call again
 * with a larger max_results for all of them). No size query is needed, and nothing is lost
 * between two calls when another thread adds codes.
 * \param queries        [num_queries x B/8] bytes; num_queries may be 0 (nothing is written).
 * \param radius         in [0, B].
 * \param max_results    results per query the outputs can hold, in [1, 2^31 - 1].
 * \param device         as xmr_binary_index_search.
 * \param out_ids        [num_queries x max_results] int64.
 * \param out_distances  [num_queries x max_results] int32.
 * \param out_counts     [num_queries] int64: results written in each row (<= max_results).
 * \param out_num_within NULL, or [num_queries] int64: codes within the radius (may exceed max_results).
 *
eturn XMR_OK, XMR_ERR_INVALID_ARGUMENT (NULL argument, num_queries < 0, radius, max_results,
 *         an empty index), XMR_ERR_UNAVAILABLE, XMR_ERR_OUT_OF_MEMORY, XMR_ERR_DEVICE. Synchronous.
 */
XMR_API xmr_status_t xmr_binary_index_range_search(const xmr_binary_index_t* index, const uint8_t* queries,
                                                   int64_t num_queries, int32_t radius, int64_t max_results,
                                                   xmr_device_t device, int64_t* out_ids, int32_t* out_distances,
                                                   int64_t* out_counts, int64_t* out_num_within);

/** Saves atomically, as xmr_dense_index_save. */
XMR_API xmr_status_t xmr_binary_index_save(const xmr_binary_index_t* index, const char* path);

/** Loads a file saved by xmr_binary_index_save, as xmr_dense_index_load (a dense file is
 *  XMR_ERR_INVALID_ARGUMENT). */
XMR_API xmr_status_t xmr_binary_index_load(const char* path, xmr_load_mode_t mode, int verify, xmr_device_t device,
                                           xmr_binary_index_t** out_index);

/* ---------------------------------------------------------------------------------------------
 * Evaluation metrics (xmr/eval.h, docs/eval.md). Labels are multi-hot [n x num_classes] bytes,
 * each 0 or 1; two items are relevant when they share a class.
 * ------------------------------------------------------------------------------------------- */

/**
 * mAP of Hamming rankings (each query ranks all database codes by ascending distance).
 * \param query_codes      [num_queries x code_bytes], num_queries >= 1, code_bytes >= 1.
 * \param db_codes         [num_db x code_bytes], num_db >= 1.
 * \param query_labels     [num_queries x num_classes], num_classes >= 1.
 * \param db_labels        [num_db x num_classes].
 * \param variant          XMR_MAP_*.
 * \param k                0 for XMR_MAP_ALL, >= 1 otherwise (K > num_db means num_db).
 * \param ties             XMR_TIES_*.
 * \param device           AUTO, CPU or GPU (DEFAULT means AUTO).
 * \param out_map          the mean AP; required.
 * \param out_per_query_ap NULL, or [num_queries] doubles: each query's AP in input order.
 * \return XMR_OK, XMR_ERR_INVALID_ARGUMENT (NULL argument, a size, a label not 0/1, an option),
 *         XMR_ERR_UNAVAILABLE, XMR_ERR_OUT_OF_MEMORY, XMR_ERR_DEVICE.
 */
XMR_API xmr_status_t xmr_map_hamming(const uint8_t* query_codes, int64_t num_queries, const uint8_t* db_codes,
                                     int64_t num_db, int64_t code_bytes, const uint8_t* query_labels,
                                     const uint8_t* db_labels, int64_t num_classes, xmr_map_variant_t variant,
                                     int64_t k, xmr_tie_policy_t ties, xmr_device_t device, double* out_map,
                                     double* out_per_query_ap);

/**
 * mAP of dense rankings (descending score by `metric`), as xmr_map_hamming.
 * \param queries  [num_queries x dim] finite floats (cosine: no zero row), dim >= 1.
 * \param database [num_db x dim] finite floats.
 */
XMR_API xmr_status_t xmr_map_dense(const float* queries, int64_t num_queries, const float* database, int64_t num_db,
                                   int64_t dim, xmr_metric_t metric, const uint8_t* query_labels,
                                   const uint8_t* db_labels, int64_t num_classes, xmr_map_variant_t variant, int64_t k,
                                   xmr_tie_policy_t ties, xmr_device_t device, double* out_map,
                                   double* out_per_query_ap);

/** Recall at {1, 5, 10} of the image-text protocol, fractions in [0, 1] (xmr::eval::RetrievalRecall). */
typedef struct xmr_retrieval_recall {
  double i2t_r1, i2t_r5, i2t_r10;
  double t2i_r1, t2i_r5, t2i_r10;
  double i2t_mean, t2i_mean, r_mean;
} xmr_retrieval_recall_t;

/**
 * Recall at 1, 5 and 10 by cosine similarity with `captions_per_image` captions per image (caption t belongs
 * to image t / captions_per_image; ties by ascending index).
 * \param images [num_images x dim] finite floats, no zero row, num_images >= 1.
 * \param texts  [num_texts x dim], num_texts = num_images * captions_per_image.
 * \param out    required.
 * \return XMR_OK, XMR_ERR_INVALID_ARGUMENT, XMR_ERR_OUT_OF_MEMORY.
 */
XMR_API xmr_status_t xmr_recall_at_k(const float* images, int64_t num_images, const float* texts, int64_t num_texts,
                                     int64_t dim, int64_t captions_per_image, xmr_retrieval_recall_t* out);

/** A metric over result lists (xmr::eval::MetricResult, without the per-query values). */
typedef struct xmr_metric_result {
  double mean;                 /**< mean over the counted queries */
  int64_t queries;             /**< queries counted in the mean */
  int64_t skipped_queries;     /**< queries left out of the mean (always 0 for these metrics) */
  int64_t no_relevant_queries; /**< counted queries with no relevant item in the database (they score 0) */
} xmr_metric_result_t;

/**
 * Precision@K of result lists with label relevance (xmr::eval::precision_at_k; docs/eval.md): the
 * relevant items (sharing a class with the query) among the first min(K, N) entries of a row,
 * divided by min(K, N).
 * \param ranked        [num_queries x ranked_cols] int64: database row indices in [0, num_db),
 *                      best first, -1 padding only after a row's last index, no index twice in
 *                      a row; num_queries >= 1, ranked_cols >= min(K, num_db).
 * \param query_labels  [num_queries x num_classes] 0/1 bytes, num_classes >= 1.
 * \param db_labels     [num_db x num_classes] 0/1 bytes, num_db >= 1.
 * \param k             K >= 1 (K > num_db means num_db).
 * \param out           required.
 * \param out_per_query NULL, or [num_queries] doubles in input order.
 *
eturn XMR_OK, XMR_ERR_INVALID_ARGUMENT (NULL argument, a size, a label not 0/1, an entry of
 *         `ranked`: naming row, column and value), XMR_ERR_OUT_OF_MEMORY.
 */
XMR_API xmr_status_t xmr_precision_at_k(const int64_t* ranked, int64_t num_queries, int64_t ranked_cols,
                                        const uint8_t* query_labels, const uint8_t* db_labels, int64_t num_db,
                                        int64_t num_classes, int64_t k, xmr_metric_result_t* out,
                                        double* out_per_query);

/**
 * NDCG@K with label-overlap gain (xmr::eval::ndcg_at_k; docs/eval.md): gain = number of shared
 * classes, DCG@K = sum over the first min(K, N) entries of (2^gain - 1) / log2(rank + 1), IDCG
 * over the ideal order of all num_db items; a query with IDCG = 0 scores 0 and is counted.
 * Arguments and status codes as xmr_precision_at_k.
 */
XMR_API xmr_status_t xmr_ndcg_at_k(const int64_t* ranked, int64_t num_queries, int64_t ranked_cols,
                                   const uint8_t* query_labels, const uint8_t* db_labels, int64_t num_db,
                                   int64_t num_classes, int64_t k, xmr_metric_result_t* out, double* out_per_query);

/* ---------------------------------------------------------------------------------------------
 * Collections and the multi-stage pipeline (xmr/collection.h, xmr/pipeline.h, docs/pipeline.md).
 * A collection holds the items of one modality (images or texts) with 64-bit ids, a dense
 * embedding and/or a packed binary code per item. A pipeline call takes a shortlist of
 * `candidates` per query (by embeddings or codes), optionally re-scores it exactly from the stored
 * embeddings, optionally re-ranks it with a caller's scorer (a C function pointer), fuses the
 * stage scores and writes the best k per query. A cross-modal index pairs an image and a text
 * collection and searches either direction.
 * ------------------------------------------------------------------------------------------- */

/** Opaque collection (xmr::Collection). */
typedef struct xmr_collection xmr_collection_t;
/** Opaque pair of an image and a text collection in one embedding space (xmr::CrossModalIndex). */
typedef struct xmr_cross_modal xmr_cross_modal_t;

/** What stage 1 ranks by: an XMR_SHORTLIST_* value (those of xmr::ShortlistBy). */
typedef int32_t xmr_shortlist_t;
enum xmr_shortlist {
  XMR_SHORTLIST_EMBEDDINGS = 0,   /**< the collection's dense embeddings (its metric) */
  XMR_SHORTLIST_MULTI_VECTOR = 1, /**< its multi-vector items, reduced by options.reduce */
  XMR_SHORTLIST_CODES = 2         /**< Hamming distance over its codes; stage score 1 - 2 d / B */
};

/** What stage 2 re-scores the shortlist with: an XMR_RESCORE_* value (xmr::RescoreBy). */
typedef int32_t xmr_rescore_t;
enum xmr_rescore {
  XMR_RESCORE_NONE = 0,        /**< no stage 2 */
  XMR_RESCORE_EMBEDDINGS = 1,  /**< exact similarity from the stored embeddings */
  XMR_RESCORE_MULTI_VECTOR = 2 /**< exact multi-vector score from the stored vectors (options.reduce) */
};

/** How the final score is made from the stage scores: an XMR_FUSION_* value (xmr::FusionMode). */
typedef int32_t xmr_fusion_mode_t;
enum xmr_fusion_mode {
  XMR_FUSION_REPLACE = 0, /**< the score of the last stage that ran */
  XMR_FUSION_SUM = 1,     /**< re-rank score + (re-score, else shortlist score) (BLIP-2: ITM + ITC) */
  XMR_FUSION_WEIGHTED = 2 /**< shortlist_weight * s1 + rescore_weight * s2 + rerank_weight * s3 */
};

/** Direction of a cross-modal search: an XMR_DIRECTION_* value (xmr::Direction). */
typedef int32_t xmr_direction_t;
enum xmr_direction {
  XMR_DIRECTION_IMAGE_TO_TEXT = 0, /**< image queries, text results (i2t) */
  XMR_DIRECTION_TEXT_TO_IMAGE = 1  /**< text queries, image results (t2i) */
};

/** Score fusion (xmr::Fusion); the weights are used by XMR_FUSION_WEIGHTED only and must be finite. */
typedef struct xmr_fusion {
  xmr_fusion_mode_t mode;
  float shortlist_weight;
  float rescore_weight;
  float rerank_weight;
} xmr_fusion_t;

/**
 * Restricts a pipeline's results (xmr::Filter): to items that carry any of `any_labels`, all of
 * `all_labels` (label indices in [0, num_labels) of a collection with labels) and whose id is one
 * of `ids` (each in [0, 2^40)); each part applies only when its count is > 0 (a pointer may be
 * NULL when its count is 0). Applied inside stage 1: k results whenever k items pass. Borrowed
 * for the call.
 */
typedef struct xmr_filter {
  const int64_t* any_labels;
  int64_t num_any_labels;
  const int64_t* all_labels;
  int64_t num_all_labels;
  const int64_t* ids; /**< allowed ids (xmr::make_id_bitset of them) */
  int64_t num_ids;
} xmr_filter_t;

/**
 * One batch of (query, candidate) pairs given to a scorer (xmr::PairBatch). Every array has
 * `num_pairs` entries and is valid during the call only. The pairs of one query are contiguous,
 * in stage order (best similarity first).
 */
typedef struct xmr_pair_batch {
  int64_t num_pairs;            /**< >= 1 */
  const int64_t* query_rows;    /**< the query's row in the call's queries */
  const int64_t* query_ids;     /**< the query's id (the call's query ids), or -1 without them */
  const int64_t* candidate_ids; /**< the candidate's id in the searched collection */
  const float* similarity;      /**< the candidate's stage-2 score, or stage-1 score without stage 2 */
  int64_t batch_index;          /**< 0, 1, ... within the call */
} xmr_pair_batch_t;

/** Capacity of the `message` buffer a scorer gets (bytes, including the terminating NUL). */
#define XMR_SCORER_MESSAGE_SIZE 512

/**
 * A cross-encoder re-ranker (stage 3; xmr::PairScorer): writes a score for each pair of `pairs`
 * into out_scores[0 .. num_pairs - 1], higher is better, and returns 0. A non-zero return fails
 * the whole pipeline call with XMR_ERR_CALLBACK; the scorer may first write a NUL-terminated
 * reason into `message` (`message_size` = XMR_SCORER_MESSAGE_SIZE bytes, zero-filled; longer text
 * is cut), and xmr_last_error() then reads "scorer failed on batch B (N pairs of query rows
 * R0..R1): scorer returned <code>: <message>". A NaN score also fails the call
 * (XMR_ERR_CALLBACK). The collections are never modified by a pipeline call, failed or not.
 *
 * Threads: the scorer is called from the thread that called the pipeline and, when
 * `scorer_threads` > 1, also from up to scorer_threads - 1 threads that xmr starts for the call,
 * concurrently on different batches, so it (and what `user_data` points to) must be thread-safe
 * then. Every call returns before the pipeline call returns. It must not use the collection (or
 * cross-modal index) being searched: adds wait for running searches, which wait for the scorer.
 * It must return normally (no C++ exception or longjmp out of it).
 */
typedef int32_t (*xmr_scorer_fn)(void* user_data, const xmr_pair_batch_t* pairs, float* out_scores, char* message,
                                 size_t message_size);

/** Options of a pipeline call (xmr::PipelineOptions). Fill with xmr_pipeline_options_init, then set
 *  fields. Bad values are XMR_ERR_INVALID_ARGUMENT naming the field (`options.k (= 0) ...`). */
typedef struct xmr_pipeline_options {
  int64_t k;                  /**< final results per query, in [1, 2^20] (default 10) */
  int64_t candidates;         /**< shortlist size C per query, in [k, 2^20] (default 128) */
  xmr_shortlist_t shortlist;  /**< XMR_SHORTLIST_* (default EMBEDDINGS) */
  xmr_rescore_t rescore;      /**< XMR_RESCORE_* (default NONE) */
  xmr_scorer_fn scorer;       /**< stage 3, or NULL (default) */
  void* scorer_user_data;     /**< passed to every scorer call (default NULL); borrowed for the call */
  int64_t scorer_batch;       /**< at most this many pairs per scorer call, >= 1 (default 256) */
  int32_t listwise;           /**< nonzero: each scorer call gets whole queries (default 0) */
  int32_t scorer_threads;     /**< threads calling the scorer, in [1, 256] (default 1) */
  int64_t query_chunk;        /**< queries per chunk (stage 1 of the next overlaps the scorer); 0 = one chunk */
  xmr_fusion_t fusion;        /**< default {REPLACE, 0, 0, 1} */
  xmr_device_t device;        /**< of stage 1: DEFAULT (the collection's, default), AUTO, CPU or GPU */
  xmr_reduce_t reduce;        /**< of the multi-vector stages: XMR_REDUCE_* (default MAX_SIM) */
  int32_t group_by;           /**< nonzero: one result per group id (best fused score), default 0 */
  xmr_filter_t filter;        /**< default: all zero (no filter) */
  xmr_resources_t* resources; /**< borrowed for the call; NULL (default): the thread's default */
} xmr_pipeline_options_t;

/** Fills `*options` with the defaults above (those of xmr::PipelineOptions). NULL is a no-op. */
XMR_API void xmr_pipeline_options_init(xmr_pipeline_options_t* options);

/**
 * Makes an empty collection.
 * \param name      used in error messages (e.g. "images"); NULL means "collection". Copied.
 * \param dim       dimension of each item's embedding, or 0 for none; in [0, 2^31 - 1].
 * \param metric    XMR_METRIC_* of the embeddings.
 * \param storage   XMR_DTYPE_* the embeddings are stored as (the input is always float).
 * \param code_bits length of each item's binary code, or 0 for none; else a multiple of 8 in
 *                  [8, 4096]. At least one of dim and code_bits must be > 0.
 * \param device    default device of the searches: AUTO, CPU or GPU (not DEFAULT).
 * \param out_collection receives the new handle (free it with xmr_collection_free); required.
 * \return XMR_OK, XMR_ERR_INVALID_ARGUMENT (a bad value naming `options.<field>`, NULL
 *         out_collection), XMR_ERR_OUT_OF_MEMORY.
 */
XMR_API xmr_status_t xmr_collection_create(const char* name, int64_t dim, xmr_metric_t metric, xmr_dtype_t storage,
                                           int64_t code_bits, xmr_device_t device, xmr_collection_t** out_collection);

/** Releases a collection. NULL is a no-op. Must not race with other calls on it. */
XMR_API void xmr_collection_free(xmr_collection_t* collection);

/**
 * Appends `num_items` items: every field the collection stores must be given, and no other.
 * \param ids        NULL for sequential ids (largest id so far + 1, or 0 when empty), else
 *                   [num_items] ids in [0, 2^63 - 2], distinct and not stored yet.
 * \param embeddings [num_items x dim] finite floats when dim > 0 (under cosine no zero row), else NULL.
 * \param codes      [num_items x code_bits / 8] packed bytes when code_bits > 0, else NULL.
 * \return XMR_OK, XMR_ERR_INVALID_ARGUMENT (NULL handle, num_items < 0, a missing or extra field,
 *         a bad value or id: naming `items.<field>`), XMR_ERR_OUT_OF_MEMORY. On failure the
 *         collection is unchanged.
 */
XMR_API xmr_status_t xmr_collection_add(xmr_collection_t* collection, int64_t num_items, const int64_t* ids,
                                        const float* embeddings, const uint8_t* codes);

/** Removes the items with these ids (each stored and given once), as xmr_dense_index_remove. */
XMR_API xmr_status_t xmr_collection_remove(xmr_collection_t* collection, const int64_t* ids, int64_t num_ids);

/** Number of stored items into `*out_size`. XMR_ERR_INVALID_ARGUMENT on a NULL argument. */
XMR_API xmr_status_t xmr_collection_size(const xmr_collection_t* collection, int64_t* out_size);

/**
 * Runs the pipeline for a batch of queries against `collection` (xmr::retrieve). Results:
 * [num_queries x options->k], descending fused score, ties by ascending id; slots beyond what
 * the shortlist holds have id -1 and score -INFINITY.
 * \param query_embeddings [num_queries x dim] floats, required when a stage uses embeddings,
 *                         else ignored (may be NULL).
 * \param query_codes      [num_queries x code_bits / 8] bytes, required for XMR_SHORTLIST_CODES,
 *                         else ignored (may be NULL).
 * \param query_ids        NULL (the scorer sees -1), or [num_queries] ids handed to the scorer.
 * \param num_queries      >= 0; 0 writes nothing (the outputs may then be NULL).
 * \param options          required (see xmr_pipeline_options_t).
 * \param out_ids          [num_queries x k] int64.
 * \param out_scores       [num_queries x k] float fused scores.
 * \return XMR_OK, XMR_ERR_INVALID_ARGUMENT (NULL argument, an option or shape naming it, an empty
 *         collection, a stage the collection cannot serve), XMR_ERR_CALLBACK (the scorer returned
 *         non-zero or NaN), XMR_ERR_UNAVAILABLE, XMR_ERR_OUT_OF_MEMORY, XMR_ERR_DEVICE.
 *         Synchronous. The collection is never modified.
 */
XMR_API xmr_status_t xmr_collection_retrieve(const xmr_collection_t* collection, const float* query_embeddings,
                                             const uint8_t* query_codes, const int64_t* query_ids, int64_t num_queries,
                                             const xmr_pipeline_options_t* options, int64_t* out_ids,
                                             float* out_scores);

/**
 * Pairs an image and a text collection (xmr::CrossModalIndex), taking both over: on success
 * their items move into the new index, the two collection handles are released and `*images` and
 * `*texts` are set to NULL (freeing NULL is a no-op); on failure nothing changes.
 * \param images, texts pointers to two distinct collection handles; required.
 * \param out_index     receives the new handle (free it with xmr_cross_modal_free); required.
 * \return XMR_OK, XMR_ERR_INVALID_ARGUMENT (a NULL argument, the same handle twice),
 *         XMR_ERR_OUT_OF_MEMORY.
 */
XMR_API xmr_status_t xmr_cross_modal_create(xmr_collection_t** images, xmr_collection_t** texts,
                                            xmr_cross_modal_t** out_index);

/** Releases a cross-modal index and both its collections. NULL is a no-op. */
XMR_API void xmr_cross_modal_free(xmr_cross_modal_t* index);

/**
 * Cross-modal search by stored items of the query side: image ids for IMAGE_TO_TEXT, text ids
 * for TEXT_TO_IMAGE; their stored embeddings / codes are the queries (the query side must store
 * what the stages use, with the other side's dim / code_bits) and their ids go to the scorer.
 * \param query_ids [num_queries] stored ids of the query side; num_queries >= 0.
 * Results, options and status codes as xmr_collection_retrieve (an unknown id or a bad
 * direction is XMR_ERR_INVALID_ARGUMENT).
 */
XMR_API xmr_status_t xmr_cross_modal_search(const xmr_cross_modal_t* index, xmr_direction_t direction,
                                            const int64_t* query_ids, int64_t num_queries,
                                            const xmr_pipeline_options_t* options, int64_t* out_ids, float* out_scores);

/**
 * Cross-modal search by new query vectors: image queries against the texts (IMAGE_TO_TEXT) or
 * text queries against the images (TEXT_TO_IMAGE); exactly xmr_collection_retrieve on that side
 * (query_embeddings / query_codes have the searched side's dim / code_bits).
 */
XMR_API xmr_status_t xmr_cross_modal_search_vectors(const xmr_cross_modal_t* index, xmr_direction_t direction,
                                                    const float* query_embeddings, const uint8_t* query_codes,
                                                    const int64_t* query_ids, int64_t num_queries,
                                                    const xmr_pipeline_options_t* options, int64_t* out_ids,
                                                    float* out_scores);

/* ---------------------------------------------------------------------------------------------
 * Resources, `_ex` searches, index bytes
 * ------------------------------------------------------------------------------------------- */

/**
 * Makes execution resources (xmr::Resources). Never touches the GPU, so a CPU-only machine can
 * make one.
 * \param device_id CUDA device ordinal used by GPU work, >= 0.
 * \param stream    a caller-owned CUDA stream (a `cudaStream_t` passed as void*), borrowed: xmr
 *                  never destroys it, and it must outlive every call given these resources; NULL
 *                  for a stream xmr makes on first GPU use and owns.
 * \param out_resources receives the new handle (free it with xmr_resources_free); required.
 * \return XMR_OK, XMR_ERR_INVALID_ARGUMENT (device_id < 0, NULL out_resources), XMR_ERR_OUT_OF_MEMORY.
 */
XMR_API xmr_status_t xmr_resources_create(int32_t device_id, void* stream, xmr_resources_t** out_resources);

/** Releases resources (not the borrowed stream). NULL is a no-op. Must not race with a call using them. */
XMR_API void xmr_resources_free(xmr_resources_t* resources);

/**
 * Sets the scratch budget (bytes) of one search on the device it runs on (default 512 MiB).
 * Must not race with calls using these resources.
 * \return XMR_OK, XMR_ERR_INVALID_ARGUMENT (NULL handle, bytes < 1 MiB).
 */
XMR_API xmr_status_t xmr_resources_set_workspace_bytes(xmr_resources_t* resources, uint64_t bytes);

/** The scratch budget into `*out_bytes`. XMR_ERR_INVALID_ARGUMENT on a NULL argument. */
XMR_API xmr_status_t xmr_resources_workspace_bytes(const xmr_resources_t* resources, uint64_t* out_bytes);

/**
 * xmr_dense_index_search with per-call options (device, resources). `options` NULL means
 * xmr_search_options_init's defaults. Other arguments, results and status codes as
 * xmr_dense_index_search (a bad options->device is XMR_ERR_INVALID_ARGUMENT).
 */
XMR_API xmr_status_t xmr_dense_index_search_ex(const xmr_dense_index_t* index, const void* queries, xmr_dtype_t dtype,
                                               int64_t num_queries, int64_t k, const xmr_search_options_t* options,
                                               int64_t* out_ids, float* out_scores);

/** xmr_binary_index_search with per-call options, as xmr_dense_index_search_ex. */
XMR_API xmr_status_t xmr_binary_index_search_ex(const xmr_binary_index_t* index, const uint8_t* queries,
                                                int64_t num_queries, int64_t k, const xmr_search_options_t* options,
                                                int64_t* out_ids, int32_t* out_distances);

/**
 * Bytes handed out by xmr (xmr_*_to_bytes): `*out_data` is allocated by libxmr and must be
 * released with xmr_bytes_free (not free(): the library may use another allocator). One call,
 * so nothing changes between a size query and the fetch.
 */
XMR_API void xmr_bytes_free(uint8_t* data);

/**
 * The bytes xmr_dense_index_save writes (the same checksummed format, docs/index_format.md).
 * \param out_data receives a buffer of `*out_size` bytes (free it with xmr_bytes_free); required.
 * \param out_size required.
 * \return XMR_OK, XMR_ERR_INVALID_ARGUMENT (a NULL argument), XMR_ERR_OUT_OF_MEMORY. On failure
 *         `*out_data` and `*out_size` are left as they were.
 */
XMR_API xmr_status_t xmr_dense_index_to_bytes(const xmr_dense_index_t* index, uint8_t** out_data, size_t* out_size);

/**
 * The inverse of xmr_dense_index_to_bytes: as xmr_dense_index_load from memory (always copied;
 * messages name "bytes").
 * \param data [size] bytes; NULL only with size 0 (which is XMR_ERR_CORRUPT_DATA: too short).
 * \return XMR_OK, XMR_ERR_INVALID_ARGUMENT (NULL argument, bad option, a binary index),
 *         XMR_ERR_CORRUPT_DATA (truncated or damaged bytes), XMR_ERR_UNAVAILABLE, XMR_ERR_OUT_OF_MEMORY.
 */
XMR_API xmr_status_t xmr_dense_index_from_bytes(const uint8_t* data, size_t size, int verify, xmr_device_t device,
                                                xmr_dense_index_t** out_index);

/** The bytes xmr_binary_index_save writes, as xmr_dense_index_to_bytes. */
XMR_API xmr_status_t xmr_binary_index_to_bytes(const xmr_binary_index_t* index, uint8_t** out_data, size_t* out_size);

/** The inverse of xmr_binary_index_to_bytes, as xmr_dense_index_from_bytes (a dense index is
 *  XMR_ERR_INVALID_ARGUMENT). */
XMR_API xmr_status_t xmr_binary_index_from_bytes(const uint8_t* data, size_t size, int verify, xmr_device_t device,
                                                 xmr_binary_index_t** out_index);

/* ---------------------------------------------------------------------------------------------
 * Multi-vector index: exact late-interaction k-NN (xmr/multi_vector_index.h). A batch of n
 * multi-vector entries is `vectors` [total x D] floats with `offsets` [n + 1] int64: entry i is
 * rows offsets[i] .. offsets[i + 1] - 1; offsets start at 0, strictly increase and end at total.
 * `offsets` NULL means one vector per entry (total = n).
 * ------------------------------------------------------------------------------------------- */

/** Opaque multi-vector index (xmr::MultiVectorIndex). */
typedef struct xmr_multi_vector_index xmr_multi_vector_index_t;

/**
 * Makes an empty multi-vector index.
 * \param dim    vector dimension D >= 1.
 * \param metric XMR_METRIC_* of the per-vector similarity (cosine normalises every vector).
 * \param device default device of searches: AUTO, CPU or GPU (not DEFAULT).
 * \return XMR_OK, XMR_ERR_INVALID_ARGUMENT, XMR_ERR_OUT_OF_MEMORY.
 */
XMR_API xmr_status_t xmr_multi_vector_index_create(int64_t dim, xmr_metric_t metric, xmr_device_t device,
                                                   xmr_multi_vector_index_t** out_index);

/** Releases a multi-vector index. NULL is a no-op. Must not race with other calls on it. */
XMR_API void xmr_multi_vector_index_free(xmr_multi_vector_index_t* index);

/**
 * Appends `num_items` items.
 * \param vectors [total x D] finite floats (cosine: no zero vector).
 * \param offsets [num_items + 1] (see above), or NULL for one vector per item.
 * \param ids     NULL for sequential ids, else [num_items] ids as xmr_dense_index_add.
 * \return XMR_OK, XMR_ERR_INVALID_ARGUMENT (NULL argument, num_items < 0, offsets, values, ids),
 *         XMR_ERR_OUT_OF_MEMORY. On failure the index is unchanged.
 */
XMR_API xmr_status_t xmr_multi_vector_index_add(xmr_multi_vector_index_t* index, const float* vectors,
                                                const int64_t* offsets, int64_t num_items, const int64_t* ids);

/** Removes items by id, as xmr_dense_index_remove. */
XMR_API xmr_status_t xmr_multi_vector_index_remove(xmr_multi_vector_index_t* index, const int64_t* ids,
                                                   int64_t num_ids);

/** Number of stored items into `*out_size`. */
XMR_API xmr_status_t xmr_multi_vector_index_size(const xmr_multi_vector_index_t* index, int64_t* out_size);
/** Number of stored vectors (all items) into `*out_num_vectors`. */
XMR_API xmr_status_t xmr_multi_vector_index_num_vectors(const xmr_multi_vector_index_t* index,
                                                        int64_t* out_num_vectors);

/**
 * Batch multi-vector k-NN (descending score, ties by ascending id, padding -1 / -INFINITY).
 * \param vectors, offsets the queries (see above); num_queries >= 0 (0 writes nothing).
 * \param options NULL for the defaults; options->reduce picks MaxSim or SumMaxSim.
 * \param out_ids, out_scores [num_queries x k].
 * \return XMR_OK, XMR_ERR_INVALID_ARGUMENT (NULL argument, offsets, values, k, an empty index,
 *         an option), XMR_ERR_UNAVAILABLE, XMR_ERR_OUT_OF_MEMORY, XMR_ERR_DEVICE. Synchronous.
 */
XMR_API xmr_status_t xmr_multi_vector_index_search(const xmr_multi_vector_index_t* index, const float* vectors,
                                                   const int64_t* offsets, int64_t num_queries, int64_t k,
                                                   const xmr_search_options_t* options, int64_t* out_ids,
                                                   float* out_scores);

/* ---------------------------------------------------------------------------------------------
 * Collections with every field, the full pipeline, reading items back
 * ------------------------------------------------------------------------------------------- */

/** What a collection stores (xmr::CollectionOptions). Fill with xmr_collection_options_init. A
 *  field of 0 is absent; at least one of dim, multi_vector_dim and code_bits must be > 0. */
typedef struct xmr_collection_options {
  const char* name;         /**< for messages; NULL means "collection" (default); copied */
  int64_t dim;              /**< one embedding per item (default 0) */
  xmr_metric_t metric;      /**< of the embeddings and multi-vector similarity (default COSINE) */
  xmr_dtype_t storage;      /**< of the embeddings (default F32) */
  int64_t multi_vector_dim; /**< several vectors per item, of this dimension (default 0) */
  int64_t code_bits;        /**< a packed code per item: a multiple of 8 in [8, 4096] (default 0) */
  int64_t num_labels;       /**< multi-hot labels per item, in [1, 65536] (default 0) */
  int32_t groups;           /**< nonzero: a group id per item (default 0) */
  xmr_device_t device;      /**< default device of the searches (default AUTO; not DEFAULT) */
} xmr_collection_options_t;

/** Fills `*options` with the defaults above. NULL is a no-op. */
XMR_API void xmr_collection_options_init(xmr_collection_options_t* options);

/** Makes an empty collection from options (xmr_collection_create with every field). Status
 *  codes as xmr_collection_create (also a NULL options). */
XMR_API xmr_status_t xmr_collection_create_ex(const xmr_collection_options_t* options,
                                              xmr_collection_t** out_collection);

/** The collection's options into `*out_options`; `name` points into the collection (valid
 *  while it lives). XMR_ERR_INVALID_ARGUMENT on a NULL argument. */
XMR_API xmr_status_t xmr_collection_get_options(const xmr_collection_t* collection,
                                                xmr_collection_options_t* out_options);

/** Items to add (xmr::CollectionBatch): every field the collection stores must be given (not
 *  NULL when num_items > 0), every other field NULL. Borrowed for the call. */
typedef struct xmr_collection_batch {
  int64_t num_items;             /**< n >= 0 */
  const int64_t* ids;            /**< [n], or NULL for sequential ids */
  const float* embeddings;       /**< [n x dim] */
  const float* vectors;          /**< multi-vector items: [total x multi_vector_dim] */
  const int64_t* vector_offsets; /**< [n + 1], or NULL for one vector per item */
  const uint8_t* codes;          /**< [n x code_bits / 8] */
  const uint8_t* labels;         /**< [n x num_labels], each 0 or 1 */
  const int64_t* groups;         /**< [n] group ids, each >= 0 */
} xmr_collection_batch_t;

/**
 * Appends items with every field (xmr_collection_add with vectors, labels and groups).
 * \return XMR_OK, XMR_ERR_INVALID_ARGUMENT (NULL argument, a missing or extra field, a bad value
 *         or id: naming `items.<field>`), XMR_ERR_OUT_OF_MEMORY. On failure nothing changes.
 */
XMR_API xmr_status_t xmr_collection_add_batch(xmr_collection_t* collection, const xmr_collection_batch_t* items);

/**
 * The stored ids, ascending, by the caller-capacity convention: writes the first
 * min(capacity, size) ids into out_ids and the number stored into `*out_count` (more than
 * capacity: call again with a larger buffer).
 * \param out_ids [capacity] int64, may be NULL when capacity is 0.
 * \return XMR_OK, XMR_ERR_INVALID_ARGUMENT (NULL handle or out_count, capacity < 0, NULL out_ids
 *         with capacity > 0), XMR_ERR_OUT_OF_MEMORY.
 */
XMR_API xmr_status_t xmr_collection_ids(const xmr_collection_t* collection, int64_t* out_ids, int64_t capacity,
                                        int64_t* out_count);

/** `*out_contains` = 1 when `id` is stored, else 0. XMR_ERR_INVALID_ARGUMENT on a NULL argument. */
XMR_API xmr_status_t xmr_collection_contains(const xmr_collection_t* collection, int64_t id, int32_t* out_contains);

/**
 * The stored embeddings of `ids` into out_embeddings [num_ids x dim] floats (normalised under
 * cosine, fp16 storage widened).
 * \return XMR_OK, XMR_ERR_INVALID_ARGUMENT (NULL argument, num_ids < 0, an unknown id, a
 *         collection without embeddings), XMR_ERR_OUT_OF_MEMORY.
 */
XMR_API xmr_status_t xmr_collection_embeddings_of(const xmr_collection_t* collection, const int64_t* ids,
                                                  int64_t num_ids, float* out_embeddings);
/** The stored codes of `ids` into out_codes [num_ids x code_bits / 8], as embeddings_of. */
XMR_API xmr_status_t xmr_collection_codes_of(const xmr_collection_t* collection, const int64_t* ids, int64_t num_ids,
                                             uint8_t* out_codes);
/** The labels of `ids` into out_labels [num_ids x num_labels] 0/1 bytes, as embeddings_of. */
XMR_API xmr_status_t xmr_collection_labels_of(const xmr_collection_t* collection, const int64_t* ids, int64_t num_ids,
                                              uint8_t* out_labels);
/** The group ids of `ids` into out_groups [num_ids], as embeddings_of. */
XMR_API xmr_status_t xmr_collection_groups_of(const xmr_collection_t* collection, const int64_t* ids, int64_t num_ids,
                                              int64_t* out_groups);

/** Queries of a pipeline call (xmr::Queries): given by what the stages use, the others NULL.
 *  Borrowed for the call. */
typedef struct xmr_queries {
  int64_t num_queries;           /**< Q >= 0 */
  const float* embeddings;       /**< [Q x dim] of the searched collection */
  const float* vectors;          /**< multi-vector queries: [total x multi_vector_dim] */
  const int64_t* vector_offsets; /**< [Q + 1], or NULL for one vector per query */
  const uint8_t* codes;          /**< [Q x code_bits / 8] */
  const int64_t* ids;            /**< [Q] ids handed to the scorer, or NULL (-1) */
} xmr_queries_t;

/** Timings (seconds, wall clock) and counts of a pipeline call (xmr::PipelineStats). */
typedef struct xmr_pipeline_stats {
  double shortlist_seconds, rescore_seconds, rerank_seconds, fusion_seconds, total_seconds;
  int64_t filtered_items; /**< items that pass the filter (-1: no filter) */
  int64_t shortlisted;    /**< candidates found by stage 1 (all queries) */
  int64_t rescored;       /**< pairs re-scored by stage 2 */
  int64_t reranked;       /**< pairs scored by stage 3 */
  int64_t scorer_calls;   /**< batches given to the scorer */
} xmr_pipeline_stats_t;

/**
 * Where a pipeline call writes its results: caller buffers of [Q x k] each (k = options->k).
 * Only ids and scores are required (when Q > 0); every other pointer NULL means "not wanted".
 */
typedef struct xmr_pipeline_output {
  int64_t* ids;            /**< descending fused score, ties by ascending id; -1 padding */
  float* scores;           /**< fused scores; -INFINITY padding */
  int64_t* groups;         /**< group ids (options->group_by only: else XMR_ERR_INVALID_ARGUMENT); -1 padding */
  float* shortlist_scores; /**< stage-1 score of each result; NaN in padding */
  float* rescore_scores;   /**< stage-2 score; all NaN when stage 2 did not run */
  float* rerank_scores;    /**< stage-3 score; all NaN without a scorer */
  xmr_pipeline_stats_t* stats;
} xmr_pipeline_output_t;

/**
 * The pipeline with every query kind and output (xmr::retrieve): multi-vector stages, filters,
 * group-by, stage scores, statistics and resources.
 * \return as xmr_collection_retrieve (also: NULL queries or out, a bad filter or group_by on a
 *         collection without groups, out->groups without group_by).
 */
XMR_API xmr_status_t xmr_collection_retrieve_ex(const xmr_collection_t* collection, const xmr_queries_t* queries,
                                                const xmr_pipeline_options_t* options,
                                                const xmr_pipeline_output_t* out);

/** xmr_cross_modal_search (by stored ids of the query side) with every output, as
 *  xmr_collection_retrieve_ex. */
XMR_API xmr_status_t xmr_cross_modal_search_ex(const xmr_cross_modal_t* index, xmr_direction_t direction,
                                               const int64_t* query_ids, int64_t num_queries,
                                               const xmr_pipeline_options_t* options, const xmr_pipeline_output_t* out);

/** xmr_cross_modal_search_vectors with every query kind and output, as xmr_collection_retrieve_ex. */
XMR_API xmr_status_t xmr_cross_modal_search_vectors_ex(const xmr_cross_modal_t* index, xmr_direction_t direction,
                                                       const xmr_queries_t* queries,
                                                       const xmr_pipeline_options_t* options,
                                                       const xmr_pipeline_output_t* out);

/**
 * A borrowed handle on one collection of a cross-modal index (images for IMAGE_TO_TEXT's query
 * side, i.e. XMR_DIRECTION_IMAGE_TO_TEXT selects the images, TEXT_TO_IMAGE the texts), for
 * adding, removing and reading items after pairing with every xmr_collection_* function.
 * Owned by the index: valid until xmr_cross_modal_free; xmr_collection_free on it is a no-op and
 * xmr_cross_modal_create rejects it.
 * \param side XMR_DIRECTION_IMAGE_TO_TEXT (images) or XMR_DIRECTION_TEXT_TO_IMAGE (texts).
 * \return XMR_OK, XMR_ERR_INVALID_ARGUMENT (NULL argument, a bad side).
 */
XMR_API xmr_status_t xmr_cross_modal_collection(xmr_cross_modal_t* index, xmr_direction_t side,
                                                xmr_collection_t** out_collection);

/* ---------------------------------------------------------------------------------------------
 * More metrics
 * ------------------------------------------------------------------------------------------- */

/**
 * Recall@K against a ground-truth neighbour set (xmr::eval::neighbor_recall_at_k): |first K of a
 * row of `ranked` & the row of `ground_truth`| / |the row of ground_truth|; a query with an empty
 * ground-truth row is skipped (per-query value NaN, counted in skipped_queries).
 * \param ranked        [num_queries x ranked_cols] int64 indices >= 0, -1 padding at the end, no
 *                      repeats; num_queries >= 1, ranked_cols >= k.
 * \param ground_truth  [num_queries x gt_cols] int64, same rules, gt_cols >= 1.
 * \param k             in [1, ranked_cols].
 * \param out           required; out_per_query NULL or [num_queries].
 * \return XMR_OK, XMR_ERR_INVALID_ARGUMENT (NULL argument, a size, k, an entry: naming row,
 *         column and value; every ground-truth row empty), XMR_ERR_OUT_OF_MEMORY.
 */
XMR_API xmr_status_t xmr_neighbor_recall_at_k(const int64_t* ranked, int64_t num_queries, int64_t ranked_cols,
                                              const int64_t* ground_truth, int64_t gt_cols, int64_t k,
                                              xmr_metric_result_t* out, double* out_per_query);

/**
 * PR curve over Hamming radius r = 0..B, B = 8 * code_bytes (xmr::eval::pr_curve_hamming;
 * docs/eval.md). Each output is a caller buffer of B + 1 entries (index r), NULL = not wanted.
 * \param out_precision, out_recall             DCMH pr_curve's mean over queries with a hit at r.
 * \param out_queries_with_hit                  int64: queries with relevant items and a hit at r.
 * \param out_pooled_precision, out_pooled_recall  pooled over all pairs (calcPreRecRadiusLabel).
 * \param out_no_relevant_queries               NULL, or one int64: queries with no relevant item.
 * Inputs and status codes as xmr_map_hamming.
 */
XMR_API xmr_status_t xmr_pr_curve_hamming(const uint8_t* query_codes, int64_t num_queries, const uint8_t* db_codes,
                                          int64_t num_db, int64_t code_bytes, const uint8_t* query_labels,
                                          const uint8_t* db_labels, int64_t num_classes, double* out_precision,
                                          double* out_recall, int64_t* out_queries_with_hit,
                                          double* out_pooled_precision, double* out_pooled_recall,
                                          int64_t* out_no_relevant_queries);

/* ---------------------------------------------------------------------------------------------
 * Binarisers: float embeddings to packed codes (xmr/binarize.h, docs/binarize.md). Immutable:
 * every function may be called concurrently on one binariser.
 * ------------------------------------------------------------------------------------------- */

/** Opaque binariser (xmr::Binarizer). */
typedef struct xmr_binarizer xmr_binarizer_t;

/** How a binariser was made: an XMR_BINARIZER_* value (those of xmr::BinarizerKind). */
typedef int32_t xmr_binarizer_kind_t;
enum xmr_binarizer_kind {
  XMR_BINARIZER_SIGN = 0,
  XMR_BINARIZER_SIGN_MEDIAN = 1,
  XMR_BINARIZER_LSH = 2,
  XMR_BINARIZER_ITQ = 3,
  XMR_BINARIZER_CROSS_MODAL_ITQ = 4
};

/** Options of xmr_binarizer_itq and xmr_cross_modal_itq_train (xmr::ItqOptions,
 *  xmr::CrossModalItqOptions). Fill with xmr_itq_options_init. */
typedef struct xmr_itq_options {
  int64_t iterations;       /**< in [0, 100000] (default 50) */
  uint64_t seed;            /**< of the random initial rotation (default 0) */
  double regularization;    /**< cross-modal only: ridge, in [0, 1e6] (default 1e-4) */
  double correlation_power; /**< cross-modal only: in [0, 16] (default 2) */
} xmr_itq_options_t;

/** Fills `*options` with the defaults above. NULL is a no-op. */
XMR_API void xmr_itq_options_init(xmr_itq_options_t* options);

/** Sign binariser: B = dim bits, bit j = [x_j > 0]; dim a multiple of 8 in [8, 4096]. */
XMR_API xmr_status_t xmr_binarizer_sign(int64_t dim, xmr_binarizer_t** out_binarizer);
/** Sign against per-dimension medians of `train` [n x dim] (n >= 2, finite). */
XMR_API xmr_status_t xmr_binarizer_sign_median(const float* train, int64_t n, int64_t dim,
                                               xmr_binarizer_t** out_binarizer);
/** Random-hyperplane LSH of `dim` inputs and `bits` bits (a multiple of 8 in [8, 4096]) from `seed`. */
XMR_API xmr_status_t xmr_binarizer_lsh(int64_t dim, int64_t bits, uint64_t seed, xmr_binarizer_t** out_binarizer);
/** LSH with dim = train's columns, centred on train's column means when `center` is nonzero. */
XMR_API xmr_status_t xmr_binarizer_lsh_train(const float* train, int64_t n, int64_t dim, int64_t bits, uint64_t seed,
                                             int32_t center, xmr_binarizer_t** out_binarizer);
/** ITQ trained on `train` [n x dim] (n >= 2, bits <= dim); `options` NULL for the defaults. */
XMR_API xmr_status_t xmr_binarizer_itq(const float* train, int64_t n, int64_t dim, int64_t bits,
                                       const xmr_itq_options_t* options, xmr_binarizer_t** out_binarizer);

/** Releases a binariser. NULL is a no-op. */
XMR_API void xmr_binarizer_free(xmr_binarizer_t* binarizer);

/**
 * Encodes rows into packed codes.
 * \param x         [n x D] finite floats; n >= 0.
 * \param out_codes [n x B/8] bytes.
 * \return XMR_OK, XMR_ERR_INVALID_ARGUMENT (NULL argument, n < 0, a non-finite value: naming the
 *         row, column and value; nothing is written then), XMR_ERR_OUT_OF_MEMORY.
 */
XMR_API xmr_status_t xmr_binarizer_encode(const xmr_binarizer_t* binarizer, const float* x, int64_t n,
                                          uint8_t* out_codes);

/** Input dimension D. */
XMR_API xmr_status_t xmr_binarizer_dim(const xmr_binarizer_t* binarizer, int64_t* out_dim);
/** Code length B in bits. */
XMR_API xmr_status_t xmr_binarizer_bits(const xmr_binarizer_t* binarizer, int64_t* out_bits);
/** Code length B / 8 in bytes. */
XMR_API xmr_status_t xmr_binarizer_code_bytes(const xmr_binarizer_t* binarizer, int64_t* out_code_bytes);
/** The kind, an XMR_BINARIZER_* value. */
XMR_API xmr_status_t xmr_binarizer_kind(const xmr_binarizer_t* binarizer, xmr_binarizer_kind_t* out_kind);

/** Saves atomically (docs/binarize.md). XMR_ERR_INVALID_ARGUMENT, XMR_ERR_IO (naming the path). */
XMR_API xmr_status_t xmr_binarizer_save(const xmr_binarizer_t* binarizer, const char* path);
/** Loads a file of xmr_binarizer_save. XMR_ERR_IO, XMR_ERR_CORRUPT_DATA (naming the path and what
 *  is wrong; also a cross-modal pair file), XMR_ERR_INVALID_ARGUMENT, XMR_ERR_OUT_OF_MEMORY. */
XMR_API xmr_status_t xmr_binarizer_load(const char* path, xmr_binarizer_t** out_binarizer);
/** The bytes xmr_binarizer_save writes, in a buffer freed with xmr_bytes_free (as xmr_dense_index_to_bytes). */
XMR_API xmr_status_t xmr_binarizer_to_bytes(const xmr_binarizer_t* binarizer, uint8_t** out_data, size_t* out_size);
/** The inverse of xmr_binarizer_to_bytes; XMR_ERR_CORRUPT_DATA naming "bytes". */
XMR_API xmr_status_t xmr_binarizer_from_bytes(const uint8_t* data, size_t size, xmr_binarizer_t** out_binarizer);

/**
 * Cross-modal ITQ (xmr::train_cross_modal_itq): an image and a text binariser of `bits` bits
 * whose codes compare by Hamming distance across modalities.
 * \param image_train [n x image_dim], text_train [n x text_dim]: paired rows, finite, n >= 2,
 *                    bits <= min(image_dim, text_dim).
 * \param options     NULL for the defaults.
 * \param out_image, out_text receive two new handles (each freed with xmr_binarizer_free); both
 *                    are set only on success.
 * \return XMR_OK, XMR_ERR_INVALID_ARGUMENT, XMR_ERR_OUT_OF_MEMORY, XMR_ERR_INTERNAL (LAPACK).
 */
XMR_API xmr_status_t xmr_cross_modal_itq_train(const float* image_train, int64_t image_dim, const float* text_train,
                                               int64_t text_dim, int64_t n, int64_t bits,
                                               const xmr_itq_options_t* options, xmr_binarizer_t** out_image,
                                               xmr_binarizer_t** out_text);

/** Saves a pair (image first) to one file; the two must have the same bits (else
 *  XMR_ERR_INVALID_ARGUMENT). XMR_ERR_IO naming the path. */
XMR_API xmr_status_t xmr_cross_modal_binarizer_save(const xmr_binarizer_t* image, const xmr_binarizer_t* text,
                                                    const char* path);
/** Loads a pair saved by xmr_cross_modal_binarizer_save (a single-binariser file is
 *  XMR_ERR_CORRUPT_DATA); both handles are set only on success. */
XMR_API xmr_status_t xmr_cross_modal_binarizer_load(const char* path, xmr_binarizer_t** out_image,
                                                    xmr_binarizer_t** out_text);

#ifdef __cplusplus
}
#endif

#endif /* XMR_XMR_C_H */
