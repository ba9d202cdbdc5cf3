/* The C ABI side of the cross-API comparison (see api_dump.h). Plain C11. */
#include <stdio.h>
#include <string.h>

#include "api_dump.h"
#include "xmr/xmr_c.h"

static void check(xmr_status_t status, const char* what) {
  if (status != XMR_OK) {
    fprintf(stderr, "api_dump_c: %s failed (%d): %s\n", what, (int)status, xmr_last_error());
    exit(1);
  }
}

static int dense(char** a) {
  const xmr_metric_t metric = strcmp(a[0], "ip") == 0 ? XMR_METRIC_INNER_PRODUCT : XMR_METRIC_COSINE;
  const int f16 = strcmp(a[1], "f16") == 0;
  const int64_t n = dump_int(a[2]), q = dump_int(a[3]), d = dump_int(a[4]), k = dump_int(a[5]);
  const size_t elem = f16 ? 2 : 4;
  void* base = dump_read(a[6], (size_t)(n * d) * elem);
  void* queries = dump_read(a[7], (size_t)(q * d) * elem);
  int64_t* ids = malloc((size_t)(q * k) * sizeof(int64_t) + 1);
  float* scores = malloc((size_t)(q * k) * sizeof(float) + 1);
  xmr_dense_index_t* index = NULL;
  const xmr_dtype_t dtype = f16 ? XMR_DTYPE_F16 : XMR_DTYPE_F32;
  check(xmr_dense_index_create(d, metric, dtype, XMR_DEVICE_CPU, &index), "create");
  check(xmr_dense_index_add(index, base, dtype, n, NULL), "add");
  check(xmr_dense_index_search(index, queries, dtype, q, k, XMR_DEVICE_CPU, ids, scores), "search");
  dump_write(a[8], ids, (size_t)(q * k) * sizeof(int64_t));
  dump_write(a[9], scores, (size_t)(q * k) * sizeof(float));
  xmr_dense_index_free(index);
  free(base), free(queries), free(ids), free(scores);
  return 0;
}

static int binary(char** a) {
  const int64_t n = dump_int(a[0]), q = dump_int(a[1]), bytes = dump_int(a[2]), k = dump_int(a[3]);
  uint8_t* base = dump_read(a[4], (size_t)(n * bytes));
  uint8_t* queries = dump_read(a[5], (size_t)(q * bytes));
  int64_t* ids = malloc((size_t)(q * k) * sizeof(int64_t) + 1);
  int32_t* dist = malloc((size_t)(q * k) * sizeof(int32_t) + 1);
  xmr_binary_index_t* index = NULL;
  check(xmr_binary_index_create(bytes * 8, XMR_DEVICE_CPU, &index), "create");
  check(xmr_binary_index_add(index, base, n, NULL), "add");
  check(xmr_binary_index_search(index, queries, q, k, XMR_DEVICE_CPU, ids, dist), "search");
  dump_write(a[6], ids, (size_t)(q * k) * sizeof(int64_t));
  dump_write(a[7], dist, (size_t)(q * k) * sizeof(int32_t));
  xmr_binary_index_free(index);
  free(base), free(queries), free(ids), free(dist);
  return 0;
}

static int map(char** a) {
  const int64_t n = dump_int(a[0]), q = dump_int(a[1]), bytes = dump_int(a[2]), c = dump_int(a[3]);
  uint8_t* qc = dump_read(a[4], (size_t)(q * bytes));
  uint8_t* dc = dump_read(a[5], (size_t)(n * bytes));
  uint8_t* ql = dump_read(a[6], (size_t)(q * c));
  uint8_t* dl = dump_read(a[7], (size_t)(n * c));
  double* ap = malloc((size_t)q * sizeof(double) + 1);
  double mean = 0;
  check(xmr_map_hamming(qc, q, dc, n, bytes, ql, dl, c, XMR_MAP_ALL, 0, XMR_TIES_ASCENDING_INDEX, XMR_DEVICE_CPU, &mean,
                        ap),
        "map_hamming");
  dump_write(a[8], ap, (size_t)q * sizeof(double));
  free(qc), free(dc), free(ql), free(dl), free(ap);
  return 0;
}

int main(int argc, char** argv) {
  if (argc == 12 && strcmp(argv[1], "dense") == 0) return dense(argv + 2);
  if (argc == 10 && strcmp(argv[1], "binary") == 0) return binary(argv + 2);
  if (argc == 11 && strcmp(argv[1], "map") == 0) return map(argv + 2);
  fprintf(stderr, "usage: see python/tools/api_dump.h\n");
  return 2;
}
