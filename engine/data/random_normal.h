#pragma once
// The generator behind xmr::synth::random_normal, for engine code (the binarisers): the same
// values, but a failed allocation stays a std::bad_alloc, which the public call that uses it
// translates into an OutOfMemory naming itself.

#include <cstdint>
#include <vector>

namespace xmr::engine {

/// `rows x cols` standard normal floats, deterministic in `seed` (rows, cols >= 0).
std::vector<float> random_normal(std::int64_t rows, std::int64_t cols, std::uint64_t seed);

}  // namespace xmr::engine
