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

}  // namespace glassbox

// GB_CHECK(cond, pieces...) throws glassbox::Error with the pieces joined.
#define GB_CHECK(cond, ...)                                      \
  do {                                                           \
    if (!(cond)) ::glassbox::fail(::glassbox::str(__VA_ARGS__)); \
  } while (0)
