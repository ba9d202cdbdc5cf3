// Hamming top-k database passes for codes of 392 to 512 bits (four 16-byte vectors per row).
#include "hamming_kernels.cuh"

namespace xmr::kernels::hamming {
template int run_pass<64>(Pass, const PassArgs&, CUstream_st*);
}  // namespace xmr::kernels::hamming
