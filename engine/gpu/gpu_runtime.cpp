// Device discovery and per-Resources GPU contexts. With the CUDA runtime linked statically, a
// machine without a driver or GPU simply reports zero devices.
#include <atomic>
#include <cstdlib>
#include <string>
#include <vector>

#include "gpu/context.h"
#include "gpu/cuda_check.h"
#include "resources_impl.h"
#include "xmr/testing.h"

namespace xmr::engine::gpu {
namespace {

constexpr int kMinComputeMajor = 8;

struct Discovery {
  int count = 0;
  std::string why_none;
  std::vector<int> major;  // compute capability per device
  std::vector<int> minor;
};

const Discovery& discovery() {
  static const Discovery d = [] {
    Discovery r;
    const char* off = std::getenv("XMR_DISABLE_GPU");
    if (off != nullptr && off[0] != '\0' && off[0] != '0') {
      r.why_none = "GPU disabled by XMR_DISABLE_GPU";
      return r;
    }
    int n = 0;
    const cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
      (void)cudaGetLastError();
      r.why_none = detail::concat("cudaGetDeviceCount: ", cudaGetErrorString(e));
      return r;
    }
    r.count = n;
    if (n == 0) r.why_none = "no CUDA device present";
    for (int i = 0; i < n; ++i) {
      int ma = 0;
      int mi = 0;
      if (cudaDeviceGetAttribute(&ma, cudaDevAttrComputeCapabilityMajor, i) != cudaSuccess ||
          cudaDeviceGetAttribute(&mi, cudaDevAttrComputeCapabilityMinor, i) != cudaSuccess) {
        (void)cudaGetLastError();
      }
      r.major.push_back(ma);
      r.minor.push_back(mi);
    }
    return r;
  }();
  return d;
}

std::atomic<int> g_injected_alloc_failures{0};
/// Checked calls to let pass before the armed failures (fail_next_device_calls' `after`).
std::atomic<int> g_calls_to_pass{0};

/// Decrements `counter` if positive; true when it did.
bool take_one(std::atomic<int>& counter) noexcept {
  int pending = counter.load();
  while (pending > 0 && !counter.compare_exchange_weak(pending, pending - 1)) {
  }
  return pending > 0;
}

}  // namespace

std::atomic<int> g_injected_call_failures{0};

bool take_injected_call_failure() noexcept {
  if (take_one(g_calls_to_pass)) return false;
  return take_one(g_injected_call_failures);
}

void* device_malloc(std::size_t bytes, const char* what) {
  if (take_one(g_injected_alloc_failures)) {
    detail::fail(ErrorCode::OutOfMemory, what, ": out of device memory allocating ", bytes,
                 " bytes (injected by xmr::testing::fail_next_device_allocations)");
  }
  void* p = nullptr;
  const cudaError_t e = cudaMalloc(&p, bytes);
  try {
    check_cuda(e, what);
  } catch (const Error& err) {
    // An injected failure (fail_next_device_calls) reports a call that succeeded: free what it
    // allocated. The message is built only here, so a success allocates nothing on the host.
    if (e == cudaSuccess) (void)cudaFree(p);
    detail::fail(err.code(), err.what(), " (cudaMalloc of ", bytes, " bytes)");
  }
  return p;
}

int device_count() noexcept {
  try {
    return discovery().count;
  } catch (...) {
    return 0;
  }
}

bool device_usable(int ordinal, std::string* why) {
  const Discovery& d = discovery();
  if (ordinal < 0 || ordinal >= d.count) {
    if (why != nullptr) {
      *why = d.count == 0 ? "no GPU (" + d.why_none + ")"
                          : detail::concat("device ", ordinal, " does not exist (", d.count, " GPU(s))");
    }
    return false;
  }
  const auto i = static_cast<std::size_t>(ordinal);
  if (d.major[i] < kMinComputeMajor) {
    if (why != nullptr) {
      *why = detail::concat("GPU ", ordinal, " is sm_", d.major[i], d.minor[i], "; xmr's kernels need sm_",
                            kMinComputeMajor, "0 or newer");
    }
    return false;
  }
  return true;
}

std::string describe() {
  const Discovery& d = discovery();
  if (d.count == 0) return "no GPU (" + d.why_none + ")";
  std::string s;
  for (int i = 0; i < d.count; ++i) {
    cudaDeviceProp p{};
    if (cudaGetDeviceProperties(&p, i) != cudaSuccess) {
      (void)cudaGetLastError();
      continue;
    }
    s += detail::concat(i == 0 ? "" : "; ", "GPU ", i, ": ", p.name, " (sm_", p.major, p.minor, ", ",
                        p.totalGlobalMem >> 20, " MiB)");
  }
  return s;
}

void* Context::scratch(std::size_t bytes) {
  if (bytes <= workspace_size) return workspace;
  if (workspace != nullptr) {
    check_cuda(cudaStreamSynchronize(stream), "cudaStreamSynchronize");
    // Forget the old block before checking the free: whatever the status, it must never be used
    // again (an injected failure reports a free that happened).
    void* old = workspace;
    workspace = nullptr;
    workspace_size = 0;
    check_cuda(cudaFree(old), "cudaFree(workspace)");
  }
  workspace = device_malloc(bytes, "GPU workspace");
  workspace_size = bytes;
  return workspace;
}

void ContextDeleter::operator()(Context* c) const noexcept {
  if (c == nullptr) return;
  // Teardown errors (e.g. at process exit, after the runtime unloaded) are ignored on purpose.
  if (cudaSetDevice(c->device) == cudaSuccess) {
    if (c->stream != nullptr) (void)cudaStreamSynchronize(c->stream);
    if (c->workspace != nullptr) (void)cudaFree(c->workspace);
    if (c->cublas != nullptr) (void)cublasDestroy(c->cublas);
    if (c->owns_stream && c->stream != nullptr) (void)cudaStreamDestroy(c->stream);
  }
  (void)cudaGetLastError();
  delete c;
}

Context& context_of(Resources& res) {
  Resources::Impl& r = res.impl();
  check_cuda(cudaSetDevice(r.device_id), detail::concat("cudaSetDevice(", r.device_id, ")").c_str());
  if (r.gpu) return *r.gpu;
  std::unique_ptr<Context, ContextDeleter> c(new Context);
  c->device = r.device_id;
  if (r.borrowed_stream != nullptr) {
    c->stream = r.borrowed_stream;
  } else {
    cudaStream_t s = nullptr;
    const cudaError_t e = cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking);
    if (e == cudaSuccess) {  // owned from here on, so that the deleter destroys it on any error
      c->stream = s;
      c->owns_stream = true;
    }
    check_cuda(e, "cudaStreamCreate");
  }
  check_cublas(cublasCreate(&c->cublas), "cublasCreate");
  check_cublas(cublasSetStream(c->cublas, c->stream), "cublasSetStream");
  r.gpu = std::move(c);
  return *r.gpu;
}

}  // namespace xmr::engine::gpu

namespace xmr::testing {
void fail_next_device_allocations(int count) noexcept {
  engine::gpu::g_injected_alloc_failures.store(count > 0 ? count : 0);
}
void fail_next_device_calls(int count, int after) noexcept {
  // Cancel first, so that no call sees the new `after` with the old count.
  engine::gpu::g_injected_call_failures.store(0);
  engine::gpu::g_calls_to_pass.store(count > 0 && after > 0 ? after : 0);
  engine::gpu::g_injected_call_failures.store(count > 0 ? count : 0);
}
}  // namespace xmr::testing
