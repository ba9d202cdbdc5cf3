// Index files (xmr/index_file.h, docs/index_format.md): round trips of every index type in every
// load mode, extras, validation of every kind of damage (truncation at every byte, every single
// bit flip of a small file and thousands of a large one, lying size fields with valid checksums,
// future versions, wrong types), atomic saves (write failures, a saving process killed at random
// moments), mapped indexes under mutation, and loading to the GPU.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "common/expect_error.h"
#include "common/reference.h"
#include "tools/save_loop_index.h"
#include "xmr/xmr.h"

namespace {

namespace fs = std::filesystem;
using xmr::BinaryIndex;
using xmr::DenseIndex;
using xmr::ErrorCode;
using xmr::IndexExtras;
using xmr::LoadMode;
using xmr::LoadOptions;
using xmr::MatrixView;
using xmr_test::Rng;

// ---------------------------------------------------------------------------------------------
// Helpers.

// Sanitizer builds (CI runs the suite under ASan+UBSan and TSan) run the long randomised tests
// with fewer rounds: they check memory and thread safety there, the plain builds check counts.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif

/// A fresh directory per test, removed afterwards.
class TempDir {
 public:
  TempDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string name =
        std::string("xmr-") + info->test_suite_name() + "-" + info->name() + "-" + std::to_string(::getpid());
    for (char& c : name) c = c == '/' ? '_' : c;
    path_ = fs::temp_directory_path() / name;
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  [[nodiscard]] std::string file(const std::string& name) const { return (path_ / name).string(); }
  [[nodiscard]] const fs::path& path() const { return path_; }
  /// Files in the directory other than `keep`.
  [[nodiscard]] std::vector<std::string> others(const std::string& keep) const {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(path_)) {
      if (e.path().filename() != keep) out.push_back(e.path().filename().string());
    }
    return out;
  }

 private:
  fs::path path_;
};

std::vector<std::uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_bytes(const std::string& path, const std::vector<std::uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

std::uint64_t get64(const std::vector<std::uint8_t>& b, std::size_t at) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= static_cast<std::uint64_t>(b[at + static_cast<std::size_t>(i)]) << (8 * i);
  return v;
}
std::uint32_t get32(const std::vector<std::uint8_t>& b, std::size_t at) {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= static_cast<std::uint32_t>(b[at + static_cast<std::size_t>(i)]) << (8 * i);
  return v;
}
void put64(std::vector<std::uint8_t>& b, std::size_t at, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) b[at + static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(v >> (8 * i));
}
void put32(std::vector<std::uint8_t>& b, std::size_t at, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) b[at + static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(v >> (8 * i));
}

/// The documented layout (docs/index_format.md), to forge files whose checksums are valid but
/// whose fields lie.
struct Layout {
  static constexpr std::size_t kTable = 40;
  static std::size_t sections(const std::vector<std::uint8_t>& b) { return get32(b, 20); }
  static std::size_t entry(std::size_t i) { return kTable + 32 * i; }
  static std::size_t table_end(const std::vector<std::uint8_t>& b) { return kTable + 32 * sections(b) + 8; }
  static std::uint64_t offset(const std::vector<std::uint8_t>& b, std::size_t i) { return get64(b, entry(i) + 8); }
  static std::uint64_t length(const std::vector<std::uint8_t>& b, std::size_t i) { return get64(b, entry(i) + 16); }
  /// Recomputes section i's checksum and the header checksum.
  static void reseal_section(std::vector<std::uint8_t>& b, std::size_t i) {
    put64(b, entry(i) + 24, XXH3_64bits(b.data() + offset(b, i), static_cast<std::size_t>(length(b, i))));
    reseal_header(b);
  }
  static void reseal_header(std::vector<std::uint8_t>& b) {
    const std::size_t end = table_end(b);
    put64(b, end - 8, XXH3_64bits(b.data(), end - 8));
  }
};

std::vector<float> vectors_for(Rng& rng, std::int64_t n, std::int64_t dim) {
  return xmr_test::random_matrix(rng, n, dim);
}

std::vector<std::uint8_t> codes_for(Rng& rng, std::int64_t n, std::int64_t bytes) {
  std::vector<std::uint8_t> c(static_cast<std::size_t>(n * bytes));
  for (auto& x : c) x = static_cast<std::uint8_t>(rng.bits());
  return c;
}

DenseIndex make_dense(std::int64_t n, std::int64_t dim, xmr::Metric metric, xmr::DType storage, std::uint64_t seed) {
  Rng rng(seed);
  DenseIndex index({.dim = dim, .metric = metric, .storage = storage, .device = xmr::Device::Cpu});
  const std::vector<float> v = vectors_for(rng, n, dim);
  const std::vector<std::int64_t> ids = xmr_test::random_ids(rng, n, 5, 3);
  index.add(MatrixView<const float>(v.data(), n, dim), ids);
  return index;
}

BinaryIndex make_binary(std::int64_t n, std::int64_t bits, std::uint64_t seed) {
  Rng rng(seed);
  BinaryIndex index({.bits = bits, .device = xmr::Device::Cpu});
  const std::vector<std::uint8_t> c = codes_for(rng, n, bits / 8);
  const std::vector<std::int64_t> ids = xmr_test::random_ids(rng, n, 100, 2);
  index.add(MatrixView<const std::uint8_t>(c.data(), n, bits / 8), ids);
  return index;
}

