#pragma once
// Launcher of the device-side query preparation (prepare_queries.cu): a plain C++ declaration (no
// CUDA headers), included by engine/gpu. It enqueues on `stream` (last parameter), needs no
// workspace, never allocates, never synchronises, and returns the cudaError_t of the launch as
// an int (0 = success; cudaErrorInvalidValue for arguments outside the documented ranges).
//
// The arithmetic is engine/dense/prepare.cpp's (prepare_rows), operation for operation, so that
// queries prepared here equal the host's bit for bit: each value widened exactly to double; the
// squared norm summed in double in ascending column order, each product and sum rounded
// separately (no fused multiply-add); scale = 1 / sqrt(norm^2) in double under cosine (correctly
// rounded), else 1; out = (float)(x * scale), rounded to binary16 (nearest even) for F16 storage.

#include <cstdint>

struct CUstream_st;

namespace xmr::kernels {

/// Threads per block of the preparation kernel (one block per row).
inline constexpr int kPrepareThreads = 256;

/// Element types of the caller's rows and of the prepared rows.
inline constexpr int kPrepareF32 = 0;  ///< float
inline constexpr int kPrepareF16 = 1;  ///< binary16 bits

/// No bad row (the value status words start with, and keep when every row is valid).
inline constexpr std::uint64_t kPrepareNoRow = ~std::uint64_t{0};

/// Validates and prepares `rows` query rows held in device memory.
///   in        device, row r at in + r * in_stride elements of type `in_type`, `cols` values.
///   out       device, dense [rows x cols] of type `out_type`, or null to validate only.
///   status    device, two words, or null to skip the checks (rows known valid). Lowered
///             (atomicMin) to row_base + r for a bad row r: status[0] for a non-finite value or,
///             under `cosine`, a zero norm; status[1] (F16 output only) for a row whose prepared
///             value rounds beyond the binary16 range. The caller sets both to kPrepareNoRow
///             first. The out row of a bad row is left unwritten (its contents undefined).
/// Requires rows >= 0, cols >= 1, in_stride >= cols.
int prepare_queries(const void* in, int in_type, std::int64_t rows, std::int64_t cols, std::int64_t in_stride,
                    bool cosine, int out_type, void* out, std::int64_t row_base, std::uint64_t* status,
                    CUstream_st* stream);

}  // namespace xmr::kernels
