/* The C ABI (xmr/xmr_c.h) from plain C11: every entry point, every error path we can provoke,
 * and results compared with brute force computed here (inner product and Hamming on small
 * integer data, so scores are exact and the tie rule (ascending id) is checked too). Runs under
 * ASan with leak detection in CI: every handle made here is freed. */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "xmr/xmr_c.h"

static int g_failures = 0;
static const uint64_t kSeed = 20261126u;

#define CHECK(cond)                                                                                           \
  do {                                                                                                        \
    if (!(cond)) {                                                                                            \
      ++g_failures;                                                                                           \
      fprintf(stderr, "%s:%d: CHECK(%s) failed (seed %llu); last error: \"%s\"\n", __FILE__, __LINE__, #cond, \
              (unsigned long long)kSeed, xmr_last_error());                                                   \
    }                                                                                                         \
  } while (0)

/* The call returns `status` and, on an error, the last error contains `text` (the argument and
 * its value). */
#define EXPECT_STATUS(call, status, text)                                                                         \
  do {                                                                                                            \
    const xmr_status_t got_ = (call);                                                                             \
    if (got_ != (status) || strstr(xmr_last_error(), (text)) == NULL) {                                           \
      ++g_failures;                                                                                               \
      fprintf(stderr, "%s:%d: %s returned %s, expected %s with \"%s\"; last error: \"%s\"\n", __FILE__, __LINE__, \
              #call, xmr_status_string(got_), xmr_status_string(status), (text), xmr_last_error());               \
    }                                                                                                             \
  } while (0)

#define EXPECT_OK(call) EXPECT_STATUS(call, XMR_OK, "")
#define EXPECT_INVALID(call, text) EXPECT_STATUS(call, XMR_ERR_INVALID_ARGUMENT, text)

/* ---- data and brute force ------------------------------------------------------------------- */

static uint64_t g_rng = kSeed;
static uint32_t next_u32(void) {
  g_rng = g_rng * 6364136223846793005ull + 1442695040888963407ull;
  return (uint32_t)(g_rng >> 33);
}
/* Integers in [-3, 3]: inner products are exact in float, and ties are frequent. */
static void fill_small_ints(float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] = (float)((int)(next_u32() % 7u) - 3);
}
static void fill_uniform(float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] = (float)(next_u32() % 20001u) / 10000.0f - 1.0f;
}
static void fill_bytes(uint8_t* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] = (uint8_t)next_u32();
}
/* The binary16 bits of an integer in [-3, 3]. */
static uint16_t small_int_to_half(float v) {
  static const uint16_t magnitude[4] = {0x0000, 0x3C00, 0x4000, 0x4200};
  const int m = (int)fabsf(v);
  return (uint16_t)(magnitude[m] | (v < 0 ? 0x8000 : 0));
}

static double dot(const float* a, const float* b, int64_t d) {
  double s = 0;
  for (int64_t i = 0; i < d; ++i) s += (double)a[i] * (double)b[i];
  return s;
}
static int hamming(const uint8_t* a, const uint8_t* b, int64_t bytes) {
  int s = 0;
  for (int64_t i = 0; i < bytes; ++i) {
    for (unsigned x = (unsigned)(a[i] ^ b[i]); x != 0; x &= x - 1) ++s;
  }
  return s;
}

/* Indices 0..n-1 ordered by ascending key, ties by ascending index (insertion sort: stable). */
static void rank_by_key(const double* key, int64_t n, int64_t* order) {
  for (int64_t i = 0; i < n; ++i) {
    int64_t j = i;
    while (j > 0 && key[order[j - 1]] > key[i]) {
      order[j] = order[j - 1];
      --j;
    }
    order[j] = i;
  }
}

/* The expected k-NN of one query from per-item keys (ascending is better), item ids `ids`
 * (ascending, as xmr stores them) and `alive` flags: [k] ids and keys, padded with -1. */
static void expected_topk(const double* key, const int64_t* ids, const int* alive, int64_t n, int64_t k,
                          int64_t* out_ids, double* out_keys) {
  int64_t* order = malloc((size_t)n * sizeof *order);
  rank_by_key(key, n, order);
  int64_t j = 0;
  for (int64_t r = 0; r < n && j < k; ++r) {
    if (!alive[order[r]]) continue;
    out_ids[j] = ids[order[r]];
    out_keys[j] = key[order[r]];
    ++j;
  }
  for (; j < k; ++j) out_ids[j] = -1;
  free(order);
}

/* ---- core ------------------------------------------------------------------------------------ */

static void test_core(void) {
  CHECK(strcmp(xmr_last_error(), "") == 0);
  CHECK(strlen(xmr_version()) >= 5);
  CHECK(strcmp(xmr_status_string(XMR_OK), "Ok") == 0);
  CHECK(strcmp(xmr_status_string(XMR_ERR_INVALID_ARGUMENT), "InvalidArgument") == 0);
  CHECK(strcmp(xmr_status_string(XMR_ERR_OUT_OF_MEMORY), "OutOfMemory") == 0);
  CHECK(strcmp(xmr_status_string(XMR_ERR_IO), "Io") == 0);
  CHECK(strcmp(xmr_status_string(XMR_ERR_CORRUPT_DATA), "CorruptData") == 0);
  CHECK(strcmp(xmr_status_string(XMR_ERR_DEVICE), "Device") == 0);
  CHECK(strcmp(xmr_status_string(XMR_ERR_UNAVAILABLE), "Unavailable") == 0);
  CHECK(strcmp(xmr_status_string(XMR_ERR_INTERNAL), "Internal") == 0);
  CHECK(strcmp(xmr_status_string(XMR_ERR_CALLBACK), "Callback") == 0);
  CHECK(strcmp(xmr_status_string((xmr_status_t)99), "Unknown") == 0);
  CHECK(strcmp(xmr_status_string((xmr_status_t)-1), "Unknown") == 0);
  CHECK(xmr_gpu_count() >= 0);

  size_t length = 0;
  EXPECT_OK(xmr_device_summary(NULL, 0, &length));
  CHECK(length > 3);
  char* full = malloc(length + 1);
  size_t again = 0;
  EXPECT_OK(xmr_device_summary(full, length + 1, &again));
  CHECK(again == length && strlen(full) == length && strncmp(full, "CPU", 3) == 0);
  char small[4];
  EXPECT_OK(xmr_device_summary(small, sizeof small, &again));
  CHECK(again == length && strlen(small) == 3 && strncmp(small, full, 3) == 0);
  free(full);
  EXPECT_INVALID(xmr_device_summary(small, sizeof small, NULL), "out_length (= null)");
  EXPECT_INVALID(xmr_device_summary(NULL, 10, &length), "buffer (= null) with capacity (= 10)");
  /* A success clears the message. */
  EXPECT_OK(xmr_device_summary(NULL, 0, &length));
  CHECK(strcmp(xmr_last_error(), "") == 0);
}

/* The last error is per thread: a failure on another thread leaves this thread's message. */
static void* fail_on_another_thread(void* arg) {
  char* seen = arg;
  int ok = strcmp(xmr_last_error(), "") == 0;
  xmr_binary_index_t* index = NULL;
  ok = ok && xmr_binary_index_create(12, XMR_DEVICE_CPU, &index) == XMR_ERR_INVALID_ARGUMENT && index == NULL;
  snprintf(seen, 256, "%s%s", ok ? "" : "BAD ", xmr_last_error());
  return NULL;
}

static void test_last_error_per_thread(void) {
  xmr_dense_index_t* index = NULL;
  EXPECT_INVALID(xmr_dense_index_create(0, XMR_METRIC_COSINE, XMR_DTYPE_F32, XMR_DEVICE_CPU, &index), "dim (= 0)");
  CHECK(index == NULL);
  char seen[256] = {0};
  pthread_t thread;
  CHECK(pthread_create(&thread, NULL, fail_on_another_thread, seen) == 0);
  CHECK(pthread_join(thread, NULL) == 0);
  CHECK(strncmp(seen, "BAD", 3) != 0 && strstr(seen, "bits (= 12)") != NULL);
  CHECK(strstr(xmr_last_error(), "dim (= 0)") != NULL);
}

/* ---- dense index ----------------------------------------------------------------------------- */

enum { kDim = 8, kBase = 40, kQueries = 6 };

/* Searches `index` with [kQueries x kDim] `queries` and compares with the brute-force inner
 * product over `base` (rows with ids `ids`, only the `alive` ones): exact ids and scores. */
static void check_dense_ip(const xmr_dense_index_t* index, const float* queries, const float* base, const int64_t* ids,
                           const int* alive, int64_t n, int64_t k, xmr_dtype_t query_dtype) {
  int64_t* got_ids = malloc((size_t)(kQueries * k) * sizeof *got_ids);
  float* got_scores = malloc((size_t)(kQueries * k) * sizeof *got_scores);
  int64_t* want_ids = malloc((size_t)k * sizeof *want_ids);
  double* want_keys = malloc((size_t)k * sizeof *want_keys);
  double key[kBase];
  uint16_t half_queries[kQueries * kDim];
  for (int i = 0; i < kQueries * kDim; ++i) half_queries[i] = small_int_to_half(queries[i]);
  const void* q = query_dtype == XMR_DTYPE_F16 ? (const void*)half_queries : (const void*)queries;
  EXPECT_OK(xmr_dense_index_search(index, q, query_dtype, kQueries, k, XMR_DEVICE_DEFAULT, got_ids, got_scores));
  for (int64_t qi = 0; qi < kQueries; ++qi) {
    for (int64_t i = 0; i < n; ++i) key[i] = -dot(queries + qi * kDim, base + i * kDim, kDim);
    expected_topk(key, ids, alive, n, k, want_ids, want_keys);
    for (int64_t j = 0; j < k; ++j) {
      CHECK(got_ids[qi * k + j] == want_ids[j]);
      if (want_ids[j] >= 0) {
        CHECK(got_scores[qi * k + j] == (float)-want_keys[j]);
      } else {
        CHECK(isinf(got_scores[qi * k + j]) && got_scores[qi * k + j] < 0);
      }
    }
  }
  free(got_ids);
  free(got_scores);
  free(want_ids);
  free(want_keys);
}

static int64_t dense_size(const xmr_dense_index_t* index) {
  int64_t size = -1;
  EXPECT_OK(xmr_dense_index_size(index, &size));
  return size;
}

static void test_dense_results(void) {
  float base[kBase * kDim], queries[kQueries * kDim];
  fill_small_ints(base, kBase * kDim);
  fill_small_ints(queries, kQueries * kDim);
  int64_t seq_ids[kBase], given_ids[kBase];
  int alive[kBase];
  for (int i = 0; i < kBase; ++i) {
    seq_ids[i] = i;
    alive[i] = 1;
  }

  /* fp32 storage, sequential ids, fp32 and fp16 queries (exact for small integers). */
  xmr_dense_index_t* index = NULL;
  EXPECT_OK(xmr_dense_index_create(kDim, XMR_METRIC_INNER_PRODUCT, XMR_DTYPE_F32, XMR_DEVICE_CPU, &index));
  EXPECT_OK(xmr_dense_index_add(index, base, XMR_DTYPE_F32, kBase / 2, NULL));
  EXPECT_OK(xmr_dense_index_add(index, base + (kBase / 2) * kDim, XMR_DTYPE_F32, kBase / 2, NULL));
  EXPECT_OK(xmr_dense_index_add(index, NULL, XMR_DTYPE_F32, 0, NULL));
  int64_t dim = 0;
  EXPECT_OK(xmr_dense_index_dim(index, &dim));
  CHECK(dim == kDim && dense_size(index) == kBase);
  check_dense_ip(index, queries, base, seq_ids, alive, kBase, 10, XMR_DTYPE_F32);
  check_dense_ip(index, queries, base, seq_ids, alive, kBase, 10, XMR_DTYPE_F16);
  check_dense_ip(index, queries, base, seq_ids, alive, kBase, kBase + 3, XMR_DTYPE_F32); /* padding */
  /* No queries: nothing written, the outputs may be NULL. */
  EXPECT_OK(xmr_dense_index_search(index, NULL, XMR_DTYPE_F32, 0, 5, XMR_DEVICE_CPU, NULL, NULL));

  /* Remove, then the removed ids never come back; removing nothing is fine. */
  const int64_t removed[3] = {7, 0, 31};
  EXPECT_OK(xmr_dense_index_remove(index, removed, 3));
  EXPECT_OK(xmr_dense_index_remove(index, NULL, 0));
  for (int i = 0; i < 3; ++i) alive[removed[i]] = 0;
  CHECK(dense_size(index) == kBase - 3);
  check_dense_ip(index, queries, base, seq_ids, alive, kBase, 12, XMR_DTYPE_F32);
  xmr_dense_index_free(index);
  for (int i = 0; i < 3; ++i) alive[removed[i]] = 1;

  /* fp16 storage with caller ids given in descending order: xmr keeps ids ascending, so ties go
   * to the smaller id, i.e. the later row. Brute force sees the rows in ascending id order. */
  float reversed[kBase * kDim];
  for (int i = 0; i < kBase; ++i) {
    given_ids[i] = 1000 + 3 * (kBase - 1 - i);
    memcpy(reversed + (kBase - 1 - i) * kDim, base + i * kDim, sizeof(float) * kDim);
  }
  uint16_t half_base[kBase * kDim];
  for (int i = 0; i < kBase * kDim; ++i) half_base[i] = small_int_to_half(base[i]);
  int64_t ascending_ids[kBase];
  for (int i = 0; i < kBase; ++i) ascending_ids[i] = 1000 + 3 * i;
  EXPECT_OK(xmr_dense_index_create(kDim, XMR_METRIC_INNER_PRODUCT, XMR_DTYPE_F16, XMR_DEVICE_AUTO, &index));
  EXPECT_OK(xmr_dense_index_add(index, half_base, XMR_DTYPE_F16, kBase, given_ids));
  check_dense_ip(index, queries, reversed, ascending_ids, alive, kBase, 9, XMR_DTYPE_F32);
  xmr_dense_index_free(index);
  xmr_dense_index_free(NULL);
}

/* A cosine fp32 index over `n` random rows of `base`; random `queries` too. */
static xmr_dense_index_t* cosine_index(float* base, int64_t n, float* queries) {
  fill_uniform(base, n * kDim);
  fill_uniform(queries, kQueries * kDim);
  xmr_dense_index_t* index = NULL;
  EXPECT_OK(xmr_dense_index_create(kDim, XMR_METRIC_COSINE, XMR_DTYPE_F32, XMR_DEVICE_CPU, &index));
  EXPECT_OK(xmr_dense_index_add(index, base, XMR_DTYPE_F32, n, NULL));
  return index;
}

/* Cosine: scores within float rounding of the double brute force; ids equal where apart. */
static void test_dense_cosine(void) {
  enum { n = 50, k = 7 };
  float base[n * kDim], queries[kQueries * kDim];
  xmr_dense_index_t* index = cosine_index(base, n, queries);
  int64_t got_ids[kQueries * k], ids[n], want_ids[k];
  float got_scores[kQueries * k];
  double key[n], want_keys[k];
  int alive[n];
  for (int i = 0; i < n; ++i) {
    ids[i] = i;
    alive[i] = 1;
  }
  EXPECT_OK(xmr_dense_index_search(index, queries, XMR_DTYPE_F32, kQueries, k, XMR_DEVICE_CPU, got_ids, got_scores));
  for (int q = 0; q < kQueries; ++q) {
    const double qn = sqrt(dot(queries + q * kDim, queries + q * kDim, kDim));
    for (int i = 0; i < n; ++i) {
      key[i] =
          -dot(queries + q * kDim, base + i * kDim, kDim) / (qn * sqrt(dot(base + i * kDim, base + i * kDim, kDim)));
    }
    expected_topk(key, ids, alive, n, k, want_ids, want_keys);
    for (int j = 0; j < k; ++j) {
      CHECK(fabs(got_scores[q * k + j] + want_keys[j]) < 1e-5);
      const int apart =
          (j == 0 || want_keys[j] - want_keys[j - 1] > 1e-4) && (j == k - 1 || want_keys[j + 1] - want_keys[j] > 1e-4);
      CHECK(!apart || got_ids[q * k + j] == want_ids[j]);
    }
  }
  xmr_dense_index_free(index);
}

/* A search's ids and scores, for before/after comparisons. */
typedef struct {
  int64_t ids[kQueries * 5];
  float scores[kQueries * 5];
} dense_snapshot;

static dense_snapshot dense_snap(const xmr_dense_index_t* index, const float* queries) {
  dense_snapshot s;
  memset(&s, 0, sizeof s);
  EXPECT_OK(xmr_dense_index_search(index, queries, XMR_DTYPE_F32, kQueries, 5, XMR_DEVICE_CPU, s.ids, s.scores));
  return s;
}