void expect_same_dense(const DenseIndex& a, const DenseIndex& b, std::uint64_t seed) {
  ASSERT_EQ(a.size(), b.size());
  ASSERT_EQ(a.dim(), b.dim());
  EXPECT_EQ(a.metric(), b.metric());
  EXPECT_EQ(a.storage(), b.storage());
  EXPECT_EQ(a.ids(), b.ids());
  if (a.size() == 0) return;
  Rng rng(seed);
  const std::int64_t q = 7;
  const std::vector<float> queries = vectors_for(rng, q, a.dim());
  for (std::int64_t k : {std::int64_t{1}, std::int64_t{5}, a.size() + 3}) {
    const xmr::SearchOptions cpu{.device = xmr::Device::Cpu};
    const auto ra = a.search(MatrixView<const float>(queries.data(), q, a.dim()), k, cpu);
    const auto rb = b.search(MatrixView<const float>(queries.data(), q, a.dim()), k, cpu);
    EXPECT_EQ(ra.ids, rb.ids) << "k=" << k;
    EXPECT_EQ(ra.scores, rb.scores) << "k=" << k;  // the same stored bits, the same kernel
  }
}

void expect_same_binary(const BinaryIndex& a, const BinaryIndex& b, std::uint64_t seed) {
  ASSERT_EQ(a.size(), b.size());
  ASSERT_EQ(a.bits(), b.bits());
  EXPECT_EQ(a.ids(), b.ids());
  if (a.size() == 0) return;
  Rng rng(seed);
  const std::int64_t q = 9;
  const std::vector<std::uint8_t> queries = codes_for(rng, q, a.code_bytes());
  for (std::int64_t k : {std::int64_t{1}, std::int64_t{4}, a.size() + 2}) {
    const xmr::SearchOptions cpu{.device = xmr::Device::Cpu};
    const auto ra = a.search(MatrixView<const std::uint8_t>(queries.data(), q, a.code_bytes()), k, cpu);
    const auto rb = b.search(MatrixView<const std::uint8_t>(queries.data(), q, a.code_bytes()), k, cpu);
    EXPECT_EQ(ra.ids, rb.ids) << "k=" << k;
    EXPECT_EQ(ra.distances, rb.distances) << "k=" << k;
  }
}

/// A small file with every section (labels and a binariser) for exhaustive damage tests.
std::vector<std::uint8_t> small_binary_file_with_extras() {
  BinaryIndex index = make_binary(13, 24, 7);
  Rng rng(8);
  std::vector<std::uint8_t> hot(13 * 11);
  for (auto& h : hot) h = static_cast<std::uint8_t>(rng.bits() & 1u);
  IndexExtras extras;
  extras.labels = xmr::Labels::from_multi_hot(MatrixView<const std::uint8_t>(hot.data(), 13, 11));
  extras.binarizer = xmr::Binarizer::lsh(5, 24, 3);
  return index.to_bytes(extras);
}

std::vector<std::uint8_t> small_dense_file() {
  return make_dense(6, 5, xmr::Metric::Cosine, xmr::DType::F16, 9).to_bytes();
}

/// Loads `bytes` as the index type they hold; returns the error code (Ok when it loaded).
ErrorCode try_load(const std::vector<std::uint8_t>& bytes, bool binary, bool verify = true) {
  try {
    const LoadOptions o{.verify = verify};
    IndexExtras extras;
    if (binary) {
      (void)BinaryIndex::from_bytes(bytes, o, &extras);
    } else {
      (void)DenseIndex::from_bytes(bytes, o, &extras);
    }
    return ErrorCode::Ok;
  } catch (const xmr::Error& e) {
    return e.code();
  }
}

// ---------------------------------------------------------------------------------------------
// Round trips.

struct DenseCase {
  std::int64_t n;
  std::int64_t dim;
  xmr::Metric metric;
  xmr::DType storage;
};

class DenseRoundTrip : public ::testing::TestWithParam<std::tuple<DenseCase, LoadMode>> {};

TEST_P(DenseRoundTrip, SameIndexAfterLoad) {
  const auto [c, mode] = GetParam();
  TempDir dir;
  const std::uint64_t seed = 1000 + static_cast<std::uint64_t>(c.n * 7 + c.dim);
  DenseIndex index = make_dense(c.n, c.dim, c.metric, c.storage, seed);
  if (c.n > 4) index.remove(std::vector<std::int64_t>{index.ids()[1], index.ids()[3]});  // after a remove
  const std::string path = dir.file("dense.xmr");
  index.save(path);
  const DenseIndex loaded = DenseIndex::load(path, {.mode = mode});
  expect_same_dense(index, loaded, seed + 1);
  EXPECT_EQ(loaded.device(), xmr::Device::Cpu);  // the saved default device
  const DenseIndex from_bytes = DenseIndex::from_bytes(index.to_bytes());
  expect_same_dense(index, from_bytes, seed + 2);
  EXPECT_EQ(index.to_bytes(), read_bytes(path));                   // save and to_bytes write the same bytes
  EXPECT_EQ(dir.others("dense.xmr"), std::vector<std::string>{});  // no temporary file left
}

INSTANTIATE_TEST_SUITE_P(
    Cases, DenseRoundTrip,
    ::testing::Combine(::testing::Values(DenseCase{1, 1, xmr::Metric::InnerProduct, xmr::DType::F32},
                                         DenseCase{37, 13, xmr::Metric::Cosine, xmr::DType::F32},
                                         DenseCase{50, 7, xmr::Metric::InnerProduct, xmr::DType::F16},
                                         DenseCase{300, 64, xmr::Metric::Cosine, xmr::DType::F16}),
                       ::testing::Values(LoadMode::Read, LoadMode::Map)));

class BinaryRoundTrip : public ::testing::TestWithParam<std::tuple<std::int64_t, std::int64_t, LoadMode>> {};

TEST_P(BinaryRoundTrip, SameIndexAfterLoad) {
  const auto [n, bits, mode] = GetParam();
  TempDir dir;
  const auto seed = static_cast<std::uint64_t>(n * 131 + bits);
  BinaryIndex index = make_binary(n, bits, seed);
  if (n > 3) index.remove(std::vector<std::int64_t>{index.ids()[2]});
  const std::string path = dir.file("codes.xmr");
  index.save(path);
  const BinaryIndex loaded = BinaryIndex::load(path, {.mode = mode});
  expect_same_binary(index, loaded, seed + 1);
  expect_same_binary(index, BinaryIndex::from_bytes(index.to_bytes()), seed + 2);
}

