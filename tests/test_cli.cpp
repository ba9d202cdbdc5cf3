// The xmr command-line tool: the .npy reader and writer, and end-to-end runs of the `xmr`
// binary (build -> search -> eval on generated files) compared with the library's own results,
// exit codes and error messages, and interop with Debian's NumPy when it is installed.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "npy.h"
#include "xmr/xmr.h"

namespace {

namespace fs = std::filesystem;
using xmr::cli::load_npy;
using xmr::cli::NpyArray;
using xmr::cli::NpyError;
using xmr::cli::NpyType;

// ---------------------------------------------------------------------------------------------
// .npy unit tests

std::vector<std::uint8_t> with_header(const std::string& dict, std::size_t data_bytes, int major = 1) {
  std::string h = dict;
  const std::size_t prefix = major == 1 ? 10 : 12;
  const std::size_t total = prefix + h.size() + 1;
  h.append((64 - total % 64) % 64, ' ');
  h += '\n';
  std::vector<std::uint8_t> out = {0x93, 'N', 'U', 'M', 'P', 'Y', static_cast<std::uint8_t>(major), 0};
  out.push_back(static_cast<std::uint8_t>(h.size() & 0xff));
  out.push_back(static_cast<std::uint8_t>((h.size() >> 8) & 0xff));
  if (major != 1) {
    out.push_back(static_cast<std::uint8_t>((h.size() >> 16) & 0xff));
    out.push_back(static_cast<std::uint8_t>(h.size() >> 24));
  }
  out.insert(out.end(), h.begin(), h.end());
  out.resize(out.size() + data_bytes, 0);
  return out;
}

/// parse_npy must throw NpyError whose message contains every needle.
void expect_npy_error(const std::vector<std::uint8_t>& bytes, std::initializer_list<const char*> needles) {
  try {
    (void)xmr::cli::parse_npy(bytes, "f.npy");
    ADD_FAILURE() << "no error; expected one mentioning " << *needles.begin();
  } catch (const NpyError& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.rfind("f.npy: ", 0), 0u) << msg;
    for (const char* n : needles) EXPECT_NE(msg.find(n), std::string::npos) << "'" << n << "' not in: " << msg;
  }
}

TEST(Npy, RoundTripsEveryTypeAndRank) {
  std::vector<std::uint64_t> raw(64);
  for (std::size_t i = 0; i < raw.size(); ++i) raw[i] = 0x0101010101010101ull * (i % 2);  // bool-safe bytes
  const std::vector<std::vector<std::int64_t>> shapes = {{}, {0}, {7}, {3, 5}, {1, 1}, {0, 4}, {2, 3, 4}};
  for (const NpyType t : {NpyType::F32, NpyType::F16, NpyType::F64, NpyType::U8, NpyType::I8, NpyType::Bool,
                          NpyType::I32, NpyType::I64}) {
    for (const auto& shape : shapes) {
      const std::vector<std::uint8_t> bytes = xmr::cli::npy_bytes(t, shape, raw.data());
      std::int64_t count = 1;
      for (const std::int64_t dim : shape) count *= dim;
      EXPECT_EQ((bytes.size() - static_cast<std::size_t>(count * xmr::cli::item_size(t))) % 64, 0u)
          << "data must start at a multiple of 64";
      const NpyArray a = xmr::cli::parse_npy(bytes, "x.npy");
      EXPECT_EQ(a.type, t);
      EXPECT_EQ(a.shape, shape);
      if (a.bytes > 0) {
        EXPECT_EQ(0, std::memcmp(a.data(), raw.data(), static_cast<std::size_t>(a.bytes)));
      }
    }
  }
}

