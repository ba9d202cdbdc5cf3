// Caller buffers in CUDA device memory (MemorySpace::Device) in DenseIndex and BinaryIndex
// searches and adds (issue 8: zero-copy GPU tensors for Python).
//
// Every machine: the device rules (Device::Cpu with device memory is InvalidArgument naming the
// argument; no usable GPU is Unavailable naming `queries.space` and friends; calls that stay
// host-only still reject device memory), each leaving the index unchanged.
// With a GPU: device queries and/or device outputs against host ones on the same GPU, bit for bit,
// on awkward sizes (Q = 1, N < k, D = 1, D not a multiple of 8, odd code lengths, row strides,
// fp16, cosine and inner product, several query batches, the general top-k path), bad values
// found on the device with the host's exact message, device outputs untouched by a failed call,
// pointer checks, borrowed streams, and `add` from device memory.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/expect_error.h"
#include "common/reference.h"
#include "xmr/xmr.h"

#if XMR_TEST_CUDA
#include <cuda_runtime.h>
#endif

namespace {

using xmr::BinaryIndex;
using xmr::DenseIndex;
using xmr::Device;
using xmr::DType;
using xmr::ErrorCode;
using xmr::half;
using xmr::MatrixView;
using xmr::MemorySpace;
using xmr::Metric;
using xmr::SearchOptions;
using xmr_test::Rng;

constexpr MemorySpace kDev = MemorySpace::Device;

DenseIndex small_dense(Metric metric, Device device = Device::Auto) {
  DenseIndex index({.dim = 4, .metric = metric, .storage = DType::F32, .device = device});
  Rng rng(11);
  const std::vector<float> x = xmr_test::random_matrix(rng, 6, 4);
  index.add(MatrixView<const float>(x.data(), 6, 4));
  return index;
}

BinaryIndex small_binary(Device device = Device::Auto) {
  BinaryIndex index({.bits = 24, .device = device});
  std::vector<std::uint8_t> codes(5 * 3);
  for (std::size_t i = 0; i < codes.size(); ++i) codes[i] = static_cast<std::uint8_t>(37 * i + 5);
  index.add(MatrixView<const std::uint8_t>(codes.data(), 5, 3));
  return index;
}

// ---------------------------------------------------------------------------------------------
// Every machine.

TEST(DeviceMemory, DeviceCpuWithDeviceMemoryIsInvalidArgument) {
  // Checked before the GPU is looked at, so this holds with or without one. The pointers are
  // never touched (host memory marked Device).
  std::vector<float> q(2 * 4, 1.0F);
  std::vector<std::int64_t> ids(2 * 3, 7);
  std::vector<float> scores(2 * 3, 7.0F);
  const SearchOptions cpu{.device = Device::Cpu};
  {
    DenseIndex index = small_dense(Metric::Cosine);
    EXPECT_XMR_ERROR(index.search(MatrixView<const float>(q.data(), 2, 4, -1, kDev), 3, cpu),
                     ErrorCode::InvalidArgument, "queries.space", "cpu");
    EXPECT_XMR_ERROR(index.search_into(MatrixView<const float>(q.data(), 2, 4), 3,
                                       MatrixView<std::int64_t>(ids.data(), 2, 3, -1, kDev),
                                       MatrixView<float>(scores.data(), 2, 3), cpu),
                     ErrorCode::InvalidArgument, "out_ids.space", "cpu");
    EXPECT_XMR_ERROR(
        index.search_into(MatrixView<const float>(q.data(), 2, 4), 3, MatrixView<std::int64_t>(ids.data(), 2, 3),
                          MatrixView<float>(scores.data(), 2, 3, -1, kDev), cpu),
        ErrorCode::InvalidArgument, "out_scores.space", "cpu");
    EXPECT_EQ(index.size(), 6);
  }
  {
    // The index's default device counts as the request.
    DenseIndex index = small_dense(Metric::InnerProduct, Device::Cpu);
    EXPECT_XMR_ERROR(index.search(MatrixView<const float>(q.data(), 2, 4, -1, kDev), 3), ErrorCode::InvalidArgument,
                     "queries.space", "cpu");
  }
  {
    BinaryIndex index = small_binary(Device::Cpu);
    std::vector<std::uint8_t> codes(2 * 3, 1);
    std::vector<std::int32_t> dist(2 * 3, 7);
    EXPECT_XMR_ERROR(index.search(MatrixView<const std::uint8_t>(codes.data(), 2, 3, -1, kDev), 3),
                     ErrorCode::InvalidArgument, "queries.space", "cpu");
    EXPECT_XMR_ERROR(index.search_into(MatrixView<const std::uint8_t>(codes.data(), 2, 3), 3,
                                       MatrixView<std::int64_t>(ids.data(), 2, 3),
                                       MatrixView<std::int32_t>(dist.data(), 2, 3, -1, kDev)),
                     ErrorCode::InvalidArgument, "out_distances.space", "cpu");
    EXPECT_EQ(index.size(), 5);
  }
  // The caller's buffers were not written.
  for (const std::int64_t v : ids) EXPECT_EQ(v, 7);
  for (const float v : scores) EXPECT_EQ(v, 7.0F);
}

TEST(DeviceMemory, NoUsableGpuIsUnavailableAndChangesNothing) {
  if (xmr::gpu_count() > 0) GTEST_SKIP() << "a GPU is present: the Unavailable path needs a machine without one";
  DenseIndex index = small_dense(Metric::Cosine);
  Rng rng(3);
  const std::vector<float> q = xmr_test::random_matrix(rng, 2, 4);
  const xmr::SearchResult before = index.search(MatrixView<const float>(q.data(), 2, 4), 3);
  EXPECT_EQ(before.device, Device::Cpu);

  std::vector<std::int64_t> ids(2 * 3, 7);
  std::vector<float> scores(2 * 3, 7.0F);
  const MatrixView<const float> dq(q.data(), 2, 4, -1, kDev);
  EXPECT_XMR_ERROR(index.search(dq, 3), ErrorCode::Unavailable, "queries.space");
  EXPECT_XMR_ERROR(index.search(dq, 3, {.device = Device::Gpu}), ErrorCode::Unavailable, "queries.space");
  EXPECT_XMR_ERROR(index.search(MatrixView<const half>(nullptr, 0, 4, -1, kDev), 3), ErrorCode::Unavailable,
                   "queries.space");  // also with no rows: the rule does not depend on Q
  EXPECT_XMR_ERROR(index.search_into(MatrixView<const float>(q.data(), 2, 4), 3,
                                     MatrixView<std::int64_t>(ids.data(), 2, 3, -1, kDev),
                                     MatrixView<float>(scores.data(), 2, 3, -1, kDev)),
                   ErrorCode::Unavailable, "out_ids.space");
  xmr::Resources res(0);
  EXPECT_XMR_ERROR(
      index.search_into(dq, 3, MatrixView<std::int64_t>(ids.data(), 2, 3), MatrixView<float>(scores.data(), 2, 3),
                        {.device = std::nullopt, .resources = &res}),
      ErrorCode::Unavailable, "queries.space");
  EXPECT_XMR_ERROR(index.add(dq), ErrorCode::Unavailable, "vectors.space");
  const std::vector<std::int64_t> new_ids{100, 101};
  EXPECT_XMR_ERROR(index.add(dq, new_ids), ErrorCode::Unavailable, "vectors.space");
  for (const std::int64_t v : ids) EXPECT_EQ(v, 7);
  for (const float v : scores) EXPECT_EQ(v, 7.0F);

  // Unchanged, and still answering exactly as before.
  EXPECT_EQ(index.size(), 6);
  xmr_test::expect_bit_equal(index.search(MatrixView<const float>(q.data(), 2, 4), 3), before, "after the failures");

  BinaryIndex bindex = small_binary();
  std::vector<std::uint8_t> codes(2 * 3, 9);
  const MatrixView<const std::uint8_t> dc(codes.data(), 2, 3, -1, kDev);
  const xmr::BinarySearchResult bbefore = bindex.search(MatrixView<const std::uint8_t>(codes.data(), 2, 3), 4);
  EXPECT_XMR_ERROR(bindex.search(dc, 4), ErrorCode::Unavailable, "queries.space");
  std::vector<std::int32_t> dist(2 * 4, 7);
  std::vector<std::int64_t> bids(2 * 4, 7);
  EXPECT_XMR_ERROR(bindex.search_into(MatrixView<const std::uint8_t>(codes.data(), 2, 3), 4,
                                      MatrixView<std::int64_t>(bids.data(), 2, 4),
                                      MatrixView<std::int32_t>(dist.data(), 2, 4, -1, kDev)),
                   ErrorCode::Unavailable, "out_distances.space");
  EXPECT_XMR_ERROR(bindex.add(dc), ErrorCode::Unavailable, "codes.space");
  EXPECT_EQ(bindex.size(), 5);
  const xmr::BinarySearchResult bafter = bindex.search(MatrixView<const std::uint8_t>(codes.data(), 2, 3), 4);
  EXPECT_EQ(bafter.ids, bbefore.ids);
  EXPECT_EQ(bafter.distances, bbefore.distances);
}

TEST(DeviceMemory, ShapesAreCheckedBeforeTheDevice) {
  // Shape errors name the argument whatever the memory space and machine.
  DenseIndex index = small_dense(Metric::Cosine);
  std::vector<float> q(2 * 5, 1.0F);
  EXPECT_XMR_ERROR(index.search(MatrixView<const float>(q.data(), 2, 5, -1, kDev), 3), ErrorCode::InvalidArgument,
                   "queries.cols", "5");
  EXPECT_XMR_ERROR(index.search(MatrixView<const float>(q.data(), 2, 4, 3, kDev), 3), ErrorCode::InvalidArgument,
                   "queries.stride", "3");
  EXPECT_XMR_ERROR(index.search(MatrixView<const float>(nullptr, 2, 4, -1, kDev), 3), ErrorCode::InvalidArgument,
                   "queries.data", "null");
  EXPECT_XMR_ERROR(index.search(MatrixView<const float>(q.data(), 2, 4, -1, static_cast<MemorySpace>(7)), 3),
                   ErrorCode::InvalidArgument, "queries.space", "7", "not a MemorySpace value");
  std::vector<std::int64_t> ids(2 * 3);
  std::vector<float> scores(2 * 3);
  EXPECT_XMR_ERROR(index.search_into(MatrixView<const float>(q.data(), 2, 4), 3,
                                     MatrixView<std::int64_t>(ids.data(), 2, 2, -1, kDev),
                                     MatrixView<float>(scores.data(), 2, 3, -1, kDev)),
                   ErrorCode::InvalidArgument, "out_ids.cols", "2");
  EXPECT_EQ(index.size(), 6);
}

TEST(DeviceMemory, HostOnlyCallsStillRejectDeviceMemory) {
  DenseIndex index = small_dense(Metric::InnerProduct);
  std::vector<float> q(2 * 4, 1.0F);
  std::vector<std::int64_t> cand(2 * 2, 0);
  std::vector<float> out(2 * 2);
  EXPECT_XMR_ERROR(
      index.rescore(MatrixView<const float>(q.data(), 2, 4, -1, kDev),
                    MatrixView<const std::int64_t>(cand.data(), 2, 2), MatrixView<float>(out.data(), 2, 2)),
      ErrorCode::InvalidArgument, "queries.space (= Device) is not supported here");
  BinaryIndex bindex = small_binary();
  std::vector<std::uint8_t> codes(2 * 3, 1);
  EXPECT_XMR_ERROR(bindex.range_search(MatrixView<const std::uint8_t>(codes.data(), 2, 3, -1, kDev), 3, 10),
                   ErrorCode::InvalidArgument, "queries.space (= Device) is not supported here");
}

// ---------------------------------------------------------------------------------------------
// With a GPU.

#if XMR_TEST_CUDA

/// A cudaMalloc'd buffer of `count` elements (freed on scope exit).
template <class T>
class DeviceArray {
 public:
  explicit DeviceArray(std::size_t count) : count_(count) {
    void* p = nullptr;
    const cudaError_t e = cudaMalloc(&p, count == 0 ? 1 : count * sizeof(T));
    if (e != cudaSuccess) throw std::runtime_error(std::string("cudaMalloc: ") + cudaGetErrorString(e));
    ptr_ = static_cast<T*>(p);
  }
  explicit DeviceArray(const std::vector<T>& host) : DeviceArray(host.size()) { upload(host); }
  ~DeviceArray() { (void)cudaFree(ptr_); }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;
  void upload(const std::vector<T>& host) {
    ASSERT_EQ(host.size(), count_);
    ASSERT_EQ(cudaMemcpy(ptr_, host.data(), count_ * sizeof(T), cudaMemcpyHostToDevice), cudaSuccess);
  }
  [[nodiscard]] std::vector<T> download() const {
    std::vector<T> h(count_);
    EXPECT_EQ(cudaMemcpy(h.data(), ptr_, count_ * sizeof(T), cudaMemcpyDeviceToHost), cudaSuccess);
    return h;
  }
  [[nodiscard]] T* get() const { return ptr_; }

