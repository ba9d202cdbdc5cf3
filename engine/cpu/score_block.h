#pragma once
// One block of inner products on the CPU, shared by the dense and multi-vector backends.

#include <cblas.h>

#include <cstdint>

namespace xmr::engine::cpu {

/// Fewer query rows than this use sgemv per row, which streams the block once instead of packing
/// it for a GEMM.
inline constexpr std::int64_t kGemvMaxRows = 4;

/// Row-major out[rows x n] = queries[rows x dim] . block[n x dim]^T (both dense, ld = dim).
/// Inside an OpenMP parallel region the OpenMP build of OpenBLAS runs single-threaded.
inline void score_block(const float* queries, std::int64_t rows, const float* block, std::int64_t n, std::int64_t dim,
                        float* out) {
  if (rows < kGemvMaxRows) {
    for (std::int64_t q = 0; q < rows; ++q) {
      cblas_sgemv(CblasRowMajor, CblasNoTrans, static_cast<blasint>(n), static_cast<blasint>(dim), 1.0f, block,
                  static_cast<blasint>(dim), queries + q * dim, 1, 0.0f, out + q * n, 1);
    }
  } else {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<blasint>(rows), static_cast<blasint>(n),
                static_cast<blasint>(dim), 1.0f, queries, static_cast<blasint>(dim), block, static_cast<blasint>(dim),
                0.0f, out, static_cast<blasint>(n));
  }
}

}  // namespace xmr::engine::cpu
