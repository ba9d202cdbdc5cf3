#include "progress.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace xmr::cli {
namespace {
/// Bars appear only for tasks still running after this long.
constexpr double kDelaySeconds = 1.0;
constexpr double kRedrawSeconds = 0.1;
}  // namespace

bool Progress::enabled() {
  const char* env = std::getenv("XMR_PROGRESS");
  if (env != nullptr && std::strcmp(env, "0") == 0) return false;
  return ::isatty(STDERR_FILENO) != 0;
}

Progress::Progress(std::string label, std::int64_t total)
    : label_(std::move(label)),
      total_(std::max<std::int64_t>(total, 1)),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_),
      active_(enabled()) {}

Progress::~Progress() {
  finish();
}

void Progress::update(std::int64_t done) {
  if (!active_) return;
  const auto now = std::chrono::steady_clock::now();
  if (std::chrono::duration<double>(now - start_).count() < kDelaySeconds) return;
  if (drawn_ && std::chrono::duration<double>(now - last_draw_).count() < kRedrawSeconds && done < total_) return;
  last_draw_ = now;
  draw(done);
}

void Progress::draw(std::int64_t done) {
  done = std::clamp<std::int64_t>(done, 0, total_);
  const double frac = static_cast<double>(done) / static_cast<double>(total_);
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  constexpr int kWidth = 30;
  const int filled = static_cast<int>(frac * kWidth);
  char bar[kWidth + 1];
  for (int i = 0; i < kWidth; ++i) bar[i] = i < filled ? '#' : '.';
  bar[kWidth] = '\0';
  char eta[32] = "";
  if (done > 0 && done < total_) std::snprintf(eta, sizeof eta, ", %.0f s left", elapsed / frac - elapsed);
  std::fprintf(stderr, "\r%s [%s] %3.0f%% %lld/%lld (%.1f s%s)\x1b[K", label_.c_str(), bar, 100.0 * frac,
               static_cast<long long>(done), static_cast<long long>(total_), elapsed, eta);
  std::fflush(stderr);
  drawn_ = true;
}

void Progress::finish() {
  if (drawn_) {
    std::fprintf(stderr, "\r\x1b[K");
    std::fflush(stderr);
    drawn_ = false;
  }
  active_ = false;
}

}  // namespace xmr::cli