INSTANTIATE_TEST_SUITE_P(Cases, BinaryRoundTrip,
                         ::testing::Combine(::testing::Values(1, 3, 200), ::testing::Values(8, 24, 64, 256, 4096),
                                            ::testing::Values(LoadMode::Read, LoadMode::Map)));

TEST(Persistence, EmptyIndexesRoundTrip) {
  TempDir dir;
  for (const LoadMode mode : {LoadMode::Read, LoadMode::Map}) {
    DenseIndex dense({.dim = 3, .metric = xmr::Metric::InnerProduct});
    dense.save(dir.file("d.xmr"));
    DenseIndex d = DenseIndex::load(dir.file("d.xmr"), {.mode = mode});
    EXPECT_EQ(d.size(), 0);
    EXPECT_EQ(d.dim(), 3);
    EXPECT_EQ(d.metric(), xmr::Metric::InnerProduct);
    const std::vector<float> v = {1, 2, 3};
    d.add(MatrixView<const float>(v.data(), 1, 3));  // usable after loading
    EXPECT_EQ(d.ids(), std::vector<std::int64_t>{0});

    BinaryIndex binary({.bits = 16});
    binary.save(dir.file("b.xmr"));
    BinaryIndex b = BinaryIndex::load(dir.file("b.xmr"), {.mode = mode});
    EXPECT_EQ(b.size(), 0);
    EXPECT_EQ(b.bits(), 16);
  }
}

TEST(Persistence, DefaultDeviceIsSavedAndCanBeOverridden) {
  TempDir dir;
  DenseIndex index({.dim = 4, .device = xmr::Device::Cpu});
  index.save(dir.file("a.xmr"));
  EXPECT_EQ(DenseIndex::load(dir.file("a.xmr")).device(), xmr::Device::Cpu);
  EXPECT_EQ(DenseIndex::load(dir.file("a.xmr"), {.device = xmr::Device::Auto}).device(), xmr::Device::Auto);
  EXPECT_EQ(xmr::read_index_info(dir.file("a.xmr")).device, xmr::Device::Cpu);
  // A file saved with default device Gpu loads on any machine (found by fuzz_index_load); only
  // an explicit options.device = Gpu uploads (LoadStraightToTheGpu).
  BinaryIndex gpu_default({.bits = 8, .device = xmr::Device::Gpu});
  gpu_default.add(MatrixView<const std::uint8_t>(std::vector<std::uint8_t>(10, 3).data(), 10, 1));
  gpu_default.save(dir.file("g.xmr"));
  const BinaryIndex g = BinaryIndex::load(dir.file("g.xmr"));
  EXPECT_EQ(g.device(), xmr::Device::Gpu);
  EXPECT_EQ(g.size(), 10);
  const std::vector<std::uint8_t> q = {3};
  const auto r = g.search(MatrixView<const std::uint8_t>(q.data(), 1, 1), 2, {.device = xmr::Device::Cpu});
  EXPECT_EQ(r.ids, (std::vector<std::int64_t>{0, 1}));
}

TEST(Persistence, MappedIndexStaysValidUnderMutationAndResave) {
  TempDir dir;
  const std::string path = dir.file("m.xmr");
  DenseIndex original = make_dense(120, 19, xmr::Metric::Cosine, xmr::DType::F32, 42);
  original.save(path);
  DenseIndex mapped = DenseIndex::load(path, {.mode = LoadMode::Map});
  expect_same_dense(original, mapped, 43);

  // Re-saving the mapped file replaces it by rename: the mapping keeps the old inode.
  make_dense(5, 19, xmr::Metric::Cosine, xmr::DType::F32, 44).save(path);
  expect_same_dense(original, mapped, 45);
  // So does deleting it.
  fs::remove(path);
  expect_same_dense(original, mapped, 46);

  // Mutations copy out of the mapping; both indexes change the same way.
  Rng rng(47);
  const std::vector<float> more = vectors_for(rng, 10, 19);
  const std::vector<std::int64_t> more_ids = {1, 2, 1000, 1001, 1002, 3000, 3001, 3002, 3003, 4};
  for (DenseIndex* x : {&original, &mapped}) {
    x->add(MatrixView<const float>(more.data(), 10, 19), more_ids);
    x->remove(std::vector<std::int64_t>{1000, x->ids()[0]});
  }
  expect_same_dense(original, mapped, 48);
}

