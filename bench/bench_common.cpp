#include "bench_common.h"

#include <omp.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <fstream>
#include <new>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "xmr/xmr.h"

#ifdef XMR_BENCH_HAVE_FAISS
#include <faiss/Index.h>
#endif

#ifdef XMR_BENCH_HAVE_NPY
#include "npy.h"
#endif

namespace xmr::bench {

namespace {

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      const auto colon = line.find(':');
      if (colon != std::string::npos) {
        std::string m = line.substr(colon + 1);
        m.erase(0, m.find_first_not_of(" \t"));
        return m;
      }
    }
  }
  return "unknown";
}

}  // namespace

long involuntary_context_switches() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_nivcsw;
}

bool quick_mode() {
  const char* quick_env = std::getenv("XMR_BENCH_QUICK");
  return quick_env != nullptr && std::string_view(quick_env) != "0" && *quick_env != '\0';
}

bool has_arg(int argc, char** argv, std::string_view prefix) {
  for (int i = 1; i < argc; ++i) {
    if (std::string_view(argv[i]).rfind(prefix, 0) == 0) return true;
  }
  return false;
}

std::vector<std::int64_t> sizes_from_env(std::vector<std::int64_t> defaults) {
  const char* env = std::getenv("XMR_BENCH_SIZES");
  if (env == nullptr || *env == '\0') return defaults;
  std::vector<std::int64_t> sizes;
  const std::string_view all(env);
  std::size_t begin = 0;
  while (begin <= all.size()) {
    const std::size_t comma = std::min(all.find(',', begin), all.size());
    const std::string item(all.substr(begin, comma - begin));
    char* end = nullptr;
    errno = 0;
    const long long v = item.empty() ? 0 : std::strtoll(item.c_str(), &end, 10);
    if (item.empty() || end != item.c_str() + item.size() || errno == ERANGE || v <= 0) {
      std::fprintf(stderr,
                   "XMR_BENCH_SIZES (= '%s') must be a comma-separated list of positive integers "
                   "(database sizes N); '%s' is not one\n",
                   env, item.c_str());
      std::exit(2);
    }
    sizes.push_back(static_cast<std::int64_t>(v));
    begin = comma + 1;
  }
  return sizes;
}

std::string data_dir() {
  const char* dir = std::getenv("XMR_BENCH_DATA_DIR");
  return dir == nullptr ? std::string{} : std::string{dir};
}

namespace {

bool export_npy(const std::string& name, [[maybe_unused]] bool is_float, [[maybe_unused]] const void* data,
                std::int64_t rows, std::int64_t cols) {
  const std::string dir = data_dir();
  if (dir.empty()) return false;
  const std::string path = dir + "/" + name + ".npy";
#ifdef XMR_BENCH_HAVE_NPY
  const std::int64_t shape[] = {rows, cols};
  try {
    xmr::cli::save_npy(path, is_float ? xmr::cli::NpyType::F32 : xmr::cli::NpyType::U8, shape, data);
  } catch (const std::exception& e) {
    throw std::runtime_error(std::string("XMR_BENCH_DATA_DIR: ") + e.what());
  }
  return true;
#else
  throw std::runtime_error("XMR_BENCH_DATA_DIR (= '" + dir + "') asks for " + path + " [" + std::to_string(rows) +
                           " x " + std::to_string(cols) +
                           "], but this build has no .npy writer (the CLI's; configure with XMR_BUILD_CLI=ON)");
#endif
}

}  // namespace

bool export_matrix(const std::string& name, const float* data, std::int64_t rows, std::int64_t cols) {
  return export_npy(name, true, data, rows, cols);
}

bool export_matrix(const std::string& name, const std::uint8_t* data, std::int64_t rows, std::int64_t cols) {
  return export_npy(name, false, data, rows, cols);
}

HugeWords huge_words(std::int64_t words) {
  constexpr std::size_t kHuge = std::size_t{2} << 20;
  const std::size_t bytes = (sz(words) * 8 + kHuge - 1) / kHuge * kHuge;
  void* p = std::aligned_alloc(kHuge, bytes);
  if (p == nullptr) throw std::bad_alloc();
  (void)madvise(p, bytes, MADV_HUGEPAGE);
  return HugeWords(static_cast<std::uint64_t*>(p), &std::free);
}

std::string fixed(double v, int digits) {
  std::ostringstream o;
  o.setf(std::ios::fixed);
  o.precision(digits);
  o << v;
  return o.str();
}

