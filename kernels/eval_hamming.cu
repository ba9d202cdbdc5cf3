// mAP of Hamming rankings on the GPU (eval_launch.h: eval_hamming_ap, eval_hamming_histograms):
// the per-query AP of the ranking by ascending distance, ties by ascending item index, without
// materialising the ranking. (Dense scores: eval_dense.cu.)
//
// Mapping: one block per query, W = eval_hamming_warps(bits) warps (8 up to 728-bit codes, 5 at
// 1024 bits, 1 at 4096 bits); warp w owns the contiguous item slice [w * S, min(N, (w + 1) * S)),
// S = ceil(ceil(N / W) / 32) * 32 (slices of the last warps may be partial or empty), and walks it
// in index order, 32 items per step (lane l: item base + l; lanes past the slice's end take part
// in the warp collectives as invalid lanes and count nothing). Each lane computes its item's
// distance (XOR + 64-bit popcount against the query code in shared memory) and relevance (AND of
// the label words).
//   Pass 1: each warp counts its slice into its own shared histogram of packed counters
//     (items at distance d) | (relevant items at distance d) << 32. Lanes of a step with equal
//     distances are grouped with __match_any_sync (invalid lanes form a group of their own); the
//     lowest lane of a group adds the group's counts (a plain read-modify-write: the histogram is
//     the warp's own, groups of one step have distinct distances, and __syncwarp orders the
//     steps).
//   Scan: an exclusive prefix sum of the W x (bits + 1) counters in ranking order (distance major,
//     warp minor) turns counter (w, d) into the number of items, and of relevant items, ranked
//     before the first item of warp w's slice at distance d (smaller distance, or the same
//     distance and a smaller index: earlier warps' slices hold smaller indices).
//   Pass 2: the warps walk their slices again. An item at distance d is ranked after the items its
//     warp's counter (w, d) holds and after the lanes of its step with distance d and a lower lane
//     (= smaller index): p = counter + popc(group & lanes below) + 1, c likewise over relevant
//     lanes; then the group's lowest lane advances the counter. Each relevant item with
//     p <= window and c <= cap (eval_limits) adds c / p to its lane's double sum.
//   Reduction: warp shuffles, then the warps' partials summed in warp order by thread 0, so a
//   query's AP is the same on every run (it differs from the CPU's only by the order of the sum).
// Histogram mode (TiePolicy::Average) stops after pass 1 and writes the per-distance sums.
// Barriers: only __syncthreads outside the slice loops (every thread reaches each); inside them,
// __syncwarp with warp-uniform trip counts.
// Ties and NaN: the ranking is exactly the CPU's counting sort (ascending distance, ties by
// ascending index): distances are integers and every count above is exact; no floats, no NaN.
// Shared memory: W x (bits + 1) x 8 bytes of histograms (dynamic, <= kEvalHistBytes: 4.2 KiB at
// 64 bits, 32 KiB at 4096 bits) plus 688 bytes static, within the 48 KiB available without
// opt-in.
// Ranges: codes of 1 .. kEvalMaxCodeWords words (bits <= 4096), N <= kEvalMaxItems (32-bit packed
// counters: both halves stay <= N, so the 64-bit sums never carry between them; item offsets are
// 64-bit), labels of any width, up to 2^31 - 1 queries per launch.
#include <cuda_runtime.h>

#include "eval_launch.h"