 private:
  T* ptr_ = nullptr;
  std::size_t count_ = 0;
};

#define XMR_REQUIRE_GPU() \
  if (xmr::gpu_count() == 0) GTEST_SKIP() << "no usable GPU: " << xmr::device_summary()

struct DenseCase {
  Metric metric;
  DType storage;
  bool half_queries;
  std::int64_t q, n, dim, k, stride;
  std::int64_t query_cap;  // Resources tile cap on query rows (0: none): several batches
};

std::string describe(const DenseCase& c) {
  return xmr::to_string(c.metric) + std::string(" ") + xmr::to_string(c.storage) +
         (c.half_queries ? " fp16 queries" : " fp32 queries") + " Q=" + std::to_string(c.q) +
         " N=" + std::to_string(c.n) + " D=" + std::to_string(c.dim) + " k=" + std::to_string(c.k) +
         " stride=" + std::to_string(c.stride) + " cap=" + std::to_string(c.query_cap);
}

class DeviceDense : public ::testing::TestWithParam<DenseCase> {};

template <class T>
void run_dense_case(const DenseCase& c, const std::vector<T>& host_q, DenseIndex& index, xmr::Resources& res) {
  const std::string ctx = describe(c);
  const SearchOptions gpu{.device = Device::Gpu, .resources = &res};
  const MatrixView<const T> hq(host_q.data(), c.q, c.dim, c.stride);
  const xmr::SearchResult want = index.search(hq, c.k, gpu);
  ASSERT_EQ(want.device, Device::Gpu);

  DeviceArray<T> dq(host_q);
  const MatrixView<const T> dview(dq.get(), c.q, c.dim, c.stride, kDev);
  // Device queries, host outputs (Auto: device memory picks the GPU).
  const xmr::SearchResult got = index.search(dview, c.k, {.device = std::nullopt, .resources = &res});
  EXPECT_EQ(got.device, Device::Gpu);
  xmr_test::expect_bit_equal(got, want, ctx + ", device queries");

  // Device outputs with a row stride, from device and from host queries.
  const std::int64_t ld = c.k + 3;
  const auto out_n = static_cast<std::size_t>(c.q * ld);
  for (const bool device_queries : {true, false}) {
    DeviceArray<std::int64_t> d_ids(std::vector<std::int64_t>(out_n, -7));
    DeviceArray<float> d_scores(std::vector<float>(out_n, 42.0F));
    const Device ran = index.search_into(
        device_queries ? dview : hq, c.k, MatrixView<std::int64_t>(d_ids.get(), c.q, c.k, ld, kDev),
        MatrixView<float>(d_scores.get(), c.q, c.k, ld, kDev), {.device = std::nullopt, .resources = &res});
    EXPECT_EQ(ran, Device::Gpu);
    const std::vector<std::int64_t> ids = d_ids.download();
    const std::vector<float> scores = d_scores.download();
    xmr::SearchResult r;
    r.num_queries = c.q;
    r.k = c.k;
    for (std::int64_t i = 0; i < c.q; ++i) {
      for (std::int64_t j = 0; j < ld; ++j) {
        const auto e = static_cast<std::size_t>(i * ld + j);
        if (j < c.k) {
          r.ids.push_back(ids[e]);
          r.scores.push_back(scores[e]);
        } else {
          EXPECT_EQ(ids[e], -7) << ctx << ": padding between rows written";
          EXPECT_EQ(scores[e], 42.0F) << ctx << ": padding between rows written";
        }
      }
    }
    xmr_test::expect_bit_equal(r, want, ctx + (device_queries ? ", device queries and outputs" : ", device outputs"));
  }
}

TEST_P(DeviceDense, MatchesHostQueriesBitForBit) {
  XMR_REQUIRE_GPU();
  const DenseCase& c = GetParam();
  Rng rng(static_cast<std::uint64_t>(1000 + c.q * 7 + c.n * 3 + c.dim));
  SCOPED_TRACE(describe(c) + ", seed " + std::to_string(1000 + c.q * 7 + c.n * 3 + c.dim));
  DenseIndex index({.dim = c.dim, .metric = c.metric, .storage = c.storage});
  const std::vector<float> x = xmr_test::random_matrix(rng, c.n, c.dim);
  index.add(MatrixView<const float>(x.data(), c.n, c.dim));
  const std::vector<float> qd = xmr_test::random_matrix(rng, c.q, c.dim);
  const std::vector<float> qs = xmr_test::with_stride(qd, c.q, c.dim, c.stride, std::nanf(""));
  xmr::Resources res(0);
  if (c.query_cap > 0) res.set_tile_caps(c.query_cap, 0);
  if (c.half_queries) {
    run_dense_case(c, xmr_test::to_half(qs), index, res);
  } else {
    run_dense_case(c, qs, index, res);
  }
}

INSTANTIATE_TEST_SUITE_P(
    AwkwardSizes, DeviceDense,
    ::testing::Values(DenseCase{Metric::Cosine, DType::F32, false, 1, 5, 1, 8, 1, 0},  // Q = 1, D = 1, N < k
                      DenseCase{Metric::InnerProduct, DType::F32, false, 7, 300, 13, 10, 16, 0},
                      DenseCase{Metric::Cosine, DType::F16, false, 3, 40, 33, 50, 40, 0},  // fp16 storage, N < k
                      DenseCase{Metric::InnerProduct, DType::F16, true, 5, 100, 7, 3, 9, 0},
                      DenseCase{Metric::Cosine, DType::F32, true, 64, 1000, 129, 17, 129, 0},
                      DenseCase{Metric::Cosine, DType::F32, false, 50, 200, 1500, 5, 1501, 16},   // D > one tile
                      DenseCase{Metric::InnerProduct, DType::F16, false, 37, 333, 24, 9, 30, 8},  // batches
                      DenseCase{Metric::Cosine, DType::F32, false, 3, 3000, 12, 2500, 12, 0}));   // general path

TEST(DeviceMemoryGpu, BadDeviceQueriesFailAsOnTheHost) {
  XMR_REQUIRE_GPU();
  // Each bad value, and the message naming its row and value, exactly as from host memory.
  struct Bad {
    Metric metric;
    DType storage;
    std::int64_t row, col;
    float value;
    std::int64_t query_cap;
  };
  const float inf = std::numeric_limits<float>::infinity();
  for (const Bad& b :
       {Bad{Metric::Cosine, DType::F32, 2, 3, std::nanf(""), 0}, Bad{Metric::InnerProduct, DType::F32, 0, 0, inf, 0},
        Bad{Metric::InnerProduct, DType::F16, 4, 1, -inf, 2},
        Bad{Metric::Cosine, DType::F32, 3, -1, 0.0F, 2},       // a zero row
        Bad{Metric::InnerProduct, DType::F16, 1, 2, 1e6F, 0},  // beyond fp16
        Bad{Metric::Cosine, DType::F16, 4, 5, 3e5F, 2}}) {
    const std::int64_t q = 5;
    const std::int64_t dim = 6;
    const std::int64_t stride = 8;
    DenseIndex index({.dim = dim, .metric = b.metric, .storage = b.storage});
    Rng rng(77);
    const std::vector<float> x = xmr_test::random_matrix(rng, 20, dim);
    index.add(MatrixView<const float>(x.data(), 20, dim));
    std::vector<float> qd = xmr_test::random_matrix(rng, q, dim);
    if (b.col < 0) {
      for (std::int64_t c = 0; c < dim; ++c) qd[static_cast<std::size_t>(b.row * dim + c)] = 0.0F;
    } else {
      qd[static_cast<std::size_t>(b.row * dim + b.col)] = b.value;
    }
    if (b.metric == Metric::Cosine && b.value > 1e5F) {
      // Cosine normalises: overflow is impossible there; make it a NaN case instead.
      qd[static_cast<std::size_t>(b.row * dim + b.col)] = std::nanf("");
    }
    const std::vector<float> qs = xmr_test::with_stride(qd, q, dim, stride, 0.0F);
    xmr::Resources res(0);
    if (b.query_cap > 0) res.set_tile_caps(b.query_cap, 0);
    const SearchOptions gpu{.device = Device::Gpu, .resources = &res};
    std::string host_message;
    try {
      (void)index.search(MatrixView<const float>(qs.data(), q, dim, stride), 3, gpu);
      ADD_FAILURE() << "host queries: no error";
    } catch (const xmr::Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::InvalidArgument);
      host_message = e.what();
    }
    DeviceArray<float> dq(qs);
    const std::size_t out_n = static_cast<std::size_t>(q * 3);
    DeviceArray<std::int64_t> d_ids(std::vector<std::int64_t>(out_n, -7));
    DeviceArray<float> d_scores(std::vector<float>(out_n, 42.0F));
    try {
      (void)index.search_into(MatrixView<const float>(dq.get(), q, dim, stride, kDev), 3,
                              MatrixView<std::int64_t>(d_ids.get(), q, 3, -1, kDev),
                              MatrixView<float>(d_scores.get(), q, 3, -1, kDev),
                              {.device = std::nullopt, .resources = &res});
      ADD_FAILURE() << "device queries: no error";
    } catch (const xmr::Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::InvalidArgument);
      EXPECT_EQ(std::string(e.what()), host_message);
    }
    // The outputs were not written, and the index and Resources still work.
    for (const std::int64_t v : d_ids.download()) EXPECT_EQ(v, -7);
    for (const float v : d_scores.download()) EXPECT_EQ(v, 42.0F);
    std::vector<float> good = xmr_test::random_matrix(rng, q, dim);
    DeviceArray<float> dgood(good);
    const xmr::SearchResult want = index.search(MatrixView<const float>(good.data(), q, dim), 3, gpu);
    xmr_test::expect_bit_equal(index.search(MatrixView<const float>(dgood.get(), q, dim, -1, kDev), 3, gpu), want,
                               "after a failed call");
  }
}

