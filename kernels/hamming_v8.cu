// Hamming top-k database passes for codes of 904 to 1024 bits (eight 16-byte vectors per row).
#include "hamming_kernels.cuh"

namespace xmr::kernels::hamming {
template int run_pass<128>(Pass, const PassArgs&, CUstream_st*);
}  // namespace xmr::kernels::hamming
