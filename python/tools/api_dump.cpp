// The C++ API side of the cross-API comparison (see api_dump.h).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "api_dump.h"
#include "xmr/xmr.h"

namespace {

template <class T>
std::vector<T> read_vector(const char* path, std::int64_t count) {
  const auto n = static_cast<std::size_t>(count);
  void* raw = dump_read(path, n * sizeof(T));
  std::vector<T> v(static_cast<const T*>(raw), static_cast<const T*>(raw) + n);
  std::free(raw);
  return v;
}

template <class T>
void write_vector(const char* path, const std::vector<T>& v) {
  dump_write(path, v.data(), v.size() * sizeof(T));
}

template <class T>
int dense_typed(char** a, xmr::Metric metric, xmr::DType storage) {
  const std::int64_t n = dump_int(a[2]), q = dump_int(a[3]), d = dump_int(a[4]), k = dump_int(a[5]);
  const auto base = read_vector<T>(a[6], n * d);
  const auto queries = read_vector<T>(a[7], q * d);
  xmr::DenseIndex index({.dim = d, .metric = metric, .storage = storage, .device = xmr::Device::Cpu});
  index.add(xmr::MatrixView<const T>(base.data(), n, d));
  const xmr::SearchResult r = index.search(xmr::MatrixView<const T>(queries.data(), q, d), k);
  write_vector(a[8], r.ids);
  write_vector(a[9], r.scores);
  return 0;
}

int dense(char** a) {
  const xmr::Metric metric = std::string(a[0]) == "ip" ? xmr::Metric::InnerProduct : xmr::Metric::Cosine;
  if (std::string(a[1]) == "f16") return dense_typed<xmr::half>(a, metric, xmr::DType::F16);
  return dense_typed<float>(a, metric, xmr::DType::F32);
}

int binary(char** a) {
  const std::int64_t n = dump_int(a[0]), q = dump_int(a[1]), bytes = dump_int(a[2]), k = dump_int(a[3]);
  const auto base = read_vector<std::uint8_t>(a[4], n * bytes);
  const auto queries = read_vector<std::uint8_t>(a[5], q * bytes);
  xmr::BinaryIndex index({.bits = bytes * 8, .device = xmr::Device::Cpu});
  index.add(xmr::MatrixView<const std::uint8_t>(base.data(), n, bytes));
  const xmr::BinarySearchResult r = index.search(xmr::MatrixView<const std::uint8_t>(queries.data(), q, bytes), k);
  write_vector(a[6], r.ids);
  write_vector(a[7], r.distances);
  return 0;
}

int map(char** a) {
  const std::int64_t n = dump_int(a[0]), q = dump_int(a[1]), bytes = dump_int(a[2]), c = dump_int(a[3]);
  const auto qc = read_vector<std::uint8_t>(a[4], q * bytes);
  const auto dc = read_vector<std::uint8_t>(a[5], n * bytes);
  const auto ql = read_vector<std::uint8_t>(a[6], q * c);
  const auto dl = read_vector<std::uint8_t>(a[7], n * c);
  const xmr::eval::MapResult r = xmr::eval::map_hamming({qc.data(), q, bytes}, {dc.data(), n, bytes}, {ql.data(), q, c},
                                                        {dl.data(), n, c}, {.device = xmr::Device::Cpu});
  write_vector(a[8], r.per_query_ap);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::string mode = argc > 1 ? argv[1] : "";
    if (argc == 12 && mode == "dense") return dense(argv + 2);
    if (argc == 10 && mode == "binary") return binary(argv + 2);
    if (argc == 11 && mode == "map") return map(argv + 2);
    std::fprintf(stderr, "usage: see python/tools/api_dump.h\n");
    return 2;
  } catch (const xmr::Error& e) {
    std::fprintf(stderr, "api_dump_cpp: %s\n", e.what());
    return 1;
  }
}