TEST(Persistence, ExtrasRoundTrip) {
  TempDir dir;
  Rng rng(5);
  BinaryIndex index = make_binary(40, 32, 6);
  std::vector<std::uint8_t> hot(40 * 21);
  for (auto& h : hot) h = static_cast<std::uint8_t>(rng.uniform() < 0.3);
  IndexExtras extras;
  extras.labels = xmr::Labels::from_multi_hot(MatrixView<const std::uint8_t>(hot.data(), 40, 21));
  const std::vector<float> train = vectors_for(rng, 64, 48);
  extras.binarizer = xmr::Binarizer::itq(MatrixView<const float>(train.data(), 64, 48), 32, {.iterations = 3});
  index.save(dir.file("x.xmr"), extras);

  for (const LoadMode mode : {LoadMode::Read, LoadMode::Map}) {
    IndexExtras got;
    const BinaryIndex loaded = BinaryIndex::load(dir.file("x.xmr"), {.mode = mode}, &got);
    expect_same_binary(index, loaded, 7);
    ASSERT_TRUE(got.labels.has_value());
    EXPECT_EQ(got.labels->num_classes, 21);
    EXPECT_EQ(got.labels->packed, extras.labels->packed);
    for (std::int64_t r = 0; r < 40; ++r) {
      for (std::int64_t c = 0; c < 21; ++c)
        EXPECT_EQ(got.labels->has(r, c), hot[static_cast<std::size_t>(r * 21 + c)] != 0);
    }
    ASSERT_TRUE(got.binarizer.has_value());
    EXPECT_FALSE(got.cross_modal_binarizer.has_value());
    EXPECT_EQ(got.binarizer->to_bytes(), extras.binarizer->to_bytes());
  }
  const xmr::IndexFileInfo info = xmr::read_index_info(dir.file("x.xmr"));
  EXPECT_EQ(info.type, "binary");
  EXPECT_EQ(info.size, 40);
  EXPECT_EQ(info.bits, 32);
  EXPECT_EQ(info.num_classes, 21);
  EXPECT_TRUE(info.has_binarizer);
  ASSERT_EQ(info.sections.size(), 5u);
  EXPECT_EQ(info.sections[3].name, "LABELS");
  EXPECT_EQ(info.file_bytes, fs::file_size(dir.file("x.xmr")));

  // A cross-modal pair on a dense index.
  DenseIndex dense = make_dense(30, 48, xmr::Metric::Cosine, xmr::DType::F32, 8);
  const std::vector<float> text = vectors_for(rng, 64, 40);
  IndexExtras pair;
  pair.cross_modal_binarizer =
      xmr::train_cross_modal_itq(MatrixView<const float>(train.data(), 64, 48),
                                 MatrixView<const float>(text.data(), 64, 40), 16, {.iterations = 2});
  IndexExtras got;
  const DenseIndex d = DenseIndex::from_bytes(dense.to_bytes(pair), {}, &got);
  expect_same_dense(dense, d, 9);
  ASSERT_TRUE(got.cross_modal_binarizer.has_value());
  EXPECT_FALSE(got.labels.has_value());
  EXPECT_EQ(got.cross_modal_binarizer->to_bytes(), pair.cross_modal_binarizer->to_bytes());
}

TEST(Persistence, BadExtrasAreRejectedBeforeTouchingTheDisk) {
  TempDir dir;
  const std::string path = dir.file("e.xmr");
  BinaryIndex index = make_binary(10, 16, 1);
  index.save(path);
  const std::vector<std::uint8_t> before = read_bytes(path);
  const auto unchanged = [&] {
    EXPECT_EQ(read_bytes(path), before);
    EXPECT_EQ(dir.others("e.xmr"), std::vector<std::string>{});
  };
  IndexExtras wrong_rows;
  wrong_rows.labels = xmr::Labels{.num_classes = 3, .packed = std::vector<std::uint8_t>(9, 0)};
  xmr_test::expect_error([&] { index.save(path, wrong_rows); }, ErrorCode::InvalidArgument,
                         {"extras.labels.packed.size() (= 9)", "index size (= 10)"}, "labels rows", unchanged);
  IndexExtras padding;
  padding.labels = xmr::Labels{.num_classes = 3, .packed = std::vector<std::uint8_t>(10, 0)};
  padding.labels->packed[4] = 0x10;
  xmr_test::expect_error([&] { index.save(path, padding); }, ErrorCode::InvalidArgument,
                         {"extras.labels row 4", "past class 2"}, "labels padding", unchanged);
  IndexExtras zero_classes;
  zero_classes.labels = xmr::Labels{};
  xmr_test::expect_error([&] { index.save(path, zero_classes); }, ErrorCode::InvalidArgument,
                         {"extras.labels.num_classes (= 0)"}, "no classes", unchanged);
  IndexExtras both;
  both.binarizer = xmr::Binarizer::sign(16);
  both.cross_modal_binarizer = xmr::CrossModalBinarizer{xmr::Binarizer::sign(16), xmr::Binarizer::sign(16)};
  xmr_test::expect_error([&] { index.save(path, both); }, ErrorCode::InvalidArgument,
                         {"extras.binarizer and extras.cross_modal_binarizer are both set"}, "both", unchanged);
  IndexExtras bits;
  bits.binarizer = xmr::Binarizer::sign(24);
  xmr_test::expect_error([&] { index.save(path, bits); }, ErrorCode::InvalidArgument,
                         {"extras.binarizer.bits() (= 24)", "index's bits (= 16)"}, "bits", unchanged);
}

// ---------------------------------------------------------------------------------------------
// Damage: every truncation, every bit flip, lying fields.

TEST(Persistence, EveryTruncationIsDetected) {
  for (const bool binary : {true, false}) {
    const std::vector<std::uint8_t> file = binary ? small_binary_file_with_extras() : small_dense_file();
    ASSERT_EQ(try_load(file, binary), ErrorCode::Ok);
    for (std::size_t len = 0; len < file.size(); ++len) {
      const std::vector<std::uint8_t> cut(file.begin(), file.begin() + static_cast<std::ptrdiff_t>(len));
      ASSERT_EQ(try_load(cut, binary), ErrorCode::CorruptData) << "truncated to " << len << " of " << file.size();
    }
    std::vector<std::uint8_t> longer = file;
    longer.push_back(0);
    EXPECT_EQ(try_load(longer, binary), ErrorCode::CorruptData) << "one trailing byte";
  }
}

TEST(Persistence, TruncationAtSectionBoundariesOfAFileNamesTheFile) {
  TempDir dir;
  const std::string path = dir.file("t.xmr");
  const std::vector<std::uint8_t> file = small_binary_file_with_extras();
  std::vector<std::size_t> cuts = {0, 7, 8, 39, 40, Layout::table_end(file) - 1, Layout::table_end(file)};
  for (std::size_t i = 0; i < Layout::sections(file); ++i) {
    const auto off = static_cast<std::size_t>(Layout::offset(file, i));
    const auto len = static_cast<std::size_t>(Layout::length(file, i));
    for (std::size_t c : {off - 1, off, off + 1, off + len / 2, off + len - 1}) cuts.push_back(c);
  }
  for (const std::size_t c : cuts) {
    write_bytes(path, std::vector<std::uint8_t>(file.begin(), file.begin() + static_cast<std::ptrdiff_t>(c)));
    for (const LoadMode mode : {LoadMode::Read, LoadMode::Map}) {
      EXPECT_XMR_ERROR(BinaryIndex::load(path, {.mode = mode}), ErrorCode::CorruptData, path);
    }
  }
}

