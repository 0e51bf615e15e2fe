// MD5 (RFC 1321), only to check that downloaded or found data files are the canonical ones.
// Not for security.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace glassbox::datasets {

// Lower-case hex digest of a byte range / of a whole file (throws glassbox::Error naming the
// file when it cannot be read).
std::string md5_hex(const void* data, size_t size);
std::string md5_file(const std::string& path);

}  // namespace glassbox::datasets