static void test_dense_errors(void) {
  xmr_dense_index_t* index = NULL;
  EXPECT_INVALID(xmr_dense_index_create(0, XMR_METRIC_COSINE, XMR_DTYPE_F32, XMR_DEVICE_CPU, &index), "dim (= 0)");
  EXPECT_INVALID(xmr_dense_index_create(-4, XMR_METRIC_COSINE, XMR_DTYPE_F32, XMR_DEVICE_CPU, &index), "dim (= -4)");
  EXPECT_INVALID(xmr_dense_index_create(kDim, (xmr_metric_t)9, XMR_DTYPE_F32, XMR_DEVICE_CPU, &index), "metric (= 9)");
  EXPECT_INVALID(xmr_dense_index_create(kDim, XMR_METRIC_COSINE, (xmr_dtype_t)5, XMR_DEVICE_CPU, &index),
                 "storage (= 5)");
  EXPECT_INVALID(xmr_dense_index_create(kDim, XMR_METRIC_COSINE, XMR_DTYPE_F32, XMR_DEVICE_DEFAULT, &index),
                 "device (= -1)");
  EXPECT_INVALID(xmr_dense_index_create(kDim, XMR_METRIC_COSINE, XMR_DTYPE_F32, XMR_DEVICE_CPU, NULL),
                 "out_index (= null)");
  CHECK(index == NULL);

  float base[kBase * kDim], queries[kQueries * kDim], bad[2 * kDim];
  fill_uniform(base, kBase * kDim);
  fill_uniform(queries, kQueries * kDim);
  int64_t ids[kQueries * 5];
  float scores[kQueries * 5];
  EXPECT_OK(xmr_dense_index_create(kDim, XMR_METRIC_COSINE, XMR_DTYPE_F32, XMR_DEVICE_CPU, &index));
  /* Searching an empty index is an error. */
  EXPECT_INVALID(xmr_dense_index_search(index, queries, XMR_DTYPE_F32, kQueries, 5, XMR_DEVICE_CPU, ids, scores),
                 "empty");
  EXPECT_OK(xmr_dense_index_add(index, base, XMR_DTYPE_F32, kBase, NULL));
  const dense_snapshot before = dense_snap(index, queries);

  /* add */
  EXPECT_INVALID(xmr_dense_index_add(NULL, base, XMR_DTYPE_F32, 1, NULL), "index (= null)");
  EXPECT_INVALID(xmr_dense_index_add(index, NULL, XMR_DTYPE_F32, 2, NULL), "vectors (= null) with num_vectors (= 2)");
  EXPECT_INVALID(xmr_dense_index_add(index, base, XMR_DTYPE_F32, -1, NULL), "num_vectors (= -1) must be >= 0");
  EXPECT_INVALID(xmr_dense_index_add(index, base, (xmr_dtype_t)7, 1, NULL), "dtype (= 7)");
  memcpy(bad, base, sizeof bad);
  bad[kDim + 1] = NAN;
  EXPECT_INVALID(xmr_dense_index_add(index, bad, XMR_DTYPE_F32, 2, NULL), "vectors[1][1] (= nan) is not finite");
  bad[kDim + 1] = 1.0f / 0.0f;
  EXPECT_INVALID(xmr_dense_index_add(index, bad, XMR_DTYPE_F32, 2, NULL), "(= inf) is not finite");
  memset(bad, 0, sizeof bad);
  bad[0] = 1.0f;
  EXPECT_INVALID(xmr_dense_index_add(index, bad, XMR_DTYPE_F32, 2, NULL), "vectors[1] has zero norm");
  const int64_t bad_ids[2] = {500, -3}, dup_ids[2] = {600, 600}, stored_ids[2] = {600, 5};
  EXPECT_INVALID(xmr_dense_index_add(index, base, XMR_DTYPE_F32, 2, bad_ids), "ids[1] (= -3)");
  EXPECT_INVALID(xmr_dense_index_add(index, base, XMR_DTYPE_F32, 2, dup_ids), "ids[1] (= 600) repeats ids[0]");
  EXPECT_INVALID(xmr_dense_index_add(index, base, XMR_DTYPE_F32, 2, stored_ids), "ids[1] (= 5) is already in");

  /* remove */
  const int64_t unknown[2] = {3, 4000}, repeated[2] = {3, 3};
  EXPECT_INVALID(xmr_dense_index_remove(NULL, unknown, 1), "index (= null)");
  EXPECT_INVALID(xmr_dense_index_remove(index, unknown, 2), "ids[1] (= 4000) is not in the index");
  EXPECT_INVALID(xmr_dense_index_remove(index, repeated, 2), "ids[1] (= 3) repeats ids[0]");
  EXPECT_INVALID(xmr_dense_index_remove(index, NULL, 1), "ids (= null) with num_ids (= 1)");
  EXPECT_INVALID(xmr_dense_index_remove(index, unknown, -2), "num_ids (= -2) must be >= 0");

  /* search */
  const xmr_dense_index_t* cindex = index;
  EXPECT_INVALID(xmr_dense_index_search(NULL, queries, XMR_DTYPE_F32, 1, 5, XMR_DEVICE_CPU, ids, scores),
                 "index (= null)");
  EXPECT_INVALID(xmr_dense_index_search(cindex, queries, XMR_DTYPE_F32, 1, 0, XMR_DEVICE_CPU, ids, scores), "k (= 0)");
  EXPECT_INVALID(xmr_dense_index_search(cindex, queries, XMR_DTYPE_F32, 1, -5, XMR_DEVICE_CPU, ids, scores),
                 "k (= -5)");
  EXPECT_INVALID(xmr_dense_index_search(cindex, NULL, XMR_DTYPE_F32, 2, 5, XMR_DEVICE_CPU, ids, scores),
                 "queries (= null) with num_queries (= 2)");
  EXPECT_INVALID(xmr_dense_index_search(cindex, queries, XMR_DTYPE_F32, -1, 5, XMR_DEVICE_CPU, ids, scores),
                 "num_queries (= -1)");
  EXPECT_INVALID(xmr_dense_index_search(cindex, queries, XMR_DTYPE_F32, 2, 5, XMR_DEVICE_CPU, NULL, scores),
                 "out_ids (= null) with num_queries (= 2)");
  EXPECT_INVALID(xmr_dense_index_search(cindex, queries, XMR_DTYPE_F32, 2, 5, XMR_DEVICE_CPU, ids, NULL),
                 "out_scores (= null) with num_queries (= 2)");
  EXPECT_INVALID(xmr_dense_index_search(cindex, queries, (xmr_dtype_t)3, 2, 5, XMR_DEVICE_CPU, ids, scores),
                 "dtype (= 3)");
  EXPECT_INVALID(xmr_dense_index_search(cindex, queries, XMR_DTYPE_F32, 2, 5, (xmr_device_t)7, ids, scores),
                 "device (= 7)");
  memcpy(bad, queries, sizeof bad);
  bad[3] = NAN;
  EXPECT_INVALID(xmr_dense_index_search(cindex, bad, XMR_DTYPE_F32, 2, 5, XMR_DEVICE_CPU, ids, scores),
                 "queries[0][3] (= nan) is not finite");
  memset(bad, 0, sizeof bad);
  bad[0] = 1.0f;
  EXPECT_INVALID(xmr_dense_index_search(cindex, bad, XMR_DTYPE_F32, 2, 5, XMR_DEVICE_CPU, ids, scores),
                 "queries[1] has zero norm");
  if (xmr_gpu_count() == 0) {
    EXPECT_STATUS(xmr_dense_index_search(cindex, queries, XMR_DTYPE_F32, 2, 5, XMR_DEVICE_GPU, ids, scores),
                  XMR_ERR_UNAVAILABLE, "device (= gpu) requested");
  }

  /* accessors */
  int64_t value = 0;
  EXPECT_INVALID(xmr_dense_index_size(NULL, &value), "index (= null)");
  EXPECT_INVALID(xmr_dense_index_size(cindex, NULL), "out_size (= null)");
  EXPECT_INVALID(xmr_dense_index_dim(NULL, &value), "index (= null)");
  EXPECT_INVALID(xmr_dense_index_dim(cindex, NULL), "out_dim (= null)");

  /* After every failure the index answers as before. */
  const dense_snapshot after = dense_snap(index, queries);
  CHECK(dense_size(index) == kBase && memcmp(&before, &after, sizeof before) == 0);
  xmr_dense_index_free(index);
}

/* ---- binary index ---------------------------------------------------------------------------- */

enum { kBits = 64, kCodeBytes = kBits / 8, kCodes = 60 };

static void check_binary(const xmr_binary_index_t* index, const uint8_t* queries, const uint8_t* codes,
                         const int64_t* ids, const int* alive, int64_t n, int64_t k) {
  int64_t* got_ids = malloc((size_t)(kQueries * k) * sizeof *got_ids);
  int32_t* got = malloc((size_t)(kQueries * k) * sizeof *got);
  int64_t* want_ids = malloc((size_t)k * sizeof *want_ids);
  double* want = malloc((size_t)k * sizeof *want);
  double key[kCodes];
  EXPECT_OK(xmr_binary_index_search(index, queries, kQueries, k, XMR_DEVICE_DEFAULT, got_ids, got));
  for (int64_t q = 0; q < kQueries; ++q) {
    for (int64_t i = 0; i < n; ++i) key[i] = hamming(queries + q * kCodeBytes, codes + i * kCodeBytes, kCodeBytes);
    expected_topk(key, ids, alive, n, k, want_ids, want);
    for (int64_t j = 0; j < k; ++j) {
      CHECK(got_ids[q * k + j] == want_ids[j]);
      CHECK(got[q * k + j] == (want_ids[j] >= 0 ? (int32_t)want[j] : XMR_EMPTY_DISTANCE));
    }
  }
  free(got_ids);
  free(got);
  free(want_ids);
  free(want);
}

static void make_codes(uint8_t* codes, uint8_t* queries) {
  fill_bytes(codes, kCodes * kCodeBytes);
  fill_bytes(queries, kQueries * kCodeBytes);
  /* Duplicated codes make equal distances: the tie rule is checked. */
  for (int i = 0; i < kCodes; i += 4) memcpy(codes + (i + 1) * kCodeBytes, codes + i * kCodeBytes, kCodeBytes);
}

static void test_binary_results(void) {
  uint8_t codes[kCodes * kCodeBytes], queries[kQueries * kCodeBytes];
  make_codes(codes, queries);
  int64_t ids[kCodes];
  int alive[kCodes];
  for (int i = 0; i < kCodes; ++i) {
    ids[i] = 10 + 2 * i;
    alive[i] = 1;
  }
  xmr_binary_index_t* index = NULL;
  EXPECT_OK(xmr_binary_index_create(kBits, XMR_DEVICE_CPU, &index));
  EXPECT_OK(xmr_binary_index_add(index, codes, kCodes, ids));
  int64_t value = 0;
  EXPECT_OK(xmr_binary_index_bits(index, &value));
  CHECK(value == kBits);
  EXPECT_OK(xmr_binary_index_size(index, &value));
  CHECK(value == kCodes);
  check_binary(index, queries, codes, ids, alive, kCodes, 8);
  check_binary(index, queries, codes, ids, alive, kCodes, kCodes + 2);
  EXPECT_OK(xmr_binary_index_search(index, NULL, 0, 3, XMR_DEVICE_CPU, NULL, NULL));
  const int64_t removed[2] = {10, 12}; /* a duplicated pair */
  EXPECT_OK(xmr_binary_index_remove(index, removed, 2));
  alive[0] = alive[1] = 0;
  check_binary(index, queries, codes, ids, alive, kCodes, 9);
  xmr_binary_index_free(index);

  /* Sequential ids. */
  for (int i = 0; i < kCodes; ++i) {
    ids[i] = i;
    alive[i] = 1;
  }
  EXPECT_OK(xmr_binary_index_create(kBits, XMR_DEVICE_AUTO, &index));
  EXPECT_OK(xmr_binary_index_add(index, codes, kCodes, NULL));
  check_binary(index, queries, codes, ids, alive, kCodes, 5);
  xmr_binary_index_free(index);
  xmr_binary_index_free(NULL);
}

static void test_binary_errors(void) {
  xmr_binary_index_t* index = NULL;
  EXPECT_INVALID(xmr_binary_index_create(12, XMR_DEVICE_CPU, &index), "bits (= 12)");
  EXPECT_INVALID(xmr_binary_index_create(0, XMR_DEVICE_CPU, &index), "bits (= 0)");
  EXPECT_INVALID(xmr_binary_index_create(8192, XMR_DEVICE_CPU, &index), "bits (= 8192)");
  EXPECT_INVALID(xmr_binary_index_create(kBits, (xmr_device_t)9, &index), "device (= 9)");
  EXPECT_INVALID(xmr_binary_index_create(kBits, XMR_DEVICE_CPU, NULL), "out_index (= null)");
  CHECK(index == NULL);

  uint8_t codes[kCodes * kCodeBytes], queries[kQueries * kCodeBytes];
  make_codes(codes, queries);
  int64_t ids[kQueries * 4];
  int32_t dist[kQueries * 4];
  EXPECT_OK(xmr_binary_index_create(kBits, XMR_DEVICE_CPU, &index));
  EXPECT_INVALID(xmr_binary_index_search(index, queries, 1, 4, XMR_DEVICE_CPU, ids, dist), "empty");
  EXPECT_OK(xmr_binary_index_add(index, codes, kCodes, NULL));
  int64_t before_ids[kQueries * 4];
  int32_t before_dist[kQueries * 4];
  EXPECT_OK(xmr_binary_index_search(index, queries, kQueries, 4, XMR_DEVICE_CPU, before_ids, before_dist));

  const int64_t unknown[1] = {999}, repeated[2] = {1, 1}, stored[1] = {2};
  EXPECT_INVALID(xmr_binary_index_add(NULL, codes, 1, NULL), "index (= null)");
  EXPECT_INVALID(xmr_binary_index_add(index, NULL, 3, NULL), "codes (= null) with num_codes (= 3)");
  EXPECT_INVALID(xmr_binary_index_add(index, codes, -2, NULL), "num_codes (= -2)");
  EXPECT_INVALID(xmr_binary_index_add(index, codes, 1, stored), "ids[0] (= 2) is already in");
  EXPECT_INVALID(xmr_binary_index_remove(NULL, unknown, 1), "index (= null)");
  EXPECT_INVALID(xmr_binary_index_remove(index, unknown, 1), "ids[0] (= 999) is not in the index");
  EXPECT_INVALID(xmr_binary_index_remove(index, repeated, 2), "ids[1] (= 1) repeats ids[0]");
  EXPECT_INVALID(xmr_binary_index_remove(index, NULL, 4), "ids (= null) with num_ids (= 4)");
  EXPECT_INVALID(xmr_binary_index_search(NULL, queries, 1, 4, XMR_DEVICE_CPU, ids, dist), "index (= null)");
  EXPECT_INVALID(xmr_binary_index_search(index, queries, 1, 0, XMR_DEVICE_CPU, ids, dist), "k (= 0)");
  EXPECT_INVALID(xmr_binary_index_search(index, NULL, 1, 4, XMR_DEVICE_CPU, ids, dist), "queries (= null)");
  EXPECT_INVALID(xmr_binary_index_search(index, queries, -3, 4, XMR_DEVICE_CPU, ids, dist), "num_queries (= -3)");
  EXPECT_INVALID(xmr_binary_index_search(index, queries, 1, 4, XMR_DEVICE_CPU, NULL, dist), "out_ids (= null)");
  EXPECT_INVALID(xmr_binary_index_search(index, queries, 1, 4, XMR_DEVICE_CPU, ids, NULL), "out_distances (= null)");
  EXPECT_INVALID(xmr_binary_index_search(index, queries, 1, 4, (xmr_device_t)5, ids, dist), "device (= 5)");
  if (xmr_gpu_count() == 0) {
    EXPECT_STATUS(xmr_binary_index_search(index, queries, 1, 4, XMR_DEVICE_GPU, ids, dist), XMR_ERR_UNAVAILABLE,
                  "device (= gpu) requested");
  }
  int64_t value = 0;
  EXPECT_INVALID(xmr_binary_index_size(NULL, &value), "index (= null)");
  EXPECT_INVALID(xmr_binary_index_size(index, NULL), "out_size (= null)");
  EXPECT_INVALID(xmr_binary_index_bits(NULL, &value), "index (= null)");
  EXPECT_INVALID(xmr_binary_index_bits(index, NULL), "out_bits (= null)");

  EXPECT_OK(xmr_binary_index_search(index, queries, kQueries, 4, XMR_DEVICE_CPU, ids, dist));
  CHECK(memcmp(ids, before_ids, sizeof ids) == 0 && memcmp(dist, before_dist, sizeof dist) == 0);
  EXPECT_OK(xmr_binary_index_size(index, &value));
  CHECK(value == kCodes);
  xmr_binary_index_free(index);
}

/* ---- files ----------------------------------------------------------------------------------- */

static char g_dir[64];
static char* path_in_dir(char* buffer, const char* name) {
  snprintf(buffer, 128, "%s/%s", g_dir, name);
  return buffer;
}

/* Writes the first `bytes` bytes of `from` to `to`, flipping the byte at `flip` when >= 0. */
static void damaged_copy(const char* from, const char* to, long bytes, long flip) {
  FILE* in = fopen(from, "rb");
  FILE* out = fopen(to, "wb");
  CHECK(in != NULL && out != NULL);
  if (in == NULL || out == NULL) return;
  for (long i = 0; i < bytes; ++i) {
    const int c = fgetc(in);
    if (c == EOF) break;
    fputc(i == flip ? c ^ 0x10 : c, out);
  }
  fclose(in);
  fclose(out);
}

static long file_size(const char* path) {
  FILE* f = fopen(path, "rb");
  if (f == NULL) return -1;
  fseek(f, 0, SEEK_END);
  const long n = ftell(f);
  fclose(f);
  return n;
}

static void test_files(void) {
  char dense_path[128], binary_path[128], bad_path[128], missing[128], unwritable[128];
  path_in_dir(dense_path, "dense.xmr");
  path_in_dir(binary_path, "binary.xmr");
  path_in_dir(bad_path, "bad.xmr");
  path_in_dir(missing, "missing.xmr");
  path_in_dir(unwritable, "no/such/dir/x.xmr");

  float base[kBase * kDim], queries[kQueries * kDim];
  xmr_dense_index_t* dense = cosine_index(base, kBase, queries);
  EXPECT_OK(xmr_dense_index_save(dense, dense_path));
  const dense_snapshot saved = dense_snap(dense, queries);
  EXPECT_INVALID(xmr_dense_index_save(NULL, dense_path), "index (= null)");
  EXPECT_INVALID(xmr_dense_index_save(dense, NULL), "path (= null)");
  EXPECT_STATUS(xmr_dense_index_save(dense, unwritable), XMR_ERR_IO, unwritable);
  xmr_dense_index_free(dense);

  /* Both load modes, verified or not, answer exactly as the saved index did. */
  for (int mode = XMR_LOAD_READ; mode <= XMR_LOAD_MAP; ++mode) {
    for (int verify = 0; verify <= 1; ++verify) {
      xmr_dense_index_t* loaded = NULL;
      EXPECT_OK(xmr_dense_index_load(dense_path, (xmr_load_mode_t)mode, verify, XMR_DEVICE_DEFAULT, &loaded));
      const dense_snapshot got = dense_snap(loaded, queries);
      CHECK(dense_size(loaded) == kBase && memcmp(&got, &saved, sizeof got) == 0);
      xmr_dense_index_free(loaded);
    }
  }

  uint8_t codes[kCodes * kCodeBytes], cq[kQueries * kCodeBytes];
  make_codes(codes, cq);
  xmr_binary_index_t* binary = NULL;
  EXPECT_OK(xmr_binary_index_create(kBits, XMR_DEVICE_CPU, &binary));
  EXPECT_OK(xmr_binary_index_add(binary, codes, kCodes, NULL));
  EXPECT_OK(xmr_binary_index_save(binary, binary_path));
  EXPECT_INVALID(xmr_binary_index_save(NULL, binary_path), "index (= null)");
  EXPECT_INVALID(xmr_binary_index_save(binary, NULL), "path (= null)");
  EXPECT_STATUS(xmr_binary_index_save(binary, unwritable), XMR_ERR_IO, unwritable);
  int64_t want_ids[kQueries * 6], got_ids[kQueries * 6];
  int32_t want_d[kQueries * 6], got_d[kQueries * 6];
  EXPECT_OK(xmr_binary_index_search(binary, cq, kQueries, 6, XMR_DEVICE_CPU, want_ids, want_d));
  xmr_binary_index_free(binary);
  for (int mode = XMR_LOAD_READ; mode <= XMR_LOAD_MAP; ++mode) {
    xmr_binary_index_t* loaded = NULL;
    EXPECT_OK(xmr_binary_index_load(binary_path, (xmr_load_mode_t)mode, 1, XMR_DEVICE_CPU, &loaded));
    EXPECT_OK(xmr_binary_index_search(loaded, cq, kQueries, 6, XMR_DEVICE_DEFAULT, got_ids, got_d));
    CHECK(memcmp(got_ids, want_ids, sizeof got_ids) == 0 && memcmp(got_d, want_d, sizeof got_d) == 0);
    xmr_binary_index_free(loaded);
  }

  /* Load errors: the out handle is left as it was (NULL here). */
  xmr_dense_index_t* d = NULL;
  xmr_binary_index_t* b = NULL;
  EXPECT_STATUS(xmr_dense_index_load(missing, XMR_LOAD_READ, 1, XMR_DEVICE_DEFAULT, &d), XMR_ERR_IO, missing);
  EXPECT_STATUS(xmr_binary_index_load(missing, XMR_LOAD_MAP, 1, XMR_DEVICE_DEFAULT, &b), XMR_ERR_IO, missing);
  EXPECT_INVALID(xmr_dense_index_load(binary_path, XMR_LOAD_READ, 1, XMR_DEVICE_DEFAULT, &d), "binary");
  EXPECT_INVALID(xmr_binary_index_load(dense_path, XMR_LOAD_READ, 1, XMR_DEVICE_DEFAULT, &b), "dense");
  EXPECT_INVALID(xmr_dense_index_load(dense_path, (xmr_load_mode_t)5, 1, XMR_DEVICE_DEFAULT, &d), "mode (= 5)");
  EXPECT_INVALID(xmr_dense_index_load(NULL, XMR_LOAD_READ, 1, XMR_DEVICE_DEFAULT, &d), "path (= null)");
  EXPECT_INVALID(xmr_dense_index_load(dense_path, XMR_LOAD_READ, 1, XMR_DEVICE_DEFAULT, NULL), "out_index (= null)");
  EXPECT_INVALID(xmr_binary_index_load(NULL, XMR_LOAD_READ, 1, XMR_DEVICE_DEFAULT, &b), "path (= null)");
  EXPECT_INVALID(xmr_binary_index_load(binary_path, XMR_LOAD_READ, 1, XMR_DEVICE_DEFAULT, NULL), "out_index (= null)");
  if (xmr_gpu_count() == 0) {
    EXPECT_STATUS(xmr_dense_index_load(dense_path, XMR_LOAD_READ, 1, XMR_DEVICE_GPU, &d), XMR_ERR_UNAVAILABLE, "gpu");
  }
  const long dense_bytes = file_size(dense_path), binary_bytes = file_size(binary_path);
  CHECK(dense_bytes > 200 && binary_bytes > 200);
  damaged_copy(dense_path, bad_path, dense_bytes - 7, -1); /* truncated */
  EXPECT_STATUS(xmr_dense_index_load(bad_path, XMR_LOAD_READ, 1, XMR_DEVICE_DEFAULT, &d), XMR_ERR_CORRUPT_DATA,
                bad_path);
  EXPECT_STATUS(xmr_dense_index_load(bad_path, XMR_LOAD_MAP, 1, XMR_DEVICE_DEFAULT, &d), XMR_ERR_CORRUPT_DATA,
                bad_path);
  damaged_copy(dense_path, bad_path, dense_bytes, dense_bytes - 9); /* one bit flipped in the rows */
  EXPECT_STATUS(xmr_dense_index_load(bad_path, XMR_LOAD_READ, 1, XMR_DEVICE_DEFAULT, &d), XMR_ERR_CORRUPT_DATA,
                "checksum");
  damaged_copy(binary_path, bad_path, binary_bytes / 2, -1);
  EXPECT_STATUS(xmr_binary_index_load(bad_path, XMR_LOAD_READ, 1, XMR_DEVICE_DEFAULT, &b), XMR_ERR_CORRUPT_DATA,
                bad_path);
  damaged_copy(binary_path, bad_path, 3, -1); /* not even a header */
  EXPECT_STATUS(xmr_binary_index_load(bad_path, XMR_LOAD_READ, 1, XMR_DEVICE_DEFAULT, &b), XMR_ERR_CORRUPT_DATA,
                bad_path);
  CHECK(d == NULL && b == NULL);
  remove(dense_path);
  remove(binary_path);
  remove(bad_path);
}

