#pragma once
// Helpers shared by the tool's commands: option parsing, timing, JSON output, threads.

#include <chrono>
#include <cstdint>
#include <string>

#include "xmr/types.h"

namespace xmr::cli {

/// "auto", "cpu", "gpu" (CLI11 has already checked the spelling).
Device parse_device(const std::string& s);
/// "cosine", "ip" (inner product). "hamming" is not a dense metric: callers branch on it first.
Metric parse_metric(const std::string& s);

/// Caps the threads of xmr's CPU work (OpenMP, and OpenBLAS, which runs on OpenMP) at n >= 1;
/// 0 keeps the default (OMP_NUM_THREADS, else every core).
void set_threads(int n);
/// The number of CPU threads a parallel region uses now.
int cpu_threads();

/// Seconds since construction.
class Stopwatch {
 public:
  Stopwatch() : start_(std::chrono::steady_clock::now()) {}
  [[nodiscard]] double seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }

 private:
  std::chrono::steady_clock::time_point start_;
};

/// A JSON string literal (quotes and escapes included).
std::string json_string(const std::string& s);
/// A JSON number: shortest round-trip form of a double; NaN and infinities become null.
std::string json_number(double v);
/// As json_number for a float: the shortest form that reads back as the same float.
std::string json_float(float v);

}  // namespace xmr::cli