TEST(DeviceMemoryGpu, PointersAreChecked) {
  XMR_REQUIRE_GPU();
  DenseIndex index = small_dense(Metric::Cosine);
  std::vector<float> q(2 * 4, 1.0F);
  // Host memory marked Device: found before any kernel reads it.
  EXPECT_XMR_ERROR(index.search(MatrixView<const float>(q.data(), 2, 4, -1, kDev), 3), ErrorCode::InvalidArgument,
                   "queries.data", "not device memory");
  std::vector<std::int64_t> ids(2 * 3);
  DeviceArray<float> scores(2 * 3);
  EXPECT_XMR_ERROR(index.search_into(MatrixView<const float>(q.data(), 2, 4), 3,
                                     MatrixView<std::int64_t>(ids.data(), 2, 3, -1, kDev),
                                     MatrixView<float>(scores.get(), 2, 3, -1, kDev)),
                   ErrorCode::InvalidArgument, "out_ids.data", "not device memory");
  if (xmr::gpu_count() > 1) {
    DeviceArray<float> dq(q);  // on GPU 0 (the current device)
    xmr::Resources res1(1);
    EXPECT_XMR_ERROR(index.search(MatrixView<const float>(dq.get(), 2, 4, -1, kDev), 3,
                                  {.device = std::nullopt, .resources = &res1}),
                     ErrorCode::InvalidArgument, "queries.data", "GPU 0", "GPU 1");
  }
  EXPECT_EQ(index.size(), 6);
}