TEST(Npy, ReadsVersions2And3AndNumpyVariants) {
  auto v2 = with_header("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 24, 2);
  EXPECT_EQ(xmr::cli::parse_npy(v2, "v2").shape, (std::vector<std::int64_t>{2, 3}));
  auto v3 = with_header("{\"descr\": \"<i8\", \"fortran_order\": False, \"shape\": (4,)}", 32, 3);
  EXPECT_EQ(xmr::cli::parse_npy(v3, "v3").type, NpyType::I64);
  auto ones = with_header("{'descr': '<u1', 'fortran_order': False, 'shape': (5,), }", 5);
  EXPECT_EQ(xmr::cli::parse_npy(ones, "u1").type, NpyType::U8);
  // A 1-d Fortran-order array is the same bytes as C order.
  auto f1 = with_header("{'descr': '<f2', 'fortran_order': True, 'shape': (3,), }", 6);
  EXPECT_EQ(xmr::cli::parse_npy(f1, "f1").type, NpyType::F16);
  auto scalar = with_header("{'descr': '<f8', 'fortran_order': False, 'shape': (), }", 8);
  EXPECT_EQ(xmr::cli::parse_npy(scalar, "s").count(), 1);
}

TEST(Npy, RejectsBadFilesNamingTheProblem) {
  expect_npy_error({1, 2, 3}, {"not a .npy file"});
  std::vector<std::uint8_t> v = with_header("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 24);
  v[6] = 4;
  expect_npy_error(v, {"unsupported .npy format version 4.0"});
  expect_npy_error(with_header("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 23),
                   {"truncated", "float32 [2, 3]", "24", "23"});
  expect_npy_error(with_header("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 25),
                   {"trailing bytes", "25"});
  expect_npy_error(with_header("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", 24),
                   {"Fortran", "ascontiguousarray"});
  expect_npy_error(with_header("{'descr': '>f4', 'fortran_order': False, 'shape': (2, 3), }", 24),
                   {"unsupported dtype '>f4'"});
  expect_npy_error(with_header("{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }", 16),
                   {"unsupported dtype '<c8'"});
  expect_npy_error(with_header("{'descr': '<f4', 'shape': (2, 3), }", 24), {"malformed", "'fortran_order'"});
  expect_npy_error(with_header("{'descr': '<f4', 'fortran_order': False, 'shape': (2, -3), }", 24),
                   {"malformed", "non-negative integer"});
  expect_npy_error(with_header("{'descr': '<f4', 'fortran_order': Nope, 'shape': (2, 3), }", 24),
                   {"malformed", "True or False"});
  expect_npy_error(with_header("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999, 99999999999), }", 0),
                   {"too large"});
  auto b = with_header("{'descr': '|b1', 'fortran_order': False, 'shape': (3,), }", 3);
  b[b.size() - 2] = 2;
  expect_npy_error(b, {"bool element 1 is 2"});
  auto cut = with_header("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 24);
  cut.resize(30);  // inside the header
  expect_npy_error(cut, {"truncated .npy header"});
}

TEST(Npy, LoadChecksTheFileSizeAndNamesThePath) {
  const fs::path dir = fs::temp_directory_path() / ("xmr_npy_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string p = (dir / "a.npy").string();
  std::vector<float> v = {1, 2, 3, 4, 5, 6};
  const std::int64_t shape[2] = {2, 3};
  xmr::cli::save_npy(p, NpyType::F32, shape, v.data());
  const NpyArray a = load_npy(p);
  ASSERT_EQ(a.describe(), "float32 [2, 3]");
  EXPECT_EQ(a.f32("--x").row(1)[2], 6.0f);
  EXPECT_THROW((void)a.u8("--x"), NpyError);
  EXPECT_THROW((void)a.i64("--x"), NpyError);
  fs::resize_file(p, fs::file_size(p) - 1);
  try {
    (void)load_npy(p);
    ADD_FAILURE();
  } catch (const NpyError& e) {
    EXPECT_NE(std::string(e.what()).find(p + ": truncated"), std::string::npos) << e.what();
  }
  EXPECT_THROW((void)load_npy((dir / "missing.npy").string()), NpyError);
  fs::remove_all(dir);
}

TEST(Npy, LabelsFromMultiHotOrClassIndices) {
  const std::int64_t idx[4] = {2, 0, 2, 1};
  const std::int64_t s1[1] = {4};
  NpyArray a = xmr::cli::parse_npy(xmr::cli::npy_bytes(NpyType::I64, s1, idx), "l.npy");
  std::int64_t classes = 0;
  const std::vector<std::uint8_t> hot = xmr::cli::multi_hot_labels(a, "--labels", classes);
  EXPECT_EQ(classes, 3);
  EXPECT_EQ(hot, (std::vector<std::uint8_t>{0, 0, 1, 1, 0, 0, 0, 0, 1, 0, 1, 0}));
  const std::int32_t bad[4] = {0, 1, 2, 1};
  const std::int64_t s2[2] = {2, 2};
  a = xmr::cli::parse_npy(xmr::cli::npy_bytes(NpyType::I32, s2, bad), "l.npy");
  try {
    (void)xmr::cli::multi_hot_labels(a, "--labels", classes);
    ADD_FAILURE();
  } catch (const NpyError& e) {
    EXPECT_NE(std::string(e.what()).find("label [1, 0] (= 2)"), std::string::npos) << e.what();
  }
}

// ---------------------------------------------------------------------------------------------
// End to end: the xmr binary

struct RunResult {
  int code = -1;
  std::string out;
  std::string err;
};

class Cli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("xmr_cli_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  RunResult xmr(const std::string& args) const {
    const std::string out = path("stdout.txt");
    const std::string err = path("stderr.txt");
    const std::string cmd = std::string(XMR_CLI_PATH) + " " + args + " >" + out + " 2>" + err;
    const int status = std::system(cmd.c_str());
    RunResult r;
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.out = slurp(out);
    r.err = slurp(err);
    return r;
  }

  static std::string slurp(const std::string& p) {
    std::ifstream f(p);
    std::stringstream s;
    s << f.rdbuf();
    return s.str();
  }

  template <class T>
  void save(const std::string& name, NpyType t, std::int64_t rows, std::int64_t cols, const std::vector<T>& v) const {
    const std::int64_t shape[2] = {rows, cols};
    xmr::cli::save_npy(path(name), t, shape, v.data());
  }

  fs::path dir_;
};

/// The value of "key" in a one-line JSON object (numbers, strings and null).
std::string json_field(const std::string& json, const std::string& key) {
  const std::size_t at = json.find("\"" + key + "\": ");
  if (at == std::string::npos) return "<missing>";
  std::size_t v = at + key.size() + 4;
  std::size_t end = json.find_first_of(",}", v);
  std::string s = json.substr(v, end - v);
  if (!s.empty() && s.front() == '"') s = s.substr(1, s.size() - 2);
  return s;
}

xmr::synth::CrossModalData small_data() {
  xmr::synth::CrossModalSpec spec;
  spec.num_images = 57;
  spec.captions_per_image = 5;
  spec.dim = 19;  // not a multiple of 8
  spec.num_labels = 6;
  spec.seed = 3;
  return xmr::synth::make_cross_modal(spec);
}

TEST_F(Cli, HelpOnEveryCommand) {
  for (const char* c :
       {"", "build", "search", "eval", "eval map", "eval recall", "eval precision", "eval ndcg", "eval neighbor-recall",
        "eval pr", "binarize", "binarize train", "binarize apply", "info", "demo"}) {
    const RunResult r = xmr(std::string(c) + " --help");
    EXPECT_EQ(r.code, 0) << c << ": " << r.err;
    EXPECT_NE(r.out.find("Usage"), std::string::npos) << c;
  }
  EXPECT_EQ(xmr("--version").code, 0);
}

TEST_F(Cli, BuildSearchEvalRoundTripMatchesTheLibrary) {
  const auto d = small_data();
  save("texts.npy", NpyType::F32, d.num_texts, d.dim, d.text_embeddings);
  save("images.npy", NpyType::F32, d.num_images, d.dim, d.image_embeddings);
  save("text_labels.npy", NpyType::U8, d.num_texts, d.num_labels, d.text_labels);
  save("image_labels.npy", NpyType::U8, d.num_images, d.num_labels, d.image_labels);

  RunResult r = xmr("build --base " + path("texts.npy") + " --metric cosine --out " + path("t.xmr") + " --labels " +
                    path("text_labels.npy"));
  ASSERT_EQ(r.code, 0) << r.err;
  r = xmr("info " + path("t.xmr"));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("dense index: 285 vectors, dim 19, metric cosine"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("labels: 6 classes"), std::string::npos) << r.out;

  const std::int64_t k = 7;
  r = xmr("search --index " + path("t.xmr") + " --queries " + path("images.npy") + " -k 7 --out-ids " +
          path("ids.npy") + " --out-scores " + path("scores.npy") + " --device cpu --threads 2");
  ASSERT_EQ(r.code, 0) << r.err;
  xmr::DenseIndex lib({.dim = d.dim, .metric = xmr::Metric::Cosine});
  lib.add(d.texts());
  const xmr::SearchResult want = lib.search(d.images(), k, {.device = xmr::Device::Cpu});
  const NpyArray ids = load_npy(path("ids.npy"));
  const NpyArray scores = load_npy(path("scores.npy"));
  ASSERT_EQ(ids.describe(), "int64 [57, 7]");
  ASSERT_EQ(scores.describe(), "float32 [57, 7]");
  const auto iv = ids.i64("ids");
  const auto sv = scores.f32("scores");
  for (std::int64_t q = 0; q < d.num_images; ++q)
    for (std::int64_t j = 0; j < k; ++j) {
      EXPECT_EQ(iv.row(q)[j], want.id(q, j));
      EXPECT_EQ(sv.row(q)[j], want.score(q, j));
    }

  // The same search straight from the .npy database, as JSON lines.
  r = xmr("search --base " + path("texts.npy") + " --queries " + path("images.npy") +
          " --metric cosine -k 7 --device cpu --out-jsonl " + path("r.jsonl"));
  ASSERT_EQ(r.code, 0) << r.err;
  std::ifstream jl(path("r.jsonl"));
  std::string line;
  std::getline(jl, line);
  std::string expect_ids = "\"ids\": [";
  for (std::int64_t j = 0; j < k; ++j) expect_ids += (j ? ", " : "") + std::to_string(want.id(0, j));
  EXPECT_EQ(line.rfind("{\"query\": 0, " + expect_ids + "]", 0), 0u) << line;

  // mAP of the same ranking.
  r = xmr("eval map --queries " + path("images.npy") + " --base " + path("texts.npy") +
          " --metric cosine --query-labels " + path("image_labels.npy") + " --base-labels " + path("text_labels.npy") +
          " --json --device cpu");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto m = xmr::eval::map_dense(d.images(), d.texts(), xmr::Metric::Cosine,
                                      {d.image_labels.data(), d.num_images, d.num_labels},
                                      {d.text_labels.data(), d.num_texts, d.num_labels});
  EXPECT_EQ(json_field(r.out, "variant"), "map_all");
  EXPECT_EQ(json_field(r.out, "k"), "null");
  EXPECT_EQ(json_field(r.out, "queries"), "57");
  EXPECT_EQ(json_field(r.out, "tie_policy"), "ascending_index");
  EXPECT_NEAR(std::stod(json_field(r.out, "map")), m.map, 1e-12) << r.out;

  r = xmr("eval map --queries " + path("images.npy") + " --base " + path("texts.npy") +
          " --metric cosine --query-labels " + path("image_labels.npy") + " --base-labels " + path("text_labels.npy") +
          " --variant map_at_k --k 20 --json --device cpu");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto m20 = xmr::eval::map_dense(
      d.images(), d.texts(), xmr::Metric::Cosine, {d.image_labels.data(), d.num_images, d.num_labels},
      {d.text_labels.data(), d.num_texts, d.num_labels}, {.variant = xmr::eval::MapVariant::AtK, .k = 20});
  EXPECT_EQ(json_field(r.out, "k"), "20");
  EXPECT_NEAR(std::stod(json_field(r.out, "map")), m20.map, 1e-12) << r.out;

  r = xmr("eval recall --images " + path("images.npy") + " --texts " + path("texts.npy") +
          " --captions-per-image 5 --json");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto rec = xmr::eval::recall_at_k(d.images(), d.texts(), 5);
  EXPECT_NEAR(std::stod(json_field(r.out, "i2t_r1")), rec.i2t_r1, 1e-12) << r.out;
  EXPECT_NEAR(std::stod(json_field(r.out, "t2i_r10")), rec.t2i_r10, 1e-12) << r.out;
  EXPECT_NEAR(std::stod(json_field(r.out, "r_mean")), rec.r_mean, 1e-12) << r.out;
}

TEST_F(Cli, HammingAndTwoStageMatchTheLibrary) {
  const auto d = small_data();
  // Codes: 24 bits (3 bytes, an odd byte count) from random hyperplanes.
  const xmr::Binarizer lsh = xmr::Binarizer::lsh(d.dim, 24, 5);
  const std::vector<std::uint8_t> tc = lsh.encode(d.texts());
  const std::vector<std::uint8_t> ic = lsh.encode(d.images());
  save("tc.npy", NpyType::U8, d.num_texts, 3, tc);
  save("ic.npy", NpyType::U8, d.num_images, 3, ic);
  save("texts.npy", NpyType::F32, d.num_texts, d.dim, d.text_embeddings);
  save("images.npy", NpyType::F32, d.num_images, d.dim, d.image_embeddings);

  RunResult r = xmr("search --base " + path("tc.npy") + " --queries " + path("ic.npy") +
                    " --metric hamming -k 9 --out-ids " + path("ids.npy") + " --out-scores " + path("dist.npy"));
  ASSERT_EQ(r.code, 0) << r.err;
  xmr::BinaryIndex bin({.bits = 24});
  bin.add(xmr::MatrixView<const std::uint8_t>(tc.data(), d.num_texts, 3));
  const auto want = bin.search(xmr::MatrixView<const std::uint8_t>(ic.data(), d.num_images, 3), 9);
  const NpyArray ids = load_npy(path("ids.npy"));
  const NpyArray dist = load_npy(path("dist.npy"));
  ASSERT_EQ(dist.describe(), "int32 [57, 9]");
  const auto* dv = static_cast<const std::int32_t*>(dist.data());
  for (std::int64_t i = 0; i < d.num_images * 9; ++i) {
    EXPECT_EQ(ids.i64("ids").data()[i], want.ids[static_cast<std::size_t>(i)]);
    EXPECT_EQ(dv[i], want.distances[static_cast<std::size_t>(i)]);
  }

  // Two-stage: Hamming shortlist of 30, exact cosine re-score, top 5.
  r = xmr("search --base " + path("texts.npy") + " --queries " + path("images.npy") + " --base-codes " +
          path("tc.npy") + " --query-codes " + path("ic.npy") + " --shortlist 30 --metric cosine -k 5 --out-ids " +
          path("ids2.npy") + " --out-scores " + path("s2.npy") + " --batch 10");
  ASSERT_EQ(r.code, 0) << r.err;
  xmr::Collection col({.dim = d.dim, .metric = xmr::Metric::Cosine, .code_bits = 24});
  col.add({.embeddings = d.texts(), .codes = {tc.data(), d.num_texts, 3}});
  xmr::PipelineOptions po;
  po.k = 5;
  po.candidates = 30;
  po.shortlist = xmr::ShortlistBy::Codes;
  po.rescore = xmr::RescoreBy::Embeddings;
  const auto p = xmr::retrieve(col, {.embeddings = d.images(), .codes = {ic.data(), d.num_images, 3}}, po);
  const NpyArray ids2 = load_npy(path("ids2.npy"));
  const NpyArray s2 = load_npy(path("s2.npy"));
  for (std::int64_t i = 0; i < d.num_images * 5; ++i) {
    EXPECT_EQ(ids2.i64("ids").data()[i], p.ids[static_cast<std::size_t>(i)]);
    EXPECT_EQ(s2.f32("s").data()[i], p.scores[static_cast<std::size_t>(i)]);
  }

  // mAP over the codes equals the library's.
  save("tl.npy", NpyType::U8, d.num_texts, d.num_labels, d.text_labels);
  save("il.npy", NpyType::U8, d.num_images, d.num_labels, d.image_labels);
  r = xmr("eval map --queries " + path("ic.npy") + " --base " + path("tc.npy") + " --metric hamming --query-labels " +
          path("il.npy") + " --base-labels " + path("tl.npy") + " --variant map_k_first_relevant --k 50 --json");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto m = xmr::eval::map_hamming(
      {ic.data(), d.num_images, 3}, {tc.data(), d.num_texts, 3}, {d.image_labels.data(), d.num_images, d.num_labels},
      {d.text_labels.data(), d.num_texts, d.num_labels}, {.variant = xmr::eval::MapVariant::KFirstRelevant, .k = 50});
  EXPECT_NEAR(std::stod(json_field(r.out, "map")), m.map, 1e-12) << r.out;
  EXPECT_EQ(json_field(r.out, "variant"), "map_k_first_relevant");
}

TEST_F(Cli, RankingMetricsAndPrCurveMatchTheLibrary) {
  const auto d = small_data();
  save("texts.npy", NpyType::F32, d.num_texts, d.dim, d.text_embeddings);
  save("images.npy", NpyType::F32, d.num_images, d.dim, d.image_embeddings);
  save("tl.npy", NpyType::U8, d.num_texts, d.num_labels, d.text_labels);
  save("il.npy", NpyType::U8, d.num_images, d.num_labels, d.image_labels);
  const xmr::MatrixView<const std::uint8_t> il(d.image_labels.data(), d.num_images, d.num_labels);
  const xmr::MatrixView<const std::uint8_t> tl(d.text_labels.data(), d.num_texts, d.num_labels);
  xmr::DenseIndex lib({.dim = d.dim, .metric = xmr::Metric::Cosine});
  lib.add(d.texts());
  const auto top = lib.search(d.images(), 25, {.device = xmr::Device::Cpu});
  const xmr::MatrixView<const std::int64_t> ranked(top.ids.data(), d.num_images, 25);
  save("ids.npy", NpyType::I64, d.num_images, 25, top.ids);
  const std::string labels = " --query-labels " + path("il.npy") + " --base-labels " + path("tl.npy");
  const std::string from_files =
      " --queries " + path("images.npy") + " --base " + path("texts.npy") + " --metric cosine --device cpu";

  for (const bool ndcg : {false, true}) {
    const auto want = ndcg ? xmr::eval::ndcg_at_k(ranked, il, tl, 25) : xmr::eval::precision_at_k(ranked, il, tl, 25);
    for (const std::string& source : {" --ids " + path("ids.npy"), from_files}) {
      const RunResult r = xmr(std::string("eval ") + (ndcg ? "ndcg" : "precision") + source + labels + " -k 25 --json");
      ASSERT_EQ(r.code, 0) << r.err;
      EXPECT_EQ(json_field(r.out, "metric"), ndcg ? "ndcg_at_k" : "precision_at_k");
      EXPECT_EQ(json_field(r.out, "k"), "25");
      EXPECT_NEAR(std::stod(json_field(r.out, "mean")), want.mean, 1e-12) << source << ": " << r.out;
    }
  }
  // Recall of the top 10 against the exact top 25 (10 of 25 at most).
  RunResult r =
      xmr("eval neighbor-recall --ids " + path("ids.npy") + " --ground-truth " + path("ids.npy") + " -k 10 --json");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NEAR(std::stod(json_field(r.out, "mean")), 10.0 / 25.0, 1e-12) << r.out;
  EXPECT_EQ(xmr("eval precision --ids " + path("ids.npy") + from_files + labels).code, 2) << "both sources";

  // PR curve over Hamming radius: the CSV and JSON equal the library's curve.
  const xmr::Binarizer lsh = xmr::Binarizer::lsh(d.dim, 16, 9);
  const auto tc = lsh.encode(d.texts());
  const auto ic = lsh.encode(d.images());
  save("tc.npy", NpyType::U8, d.num_texts, 2, tc);
  save("ic.npy", NpyType::U8, d.num_images, 2, ic);
  r = xmr("eval pr --queries " + path("ic.npy") + " --base " + path("tc.npy") + labels + " --csv " + path("pr.csv") +
          " --json");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto curve = xmr::eval::pr_curve_hamming({ic.data(), d.num_images, 2}, {tc.data(), d.num_texts, 2}, il, tl);
  std::ifstream csv(path("pr.csv"));
  std::string line;
  std::getline(csv, line);
  EXPECT_EQ(line, "radius,precision,recall,queries_with_hit,pooled_precision,pooled_recall");
  for (std::int64_t radius = 0; radius <= 16; ++radius) {
    ASSERT_TRUE(std::getline(csv, line));
    double p = 0;
    double rec = 0;
    long long rr = 0;
    ASSERT_EQ(std::sscanf(line.c_str(), "%lld,%lf,%lf", &rr, &p, &rec), 3) << line;
    EXPECT_EQ(rr, radius);
    EXPECT_NEAR(p, curve.precision[static_cast<std::size_t>(radius)], 1e-12);
    EXPECT_NEAR(rec, curve.recall[static_cast<std::size_t>(radius)], 1e-12);
  }
  EXPECT_EQ(json_field(r.out, "bits"), "16");
}

TEST_F(Cli, BinarizeTrainApplyAndFloatQueriesAgainstACodeIndex) {
  const auto d = small_data();
  save("texts.npy", NpyType::F32, d.num_texts, d.dim, d.text_embeddings);
  // Pair every caption with its image for training.
  std::vector<float> paired;
  for (std::int64_t t = 0; t < d.num_texts; ++t) {
    const float* row = d.image_embeddings.data() + d.text_image[static_cast<std::size_t>(t)] * d.dim;
    paired.insert(paired.end(), row, row + d.dim);
  }
  save("paired_images.npy", NpyType::F32, d.num_texts, d.dim, paired);
  save("images.npy", NpyType::F32, d.num_images, d.dim, d.image_embeddings);
  RunResult r = xmr("binarize train --method cross_modal_itq --train " + path("paired_images.npy") + " --train-texts " +
                    path("texts.npy") + " --bits 16 --out " + path("m.xmrb"));
  ASSERT_EQ(r.code, 0) << r.err;
  r = xmr("binarize apply --model " + path("m.xmrb") + " --modality text --input " + path("texts.npy") + " --out " +
          path("tc.npy"));
  ASSERT_EQ(r.code, 0) << r.err;
  const auto model = xmr::CrossModalBinarizer::load(path("m.xmrb"));
  const std::vector<std::uint8_t> want = model.text.encode(d.texts());
  const NpyArray tc = load_npy(path("tc.npy"));
  ASSERT_EQ(tc.describe(), "uint8 [285, 2]");
  EXPECT_EQ(0, std::memcmp(tc.data(), want.data(), want.size()));
  r = xmr("info " + path("m.xmrb"));
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("image binariser: cross_modal_itq, dim 19 -> 16 bits"), std::string::npos) << r.out;

  // A code index carrying the binariser answers float image queries.
  r = xmr("build --base " + path("tc.npy") + " --metric hamming --binarizer " + path("m.xmrb") + " --out " +
          path("c.xmr"));
  ASSERT_EQ(r.code, 0) << r.err;
  r = xmr("search --index " + path("c.xmr") + " --queries " + path("images.npy") + " -k 4 --out-ids " +
          path("ids.npy"));
  EXPECT_EQ(r.code, 3) << "float queries against a cross-modal code index need --query-modality";
  EXPECT_NE(r.err.find("--query-modality"), std::string::npos) << r.err;
  r = xmr("search --index " + path("c.xmr") + " --queries " + path("images.npy") +
          " --query-modality image -k 4 --out-ids " + path("ids.npy"));
  ASSERT_EQ(r.code, 0) << r.err;
  xmr::BinaryIndex bin({.bits = 16});
  bin.add(xmr::MatrixView<const std::uint8_t>(want.data(), d.num_texts, 2));
  const std::vector<std::uint8_t> qc = model.image.encode(d.images());
  const auto res = bin.search(xmr::MatrixView<const std::uint8_t>(qc.data(), d.num_images, 2), 4);
  const NpyArray ids = load_npy(path("ids.npy"));
  for (std::int64_t i = 0; i < d.num_images * 4; ++i)
    EXPECT_EQ(ids.i64("ids").data()[i], res.ids[static_cast<std::size_t>(i)]);
}

TEST_F(Cli, CustomIdsAndFloat16) {
  const auto d = small_data();
  std::vector<xmr::half> h(d.text_embeddings.size());
  for (std::size_t i = 0; i < h.size(); ++i) h[i] = xmr::to_half(d.text_embeddings[i]);
  save("t16.npy", NpyType::F16, d.num_texts, d.dim, h);
  std::vector<std::int64_t> ids(static_cast<std::size_t>(d.num_texts));
  for (std::size_t i = 0; i < ids.size(); ++i) ids[i] = 1000 - 3 * static_cast<std::int64_t>(i);  // descending
  const std::int64_t s1[1] = {d.num_texts};
  xmr::cli::save_npy(path("ids.npy"), NpyType::I64, s1, ids.data());
  save("labels.npy", NpyType::U8, d.num_texts, d.num_labels, d.text_labels);
  save("q.npy", NpyType::F32, d.num_images, d.dim, d.image_embeddings);
  RunResult r = xmr("build --base " + path("t16.npy") + " --metric ip --ids " + path("ids.npy") + " --labels " +
                    path("labels.npy") + " --out " + path("t.xmr"));
  ASSERT_EQ(r.code, 0) << r.err;
  r = xmr("search --index " + path("t.xmr") + " --queries " + path("q.npy") + " -k 3 --out-ids " + path("o.npy"));
  ASSERT_EQ(r.code, 0) << r.err;
  xmr::DenseIndex lib({.dim = d.dim, .metric = xmr::Metric::InnerProduct, .storage = xmr::DType::F16});
  lib.add(xmr::MatrixView<const xmr::half>(h.data(), d.num_texts, d.dim), ids);
  const auto want = lib.search(d.images(), 3);
  const NpyArray o = load_npy(path("o.npy"));
  for (std::int64_t i = 0; i < d.num_images * 3; ++i)
    EXPECT_EQ(o.i64("o").data()[i], want.ids[static_cast<std::size_t>(i)]);
  // Labels were stored in id order: the smallest id is the last row.
  xmr::IndexExtras ex;
  (void)xmr::DenseIndex::load(path("t.xmr"), {}, &ex);
  ASSERT_TRUE(ex.labels.has_value());
  for (std::int64_t c = 0; c < d.num_labels; ++c)
    EXPECT_EQ(ex.labels->has(0, c), d.text_labels[static_cast<std::size_t>((d.num_texts - 1) * d.num_labels + c)] != 0);
}

TEST_F(Cli, BadInputsGiveClearErrorsAndExitCodes) {
  const auto d = small_data();
  save("texts.npy", NpyType::F32, d.num_texts, d.dim, d.text_embeddings);
  save("images.npy", NpyType::F32, d.num_images, d.dim, d.image_embeddings);
  std::vector<std::int64_t> wrong(static_cast<std::size_t>(d.num_images * d.dim), 1);
  save("int_queries.npy", NpyType::I64, d.num_images, d.dim, wrong);
  fs::copy_file(path("texts.npy"), path("cut.npy"));
  fs::resize_file(path("cut.npy"), fs::file_size(path("cut.npy")) - 10);

  const std::string out = " --out-ids " + path("o.npy");
  RunResult r = xmr("search --base " + path("cut.npy") + " --queries " + path("images.npy") + " --metric cosine" + out);
  EXPECT_EQ(r.code, 3);
  EXPECT_NE(r.err.find(path("cut.npy") + ": truncated"), std::string::npos) << r.err;
  r = xmr("search --base " + path("texts.npy") + " --queries " + path("int_queries.npy") + " --metric cosine" + out);
  EXPECT_EQ(r.code, 3);
  EXPECT_NE(r.err.find("--queries " + path("int_queries.npy") + ": expected float32 or float16"), std::string::npos)
      << r.err;
  r = xmr("search --base " + path("texts.npy") + " --queries " + path("missing.npy") + " --metric cosine" + out);
  EXPECT_EQ(r.code, 3);
  EXPECT_NE(r.err.find(path("missing.npy") + ": cannot open"), std::string::npos) << r.err;
  r = xmr("search --base " + path("texts.npy") + " --queries " + path("texts.npy") + " --metric hamming" + out);
  EXPECT_EQ(r.code, 3);
  EXPECT_NE(r.err.find("expected uint8"), std::string::npos) << r.err;
  // Usage errors.
  EXPECT_EQ(xmr("search --queries " + path("images.npy") + out).code, 2);  // neither --base nor --index
  EXPECT_EQ(xmr("search --base " + path("texts.npy") + " --queries " + path("images.npy") + out).code,
            2);  // --metric missing
  EXPECT_EQ(xmr("search --base x --queries y --metric cosine -k 0").code, 2);
  EXPECT_EQ(xmr("search --base x --queries y --metric euclid").code, 2);
  EXPECT_EQ(xmr("frobnicate").code, 2);
  r = xmr("eval map --queries " + path("images.npy") + " --base " + path("texts.npy") +
          " --metric cosine --query-labels a --base-labels b --variant map_at_k");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("needs --k"), std::string::npos) << r.err;
  // Dimension mismatch and NaN queries: the library's InvalidArgument, exit 3.
  std::vector<float> nan_q(d.image_embeddings);
  nan_q[5] = std::nanf("");
  save("nan.npy", NpyType::F32, d.num_images, d.dim, nan_q);
  r = xmr("search --base " + path("texts.npy") + " --queries " + path("nan.npy") + " --metric cosine" + out);
  EXPECT_EQ(r.code, 3);
  EXPECT_NE(r.err.find("InvalidArgument"), std::string::npos) << r.err;
  save("short.npy", NpyType::F32, 3, d.dim - 1, std::vector<float>(static_cast<std::size_t>(3 * (d.dim - 1)), 1.0f));
  r = xmr("search --base " + path("texts.npy") + " --queries " + path("short.npy") + " --metric cosine" + out);
  EXPECT_EQ(r.code, 3);
  // Device: a GPU requested on a machine without one.
  if (xmr::gpu_count() == 0) {
    r = xmr("search --base " + path("texts.npy") + " --queries " + path("images.npy") +
            " --metric cosine --device gpu" + out);
    EXPECT_EQ(r.code, 4) << r.err;
    EXPECT_NE(r.err.find("Unavailable"), std::string::npos) << r.err;
  }
  // Nothing is left behind by a failed run.
  EXPECT_FALSE(fs::exists(path("o.npy")));
}

TEST_F(Cli, NumpyInterop) {
  if (std::system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") != 0)
    GTEST_SKIP() << "Debian's python3-numpy is not installed (/usr/bin/python3 -c 'import numpy' fails)";
  const std::string py = path("make.py");
  {
    std::ofstream f(py);
    f << "import numpy as np, sys\n"
         "d = sys.argv[1]\n"
         "rng = np.random.default_rng(1)\n"
         "np.save(d + '/f32.npy', rng.standard_normal((40, 13)).astype(np.float32))\n"
         "np.save(d + '/f16.npy', rng.standard_normal((40, 13)).astype(np.float16))\n"
         "np.save(d + '/q.npy', rng.standard_normal((5, 13)).astype(np.float32))\n"
         "np.save(d + '/fortran.npy', np.asfortranarray(rng.standard_normal((4, 3)).astype(np.float32)))\n"
         "np.save(d + '/lab.npy', rng.integers(0, 2, (40, 4)).astype(bool))\n"
         "np.save(d + '/qlab.npy', rng.integers(0, 2, (5, 4)).astype(bool))\n"
         "np.lib.format.write_array(open(d + '/v2.npy', 'wb'), np.arange(6, dtype=np.int64), version=(2, 0))\n"
         "bits = rng.integers(0, 2, (40, 40)).astype(np.uint8)\n"
         "np.save(d + '/codes.npy', np.packbits(bits, axis=1, bitorder='little'))\n";
  }
  ASSERT_EQ(std::system(("/usr/bin/python3 " + py + " " + dir_.string()).c_str()), 0);
  EXPECT_EQ(load_npy(path("f16.npy")).describe(), "float16 [40, 13]");
  EXPECT_EQ(load_npy(path("lab.npy")).describe(), "bool [40, 4]");
  EXPECT_EQ(load_npy(path("v2.npy")).describe(), "int64 [6]");
  EXPECT_EQ(load_npy(path("codes.npy")).describe(), "uint8 [40, 5]");
  EXPECT_THROW((void)load_npy(path("fortran.npy")), NpyError);

  RunResult r = xmr("search --base " + path("f16.npy") + " --queries " + path("q.npy") +
                    " --metric cosine -k 4 --out-ids " + path("ids.npy") + " --out-scores " + path("s.npy"));
  ASSERT_EQ(r.code, 0) << r.err;
  r = xmr("eval map --queries " + path("q.npy") + " --base " + path("f32.npy") + " --metric ip --query-labels " +
          path("qlab.npy") + " --base-labels " + path("lab.npy") + " --json");
  ASSERT_EQ(r.code, 0) << r.err;
  // NumPy reads what xmr wrote, and a brute-force NumPy ranking agrees.
  const std::string check = path("check.py");
  {
    std::ofstream f(check);
    f << "import numpy as np, sys\n"
         "d = sys.argv[1]\n"
         "ids = np.load(d + '/ids.npy'); s = np.load(d + '/s.npy')\n"
         "assert ids.dtype == np.int64 and ids.shape == (5, 4), (ids.dtype, ids.shape)\n"
         "assert s.dtype == np.float32 and s.shape == (5, 4)\n"
         "b = np.load(d + '/f16.npy').astype(np.float64); q = np.load(d + '/q.npy').astype(np.float64)\n"
         "b /= np.linalg.norm(b, axis=1, keepdims=True); q /= np.linalg.norm(q, axis=1, keepdims=True)\n"
         "ref = np.argsort(-(q @ b.T), axis=1, kind='stable')[:, :4]\n"
         "assert (ref == ids).all(), (ref, ids)\n";
  }
  EXPECT_EQ(std::system(("/usr/bin/python3 " + check + " " + dir_.string()).c_str()), 0);
}

}  // namespace
