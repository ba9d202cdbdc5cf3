/* A C program against the installed xmr: the C ABI (xmr/xmr_c.h) from plain C11, linked through
 * find_package(xmr) like the C++ consumer. Texts are searched with image queries: an exact cosine
 * shortlist re-ranked by a C scorer callback, and a Hamming search; every status is checked.
 * Exits non-zero when a result is not what it must be. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xmr/xmr_c.h>

#define DIM 8
#define TEXTS 6

static int fail(const char* what) {
  fprintf(stderr, "xmr_consumer_c: %s: %s\n", what, xmr_last_error());
  return 1;
}

/* A stand-in cross-encoder: prefers even text ids (a real one would run a model on the pair). */
static int32_t prefer_even(void* user_data, const xmr_pair_batch_t* pairs, float* out, char* message,
                           size_t message_size) {
  int* calls = (int*)user_data;
  (void)message, (void)message_size;
  ++*calls;
  for (int64_t i = 0; i < pairs->num_pairs; ++i) {
    out[i] = (pairs->candidate_ids[i] % 2 == 0 ? 10.0f : 0.0f) + pairs->similarity[i];
  }
  return 0;
}

int main(void) {
  float texts[TEXTS * DIM];
  for (int i = 0; i < TEXTS * DIM; ++i) texts[i] = (float)((i * 7) % 5) - 2.0f;
  for (int t = 0; t < TEXTS; ++t) texts[t * DIM + t] += 4.0f; /* distinct, no zero rows */
  float query[DIM];
  memcpy(query, texts + 3 * DIM, sizeof query); /* the image query is text 3 itself */

  printf("xmr %s: %s\n", xmr_version(), "C ABI consumer");

  /* Dense index: text 3 must come first with cosine 1. */
  xmr_dense_index_t* index = NULL;
  if (xmr_dense_index_create(DIM, XMR_METRIC_COSINE, XMR_DTYPE_F32, XMR_DEVICE_AUTO, &index) != XMR_OK) {
    return fail("create");
  }
  int64_t ids[3];
  float scores[3];
  if (xmr_dense_index_add(index, texts, XMR_DTYPE_F32, TEXTS, NULL) != XMR_OK) return fail("add");
  if (xmr_dense_index_search(index, query, XMR_DTYPE_F32, 1, 3, XMR_DEVICE_DEFAULT, ids, scores) != XMR_OK) {
    return fail("search");
  }
  printf("dense top-3: %lld (%.4f) %lld %lld\n", (long long)ids[0], scores[0], (long long)ids[1], (long long)ids[2]);
  if (ids[0] != 3 || fabsf(scores[0] - 1.0f) > 1e-5f) return fprintf(stderr, "wrong dense result\n"), 1;

  /* A bad call: clear error, nothing changed. */
  if (xmr_dense_index_search(index, query, XMR_DTYPE_F32, 1, 0, XMR_DEVICE_DEFAULT, ids, scores) !=
      XMR_ERR_INVALID_ARGUMENT) {
    return fprintf(stderr, "k = 0 was accepted\n"), 1;
  }
  printf("k = 0 -> %s\n", xmr_last_error());
  xmr_dense_index_free(index);

  /* The pipeline: a shortlist of every text by embeddings, re-ranked by the C scorer, 2 results. */
  xmr_collection_t* collection = NULL;
  if (xmr_collection_create("texts", DIM, XMR_METRIC_COSINE, XMR_DTYPE_F32, 0, XMR_DEVICE_AUTO, &collection) !=
      XMR_OK) {
    return fail("collection");
  }
  if (xmr_collection_add(collection, TEXTS, NULL, texts, NULL) != XMR_OK) return fail("collection add");
  xmr_pipeline_options_t options;
  xmr_pipeline_options_init(&options);
  int calls = 0;
  options.k = 2;
  options.candidates = TEXTS;
  options.scorer = prefer_even;
  options.scorer_user_data = &calls;
  if (xmr_collection_retrieve(collection, query, NULL, NULL, 1, &options, ids, scores) != XMR_OK) {
    return fail("retrieve");
  }
  printf("re-ranked top-2: %lld %lld (%d scorer call)\n", (long long)ids[0], (long long)ids[1], calls);
  if (calls < 1 || ids[0] % 2 != 0 || ids[1] % 2 != 0) return fprintf(stderr, "scorer order not applied\n"), 1;
  xmr_collection_free(collection);

  /* Hamming: 16-bit codes, the query's own code at distance 0. */
  uint8_t codes[4 * 2] = {0x00, 0x00, 0xFF, 0x00, 0x0F, 0xF0, 0xFF, 0xFF};
  int32_t dist[2];
  xmr_binary_index_t* binary = NULL;
  if (xmr_binary_index_create(16, XMR_DEVICE_AUTO, &binary) != XMR_OK) return fail("binary create");
  if (xmr_binary_index_add(binary, codes, 4, NULL) != XMR_OK) return fail("binary add");
  if (xmr_binary_index_search(binary, codes + 4, 1, 2, XMR_DEVICE_DEFAULT, ids, dist) != XMR_OK) {
    return fail("binary search");
  }
  printf("hamming top-2: %lld (d=%d) %lld (d=%d)\n", (long long)ids[0], dist[0], (long long)ids[1], dist[1]);
  if (ids[0] != 2 || dist[0] != 0 || dist[1] != 8) return fprintf(stderr, "wrong Hamming result\n"), 1;
  xmr_binary_index_free(binary);
  return 0;
}