TEST(DeviceMemoryGpu, BorrowedStreamOrdersTheReads) {
  XMR_REQUIRE_GPU();
  // The queries are written by an asynchronous copy on the caller's stream; a search borrowing
  // that stream reads them after it (no synchronisation by the caller in between).
  cudaStream_t stream = nullptr;
  ASSERT_EQ(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), cudaSuccess);
  {
    const std::int64_t q = 9;
    const std::int64_t dim = 40;
    DenseIndex index({.dim = dim, .metric = Metric::InnerProduct, .storage = DType::F32});
    Rng rng(5);
    const std::vector<float> x = xmr_test::random_matrix(rng, 500, dim);
    index.add(MatrixView<const float>(x.data(), 500, dim));
    const std::vector<float> qd = xmr_test::random_matrix(rng, q, dim);
    xmr::Resources res(0, stream);
    const xmr::SearchResult want =
        index.search(MatrixView<const float>(qd.data(), q, dim), 6, {.device = std::nullopt, .resources = &res});
    DeviceArray<float> dq(static_cast<std::size_t>(q * dim));
    DeviceArray<std::int64_t> d_ids(static_cast<std::size_t>(q * 6));
    DeviceArray<float> d_scores(static_cast<std::size_t>(q * 6));
    ASSERT_EQ(cudaMemcpyAsync(dq.get(), qd.data(), qd.size() * sizeof(float), cudaMemcpyHostToDevice, stream),
              cudaSuccess);
    (void)index.search_into(
        MatrixView<const float>(dq.get(), q, dim, -1, kDev), 6, MatrixView<std::int64_t>(d_ids.get(), q, 6, -1, kDev),
        MatrixView<float>(d_scores.get(), q, 6, -1, kDev), {.device = std::nullopt, .resources = &res});
    // Synchronous contract: the outputs are complete when the call returns.
    xmr::SearchResult got;
    got.num_queries = q;
    got.k = 6;
    got.ids.resize(static_cast<std::size_t>(q * 6));
    got.scores.resize(static_cast<std::size_t>(q * 6));
    ASSERT_EQ(cudaMemcpyAsync(got.ids.data(), d_ids.get(), got.ids.size() * 8, cudaMemcpyDeviceToHost, stream),
              cudaSuccess);
    ASSERT_EQ(cudaMemcpyAsync(got.scores.data(), d_scores.get(), got.scores.size() * 4, cudaMemcpyDeviceToHost, stream),
              cudaSuccess);
    ASSERT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
    xmr_test::expect_bit_equal(got, want, "borrowed stream");
  }
  ASSERT_EQ(cudaStreamDestroy(stream), cudaSuccess);
}

