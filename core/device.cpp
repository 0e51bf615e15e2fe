#include "core/device.h"

#include "core/error.h"
#include "cuda/runtime.h"

namespace glassbox {

std::string Device::str() const {
  return is_cpu() ? std::string("cpu") : "cuda:" + std::to_string(index);
}

Device parse_device(const std::string& s) {
  if (s == "cpu") return kCPU;
  if (s == "cuda") return kCUDA;
  if (s.rfind("cuda:", 0) == 0 && s.size() > 5) {
    int idx = 0;
    for (size_t i = 5; i < s.size(); ++i) {
      GB_CHECK(s[i] >= '0' && s[i] <= '9', "parse_device: bad device string '", s, "'");
      idx = idx * 10 + (s[i] - '0');
      GB_CHECK(idx < 1024, "parse_device: device index too large in '", s, "'");
    }
    return Device{DeviceType::CUDA, idx};
  }
  fail(str("parse_device: bad device string '", s, "' (expected cpu, cuda or cuda:N)"));
}

Device usable_device(const std::string& s, const char* flag) {
  Device d;
  try {
    d = parse_device(s);
  } catch (const Error&) {
    fail(str(flag, " expects cpu, cuda or cuda:N, got '", s, "'"));
  }
  if (d.is_cpu()) return d;
  GB_CHECK(cuda::built_with_cuda(), flag, " ", s,
           ": this build has no CUDA backend (configure with nvcc present, or with "
           "-DGLASSBOX_CUDA_EMU=ON for the emulated device)");
  GB_CHECK(d.index < cuda::device_count(), flag, " ", s, ": ",
           cuda::device_count() == 0 ? std::string("no CUDA device is present")
                                     : str("only ", cuda::device_count(), " CUDA device(s)"));
  return d;
}

}  // namespace glassbox
