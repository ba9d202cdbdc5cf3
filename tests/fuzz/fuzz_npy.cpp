// Fuzz target for the command-line tool's .npy reader (host_api/cli/npy.h): parse_npy on
// untrusted bytes. The contract checked:
//   - it throws only NpyError (never crashes, never another exception);
//   - what parses has a data size equal to the product of its shape times the item size, and
//     re-serialises (npy_bytes) to a file that parses to the same type, shape and bytes;
//   - multi_hot_labels and id_vector on a parsed array throw only NpyError, and what they
//     return has the documented shape and 0/1 values.
// Seeds: valid files of every type and rank, versions 1.0 and 2.0.
#include <cstdint>
#include <cstring>
#include <exception>
#include <span>
#include <string>
#include <vector>

#include "fuzz_common.h"
#include "npy.h"

namespace {

using xmr::cli::NpyArray;
using xmr::cli::NpyError;
using xmr::cli::NpyType;
using xmr::fuzz::check;
using xmr::fuzz::fail;

template <class F>
void only_npy_errors(F&& f) {
  try {
    f();
  } catch (const NpyError&) {
  } catch (const std::exception& e) {
    fail(std::string("an exception other than NpyError escaped: ") + e.what());
  }
}

void generate_seeds(xmr::fuzz::SeedWriter& w) {
  std::vector<std::uint8_t> data(256);
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<std::uint8_t>(i % 2);
  const std::vector<std::vector<std::int64_t>> shapes = {{}, {5}, {3, 4}, {2, 0}, {2, 2, 2}};
  int n = 0;
  for (const NpyType t : {NpyType::F32, NpyType::F16, NpyType::F64, NpyType::U8, NpyType::I8, NpyType::Bool,
                          NpyType::I32, NpyType::I64}) {
    for (const auto& s : shapes) w.write("seed" + std::to_string(n++) + ".npy", xmr::cli::npy_bytes(t, s, data.data()));
  }
  // A version 2.0 header: the same dict with a 4-byte length.
  std::vector<std::uint8_t> v1 = xmr::cli::npy_bytes(NpyType::F32, std::vector<std::int64_t>{2, 3}, data.data());
  std::vector<std::uint8_t> v2(v1.begin(), v1.begin() + 8);
  v2[6] = 2;
  v2.push_back(v1[8]);
  v2.push_back(v1[9]);
  v2.push_back(0);
  v2.push_back(0);
  v2.insert(v2.end(), v1.begin() + 10, v1.end());
  w.write("v2.npy", v2);
}

}  // namespace

XMR_FUZZ_SEEDS(generate_seeds)

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::uint8_t> bytes(data, size);
  only_npy_errors([&] {
    const NpyArray a = xmr::cli::parse_npy(bytes, "fuzz.npy");
    check(a.bytes == a.count() * xmr::cli::item_size(a.type), "data size is not shape x item size");
    const std::vector<std::uint8_t> again = xmr::cli::npy_bytes(a.type, a.shape, a.data());
    const NpyArray b = xmr::cli::parse_npy(again, "again.npy");
    check(b.type == a.type && b.shape == a.shape && b.bytes == a.bytes, "re-serialised header differs");
    check(a.bytes == 0 || std::memcmp(a.data(), b.data(), static_cast<std::size_t>(a.bytes)) == 0,
          "re-serialised data differs");
    if (a.count() <= 4096) {
      only_npy_errors([&] {
        std::int64_t classes = 0;
        const std::vector<std::uint8_t> hot = xmr::cli::multi_hot_labels(a, "--labels", classes);
        check(classes >= 1 && static_cast<std::int64_t>(hot.size()) == a.rows() * classes, "labels shape");
        for (const std::uint8_t v : hot) check(v <= 1, "a label is not 0 or 1");
      });
      only_npy_errors([&] {
        const std::vector<std::int64_t> ids = xmr::cli::id_vector(a, "--ids");
        check(static_cast<std::int64_t>(ids.size()) == a.rows(), "ids size");
      });
    }
  });
  return 0;
}
