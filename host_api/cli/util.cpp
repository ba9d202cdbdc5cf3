#include "util.h"

#include <omp.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace xmr::cli {

Device parse_device(const std::string& s) {
  if (s == "cpu") return Device::Cpu;
  if (s == "gpu") return Device::Gpu;
  return Device::Auto;
}

Metric parse_metric(const std::string& s) {
  return s == "ip" ? Metric::InnerProduct : Metric::Cosine;
}

void set_threads(int n) {
  if (n >= 1) omp_set_num_threads(n);
}

int cpu_threads() {
  return omp_get_max_threads();
}

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (const char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(static_cast<unsigned char>(c)));
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

std::string json_number(double v) {
  if (!std::isfinite(v)) return "null";
  char buf[32];
  // The shortest of %.15g .. %.17g that reads back as the same double.
  for (int digits = 15; digits <= 17; ++digits) {
    std::snprintf(buf, sizeof buf, "%.*g", digits, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  return buf;
}

std::string json_float(float v) {
  if (!std::isfinite(v)) return "null";
  char buf[32];
  for (int digits = 6; digits <= 9; ++digits) {
    std::snprintf(buf, sizeof buf, "%.*g", digits, static_cast<double>(v));
    if (std::strtof(buf, nullptr) == v) break;
  }
  return buf;
}

}  // namespace xmr::cli
