// Images from untrusted files: PNG, JPEG and BMP in, PNG out, 8 bits per channel.
//
// The promise, for any bytes however hostile: decode() and read() end in an Image or in
// glassbox::Error ("cannot read image <file>: <what is wrong>") -- no crash, no hang, no
// undefined behaviour, and no allocation the image's real size cannot justify:
// - The format comes from the first bytes, never from the name: PNG (89 'PNG' 0D 0A 1A 0A)
//   through libpng, JPEG (FF D8 FF) through libjpeg-turbo -- the two decoders fuzzed
//   continuously upstream (OSS-Fuzz) -- and BMP ('BM') through stb_image, whose header we
//   check first ourselves. GIF, TGA, PNM, PSD, HDR, WebP, TIFF... are refused by name when
//   their signature is recognised, as "unknown format (first bytes ...)" otherwise.
//   docs/UNTRUSTED_INPUT.md says why each format is in or out.
// - Width and height are read from the header and checked against Limits BEFORE any pixel
//   buffer exists; the decoders get their own caps as well (libpng's user limits and chunk
//   size cap, libjpeg's max_memory_to_use and a scan count limit, stb's allocator budget).
// - A cut-off file is an Error ("truncated PNG (libpng: ...)"), not an image with a grey
//   bottom; so is corrupt entropy-coded JPEG data.
// - read() opens without blocking and reads regular files only: a directory, a FIFO or a
//   device is refused at once, and a file that shrinks while being read is an Error.
//
// write_png() is atomic and checked (core/atomic_file.h): it writes a temporary in the same
// folder, checks every write, fsyncs, and renames over `path`. On any failure (a full disk, a
// file size limit, a read-only folder) the temporary is removed, `path` keeps its old
// contents, and the Error names `path`.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace glassbox::image {

// What a file may claim. The defaults fit real photos: a 64-megapixel phone picture
// (9248x6936) is within max_pixels, and 100000x1 strips within max_side.
struct Limits {
  int64_t max_pixels = int64_t(1) << 26;      // 67,108,864 pixels (8192x8192); RGBA: 256 MiB
  int64_t max_side = int64_t(1) << 17;        // 131,072 pixels wide or high
  int64_t max_file_bytes = int64_t(1) << 29;  // read(): files up to 512 MiB
};

// Row-major, interleaved (HWC), 8 bits per channel; pixels.size() == width*height*channels.
struct Image {
  int64_t width = 0, height = 0, channels = 0;
  std::vector<uint8_t> pixels;
};

// Decodes a whole file held in memory; `source` names it in errors (e.g. its path).
// want_channels: 0 = the file's own (1 grey, 2 grey+alpha, 3 RGB, 4 RGBA); 1..4 converts as
// stb_image does (grey = (77 R + 150 G + 29 B) >> 8, alpha dropped or added as 255).
// 16-bit PNG samples keep their high byte.
Image decode(const uint8_t* data, size_t size, const std::string& source, int want_channels = 0,
             const Limits& limits = {});

// Reads `path` (a regular file of at most limits.max_file_bytes) and decodes it.
Image read(const std::string& path, int want_channels = 0, const Limits& limits = {});

// Writes an 8-bit PNG of 1-4 channels atomically (see above).
void write_png(const std::string& path, const Image& image);

}  // namespace glassbox::image