/* Radius search against brute force: every code within the radius by (distance, id), the first
 * max_results of them in each padded row, and the full count. */
static void check_range(const xmr_binary_index_t* index, const uint8_t* queries, const uint8_t* codes,
                        const int64_t* ids, int32_t radius, int64_t max_results) {
  int64_t* got_ids = malloc((size_t)(kQueries * max_results) * sizeof *got_ids);
  int32_t* got = malloc((size_t)(kQueries * max_results) * sizeof *got);
  int64_t counts[kQueries], within[kQueries];
  int64_t want_ids[kCodes];
  double want[kCodes], key[kCodes];
  int alive[kCodes];
  EXPECT_OK(xmr_binary_index_range_search(index, queries, kQueries, radius, max_results, XMR_DEVICE_DEFAULT, got_ids,
                                          got, counts, within));
  for (int64_t q = 0; q < kQueries; ++q) {
    int64_t n_within = 0;
    for (int64_t i = 0; i < kCodes; ++i) {
      key[i] = hamming(queries + q * kCodeBytes, codes + i * kCodeBytes, kCodeBytes);
      alive[i] = key[i] <= radius;
      n_within += alive[i];
    }
    expected_topk(key, ids, alive, kCodes, kCodes, want_ids, want);
    CHECK(within[q] == n_within && counts[q] == (n_within < max_results ? n_within : max_results));
    for (int64_t j = 0; j < max_results; ++j) {
      const int64_t w = j < n_within ? want_ids[j] : -1;
      CHECK(got_ids[q * max_results + j] == w);
      CHECK(got[q * max_results + j] == (w >= 0 ? (int32_t)want[j] : XMR_EMPTY_DISTANCE));
    }
  }
  free(got_ids);
  free(got);
}

static void test_range_search(void) {
  uint8_t codes[kCodes * kCodeBytes], queries[kQueries * kCodeBytes];
  make_codes(codes, queries);
  memcpy(queries + kCodeBytes, codes + 8 * kCodeBytes, kCodeBytes); /* query 1 is code 8 and its twin 9 */
  int64_t ids[kCodes];
  for (int i = 0; i < kCodes; ++i) ids[i] = 7 + 3 * i;
  xmr_binary_index_t* index = NULL;
  EXPECT_OK(xmr_binary_index_create(kBits, XMR_DEVICE_CPU, &index));
  EXPECT_INVALID(xmr_binary_index_range_search(index, queries, 1, 3, 4, XMR_DEVICE_CPU, ids, NULL, NULL, NULL),
                 "out_distances (= null)");
  EXPECT_OK(xmr_binary_index_add(index, codes, kCodes, ids));
  for (int32_t radius = 0; radius <= kBits; radius += 30) {
    check_range(index, queries, codes, ids, radius, 1);
    check_range(index, queries, codes, ids, radius, 5);      /* some rows truncated, some padded */
    check_range(index, queries, codes, ids, radius, kCodes); /* every code fits */
  }
  check_range(index, queries, codes, ids, 29, 3);
  int64_t out_ids[2 * 4], counts[2], within[2];
  int32_t dist[2 * 4];
  /* No queries: nothing is written; out_num_within is optional. */
  EXPECT_OK(xmr_binary_index_range_search(index, NULL, 0, 3, 4, XMR_DEVICE_CPU, NULL, NULL, NULL, NULL));
  EXPECT_OK(xmr_binary_index_range_search(index, queries, 2, 0, 4, XMR_DEVICE_CPU, out_ids, dist, counts, NULL));
  CHECK(counts[1] == 2 && out_ids[4] == ids[8] && out_ids[5] == ids[9] && dist[5] == 0 && out_ids[6] == -1);

  EXPECT_INVALID(xmr_binary_index_range_search(NULL, queries, 2, 3, 4, XMR_DEVICE_CPU, out_ids, dist, counts, within),
                 "index (= null) must not be null");
  EXPECT_INVALID(xmr_binary_index_range_search(index, NULL, 2, 3, 4, XMR_DEVICE_CPU, out_ids, dist, counts, within),
                 "queries (= null) with num_queries (= 2) > 0");
  EXPECT_INVALID(xmr_binary_index_range_search(index, queries, -1, 3, 4, XMR_DEVICE_CPU, out_ids, dist, counts, within),
                 "num_queries (= -1) must be >= 0");
  EXPECT_INVALID(xmr_binary_index_range_search(index, queries, 2, 3, 4, XMR_DEVICE_CPU, NULL, dist, counts, within),
                 "out_ids (= null) with num_queries (= 2) > 0");
  EXPECT_INVALID(xmr_binary_index_range_search(index, queries, 2, 3, 4, XMR_DEVICE_CPU, out_ids, dist, NULL, within),
                 "out_counts (= null) with num_queries (= 2) > 0");
  EXPECT_INVALID(xmr_binary_index_range_search(index, queries, 2, -1, 4, XMR_DEVICE_CPU, out_ids, dist, counts, within),
                 "radius (= -1) must be in [0, 64]");
  EXPECT_INVALID(xmr_binary_index_range_search(index, queries, 2, 65, 4, XMR_DEVICE_CPU, out_ids, dist, counts, within),
                 "radius (= 65) must be in [0, 64]");
  EXPECT_INVALID(xmr_binary_index_range_search(index, queries, 2, 3, 0, XMR_DEVICE_CPU, out_ids, dist, counts, within),
                 "max_results (= 0) must be in [1, ");
  EXPECT_INVALID(xmr_binary_index_range_search(index, queries, 2, 3, 4, 9, out_ids, dist, counts, within), "9");
  if (xmr_gpu_count() == 0) {
    EXPECT_STATUS(xmr_binary_index_range_search(index, queries, 2, 3, 4, XMR_DEVICE_GPU, out_ids, dist, counts, within),
                  XMR_ERR_UNAVAILABLE, "");
  }
  check_range(index, queries, codes, ids, 30, 5); /* unchanged */
  xmr_binary_index_free(index);
}

/* ---- metrics --------------------------------------------------------------------------------- */

enum { kMq = 9, kMn = 30, kClasses = 5 };

static int relevant(const uint8_t* a, const uint8_t* b) {
  for (int c = 0; c < kClasses; ++c) {
    if (a[c] && b[c]) return 1;
  }
  return 0;
}

/* AP over a ranking (k = 0: the whole ranking; else the windowed AP@K). */
static double average_precision(const int64_t* order, const int* rel, int64_t n, int64_t k) {
  const int64_t window = k == 0 || k > n ? n : k;
  double sum = 0;
  int hits = 0;
  int total = 0;
  for (int64_t j = 0; j < n; ++j) total += rel[j];
  for (int64_t j = 0; j < window; ++j) {
    if (!rel[order[j]]) continue;
    ++hits;
    sum += (double)hits / (double)(j + 1);
  }
  const int denominator = k == 0 ? total : hits;
  return denominator == 0 ? 0.0 : sum / denominator;
}

/* Expected mAP and per-query APs from [kMq x kMn] keys (ascending is better). */
static double expected_map(const double* keys, const uint8_t* ql, const uint8_t* dl, int64_t k, double* per_query) {
  int64_t order[kMn];
  int rel[kMn];
  double total = 0;
  for (int q = 0; q < kMq; ++q) {
    rank_by_key(keys + q * kMn, kMn, order);
    for (int i = 0; i < kMn; ++i) rel[i] = relevant(ql + q * kClasses, dl + i * kClasses);
    per_query[q] = average_precision(order, rel, kMn, k);
    total += per_query[q];
  }
  return total / kMq;
}

/* `got` by pointer: the call that fills it is an argument evaluated in unspecified order. */
static void check_map(xmr_status_t status, const double* got, const double* got_per_query, double want,
                      const double* want_per_query) {
  CHECK(status == XMR_OK);
  CHECK(fabs(*got - want) < 1e-12);
  for (int q = 0; q < kMq; ++q) CHECK(fabs(got_per_query[q] - want_per_query[q]) < 1e-12);
}

static void test_metrics(void) {
  uint8_t qc[kMq * 2], dc[kMn * 2], ql[kMq * kClasses], dl[kMn * kClasses];
  float qv[kMq * kDim], dv[kMn * kDim];
  fill_bytes(qc, kMq * 2);
  fill_bytes(dc, kMn * 2);
  fill_small_ints(qv, kMq * kDim);
  fill_small_ints(dv, kMn * kDim);
  for (int i = 0; i < kMq * kClasses; ++i) ql[i] = next_u32() % 3u == 0;
  for (int i = 0; i < kMn * kClasses; ++i) dl[i] = next_u32() % 3u == 0;
  double keys[kMq * kMn], want_pq[kMq], got_pq[kMq], got = 0;

  for (int q = 0; q < kMq; ++q) {
    for (int i = 0; i < kMn; ++i) keys[q * kMn + i] = hamming(qc + q * 2, dc + i * 2, 2);
  }
  for (int64_t k = 0; k <= 10; k += 10) {
    const double want = expected_map(keys, ql, dl, k, want_pq);
    const xmr_map_variant_t variant = k == 0 ? XMR_MAP_ALL : XMR_MAP_AT_K;
    check_map(xmr_map_hamming(qc, kMq, dc, kMn, 2, ql, dl, kClasses, variant, k, XMR_TIES_ASCENDING_INDEX,
                              XMR_DEVICE_CPU, &got, got_pq),
              &got, got_pq, want, want_pq);
  }
  for (int q = 0; q < kMq; ++q) {
    for (int i = 0; i < kMn; ++i) keys[q * kMn + i] = -dot(qv + q * kDim, dv + i * kDim, kDim);
  }
  const double want_dense = expected_map(keys, ql, dl, 0, want_pq);
  check_map(xmr_map_dense(qv, kMq, dv, kMn, kDim, XMR_METRIC_INNER_PRODUCT, ql, dl, kClasses, XMR_MAP_ALL, 0,
                          XMR_TIES_ASCENDING_INDEX, XMR_DEVICE_DEFAULT, &got, got_pq),
            &got, got_pq, want_dense, want_pq);
  /* Without per-query output; other variant and tie policy just run. */
  EXPECT_OK(xmr_map_dense(qv, kMq, dv, kMn, kDim, XMR_METRIC_INNER_PRODUCT, ql, dl, kClasses, XMR_MAP_ALL, 0,
                          XMR_TIES_ASCENDING_INDEX, XMR_DEVICE_CPU, &got, NULL));
  CHECK(fabs(got - want_dense) < 1e-12);
  EXPECT_OK(xmr_map_hamming(qc, kMq, dc, kMn, 2, ql, dl, kClasses, XMR_MAP_K_FIRST_RELEVANT, 5, XMR_TIES_AVERAGE,
                            XMR_DEVICE_AUTO, &got, NULL));
  CHECK(got >= 0.0 && got <= 1.0);

  /* Errors name the argument. */
  EXPECT_INVALID(xmr_map_hamming(qc, kMq, dc, kMn, 2, ql, dl, kClasses, XMR_MAP_ALL, 0, XMR_TIES_AVERAGE,
                                 XMR_DEVICE_CPU, NULL, NULL),
                 "out_map (= null)");
  EXPECT_INVALID(xmr_map_hamming(qc, 0, dc, kMn, 2, ql, dl, kClasses, XMR_MAP_ALL, 0, XMR_TIES_AVERAGE, XMR_DEVICE_CPU,
                                 &got, NULL),
                 "query_codes.rows (= 0)");
  EXPECT_INVALID(xmr_map_hamming(qc, kMq, NULL, kMn, 2, ql, dl, kClasses, XMR_MAP_ALL, 0, XMR_TIES_AVERAGE,
                                 XMR_DEVICE_CPU, &got, NULL),
                 "db_codes (= null) with num_db (= 30) > 0");
  EXPECT_INVALID(xmr_map_hamming(qc, -1, dc, kMn, 2, ql, dl, kClasses, XMR_MAP_ALL, 0, XMR_TIES_AVERAGE, XMR_DEVICE_CPU,
                                 &got, NULL),
                 "num_queries (= -1) must be >= 0");
  EXPECT_INVALID(xmr_map_dense(qv, kMq, dv, kMn, kDim, XMR_METRIC_INNER_PRODUCT, ql, NULL, kClasses, XMR_MAP_ALL, 0,
                               XMR_TIES_ASCENDING_INDEX, XMR_DEVICE_CPU, &got, NULL),
                 "db_labels (= null) with num_db (= 30) > 0");
  EXPECT_INVALID(xmr_map_hamming(qc, kMq, dc, kMn, 2, ql, dl, kClasses, (xmr_map_variant_t)7, 0, XMR_TIES_AVERAGE,
                                 XMR_DEVICE_CPU, &got, NULL),
                 "(= 7) is not a MapVariant value");
  EXPECT_INVALID(xmr_map_hamming(qc, kMq, dc, kMn, 2, ql, dl, kClasses, XMR_MAP_AT_K, 0, XMR_TIES_AVERAGE,
                                 XMR_DEVICE_CPU, &got, NULL),
                 "k (= 0)");
  EXPECT_INVALID(xmr_map_hamming(qc, kMq, dc, kMn, 2, ql, dl, kClasses, XMR_MAP_ALL, 0, (xmr_tie_policy_t)4,
                                 XMR_DEVICE_CPU, &got, NULL),
                 "ties (= 4)");
  ql[3] = 2;
  EXPECT_INVALID(xmr_map_hamming(qc, kMq, dc, kMn, 2, ql, dl, kClasses, XMR_MAP_ALL, 0, XMR_TIES_AVERAGE,
                                 XMR_DEVICE_CPU, &got, NULL),
                 "(= 2)");
  ql[3] = 0;
  qv[5] = NAN;
  EXPECT_INVALID(xmr_map_dense(qv, kMq, dv, kMn, kDim, XMR_METRIC_INNER_PRODUCT, ql, dl, kClasses, XMR_MAP_ALL, 0,
                               XMR_TIES_ASCENDING_INDEX, XMR_DEVICE_CPU, &got, NULL),
                 "nan");
  qv[5] = 0;
  EXPECT_INVALID(xmr_map_dense(qv, kMq, dv, kMn, kDim, (xmr_metric_t)3, ql, dl, kClasses, XMR_MAP_ALL, 0,
                               XMR_TIES_ASCENDING_INDEX, XMR_DEVICE_CPU, &got, NULL),
                 "(= 3) is not a Metric value");
  EXPECT_INVALID(xmr_map_dense(qv, kMq, dv, kMn, kDim, XMR_METRIC_COSINE, ql, dl, kClasses, XMR_MAP_ALL, 0,
                               XMR_TIES_ASCENDING_INDEX, XMR_DEVICE_CPU, NULL, NULL),
                 "out_map (= null)");
}

/* Recall@K against the brute-force ranks (cosine, ties by ascending index). */
static void test_recall(void) {
  enum { images = 12, cpi = 2, texts = images * cpi };
  float iv[images * kDim], tv[texts * kDim];
  fill_uniform(iv, images * kDim);
  for (int t = 0; t < texts; ++t) {
    for (int d = 0; d < kDim; ++d)
      tv[t * kDim + d] = iv[(t / cpi) * kDim + d] + 0.9f * ((float)(next_u32() % 2001u) / 1000.0f - 1.0f);
  }
  double s[images][texts];
  for (int i = 0; i < images; ++i) {
    for (int t = 0; t < texts; ++t) {
      s[i][t] = dot(iv + i * kDim, tv + t * kDim, kDim) /
                sqrt(dot(iv + i * kDim, iv + i * kDim, kDim) * dot(tv + t * kDim, tv + t * kDim, kDim));
    }
  }
  const int ks[3] = {1, 5, 10};
  double i2t[3] = {0, 0, 0}, t2i[3] = {0, 0, 0};
  for (int i = 0; i < images; ++i) {
    int best = texts;
    for (int c = 0; c < cpi; ++c) {
      const int t = i * cpi + c;
      int rank = 0;
      for (int u = 0; u < texts; ++u) rank += s[i][u] > s[i][t] || (s[i][u] == s[i][t] && u < t);
      if (rank < best) best = rank;
    }
    for (int j = 0; j < 3; ++j) i2t[j] += best < ks[j];
  }
  for (int t = 0; t < texts; ++t) {
    const int i = t / cpi;
    int rank = 0;
    for (int u = 0; u < images; ++u) rank += s[u][t] > s[i][t] || (s[u][t] == s[i][t] && u < i);
    for (int j = 0; j < 3; ++j) t2i[j] += rank < ks[j];
  }
  xmr_retrieval_recall_t r;
  EXPECT_OK(xmr_recall_at_k(iv, images, tv, texts, kDim, cpi, &r));
  CHECK(r.i2t_r1 == i2t[0] / images && r.i2t_r5 == i2t[1] / images && r.i2t_r10 == i2t[2] / images);
  CHECK(r.t2i_r1 == t2i[0] / texts && r.t2i_r5 == t2i[1] / texts && r.t2i_r10 == t2i[2] / texts);
  CHECK(fabs(r.r_mean - (r.i2t_mean + r.t2i_mean) / 2) < 1e-12);
  CHECK(fabs(r.i2t_mean - (r.i2t_r1 + r.i2t_r5 + r.i2t_r10) / 3) < 1e-12);

  EXPECT_INVALID(xmr_recall_at_k(iv, images, tv, texts - 1, kDim, cpi, &r), "texts.rows (= 23)");
  EXPECT_INVALID(xmr_recall_at_k(iv, images, tv, texts, kDim, 0, &r), "captions_per_image (= 0)");
  EXPECT_INVALID(xmr_recall_at_k(iv, images, NULL, texts, kDim, cpi, &r), "texts (= null) with num_texts (= 24)");
  EXPECT_INVALID(xmr_recall_at_k(iv, -2, tv, texts, kDim, cpi, &r), "num_images (= -2) must be >= 0");
  EXPECT_INVALID(xmr_recall_at_k(iv, images, tv, texts, -1, cpi, &r), "(= -1)");
  EXPECT_INVALID(xmr_recall_at_k(iv, images, tv, texts, kDim, cpi, NULL), "out (= null)");
  tv[4] = NAN;
  EXPECT_INVALID(xmr_recall_at_k(iv, images, tv, texts, kDim, cpi, &r), "nan");
}

/* ---- collections and the pipeline ----------------------------------------------------------- */

enum { kCDim = 4, kCBits = 16, kCBytes = kCBits / 8, kImages = 24, kTexts = 30, kCQueries = 5, kMaxK = 16 };

/* One side of the cross-modal data: n items with ids, integer embeddings and codes. */
typedef struct {
  int64_t n;
  int64_t ids[kTexts];
  float emb[kTexts * kCDim];
  uint8_t codes[kTexts * kCBytes];
} side_data;

static void make_side(side_data* d, int64_t n, int64_t first_id, int64_t id_step) {
  d->n = n;
  for (int64_t i = 0; i < n; ++i) d->ids[i] = first_id + id_step * i;
  fill_small_ints(d->emb, n * kCDim);
  fill_bytes(d->codes, n * kCBytes);
}

static xmr_collection_t* make_collection(const char* name, const side_data* d, int sequential_ids) {
  xmr_collection_t* c = NULL;
  EXPECT_OK(xmr_collection_create(name, kCDim, XMR_METRIC_INNER_PRODUCT, XMR_DTYPE_F32, kCBits, XMR_DEVICE_CPU, &c));
  EXPECT_OK(xmr_collection_add(c, d->n, sequential_ids ? NULL : d->ids, d->emb, d->codes));
  return c;
}

/* The stage scores of one query against every item of `d`: s1 by the shortlist (inner product,
 * or the code similarity 1 - 2 d / B), s2 the exact inner product (the re-score). */
static void stage_scores(const side_data* d, const float* q_emb, const uint8_t* q_code, xmr_shortlist_t shortlist,
                         double* s1, double* s2) {
  for (int64_t i = 0; i < d->n; ++i) {
    s2[i] = dot(q_emb, d->emb + i * kCDim, kCDim);
    s1[i] = shortlist == XMR_SHORTLIST_CODES ? 1.0 - 2.0 * hamming(q_code, d->codes + i * kCBytes, kCBytes) / kCBits
                                             : s2[i];
  }
}

/* The test scorer's score of a pair: a small integer, so every fusion is exact. */
static float pair_score(int64_t query_row, int64_t candidate_id) {
  return (float)((candidate_id * 7 + query_row * 3) % 11) - 5.0f;
}

/* The brute-force pipeline for one query: the top `c` items by s1 (ties by ascending id, ids
 * ascending with the index), their fused score, and the top k of those (ties by ascending id),
 * padded with -1 / -INFINITY. */
