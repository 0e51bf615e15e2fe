// The image module (image.h): one entry point per direction, three decoders behind a sniffer.
//
// How each untrusted file is handled, in order:
//   1. sniff the first bytes: PNG, JPEG or BMP; a recognised unsupported format (GIF, TGA has no
//      signature...) and anything else are Errors that say what the bytes look like;
//   2. read width and height from the header -- our own parse of PNG's IHDR and of the BMP
//      header, libjpeg's jpeg_read_header -- and check them against Limits before any pixel
//      buffer is allocated;
//   3. decode with the decoder's own caps on (below), into a buffer of exactly w*h*channels;
//   4. convert the channels when asked, with stb_image's rules (so predict's grey input is
//      what it was when stb read every format).
//
// libpng and libjpeg report errors by calling a function that must not return: ours records
// the message and longjmps back to a setjmp in a small "phase" function. C++ exceptions never
// cross the C libraries, and no C++ object with a destructor lives in a frame that a longjmp
// skips: each phase function holds only plain values, and the decoder state lives in its
// caller (an RAII struct that frees it either way).
//
// Caveats: libpng is stricter than stb (a bad CRC of a critical chunk is an Error); JPEGs decode
// with libjpeg-turbo's IDCT and upsampling, which differ from stb's by a few grey levels.
#include "datasets/image.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <csetjmp>
#include <cstdio>  // before jpeglib.h, which uses FILE
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>

#include <jpeglib.h>
#include <png.h>

#include <jerror.h>  // after jpeglib.h: its message list depends on jconfig.h's settings

#include "core/atomic_file.h"
#include "core/error.h"

// --- stb_image, for BMP only -----------------------------------------------------------------
// Compiled here, static, with every other format left out; its allocations draw on a budget
// set per call from the header we checked, so even a header we misread cannot make it allocate
// more than the image we agreed to.
namespace {
thread_local size_t stb_budget = 0;
void* stb_budget_malloc(size_t n) { return n <= stb_budget ? std::malloc(n) : nullptr; }
[[maybe_unused]] void* stb_budget_realloc(void* p, size_t n) {
  return n <= stb_budget ? std::realloc(p, n) : nullptr;
}
}  // namespace
#define STBI_MALLOC(n) stb_budget_malloc(n)
#define STBI_REALLOC(p, n) stb_budget_realloc(p, n)
#define STBI_FREE(p) std::free(p)
#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_BMP
#define STBI_NO_STDIO
#define STBI_NO_LINEAR
#define STBI_MAX_DIMENSIONS (1 << 20)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#include <stb/stb_image.h>
#pragma GCC diagnostic pop

