// `xmr binarize train|apply`: learn a binariser from .npy embeddings, and encode embeddings into
// packed codes (.npy uint8 [N, bits/8], LSB first as numpy.packbits(..., bitorder='little')).
#include <cstdio>
#include <memory>
#include <string>

#include "commands.h"
#include "npy.h"
#include "util.h"
#include "xmr/xmr.h"

namespace xmr::cli {
namespace {

struct TrainArgs {
  std::string method;
  std::string train;
  std::string train_texts;
  std::int64_t bits = 64;
  std::string out;
  std::uint64_t seed = 0;
  std::int64_t iterations = 50;
  int threads = 0;
};

struct ApplyArgs {
  std::string model;
  std::string input;
  std::string out;
  std::string modality;
  int threads = 0;
};

void run_train(const TrainArgs& a) {
  set_threads(a.threads);
  const Stopwatch clock;
  const NpyArray train = load_npy(a.train);
  train.require_matrix("--train");
  const MatrixView<const float> x = train.f32("--train");
  if (a.method == "cross_modal_itq") {
    if (a.train_texts.empty())
      throw CLI::ValidationError(
          "--method cross_modal_itq needs --train (images) and --train-texts (their "
          "captions, row i paired with row i)");
    const NpyArray texts = load_npy(a.train_texts);
    texts.require_matrix("--train-texts");
    const CrossModalBinarizer pair =
        train_cross_modal_itq(x, texts.f32("--train-texts"), a.bits, {.iterations = a.iterations, .seed = a.seed});
    pair.save(a.out);
    std::fprintf(stderr,
                 "xmr binarize: cross_modal_itq, %lld bits, image dim %lld, text dim %lld, %lld pairs: "
                 "wrote %s in %.2f s\n",
                 static_cast<long long>(a.bits), static_cast<long long>(pair.image.dim()),
                 static_cast<long long>(pair.text.dim()), static_cast<long long>(x.rows()), a.out.c_str(),
                 clock.seconds());
    return;
  }
  if (!a.train_texts.empty()) throw CLI::ValidationError("--train-texts is for --method cross_modal_itq only");
  std::optional<Binarizer> b;
  if (a.method == "sign") {
    b = Binarizer::sign(x.cols());
  } else if (a.method == "sign_median") {
    b = Binarizer::sign_median(x);
  } else if (a.method == "lsh") {
    b = Binarizer::lsh(x, a.bits, {.seed = a.seed});
  } else {
    b = Binarizer::itq(x, a.bits, {.iterations = a.iterations, .seed = a.seed});
  }
  b->save(a.out);
  std::fprintf(stderr, "xmr binarize: %s, %lld bits from dim %lld, %lld training rows: wrote %s in %.2f s\n",
               to_string(b->kind()), static_cast<long long>(b->bits()), static_cast<long long>(b->dim()),
               static_cast<long long>(x.rows()), a.out.c_str(), clock.seconds());
}

void run_apply(const ApplyArgs& a) {
  set_threads(a.threads);
  const Stopwatch clock;
  std::optional<Binarizer> b;
  try {
    const CrossModalBinarizer pair = CrossModalBinarizer::load(a.model);
    if (a.modality.empty())
      throw CLI::ValidationError("--model " + a.model + " is a cross-modal pair: say --modality image or text");
    b = a.modality == "image" ? pair.image : pair.text;
  } catch (const Error&) {
    b = Binarizer::load(a.model);  // a single binariser (its errors name the file)
    if (!a.modality.empty())
      throw CLI::ValidationError("--modality is for cross-modal pairs; " + a.model + " holds one binariser");
  }
  const NpyArray input = load_npy(a.input);
  input.require_matrix("--input");
  const MatrixView<const float> x = input.f32("--input");
  if (x.cols() != b->dim())
    throw NpyError("--input " + a.input + ": has dimension " + std::to_string(x.cols()) + ", the binariser takes " +
                   std::to_string(b->dim()));
  const std::vector<std::uint8_t> codes = b->encode(x);
  const std::int64_t shape[2] = {x.rows(), b->code_bytes()};
  save_npy(a.out, NpyType::U8, shape, codes.data());
  std::fprintf(stderr, "xmr binarize: %lld rows -> %lld-bit codes (%s) in %s, %.2f s\n",
               static_cast<long long>(x.rows()), static_cast<long long>(b->bits()), to_string(b->kind()), a.out.c_str(),
               clock.seconds());
}

}  // namespace

void add_binarize_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("binarize", "Train binarisers and encode embeddings into packed binary codes");
  cmd->require_subcommand(1);
  auto t = std::make_shared<TrainArgs>();
  auto* train = cmd->add_subcommand("train", "Learn a binariser from training embeddings and save it");
  train->add_option("--method", t->method, "sign, sign_median, lsh, itq or cross_modal_itq (docs/binarize.md)")
      ->required()
      ->check(CLI::IsMember({"sign", "sign_median", "lsh", "itq", "cross_modal_itq"}));
  train->add_option("--train", t->train, "[n, D] float32 training embeddings (images for cross_modal_itq)")->required();
  train->add_option("--train-texts", t->train_texts,
                    "cross_modal_itq: [n, D'] float32 text embeddings, row i the caption of --train row i");
  train->add_option("--bits", t->bits, "code length, a multiple of 8 (sign and sign_median: D)")
      ->check(CLI::Range(8, 4096));
  train->add_option("--out", t->out, "the binariser file to write")->required();
  train->add_option("--seed", t->seed, "random seed (lsh, itq, cross_modal_itq)");
  train->add_option("--iterations", t->iterations, "ITQ iterations")->check(CLI::Range(0, 100000));
  train->add_option("--threads", t->threads, "CPU threads")->check(CLI::Range(0, 4096));
  train->callback([t] { run_train(*t); });

  auto p = std::make_shared<ApplyArgs>();
  auto* apply = cmd->add_subcommand("apply", "Encode embeddings with a saved binariser into packed codes (.npy)");
  apply->add_option("--model", p->model, "a binariser file (xmr binarize train)")->required();
  apply->add_option("--input", p->input, "[N, D] float32 embeddings")->required();
  apply->add_option("--out", p->out, "[N, bits/8] uint8 packed codes to write")->required();
  apply->add_option("--modality", p->modality, "for a cross-modal pair: image or text")
      ->check(CLI::IsMember({"image", "text"}));
  apply->add_option("--threads", p->threads, "CPU threads")->check(CLI::Range(0, 4096));
  apply->callback([p] { run_apply(*p); });
}

}  // namespace xmr::cli
