#include "cpu/rescore.h"

#include <omp.h>

#include <array>
#include <limits>
#include <vector>

#include "common/half.h"
#include "rescore_launch.h"

namespace xmr::engine::cpu {

namespace {

/// <q, x> over `d` elements in the summation order of kernels/rescore_launch.h (the GPU kernel's):
/// element i into partial sum i % kLanes, in ascending i; the partial sums folded by halving.
/// Products of floats are exact in double, so the compiler's use of FMA changes nothing, and
/// the kLanes independent sums vectorise.
double dot_in_lanes(const float* q, const float* x, std::size_t d) {
  constexpr std::size_t kLanes = kernels::kRescoreLanes;
  std::array<double, kLanes> p{};
  std::size_t i = 0;
  for (; i + kLanes <= d; i += kLanes) {
    for (std::size_t l = 0; l < kLanes; ++l) p[l] += static_cast<double>(q[i + l]) * static_cast<double>(x[i + l]);
  }
  for (std::size_t l = 0; i + l < d; ++l) p[l] += static_cast<double>(q[i + l]) * static_cast<double>(x[i + l]);
  for (std::size_t h = kLanes / 2; h > 0; h /= 2) {
    for (std::size_t l = 0; l < h; ++l) p[l] += p[l + h];
  }
  return p[0];
}

}  // namespace

void rescore(const DenseSnapshot& snap, const float* queries, std::int64_t num_queries, const std::int64_t* positions,
             std::int64_t num_candidates, float* out, std::int64_t out_ld) {
  const std::int64_t dim = snap.dim;
  const auto d = static_cast<std::size_t>(dim);
  const bool f16 = snap.type == DType::F16;
  const std::int64_t pairs = num_queries * num_candidates;
  // Parallel over queries when there is enough work to share (each pair costs dim products).
  const bool parallel = pairs * dim >= (std::int64_t{1} << 16) && num_queries > 1;
#pragma omp parallel if (parallel)
  {
    std::vector<float> row(f16 ? d : 0);
#pragma omp for schedule(static)
    for (std::int64_t q = 0; q < num_queries; ++q) {
      const float* qv = queries + q * dim;
      for (std::int64_t j = 0; j < num_candidates; ++j) {
        const std::int64_t pos = positions[q * num_candidates + j];
        float& dst = out[q * out_ld + j];
        if (pos < 0) {
          dst = -std::numeric_limits<float>::infinity();
          continue;
        }
        const float* x = nullptr;
        if (f16) {
          detail::half_to_float_n(snap.f16_rows() + static_cast<std::size_t>(pos) * d, row.data(), d);
          x = row.data();
        } else {
          x = snap.f32_rows() + static_cast<std::size_t>(pos) * d;
        }
        dst = static_cast<float>(dot_in_lanes(qv, x, d));
      }
    }
  }
}

}  // namespace xmr::engine::cpu