TEST(Persistence, EverySingleBitFlipOfASmallFileIsDetected) {
  for (const bool binary : {true, false}) {
    const std::vector<std::uint8_t> file = binary ? small_binary_file_with_extras() : small_dense_file();
    std::int64_t detected = 0;
    for (std::size_t byte = 0; byte < file.size(); ++byte) {
      for (int bit = 0; bit < 8; ++bit) {
        std::vector<std::uint8_t> bad = file;
        bad[byte] ^= static_cast<std::uint8_t>(1u << bit);
        const ErrorCode e = try_load(bad, binary);
        ASSERT_EQ(e, ErrorCode::CorruptData) << "flip of bit " << bit << " of byte " << byte << " of " << file.size();
        ++detected;
      }
    }
    EXPECT_EQ(detected, static_cast<std::int64_t>(file.size()) * 8);
  }
}

TEST(Persistence, ThousandsOfRandomBitFlipsOfALargeFileAreDetected) {
  TempDir dir;
  const std::string path = dir.file("big.xmr");
  DenseIndex index = make_dense(1000, 31, xmr::Metric::InnerProduct, xmr::DType::F32, 77);
  IndexExtras extras;
  std::vector<std::uint8_t> hot(1000 * 9, 0);
  for (std::size_t i = 0; i < hot.size(); i += 7) hot[i] = 1;
  extras.labels = xmr::Labels::from_multi_hot(MatrixView<const std::uint8_t>(hot.data(), 1000, 9));
  const std::vector<std::uint8_t> file = index.to_bytes(extras);
  Rng rng(78);
  const int kFlips = kSanitized ? 300 : 3000;
  for (int i = 0; i < kFlips; ++i) {
    std::vector<std::uint8_t> bad = file;
    const auto bit = static_cast<std::size_t>(rng.uniform_int(0, static_cast<std::int64_t>(file.size()) * 8 - 1));
    bad[bit / 8] ^= static_cast<std::uint8_t>(1u << (bit % 8));
    ASSERT_EQ(try_load(bad, false), ErrorCode::CorruptData) << "flip " << i << " of bit " << bit;
    if (i % 100 == 0) {  // through the file paths too, both modes
      write_bytes(path, bad);
      EXPECT_XMR_ERROR(DenseIndex::load(path), ErrorCode::CorruptData, path);
      EXPECT_XMR_ERROR(DenseIndex::load(path, {.mode = LoadMode::Map}), ErrorCode::CorruptData, path);
    }
  }
}

TEST(Persistence, WithoutVerifyHeadersAndIdsAreStillChecked) {
  const std::vector<std::uint8_t> file = small_binary_file_with_extras();
  for (std::size_t byte = 0; byte < Layout::table_end(file); ++byte) {
    std::vector<std::uint8_t> bad = file;
    bad[byte] ^= 0x04;
    ASSERT_EQ(try_load(bad, true, false), ErrorCode::CorruptData) << "header byte " << byte;
  }
  // Ids out of order (checksums resealed so that only the order is wrong).
  std::vector<std::uint8_t> bad = file;
  const auto ids = static_cast<std::size_t>(Layout::offset(bad, 1));
  put64(bad, ids, get64(bad, ids + 8) + 1);
  Layout::reseal_section(bad, 1);
  EXPECT_XMR_ERROR(BinaryIndex::from_bytes(bad, {.verify = false}), ErrorCode::CorruptData,
                   "ids must be strictly ascending");
  EXPECT_XMR_ERROR(BinaryIndex::from_bytes(bad), ErrorCode::CorruptData, "ids must be strictly ascending");
}

TEST(Persistence, LyingSizeFieldsWithValidChecksumsAllocateNothing) {
  const std::vector<std::uint8_t> file = small_binary_file_with_extras();
  const auto params = static_cast<std::size_t>(Layout::offset(file, 0));
  {  // the item count says 4 billion: the sections' lengths disagree
    std::vector<std::uint8_t> bad = file;
    put64(bad, params, 0xFFFFFFFEull);
    Layout::reseal_section(bad, 0);
    EXPECT_XMR_ERROR(BinaryIndex::from_bytes(bad), ErrorCode::CorruptData,
                     "IDS: length (= 104) must be 8 x 4294967294");
  }
  {  // beyond the per-index limit
    std::vector<std::uint8_t> bad = file;
    put64(bad, params, 1ull << 62);
    Layout::reseal_section(bad, 0);
    EXPECT_XMR_ERROR(BinaryIndex::from_bytes(bad), ErrorCode::CorruptData, "item count (= 4611686018427387904)");
  }
  {  // a section length past the end of the file
    std::vector<std::uint8_t> bad = file;
    put64(bad, Layout::entry(2) + 16, 1ull << 60);
    Layout::reseal_header(bad);
    EXPECT_XMR_ERROR(BinaryIndex::from_bytes(bad), ErrorCode::CorruptData, "runs past the end of the file");
  }
  {  // a file size field that disagrees with the file
    std::vector<std::uint8_t> bad = file;
    put64(bad, 24, get64(bad, 24) + 4096);
    Layout::reseal_header(bad);
    EXPECT_XMR_ERROR(BinaryIndex::from_bytes(bad), ErrorCode::CorruptData, "truncated: the header declares");
  }
  {  // a section count that the file cannot hold
    std::vector<std::uint8_t> bad = file;
    put32(bad, 20, 1000);
    EXPECT_XMR_ERROR(BinaryIndex::from_bytes(bad), ErrorCode::CorruptData, "section count (= 1000)");
  }
  {  // the label class count says 2^40
    std::vector<std::uint8_t> bad = file;
    put64(bad, static_cast<std::size_t>(Layout::offset(bad, 3)), 1ull << 40);
    Layout::reseal_section(bad, 3);
    EXPECT_XMR_ERROR(BinaryIndex::from_bytes(bad), ErrorCode::CorruptData, "LABELS: class count (= 1099511627776)");
  }
  {  // bits that no binary index has
    std::vector<std::uint8_t> bad = file;
    put64(bad, params + 8, 12);
    Layout::reseal_section(bad, 0);
    EXPECT_XMR_ERROR(BinaryIndex::from_bytes(bad), ErrorCode::CorruptData, "PARAMS: bits (= 12)");
  }
}

