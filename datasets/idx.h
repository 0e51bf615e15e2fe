// IDX files (the MNIST format): a big-endian header -- two zero bytes, a type code, the rank --
// then one 32-bit big-endian size per dimension, then the elements, big-endian, row-major.
// Files may be raw or gzip-compressed (detected by the gzip magic, not by the name).
//
// read_idx's promise, for any file however hostile: it ends in a tensor or in glassbox::Error
// naming the file and what is wrong with it -- no crash, no hang, and no allocation larger
// than the input can justify:
// - Only regular files are read. A FIFO, a device (/dev/zero) or a directory is refused at
//   once (the open does not block on a FIFO without a writer).
// - The header is checked first: magic, type code, rank, and a product of dimensions of at
//   most 16 GiB in memory.
// - Raw files: the dimensions must match the file size before anything is allocated.
// - gzip files: the declared size (header included) must fit what the compressed bytes can
//   produce -- at most 1032 bytes per compressed byte, deflate's maximum expansion -- before
//   anything is allocated; within that, the tensor's buffer starts at min(declared size,
//   4 MiB + 8 x the compressed size) and grows only as data really arrives, so a forged
//   header or gzip trailer costs at most about twice the data actually present.
// - After reading, the data must end exactly where the header says (a cut-off, padded, or
//   shrinking file is an Error), and zlib checks every gzip member's CRC and length.
//   Multi-member gzip streams are read.
#pragma once

#include <string>

#include "core/tensor.h"

namespace glassbox::datasets {

// Element types by IDX code: 0x08 uint8 -> UInt8, 0x09 int8, 0x0B int16, 0x0C int32 -> Int64,
// 0x0D float32 -> Float32, 0x0E float64 -> Float64.
Tensor read_idx(const std::string& path);

// Writes a contiguous-or-not CPU tensor of rank 1..255 as IDX: UInt8 -> 0x08, Int64 -> 0x0C
// (each value must fit in int32), Float32 -> 0x0D, Float64 -> 0x0E. gzip=true writes a .gz
// stream. Written atomically (core/atomic_file.h): a failure leaves the previous file whole
// and removes the temporary. Used by tests and by anyone making small data sets.
void write_idx(const std::string& path, const Tensor& tensor, bool gzip = false);

}  // namespace glassbox::datasets
