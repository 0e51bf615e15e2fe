// IDX files (the MNIST format): a big-endian header -- two zero bytes, a type code, the rank --
// then one 32-bit big-endian size per dimension, then the elements, big-endian, row-major.
// Files may be raw or gzip-compressed (detected by the gzip magic, not by the name).
//
// read_idx checks the magic, the type code, the rank and the dimensions against the number of
// payload bytes the file holds (for gzip: the size recorded in the gzip trailer) BEFORE it
// allocates, and checks after reading that the payload ended exactly where the header said.
// Every problem throws glassbox::Error naming the file and what is wrong with it.
#pragma once

#include <string>

#include "core/tensor.h"

namespace glassbox::datasets {

// Element types by IDX code: 0x08 uint8 -> UInt8, 0x09 int8, 0x0B int16, 0x0C int32 -> Int64,
// 0x0D float32 -> Float32, 0x0E float64 -> Float64.
Tensor read_idx(const std::string& path);

// Writes a contiguous-or-not CPU tensor of rank 1..255 as IDX: UInt8 -> 0x08, Int64 -> 0x0C
// (each value must fit in int32), Float32 -> 0x0D, Float64 -> 0x0E. gzip=true writes a .gz
// stream. Used by tests and by anyone making small data sets.
void write_idx(const std::string& path, const Tensor& tensor, bool gzip = false);

}  // namespace glassbox::datasets
