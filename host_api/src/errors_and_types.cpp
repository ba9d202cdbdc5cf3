// xmr::Error, the vocabulary types' helpers and the version.
#include "common/half.h"
#include "xmr/error.h"
#include "xmr/types.h"
#include "xmr/version.h"

namespace xmr {

const char* to_string(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::Ok: return "Ok";
    case ErrorCode::InvalidArgument: return "InvalidArgument";
    case ErrorCode::OutOfMemory: return "OutOfMemory";
    case ErrorCode::Io: return "Io";
    case ErrorCode::CorruptData: return "CorruptData";
    case ErrorCode::Device: return "Device";
    case ErrorCode::Unavailable: return "Unavailable";
    case ErrorCode::Internal: return "Internal";
    case ErrorCode::Callback: return "Callback";
  }
  return "Unknown";
}

Error::Error(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}

half to_half(float value) noexcept {
  return half{detail::float_to_half_bits(value)};
}
float to_float(half value) noexcept {
  return detail::half_bits_to_float(value.bits);
}

const char* to_string(Metric metric) noexcept {
  switch (metric) {
    case Metric::InnerProduct: return "inner_product";
    case Metric::Cosine: return "cosine";
  }
  return "unknown";
}

const char* to_string(Device device) noexcept {
  switch (device) {
    case Device::Auto: return "auto";
    case Device::Cpu: return "cpu";
    case Device::Gpu: return "gpu";
  }
  return "unknown";
}

const char* to_string(DType dtype) noexcept {
  switch (dtype) {
    case DType::F32: return "fp32";
    case DType::F16: return "fp16";
  }
  return "unknown";
}

const char* version() noexcept {
  return XMR_VERSION_STRING;
}

}  // namespace xmr
