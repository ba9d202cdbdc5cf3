// bench_io: saving and loading index files (docs/index_format.md), against the same bytes moved
// without xmr (the limit) and against FAISS's write_index / read_index on the same vectors.
//
// Cases (io/<op>/<engine>/N:<n>/D:<d>; manual time, one save or load per iteration):
//   save/xmr             DenseIndex::save: temporary file, write, fsync, rename, fsync of the dir
//   save/raw             the limit: write() of the same number of bytes to a new file + fsync
//   save/faiss           faiss::write_index of an IndexFlatIP (no fsync: FAISS does not sync)
//   load/xmr_read        DenseIndex::load, LoadMode::Read, every checksum and value verified
//   load/xmr_read_trust  LoadMode::Read, verify = false
//   load/xmr_map         LoadMode::Map, verified (reads every page once)
//   load/xmr_map_trust   LoadMode::Map, verify = false (maps; reads only header and ids)
//   load/raw             the limit: pread() of the whole file into one fresh buffer
//   load/faiss           faiss::read_index of the FAISS file
// The files are in the page cache (just written), so loads measure memory and parsing, not the
// disk; saves include the disk through fsync. Counter bytes_per_second: file bytes per second.
// Data: N x D fp32, inner product, N = 1e6, D = 256 (1 GiB); XMR_BENCH_QUICK: N = 1e5.
// Files go to XMR_BENCH_DIR (default: the system temp directory) and are removed at exit.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "bench_common.h"
#include "xmr/xmr.h"

#ifdef XMR_BENCH_HAVE_FAISS
#include <faiss/IndexFlat.h>
#include <faiss/index_io.h>
#endif

namespace {

namespace fs = std::filesystem;
using xmr::bench::Clock;
using xmr::bench::seconds_since;

struct Data {
  std::int64_t n = 0;
  std::int64_t d = 0;
  std::vector<float> vectors;
  std::unique_ptr<xmr::DenseIndex> index;
  std::string xmr_file;
  std::string raw_file;
  std::string faiss_file;
  std::uint64_t file_bytes = 0;
  xmr::bench::HugeWords file_copy{nullptr, &std::free};  // the xmr file's bytes, for the raw write
};

Data* g_data = nullptr;

/// This process's directory for the files (created on first use, removed at exit by main).
const fs::path& bench_dir() {
  static const fs::path dir = [] {
    const char* env = std::getenv("XMR_BENCH_DIR");
    const fs::path base = env != nullptr && *env != '\0' ? fs::path(env) : fs::temp_directory_path();
    fs::path d = base / ("xmr-bench-io-" + std::to_string(::getpid()));
    fs::create_directories(d);
    return d;
  }();
  return dir;
}

Data& data(std::int64_t n, std::int64_t d) {
  if (g_data != nullptr && g_data->n == n && g_data->d == d) return *g_data;
  delete g_data;  // one size at a time: its files are replaced below, a stale FAISS file removed
  g_data = new Data();
  Data& x = *g_data;
  x.n = n;
  x.d = d;
  x.vectors = xmr::synth::random_normal(n, d, 11);
  x.index = std::make_unique<xmr::DenseIndex>(
      xmr::DenseIndexOptions{.dim = d, .metric = xmr::Metric::InnerProduct, .device = xmr::Device::Cpu});
  x.index->add(xmr::MatrixView<const float>(x.vectors.data(), n, d));
  x.xmr_file = (bench_dir() / "index.xmr").string();
  x.raw_file = (bench_dir() / "raw.bin").string();
  x.faiss_file = (bench_dir() / "index.faiss").string();
  fs::remove(x.faiss_file);
  x.index->save(x.xmr_file);
  x.file_bytes = fs::file_size(x.xmr_file);
  return x;
}

void finish(benchmark::State& state, const Data& x) {
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(x.file_bytes));
  state.counters["file_mb"] = static_cast<double>(x.file_bytes) / 1e6;
}

void check_rc(bool ok, const char* what) {
  if (!ok) throw std::runtime_error(std::string(what) + " failed");
}

/// write() of `n` bytes from `p` to a new file, then fsync. The old file is unlinked first, as an
/// xmr save replaces it by a new one (truncating 1 GB in place costs more on ext4).
void raw_write(const std::string& path, const void* p, std::size_t n) {
  (void)::unlink(path.c_str());
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  check_rc(fd >= 0, "open");
  const auto* c = static_cast<const char*>(p);
  while (n > 0) {
    const ssize_t w = ::write(fd, c, std::min<std::size_t>(n, std::size_t{1} << 30));
    check_rc(w > 0, "write");
    c += w;
    n -= static_cast<std::size_t>(w);
  }
  check_rc(::fsync(fd) == 0, "fsync");
  check_rc(::close(fd) == 0, "close");
}

