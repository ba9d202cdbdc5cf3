/* Shared by the two dump tools (api_dump.c through the C ABI, api_dump.cpp through the C++ API):
 * raw little-endian files in, raw files out, so that python/tests/test_cross_api.py can compare
 * the three APIs' results on the same inputs byte for byte.
 *
 *   dense  ip|cosine f32|f16 N Q D K BASE QUERIES OUT_IDS OUT_SCORES
 *   binary N Q BYTES K BASE QUERIES OUT_IDS OUT_DISTANCES
 *   map    N Q BYTES C QUERY_CODES DB_CODES QUERY_LABELS DB_LABELS OUT_AP   (mAP@ALL, per query)
 *
 * Every search runs on the CPU, so the tools answer the same on any machine. */
#ifndef XMR_PYTHON_TOOLS_API_DUMP_H
#define XMR_PYTHON_TOOLS_API_DUMP_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static inline void* dump_read(const char* path, size_t bytes) {
  void* p = malloc(bytes > 0 ? bytes : 1);
  FILE* f = fopen(path, "rb");
  if (p == NULL || f == NULL || (bytes > 0 && fread(p, 1, bytes, f) != bytes)) {
    fprintf(stderr, "api_dump: cannot read %zu bytes from %s\n", bytes, path);
    exit(2);
  }
  fclose(f);
  return p;
}

static inline void dump_write(const char* path, const void* data, size_t bytes) {
  FILE* f = fopen(path, "wb");
  if (f == NULL || (bytes > 0 && fwrite(data, 1, bytes, f) != bytes) || fclose(f) != 0) {
    fprintf(stderr, "api_dump: cannot write %s\n", path);
    exit(2);
  }
}

static inline int64_t dump_int(const char* s) {
  return strtoll(s, NULL, 10);
}

#endif
