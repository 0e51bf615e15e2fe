#pragma once
// Shapes and strides are small vectors of int64; helpers here do the index arithmetic that
// every op shares (numel, contiguous strides, broadcasting, dim wrapping).
#include <cstdint>
#include <string>
#include <vector>

namespace glassbox {

using Shape = std::vector<int64_t>;

int64_t numel_of(const Shape& s);
Shape contiguous_strides(const Shape& s);
// A contiguous tensor of shape s seen as [outer, s[dim], inner].
void split_at(const Shape& s, int64_t dim, int64_t& outer, int64_t& inner);
std::string shape_str(const Shape& s);  // "[8,3,28,28]"
// NumPy/PyTorch broadcasting; `op` names the caller in the error.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);
// Maps a possibly negative dim into [0, ndim); throws naming `op` if out of range.
int64_t wrap_dim(int64_t dim, int64_t ndim, const char* op);
// Same, naming the tensor's shape in the error.
int64_t wrap_dim(int64_t dim, const Shape& shape, const char* op);

}  // namespace glassbox