/// pread() of the whole file into a fresh buffer (what any loader must at least do), allocated as
/// xmr allocates index storage (2 MiB aligned, huge pages advised): on a VM, page faults on
/// fresh 4 KiB pages cost more than the copy.
xmr::bench::HugeWords raw_read(const std::string& path, std::uint64_t bytes) {
  xmr::bench::HugeWords buf = xmr::bench::huge_words(static_cast<std::int64_t>((bytes + 7) / 8));
  char* base = reinterpret_cast<char*>(buf.get());
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  check_rc(fd >= 0, "open");
  std::uint64_t off = 0;
  while (off < bytes) {
    const ssize_t r =
        ::pread(fd, base + off, std::min<std::uint64_t>(bytes - off, std::uint64_t{1} << 30), static_cast<off_t>(off));
    check_rc(r > 0, "pread");
    off += static_cast<std::uint64_t>(r);
  }
  ::close(fd);
  return buf;
}

template <class F>
void timed(benchmark::State& state, F&& f) {
  try {
    f();  // warm-up (page cache, allocator)
    for (auto _ : state) {
      const auto t0 = Clock::now();
      f();
      state.SetIterationTime(seconds_since(t0));
    }
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
  }
}

void register_all(std::int64_t n, std::int64_t d) {
  const std::string suffix = "/N:" + std::to_string(n) + "/D:" + std::to_string(d);
  const auto reg = [&](const std::string& name, auto fn) {
    benchmark::RegisterBenchmark(("io/" + name + suffix).c_str(),
                                 [n, d, fn](benchmark::State& state) {
                                   Data& x = data(n, d);
                                   fn(state, x);
                                   finish(state, x);
                                 })
        ->UseManualTime()
        ->Unit(benchmark::kMillisecond)
        ->MinTime(2.0);
  };
  reg("save/xmr", [](benchmark::State& s, Data& x) { timed(s, [&] { x.index->save(x.xmr_file); }); });
  reg("save/raw", [](benchmark::State& s, Data& x) {
    if (!x.file_copy) x.file_copy = raw_read(x.xmr_file, x.file_bytes);
    timed(s, [&] { raw_write(x.raw_file, x.file_copy.get(), static_cast<std::size_t>(x.file_bytes)); });
  });
  const auto load = [](xmr::LoadMode mode, bool verify) {
    return [mode, verify](benchmark::State& s, Data& x) {
      timed(s, [&] {
        const xmr::DenseIndex loaded = xmr::DenseIndex::load(x.xmr_file, {.mode = mode, .verify = verify});
        benchmark::DoNotOptimize(loaded.size());
      });
    };
  };
  reg("load/xmr_read", load(xmr::LoadMode::Read, true));
  reg("load/xmr_read_trust", load(xmr::LoadMode::Read, false));
  reg("load/xmr_map", load(xmr::LoadMode::Map, true));
  reg("load/xmr_map_trust", load(xmr::LoadMode::Map, false));
  reg("load/raw", [](benchmark::State& s, Data& x) {
    timed(s, [&] {
      auto buf = raw_read(x.xmr_file, x.file_bytes);
      benchmark::DoNotOptimize(buf.get());
    });
  });
#ifdef XMR_BENCH_HAVE_FAISS
  reg("save/faiss", [](benchmark::State& s, Data& x) {
    faiss::IndexFlatIP f(static_cast<faiss::Index::idx_t>(x.d));
    f.add(static_cast<faiss::Index::idx_t>(x.n), x.vectors.data());
    timed(s, [&] { faiss::write_index(&f, x.faiss_file.c_str()); });
  });
  reg("load/faiss", [](benchmark::State& s, Data& x) {
    if (!fs::exists(x.faiss_file)) {
      faiss::IndexFlatIP f(static_cast<faiss::Index::idx_t>(x.d));
      f.add(static_cast<faiss::Index::idx_t>(x.n), x.vectors.data());
      faiss::write_index(&f, x.faiss_file.c_str());
    }
    timed(s, [&] {
      std::unique_ptr<faiss::Index> f(faiss::read_index(x.faiss_file.c_str()));
      benchmark::DoNotOptimize(f->ntotal);
    });
  });
#endif
}

}  // namespace

int main(int argc, char** argv) {
  const bool quick = xmr::bench::quick_mode();
  const std::int64_t n = quick ? 100000 : 1000000;
  const std::int64_t d = 256;
  register_all(n, d);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  xmr::bench::add_common_context({n});
  benchmark::AddCustomContext("io_dir", bench_dir().parent_path().string());
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  delete g_data;
  std::error_code ec;
  fs::remove_all(bench_dir(), ec);
  return 0;
}