static void expected_pipeline(const side_data* d, const double* s1, const double* s2, int64_t query_row,
                              const xmr_pipeline_options_t* o, int64_t* out_ids, float* out_scores) {
  double key[kTexts];
  int64_t order[kTexts];
  int alive[kTexts] = {0}; /* in the shortlist */
  double fused_keys[kTexts];
  for (int64_t i = 0; i < d->n; ++i) key[i] = -s1[i];
  const int64_t c = o->candidates < d->n ? o->candidates : d->n;
  rank_by_key(key, d->n, order);
  for (int64_t r = 0; r < c; ++r) alive[order[r]] = 1;
  for (int64_t i = 0; i < d->n; ++i) {
    const int rescored = o->rescore == XMR_RESCORE_EMBEDDINGS;
    const int reranked = o->scorer != NULL;
    const double sim = rescored ? s2[i] : s1[i];
    const double s3 = reranked ? pair_score(query_row, d->ids[i]) : 0.0;
    double fused = reranked ? s3 : sim;
    if (o->fusion.mode == XMR_FUSION_SUM && reranked) fused = s3 + sim;
    if (o->fusion.mode == XMR_FUSION_WEIGHTED) {
      fused = o->fusion.shortlist_weight * s1[i] + (rescored ? o->fusion.rescore_weight * s2[i] : 0.0) +
              (reranked ? o->fusion.rerank_weight * s3 : 0.0);
    }
    key[i] = -fused;
  }
  expected_topk(key, d->ids, alive, d->n, o->k, out_ids, fused_keys);
  for (int64_t j = 0; j < o->k; ++j) out_scores[j] = out_ids[j] < 0 ? -INFINITY : (float)-fused_keys[j];
}

/* The scorer's user data: a call count and checks of what the pipeline hands over. */
typedef struct {
  atomic_long calls;
  atomic_long pairs;
  atomic_int bad;           /* a pair whose similarity or query id is not what brute force says */
  const side_data* target;  /* the searched side */
  const double* similarity; /* [num_queries x target->n]: the expected stage-2 (else stage-1) score */
  const int64_t* query_ids; /* NULL: the scorer must see -1 */
  int64_t fail_batch;       /* >= 0: return an error on this batch */
  int64_t nan_batch;        /* >= 0: return NaN on this batch */
} scorer_state;

static int64_t index_of_id(const side_data* d, int64_t id) {
  for (int64_t i = 0; i < d->n; ++i) {
    if (d->ids[i] == id) return i;
  }
  return -1;
}

static int32_t test_scorer(void* user_data, const xmr_pair_batch_t* pairs, float* out_scores, char* message,
                           size_t message_size) {
  scorer_state* st = user_data;
  atomic_fetch_add(&st->calls, 1);
  atomic_fetch_add(&st->pairs, (long)pairs->num_pairs);
  if (pairs->batch_index == st->fail_batch) {
    snprintf(message, message_size, "ITM head failed on %lld pairs", (long long)pairs->num_pairs);
    return 3;
  }
  for (int64_t i = 0; i < pairs->num_pairs; ++i) {
    const int64_t row = pairs->query_rows[i];
    const int64_t item = index_of_id(st->target, pairs->candidate_ids[i]);
    const int64_t want_qid = st->query_ids != NULL ? st->query_ids[row] : -1;
    if (item < 0 || pairs->query_ids[i] != want_qid ||
        (double)pairs->similarity[i] != st->similarity[row * st->target->n + item]) {
      atomic_store(&st->bad, 1);
    }
    out_scores[i] = pairs->batch_index == st->nan_batch ? NAN : pair_score(row, pairs->candidate_ids[i]);
  }
  return 0;
}

/* Checks that a call succeeded and that its [nq x o->k] results equal the brute-force pipeline
 * over `target` for queries given by embeddings and codes (ids and scores exactly). */
static void check_pipeline(xmr_status_t status, const side_data* target, const float* q_emb, const uint8_t* q_codes,
                           int64_t nq, const xmr_pipeline_options_t* o, const int64_t* got_ids, const float* got_scores,
                           const char* what) {
  CHECK(status == XMR_OK);
  int mismatches = 0;
  for (int64_t q = 0; q < nq; ++q) {
    double s1[kTexts], s2[kTexts];
    int64_t want_ids[kMaxK];
    float want_scores[kMaxK];
    stage_scores(target, q_emb + q * kCDim, q_codes + q * kCBytes, o->shortlist, s1, s2);
    expected_pipeline(target, s1, s2, q, o, want_ids, want_scores);
    for (int64_t j = 0; j < o->k; ++j) {
      if (got_ids[q * o->k + j] != want_ids[j] || got_scores[q * o->k + j] != want_scores[j]) ++mismatches;
    }
  }
  if (mismatches != 0)
    fprintf(stderr, "pipeline case \"%s\": %d result(s) differ from brute force\n", what, mismatches);
  CHECK(mismatches == 0);
}

/* The similarity the scorer sees for each (query, item): s2 with a re-score, else s1. */
static void scorer_similarity(const side_data* target, const float* q_emb, const uint8_t* q_codes, int64_t nq,
                              const xmr_pipeline_options_t* o, double* out) {
  for (int64_t q = 0; q < nq; ++q) {
    double s1[kTexts], s2[kTexts];
    stage_scores(target, q_emb + q * kCDim, q_codes + q * kCBytes, o->shortlist, s1, s2);
    for (int64_t i = 0; i < target->n; ++i)
      out[q * target->n + i] = o->rescore == XMR_RESCORE_EMBEDDINGS ? s2[i] : s1[i];
  }
}

/* Sets `o`'s scorer to test_scorer with `st` as user data, which expects the similarity that
 * brute force gives for `o`'s stages (`sim`, [nq x target->n], filled here) and `query_ids`.
 * Set o's stages first. */
static void attach_scorer(xmr_pipeline_options_t* o, scorer_state* st, const side_data* target, const float* q_emb,
                          const uint8_t* q_codes, int64_t nq, const int64_t* query_ids, double* sim) {
  scorer_similarity(target, q_emb, q_codes, nq, o, sim);
  atomic_init(&st->calls, 0);
  atomic_init(&st->pairs, 0);
  atomic_init(&st->bad, 0);
  st->target = target;
  st->similarity = sim;
  st->query_ids = query_ids;
  st->fail_batch = -1;
  st->nan_batch = -1;
  o->scorer = test_scorer;
  o->scorer_user_data = st;
}

typedef struct {
  const char* name;
  xmr_shortlist_t shortlist;
  xmr_rescore_t rescore;
  int scorer;
  xmr_fusion_t fusion;
  int64_t k, candidates, scorer_batch, query_chunk;
  int32_t scorer_threads, listwise;
} pipeline_case;

static void test_pipeline_results(void) {
  side_data texts;
  make_side(&texts, kTexts, 0, 1);
  xmr_collection_t* c = make_collection("texts", &texts, 1);
  float q_emb[kCQueries * kCDim];
  uint8_t q_codes[kCQueries * kCBytes];
  fill_small_ints(q_emb, kCQueries * kCDim);
  fill_bytes(q_codes, kCQueries * kCBytes);
  const int64_t q_ids[kCQueries] = {900, 901, 7, 903, 42};
  const xmr_fusion_t kReplace = {XMR_FUSION_REPLACE, 0, 0, 1}, kSum = {XMR_FUSION_SUM, 0, 0, 1},
                     kWeighted = {XMR_FUSION_WEIGHTED, 0.5f, 2.0f, -1.5f};
  const xmr_shortlist_t kEmb = XMR_SHORTLIST_EMBEDDINGS, kCodes = XMR_SHORTLIST_CODES;
  const xmr_rescore_t kNone = XMR_RESCORE_NONE, kExact = XMR_RESCORE_EMBEDDINGS;
  const pipeline_case cases[] = {
      /* name, shortlist, rescore, scorer, fusion, k, candidates, scorer_batch, query_chunk, scorer_threads, listwise */
      {"embeddings", kEmb, kNone, 0, kReplace, 5, 12, 256, 0, 1, 0},
      {"embeddings, C = n", kEmb, kNone, 0, kReplace, 16, 30, 256, 0, 1, 0},
      {"codes", kCodes, kNone, 0, kReplace, 6, 10, 256, 0, 1, 0},
      {"codes + rescore", kCodes, kExact, 0, kReplace, 4, 9, 256, 0, 1, 0},
      {"embeddings + scorer, replace", kEmb, kNone, 1, kReplace, 5, 12, 7, 0, 1, 0},
      {"embeddings + scorer, sum (ITM + ITC)", kEmb, kNone, 1, kSum, 5, 12, 16, 0, 1, 0},
      {"codes + rescore + scorer, weighted, 2 threads, chunks", kCodes, kExact, 1, kWeighted, 5, 14, 5, 2, 2, 0},
      {"codes + scorer, sum, listwise, 3 threads", kCodes, kNone, 1, kSum, 3, 8, 10, 0, 3, 1},
  };
  for (size_t t = 0; t < sizeof cases / sizeof cases[0]; ++t) {
    const pipeline_case* pc = &cases[t];
    xmr_pipeline_options_t o;
    xmr_pipeline_options_init(&o);
    o.shortlist = pc->shortlist;
    o.rescore = pc->rescore;
    o.fusion = pc->fusion;
    o.k = pc->k;
    o.candidates = pc->candidates;
    o.scorer_batch = pc->scorer_batch;
    o.query_chunk = pc->query_chunk;
    o.scorer_threads = pc->scorer_threads;
    o.listwise = pc->listwise;
    o.device = XMR_DEVICE_CPU;
    double sim[kCQueries * kTexts];
    scorer_state st;
    attach_scorer(&o, &st, &texts, q_emb, q_codes, kCQueries, q_ids, sim);
    if (!pc->scorer) o.scorer = NULL;
    int64_t ids[kCQueries * kMaxK];
    float scores[kCQueries * kMaxK];
    check_pipeline(xmr_collection_retrieve(c, q_emb, q_codes, q_ids, kCQueries, &o, ids, scores), &texts, q_emb,
                   q_codes, kCQueries, &o, ids, scores, pc->name);
    if (pc->scorer) {
      /* Every shortlisted pair is scored once; the user data saw every call. */
      const long pairs = (long)(kCQueries * o.candidates);
      const long min_calls = (pairs + (long)o.scorer_batch - 1) / (long)o.scorer_batch;
      CHECK(atomic_load(&st.pairs) == pairs);
      CHECK(atomic_load(&st.calls) >= min_calls && atomic_load(&st.calls) <= pairs);
      /* One chunk, pairwise: exactly ceil(pairs / scorer_batch) calls. */
      if (!pc->listwise && pc->query_chunk == 0) CHECK(atomic_load(&st.calls) == min_calls);
      CHECK(atomic_load(&st.bad) == 0);
    } else {
      CHECK(atomic_load(&st.calls) == 0);
    }
  }
  /* Without query ids the scorer sees -1. */
  {
    xmr_pipeline_options_t o;
    xmr_pipeline_options_init(&o);
    o.k = 3;
    o.candidates = 6;
    double sim[kCQueries * kTexts];
    scorer_state st;
    attach_scorer(&o, &st, &texts, q_emb, q_codes, kCQueries, NULL, sim);
    int64_t ids[kCQueries * 3];
    float scores[kCQueries * 3];
    check_pipeline(xmr_collection_retrieve(c, q_emb, NULL, NULL, kCQueries, &o, ids, scores), &texts, q_emb, q_codes,
                   kCQueries, &o, ids, scores, "no query ids");
    CHECK(atomic_load(&st.calls) == 1 && atomic_load(&st.bad) == 0);
    /* No queries: nothing is written, the outputs may be NULL. */
    EXPECT_OK(xmr_collection_retrieve(c, NULL, NULL, NULL, 0, &o, NULL, NULL));
    CHECK(atomic_load(&st.calls) == 1);
  }
  xmr_collection_free(c);
}

/* A scorer that fails or returns NaN fails the call with XMR_ERR_CALLBACK and its message; the
 * collection answers as before. */
static void test_scorer_errors(void) {
  side_data texts;
  make_side(&texts, kTexts, 5, 2);
  xmr_collection_t* c = make_collection("texts", &texts, 0);
  float q_emb[kCQueries * kCDim];
  fill_small_ints(q_emb, kCQueries * kCDim);
  uint8_t q_codes[kCQueries * kCBytes] = {0};
  xmr_pipeline_options_t o;
  xmr_pipeline_options_init(&o);
  o.k = 4;
  o.candidates = 8;
  o.scorer_batch = 8; /* one query per batch: 5 batches */
  o.fusion.mode = XMR_FUSION_SUM;
  double sim[kCQueries * kTexts];
  scorer_state st;
  attach_scorer(&o, &st, &texts, q_emb, q_codes, kCQueries, NULL, sim);
  int64_t ids[kCQueries * 4], before_ids[kCQueries * 4];
  float scores[kCQueries * 4], before_scores[kCQueries * 4];
  EXPECT_OK(xmr_collection_retrieve(c, q_emb, NULL, NULL, kCQueries, &o, before_ids, before_scores));
  check_pipeline(XMR_OK, &texts, q_emb, q_codes, kCQueries, &o, before_ids, before_scores, "before the errors");
  CHECK(atomic_load(&st.calls) == 5);

  st.fail_batch = 2;
  EXPECT_STATUS(xmr_collection_retrieve(c, q_emb, NULL, NULL, kCQueries, &o, ids, scores), XMR_ERR_CALLBACK,
                "scorer failed on batch 2 (8 pairs of query rows 2..2): scorer returned 3: ITM head failed on 8 pairs");
  for (int threads = 1; threads <= 4; threads += 3) {
    o.scorer_threads = threads;
    EXPECT_STATUS(xmr_collection_retrieve(c, q_emb, NULL, NULL, kCQueries, &o, ids, scores), XMR_ERR_CALLBACK,
                  "scorer returned 3: ITM head failed");
  }
  o.scorer_threads = 1;
  st.fail_batch = -1;
  st.nan_batch = 1;
  EXPECT_STATUS(xmr_collection_retrieve(c, q_emb, NULL, NULL, kCQueries, &o, ids, scores), XMR_ERR_CALLBACK,
                "scorer returned NaN for pair 0 of batch 1");
  st.nan_batch = -1;
  int64_t size = 0;
  EXPECT_OK(xmr_collection_size(c, &size));
  CHECK(size == kTexts);
  const long calls = atomic_load(&st.calls);
  EXPECT_OK(xmr_collection_retrieve(c, q_emb, NULL, NULL, kCQueries, &o, ids, scores));
  CHECK(memcmp(ids, before_ids, sizeof ids) == 0 && memcmp(scores, before_scores, sizeof scores) == 0);
  CHECK(atomic_load(&st.calls) == calls + 5 && atomic_load(&st.bad) == 0);
  xmr_collection_free(c);
}

static void test_collection(void) {
  side_data d;
  make_side(&d, 6, 10, 10);
  xmr_collection_t* c = NULL;
  /* Codes only; padding beyond the collection's size. */
  EXPECT_OK(xmr_collection_create(NULL, 0, XMR_METRIC_COSINE, XMR_DTYPE_F32, kCBits, XMR_DEVICE_AUTO, &c));
  EXPECT_OK(xmr_collection_add(c, 3, d.ids, NULL, d.codes));
  EXPECT_OK(xmr_collection_add(c, 0, NULL, NULL, NULL));
  int64_t size = -1;
  EXPECT_OK(xmr_collection_size(c, &size));
  CHECK(size == 3);
  xmr_pipeline_options_t o;
  xmr_pipeline_options_init(&o);
  CHECK(o.k == 10 && o.candidates == 128 && o.shortlist == XMR_SHORTLIST_EMBEDDINGS && o.rescore == XMR_RESCORE_NONE &&
        o.scorer == NULL && o.scorer_user_data == NULL && o.scorer_batch == 256 && o.listwise == 0 &&
        o.scorer_threads == 1 && o.query_chunk == 0 && o.fusion.mode == XMR_FUSION_REPLACE &&
        o.fusion.rerank_weight == 1.0f && o.device == XMR_DEVICE_DEFAULT);
  xmr_pipeline_options_init(NULL);
  o.shortlist = XMR_SHORTLIST_CODES;
  o.k = 5;
  o.candidates = 5;
  int64_t ids[5];
  float scores[5];
  EXPECT_OK(xmr_collection_retrieve(c, NULL, d.codes + kCBytes, NULL, 1, &o, ids, scores));
  CHECK(ids[0] == 20 && scores[0] == 1.0f && ids[3] == -1 && ids[4] == -1 && isinf(scores[4]) && scores[4] < 0);
  /* The default shortlist needs embeddings, which this collection lacks: named in the message. */
  o.shortlist = XMR_SHORTLIST_EMBEDDINGS;
  EXPECT_INVALID(xmr_collection_retrieve(c, NULL, d.codes, NULL, 1, &o, ids, scores),
                 "options.shortlist (= embeddings): collection 'collection' has no embeddings");

  /* add / remove / size errors; the collection is unchanged after each. */
  EXPECT_INVALID(xmr_collection_add(NULL, 1, NULL, NULL, d.codes), "collection (= null) must not be null");
  EXPECT_INVALID(xmr_collection_add(c, -1, NULL, NULL, d.codes), "num_items (= -1) must be >= 0");
  EXPECT_INVALID(xmr_collection_add(c, 2, NULL, NULL, NULL), "items.codes");
  EXPECT_INVALID(xmr_collection_add(c, 2, NULL, d.emb, d.codes), "items.embeddings");
  EXPECT_INVALID(xmr_collection_add(c, 1, d.ids, NULL, d.codes), "items.ids[0] (= 10) is already in collection");
  EXPECT_INVALID(xmr_collection_remove(NULL, d.ids, 1), "collection (= null) must not be null");
  EXPECT_INVALID(xmr_collection_remove(c, NULL, 1), "ids (= null) with num_ids (= 1) > 0");
  EXPECT_INVALID(xmr_collection_remove(c, d.ids, -1), "num_ids (= -1) must be >= 0");
  EXPECT_INVALID(xmr_collection_remove(c, d.ids + 4, 1), "50");
  EXPECT_INVALID(xmr_collection_size(NULL, &size), "collection (= null) must not be null");
  EXPECT_INVALID(xmr_collection_size(c, NULL), "out_size (= null) must not be null");
  EXPECT_OK(xmr_collection_size(c, &size));
  CHECK(size == 3);
  EXPECT_OK(xmr_collection_remove(c, d.ids + 1, 1));
  EXPECT_OK(xmr_collection_size(c, &size));
  CHECK(size == 2);
  o.shortlist = XMR_SHORTLIST_CODES;
  EXPECT_OK(xmr_collection_retrieve(c, NULL, d.codes + kCBytes, NULL, 1, &o, ids, scores));
  CHECK(ids[0] != 20 && ids[2] == -1);
  xmr_collection_free(c);
  xmr_collection_free(NULL);

  /* create errors */
  c = NULL;
  EXPECT_INVALID(xmr_collection_create("x", 4, XMR_METRIC_COSINE, XMR_DTYPE_F32, 0, XMR_DEVICE_CPU, NULL),
                 "out_collection (= null) must not be null");
  EXPECT_INVALID(xmr_collection_create("x", 0, XMR_METRIC_COSINE, XMR_DTYPE_F32, 0, XMR_DEVICE_CPU, &c), "options.");
  EXPECT_INVALID(xmr_collection_create("x", 4, XMR_METRIC_COSINE, XMR_DTYPE_F32, 12, XMR_DEVICE_CPU, &c), "12");
  EXPECT_INVALID(xmr_collection_create("x", -4, XMR_METRIC_COSINE, XMR_DTYPE_F32, 0, XMR_DEVICE_CPU, &c), "-4");
  EXPECT_INVALID(xmr_collection_create("x", 4, 9, XMR_DTYPE_F32, 0, XMR_DEVICE_CPU, &c), "9");
  EXPECT_INVALID(xmr_collection_create("x", 4, XMR_METRIC_COSINE, 9, 0, XMR_DEVICE_CPU, &c), "9");
  EXPECT_INVALID(xmr_collection_create("x", 4, XMR_METRIC_COSINE, XMR_DTYPE_F32, 0, XMR_DEVICE_DEFAULT, &c), "-1");
  CHECK(c == NULL);
}

