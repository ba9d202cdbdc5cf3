// Hamming top-k database passes for every other length (a multiple of 16 bytes per row, vector count at run time).
#include "hamming_kernels.cuh"

namespace xmr::kernels::hamming {
template int run_pass<0>(Pass, const PassArgs&, CUstream_st*);
}  // namespace xmr::kernels::hamming
