#pragma once
// Helpers shared by the libFuzzer targets (tests/fuzz/README.md): failures that libFuzzer
// reports as crashes, the check of an error's code, the seed-writing mode and the CRC-32 that
// xmr's binariser files end with.

#include <cstddef>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <initializer_list>
#include <span>
#include <string>
#include <vector>

#include "xmr/error.h"

namespace xmr::fuzz {

/// Prints `what` to stderr and aborts, so libFuzzer reports the input as a crash and keeps it.
[[noreturn]] void fail(const std::string& what);

/// fail(what) unless `ok`.
inline void check(bool ok, const char* what) {
  if (!ok) fail(what);
}

/// A loader given untrusted bytes may throw only xmr::Error with one of `allowed` (typically
/// CorruptData and OutOfMemory); any other code (InvalidArgument, Internal, ...) fails.
void expect_code(const Error& e, std::initializer_list<ErrorCode> allowed);

/// Runs `f` (a parser fed untrusted bytes): an xmr::Error goes to `on_error` (which checks it,
/// e.g. with expect_code); any other exception fails.
template <class F, class OnError>
void expect_only_errors(F&& f, OnError&& on_error) {
  try {
    f();
  } catch (const Error& e) {
    on_error(e);
  } catch (const std::exception& e) {
    fail(std::string("an exception other than xmr::Error escaped: ") + e.what());
  } catch (...) {
    fail("a non-std exception escaped");
  }
}

/// fail() unless `out` (a re-serialisation) equals `in`, byte for byte; `what` names the type.
void check_round_trip(std::span<const std::uint8_t> in, std::span<const std::uint8_t> out, const char* what);

/// CRC-32 (zlib.crc32) of `bytes`.
std::uint32_t crc32(std::span<const std::uint8_t> bytes);

/// A copy of `bytes` whose last 4 bytes are the little-endian CRC-32 of the bytes before them:
/// mutated inputs then get past a format's trailing checksum to the parser behind it. Inputs of
/// fewer than 5 bytes are copied as they are.
std::vector<std::uint8_t> with_crc32_trailer(std::span<const std::uint8_t> bytes);

/// Where a target's seed generator writes its valid inputs: one file per seed.
class SeedWriter {
 public:
  explicit SeedWriter(std::filesystem::path dir);
  /// Writes `bytes` to the file `name` in the directory (replacing it); fails on an I/O error.
  void write(const std::string& name, std::span<const std::uint8_t> bytes);
  [[nodiscard]] int count() const noexcept { return count_; }

 private:
  std::filesystem::path dir_;
  int count_ = 0;
};

using SeedGenerator = void (*)(SeedWriter&);

/// Body of LLVMFuzzerInitialize (see XMR_FUZZ_SEEDS): when the arguments include
/// `-xmr_seeds=DIR`, runs `generate` on DIR (created if missing) and exits with status 0;
/// otherwise returns 0 and libFuzzer goes on as usual.
int seed_mode(int* argc, char*** argv, SeedGenerator generate);

}  // namespace xmr::fuzz

/// Names the target's seed generator `fn` (void fn(xmr::fuzz::SeedWriter&)): `<target>
/// -xmr_seeds=DIR` writes the seeds into DIR and exits (scripts/fuzz.sh runs this before
/// fuzzing). Use once per target, at namespace scope.
#define XMR_FUZZ_SEEDS(fn)                                       \
  extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) { \
    return ::xmr::fuzz::seed_mode(argc, argv, fn);               \
  }