namespace xmr::kernels {
namespace {

constexpr unsigned kFullMask = 0xFFFFFFFFu;
constexpr int kWarp = 32;
constexpr int kHammingMaxThreads = kEvalMaxWarps * kWarp;
constexpr std::int64_t kMaxGridX = 0x7FFFFFFF;
constexpr int kModeAp = 0;
constexpr int kModeHistograms = 1;
constexpr unsigned long long kLowHalf = 0xFFFFFFFFull;

static_assert(eval_hamming_warps(4096) >= 1 && 4097 * 8 <= kEvalHistBytes, "4096-bit codes need one warp's counters");
static_assert(kEvalHistBytes + 1024 <= 48 * 1024, "shared memory without opt-in");

__device__ __forceinline__ std::int64_t min64(std::int64_t a, std::int64_t b) {
  return a < b ? a : b;
}

/// (items, relevant items) as one 64-bit counter.
__device__ __forceinline__ unsigned long long packed(int items, int relevant) {
  return static_cast<unsigned long long>(static_cast<unsigned>(items)) |
         (static_cast<unsigned long long>(static_cast<unsigned>(relevant)) << 32);
}

__device__ __forceinline__ bool shares_label(const std::uint64_t* __restrict__ a, const std::uint64_t* __restrict__ b,
                                             std::int64_t words) {
  for (std::int64_t w = 0; w < words; ++w)
    if ((__ldg(a + w) & __ldg(b + w)) != 0) return true;
  return false;
}

/// One warp step of the Hamming kernel: lane l takes item i (valid when i < end).
struct Step {
  int d;              // distance (valid lanes)
  bool valid;         // i < end
  bool rel;           // valid and relevant
  unsigned same;      // lanes of the step with this lane's distance (valid lanes only)
  unsigned rel_mask;  // relevant lanes of the step
};

/// Called by all 32 lanes of a warp (the loops around it are warp-uniform).
__device__ __forceinline__ Step hamming_step(const EvalHammingProblem& p, const std::uint64_t* s_q,
                                             const std::uint64_t* __restrict__ ql, std::int64_t i, std::int64_t end) {
  Step s;
  s.valid = i < end;
  s.d = 0;
  s.rel = false;
  if (s.valid) {
    const std::uint64_t* x = p.db_codes + i * p.code_words;
    for (int w = 0; w < p.code_words; ++w) s.d += __popcll(__ldg(x + w) ^ s_q[w]);
    s.rel = shares_label(ql, p.db_labels + i * p.label_words, p.label_words);
  }
  // Invalid lanes share a key no distance has (distances are <= 4096).
  s.same = __match_any_sync(kFullMask, s.valid ? static_cast<unsigned>(s.d) : kFullMask);
  s.rel_mask = __ballot_sync(kFullMask, s.rel);
  return s;
}

__global__ __launch_bounds__(kHammingMaxThreads) void hamming_kernel(const EvalHammingProblem p, int mode, int variant,
                                                                     long long k, double* __restrict__ out_ap,
                                                                     std::int64_t* __restrict__ out_total,
                                                                     std::int64_t* __restrict__ out_relevant) {
  extern __shared__ unsigned long long s_hist[];  // [warps][bins], packed counters
  __shared__ std::uint64_t s_q[kEvalMaxCodeWords];
  __shared__ unsigned long long s_carry[kEvalMaxWarps];
  __shared__ unsigned long long s_total;
  __shared__ double s_sum[kEvalMaxWarps];
  __shared__ unsigned s_count[kEvalMaxWarps];

  const int t = static_cast<int>(threadIdx.x);
  const int threads = static_cast<int>(blockDim.x);
  const int warps = threads / kWarp;
  const int warp = t / kWarp;
  const int lane = t % kWarp;
  const int bins = p.bits + 1;
  const std::int64_t q = blockIdx.x;
  const std::int64_t n = p.num_items;

  for (int w = t; w < p.code_words; w += threads) s_q[w] = p.query_codes[q * p.code_words + w];
  for (int i = t; i < warps * bins; i += threads) s_hist[i] = 0;
  __syncthreads();

  const std::uint64_t* ql = p.query_labels + q * p.label_words;
  const std::int64_t slice = ((n + warps - 1) / warps + kWarp - 1) / kWarp * kWarp;
  const std::int64_t begin = min64(n, warp * slice);
  const std::int64_t end = min64(n, begin + slice);
  unsigned long long* hist = s_hist + warp * bins;

  // Pass 1: the warp's histogram of its slice.
  for (std::int64_t base = begin; base < end; base += kWarp) {
    const Step s = hamming_step(p, s_q, ql, base + lane, end);
    if (s.valid && lane == __ffs(s.same) - 1) hist[s.d] += packed(__popc(s.same), __popc(s.same & s.rel_mask));
    __syncwarp();
  }
  __syncthreads();

  if (mode == kModeHistograms) {  // uniform: the whole block returns
    for (int d = t; d < bins; d += threads) {
      unsigned long long sum = 0;
      for (int w = 0; w < warps; ++w) sum += s_hist[w * bins + d];
      out_total[q * bins + d] = static_cast<std::int64_t>(sum & kLowHalf);
      out_relevant[q * bins + d] = static_cast<std::int64_t>(sum >> 32);
    }
    return;
  }

  // Scan: element e of the ranking order is counter (warp e % warps, distance e / warps). Thread
  // t takes the elements [e0, e1), consecutive in that order.
  const int len = warps * bins;
  const int per_thread = (len + threads - 1) / threads;
  const int e0 = min(len, t * per_thread);
  const int e1 = min(len, e0 + per_thread);
  unsigned long long own = 0;
  for (int e = e0; e < e1; ++e) own += s_hist[(e % warps) * bins + e / warps];
  unsigned long long incl = own;
  for (int o = 1; o < kWarp; o *= 2) {
    const unsigned long long v = __shfl_up_sync(kFullMask, incl, o);
    if (lane >= o) incl += v;
  }
  if (lane == kWarp - 1) s_carry[warp] = incl;
  __syncthreads();
  unsigned long long run = incl - own;  // exclusive prefix of this thread's elements
  for (int w = 0; w < warp; ++w) run += s_carry[w];
  if (t == threads - 1) s_total = run + own;
  for (int e = e0; e < e1; ++e) {
    unsigned long long& slot = s_hist[(e % warps) * bins + e / warps];
    const unsigned long long v = slot;
    slot = run;
    run += v;
  }
  __syncthreads();

  // Pass 2: positions of the relevant items.
  const EvalLimits lim = eval_limits(variant, k, n, static_cast<long long>(s_total >> 32));
  const unsigned below = (1u << lane) - 1u;
  double sum = 0.0;
  unsigned count = 0;
  for (std::int64_t base = begin; base < end; base += kWarp) {
    const Step s = hamming_step(p, s_q, ql, base + lane, end);
    const unsigned long long at = s.valid ? hist[s.d] : 0ull;
    __syncwarp();  // every lane has read its counter before a group leader advances it
    if (s.rel) {
      const long long pos = static_cast<long long>(at & kLowHalf) + __popc(s.same & below) + 1;
      const long long c = static_cast<long long>(at >> 32) + __popc(s.same & s.rel_mask & below) + 1;
      if (pos <= lim.window && c <= lim.cap) {
        sum += static_cast<double>(c) / static_cast<double>(pos);
        ++count;
      }
    }
    if (s.valid && lane == __ffs(s.same) - 1) hist[s.d] = at + packed(__popc(s.same), __popc(s.same & s.rel_mask));
    __syncwarp();
  }

  for (int o = kWarp / 2; o > 0; o /= 2) {
    sum += __shfl_down_sync(kFullMask, sum, o);
    count += __shfl_down_sync(kFullMask, count, o);
  }
  if (lane == 0) {
    s_sum[warp] = sum;
    s_count[warp] = count;
  }
  __syncthreads();
  if (t == 0) {
    double total_sum = 0.0;
    unsigned long long total_count = 0;
    for (int w = 0; w < warps; ++w) {
      total_sum += s_sum[w];
      total_count += s_count[w];
    }
    out_ap[q] = total_count == 0 ? 0.0 : total_sum / static_cast<double>(total_count);
  }
}

int launch_hamming(const EvalHammingProblem& p, int mode, int variant, std::int64_t k, double* out_ap,
                   std::int64_t* out_total, std::int64_t* out_relevant, cudaStream_t stream) {
  const auto invalid = static_cast<int>(cudaErrorInvalidValue);
  if (p.db_codes == nullptr || p.db_labels == nullptr || p.query_codes == nullptr || p.query_labels == nullptr) {
    return invalid;
  }
  if (p.num_items < 1 || p.num_items > kEvalMaxItems || p.num_queries < 1 || p.num_queries > kMaxGridX) return invalid;
  if (p.label_words < 1 || p.code_words < 1 || p.code_words > kEvalMaxCodeWords) return invalid;
  if (p.bits < 1 || p.bits > 64 * p.code_words) return invalid;
  const int warps = eval_hamming_warps(p.bits);
  const std::int64_t hist_bytes = std::int64_t{warps} * (p.bits + 1) * 8;
  if (hist_bytes > kEvalHistBytes) return invalid;
  hamming_kernel<<<static_cast<unsigned>(p.num_queries), warps * kWarp, static_cast<std::size_t>(hist_bytes), stream>>>(
      p, mode, variant, k, out_ap, out_total, out_relevant);
  return static_cast<int>(cudaGetLastError());
}

}  // namespace

int eval_hamming_ap(const EvalHammingProblem& p, int variant, std::int64_t k, double* out_ap, CUstream_st* stream) {
  if (out_ap == nullptr || !eval_valid_variant(variant, k)) return static_cast<int>(cudaErrorInvalidValue);
  return launch_hamming(p, kModeAp, variant, k, out_ap, nullptr, nullptr, stream);
}

int eval_hamming_histograms(const EvalHammingProblem& p, std::int64_t* out_total, std::int64_t* out_relevant,
                            CUstream_st* stream) {
  if (out_total == nullptr || out_relevant == nullptr) return static_cast<int>(cudaErrorInvalidValue);
  return launch_hamming(p, kModeHistograms, kEvalAll, 0, nullptr, out_total, out_relevant, stream);
}

}  // namespace xmr::kernels
