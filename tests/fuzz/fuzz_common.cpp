#include "fuzz_common.h"

#include <algorithm>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <string_view>
#include <system_error>
#include <utility>

namespace xmr::fuzz {

void fail(const std::string& what) {
  std::fprintf(stderr, "xmr fuzz: %s\n", what.c_str());
  std::fflush(stderr);
  std::abort();
}

void expect_code(const Error& e, std::initializer_list<ErrorCode> allowed) {
  for (ErrorCode code : allowed) {
    if (e.code() == code) {
      check(std::string_view(e.what()).size() > 0, "xmr::Error with an empty message");
      return;
    }
  }
  fail(std::string("unexpected xmr::Error code ") + to_string(e.code()) + ": " + e.what());
}

void check_round_trip(std::span<const std::uint8_t> in, std::span<const std::uint8_t> out, const char* what) {
  if (out.size() != in.size() || !std::equal(out.begin(), out.end(), in.begin())) {
    fail(std::string(what) + ": to_bytes(from_bytes(x)) != x (" + std::to_string(in.size()) + " bytes in, " +
         std::to_string(out.size()) + " out)");
  }
}

namespace {
constexpr std::array<std::uint32_t, 256> make_crc_table() {
  std::array<std::uint32_t, 256> t{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1u) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    t[i] = c;
  }
  return t;
}
constexpr std::array<std::uint32_t, 256> kCrcTable = make_crc_table();
}  // namespace

std::uint32_t crc32(std::span<const std::uint8_t> bytes) {
  std::uint32_t c = 0xFFFFFFFFu;
  for (std::uint8_t b : bytes) c = kCrcTable[(c ^ b) & 0xFFu] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

std::vector<std::uint8_t> with_crc32_trailer(std::span<const std::uint8_t> bytes) {
  std::vector<std::uint8_t> out(bytes.begin(), bytes.end());
  if (out.size() < 5) return out;
  const std::size_t body = out.size() - 4;
  const std::uint32_t crc = crc32(std::span<const std::uint8_t>(out).first(body));
  for (std::size_t i = 0; i < 4; ++i) out[body + i] = static_cast<std::uint8_t>(crc >> (8 * i));
  return out;
}

SeedWriter::SeedWriter(std::filesystem::path dir) : dir_(std::move(dir)) {
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  if (ec) fail("cannot create seed directory " + dir_.string() + ": " + ec.message());
}

void SeedWriter::write(const std::string& name, std::span<const std::uint8_t> bytes) {
  const std::filesystem::path path = dir_ / name;
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  out.close();
  if (!out) fail("cannot write seed " + path.string());
  ++count_;
}

int seed_mode(int* argc, char*** argv, SeedGenerator generate) {
  constexpr std::string_view kFlag = "-xmr_seeds=";
  for (int i = 1; i < *argc; ++i) {
    const std::string_view arg = (*argv)[i];
    if (!arg.starts_with(kFlag)) continue;
    SeedWriter writer{std::filesystem::path(arg.substr(kFlag.size()))};
    try {
      generate(writer);
    } catch (const std::exception& e) {
      fail(std::string("seed generator threw: ") + e.what());
    }
    std::printf("xmr fuzz: wrote %d seeds to %s\n", writer.count(), std::string(arg.substr(kFlag.size())).c_str());
    std::fflush(stdout);
    std::exit(0);
  }
  return 0;
}

}  // namespace xmr::fuzz