TEST(DeviceMemoryGpu, AddFromDeviceMemoryEqualsAddFromHost) {
  XMR_REQUIRE_GPU();
  for (const bool half_vectors : {false, true}) {
    const std::int64_t n = 33;
    const std::int64_t dim = 11;
    const std::int64_t stride = 13;
    Rng rng(21);
    const std::vector<float> xd = xmr_test::random_matrix(rng, n, dim);
    const std::vector<float> xs = xmr_test::with_stride(xd, n, dim, stride, 0.0F);
    const std::vector<float> qd = xmr_test::random_matrix(rng, 4, dim);
    DenseIndex a({.dim = dim, .metric = Metric::Cosine, .storage = DType::F16});
    DenseIndex b({.dim = dim, .metric = Metric::Cosine, .storage = DType::F16});
    std::vector<std::int64_t> ids(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) ids[static_cast<std::size_t>(i)] = 1000 - 3 * i;
    if (half_vectors) {
      const std::vector<half> hs = xmr_test::to_half(xs);
      a.add(MatrixView<const half>(hs.data(), n, dim, stride), ids);
      DeviceArray<half> dx(hs);
      b.add(MatrixView<const half>(dx.get(), n, dim, stride, kDev), ids);
    } else {
      a.add(MatrixView<const float>(xs.data(), n, dim, stride), ids);
      DeviceArray<float> dx(xs);
      b.add(MatrixView<const float>(dx.get(), n, dim, stride, kDev), ids);
    }
    EXPECT_EQ(a.to_bytes(), b.to_bytes());
    // A bad value on the device: the host's error, the index unchanged.
    std::vector<float> bad = xd;
    bad[5] = std::nanf("");
    DeviceArray<float> dbad(bad);
    EXPECT_XMR_ERROR(b.add(MatrixView<const float>(dbad.get(), n, dim, -1, kDev)), ErrorCode::InvalidArgument,
                     "vectors[0][5]", "not finite");
    EXPECT_EQ(b.size(), n);
    EXPECT_EQ(a.to_bytes(), b.to_bytes());
  }
  // Binary codes with a row stride.
  const std::int64_t n = 19;
  const std::int64_t bytes = 5;
  const std::int64_t stride = 7;
  std::vector<std::uint8_t> codes(static_cast<std::size_t>(n * stride));
  Rng rng(8);
  for (auto& v : codes) v = static_cast<std::uint8_t>(rng.bits());
  BinaryIndex a({.bits = bytes * 8});
  BinaryIndex b({.bits = bytes * 8});
  a.add(MatrixView<const std::uint8_t>(codes.data(), n, bytes, stride));
  DeviceArray<std::uint8_t> dc(codes);
  b.add(MatrixView<const std::uint8_t>(dc.get(), n, bytes, stride, kDev));
  EXPECT_EQ(a.to_bytes(), b.to_bytes());
}

