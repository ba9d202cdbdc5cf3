#pragma once
// A progress bar for long-running commands: drawn on stderr, only when stderr is a terminal
// (never in logs or pipes), and only once the task has run for a moment, so quick steps print
// nothing. Redraws at most 10 times a second.

#include <chrono>
#include <cstdint>
#include <string>

namespace xmr::cli {

class Progress {
 public:
  /// `label` names the task ("search", "mAP"); `total` is the number of units (queries, items).
  Progress(std::string label, std::int64_t total);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  /// Sets the number of finished units.
  void update(std::int64_t done);
  /// Clears the bar (also done by the destructor).
  void finish();

  /// False when bars are off (stderr not a terminal, or XMR_PROGRESS=0).
  static bool enabled();

 private:
  void draw(std::int64_t done);

  std::string label_;
  std::int64_t total_;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
  bool drawn_ = false;
  bool active_;
};

}  // namespace xmr::cli
