// Hamming top-k database passes for codes of 72 to 128 bits (one 16-byte vector per row).
#include "hamming_kernels.cuh"

namespace xmr::kernels::hamming {
template int run_pass<16>(Pass, const PassArgs&, CUstream_st*);
}  // namespace xmr::kernels::hamming