void add_common_context(const std::vector<std::int64_t>& sizes) {
  benchmark::AddCustomContext("cpu_model", cpu_model());
  benchmark::AddCustomContext("hardware_threads", std::to_string(std::thread::hardware_concurrency()));
  benchmark::AddCustomContext("omp_max_threads", std::to_string(omp_get_max_threads()));
  const long llc = sysconf(_SC_LEVEL3_CACHE_SIZE);
  benchmark::AddCustomContext("llc_bytes", std::to_string(llc));
  benchmark::AddCustomContext("xmr_version", xmr::version());
  benchmark::AddCustomContext("xmr_devices", xmr::device_summary());
  benchmark::AddCustomContext("xmr_built_with_cuda", xmr::built_with_cuda() ? "yes" : "no");
#ifdef XMR_BENCH_HAVE_FAISS
  benchmark::AddCustomContext("faiss_version", std::to_string(FAISS_VERSION_MAJOR) + "." +
                                                   std::to_string(FAISS_VERSION_MINOR) + "." +
                                                   std::to_string(FAISS_VERSION_PATCH));
#else
  benchmark::AddCustomContext("faiss_version", "not built");
#endif
  std::string size_list;
  for (const std::int64_t n : sizes) {
    if (!size_list.empty()) size_list.push_back(',');
    size_list.append(std::to_string(n));
  }
  benchmark::AddCustomContext("sizes_n", size_list);
  if (const std::string dir = data_dir(); !dir.empty()) benchmark::AddCustomContext("data_export_dir", dir);
}

void use_search_time(benchmark::internal::Benchmark* b, bool gpu) {
#ifdef XMR_BENCH_HAVE_CUDA
  if (gpu) {
    b->UseManualTime();  // CUDA events on the engine's stream
    return;
  }
#else
  static_cast<void>(gpu);
#endif
  b->UseRealTime();
}

void add_run_counters(benchmark::State& state, double build_s, long csw) {
  using benchmark::Counter;
  state.counters["build_s"] = build_s;
  state.counters["omp_threads"] = omp_get_max_threads();
  // Preemptions of this process per search: near 0 on an otherwise idle machine; large values
  // mean other processes competed for the cores and the timing is pessimistic.
  state.counters["invol_csw"] = Counter(static_cast<double>(csw), Counter::kAvgIterations);
}

#ifdef XMR_BENCH_HAVE_CUDA

std::string cuda_error(const char* what, cudaError_t e) {
  return std::string(what) + ": " + cudaGetErrorString(e);
}

void cuda_expect(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw std::runtime_error(cuda_error(what, e));
}

double best_event_seconds(cudaStream_t stream, cudaEvent_t start, cudaEvent_t stop, int repeats,
                          const std::function<void()>& fn) {
  fn();  // warm-up
  float best = 1e30f;
  for (int r = 0; r < repeats; ++r) {
    cudaEventRecord(start, stream);
    fn();
    cudaEventRecord(stop, stream);
    cudaEventSynchronize(stop);
    float ms = 0.0f;
    cudaEventElapsedTime(&ms, start, stop);
    best = std::min(best, ms);
  }
  return static_cast<double>(best) * 1e-3;
}

CudaEventTimer::~CudaEventTimer() {
  if (start_ != nullptr) cudaEventDestroy(start_);
  if (stop_ != nullptr) cudaEventDestroy(stop_);
  if (stream_ != nullptr) cudaStreamDestroy(stream_);
}

void CudaEventTimer::create() {
  cuda_expect(cudaSetDevice(0), "cudaSetDevice");
  cuda_expect(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreate");
  cuda_expect(cudaEventCreate(&start_), "cudaEventCreate");
  cuda_expect(cudaEventCreate(&stop_), "cudaEventCreate");
}

void CudaEventTimer::start() {
  cuda_expect(cudaEventRecord(start_, stream_), "cudaEventRecord");
}

double CudaEventTimer::stop() {
  cuda_expect(cudaEventRecord(stop_, stream_), "cudaEventRecord");
  cuda_expect(cudaEventSynchronize(stop_), "cudaEventSynchronize");
  float ms = 0.0f;
  cuda_expect(cudaEventElapsedTime(&ms, start_, stop_), "cudaEventElapsedTime");
  return static_cast<double>(ms) * 1e-3;
}

#endif  // XMR_BENCH_HAVE_CUDA

std::string XmrBenchDevice::unavailable() const {
  if (on_gpu() && xmr::gpu_count() == 0) return "no GPU: " + xmr::device_summary();
  return {};
}

void XmrBenchDevice::prepare() {
  if (!on_gpu()) return;
  CUstream_st* stream = nullptr;
#ifdef XMR_BENCH_HAVE_CUDA
  timer_.create();
  stream = timer_.stream();
#endif
  resources_ = std::make_unique<xmr::Resources>(0, stream);
}

}  // namespace xmr::bench