TEST(Persistence, NonFiniteValuesWithValidChecksumsAreRejected) {
  for (const xmr::DType storage : {xmr::DType::F32, xmr::DType::F16}) {
    const std::vector<std::uint8_t> file =
        make_dense(5000, 3, xmr::Metric::InnerProduct, storage, 21).to_bytes();  // > 1 scan block
    const auto rows = static_cast<std::size_t>(Layout::offset(file, 2));
    const std::size_t width = storage == xmr::DType::F32 ? 4 : 2;
    for (const std::size_t value : {std::size_t{0}, std::size_t{4097}, std::size_t{14999}}) {
      std::vector<std::uint8_t> bad = file;
      std::uint8_t* p = bad.data() + rows + value * width;
      if (storage == xmr::DType::F32) {
        p[2] = 0x80;  // exponent all ones: +-inf or NaN, whatever the mantissa
        p[3] = 0x7F;
      } else {
        p[1] = 0x7C;
      }
      Layout::reseal_section(bad, 2);
      EXPECT_XMR_ERROR(DenseIndex::from_bytes(bad), ErrorCode::CorruptData, "ROWS: value " + std::to_string(value),
                       "is not finite");
      EXPECT_EQ(DenseIndex::from_bytes(bad, {.verify = false}).size(), 5000);  // trusted: not read
    }
  }
}

TEST(Persistence, VersionsTypesAndForeignFiles) {
  TempDir dir;
  std::vector<std::uint8_t> file = small_binary_file_with_extras();
  {
    std::vector<std::uint8_t> future = file;
    put32(future, 8, 2);
    Layout::reseal_header(future);
    EXPECT_XMR_ERROR(BinaryIndex::from_bytes(future), ErrorCode::CorruptData, "format version 2 is newer",
                     "load it with a newer xmr");
  }
  {
    std::vector<std::uint8_t> big_endian = file;
    put32(big_endian, 12, 0x0D0C0B0Au);
    EXPECT_XMR_ERROR(BinaryIndex::from_bytes(big_endian), ErrorCode::CorruptData, "big-endian");
  }
  {
    std::vector<std::uint8_t> kind = file;
    put32(kind, 16, 7);
    EXPECT_XMR_ERROR(BinaryIndex::from_bytes(kind), ErrorCode::CorruptData, "index type (= 7)");
  }
  // The other index type: a clear pointer to the right loader.
  write_bytes(dir.file("b.xmr"), file);
  EXPECT_XMR_ERROR(DenseIndex::load(dir.file("b.xmr")), ErrorCode::InvalidArgument, dir.file("b.xmr"),
                   "holds a binary index (13 codes of 24 bits)", "xmr::BinaryIndex::load");
  write_bytes(dir.file("d.xmr"), small_dense_file());
  EXPECT_XMR_ERROR(BinaryIndex::load(dir.file("d.xmr")), ErrorCode::InvalidArgument, "holds a dense index",
                   "xmr::DenseIndex::load");
  // A binariser file, an empty file, text.
  xmr::Binarizer::sign(8).save(dir.file("bin.xmrb"));
  EXPECT_XMR_ERROR(DenseIndex::load(dir.file("bin.xmrb")), ErrorCode::CorruptData, "bad magic");
  write_bytes(dir.file("empty"), {});
  EXPECT_XMR_ERROR(DenseIndex::load(dir.file("empty")), ErrorCode::CorruptData, "empty file");
  EXPECT_XMR_ERROR(DenseIndex::load(dir.file("empty"), {.mode = LoadMode::Map}), ErrorCode::CorruptData, "empty file");
  write_bytes(dir.file("text"), {'h', 'e', 'l', 'l', 'o'});
  EXPECT_XMR_ERROR(DenseIndex::load(dir.file("text")), ErrorCode::CorruptData, "bad magic");
  // Not there, not a file.
  EXPECT_XMR_ERROR(DenseIndex::load(dir.file("missing")), ErrorCode::Io, dir.file("missing"), "No such file");
  EXPECT_XMR_ERROR(DenseIndex::load(dir.path().string()), ErrorCode::Io, "not a regular file");
  EXPECT_XMR_ERROR(DenseIndex::load(dir.file("missing"), {.mode = LoadMode::Map}), ErrorCode::Io, "No such file");
  EXPECT_XMR_ERROR(xmr::read_index_info(dir.file("missing")), ErrorCode::Io, "No such file");
  // Bad options.
  EXPECT_XMR_ERROR(DenseIndex::load(dir.file("d.xmr"), {.mode = static_cast<LoadMode>(9)}), ErrorCode::InvalidArgument,
                   "options.mode (= 9)");
}

TEST(Persistence, CorruptBinarizerSectionNamesTheFile) {
  std::vector<std::uint8_t> file = small_binary_file_with_extras();
  // Damage the binariser's own CRC and reseal the section checksum: only the inner check fails.
  const auto at = static_cast<std::size_t>(Layout::offset(file, 4) + Layout::length(file, 4) - 1);
  file[at] ^= 0x01;
  Layout::reseal_section(file, 4);
  IndexExtras got;
  EXPECT_XMR_ERROR(BinaryIndex::from_bytes(file, {}, &got), ErrorCode::CorruptData,
                   "bytes: BINARIZER section: checksum", "checksum mismatch");
  // Without extras requested, the index itself still loads (the section checksum is intact).
  EXPECT_EQ(BinaryIndex::from_bytes(file).size(), 13);
}