struct BinaryCase {
  std::int64_t bits, q, n, k, stride;  // stride in bytes
  std::int64_t query_cap;
};

class DeviceBinary : public ::testing::TestWithParam<BinaryCase> {};

TEST_P(DeviceBinary, MatchesHostQueriesBitForBit) {
  XMR_REQUIRE_GPU();
  const BinaryCase& c = GetParam();
  const std::int64_t bytes = c.bits / 8;
  const std::string ctx = "bits=" + std::to_string(c.bits) + " Q=" + std::to_string(c.q) + " N=" + std::to_string(c.n) +
                          " k=" + std::to_string(c.k) + " stride=" + std::to_string(c.stride) +
                          " cap=" + std::to_string(c.query_cap);
  SCOPED_TRACE(ctx);
  Rng rng(static_cast<std::uint64_t>(c.bits * 31 + c.q));
  BinaryIndex index({.bits = c.bits});
  std::vector<std::uint8_t> db(static_cast<std::size_t>(c.n * bytes));
  for (auto& v : db) v = static_cast<std::uint8_t>(rng.bits() & rng.bits());  // sparse bits: many ties
  index.add(MatrixView<const std::uint8_t>(db.data(), c.n, bytes));
  std::vector<std::uint8_t> qs(static_cast<std::size_t>(c.q * c.stride), 0xA5);
  for (std::int64_t i = 0; i < c.q; ++i) {
    for (std::int64_t j = 0; j < bytes; ++j) {
      qs[static_cast<std::size_t>(i * c.stride + j)] = static_cast<std::uint8_t>(rng.bits() & rng.bits());
    }
  }
  xmr::Resources res(0);
  if (c.query_cap > 0) res.set_tile_caps(c.query_cap, 0);
  const SearchOptions gpu{.device = Device::Gpu, .resources = &res};
  const MatrixView<const std::uint8_t> hq(qs.data(), c.q, bytes, c.stride);
  const xmr::BinarySearchResult want = index.search(hq, c.k, gpu);
  ASSERT_EQ(want.device, Device::Gpu);

  DeviceArray<std::uint8_t> dq(qs);
  const MatrixView<const std::uint8_t> dview(dq.get(), c.q, bytes, c.stride, kDev);
  const xmr::BinarySearchResult got = index.search(dview, c.k, {.device = std::nullopt, .resources = &res});
  EXPECT_EQ(got.device, Device::Gpu);
  EXPECT_EQ(got.ids, want.ids);
  EXPECT_EQ(got.distances, want.distances);

  const std::int64_t ld = c.k + 1;
  const auto out_n = static_cast<std::size_t>(c.q * ld);
  for (const bool device_queries : {true, false}) {
    DeviceArray<std::int64_t> d_ids(std::vector<std::int64_t>(out_n, -7));
    DeviceArray<std::int32_t> d_dist(std::vector<std::int32_t>(out_n, -9));
    const Device ran = index.search_into(
        device_queries ? dview : hq, c.k, MatrixView<std::int64_t>(d_ids.get(), c.q, c.k, ld, kDev),
        MatrixView<std::int32_t>(d_dist.get(), c.q, c.k, ld, kDev), {.device = std::nullopt, .resources = &res});
    EXPECT_EQ(ran, Device::Gpu);
    const std::vector<std::int64_t> ids = d_ids.download();
    const std::vector<std::int32_t> dist = d_dist.download();
    for (std::int64_t i = 0; i < c.q; ++i) {
      for (std::int64_t j = 0; j < ld; ++j) {
        const auto e = static_cast<std::size_t>(i * ld + j);
        const auto w = static_cast<std::size_t>(i * c.k + j);
        if (j < c.k) {
          ASSERT_EQ(ids[e], want.ids[w]) << "query " << i << " rank " << j
                                         << (device_queries ? " (device queries)" : "");
          ASSERT_EQ(dist[e], want.distances[w]) << "query " << i << " rank " << j;
        } else {
          ASSERT_EQ(ids[e], -7) << "padding between rows written";
          ASSERT_EQ(dist[e], -9) << "padding between rows written";
        }
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AwkwardSizes, DeviceBinary,
                         ::testing::Values(BinaryCase{8, 1, 5, 9, 1, 0},       // Q = 1, N < k, 1 byte
                                           BinaryCase{24, 7, 300, 10, 3, 0},   // 3 bytes, dense rows
                                           BinaryCase{40, 13, 1000, 4, 9, 4},  // 5 bytes, stride, batches
                                           BinaryCase{136, 5, 200, 33, 17, 0},
                                           BinaryCase{1000, 3, 150, 7, 130, 0},  // 125 bytes: generic kernel
                                           BinaryCase{64, 40, 2000, 100, 8, 16}));

#else  // no CUDA runtime in this build: the GPU tests report why they do not run

TEST(DeviceMemoryGpu, NeedsACudaBuild) {
  GTEST_SKIP()
      << "this build of xmr has no CUDA backend: the device-memory GPU tests are compiled only with XMR_CUDA=ON";
}

#endif

}  // namespace
