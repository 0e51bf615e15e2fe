#pragma once
// glassbox::Error is the one exception type for every mistake a user can make.
// Messages name the op and the shapes involved, so they can be acted upon.
#include <sstream>
#include <stdexcept>
#include <string>

namespace glassbox {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

namespace detail {
inline void append(std::ostringstream&) {}
template <class T, class... Rest>
void append(std::ostringstream& os, const T& first, const Rest&... rest) {
  os << first;
  append(os, rest...);
}
}  // namespace detail

// Builds a message from any streamable pieces: str("conv2d: got ", n, " channels").
template <class... Args>
std::string str(const Args&... args) {
  std::ostringstream os;
  detail::append(os, args...);
  return os.str();
}

[[noreturn]] inline void fail(const std::string& msg) { throw Error(msg); }

// Untrusted text (a name, key or value read from a file or a flag) as a message shows it: at
// most `limit` bytes, cut at a UTF-8 character boundary with "..." marking the cut, and control
// characters written as \xNN so the text cannot forge a line of its own.
inline std::string clip(const std::string& s, size_t limit = 100) {
  size_t n = s.size() < limit ? s.size() : limit;
  while (n > 0 && n < s.size() && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7F) {
      const char* hex = "0123456789abcdef";
      out += {'\\', 'x', hex[c >> 4], hex[c & 15]};
    } else {
      out += static_cast<char>(c);
    }
  }
  return n < s.size() ? out + "..." : out;
}

}  // namespace glassbox

// GB_CHECK(cond, pieces...) throws glassbox::Error with the pieces joined.
#define GB_CHECK(cond, ...)                                      \
  do {                                                           \
    if (!(cond)) ::glassbox::fail(::glassbox::str(__VA_ARGS__)); \
  } while (0)