// ---------------------------------------------------------------------------------------------
// Atomic saves.

TEST(Persistence, FailedWriteLeavesTheOldFile) {
  TempDir dir;
  const std::string path = dir.file("a.xmr");
  DenseIndex small = make_dense(10, 8, xmr::Metric::Cosine, xmr::DType::F32, 1);
  small.save(path);
  const std::vector<std::uint8_t> before = read_bytes(path);
  DenseIndex large = make_dense(20000, 64, xmr::Metric::Cosine, xmr::DType::F32, 2);  // ~5.3 MB
  // A file-size limit makes the write fail part-way (EFBIG), as a full disk would (ENOSPC).
  struct sigaction ignore {};
  ignore.sa_handler = SIG_IGN;
  struct sigaction old_action {};
  ASSERT_EQ(sigaction(SIGXFSZ, &ignore, &old_action), 0);
  rlimit old_limit{};
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &old_limit), 0);
  rlimit limit = old_limit;
  limit.rlim_cur = 1 << 20;
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &limit), 0);
  xmr_test::expect_error([&] { large.save(path); }, ErrorCode::Io, {"cannot write '" + path + "'", "File too large"},
                         "large.save(path)");
  // Binarisers are saved the same way.
  const std::string bin_path = dir.file("b.xmrb");
  limit.rlim_cur = old_limit.rlim_cur;
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &limit), 0);
  xmr::Binarizer::sign(8).save(bin_path);
  const std::vector<std::uint8_t> bin_before = read_bytes(bin_path);
  limit.rlim_cur = 4096;
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &limit), 0);
  xmr_test::expect_error([&] { xmr::Binarizer::lsh(64, 512, 1).save(bin_path); }, ErrorCode::Io,
                         {"cannot write '" + bin_path + "'", "File too large"}, "Binarizer::save");
  EXPECT_EQ(read_bytes(bin_path), bin_before);
  fs::remove(bin_path);
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &old_limit), 0);
  ASSERT_EQ(sigaction(SIGXFSZ, &old_action, nullptr), 0);
  EXPECT_EQ(read_bytes(path), before);
  EXPECT_EQ(dir.others("a.xmr"), std::vector<std::string>{});  // the temporary file is gone
  expect_same_dense(small, DenseIndex::load(path), 3);
  // A directory that does not exist.
  EXPECT_XMR_ERROR(small.save(dir.file("no/such/dir/x.xmr")), ErrorCode::Io, "no/such/dir/x.xmr",
                   "No such file or directory");
}

TEST(Persistence, SavedFileKeepsTheModeOfTheFileItReplaces) {
  TempDir dir;
  const std::string path = dir.file("m.xmr");
  DenseIndex index = make_dense(3, 2, xmr::Metric::Cosine, xmr::DType::F32, 1);
  index.save(path);
  EXPECT_EQ(fs::status(path).permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read | fs::perms::others_read);
  fs::permissions(path, fs::perms::owner_read | fs::perms::owner_write);
  index.save(path);
  EXPECT_EQ(fs::status(path).permissions() & fs::perms::all, fs::perms::owner_read | fs::perms::owner_write);
}

/// The saving process is killed (SIGKILL) at random moments, most of them inside a save; the file
/// must always load, verify and hold exactly one complete version.
TEST(Persistence, KillDuringSave) {
  TempDir dir;
  const std::string path = dir.file("k.xmr");
  using Clock = std::chrono::steady_clock;
  const auto t0 = Clock::now();
  const xmr_test::VersionedIndex v0 = xmr_test::make_version(0);
  const auto t1 = Clock::now();
  v0.index.save(path, v0.extras);
  const auto t2 = Clock::now();
  // Kill times: uniform over 1.5 saves from the moment the child starts its first save, so about
  // two thirds land inside a save and the rest after a completed one. The first child measures how
  // long its save takes (a fresh process, possibly under a sanitizer, is slower than this one) and
  // is killed right after it.
  auto save_us = std::chrono::duration_cast<std::chrono::microseconds>(t2 - t1).count();
  std::cout << "version build " << std::chrono::duration_cast<std::chrono::microseconds>(t1 - t0).count()
            << " us, save " << save_us << " us\n";

  Rng rng(2024);
  const int kKills = kSanitized ? 12 : 30;
  // The test means something only when kills land both inside saves and after completed ones.
  // Timing on a loaded machine (a sanitizer, a parallel ctest) can skew the random kill times
  // towards one kind; past kKills rounds, kills aim at the kind still short of `need`.
  const int need = kKills / 6;
  std::int64_t first = 1;
  std::int64_t last_seen = 0;
  int changed = 0;
  int mid_save = 0;
  int round = 0;
  for (; round < 4 * kKills && (round < kKills || mid_save < need || changed < need); ++round) {
    const std::string first_arg = std::to_string(first);  // no allocation after fork
    int pipe_fd[2];
    ASSERT_EQ(pipe(pipe_fd), 0);
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      if (dup2(pipe_fd[1], 1) < 0) _exit(126);
      execl(XMR_SAVE_LOOP_PATH, XMR_SAVE_LOOP_PATH, path.c_str(), first_arg.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    close(pipe_fd[1]);
    char c = 0;
    ASSERT_EQ(read(pipe_fd[0], &c, 1), 1) << "the save loop did not start";
    ASSERT_EQ(c, 'S');
    if (round == 0) {
      const auto started = Clock::now();
      ASSERT_EQ(read(pipe_fd[0], &c, 1), 1);
      ASSERT_EQ(c, 'D');
      save_us = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - started).count();
    } else if (round < kKills) {
      std::this_thread::sleep_for(std::chrono::microseconds(rng.uniform_int(0, save_us + save_us / 2)));
    } else if (changed < need) {  // after at least one completed save
      std::this_thread::sleep_for(std::chrono::microseconds(rng.uniform_int(2 * save_us, 4 * save_us)));
    } else {  // early in the first save
      std::this_thread::sleep_for(std::chrono::microseconds(rng.uniform_int(0, save_us / 4)));
    }
    ASSERT_EQ(kill(pid, SIGKILL), 0);
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(status)) << "the save loop exited by itself (status " << status << ")";
    char last = c;
    while (read(pipe_fd[0], &c, 1) == 1) last = c;
    close(pipe_fd[0]);
    if (last == 'S') ++mid_save;

    IndexExtras extras;
    const BinaryIndex loaded = BinaryIndex::load(path, {}, &extras);  // verifies every checksum
    ASSERT_GT(loaded.size(), 0);
    const std::int64_t v = loaded.ids()[0] / 1000000;
    ASSERT_TRUE(v == last_seen || (v >= first && v < first + 100000)) << "version " << v;
    const xmr_test::VersionedIndex expect = xmr_test::make_version(v);
    // Byte for byte the complete version: every code, id and label.
    ASSERT_TRUE(extras.labels.has_value());
    EXPECT_TRUE(loaded.to_bytes(extras) == expect.index.to_bytes(expect.extras)) << "version " << v;
    if (v != last_seen) ++changed;
    last_seen = v;
    first += 100000;  // the next child's versions are new ones
    // A child killed inside a save leaves its temporary file: nothing else.
    for (const std::string& other : dir.others("k.xmr")) {
      EXPECT_EQ(other.rfind("k.xmr.tmp-", 0), 0u) << other;
      fs::remove(dir.path() / other);
    }
  }
  std::cout << round << " kills (" << save_us << " us per save in the child): " << mid_save << " inside a save, "
            << changed << " after a new version was saved\n";
  EXPECT_GE(mid_save, need);
  EXPECT_GE(changed, need);
}

