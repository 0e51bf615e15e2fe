#pragma once
#include <cstdint>
#include <ostream>
#include <string>

namespace glassbox {

enum class DeviceType : uint8_t { CPU, CUDA };

struct Device {
  DeviceType type = DeviceType::CPU;
  int index = 0;
  bool is_cpu() const { return type == DeviceType::CPU; }
  bool is_cuda() const { return type == DeviceType::CUDA; }
  bool operator==(const Device& o) const { return type == o.type && index == o.index; }
  bool operator!=(const Device& o) const { return !(*this == o); }
  std::string str() const;  // "cpu", "cuda:0"
};

inline const Device kCPU{DeviceType::CPU, 0};
inline const Device kCUDA{DeviceType::CUDA, 0};

// Parses "cpu", "cuda", "cuda:1"; throws glassbox::Error otherwise.
Device parse_device(const std::string& s);
// parse_device for a command-line flag, and a CUDA device must be usable here: an Error
// names the flag and says why not (no CUDA backend in this build, or no such device).
Device usable_device(const std::string& s, const char* flag);

inline std::ostream& operator<<(std::ostream& os, const Device& d) { return os << d.str(); }

}  // namespace glassbox