/* Every NULL and bad option of a pipeline call, on a collection that answers as before after. */
static void test_pipeline_errors(void) {
  side_data d;
  make_side(&d, 10, 0, 1);
  xmr_collection_t* c = make_collection("items", &d, 1);
  float q[2 * kCDim];
  fill_small_ints(q, 2 * kCDim);
  xmr_pipeline_options_t good;
  xmr_pipeline_options_init(&good);
  good.k = 3;
  good.candidates = 5;
  int64_t ids[6], before_ids[6];
  float scores[6], before_scores[6];
  EXPECT_OK(xmr_collection_retrieve(c, q, NULL, NULL, 2, &good, before_ids, before_scores));

  EXPECT_INVALID(xmr_collection_retrieve(NULL, q, NULL, NULL, 2, &good, ids, scores),
                 "collection (= null) must not be null");
  EXPECT_INVALID(xmr_collection_retrieve(c, q, NULL, NULL, 2, NULL, ids, scores), "options (= null) must not be null");
  EXPECT_INVALID(xmr_collection_retrieve(c, q, NULL, NULL, -1, &good, ids, scores), "num_queries (= -1) must be >= 0");
  EXPECT_INVALID(xmr_collection_retrieve(c, q, NULL, NULL, 2, &good, NULL, scores),
                 "out_ids (= null) with num_queries (= 2) > 0");
  EXPECT_INVALID(xmr_collection_retrieve(c, q, NULL, NULL, 2, &good, ids, NULL),
                 "out_scores (= null) with num_queries (= 2) > 0");
  EXPECT_INVALID(xmr_collection_retrieve(c, NULL, NULL, NULL, 2, &good, ids, scores), "queries.embeddings");
  {
    xmr_pipeline_options_t o = good;
    o.shortlist = XMR_SHORTLIST_CODES;
    EXPECT_INVALID(xmr_collection_retrieve(c, q, NULL, NULL, 2, &o, ids, scores), "queries.codes");
  }
  {
    float bad[2 * kCDim];
    memcpy(bad, q, sizeof bad);
    bad[5] = NAN;
    EXPECT_INVALID(xmr_collection_retrieve(c, bad, NULL, NULL, 2, &good, ids, scores), "nan");
  }
  /* One bad field at a time, each named with its value. */
  struct {
    int field;
    int64_t value;
    const char* text;
  } const bad[] = {
      {0, 0, "options.k (= 0) must be in [1, "},
      {1, 2, "options.candidates (= 2) must be in [options.k (= 3), "},
      {2, 1, "queries.vectors"}, /* a multi-vector shortlist over the embeddings needs query vectors */
      {2, 9, "options.shortlist (= 9) is not a ShortlistBy value"},
      {3, 2, "options.rescore (= multi_vector)"},
      {3, -3, "options.rescore (= -3) is not a RescoreBy value"},
      {4, 0, "options.scorer_batch (= 0) must be >= 1"},
      {5, 0, "options.scorer_threads (= 0) must be in [1, 256]"},
      {5, 257, "options.scorer_threads (= 257) must be in [1, 256]"},
      {6, -1, "options.query_chunk (= -1) must be >= 0"},
      {7, 3, "options.fusion.mode (= 3) is not a FusionMode value"},
      {8, 0, "options.fusion.shortlist_weight (= nan) must be finite"},
      {9, 0, "options.fusion.rescore_weight (= inf) must be finite"},
      {10, 0, "options.fusion.rerank_weight (= nan) must be finite"},
      {11, 7, "7"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; ++i) {
    xmr_pipeline_options_t o = good;
    switch (bad[i].field) {
      case 0: o.k = bad[i].value; break;
      case 1: o.candidates = bad[i].value; break;
      case 2: o.shortlist = (xmr_shortlist_t)bad[i].value; break;
      case 3: o.rescore = (xmr_rescore_t)bad[i].value; break;
      case 4: o.scorer_batch = bad[i].value; break;
      case 5: o.scorer_threads = (int32_t)bad[i].value; break;
      case 6: o.query_chunk = bad[i].value; break;
      case 7: o.fusion.mode = (xmr_fusion_mode_t)bad[i].value; break;
      case 8: o.fusion.shortlist_weight = NAN; break;
      case 9: o.fusion.rescore_weight = INFINITY; break;
      case 10: o.fusion.rerank_weight = NAN; break;
      default: o.device = (xmr_device_t)bad[i].value; break;
    }
    EXPECT_INVALID(xmr_collection_retrieve(c, q, NULL, NULL, 2, &o, ids, scores), bad[i].text);
  }
  if (xmr_gpu_count() == 0) {
    xmr_pipeline_options_t o = good;
    o.device = XMR_DEVICE_GPU;
    EXPECT_STATUS(xmr_collection_retrieve(c, q, NULL, NULL, 2, &o, ids, scores), XMR_ERR_UNAVAILABLE, "");
  }
  /* An empty collection. */
  {
    xmr_collection_t* empty = NULL;
    EXPECT_OK(
        xmr_collection_create("empty", kCDim, XMR_METRIC_INNER_PRODUCT, XMR_DTYPE_F32, 0, XMR_DEVICE_CPU, &empty));
    EXPECT_INVALID(xmr_collection_retrieve(empty, q, NULL, NULL, 2, &good, ids, scores),
                   "collection 'empty' is empty (size = 0)");
    xmr_collection_free(empty);
  }
  EXPECT_OK(xmr_collection_retrieve(c, q, NULL, NULL, 2, &good, ids, scores));
  CHECK(memcmp(ids, before_ids, sizeof ids) == 0 && memcmp(scores, before_scores, sizeof scores) == 0);
  xmr_collection_free(c);
}

/* Both directions of a cross-modal index, by stored ids and by new vectors, against brute force
 * over the other side; the collection handles are taken over. */
static void test_cross_modal(void) {
  side_data images, texts;
  make_side(&images, kImages, 100, 3);
  make_side(&texts, kTexts, 0, 1);
  xmr_collection_t* ci = make_collection("images", &images, 0);
  xmr_collection_t* ct = make_collection("texts", &texts, 1);
  xmr_cross_modal_t* index = NULL;

  EXPECT_INVALID(xmr_cross_modal_create(NULL, &ct, &index), "images (= null) must not be null");
  EXPECT_INVALID(xmr_cross_modal_create(&ci, NULL, &index), "texts (= null) must not be null");
  EXPECT_INVALID(xmr_cross_modal_create(&ci, &ct, NULL), "out_index (= null) must not be null");
  EXPECT_INVALID(xmr_cross_modal_create(&ci, &ci, &index), "*images and *texts are the same collection handle");
  {
    xmr_collection_t* none = NULL;
    EXPECT_INVALID(xmr_cross_modal_create(&none, &ct, &index), "*images (= null) must not be null");
    EXPECT_INVALID(xmr_cross_modal_create(&ci, &none, &index), "*texts (= null) must not be null");
  }
  CHECK(index == NULL && ci != NULL && ct != NULL);
  int64_t size = 0;
  EXPECT_OK(xmr_collection_size(ci, &size)); /* still usable after the failures */
  CHECK(size == kImages);

  EXPECT_OK(xmr_cross_modal_create(&ci, &ct, &index));
  CHECK(index != NULL && ci == NULL && ct == NULL);
  xmr_collection_free(ci); /* NULL now: a no-op */

  const int64_t image_q[3] = {100 + 3 * 5, 100 + 3 * 0, 100 + 3 * 23};
  const int64_t text_q[4] = {29, 3, 3, 11};
  for (int shortlist = 0; shortlist < 2; ++shortlist) {
    xmr_pipeline_options_t o;
    xmr_pipeline_options_init(&o);
    o.k = 4;
    o.candidates = 9;
    o.shortlist = shortlist ? XMR_SHORTLIST_CODES : XMR_SHORTLIST_EMBEDDINGS;
    o.fusion.mode = XMR_FUSION_SUM;
    for (xmr_direction_t dir = XMR_DIRECTION_IMAGE_TO_TEXT; dir <= XMR_DIRECTION_TEXT_TO_IMAGE; ++dir) {
      const int i2t = dir == XMR_DIRECTION_IMAGE_TO_TEXT;
      const side_data* from = i2t ? &images : &texts;
      const side_data* to = i2t ? &texts : &images;
      const int64_t* qids = i2t ? image_q : text_q;
      const int64_t nq = i2t ? 3 : 4;
      float q_emb[4 * kCDim];
      uint8_t q_codes[4 * kCBytes];
      for (int64_t q = 0; q < nq; ++q) {
        const int64_t row = index_of_id(from, qids[q]);
        memcpy(q_emb + q * kCDim, from->emb + row * kCDim, sizeof(float) * kCDim);
        memcpy(q_codes + q * kCBytes, from->codes + row * kCBytes, kCBytes);
      }
      double sim[4 * kTexts];
      scorer_state st;
      attach_scorer(&o, &st, to, q_emb, q_codes, nq, qids, sim);
      int64_t ids[4 * 4];
      float scores[4 * 4];
      check_pipeline(xmr_cross_modal_search(index, dir, qids, nq, &o, ids, scores), to, q_emb, q_codes, nq, &o, ids,
                     scores, i2t ? "i2t by ids" : "t2i by ids");
      CHECK(atomic_load(&st.calls) == 1 && atomic_load(&st.bad) == 0);
      check_pipeline(xmr_cross_modal_search_vectors(index, dir, q_emb, q_codes, qids, nq, &o, ids, scores), to, q_emb,
                     q_codes, nq, &o, ids, scores, i2t ? "i2t by vectors" : "t2i by vectors");
      CHECK(atomic_load(&st.calls) == 2 && atomic_load(&st.bad) == 0);
    }
  }
  /* errors */
  xmr_pipeline_options_t o;
  xmr_pipeline_options_init(&o);
  o.k = 2;
  o.candidates = 4;
  int64_t ids[8];
  float scores[8];
  float q_emb[kCDim] = {1, 0, 0, 0};
  EXPECT_INVALID(xmr_cross_modal_search(NULL, 0, text_q, 1, &o, ids, scores), "index (= null) must not be null");
  EXPECT_INVALID(xmr_cross_modal_search(index, 2, text_q, 1, &o, ids, scores), "direction (= 2) is not a Direction");
  EXPECT_INVALID(xmr_cross_modal_search(index, 0, NULL, 1, &o, ids, scores),
                 "query_ids (= null) with num_queries (= 1) > 0");
  EXPECT_INVALID(xmr_cross_modal_search(index, 0, text_q, -1, &o, ids, scores), "num_queries (= -1) must be >= 0");
  EXPECT_INVALID(xmr_cross_modal_search(index, 0, text_q, 1, NULL, ids, scores), "options (= null) must not be null");
  EXPECT_INVALID(xmr_cross_modal_search(index, 0, text_q, 1, &o, NULL, scores), "out_ids (= null)");
  EXPECT_INVALID(xmr_cross_modal_search(index, 0, text_q + 1, 1, &o, ids, scores), "3"); /* 3 is not an image id */
  EXPECT_OK(xmr_cross_modal_search(index, 1, text_q + 1, 1, &o, ids, scores));           /* but a text id */
  EXPECT_OK(xmr_cross_modal_search(index, 1, NULL, 0, &o, NULL, NULL));
  EXPECT_INVALID(xmr_cross_modal_search_vectors(NULL, 0, q_emb, NULL, NULL, 1, &o, ids, scores),
                 "index (= null) must not be null");
  EXPECT_INVALID(xmr_cross_modal_search_vectors(index, -1, q_emb, NULL, NULL, 1, &o, ids, scores),
                 "direction (= -1) is not a Direction value");
  EXPECT_INVALID(xmr_cross_modal_search_vectors(index, 0, q_emb, NULL, NULL, -2, &o, ids, scores),
                 "num_queries (= -2) must be >= 0");
  EXPECT_INVALID(xmr_cross_modal_search_vectors(index, 0, q_emb, NULL, NULL, 1, NULL, ids, scores), "options (= null)");
  EXPECT_INVALID(xmr_cross_modal_search_vectors(index, 0, q_emb, NULL, NULL, 1, &o, ids, NULL), "out_scores (= null)");
  EXPECT_INVALID(xmr_cross_modal_search_vectors(index, 0, NULL, NULL, NULL, 1, &o, ids, scores), "queries.embeddings");
  xmr_cross_modal_free(index);
  xmr_cross_modal_free(NULL);
}

/* precision@K and NDCG@K of [kMq x kL] result lists (database rows, -1 padding at the end of
 * some rows) against a C reimplementation of their definitions. */
enum { kL = 12 };

static int shared_labels(const uint8_t* a, const uint8_t* b) {
  int n = 0;
  for (int c = 0; c < kClasses; ++c) n += a[c] && b[c];
  return n;
}

static double expected_list_metric(int ndcg, const int64_t* ranked, const uint8_t* ql, const uint8_t* dl, int64_t k,
                                   double* per_query, int64_t* no_relevant) {
  const int64_t window = k < kMn ? k : kMn;
  double total = 0;
  *no_relevant = 0;
  for (int q = 0; q < kMq; ++q) {
    double gains[kMn], ideal_keys[kMn];
    int64_t ideal[kMn];
    int any = 0;
    for (int i = 0; i < kMn; ++i) {
      gains[i] =
          ndcg ? shared_labels(ql + q * kClasses, dl + i * kClasses) : relevant(ql + q * kClasses, dl + i * kClasses);
      ideal_keys[i] = -gains[i];
      any |= gains[i] > 0;
    }
    *no_relevant += !any;
    double value = 0, best = 0;
    rank_by_key(ideal_keys, kMn, ideal);
    for (int64_t j = 0; j < window; ++j) {
      const int64_t item = j < kL ? ranked[q * kL + j] : -1;
      const double g = item < 0 ? 0.0 : gains[item];
      value += ndcg ? (pow(2.0, g) - 1.0) / log2((double)j + 2.0) : g;
      best += (pow(2.0, gains[ideal[j]]) - 1.0) / log2((double)j + 2.0);
    }
    per_query[q] = ndcg ? (best > 0 ? value / best : 0.0) : value / (double)window;
    total += per_query[q];
  }
  return total / kMq;
}

static void test_list_metrics(void) {
  uint8_t ql[kMq * kClasses], dl[kMn * kClasses];
  for (int i = 0; i < kMq * kClasses; ++i) ql[i] = next_u32() % 3u == 0;
  for (int i = 0; i < kMn * kClasses; ++i) dl[i] = next_u32() % 3u == 0;
  memset(ql, 0, kClasses); /* query 0 has no relevant item */
  /* Each row: distinct database rows in a random order, the last (q % 4) entries -1. */
  int64_t ranked[kMq * kL];
  for (int q = 0; q < kMq; ++q) {
    int64_t perm[kMn];
    for (int i = 0; i < kMn; ++i) perm[i] = i;
    for (int i = kMn - 1; i > 0; --i) {
      const int j = (int)(next_u32() % (uint32_t)(i + 1));
      const int64_t t = perm[i];
      perm[i] = perm[j];
      perm[j] = t;
    }
    for (int j = 0; j < kL; ++j) ranked[q * kL + j] = j < kL - q % 4 ? perm[j] : -1;
  }
  for (int ndcg = 0; ndcg <= 1; ++ndcg) {
    const int64_t ks[3] = {1, 5, kL};
    for (int t = 0; t < 3; ++t) {
      const int64_t k = ks[t];
      double want_pq[kMq], got_pq[kMq];
      int64_t no_relevant = 0;
      const double want = expected_list_metric(ndcg, ranked, ql, dl, k, want_pq, &no_relevant);
      xmr_metric_result_t r;
      const xmr_status_t st = ndcg ? xmr_ndcg_at_k(ranked, kMq, kL, ql, dl, kMn, kClasses, k, &r, got_pq)
                                   : xmr_precision_at_k(ranked, kMq, kL, ql, dl, kMn, kClasses, k, &r, got_pq);
      CHECK(st == XMR_OK);
      CHECK(fabs(r.mean - want) < 1e-12 && r.queries == kMq && r.skipped_queries == 0 &&
            r.no_relevant_queries == no_relevant && no_relevant >= 1);
      for (int q = 0; q < kMq; ++q) CHECK(fabs(got_pq[q] - want_pq[q]) < 1e-12);
      EXPECT_OK(ndcg ? xmr_ndcg_at_k(ranked, kMq, kL, ql, dl, kMn, kClasses, k, &r, NULL)
                     : xmr_precision_at_k(ranked, kMq, kL, ql, dl, kMn, kClasses, k, &r, NULL));
    }
  }
  xmr_metric_result_t r;
  typedef xmr_status_t (*list_metric_fn)(const int64_t*, int64_t, int64_t, const uint8_t*, const uint8_t*, int64_t,
                                         int64_t, int64_t, xmr_metric_result_t*, double*);
  const list_metric_fn fns[2] = {xmr_precision_at_k, xmr_ndcg_at_k};
  const int64_t saved = ranked[3];
  for (int f = 0; f < 2; ++f) {
    EXPECT_INVALID(fns[f](ranked, kMq, kL, ql, dl, kMn, kClasses, 5, NULL, NULL), "out (= null) must not be null");
    EXPECT_INVALID(fns[f](NULL, kMq, kL, ql, dl, kMn, kClasses, 5, &r, NULL), "ranked (= null) with num_queries (= 9)");
    EXPECT_INVALID(fns[f](ranked, -1, kL, ql, dl, kMn, kClasses, 5, &r, NULL), "num_queries (= -1) must be >= 0");
    EXPECT_INVALID(fns[f](ranked, kMq, kL, ql, dl, -1, kClasses, 5, &r, NULL), "num_db (= -1) must be >= 0");
    EXPECT_INVALID(fns[f](ranked, kMq, kL, NULL, dl, kMn, kClasses, 5, &r, NULL), "query_labels (= null)");
    EXPECT_INVALID(fns[f](ranked, kMq, kL, ql, NULL, kMn, kClasses, 5, &r, NULL), "db_labels (= null)");
    EXPECT_INVALID(fns[f](ranked, kMq, kL, ql, dl, kMn, kClasses, 0, &r, NULL), "k (= 0)");
    ranked[3] = kMn;
    EXPECT_INVALID(fns[f](ranked, kMq, kL, ql, dl, kMn, kClasses, 5, &r, NULL), "(= 30)");
    ranked[3] = ranked[2];
    EXPECT_INVALID(fns[f](ranked, kMq, kL, ql, dl, kMn, kClasses, 5, &r, NULL), "ranked");
    ranked[3] = saved;
  }
  /* The lists must cover the evaluated window min(K, N). */
  EXPECT_INVALID(xmr_precision_at_k(ranked, kMq, kL, ql, dl, kMn, kClasses, kL + 1, &r, NULL),
                 "ranked.cols (= 12) must be >= min(k, N) (= 13)");
}

/* ---- multi-vector index ---------------------------------------------------------------------- */

enum { kMvDim = 2, kMvItems = 9, kMvQueries = 4, kMvMaxVec = 3 };

/* The multi-vector score of query q (rows qa..qb of qv) against item i (rows ia..ib of iv) under
 * inner product: MaxSim (reduce 0) or SumMaxSim (1). */
static double mv_score(const float* qv, int64_t qa, int64_t qb, const float* iv, int64_t ia, int64_t ib, int reduce) {
  double total = 0, best_all = -INFINITY;
  for (int64_t a = qa; a < qb; ++a) {
    double best = -INFINITY;
    for (int64_t b = ia; b < ib; ++b) {
      const double s = dot(qv + a * kMvDim, iv + b * kMvDim, kMvDim);
      if (s > best) best = s;
    }
    total += best;
    if (best > best_all) best_all = best;
  }
  return reduce == XMR_REDUCE_SUM_MAX_SIM ? total : best_all;
}

/* n entries with 1..kMvMaxVec vectors each: offsets [n + 1]. */
static void make_offsets(int64_t* offsets, int64_t n) {
  offsets[0] = 0;
  for (int64_t i = 0; i < n; ++i) offsets[i + 1] = offsets[i] + 1 + (int64_t)(next_u32() % kMvMaxVec);
}

static void check_mv_search(const xmr_multi_vector_index_t* index, const float* qv, const int64_t* qo, int64_t nq,
                            const float* iv, const int64_t* io, const int64_t* ids, const int* alive, int64_t n,
                            int64_t k, int reduce) {
  int64_t got_ids[kMvQueries * 12];
  float got_scores[kMvQueries * 12];
  xmr_search_options_t so;
  xmr_search_options_init(&so);
  so.reduce = reduce;
  so.device = XMR_DEVICE_CPU;
  EXPECT_OK(xmr_multi_vector_index_search(index, qv, qo, nq, k, &so, got_ids, got_scores));
  int mismatches = 0;
  for (int64_t q = 0; q < nq; ++q) {
    double key[kMvItems];
    int64_t want_ids[12];
    double want_keys[12];
    for (int64_t i = 0; i < n; ++i) {
      key[i] = -mv_score(qv, qo ? qo[q] : q, qo ? qo[q + 1] : q + 1, iv, io[i], io[i + 1], reduce);
    }
    expected_topk(key, ids, alive, n, k, want_ids, want_keys);
    for (int64_t j = 0; j < k; ++j) {
      const float want_score = want_ids[j] < 0 ? -INFINITY : (float)-want_keys[j];
      if (got_ids[q * k + j] != want_ids[j] || got_scores[q * k + j] != want_score) ++mismatches;
    }
  }
  if (mismatches != 0)
    fprintf(stderr, "multi-vector search (reduce %d, k %lld): %d mismatches\n", reduce, (long long)k, mismatches);
  CHECK(mismatches == 0);
}

static void test_multi_vector(void) {
  int64_t io[kMvItems + 1], qo[kMvQueries + 1];
  make_offsets(io, kMvItems);
  make_offsets(qo, kMvQueries);
  float iv[kMvItems * kMvMaxVec * kMvDim], qv[kMvQueries * kMvMaxVec * kMvDim];
  fill_small_ints(iv, io[kMvItems] * kMvDim);
  fill_small_ints(qv, qo[kMvQueries] * kMvDim);
  for (int64_t r = 0; r < io[kMvItems]; ++r) { /* no zero vector (cosine would refuse it; IP does not care) */
    if (iv[r * kMvDim] == 0 && iv[r * kMvDim + 1] == 0) iv[r * kMvDim] = 1;
  }
  int64_t ids[kMvItems];
  int alive[kMvItems];
  for (int64_t i = 0; i < kMvItems; ++i) {
    ids[i] = 5 + 2 * i;
    alive[i] = 1;
  }
  xmr_multi_vector_index_t* index = NULL;
  EXPECT_INVALID(xmr_multi_vector_index_create(0, XMR_METRIC_INNER_PRODUCT, XMR_DEVICE_CPU, &index), "0");
  EXPECT_INVALID(xmr_multi_vector_index_create(kMvDim, 7, XMR_DEVICE_CPU, &index), "7");
  EXPECT_INVALID(xmr_multi_vector_index_create(kMvDim, XMR_METRIC_INNER_PRODUCT, XMR_DEVICE_CPU, NULL),
                 "out_index (= null) must not be null");
  CHECK(index == NULL);
  EXPECT_OK(xmr_multi_vector_index_create(kMvDim, XMR_METRIC_INNER_PRODUCT, XMR_DEVICE_CPU, &index));
  int64_t out_ids[2];
  float out_scores[2];
  EXPECT_INVALID(xmr_multi_vector_index_search(index, qv, qo, 1, 2, NULL, out_ids, out_scores), "empty");
  EXPECT_OK(xmr_multi_vector_index_add(index, iv, io, kMvItems, ids));
  int64_t size = 0, nv = 0;
  EXPECT_OK(xmr_multi_vector_index_size(index, &size));
  EXPECT_OK(xmr_multi_vector_index_num_vectors(index, &nv));
  CHECK(size == kMvItems && nv == io[kMvItems]);
  for (int reduce = 0; reduce < 2; ++reduce) {
    check_mv_search(index, qv, qo, kMvQueries, iv, io, ids, alive, kMvItems, 4, reduce);
    check_mv_search(index, qv, qo, kMvQueries, iv, io, ids, alive, kMvItems, 12, reduce);  /* padded */
    check_mv_search(index, qv, NULL, kMvQueries, iv, io, ids, alive, kMvItems, 3, reduce); /* one vector each */
  }
  /* NULL options: MaxSim on the index's device. */
  EXPECT_OK(xmr_multi_vector_index_search(index, qv, qo, 1, 2, NULL, out_ids, out_scores));
  {
    int64_t want_ids[2];
    float want_scores[2];
    xmr_search_options_t so;
    xmr_search_options_init(&so);
    EXPECT_OK(xmr_multi_vector_index_search(index, qv, qo, 1, 2, &so, want_ids, want_scores));
    CHECK(memcmp(out_ids, want_ids, sizeof want_ids) == 0 && memcmp(out_scores, want_scores, sizeof want_scores) == 0);
  }
  EXPECT_OK(xmr_multi_vector_index_search(index, qv, qo, 0, 2, NULL, NULL, NULL));
  /* errors, each leaving the index as it was */
  const int64_t bad_offsets[3] = {0, 2, 1};
  EXPECT_INVALID(xmr_multi_vector_index_add(NULL, iv, io, 1, NULL), "index (= null) must not be null");
  EXPECT_INVALID(xmr_multi_vector_index_add(index, iv, io, -1, NULL), "num_items (= -1) must be >= 0");
  EXPECT_INVALID(xmr_multi_vector_index_add(index, NULL, io, 2, NULL), "vectors (= null) with num_items (= 2) > 0");
  EXPECT_INVALID(xmr_multi_vector_index_add(index, iv, bad_offsets, 2, NULL), "offsets");
  EXPECT_INVALID(xmr_multi_vector_index_add(index, iv, io, 1, ids + 3), "11"); /* already stored */
  {
    float bad[kMvDim] = {1, NAN};
    EXPECT_INVALID(xmr_multi_vector_index_add(index, bad, NULL, 1, NULL), "nan");
  }
  EXPECT_INVALID(xmr_multi_vector_index_remove(index, ids, -1), "num_ids (= -1) must be >= 0");
  {
    const int64_t unknown = 6;
    EXPECT_INVALID(xmr_multi_vector_index_remove(index, &unknown, 1), "6");
  }
  EXPECT_INVALID(xmr_multi_vector_index_size(NULL, &size), "index (= null)");
  EXPECT_INVALID(xmr_multi_vector_index_num_vectors(index, NULL), "out_num_vectors (= null)");
  xmr_search_options_t so;
  xmr_search_options_init(&so);
  EXPECT_INVALID(xmr_multi_vector_index_search(NULL, qv, qo, 1, 2, &so, out_ids, out_scores), "index (= null)");
  EXPECT_INVALID(xmr_multi_vector_index_search(index, qv, qo, -1, 2, &so, out_ids, out_scores), "num_queries (= -1)");
  EXPECT_INVALID(xmr_multi_vector_index_search(index, NULL, qo, 1, 2, &so, out_ids, out_scores), "vectors (= null)");
  EXPECT_INVALID(xmr_multi_vector_index_search(index, qv, qo, 1, 2, &so, NULL, out_scores), "out_ids (= null)");
  EXPECT_INVALID(xmr_multi_vector_index_search(index, qv, qo, 1, 0, &so, out_ids, out_scores), "k (= 0)");
  EXPECT_INVALID(xmr_multi_vector_index_search(index, qv, bad_offsets, 2, 2, &so, out_ids, out_scores), "offsets");
  so.reduce = 5;
  EXPECT_INVALID(xmr_multi_vector_index_search(index, qv, qo, 1, 2, &so, out_ids, out_scores), "5");
  so.reduce = XMR_REDUCE_MAX_SIM;
  so.device = 9;
  EXPECT_INVALID(xmr_multi_vector_index_search(index, qv, qo, 1, 2, &so, out_ids, out_scores), "9");
  if (xmr_gpu_count() == 0) {
    so.device = XMR_DEVICE_GPU;
    EXPECT_STATUS(xmr_multi_vector_index_search(index, qv, qo, 1, 2, &so, out_ids, out_scores), XMR_ERR_UNAVAILABLE,
                  "");
  }
  {
    float bad[kMvDim] = {INFINITY, 0};
    so.device = XMR_DEVICE_CPU;
    EXPECT_INVALID(xmr_multi_vector_index_search(index, bad, NULL, 1, 2, &so, out_ids, out_scores), "inf");
  }
  EXPECT_OK(xmr_multi_vector_index_size(index, &size));
  CHECK(size == kMvItems);
  /* remove, then brute force without the removed items */
  EXPECT_OK(xmr_multi_vector_index_remove(index, ids + 2, 2));
  alive[2] = alive[3] = 0;
  check_mv_search(index, qv, qo, kMvQueries, iv, io, ids, alive, kMvItems, 9, XMR_REDUCE_SUM_MAX_SIM);
  EXPECT_OK(xmr_multi_vector_index_num_vectors(index, &nv));
  CHECK(nv == io[kMvItems] - (io[4] - io[2]));
  /* sequential ids continue after the largest */
  EXPECT_OK(xmr_multi_vector_index_add(index, iv, NULL, 1, NULL));
  EXPECT_OK(xmr_multi_vector_index_size(index, &size));
  CHECK(size == kMvItems - 1);
  xmr_multi_vector_index_free(index);
  xmr_multi_vector_index_free(NULL);
}

/* ---- collections with every field, the full pipeline ---------------------------------------- */

enum { kFItems = 16, kFLabels = 3, kFMv = 2, kFQueries = 3 };

typedef struct {
  int64_t ids[kFItems];
  float emb[kFItems * kCDim];
  float vec[kFItems * kMvMaxVec * kFMv];
  int64_t offsets[kFItems + 1];
  uint8_t codes[kFItems * kCBytes];
  uint8_t labels[kFItems * kFLabels];
  int64_t groups[kFItems];
} full_data;

static void make_full(full_data* d) {
  for (int64_t i = 0; i < kFItems; ++i) {
    d->ids[i] = 3 * i + 1;
    d->groups[i] = (int64_t)(next_u32() % 5u);
    for (int l = 0; l < kFLabels; ++l) d->labels[i * kFLabels + l] = (uint8_t)(next_u32() % 2u);
  }
  fill_small_ints(d->emb, kFItems * kCDim);
  make_offsets(d->offsets, kFItems);
  fill_small_ints(d->vec, d->offsets[kFItems] * kFMv);
  fill_bytes(d->codes, kFItems * kCBytes);
}

static xmr_collection_t* make_full_collection(const full_data* d) {
  xmr_collection_options_t co;
  xmr_collection_options_init(&co);
  CHECK(co.name == NULL && co.dim == 0 && co.metric == XMR_METRIC_COSINE && co.storage == XMR_DTYPE_F32 &&
        co.multi_vector_dim == 0 && co.code_bits == 0 && co.num_labels == 0 && co.groups == 0 &&
        co.device == XMR_DEVICE_AUTO);
  co.name = "full";
  co.dim = kCDim;
  co.metric = XMR_METRIC_INNER_PRODUCT;
  co.multi_vector_dim = kFMv;
  co.code_bits = kCBits;
  co.num_labels = kFLabels;
  co.groups = 1;
  co.device = XMR_DEVICE_CPU;
  xmr_collection_t* c = NULL;
  EXPECT_OK(xmr_collection_create_ex(&co, &c));
  const xmr_collection_batch_t b = {kFItems, d->ids, d->emb, d->vec, d->offsets, d->codes, d->labels, d->groups};
  EXPECT_OK(xmr_collection_add_batch(c, &b));
  return c;
}

static int passes(const full_data* d, int64_t i, const xmr_filter_t* f) {
  if (f->num_any_labels > 0) {
    int any = 0;
    for (int64_t j = 0; j < f->num_any_labels; ++j) any |= d->labels[i * kFLabels + f->any_labels[j]];
    if (!any) return 0;
  }
  for (int64_t j = 0; j < f->num_all_labels; ++j) {
    if (!d->labels[i * kFLabels + f->all_labels[j]]) return 0;
  }
  if (f->num_ids > 0) {
    int found = 0;
    for (int64_t j = 0; j < f->num_ids; ++j) found |= f->ids[j] == d->ids[i];
    if (!found) return 0;
  }
  return 1;
}

/* Brute force of a pipeline over `d` without a scorer: shortlist by embeddings (IP) or
 * multi-vector (reduce), optional re-score (embeddings or multi-vector), REPLACE fusion, filter,
 * group-by; then compares every output of retrieve_ex. */
static void check_full(const xmr_collection_t* c, const full_data* d, const float* q_emb, const float* q_vec,
                       const int64_t* q_off, const xmr_pipeline_options_t* o, const char* what) {
  const int64_t k = o->k;
  int64_t ids[kFQueries * 8], groups[kFQueries * 8];
  float scores[kFQueries * 8], s1o[kFQueries * 8], s2o[kFQueries * 8], s3o[kFQueries * 8];
  xmr_pipeline_stats_t stats;
  memset(&stats, 0, sizeof stats);
  const xmr_queries_t q = {kFQueries, q_emb, q_vec, q_off, NULL, NULL};
  const xmr_pipeline_output_t out = {ids, scores, o->group_by ? groups : NULL, s1o, s2o, s3o, &stats};
  EXPECT_OK(xmr_collection_retrieve_ex(c, &q, o, &out));
  int mismatches = 0;
  int64_t passing = 0;
  for (int64_t i = 0; i < kFItems; ++i) passing += passes(d, i, &o->filter);
  for (int64_t qi = 0; qi < kFQueries; ++qi) {
    double s1[kFItems], s2[kFItems], key[kFItems];
    int64_t order[kFItems];
    for (int64_t i = 0; i < kFItems; ++i) {
      const double e = dot(q_emb + qi * kCDim, d->emb + i * kCDim, kCDim);
      const double m = mv_score(q_vec, q_off[qi], q_off[qi + 1], d->vec, d->offsets[i], d->offsets[i + 1], o->reduce);
      s1[i] = o->shortlist == XMR_SHORTLIST_MULTI_VECTOR ? m : e;
      s2[i] = o->rescore == XMR_RESCORE_MULTI_VECTOR ? m : e;
      key[i] = -s1[i];
    }
    rank_by_key(key, kFItems, order);
    /* the shortlist: the first C passing items by s1 */
    int in_list[kFItems] = {0};
    int64_t taken = 0;
    for (int64_t r = 0; r < kFItems && taken < o->candidates; ++r) {
      if (passes(d, order[r], &o->filter)) {
        in_list[order[r]] = 1;
        ++taken;
      }
    }
    double fused[kFItems];
    for (int64_t i = 0; i < kFItems; ++i) {
      fused[i] = o->rescore != XMR_RESCORE_NONE ? s2[i] : s1[i];
      key[i] = -fused[i];
    }
    rank_by_key(key, kFItems, order);
    int64_t j = 0;
    int seen_group[8] = {0};
    for (int64_t r = 0; r < kFItems && j < k; ++r) {
      const int64_t i = order[r];
      if (!in_list[i]) continue;
      if (o->group_by) {
        if (seen_group[d->groups[i]]) continue;
        seen_group[d->groups[i]] = 1;
        if (groups[qi * k + j] != d->groups[i]) ++mismatches;
      }
      const int64_t at = qi * k + j;
      if (ids[at] != d->ids[i] || scores[at] != (float)fused[i] || s1o[at] != (float)s1[i] || !isnan(s3o[at]))
        ++mismatches;
      if (o->rescore != XMR_RESCORE_NONE ? s2o[at] != (float)s2[i] : !isnan(s2o[at])) ++mismatches;
      ++j;
    }
    for (; j < k; ++j) {
      const int64_t at = qi * k + j;
      if (ids[at] != -1 || !(isinf(scores[at]) && scores[at] < 0) || !isnan(s1o[at])) ++mismatches;
      if (o->group_by && groups[at] != -1) ++mismatches;
    }
  }
  if (mismatches != 0) fprintf(stderr, "full pipeline case \"%s\": %d mismatches\n", what, mismatches);
  CHECK(mismatches == 0);
  CHECK(stats.shortlisted > 0 && stats.rescored == (o->rescore != XMR_RESCORE_NONE ? stats.shortlisted : 0) &&
        stats.reranked == 0 && stats.scorer_calls == 0 && stats.total_seconds >= 0);
  const int filtered = o->filter.num_any_labels + o->filter.num_all_labels + o->filter.num_ids > 0;
  CHECK(stats.filtered_items == (filtered ? passing : -1));
}

static void test_full_collection(void) {
  full_data d;
  make_full(&d);
  xmr_collection_t* c = make_full_collection(&d);
  /* options read back */
  xmr_collection_options_t got;
  EXPECT_OK(xmr_collection_get_options(c, &got));
  CHECK(strcmp(got.name, "full") == 0 && got.dim == kCDim && got.multi_vector_dim == kFMv && got.code_bits == kCBits &&
        got.num_labels == kFLabels && got.groups == 1 && got.metric == XMR_METRIC_INNER_PRODUCT &&
        got.device == XMR_DEVICE_CPU);
  /* items read back */
  int64_t all[kFItems], count = 0;
  EXPECT_OK(xmr_collection_ids(c, NULL, 0, &count));
  CHECK(count == kFItems);
  EXPECT_OK(xmr_collection_ids(c, all, 5, &count));
  CHECK(count == kFItems && all[0] == 1 && all[4] == 13);
  EXPECT_OK(xmr_collection_ids(c, all, kFItems, &count));
  CHECK(memcmp(all, d.ids, sizeof all) == 0);
  int32_t has = -1;
  EXPECT_OK(xmr_collection_contains(c, 4, &has));
  CHECK(has == 1);
  EXPECT_OK(xmr_collection_contains(c, 5, &has));
  CHECK(has == 0);
  const int64_t pick[3] = {46, 1, 22};
  const int64_t rows[3] = {15, 0, 7};
  float emb[3 * kCDim];
  uint8_t codes[3 * kCBytes], labels[3 * kFLabels];
  int64_t groups[3];
  EXPECT_OK(xmr_collection_embeddings_of(c, pick, 3, emb));
  EXPECT_OK(xmr_collection_codes_of(c, pick, 3, codes));
  EXPECT_OK(xmr_collection_labels_of(c, pick, 3, labels));
  EXPECT_OK(xmr_collection_groups_of(c, pick, 3, groups));
  for (int i = 0; i < 3; ++i) {
    CHECK(memcmp(emb + i * kCDim, d.emb + rows[i] * kCDim, sizeof(float) * kCDim) == 0);
    CHECK(memcmp(codes + i * kCBytes, d.codes + rows[i] * kCBytes, kCBytes) == 0);
    CHECK(memcmp(labels + i * kFLabels, d.labels + rows[i] * kFLabels, kFLabels) == 0);
    CHECK(groups[i] == d.groups[rows[i]]);
  }
  EXPECT_OK(xmr_collection_groups_of(c, NULL, 0, NULL));
  /* read-back errors */
  const int64_t unknown[2] = {1, 2};
  EXPECT_INVALID(xmr_collection_embeddings_of(c, unknown, 2, emb), "2");
  EXPECT_INVALID(xmr_collection_codes_of(c, unknown, 2, codes), "2");
  EXPECT_INVALID(xmr_collection_labels_of(c, unknown, 2, labels), "2");
  EXPECT_INVALID(xmr_collection_groups_of(c, unknown, 2, groups), "2");
  EXPECT_INVALID(xmr_collection_groups_of(c, pick, -1, groups), "num_ids (= -1) must be >= 0");
  EXPECT_INVALID(xmr_collection_groups_of(c, NULL, 1, groups), "ids (= null) with num_ids (= 1) > 0");
  EXPECT_INVALID(xmr_collection_groups_of(c, pick, 1, NULL), "out_groups (= null) with num_ids (= 1) > 0");
  EXPECT_INVALID(xmr_collection_embeddings_of(NULL, pick, 1, emb), "collection (= null)");
  EXPECT_INVALID(xmr_collection_ids(c, NULL, 1, &count), "out_ids (= null) with capacity (= 1) > 0");
  EXPECT_INVALID(xmr_collection_ids(c, all, -1, &count), "capacity (= -1) must be >= 0");
  EXPECT_INVALID(xmr_collection_ids(c, all, 1, NULL), "out_count (= null)");
  EXPECT_INVALID(xmr_collection_contains(c, 1, NULL), "out_contains (= null)");
  EXPECT_INVALID(xmr_collection_get_options(c, NULL), "out_options (= null)");
  EXPECT_INVALID(xmr_collection_create_ex(NULL, &c), "options (= null)");
  /* add errors: each field missing, a bad label, a bad group; nothing changes */
  {
    const int64_t new_ids[1] = {1000};
    xmr_collection_batch_t b = {1, new_ids, d.emb, d.vec, d.offsets, d.codes, d.labels, d.groups};
    uint8_t bad_labels[kFLabels] = {0, 2, 0};
    int64_t bad_group = -4;
    b.labels = NULL;
    EXPECT_INVALID(xmr_collection_add_batch(c, &b), "items.labels");
    b.labels = bad_labels;
    EXPECT_INVALID(xmr_collection_add_batch(c, &b), "items.labels[0][1] (= 2) must be 0 or 1");
    b.labels = d.labels;
    b.groups = NULL;
    EXPECT_INVALID(xmr_collection_add_batch(c, &b), "items.groups");
    b.groups = &bad_group;
    EXPECT_INVALID(xmr_collection_add_batch(c, &b), "items.groups[0] (= -4)");
    b.groups = d.groups;
    b.vectors = NULL;
    b.vector_offsets = NULL;
    EXPECT_INVALID(xmr_collection_add_batch(c, &b), "items.vectors");
    b.vectors = d.vec;
    b.num_items = -2;
    EXPECT_INVALID(xmr_collection_add_batch(c, &b), "num_items (= -2) must be >= 0");
    EXPECT_INVALID(xmr_collection_add_batch(c, NULL), "items (= null)");
    EXPECT_INVALID(xmr_collection_add_batch(NULL, &b), "collection (= null)");
    /* the old add cannot give labels and groups: named */
    EXPECT_INVALID(xmr_collection_add(c, 1, new_ids, d.emb, d.codes), "items.");
  }
  EXPECT_OK(xmr_collection_ids(c, NULL, 0, &count));
  CHECK(count == kFItems);

  /* the pipeline with every output, against brute force */
  float q_emb[kFQueries * kCDim], q_vec[kFQueries * kMvMaxVec * kFMv];
  int64_t q_off[kFQueries + 1];
  fill_small_ints(q_emb, kFQueries * kCDim);
  make_offsets(q_off, kFQueries);
  fill_small_ints(q_vec, q_off[kFQueries] * kFMv);
  const int64_t any0[1] = {0}, all12[2] = {1, 2}, allowed[7] = {1, 4, 10, 22, 31, 40, 46};
  for (int variant = 0; variant < 9; ++variant) {
    xmr_pipeline_options_t o;
    xmr_pipeline_options_init(&o);
    CHECK(o.reduce == XMR_REDUCE_MAX_SIM && o.group_by == 0 && o.filter.num_ids == 0 && o.filter.ids == NULL &&
          o.resources == NULL);
    o.k = 4;
    o.candidates = 8;
    const char* what = "";
    switch (variant) {
      case 0: what = "embeddings"; break;
      case 1:
        o.shortlist = XMR_SHORTLIST_MULTI_VECTOR;
        what = "multi-vector MaxSim";
        break;
      case 2:
        o.shortlist = XMR_SHORTLIST_MULTI_VECTOR;
        o.reduce = XMR_REDUCE_SUM_MAX_SIM;
        what = "multi-vector SumMaxSim";
        break;
      case 3:
        o.rescore = XMR_RESCORE_MULTI_VECTOR;
        o.reduce = XMR_REDUCE_SUM_MAX_SIM;
        what = "mv re-score";
        break;
      case 4:
        o.rescore = XMR_RESCORE_EMBEDDINGS;
        o.shortlist = XMR_SHORTLIST_MULTI_VECTOR;
        what = "emb re-score";
        break;
      case 5:
        o.filter.any_labels = any0;
        o.filter.num_any_labels = 1;
        what = "any label";
        break;
      case 6:
        o.filter.all_labels = all12;
        o.filter.num_all_labels = 2;
        what = "all labels";
        break;
      case 7:
        o.filter.ids = allowed;
        o.filter.num_ids = 7;
        o.candidates = 5;
        what = "allowed ids";
        break;
      default:
        o.group_by = 1;
        o.k = 3;
        o.candidates = 16;
        what = "group_by";
        break;
    }
    check_full(c, &d, q_emb, q_vec, q_off, &o, what);
  }
  /* pipeline errors of the new parts; the collection answers as before after them */
  {
    xmr_pipeline_options_t o;
    xmr_pipeline_options_init(&o);
    o.k = 2;
    o.candidates = 4;
    int64_t ids[kFQueries * 2], before_ids[kFQueries * 2], gr[kFQueries * 2];
    float scores[kFQueries * 2], before_scores[kFQueries * 2];
    const xmr_queries_t q = {kFQueries, q_emb, q_vec, q_off, NULL, NULL};
    xmr_pipeline_output_t out = {before_ids, before_scores, NULL, NULL, NULL, NULL, NULL};
    EXPECT_OK(xmr_collection_retrieve_ex(c, &q, &o, &out));
    out.ids = ids;
    out.scores = scores;
    out.groups = gr;
    EXPECT_INVALID(xmr_collection_retrieve_ex(c, &q, &o, &out), "out->groups (!= null) needs options.group_by (= 0)");
    out.groups = NULL;
    out.ids = NULL;
    EXPECT_INVALID(xmr_collection_retrieve_ex(c, &q, &o, &out), "out->ids (= null) with num_queries (= 3) > 0");
    out.ids = ids;
    out.scores = NULL;
    EXPECT_INVALID(xmr_collection_retrieve_ex(c, &q, &o, &out), "out->scores (= null)");
    out.scores = scores;
    EXPECT_INVALID(xmr_collection_retrieve_ex(c, NULL, &o, &out), "queries (= null)");
    EXPECT_INVALID(xmr_collection_retrieve_ex(c, &q, &o, NULL), "out (= null)");
    EXPECT_INVALID(xmr_collection_retrieve_ex(NULL, &q, &o, &out), "collection (= null)");
    EXPECT_INVALID(xmr_collection_retrieve_ex(c, &q, NULL, &out), "options (= null)");
    xmr_pipeline_options_t bad = o;
    bad.reduce = 4;
    bad.shortlist = XMR_SHORTLIST_MULTI_VECTOR;
    EXPECT_INVALID(xmr_collection_retrieve_ex(c, &q, &bad, &out), "4");
    bad = o;
    const int64_t label_out_of_range[1] = {3}, neg_id[1] = {-1};
    bad.filter.any_labels = label_out_of_range;
    bad.filter.num_any_labels = 1;
    EXPECT_INVALID(xmr_collection_retrieve_ex(c, &q, &bad, &out), "3");
    bad = o;
    bad.filter.num_all_labels = 1;
    EXPECT_INVALID(xmr_collection_retrieve_ex(c, &q, &bad, &out),
                   "options.filter.all_labels (= null) with options.filter.num_all_labels (= 1) > 0");
    bad = o;
    bad.filter.num_ids = -1;
    EXPECT_INVALID(xmr_collection_retrieve_ex(c, &q, &bad, &out), "options.filter.num_ids (= -1) must be >= 0");
    bad.filter.ids = neg_id;
    bad.filter.num_ids = 1;
    EXPECT_INVALID(xmr_collection_retrieve_ex(c, &q, &bad, &out), "options.filter.ids[0] (= -1) must be in [0, 2^40)");
    xmr_queries_t bad_q = q;
    bad_q.vectors = NULL;
    bad_q.vector_offsets = NULL;
    bad = o;
    bad.shortlist = XMR_SHORTLIST_MULTI_VECTOR;
    EXPECT_INVALID(xmr_collection_retrieve_ex(c, &bad_q, &bad, &out), "queries.vectors");
    bad_q = q;
    bad_q.num_queries = -3;
    EXPECT_INVALID(xmr_collection_retrieve_ex(c, &bad_q, &o, &out), "num_queries (= -3) must be >= 0");
    bad_q = q;
    float nan_emb[kFQueries * kCDim];
    memcpy(nan_emb, q_emb, sizeof nan_emb);
    nan_emb[2] = NAN;
    bad_q.embeddings = nan_emb;
    EXPECT_INVALID(xmr_collection_retrieve_ex(c, &bad_q, &o, &out), "nan");
    EXPECT_OK(xmr_collection_retrieve_ex(c, &q, &o, &out));
    CHECK(memcmp(ids, before_ids, sizeof ids) == 0 && memcmp(scores, before_scores, sizeof scores) == 0);
    /* multi-vector stages on a collection without vectors, group_by without groups */
    side_data sd;
    make_side(&sd, 6, 0, 1);
    xmr_collection_t* plain = make_collection("plain", &sd, 1);
    const xmr_queries_t eq = {kFQueries, q_emb, NULL, NULL, NULL, NULL};
    bad = o;
    bad.shortlist = XMR_SHORTLIST_MULTI_VECTOR;
    bad.reduce = XMR_REDUCE_SUM_MAX_SIM;
    EXPECT_INVALID(xmr_collection_retrieve_ex(plain, &eq, &bad, &out), "'plain' has no multi-vector items");
    bad = o;
    bad.rescore = XMR_RESCORE_MULTI_VECTOR;
    EXPECT_INVALID(xmr_collection_retrieve_ex(plain, &eq, &bad, &out), "'plain' has no multi-vector items");
    bad = o;
    bad.group_by = 1;
    EXPECT_INVALID(xmr_collection_retrieve_ex(plain, &eq, &bad, &out), "group");
    xmr_collection_free(plain);
  }
  xmr_collection_free(c);
}

/* The collections of a cross-modal index through borrowed handles, and the _ex searches. */
static void test_cross_modal_collections(void) {
  side_data images, texts;
  make_side(&images, 8, 100, 1);
  make_side(&texts, 10, 0, 1);
  xmr_collection_t* ci = make_collection("images", &images, 0);
  xmr_collection_t* ct = make_collection("texts", &texts, 1);
  xmr_cross_modal_t* index = NULL;
  EXPECT_OK(xmr_cross_modal_create(&ci, &ct, &index));
  xmr_collection_t* bi = NULL;
  xmr_collection_t* bt = NULL;
  EXPECT_OK(xmr_cross_modal_collection(index, XMR_DIRECTION_IMAGE_TO_TEXT, &bi));
  EXPECT_OK(xmr_cross_modal_collection(index, XMR_DIRECTION_TEXT_TO_IMAGE, &bt));
  CHECK(bi != NULL && bt != NULL && bi != bt);
  EXPECT_INVALID(xmr_cross_modal_collection(index, 2, &bi), "side (= 2) is not a Direction value");
  EXPECT_INVALID(xmr_cross_modal_collection(NULL, 0, &bi), "index (= null)");
  EXPECT_INVALID(xmr_cross_modal_collection(index, 0, NULL), "out_collection (= null)");
  int64_t size = 0;
  EXPECT_OK(xmr_collection_size(bi, &size));
  CHECK(size == 8);
  EXPECT_OK(xmr_collection_size(bt, &size));
  CHECK(size == 10);
  /* A new text that matches image 100 best (its embedding times 10), added after pairing. */
  float e[kCDim];
  uint8_t code[kCBytes];
  for (int j = 0; j < kCDim; ++j) e[j] = images.emb[j] * 10.0f;
  memcpy(code, images.codes, kCBytes);
  int all_zero = 1;
  for (int j = 0; j < kCDim; ++j) all_zero &= images.emb[j] == 0;
  if (all_zero) e[0] = images.emb[0] = 0; /* degenerate, skip the match check below */
  const int64_t new_id = 500;
  EXPECT_OK(xmr_collection_add(bt, 1, &new_id, e, code));
  xmr_pipeline_options_t o;
  xmr_pipeline_options_init(&o);
  o.k = 1;
  o.candidates = 11;
  const int64_t qid = 100;
  int64_t id = -2;
  float score = 0, s1 = 0;
  xmr_pipeline_stats_t stats;
  const xmr_pipeline_output_t out = {&id, &score, NULL, &s1, NULL, NULL, &stats};
  EXPECT_OK(xmr_cross_modal_search_ex(index, XMR_DIRECTION_IMAGE_TO_TEXT, &qid, 1, &o, &out));
  if (!all_zero) CHECK(id == 500 && score == s1 && stats.shortlisted == 11);
  const xmr_queries_t q = {1, images.emb, NULL, NULL, NULL, NULL};
  int64_t id2 = -2;
  float score2 = 0;
  const xmr_pipeline_output_t out2 = {&id2, &score2, NULL, NULL, NULL, NULL, NULL};
  EXPECT_OK(xmr_cross_modal_search_vectors_ex(index, XMR_DIRECTION_IMAGE_TO_TEXT, &q, &o, &out2));
  CHECK(id2 == id && score2 == score);
  EXPECT_INVALID(xmr_cross_modal_search_ex(index, 0, &qid, 1, &o, NULL), "out (= null)");
  EXPECT_INVALID(xmr_cross_modal_search_vectors_ex(index, 0, NULL, &o, &out2), "queries (= null)");
  EXPECT_INVALID(xmr_cross_modal_search_vectors_ex(index, 3, &q, &o, &out2), "direction (= 3)");
  /* remove after pairing: the text is gone from the results */
  EXPECT_OK(xmr_collection_remove(bt, &new_id, 1));
  EXPECT_OK(xmr_cross_modal_search_ex(index, XMR_DIRECTION_IMAGE_TO_TEXT, &qid, 1, &o, &out));
  CHECK(id != 500);
  /* a borrowed handle is never freed by xmr_collection_free and cannot be paired again */
  xmr_collection_free(bi);
  EXPECT_OK(xmr_collection_size(bi, &size));
  CHECK(size == 8);
  xmr_collection_t* other = make_collection("other", &texts, 1);
  xmr_cross_modal_t* second = NULL;
  EXPECT_INVALID(xmr_cross_modal_create(&bi, &other, &second), "*images is a borrowed collection");
  EXPECT_INVALID(xmr_cross_modal_create(&other, &bt, &second), "*texts is a borrowed collection");
  CHECK(second == NULL && other != NULL);
  xmr_collection_free(other);
  xmr_cross_modal_free(index);
}

/* ---- resources, _ex searches, bytes --------------------------------------------------------- */

static void test_resources_and_bytes(void) {
  xmr_resources_t* res = NULL;
  EXPECT_INVALID(xmr_resources_create(-1, NULL, &res), "device_id (= -1) must be >= 0");
  EXPECT_INVALID(xmr_resources_create(0, NULL, NULL), "out_resources (= null)");
  CHECK(res == NULL);
  EXPECT_OK(xmr_resources_create(0, NULL, &res));
  uint64_t ws = 0;
  EXPECT_OK(xmr_resources_workspace_bytes(res, &ws));
  CHECK(ws == 512ull << 20);
  EXPECT_OK(xmr_resources_set_workspace_bytes(res, 2ull << 20));
  EXPECT_OK(xmr_resources_workspace_bytes(res, &ws));
  CHECK(ws == 2ull << 20);
  EXPECT_INVALID(xmr_resources_set_workspace_bytes(res, 1000), "1000");
  EXPECT_INVALID(xmr_resources_set_workspace_bytes(NULL, 2ull << 20), "resources (= null)");
  EXPECT_INVALID(xmr_resources_workspace_bytes(res, NULL), "out_bytes (= null)");
  EXPECT_OK(xmr_resources_workspace_bytes(res, &ws));
  CHECK(ws == 2ull << 20);

  /* dense: _ex with resources equals the plain search; bytes round trip */
  enum { n = 20, d = 8, nq = 3, k = 5 };
  float base[n * d], queries[nq * d];
  fill_small_ints(base, n * d);
  fill_small_ints(queries, nq * d);
  xmr_dense_index_t* dense = NULL;
  EXPECT_OK(xmr_dense_index_create(d, XMR_METRIC_INNER_PRODUCT, XMR_DTYPE_F32, XMR_DEVICE_CPU, &dense));
  EXPECT_OK(xmr_dense_index_add(dense, base, XMR_DTYPE_F32, n, NULL));
  int64_t ids[nq * k], ids2[nq * k];
  float scores[nq * k], scores2[nq * k];
  xmr_search_options_t so;
  xmr_search_options_init(&so);
  CHECK(so.device == XMR_DEVICE_DEFAULT && so.reduce == XMR_REDUCE_MAX_SIM && so.resources == NULL);
  xmr_search_options_init(NULL);
  so.resources = res;
  EXPECT_OK(xmr_dense_index_search(dense, queries, XMR_DTYPE_F32, nq, k, XMR_DEVICE_DEFAULT, ids, scores));
  EXPECT_OK(xmr_dense_index_search_ex(dense, queries, XMR_DTYPE_F32, nq, k, &so, ids2, scores2));
  CHECK(memcmp(ids, ids2, sizeof ids) == 0 && memcmp(scores, scores2, sizeof scores) == 0);
  EXPECT_OK(xmr_dense_index_search_ex(dense, queries, XMR_DTYPE_F32, nq, k, NULL, ids2, scores2));
  CHECK(memcmp(ids, ids2, sizeof ids) == 0);
  so.device = 7;
  EXPECT_INVALID(xmr_dense_index_search_ex(dense, queries, XMR_DTYPE_F32, nq, k, &so, ids2, scores2), "7");
  if (xmr_gpu_count() == 0) {
    so.device = XMR_DEVICE_GPU;
    EXPECT_STATUS(xmr_dense_index_search_ex(dense, queries, XMR_DTYPE_F32, nq, k, &so, ids2, scores2),
                  XMR_ERR_UNAVAILABLE, "");
  }
  so.device = XMR_DEVICE_DEFAULT;
  EXPECT_INVALID(xmr_dense_index_search_ex(NULL, queries, XMR_DTYPE_F32, nq, k, &so, ids2, scores2), "index (= null)");
  EXPECT_INVALID(xmr_dense_index_search_ex(dense, queries, XMR_DTYPE_F32, nq, 0, &so, ids2, scores2), "k (= 0)");
  EXPECT_INVALID(xmr_dense_index_search_ex(dense, queries, XMR_DTYPE_F32, nq, k, &so, NULL, scores2),
                 "out_ids (= null)");
  uint8_t* bytes = NULL;
  size_t nbytes = 0;
  EXPECT_INVALID(xmr_dense_index_to_bytes(NULL, &bytes, &nbytes), "index (= null)");
  EXPECT_INVALID(xmr_dense_index_to_bytes(dense, NULL, &nbytes), "out_data (= null)");
  EXPECT_INVALID(xmr_dense_index_to_bytes(dense, &bytes, NULL), "out_size (= null)");
  CHECK(bytes == NULL && nbytes == 0);
  EXPECT_OK(xmr_dense_index_to_bytes(dense, &bytes, &nbytes));
  CHECK(bytes != NULL && nbytes > 0);
  xmr_dense_index_t* copy = NULL;
  EXPECT_OK(xmr_dense_index_from_bytes(bytes, nbytes, 1, XMR_DEVICE_DEFAULT, &copy));
  EXPECT_OK(xmr_dense_index_search(copy, queries, XMR_DTYPE_F32, nq, k, XMR_DEVICE_CPU, ids2, scores2));
  CHECK(memcmp(ids, ids2, sizeof ids) == 0 && memcmp(scores, scores2, sizeof scores) == 0);
  xmr_dense_index_free(copy);
  copy = NULL;
  /* corrupt bytes: truncated, a flipped byte, empty, NULL; and a binary index's bytes */
  EXPECT_STATUS(xmr_dense_index_from_bytes(bytes, nbytes - 1, 1, XMR_DEVICE_DEFAULT, &copy), XMR_ERR_CORRUPT_DATA,
                "bytes");
  bytes[nbytes - 10] ^= 0x40;
  EXPECT_STATUS(xmr_dense_index_from_bytes(bytes, nbytes, 1, XMR_DEVICE_DEFAULT, &copy), XMR_ERR_CORRUPT_DATA, "bytes");
  EXPECT_STATUS(xmr_dense_index_from_bytes(bytes, 0, 1, XMR_DEVICE_DEFAULT, &copy), XMR_ERR_CORRUPT_DATA, "bytes");
  EXPECT_INVALID(xmr_dense_index_from_bytes(NULL, 10, 1, XMR_DEVICE_DEFAULT, &copy), "data (= null) with size (= 10)");
  EXPECT_INVALID(xmr_dense_index_from_bytes(bytes, nbytes, 1, XMR_DEVICE_DEFAULT, NULL), "out_index (= null)");
  CHECK(copy == NULL);
  xmr_bytes_free(bytes);
  xmr_bytes_free(NULL);

  /* binary */
  uint8_t codes[n * 4], qcodes[nq * 4];
  fill_bytes(codes, n * 4);
  fill_bytes(qcodes, nq * 4);
  xmr_binary_index_t* bin = NULL;
  EXPECT_OK(xmr_binary_index_create(32, XMR_DEVICE_CPU, &bin));
  EXPECT_OK(xmr_binary_index_add(bin, codes, n, NULL));
  int32_t dist[nq * k], dist2[nq * k];
  EXPECT_OK(xmr_binary_index_search(bin, qcodes, nq, k, XMR_DEVICE_DEFAULT, ids, dist));
  EXPECT_OK(xmr_binary_index_search_ex(bin, qcodes, nq, k, &so, ids2, dist2));
  CHECK(memcmp(ids, ids2, sizeof ids) == 0 && memcmp(dist, dist2, sizeof dist) == 0);
  EXPECT_OK(xmr_binary_index_search_ex(bin, qcodes, nq, k, NULL, ids2, dist2));
  CHECK(memcmp(ids, ids2, sizeof ids) == 0);
  EXPECT_INVALID(xmr_binary_index_search_ex(bin, qcodes, nq, k, &so, ids2, NULL), "out_distances (= null)");
  EXPECT_INVALID(xmr_binary_index_search_ex(bin, NULL, nq, k, &so, ids2, dist2), "queries (= null)");
  EXPECT_OK(xmr_binary_index_to_bytes(bin, &bytes, &nbytes));
  xmr_binary_index_t* bcopy = NULL;
  EXPECT_OK(xmr_binary_index_from_bytes(bytes, nbytes, 1, XMR_DEVICE_DEFAULT, &bcopy));
  EXPECT_OK(xmr_binary_index_search(bcopy, qcodes, nq, k, XMR_DEVICE_CPU, ids2, dist2));
  CHECK(memcmp(ids, ids2, sizeof ids) == 0 && memcmp(dist, dist2, sizeof dist) == 0);
  xmr_binary_index_free(bcopy);
  bcopy = NULL;
  /* the other type's bytes */
  EXPECT_INVALID(xmr_dense_index_from_bytes(bytes, nbytes, 1, XMR_DEVICE_DEFAULT, &copy), "");
  EXPECT_STATUS(xmr_binary_index_from_bytes(bytes, nbytes / 2, 1, XMR_DEVICE_DEFAULT, &bcopy), XMR_ERR_CORRUPT_DATA,
                "bytes");
  CHECK(copy == NULL && bcopy == NULL);
  xmr_bytes_free(bytes);
  xmr_binary_index_free(bin);
  xmr_dense_index_free(dense);
  xmr_resources_free(res);
  xmr_resources_free(NULL);
}

/* ---- neighbour recall and the PR curve ------------------------------------------------------ */

static void test_more_metrics(void) {
  enum { q = 3, l = 4, g = 3 };
  const int64_t ranked[q * l] = {0, 1, 2, 3, 5, 4, -1, -1, 7, 8, 9, 1};
  const int64_t truth[q * g] = {2, 9, -1, 4, 6, 5, -1, -1, -1};
  xmr_metric_result_t r;
  double per[q];
  EXPECT_OK(xmr_neighbor_recall_at_k(ranked, q, l, truth, g, 3, &r, per));
  /* q0: {0,1,2} & {2,9} = 1 of 2; q1: {5,4} & {4,6,5} = 2 of 3; q2 skipped */
  CHECK(per[0] == 0.5 && fabs(per[1] - 2.0 / 3.0) < 1e-15 && isnan(per[2]));
  CHECK(r.queries == 2 && r.skipped_queries == 1 && fabs(r.mean - (0.5 + 2.0 / 3.0) / 2) < 1e-15);
  EXPECT_OK(xmr_neighbor_recall_at_k(ranked, q, l, truth, g, 1, &r, NULL));
  CHECK(fabs(r.mean - 1.0 / 6.0) < 1e-15); /* q0: 0 of 2; q1: {5} of {4, 6, 5} */
  EXPECT_INVALID(xmr_neighbor_recall_at_k(ranked, q, l, truth, g, 5, &r, NULL), "k (= 5)");
  EXPECT_INVALID(xmr_neighbor_recall_at_k(ranked, q, l, truth, g, 0, &r, NULL), "k (= 0)");
  EXPECT_INVALID(xmr_neighbor_recall_at_k(NULL, q, l, truth, g, 1, &r, NULL), "ranked (= null)");
  EXPECT_INVALID(xmr_neighbor_recall_at_k(ranked, q, l, NULL, g, 1, &r, NULL), "ground_truth (= null)");
  EXPECT_INVALID(xmr_neighbor_recall_at_k(ranked, q, l, truth, g, 1, NULL, NULL), "out (= null)");
  EXPECT_INVALID(xmr_neighbor_recall_at_k(ranked, -1, l, truth, g, 1, &r, NULL), "num_queries (= -1)");
  {
    int64_t bad[q * l];
    memcpy(bad, ranked, sizeof bad);
    bad[1] = -3;
    EXPECT_INVALID(xmr_neighbor_recall_at_k(bad, q, l, truth, g, 1, &r, NULL), "-3");
    const int64_t empty_truth[q] = {-1, -1, -1};
    EXPECT_INVALID(xmr_neighbor_recall_at_k(ranked, q, l, empty_truth, 1, 1, &r, NULL), "");
  }

  /* PR curve: brute force over radius 0..B */
  enum { pq = 4, pn = 12, pb = 1, B = 8 * pb, pc = 3 };
  uint8_t qc[pq * pb], dc[pn * pb], ql[pq * pc], dl[pn * pc];
  fill_bytes(qc, pq * pb);
  fill_bytes(dc, pn * pb);
  for (int i = 0; i < pq * pc; ++i) ql[i] = (uint8_t)(next_u32() % 2u);
  for (int i = 0; i < pn * pc; ++i) dl[i] = (uint8_t)(next_u32() % 2u);
  ql[pc * 3] = ql[pc * 3 + 1] = ql[pc * 3 + 2] = 0; /* query 3 has no relevant item */
  double prec[B + 1], rec[B + 1], pprec[B + 1], prec_all[B + 1];
  int64_t hits[B + 1], no_rel = -1;
  EXPECT_OK(xmr_pr_curve_hamming(qc, pq, dc, pn, pb, ql, dl, pc, prec, rec, hits, pprec, prec_all, &no_rel));
  int64_t want_no_rel = 0;
  int mismatches = 0;
  for (int rad = 0; rad <= B; ++rad) {
    double sp = 0, sr = 0;
    int64_t nh = 0, pooled_c = 0, pooled_n = 0, pooled_r = 0;
    for (int a = 0; a < pq; ++a) {
      int64_t rel = 0, within = 0, hit = 0;
      for (int i = 0; i < pn; ++i) {
        int shared = 0;
        for (int c = 0; c < pc; ++c) shared |= ql[a * pc + c] && dl[i * pc + c];
        const int in = hamming(qc + a * pb, dc + i * pb, pb) <= rad;
        rel += shared;
        within += in;
        hit += in && shared;
      }
      if (rad == 0 && rel == 0) ++want_no_rel;
      pooled_c += hit;
      pooled_n += within;
      pooled_r += rel;
      if (rel > 0 && hit > 0) {
        ++nh;
        sp += (double)hit / (double)within;
        sr += (double)hit / (double)rel;
      }
    }
    const double want_p = nh > 0 ? sp / (double)nh : 0, want_r = nh > 0 ? sr / (double)nh : 0;
    const double want_pp = pooled_n > 0 ? (double)pooled_c / (double)pooled_n : 0;
    const double want_pr = pooled_r > 0 ? (double)pooled_c / (double)pooled_r : 0;
    if (hits[rad] != nh || fabs(prec[rad] - want_p) > 1e-12 || fabs(rec[rad] - want_r) > 1e-12 ||
        fabs(pprec[rad] - want_pp) > 1e-12 || fabs(prec_all[rad] - want_pr) > 1e-12)
      ++mismatches;
  }
  CHECK(mismatches == 0 && no_rel == want_no_rel && no_rel >= 1);
  EXPECT_OK(xmr_pr_curve_hamming(qc, pq, dc, pn, pb, ql, dl, pc, NULL, NULL, NULL, NULL, NULL, NULL));
  EXPECT_INVALID(xmr_pr_curve_hamming(NULL, pq, dc, pn, pb, ql, dl, pc, prec, rec, hits, pprec, prec_all, &no_rel),
                 "query_codes (= null)");
  EXPECT_INVALID(xmr_pr_curve_hamming(qc, pq, dc, -1, pb, ql, dl, pc, prec, rec, hits, pprec, prec_all, &no_rel),
                 "num_db (= -1)");
  EXPECT_INVALID(xmr_pr_curve_hamming(qc, pq, dc, pn, pb, ql, NULL, pc, prec, rec, hits, pprec, prec_all, &no_rel),
                 "db_labels (= null)");
  ql[0] = 3;
  EXPECT_INVALID(xmr_pr_curve_hamming(qc, pq, dc, pn, pb, ql, dl, pc, prec, rec, hits, pprec, prec_all, &no_rel),
                 "(= 3)");
}

/* ---- binarisers ----------------------------------------------------------------------------- */

static void check_binarizer_shape(const xmr_binarizer_t* b, int64_t dim, int64_t bits, xmr_binarizer_kind_t kind) {
  int64_t d = 0, nb = 0, cb = 0;
  xmr_binarizer_kind_t k = -1;
  EXPECT_OK(xmr_binarizer_dim(b, &d));
  EXPECT_OK(xmr_binarizer_bits(b, &nb));
  EXPECT_OK(xmr_binarizer_code_bytes(b, &cb));
  EXPECT_OK(xmr_binarizer_kind(b, &k));
  CHECK(d == dim && nb == bits && cb == bits / 8 && k == kind);
}

/* Encodes x with a and b and checks that the codes are identical. */
static void check_same_codes(const xmr_binarizer_t* a, const xmr_binarizer_t* b, const float* x, int64_t n,
                             int64_t code_bytes) {
  uint8_t ca[64 * 8], cb[64 * 8];
  EXPECT_OK(xmr_binarizer_encode(a, x, n, ca));
  EXPECT_OK(xmr_binarizer_encode(b, x, n, cb));
  CHECK(memcmp(ca, cb, (size_t)(n * code_bytes)) == 0);
}

static void test_binarizers(void) {
  enum { n = 40, d = 16 };
  float train[n * d];
  fill_uniform(train, n * d);
  /* sign: bit j = [x_j > 0], bit j in byte j/8 at bit j%8 */
  xmr_binarizer_t* sign = NULL;
  EXPECT_OK(xmr_binarizer_sign(d, &sign));
  check_binarizer_shape(sign, d, d, XMR_BINARIZER_SIGN);
  uint8_t codes[n * d / 8];
  EXPECT_OK(xmr_binarizer_encode(sign, train, n, codes));
  int mismatches = 0;
  for (int i = 0; i < n; ++i) {
    for (int j = 0; j < d; ++j) {
      const int bit = (codes[i * d / 8 + j / 8] >> (j % 8)) & 1;
      if (bit != (train[i * d + j] > 0.0f)) ++mismatches;
    }
  }
  CHECK(mismatches == 0);
  EXPECT_OK(xmr_binarizer_encode(sign, NULL, 0, NULL));
  /* sign_median: about half of the training rows have each bit */
  xmr_binarizer_t* median = NULL;
  EXPECT_OK(xmr_binarizer_sign_median(train, n, d, &median));
  check_binarizer_shape(median, d, d, XMR_BINARIZER_SIGN_MEDIAN);
  EXPECT_OK(xmr_binarizer_encode(median, train, n, codes));
  for (int j = 0; j < d; ++j) {
    int ones = 0;
    for (int i = 0; i < n; ++i) ones += (codes[i * d / 8 + j / 8] >> (j % 8)) & 1;
    CHECK(ones == n / 2);
  }
  xmr_binarizer_t* lsh = NULL;
  xmr_binarizer_t* lsh2 = NULL;
  xmr_binarizer_t* lsh_t = NULL;
  EXPECT_OK(xmr_binarizer_lsh(d, 24, 7, &lsh));
  EXPECT_OK(xmr_binarizer_lsh(d, 24, 7, &lsh2));
  check_binarizer_shape(lsh, d, 24, XMR_BINARIZER_LSH);
  check_same_codes(lsh, lsh2, train, n, 3); /* deterministic in the seed */
  EXPECT_OK(xmr_binarizer_lsh_train(train, n, d, 32, 7, 1, &lsh_t));
  check_binarizer_shape(lsh_t, d, 32, XMR_BINARIZER_LSH);
  xmr_binarizer_t* itq = NULL;
  xmr_itq_options_t io;
  xmr_itq_options_init(&io);
  CHECK(io.iterations == 50 && io.seed == 0 && io.regularization == 1e-4 && io.correlation_power == 2.0);
  xmr_itq_options_init(NULL);
  io.iterations = 5;
  EXPECT_OK(xmr_binarizer_itq(train, n, d, 8, &io, &itq));
  check_binarizer_shape(itq, d, 8, XMR_BINARIZER_ITQ);
  /* save / load / bytes: the same codes */
  char path[128];
  path_in_dir(path, "itq.bin");
  EXPECT_OK(xmr_binarizer_save(itq, path));
  xmr_binarizer_t* loaded = NULL;
  EXPECT_OK(xmr_binarizer_load(path, &loaded));
  check_binarizer_shape(loaded, d, 8, XMR_BINARIZER_ITQ);
  check_same_codes(itq, loaded, train, n, 1);
  uint8_t* bytes = NULL;
  size_t nbytes = 0;
  EXPECT_OK(xmr_binarizer_to_bytes(itq, &bytes, &nbytes));
  CHECK(nbytes == (size_t)file_size(path));
  xmr_binarizer_t* from = NULL;
  EXPECT_OK(xmr_binarizer_from_bytes(bytes, nbytes, &from));
  check_same_codes(itq, from, train, n, 1);
  xmr_binarizer_free(from);
  from = NULL;
  EXPECT_STATUS(xmr_binarizer_from_bytes(bytes, nbytes - 3, &from), XMR_ERR_CORRUPT_DATA, "bytes");
  bytes[30] ^= 1;
  EXPECT_STATUS(xmr_binarizer_from_bytes(bytes, nbytes, &from), XMR_ERR_CORRUPT_DATA, "bytes");
  EXPECT_INVALID(xmr_binarizer_from_bytes(NULL, 4, &from), "data (= null) with size (= 4)");
  CHECK(from == NULL);
  xmr_bytes_free(bytes);
  /* errors */
  xmr_binarizer_t* none = NULL;
  EXPECT_INVALID(xmr_binarizer_sign(12, &none), "dim (= 12)");
  EXPECT_INVALID(xmr_binarizer_sign(d, NULL), "out_binarizer (= null)");
  EXPECT_INVALID(xmr_binarizer_lsh(d, 20, 0, &none), "bits (= 20)");
  EXPECT_INVALID(xmr_binarizer_lsh(0, 8, 0, &none), "dim (= 0)");
  EXPECT_INVALID(xmr_binarizer_sign_median(NULL, n, d, &none), "train (= null) with n (= 40) > 0");
  EXPECT_INVALID(xmr_binarizer_sign_median(train, -1, d, &none), "n (= -1) must be >= 0");
  EXPECT_INVALID(xmr_binarizer_itq(train, n, d, 24, &io, &none), "24");
  io.iterations = -1;
  EXPECT_INVALID(xmr_binarizer_itq(train, n, d, 8, &io, &none), "-1");
  EXPECT_INVALID(xmr_binarizer_lsh_train(train, 1, d, 8, 0, 1, &none), "1");
  {
    float bad[n * d];
    memcpy(bad, train, sizeof bad);
    bad[17] = NAN;
    EXPECT_INVALID(xmr_binarizer_sign_median(bad, n, d, &none), "nan");
    codes[0] = 0xAB;
    EXPECT_INVALID(xmr_binarizer_encode(sign, bad, n, codes), "nan");
    CHECK(codes[0] == 0xAB); /* nothing written */
  }
  EXPECT_INVALID(xmr_binarizer_encode(NULL, train, 1, codes), "binarizer (= null)");
  EXPECT_INVALID(xmr_binarizer_encode(sign, train, 1, NULL), "out_codes (= null) with n (= 1) > 0");
  EXPECT_INVALID(xmr_binarizer_encode(sign, NULL, 1, codes), "x (= null) with n (= 1) > 0");
  EXPECT_INVALID(xmr_binarizer_encode(sign, train, -1, codes), "n (= -1)");
  EXPECT_INVALID(xmr_binarizer_dim(sign, NULL), "out_dim (= null)");
  EXPECT_INVALID(xmr_binarizer_bits(NULL, NULL), "binarizer (= null)");
  EXPECT_INVALID(xmr_binarizer_kind(sign, NULL), "out_kind (= null)");
  EXPECT_INVALID(xmr_binarizer_code_bytes(sign, NULL), "out_code_bytes (= null)");
  EXPECT_INVALID(xmr_binarizer_save(NULL, path), "binarizer (= null)");
  EXPECT_INVALID(xmr_binarizer_save(sign, NULL), "path (= null)");
  EXPECT_INVALID(xmr_binarizer_to_bytes(sign, NULL, &nbytes), "out_data (= null)");
  {
    char bad_path[160];
    snprintf(bad_path, sizeof bad_path, "%s/no/such/dir/b.bin", g_dir);
    EXPECT_STATUS(xmr_binarizer_save(sign, bad_path), XMR_ERR_IO, "no/such/dir");
    EXPECT_STATUS(xmr_binarizer_load(bad_path, &none), XMR_ERR_IO, "no/such/dir");
    char damaged[128];
    path_in_dir(damaged, "itq_damaged.bin");
    damaged_copy(path, damaged, file_size(path), 40);
    EXPECT_STATUS(xmr_binarizer_load(damaged, &none), XMR_ERR_CORRUPT_DATA, damaged);
    damaged_copy(path, damaged, file_size(path) - 1, -1);
    EXPECT_STATUS(xmr_binarizer_load(damaged, &none), XMR_ERR_CORRUPT_DATA, damaged);
    unlink(damaged);
  }
  EXPECT_INVALID(xmr_binarizer_load(NULL, &none), "path (= null)");
  EXPECT_INVALID(xmr_binarizer_load(path, NULL), "out_binarizer (= null)");
  CHECK(none == NULL);

  /* cross-modal ITQ: paired images and texts (texts a linear mix of images plus noise) */
  enum { dy = 12 };
  float texts[n * dy];
  for (int i = 0; i < n; ++i) {
    for (int j = 0; j < dy; ++j) {
      texts[i * dy + j] = train[i * d + j] - 0.5f * train[i * d + j + 4] + 0.01f * (float)(next_u32() % 100u);
    }
  }
  xmr_binarizer_t* bi = NULL;
  xmr_binarizer_t* bt = NULL;
  xmr_itq_options_init(&io);
  io.iterations = 10;
  EXPECT_OK(xmr_cross_modal_itq_train(train, d, texts, dy, n, 8, &io, &bi, &bt));
  check_binarizer_shape(bi, d, 8, XMR_BINARIZER_CROSS_MODAL_ITQ);
  check_binarizer_shape(bt, dy, 8, XMR_BINARIZER_CROSS_MODAL_ITQ);
  char pair_path[128];
  path_in_dir(pair_path, "pair.bin");
  EXPECT_OK(xmr_cross_modal_binarizer_save(bi, bt, pair_path));
  xmr_binarizer_t* li = NULL;
  xmr_binarizer_t* lt = NULL;
  EXPECT_OK(xmr_cross_modal_binarizer_load(pair_path, &li, &lt));
  check_same_codes(bi, li, train, n, 1);
  check_same_codes(bt, lt, texts, n, 1);
  /* a pair file is not one binariser, and one binariser's file is not a pair */
  EXPECT_STATUS(xmr_binarizer_load(pair_path, &none), XMR_ERR_CORRUPT_DATA, pair_path);
  xmr_binarizer_t* ni = NULL;
  xmr_binarizer_t* nt = NULL;
  EXPECT_STATUS(xmr_cross_modal_binarizer_load(path, &ni, &nt), XMR_ERR_CORRUPT_DATA, path);
  EXPECT_INVALID(xmr_cross_modal_binarizer_save(bi, lsh, pair_path), ""); /* 8 vs 24 bits */
  EXPECT_INVALID(xmr_cross_modal_binarizer_save(NULL, bt, pair_path), "image (= null)");
  EXPECT_INVALID(xmr_cross_modal_binarizer_save(bi, bt, NULL), "path (= null)");
  EXPECT_INVALID(xmr_cross_modal_binarizer_load(pair_path, NULL, &nt), "out_image (= null)");
  EXPECT_INVALID(xmr_cross_modal_itq_train(train, d, texts, dy, n, 16, &io, &ni, &nt), "16"); /* > text dim */
  EXPECT_INVALID(xmr_cross_modal_itq_train(train, d, NULL, dy, n, 8, &io, &ni, &nt), "text_train (= null)");
  EXPECT_INVALID(xmr_cross_modal_itq_train(train, d, texts, dy, n, 8, &io, NULL, &nt), "out_image (= null)");
  io.correlation_power = NAN;
  EXPECT_INVALID(xmr_cross_modal_itq_train(train, d, texts, dy, n, 8, &io, &ni, &nt), "correlation_power");
  CHECK(ni == NULL && nt == NULL);
  unlink(path);
  unlink(pair_path);
  xmr_binarizer_free(sign);
  xmr_binarizer_free(median);
  xmr_binarizer_free(lsh);
  xmr_binarizer_free(lsh2);
  xmr_binarizer_free(lsh_t);
  xmr_binarizer_free(itq);
  xmr_binarizer_free(loaded);
  xmr_binarizer_free(bi);
  xmr_binarizer_free(bt);
  xmr_binarizer_free(li);
  xmr_binarizer_free(lt);
  xmr_binarizer_free(NULL);
}

int main(void) {
  strcpy(g_dir, "/tmp/xmr_c_api_XXXXXX");
  if (mkdtemp(g_dir) == NULL) {
    perror("mkdtemp");
    return 1;
  }
  test_core();
  test_last_error_per_thread();
  test_dense_results();
  test_dense_cosine();
  test_dense_errors();
  test_binary_results();
  test_binary_errors();
  test_files();
  test_metrics();
  test_recall();
  test_collection();
  test_pipeline_results();
  test_scorer_errors();
  test_pipeline_errors();
  test_cross_modal();
  test_range_search();
  test_list_metrics();
  test_multi_vector();
  test_full_collection();
  test_cross_modal_collections();
  test_resources_and_bytes();
  test_more_metrics();
  test_binarizers();
  rmdir(g_dir);
  if (g_failures != 0) {
    fprintf(stderr, "test_c_api: %d check(s) failed (seed %llu)\n", g_failures, (unsigned long long)kSeed);
    return 1;
  }
  printf("test_c_api: all checks passed (xmr %s)\n", xmr_version());
  return 0;
}
