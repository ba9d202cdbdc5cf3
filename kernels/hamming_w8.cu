// Hamming top-k database passes for codes of 40 to 64 bits (stride 8: one 16-byte load covers 2 rows).
#include "hamming_kernels.cuh"

namespace xmr::kernels::hamming {
template int run_pass<8>(Pass, const PassArgs&, CUstream_st*);
}  // namespace xmr::kernels::hamming