namespace glassbox::image {

namespace {

constexpr int kMaxJpegScans = 500;                       // real progressive JPEGs have ~10
constexpr uint64_t kJpegScanPixels = uint64_t{1} << 32;  // scans x pixels a JPEG may cost
constexpr size_t kPngChunkMax = 8 << 20;  // libpng's cap on one ancillary chunk, decompressed

std::string reading(const std::string& source) { return "cannot read image " + source; }

// "first bytes 3c 21 44 4f" (at most 8), to show what an unknown file looks like.
std::string first_bytes(const uint8_t* d, size_t n) {
  std::string out = "first bytes";
  char hex[4];
  for (size_t i = 0; i < std::min<size_t>(n, 8); ++i) {
    std::snprintf(hex, sizeof hex, " %02x", d[i]);
    out += hex;
  }
  return out;
}

bool starts_with(const uint8_t* d, size_t n, size_t at, const char* magic, size_t len) {
  return n >= at + len && std::memcmp(d + at, magic, len) == 0;
}

enum class Format { Png, Jpeg, Bmp };

// Formats we recognise but do not decode, with the reason in docs/UNTRUSTED_INPUT.md.
const char* unsupported_format(const uint8_t* d, size_t n) {
  struct Sig {
    const char* magic;
    size_t len, at;
    const char* name;
  };
  static const Sig sigs[] = {{"GIF87a", 6, 0, "GIF"},
                             {"GIF89a", 6, 0, "GIF"},
                             {"WEBP", 4, 8, "WebP"},
                             {"II*\0", 4, 0, "TIFF"},
                             {"MM\0*", 4, 0, "TIFF"},
                             {"8BPS", 4, 0, "PSD"},
                             {"#?RADIANCE", 10, 0, "HDR"},
                             {"#?RGBE", 6, 0, "HDR"},
                             {"qoif", 4, 0, "QOI"},
                             {"ftypavif", 8, 4, "AVIF"},
                             {"ftypheic", 8, 4, "HEIC"},
                             {"ftypmif1", 8, 4, "HEIF"},
                             {"\xff\x0a", 2, 0, "JPEG XL"},
                             {"\0\0\0\x0cJXL ", 8, 0, "JPEG XL"},
                             {"\0\0\0\x0cjP  ", 8, 0, "JPEG 2000"},
                             {"\0\0\1\0", 4, 0, "ICO"},
                             {"PICT", 4, 88, "PIC"}};
  for (const Sig& s : sigs)
    if (starts_with(d, n, s.at, s.magic, s.len)) return s.name;
  if (n >= 3 && d[0] == 'P' && d[1] >= '1' && d[1] <= '7' && std::strchr(" \t\r\n", d[2]) && d[2])
    return "PNM (PBM/PGM/PPM)";
  return nullptr;
}

Format sniff(const uint8_t* d, size_t n, const std::string& source) {
  GB_CHECK(n > 0, reading(source), ": the file is empty (0 bytes)");
  if (starts_with(d, n, 0, "\x89PNG\r\n\x1a\n", 8)) return Format::Png;
  if (starts_with(d, n, 0, "\xff\xd8\xff", 3)) return Format::Jpeg;
  if (starts_with(d, n, 0, "BM", 2)) return Format::Bmp;
  if (const char* name = unsupported_format(d, n))
    fail(str(reading(source), ": ", name,
             " images are not supported (only PNG, JPEG and BMP): convert it to PNG"));
  fail(str(reading(source), ": not a PNG, JPEG or BMP file: unknown format (", first_bytes(d, n),
           ")"));
}

void check_limits(const Limits& l) {
  GB_CHECK(l.max_pixels >= 1 && l.max_side >= 1 && l.max_file_bytes >= 0,
           "image: Limits must be positive, got max_pixels ", l.max_pixels, ", max_side ",
           l.max_side, ", max_file_bytes ", l.max_file_bytes);
}

// The header's claim against the limits, before anything the size of the image exists.
void check_size(const std::string& source, const char* format, int64_t w, int64_t h,
                const Limits& l) {
  GB_CHECK(w >= 1 && h >= 1, reading(source), ": corrupt ", format, ": its header claims ", w, "x",
           h, " pixels");
  GB_CHECK(w <= l.max_side && h <= l.max_side, reading(source), ": the ", format, " header claims ",
           w, "x", h, " pixels, and a side of more than ", l.max_side,
           " pixels is over the limit (image::Limits::max_side)");
  GB_CHECK(w <= l.max_pixels / h, reading(source), ": the ", format, " header claims ", w, "x", h,
           " = ", uint64_t(w) * uint64_t(h), " pixels, more than the limit of ", l.max_pixels,
           " pixels (image::Limits::max_pixels)");
}

uint32_t be32(const uint8_t* p) {
  return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3];
}
uint32_t le32(const uint8_t* p) {
  return uint32_t(p[3]) << 24 | uint32_t(p[2]) << 16 | uint32_t(p[1]) << 8 | p[0];
}
uint16_t le16(const uint8_t* p) { return uint16_t(p[1] << 8 | p[0]); }

// --- PNG through libpng ------------------------------------------------------------------------

struct PngInput {
  const uint8_t* data;
  size_t size, pos;
  bool hit_end;
  char message[256];
};

void png_on_error(png_structp png, png_const_charp msg) {
  auto* in = static_cast<PngInput*>(png_get_error_ptr(png));
  std::snprintf(in->message, sizeof in->message, "%s", msg ? msg : "unknown error");
  png_longjmp(png, 1);
}
void png_on_warning(png_structp, png_const_charp) {}  // e.g. "known incorrect sRGB profile"

void png_on_read(png_structp png, png_bytep out, size_t n) {
  auto* in = static_cast<PngInput*>(png_get_io_ptr(png));
  if (n > in->size - in->pos) {
    in->hit_end = true;
    png_error(png, "unexpected end of file");
  }
  std::memcpy(out, in->data + in->pos, n);
  in->pos += n;
}

struct PngReader {
  PngInput in{};
  png_structp png = nullptr;
  png_infop info = nullptr;
  png_uint_32 width = 0, height = 0;
  int channels = 0, passes = 1;
  size_t rowbytes = 0;
  ~PngReader() { png_destroy_read_struct(&png, &info, nullptr); }
};

// Phase 1: the header, the transforms to 8-bit 1-4 channels, and the caps.
bool png_read_header(PngReader& r, const Limits& limits) {
  r.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &r.in, png_on_error, png_on_warning);
  if (r.png) r.info = png_create_info_struct(r.png);
  if (!r.png || !r.info) {
    std::snprintf(r.in.message, sizeof r.in.message, "out of memory");
    return false;
  }
  if (setjmp(png_jmpbuf(r.png))) return false;
  const auto side = png_uint_32(std::min<int64_t>(limits.max_side, PNG_UINT_31_MAX));
  png_set_user_limits(r.png, side, side);
  png_set_chunk_malloc_max(r.png, kPngChunkMax);
  png_set_chunk_cache_max(r.png, 1000);
  // Text, ICC profiles, palettes of suggestions, Exif, ...: none changes the pixels we return,
  // and libpng keeps every one of them until the end (each up to kPngChunkMax decompressed,
  // so a few MB of zTXt chunks could hold gigabytes). Skip them unread, and every unknown
  // chunk too.
  static const png_byte kIgnored[] = {
      't', 'E', 'X', 't', 0,   'z', 'T', 'X', 't', 0,   'i', 'T', 'X', 't', 0,   'i', 'C',
      'C', 'P', 0,   's', 'P', 'L', 'T', 0,   'e', 'X', 'I', 'f', 0,   'h', 'I', 'S', 'T',
      0,   'p', 'C', 'A', 'L', 0,   's', 'C', 'A', 'L', 0,   't', 'I', 'M', 'E', 0};
  png_set_keep_unknown_chunks(r.png, PNG_HANDLE_CHUNK_NEVER, nullptr, 0);  // unknown ones
  png_set_keep_unknown_chunks(r.png, PNG_HANDLE_CHUNK_NEVER, kIgnored, int(sizeof kIgnored / 5));
  png_set_read_fn(r.png, &r.in, png_on_read);
  png_read_info(r.png, r.info);
  r.width = png_get_image_width(r.png, r.info);
  r.height = png_get_image_height(r.png, r.info);
  const int depth = png_get_bit_depth(r.png, r.info), type = png_get_color_type(r.png, r.info);
  if (type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(r.png);
  if (type == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(r.png);
  if (png_get_valid(r.png, r.info, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(r.png);
  if (depth == 16) png_set_strip_16(r.png);  // the high byte, as stb_image
  r.passes = png_set_interlace_handling(r.png);
  png_read_update_info(r.png, r.info);
  r.channels = png_get_channels(r.png, r.info);
  r.rowbytes = png_get_rowbytes(r.png, r.info);
  return true;
}

// Phase 2: every row of every pass, then the chunks up to IEND (so a cut-off file is noticed).
bool png_read_pixels(PngReader& r, uint8_t* out) {
  if (setjmp(png_jmpbuf(r.png))) return false;
  for (int pass = 0; pass < r.passes; ++pass)
    for (png_uint_32 y = 0; y < r.height; ++y) png_read_row(r.png, out + y * r.rowbytes, nullptr);
  png_read_end(r.png, nullptr);
  return true;
}

Image decode_png(const uint8_t* d, size_t n, const std::string& source, const Limits& limits) {
  // IHDR comes first (8-byte signature, length 13, "IHDR", width, height): checked before libpng
  GB_CHECK(n >= 24, reading(source), ": truncated PNG (the file ends after ", n,
           " bytes, inside its header)");
  GB_CHECK(be32(d + 8) == 13 && std::memcmp(d + 12, "IHDR", 4) == 0, reading(source),
           ": corrupt PNG (its first chunk is not a 13-byte IHDR)");
  check_size(source, "PNG", be32(d + 16), be32(d + 20), limits);

  PngReader r;
  r.in.data = d;
  r.in.size = n;
  auto failed = [&] {
    if (r.in.hit_end)
      fail(str(reading(source), ": truncated PNG (libpng: the file ends after ", n, " bytes)"));
    fail(str(reading(source), ": corrupt PNG (libpng: ", r.in.message, ")"));
  };
  if (!png_read_header(r, limits)) failed();
  check_size(source, "PNG", r.width, r.height, limits);
  GB_CHECK(r.channels >= 1 && r.channels <= 4 && r.rowbytes == size_t(r.width) * r.channels,
           reading(source), ": PNG with ", r.channels, " channels is not supported");
  Image img;
  img.width = r.width;
  img.height = r.height;
  img.channels = r.channels;
  img.pixels.resize(r.rowbytes * r.height);
  if (!png_read_pixels(r, img.pixels.data())) failed();
  return img;
}

// --- JPEG through libjpeg-turbo ----------------------------------------------------------------

struct JpegErrors {
  jpeg_error_mgr pub;  // first, so libjpeg's pointer to it is a pointer to us
  jmp_buf jump;
  bool truncated;
  char message[JMSG_LENGTH_MAX];
};

[[noreturn]] void jpeg_stop(j_common_ptr c) {
  auto* e = reinterpret_cast<JpegErrors*>(c->err);
  (*c->err->format_message)(c, e->message);
  std::longjmp(e->jump, 1);
}

// Warnings that mean the pixels are not the file's: a cut-off file (libjpeg would paint the
// rest grey) or corrupt entropy-coded data. The rest (an unknown JFIF revision, extraneous
// bytes before a marker, a bad ICC marker) are common in real files and harmless.
void jpeg_on_message(j_common_ptr c, int level) {
  if (level >= 0) return;  // trace messages
  auto* e = reinterpret_cast<JpegErrors*>(c->err);
  switch (c->err->msg_code) {
    case JWRN_JPEG_EOF:
      e->truncated = true;
      jpeg_stop(c);
    case JWRN_HIT_MARKER:
    case JWRN_HUFF_BAD_CODE:
#if JPEG_LIB_VERSION >= 70 || defined(C_ARITH_CODING_SUPPORTED) || defined(D_ARITH_CODING_SUPPORTED)
    case JWRN_ARITH_BAD_CODE:  // declared under the same condition in jerror.h
#endif
    case JWRN_MUST_RESYNC:
    case JWRN_BOGUS_PROGRESSION:
    case JWRN_NOT_SEQUENTIAL:
      jpeg_stop(c);
    default:
      return;
  }
}

// A progressive JPEG may have any number of scans, each a pass over the whole image: a small
// file of thousands of scans would take minutes. libjpeg-turbo's own fuzzers cap them too. The
// cap is kMaxJpegScans, and fewer for big images: scans x pixels at most kJpegScanPixels, so a
// file of a few KB cannot buy more than a few seconds of decoding (a 64-megapixel image may
// still have 64 scans; real progressive files have about 10).
int max_jpeg_scans(const jpeg_decompress_struct& d) {
  const uint64_t pixels = std::max<uint64_t>(1, uint64_t(d.image_width) * d.image_height);
  return int(std::clamp<uint64_t>(kJpegScanPixels / pixels, 1, kMaxJpegScans));
}

void jpeg_on_progress(j_common_ptr c) {
  if (!c->is_decompressor) return;
  const auto* d = reinterpret_cast<j_decompress_ptr>(c);
  const int cap = max_jpeg_scans(*d);
  if (d->input_scan_number <= cap) return;
  auto* e = reinterpret_cast<JpegErrors*>(c->err);
  std::snprintf(e->message, sizeof e->message, "more than %d scans (the limit for %ux%u pixels)",
                cap, unsigned(d->image_width), unsigned(d->image_height));
  std::longjmp(e->jump, 1);
}

struct JpegReader {
  jpeg_decompress_struct cinfo{};  // zeroed: destroying a never-created one is a no-op
  JpegErrors err{};
  jpeg_progress_mgr progress{};
  ~JpegReader() { jpeg_destroy_decompress(&cinfo); }
};

// Phase 1: the markers up to the first scan (dimensions, components, colour space).
bool jpeg_read_head(JpegReader& r, const uint8_t* d, size_t n) {
  r.cinfo.err = jpeg_std_error(&r.err.pub);
  r.err.pub.error_exit = jpeg_stop;
  r.err.pub.emit_message = jpeg_on_message;
  if (setjmp(r.err.jump)) return false;
  jpeg_create_decompress(&r.cinfo);
  r.progress.progress_monitor = jpeg_on_progress;
  r.cinfo.progress = &r.progress;
  jpeg_mem_src(&r.cinfo, d, static_cast<unsigned long>(n));
  jpeg_read_header(&r.cinfo, TRUE);
  return true;
}

// Phase 2: the pixels, row by row, then the rest of the file up to EOI.
bool jpeg_read_pixels(JpegReader& r, uint8_t* out, size_t rowbytes) {
  if (setjmp(r.err.jump)) return false;
  jpeg_start_decompress(&r.cinfo);
  if (size_t(r.cinfo.output_width) * size_t(r.cinfo.output_components) != rowbytes) {
    std::snprintf(r.err.message, sizeof r.err.message, "unexpected output size");
    return false;
  }
  while (r.cinfo.output_scanline < r.cinfo.output_height) {
    JSAMPROW row = out + size_t(r.cinfo.output_scanline) * rowbytes;
    if (jpeg_read_scanlines(&r.cinfo, &row, 1) != 1) {
      std::snprintf(r.err.message, sizeof r.err.message, "no progress decoding row %u",
                    r.cinfo.output_scanline);
      return false;
    }
  }
  jpeg_finish_decompress(&r.cinfo);
  return true;
}

Image decode_jpeg(const uint8_t* d, size_t n, const std::string& source, const Limits& limits) {
  JpegReader r;
  auto failed = [&] {
    fail(str(reading(source),
             r.err.truncated ? ": truncated JPEG (libjpeg: " : ": corrupt JPEG (libjpeg: ",
             r.err.message, ")"));
  };
  if (!jpeg_read_head(r, d, n)) failed();
  const int64_t w = r.cinfo.image_width, h = r.cinfo.image_height;
  check_size(source, "JPEG", w, h, limits);
  int channels = 0;
  switch (r.cinfo.jpeg_color_space) {
    case JCS_GRAYSCALE:
      r.cinfo.out_color_space = JCS_GRAYSCALE;
      channels = 1;
      break;
    case JCS_YCbCr:
    case JCS_RGB:
      r.cinfo.out_color_space = JCS_RGB;
      channels = 3;
      break;
    default:
      fail(str(reading(source), ": JPEG in a CMYK or unknown colour space (",
               r.cinfo.num_components, " components) is not supported: save it as RGB"));
  }
  // Progressive files keep every coefficient (2 bytes each, 64 per 8x8 block, per component):
  // allow twice that, rounded up to whole MCUs, before libjpeg refuses ("backing store").
  const int64_t coefficients = 2 * 2 * (w + 32) * (h + 32) * r.cinfo.num_components;
  r.cinfo.mem->max_memory_to_use = static_cast<long>(coefficients + (int64_t(64) << 20));
  Image img;
  img.width = w;
  img.height = h;
  img.channels = channels;
  img.pixels.resize(size_t(w) * size_t(h) * size_t(channels));
  if (!jpeg_read_pixels(r, img.pixels.data(), size_t(w) * size_t(channels))) failed();
  return img;
}

// --- BMP through stb_image ---------------------------------------------------------------------

// What stb_image 2.27 itself does not check, so that it sees only files it handles safely:
// every pixel row must be in the file (stb reads zeros past the end), the height must not be
// INT_MIN (stb takes its abs()), a palette must have 1-256 entries, and every palette index
// must name one of them (stb would read its uninitialised palette array).
struct BmpSize {
  int64_t width, height;
};

BmpSize check_bmp(const uint8_t* d, size_t n, const std::string& source, const Limits& limits) {
  GB_CHECK(n >= 30, reading(source), ": truncated BMP (the file ends after ", n,
           " bytes, inside its header)");
  const int64_t offset = le32(d + 10), hsz = le32(d + 14);
  GB_CHECK(hsz == 12 || hsz == 40 || hsz == 56 || hsz == 108 || hsz == 124, reading(source),
           ": BMP with a ", hsz, "-byte info header is not supported (only 12, 40, 56, 108, 124)");
  int64_t w, h, bpp, planes, compression = 0;
  if (hsz == 12) {
    w = le16(d + 18), h = le16(d + 20), planes = le16(d + 22), bpp = le16(d + 24);
    GB_CHECK(bpp == 1 || bpp == 4 || bpp == 8 || bpp == 24, reading(source), ": OS/2 BMP with ",
             bpp, " bits per pixel is not supported");
  } else {
    GB_CHECK(n >= 34, reading(source), ": truncated BMP (the file ends after ", n,
             " bytes, inside its header)");
    w = int32_t(le32(d + 18)), h = int32_t(le32(d + 22));
    planes = le16(d + 26), bpp = le16(d + 28), compression = le32(d + 30);
  }
  GB_CHECK(planes == 1, reading(source), ": corrupt BMP (", planes, " planes, not 1)");
  GB_CHECK(bpp == 1 || bpp == 4 || bpp == 8 || bpp == 16 || bpp == 24 || bpp == 32, reading(source),
           ": BMP with ", bpp, " bits per pixel is not supported");
  GB_CHECK(compression != 1 && compression != 2, reading(source),
           ": run-length encoded BMP is not supported: save it uncompressed or as PNG");
  GB_CHECK(compression == 0 || (compression == 3 && (bpp == 16 || bpp == 32)), reading(source),
           ": BMP with compression ", compression, " at ", bpp, " bits is not supported");
  GB_CHECK(h != INT32_MIN, reading(source), ": corrupt BMP (height ", h, ")");
  h = h < 0 ? -h : h;  // negative: rows stored top-down
  check_size(source, "BMP", w, h, limits);
  // stb indexes pixels with int: 4 bytes a pixel must stay below 2^31 whatever the Limits
  GB_CHECK(w <= STBI_MAX_DIMENSIONS && h <= STBI_MAX_DIMENSIONS && w * h <= (int64_t(1) << 28),
           reading(source), ": BMP of ", w, "x", h, " pixels is larger than the BMP decoder ",
           "handles (", STBI_MAX_DIMENSIONS, " a side, 2^28 pixels)");
  GB_CHECK(n <= size_t(INT_MAX), reading(source), ": BMP file larger than 2 GiB");

  const int64_t stride = (w * bpp + 31) / 32 * 4;  // rows are padded to 4 bytes
  GB_CHECK(offset <= int64_t(n) && (int64_t(n) - offset) / stride >= h, reading(source),
           ": truncated BMP (", w, "x", h, " pixels of ", bpp, " bits need ", stride * h,
           " bytes from byte ", offset, ", the file has ", n, " bytes)");
  if (bpp > 8) return {w, h};
  // the palette size as stb computes it from the pixel data's offset
  const int64_t entries = hsz == 12 ? (offset - 14 - 24) / 3 : (offset - 14 - hsz) / 4;
  GB_CHECK(entries >= 1 && entries <= 256, reading(source), ": corrupt BMP (a palette of ", entries,
           " entries; a ", bpp, "-bit image needs 1 to 256)");
  if (entries >= (int64_t(1) << bpp)) return {w, h};  // every index names an entry
  const int mask = (1 << bpp) - 1;
  for (int64_t y = 0; y < h; ++y) {
    const uint8_t* row = d + offset + y * stride;
    for (int64_t x = 0; x < w; ++x) {
      const int64_t bit = x * bpp;
      const int index = row[bit / 8] >> (8 - bpp - bit % 8) & mask;
      GB_CHECK(index < entries, reading(source), ": corrupt BMP (pixel ", x, ",", y,
               " uses palette entry ", index, " of a palette of ", entries, ")");
    }
  }
  return {w, h};
}

const char* stb_reason() {
  const char* why = stbi_failure_reason();
  return why ? why : "unknown error";
}

Image decode_bmp(const uint8_t* d, size_t n, const std::string& source, const Limits& limits) {
  const BmpSize size = check_bmp(d, n, source, limits);
  int w = 0, h = 0, c = 0;
  GB_CHECK(stbi_info_from_memory(d, int(n), &w, &h, &c) != 0 && w == size.width &&
               std::abs(h) == size.height,
           reading(source), ": corrupt BMP (stb_image: ", stb_reason(), ")");
  // the output buffer is all stb allocates: at most 4 channels of the checked size
  stb_budget = size_t(size.width) * size_t(size.height) * 4 + 4096;
  std::unique_ptr<stbi_uc, void (*)(void*)> px(stbi_load_from_memory(d, int(n), &w, &h, &c, 0),
                                               std::free);
  stb_budget = 0;
  if (!px) fail(str(reading(source), ": corrupt BMP (stb_image: ", stb_reason(), ")"));
  GB_CHECK(w == size.width && h == size.height && c >= 3 && c <= 4, reading(source),
           ": BMP decoded to ", w, "x", h, "x", c, " instead of ", size.width, "x", size.height);
  Image img;
  img.width = w;
  img.height = h;
  img.channels = c;
  img.pixels.assign(px.get(), px.get() + size_t(w) * size_t(h) * size_t(c));
  return img;
}

// --- channel conversion, with stb_image's rules ------------------------------------------------

uint8_t luma(uint8_t r, uint8_t g, uint8_t b) {
  return static_cast<uint8_t>((r * 77 + g * 150 + b * 29) >> 8);
}

Image convert(Image in, int want) {
  if (want == 0 || want == in.channels) return in;
  const size_t count = size_t(in.width) * size_t(in.height);
  const int c = int(in.channels);
  std::vector<uint8_t> out(count * size_t(want));
  for (size_t i = 0; i < count; ++i) {
    const uint8_t* p = &in.pixels[i * size_t(c)];
    uint8_t* q = &out[i * size_t(want)];
    const bool grey = c <= 2;
    const uint8_t alpha = (c == 2 || c == 4) ? p[c - 1] : 255;
    if (want <= 2) {
      q[0] = grey ? p[0] : luma(p[0], p[1], p[2]);
      if (want == 2) q[1] = alpha;
    } else {
      q[0] = p[0];
      q[1] = grey ? p[0] : p[1];
      q[2] = grey ? p[0] : p[2];
      if (want == 4) q[3] = alpha;
    }
  }
  in.pixels = std::move(out);
  in.channels = want;
  return in;
}

// --- files -------------------------------------------------------------------------------------

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

const char* file_kind(mode_t mode) {
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

}  // namespace

Image decode(const uint8_t* data, size_t size, const std::string& source, int want_channels,
             const Limits& limits) {
  GB_CHECK(want_channels >= 0 && want_channels <= 4, "image::decode: want_channels must be 0 ",
           "(the file's own) or 1-4, got ", want_channels);
  check_limits(limits);
  GB_CHECK(data != nullptr || size == 0, "image::decode: null data for ", source);
  Image img;
  switch (sniff(data, size, source)) {
    case Format::Png:
      img = decode_png(data, size, source, limits);
      break;
    case Format::Jpeg:
      img = decode_jpeg(data, size, source, limits);
      break;
    case Format::Bmp:
      img = decode_bmp(data, size, source, limits);
      break;
  }
  return convert(std::move(img), want_channels);
}

Image read(const std::string& path, int want_channels, const Limits& limits) {
  check_limits(limits);
  // O_NONBLOCK: opening a FIFO without a writer returns at once instead of waiting for one
  Fd f{::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)};
  GB_CHECK(f.fd >= 0, reading(path), ": ", std::strerror(errno));
  struct stat st {};
  GB_CHECK(::fstat(f.fd, &st) == 0, reading(path), ": ", std::strerror(errno));
  GB_CHECK(!S_ISDIR(st.st_mode), reading(path), ": it is a directory");
  GB_CHECK(S_ISREG(st.st_mode), reading(path), ": it is ", file_kind(st.st_mode),
           "; only regular files are read");
  GB_CHECK(st.st_size <= limits.max_file_bytes, reading(path), ": the file has ", st.st_size,
           " bytes, more than the limit of ", limits.max_file_bytes,
           " (image::Limits::max_file_bytes)");
  std::vector<uint8_t> bytes(static_cast<size_t>(st.st_size));
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t got = ::read(f.fd, bytes.data() + done, bytes.size() - done);
    if (got < 0 && errno == EINTR) continue;
    GB_CHECK(got >= 0, reading(path), ": ", std::strerror(errno));
    GB_CHECK(got > 0, reading(path), ": the file shrank while being read (", done, " of ",
             bytes.size(), " bytes)");
    done += size_t(got);
  }
  return decode(bytes.data(), bytes.size(), path, want_channels, limits);
}

// --- writing -----------------------------------------------------------------------------------

namespace {

struct PngOutput {
  AtomicFile* file;
  int error;  // errno of the failed write, 0 if none
  char message[256];
};

void png_on_write_error(png_structp png, png_const_charp msg) {
  auto* out = static_cast<PngOutput*>(png_get_error_ptr(png));
  std::snprintf(out->message, sizeof out->message, "%s", msg ? msg : "unknown error");
  png_longjmp(png, 1);
}

void png_on_write(png_structp png, png_bytep data, size_t n) {
  auto* out = static_cast<PngOutput*>(png_get_io_ptr(png));
  out->error = out->file->try_write(data, n);  // libpng's C frames must not be unwound
  if (out->error) png_error(png, "write failed");
}
void png_on_flush(png_structp) {}

struct PngWriter {
  PngOutput out{};
  png_structp png = nullptr;
  png_infop info = nullptr;
  ~PngWriter() { png_destroy_write_struct(&png, &info); }
};

bool png_write_all(PngWriter& wr, const Image& img) {
  wr.png =
      png_create_write_struct(PNG_LIBPNG_VER_STRING, &wr.out, png_on_write_error, png_on_warning);
  if (wr.png) wr.info = png_create_info_struct(wr.png);
  if (!wr.png || !wr.info) {
    std::snprintf(wr.out.message, sizeof wr.out.message, "out of memory");
    return false;
  }
  if (setjmp(png_jmpbuf(wr.png))) return false;
  static const int types[] = {PNG_COLOR_TYPE_GRAY, PNG_COLOR_TYPE_GRAY_ALPHA, PNG_COLOR_TYPE_RGB,
                              PNG_COLOR_TYPE_RGB_ALPHA};
  png_set_write_fn(wr.png, &wr.out, png_on_write, png_on_flush);
  png_set_IHDR(wr.png, wr.info, png_uint_32(img.width), png_uint_32(img.height), 8,
               types[img.channels - 1], PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  png_write_info(wr.png, wr.info);
  const size_t rowbytes = size_t(img.width) * size_t(img.channels);
  for (int64_t y = 0; y < img.height; ++y)
    png_write_row(wr.png, img.pixels.data() + size_t(y) * rowbytes);
  png_write_end(wr.png, nullptr);
  return true;
}

}  // namespace

void write_png(const std::string& path, const Image& image) {
  const std::string what = "cannot write image " + path;
  GB_CHECK(image.channels >= 1 && image.channels <= 4, what, ": PNG holds 1-4 channels, got ",
           image.channels);
  GB_CHECK(image.width >= 1 && image.height >= 1 && image.width <= PNG_UINT_31_MAX &&
               image.height <= PNG_UINT_31_MAX,
           what, ": a PNG side is 1 to 2^31-1 pixels, got ", image.width, "x", image.height);
  const uint64_t area = uint64_t(image.width) * uint64_t(image.height);  // < 2^62
  GB_CHECK(area <= std::numeric_limits<size_t>::max() / 4, what, ": ", image.width, "x",
           image.height, " pixels do not fit in memory");
  const size_t needed = size_t(area) * size_t(image.channels);
  GB_CHECK(image.pixels.size() == needed, what, ": ", image.width, "x", image.height, "x",
           image.channels, " needs ", needed, " bytes of pixels, the image has ",
           image.pixels.size());

  AtomicFile file(path, what);
  PngWriter wr;
  wr.out.file = &file;
  if (!png_write_all(wr, image)) {
    if (wr.out.error) file.fail(wr.out.error, "writing");
    fail(str(what, ": libpng: ", wr.out.message, " (nothing was replaced)"));
  }
  file.commit();
}

}  // namespace glassbox::image
