// Hamming top-k database passes for codes of 136 to 256 bits (two 16-byte vectors per row).
#include "hamming_kernels.cuh"

namespace xmr::kernels::hamming {
template int run_pass<32>(Pass, const PassArgs&, CUstream_st*);
}  // namespace xmr::kernels::hamming