TEST(Persistence, SavesDuringConcurrentMutationHoldOneSnapshot) {
  TempDir dir;
  BinaryIndex index = make_binary(2000, 64, 3);
  std::atomic<bool> stop{false};
  std::thread mutator([&] {
    Rng rng(4);
    std::int64_t next = 10000000;
    while (!stop.load()) {
      const std::vector<std::uint8_t> c = codes_for(rng, 50, 8);
      std::vector<std::int64_t> ids(50);
      for (auto& id : ids) id = next++;
      index.add(MatrixView<const std::uint8_t>(c.data(), 50, 8), ids);
      index.remove(std::vector<std::int64_t>(ids.begin(), ids.begin() + 25));
    }
  });
  for (int i = 0; i < 30; ++i) {
    std::string name = "c";  // (not "c" + to_string(i) + ".xmr": GCC 12's -Wrestrict false positive)
    name += std::to_string(i);
    const std::string path = dir.file(name);
    index.save(path);
    const BinaryIndex loaded = BinaryIndex::load(path);
    EXPECT_GE(loaded.size(), 2000);
    EXPECT_EQ((loaded.size() - 2000) % 25, 0);  // whole adds and removes only
  }
  stop = true;
  mutator.join();
}

// ---------------------------------------------------------------------------------------------
// GPU.

TEST(Persistence, LoadStraightToTheGpu) {
  TempDir dir;
  DenseIndex dense = make_dense(500, 40, xmr::Metric::Cosine, xmr::DType::F16, 5);
  BinaryIndex binary = make_binary(700, 128, 6);
  dense.save(dir.file("d.xmr"));
  binary.save(dir.file("b.xmr"));
  if (xmr::gpu_count() == 0) {
    EXPECT_XMR_ERROR(DenseIndex::load(dir.file("d.xmr"), {.device = xmr::Device::Gpu}), ErrorCode::Unavailable,
                     "device (= gpu)");
    EXPECT_XMR_ERROR(BinaryIndex::load(dir.file("b.xmr"), {.mode = LoadMode::Map, .device = xmr::Device::Gpu}),
                     ErrorCode::Unavailable, "device (= gpu)");
    GTEST_SKIP() << "no GPU (" << xmr::device_summary() << "): checked that loading to the GPU is Unavailable";
  }
  for (const LoadMode mode : {LoadMode::Read, LoadMode::Map}) {
    const DenseIndex d = DenseIndex::load(dir.file("d.xmr"), {.mode = mode, .device = xmr::Device::Gpu});
    EXPECT_EQ(d.device(), xmr::Device::Gpu);
    const BinaryIndex b = BinaryIndex::load(dir.file("b.xmr"), {.mode = mode, .device = xmr::Device::Gpu});
    Rng rng(7);
    const std::vector<std::uint8_t> q = codes_for(rng, 33, 16);
    const auto gpu = b.search(MatrixView<const std::uint8_t>(q.data(), 33, 16), 10);
    const auto cpu = binary.search(MatrixView<const std::uint8_t>(q.data(), 33, 16), 10, {.device = xmr::Device::Cpu});
    EXPECT_EQ(gpu.device, xmr::Device::Gpu);
    EXPECT_EQ(gpu.ids, cpu.ids);
    EXPECT_EQ(gpu.distances, cpu.distances);
    const std::vector<float> dq = vectors_for(rng, 9, 40);
    const auto dg = d.search(MatrixView<const float>(dq.data(), 9, 40), 5);
    const auto dc = dense.search(MatrixView<const float>(dq.data(), 9, 40), 5, {.device = xmr::Device::Cpu});
    EXPECT_EQ(dg.device, xmr::Device::Gpu);
    for (std::size_t i = 0; i < dc.scores.size(); ++i) EXPECT_NEAR(dg.scores[i], dc.scores[i], 1e-4);
  }
}

}  // namespace
