// Hamming top-k database passes for codes of at most 32 bits (stride 4: one 16-byte load covers 4 rows).
#include "hamming_kernels.cuh"

namespace xmr::kernels::hamming {
template int run_pass<4>(Pass, const PassArgs&, CUstream_st*);
}  // namespace xmr::kernels::hamming
