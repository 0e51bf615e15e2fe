// The image module (datasets/image.h) on good and hostile files. Good files come from other
// encoders -- libpng and libjpeg driven directly here, and libstb's stb_image_write -- so a
// round trip does not only test our writer against our reader; write_png's output is read back
// by libstb's own decoder too. Hostile files are built byte by byte: headers that claim
// billions of pixels, every cut point of a small PNG and JPEG, byte flips, palette indices out
// of range, unsupported and unknown formats, and paths that are not regular files. write_png
// is tested on a full disk without root: under a file size limit (RLIMIT_FSIZE).
#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <stb_image.h>
#include <stb_image_write.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>  // before jpeglib.h
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include <jpeglib.h>
#include <png.h>

#include "datasets/image.h"
#include "glassbox.h"
#include "resource_limits.h"
#include "temp_dir.h"

using namespace glassbox;
using doctest::Contains;
using Bytes = std::vector<uint8_t>;

namespace {

Bytes file_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(f), {});
}

void put(const std::string& path, const Bytes& b) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(b.data()), std::streamsize(b.size()));
}

// A w x h image of c channels with gradients and a little structure in every channel.
image::Image card(int w, int h, int c) {
  image::Image img;
  img.width = w, img.height = h, img.channels = c;
  img.pixels.resize(size_t(w) * h * c);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int k = 0; k < c; ++k)
        img.pixels[(size_t(y) * w + x) * c + k] = uint8_t((x * 29 + y * 53 + k * 71 + x * y) % 256);
  return img;
}

// The message of the Error that `f` throws ("" if it returns, "other" for another exception).
template <class F>
std::string error_of(F f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  } catch (...) {
    return "other";
  }
  return "";
}

// --- encoders other than ours ---------------------------------------------------------------

uint32_t crc32_of(const uint8_t* p, size_t n) {  // PNG's CRC, bit by bit
  uint32_t crc = 0xffffffffu;
  for (size_t i = 0; i < n; ++i) {
    crc ^= p[i];
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

void be32(Bytes& out, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) out.push_back(uint8_t(v >> s));
}

void chunk(Bytes& out, const char* type, const Bytes& data) {
  be32(out, uint32_t(data.size()));
  Bytes body(type, type + 4);
  body.insert(body.end(), data.begin(), data.end());
  out.insert(out.end(), body.begin(), body.end());
  be32(out, crc32_of(body.data(), body.size()));
}

// A PNG whose IHDR claims w x h (8-bit RGB), followed by a tiny IDAT and IEND.
Bytes png_claiming(uint32_t w, uint32_t h) {
  Bytes out = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  Bytes ihdr;
  be32(ihdr, w);
  be32(ihdr, h);
  ihdr.insert(ihdr.end(), {8, 2, 0, 0, 0});
  chunk(out, "IHDR", ihdr);
  chunk(out, "IDAT", {0x78, 0x9c, 0x63, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01});
  chunk(out, "IEND", {});
  return out;
}

void png_to_vector(png_structp png, png_bytep data, size_t n) {
  auto* out = static_cast<Bytes*>(png_get_io_ptr(png));
  out->insert(out->end(), data, data + n);
}

// libpng's own writer, for the variants our writer never makes: palette (with tRNS), 16-bit,
// low bit depths, Adam7 interlacing. `rows` holds the packed samples (16-bit big-endian).
Bytes libpng_encode(int w, int h, int type, int depth, bool interlace, const Bytes& rows,
                    const std::vector<png_color>& palette = {}, const Bytes& trns = {}) {
  Bytes out;
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png_create_info_struct(png);
  png_set_write_fn(png, &out, png_to_vector, nullptr);
  png_set_IHDR(png, info, w, h, depth, type, interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  if (!palette.empty()) png_set_PLTE(png, info, palette.data(), int(palette.size()));
  if (!trns.empty()) png_set_tRNS(png, info, trns.data(), int(trns.size()), nullptr);
  png_write_info(png, info);
  const size_t stride = rows.size() / size_t(h);
  std::vector<png_bytep> ptrs;
  for (int y = 0; y < h; ++y) ptrs.push_back(const_cast<png_bytep>(&rows[size_t(y) * stride]));
  png_write_image(png, ptrs.data());
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return out;
}

// libjpeg's encoder: grey (c = 1) or RGB, baseline or progressive.
Bytes libjpeg_encode(const image::Image& img, int quality, bool progressive) {
  jpeg_compress_struct cinfo;
  jpeg_error_mgr jerr;
  cinfo.err = jpeg_std_error(&jerr);
  jpeg_create_compress(&cinfo);
  unsigned char* buf = nullptr;
  unsigned long size = 0;
  jpeg_mem_dest(&cinfo, &buf, &size);
  cinfo.image_width = JDIMENSION(img.width);
  cinfo.image_height = JDIMENSION(img.height);
  cinfo.input_components = int(img.channels);
  cinfo.in_color_space = img.channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_set_defaults(&cinfo);
  jpeg_set_quality(&cinfo, quality, TRUE);
  if (progressive) jpeg_simple_progression(&cinfo);
  jpeg_start_compress(&cinfo, TRUE);
  while (cinfo.next_scanline < cinfo.image_height) {
    JSAMPROW row = const_cast<JSAMPROW>(
        &img.pixels[size_t(cinfo.next_scanline) * size_t(img.width * img.channels)]);
    jpeg_write_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_compress(&cinfo);
  Bytes out(buf, buf + size);
  std::free(buf);
  jpeg_destroy_compress(&cinfo);
  return out;
}

// A smooth picture (JPEG's lossy coding keeps it within a few levels).
image::Image smooth(int w, int h, int c) {
  image::Image img;
  img.width = w, img.height = h, img.channels = c;
  img.pixels.resize(size_t(w) * h * c);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int k = 0; k < c; ++k)
        img.pixels[(size_t(y) * w + x) * c + k] = uint8_t(40 + 2 * x + 2 * y + 30 * k);
  return img;
}

int max_difference(const Bytes& a, const Bytes& b) {
  REQUIRE(a.size() == b.size());
  int worst = 0;
  for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::abs(int(a[i]) - int(b[i])));
  return worst;
}

// A little-endian BMP: 14-byte file header, 40-byte info header, palette, rows padded to 4.
void le(Bytes& out, uint32_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(uint8_t(v >> (8 * i)));
}

Bytes bmp(int32_t w, int32_t h, int bpp, const std::vector<uint32_t>& palette, const Bytes& rows,
          uint32_t compression = 0) {
  const uint32_t offset = 14 + 40 + 4 * uint32_t(palette.size());
  Bytes out = {'B', 'M'};
  le(out, offset + uint32_t(rows.size()), 4);
  le(out, 0, 4);
  le(out, offset, 4);
  le(out, 40, 4);
  le(out, uint32_t(w), 4);
  le(out, uint32_t(h), 4);
  le(out, 1, 2);
  le(out, uint32_t(bpp), 2);
  le(out, compression, 4);
  for (int i = 0; i < 5; ++i) le(out, i == 3 ? uint32_t(palette.size()) : 0, 4);
  for (uint32_t c : palette) le(out, c, 4);  // B, G, R, 0
  out.insert(out.end(), rows.begin(), rows.end());
  return out;
}

}  // namespace

TEST_SUITE("image") {
  TEST_CASE("PNG: write_png and read round trip 1-4 channels, and libstb reads what we write") {
    TempDir dir;
    for (int c = 1; c <= 4; ++c) {
      CAPTURE(c);
      const image::Image img = card(13, 7, c);
      const std::string path = dir.file("card" + std::to_string(c) + ".png");
      image::write_png(path, img);
      const image::Image back = image::read(path);
      CHECK(back.width == 13);
      CHECK(back.height == 7);
      CHECK(back.channels == c);
      CHECK(back.pixels == img.pixels);
      int w = 0, h = 0, n = 0;
      const Bytes file = file_bytes(path);
      stbi_uc* px = stbi_load_from_memory(file.data(), int(file.size()), &w, &h, &n, 0);
      REQUIRE(px != nullptr);
      CHECK((w == 13 && h == 7 && n == c));
      CHECK(Bytes(px, px + img.pixels.size()) == img.pixels);
      stbi_image_free(px);
    }
    CHECK(dir.entries().size() == 4);  // no temporaries left
  }

  TEST_CASE("PNG from other encoders: stb_image_write, palette + tRNS, 16-bit, 1-bit, Adam7") {
    TempDir dir;
    const image::Image rgb = card(9, 5, 3);
    const std::string path = dir.file("stb.png");
    REQUIRE(stbi_write_png(path.c_str(), 9, 5, 3, rgb.pixels.data(), 9 * 3) != 0);
    CHECK(image::read(path).pixels == rgb.pixels);

    // palette of 3 colours, the second half transparent: RGBA out
    const std::vector<png_color> pal = {{10, 20, 30}, {200, 100, 50}, {0, 255, 0}};
    const Bytes idx = {0, 1, 2, 1, 0, 2};  // 3x2
    const Bytes pal_png =
        libpng_encode(3, 2, PNG_COLOR_TYPE_PALETTE, 8, false, idx, pal, {255, 128});
    const image::Image p = image::decode(pal_png.data(), pal_png.size(), "palette.png");
    REQUIRE(p.channels == 4);
    CHECK(Bytes(p.pixels.begin(), p.pixels.begin() + 8) ==
          Bytes{10, 20, 30, 255, 200, 100, 50, 128});
    CHECK(p.pixels[2 * 4 + 3] == 255);  // entry 2 has no tRNS value: opaque

    // 16-bit grey keeps the high byte; 1-bit grey becomes 0/255
    const Bytes g16 = libpng_encode(2, 1, PNG_COLOR_TYPE_GRAY, 16, false, {0x12, 0x34, 0xfe, 0xdc});
    CHECK(image::decode(g16.data(), g16.size(), "g16.png").pixels == Bytes{0x12, 0xfe});
    const Bytes g1 = libpng_encode(8, 1, PNG_COLOR_TYPE_GRAY, 1, false, {0xa5});
    CHECK(image::decode(g1.data(), g1.size(), "g1.png").pixels ==
          Bytes{255, 0, 255, 0, 0, 255, 0, 255});

    // Adam7: the same pixels as the plain file
    const image::Image big = card(37, 23, 3);
    const Bytes laced = libpng_encode(37, 23, PNG_COLOR_TYPE_RGB, 8, true, big.pixels);
    const image::Image back = image::decode(laced.data(), laced.size(), "adam7.png");
    CHECK(back.pixels == big.pixels);
  }

  TEST_CASE("conversions follow stb_image: luma grey, replicated grey, alpha dropped or 255") {
    TempDir dir;
    image::Image rgba;
    rgba.width = 2, rgba.height = 1, rgba.channels = 4;
    rgba.pixels = {200, 100, 50, 7, 0, 255, 10, 0};
    image::write_png(dir.file("rgba.png"), rgba);
    auto y = [](int r, int g, int b) { return uint8_t((r * 77 + g * 150 + b * 29) >> 8); };
    CHECK(image::read(dir.file("rgba.png"), 1).pixels == Bytes{y(200, 100, 50), y(0, 255, 10)});
    CHECK(image::read(dir.file("rgba.png"), 2).pixels ==
          Bytes{y(200, 100, 50), 7, y(0, 255, 10), 0});
    CHECK(image::read(dir.file("rgba.png"), 3).pixels == Bytes{200, 100, 50, 0, 255, 10});
    image::Image ga;
    ga.width = 2, ga.height = 1, ga.channels = 2;
    ga.pixels = {90, 1, 180, 2};
    image::write_png(dir.file("ga.png"), ga);
    CHECK(image::read(dir.file("ga.png"), 1).pixels == Bytes{90, 180});
    CHECK(image::read(dir.file("ga.png"), 4).pixels == Bytes{90, 90, 90, 1, 180, 180, 180, 2});
    image::Image g = ga;
    g.channels = 1;
    g.pixels = {90, 180};
    image::write_png(dir.file("g.png"), g);
    CHECK(image::read(dir.file("g.png"), 3).pixels == Bytes{90, 90, 90, 180, 180, 180});
    CHECK(image::read(dir.file("g.png"), 4).pixels == Bytes{90, 90, 90, 255, 180, 180, 180, 255});
    CHECK_THROWS_WITH_AS(image::read(dir.file("g.png"), 5), Contains("want_channels"), Error);
    image::Limits bad;
    bad.max_pixels = 0;
    CHECK_THROWS_WITH_AS(image::read(dir.file("g.png"), 0, bad), Contains("Limits"), Error);
  }

  TEST_CASE("JPEG: grey and colour, baseline and progressive, decode within a few levels") {
    for (bool progressive : {false, true})
      for (int c : {1, 3}) {
        CAPTURE(progressive);
        CAPTURE(c);
        const image::Image img = smooth(40, 24, c);
        const Bytes jpg = libjpeg_encode(img, 95, progressive);
        const image::Image back = image::decode(jpg.data(), jpg.size(), "a.jpg");
        CHECK(back.width == 40);
        CHECK(back.height == 24);
        REQUIRE(back.channels == c);
        CHECK(max_difference(back.pixels, img.pixels) <= 8);
        if (c == 3) {  // to grey: the luma of the colour decode, exactly
          const image::Image grey = image::decode(jpg.data(), jpg.size(), "a.jpg", 1);
          REQUIRE(grey.channels == 1);
          Bytes luma;
          for (size_t i = 0; i < back.pixels.size(); i += 3)
            luma.push_back(uint8_t(
                (back.pixels[i] * 77 + back.pixels[i + 1] * 150 + back.pixels[i + 2] * 29) >> 8));
          CHECK(grey.pixels == luma);
        }
      }
    // stb_image_write's JPEG as well (an independent encoder)
    TempDir dir;
    const image::Image img = smooth(16, 16, 3);
    REQUIRE(stbi_write_jpg(dir.file("stb.jpg").c_str(), 16, 16, 3, img.pixels.data(), 100) != 0);
    CHECK(max_difference(image::read(dir.file("stb.jpg")).pixels, img.pixels) <= 8);
  }

  TEST_CASE("BMP: 24-bit from stb_image_write, 32-bit, 8-bit and 1-bit palettes, top-down") {
    TempDir dir;
    const image::Image rgb = card(7, 5, 3);
    REQUIRE(stbi_write_bmp(dir.file("a.bmp").c_str(), 7, 5, 3, rgb.pixels.data()) != 0);
    const image::Image back = image::read(dir.file("a.bmp"));
    CHECK(back.channels == 3);
    CHECK(back.pixels == rgb.pixels);

    // 8-bit palette, 3x2, bottom-up: rows padded to 4 bytes
    const std::vector<uint32_t> pal = {0x000000, 0x0000ff, 0x00ff00};  // black, blue, green
    Bytes file = bmp(3, 2, 8, pal, {1, 2, 0, 0, /*top row:*/ 2, 2, 1, 0});
    image::Image p = image::decode(file.data(), file.size(), "p.bmp");
    REQUIRE(p.channels == 3);
    CHECK(p.pixels ==
          Bytes{0, 255, 0, 0, 255, 0, 0, 0, 255, /*bottom:*/ 0, 0, 255, 0, 255, 0, 0, 0, 0});
    // the same rows top-down (negative height)
    file = bmp(3, -2, 8, pal, {2, 2, 1, 0, 1, 2, 0, 0});
    CHECK(image::decode(file.data(), file.size(), "td.bmp").pixels == p.pixels);
    // 1-bit: 0xA0 = pixels 1,0,1
    file = bmp(3, 1, 1, {0x000000, 0xffffff}, {0xa0, 0, 0, 0});
    CHECK(image::decode(file.data(), file.size(), "1.bmp", 1).pixels == Bytes{255, 0, 255});
    // 32-bit BI_RGB: B, G, R, A bytes
    file = bmp(1, 1, 32, {}, {30, 20, 10, 99});
    CHECK(image::decode(file.data(), file.size(), "32.bmp", 3).pixels == Bytes{10, 20, 30});
  }

  TEST_CASE("BMP defects stb_image does not check are Errors: truncated, palette index, RLE") {
    const std::vector<uint32_t> pal = {0x000000, 0x0000ff};
    Bytes file = bmp(3, 2, 8, pal, {1, 0, 0, 0, 1, 1, 1, 0});
    file.resize(file.size() - 3);  // the last row is cut
    CHECK_THROWS_WITH_AS(image::decode(file.data(), file.size(), "cut.bmp"),
                         Contains("cut.bmp: truncated BMP"), Error);
    file = bmp(3, 1, 8, pal, {0, 1, 200, 0});  // index 200 of a 2-entry palette
    CHECK_THROWS_WITH_AS(image::decode(file.data(), file.size(), "idx.bmp"),
                         Contains("palette entry 200"), Error);
    file = bmp(2, 1, 4, {0x000000}, {0x01, 0, 0, 0});  // 4-bit, index 1 of 1 entry
    CHECK_THROWS_WITH_AS(image::decode(file.data(), file.size(), "idx4.bmp"),
                         Contains("palette entry 1"), Error);
    file = bmp(3, 1, 8, {}, {0, 0, 0, 0});  // 8-bit with no palette at all
    CHECK_THROWS_WITH_AS(image::decode(file.data(), file.size(), "nopal.bmp"),
                         Contains("palette of 0 entries"), Error);
    file = bmp(3, 1, 8, pal, {0, 0, 0, 0}, /*compression=*/1);
    CHECK_THROWS_WITH_AS(image::decode(file.data(), file.size(), "rle.bmp"), Contains("run-length"),
                         Error);
    file = bmp(3, int32_t(0x80000000u), 24, {}, {});
    CHECK_THROWS_WITH_AS(image::decode(file.data(), file.size(), "min.bmp"),
                         Contains("corrupt BMP"), Error);
  }

  TEST_CASE("headers that claim huge images are Errors naming the file, the size and the limit") {
    Bytes png = png_claiming(100000, 100000);  // 57 bytes claiming 10^10 pixels
    CHECK_THROWS_WITH_AS(image::decode(png.data(), png.size(), "huge.png"),
                         Contains("cannot read image huge.png: the PNG header claims "
                                  "100000x100000 = 10000000000 pixels, more than the limit of "
                                  "67108864 pixels (image::Limits::max_pixels)"),
                         Error);
    png = png_claiming(1000000, 1);
    CHECK_THROWS_WITH_AS(image::decode(png.data(), png.size(), "wide.png"),
                         Contains("image::Limits::max_side"), Error);

    // a real JPEG whose frame header is patched to 60000x60000
    Bytes jpg = libjpeg_encode(smooth(8, 8, 3), 90, false);
    size_t sof = 2;
    while (sof + 8 < jpg.size() && !(jpg[sof] == 0xff && jpg[sof + 1] == 0xc0)) ++sof;
    REQUIRE(sof + 8 < jpg.size());
    jpg[sof + 5] = jpg[sof + 7] = 60000 >> 8;
    jpg[sof + 6] = jpg[sof + 8] = 60000 & 0xff;
    CHECK_THROWS_WITH_AS(image::decode(jpg.data(), jpg.size(), "huge.jpg"),
                         Contains("the JPEG header claims 60000x60000"), Error);

    // 54 bytes of BMP header claiming 60000x60000 at 24 bits
    const Bytes b = bmp(60000, 60000, 24, {}, {});
    CHECK_THROWS_WITH_AS(image::decode(b.data(), b.size(), "huge.bmp"),
                         Contains("the BMP header claims 60000x60000"), Error);

    // a 37-byte TGA claiming 9043x21248: TGA is not decoded at all (it has no signature)
    Bytes tga = {0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    tga.insert(tga.end(), {uint8_t(9043 & 0xff), uint8_t(9043 >> 8), uint8_t(21248 & 0xff),
                           uint8_t(21248 >> 8), 24, 0});
    tga.resize(37, 0x55);
    CHECK_THROWS_WITH_AS(image::decode(tga.data(), tga.size(), "huge.tga"),
                         Contains("unknown format (first bytes 00 00 02 00"), Error);

    // the caller's Limits are honoured
    image::Limits small;
    small.max_pixels = 100;
    const Bytes ok = libjpeg_encode(smooth(20, 20, 1), 90, false);
    CHECK_THROWS_WITH_AS(image::decode(ok.data(), ok.size(), "20.jpg", 0, small),
                         Contains("more than the limit of 100 pixels"), Error);
    CHECK(image::decode(ok.data(), ok.size(), "20.jpg").width == 20);
  }

  TEST_CASE("a 100000x1 PNG decodes in its own size") {
    image::Image strip = card(100000, 1, 1);
    TempDir dir;
    image::write_png(dir.file("strip.png"), strip);
    const image::Image back = image::read(dir.file("strip.png"));
    CHECK(back.width == 100000);
    CHECK(back.height == 1);
    CHECK(back.pixels == strip.pixels);
  }

  TEST_CASE("every cut point of a PNG and a JPEG is an Error with a reason") {
    TempDir dir;
    image::write_png(dir.file("a.png"), card(6, 5, 3));
    const Bytes png = file_bytes(dir.file("a.png"));
    const Bytes jpg = libjpeg_encode(smooth(16, 16, 3), 90, false);
    for (const auto& [file, kind] : {std::pair{png, std::string("PNG")}, {jpg, "JPEG"}})
      for (size_t cut = 0; cut < file.size(); ++cut) {
        CAPTURE(kind);
        CAPTURE(cut);
        const std::string msg = error_of([&] { image::decode(file.data(), cut, "cut.img"); });
        REQUIRE_MESSAGE(msg.rfind("cannot read image cut.img: ", 0) == 0, msg);
        if (cut == 0)
          CHECK(msg == "cannot read image cut.img: the file is empty (0 bytes)");
        else if (cut < (kind == "PNG" ? 8u : 3u))
          CHECK(msg.find("unknown format (first bytes") != std::string::npos);
        else
          CHECK_MESSAGE(msg.find("truncated " + kind + " (") != std::string::npos, msg);
      }
    // the exact messages the issue asked for
    CHECK_THROWS_WITH_AS(image::decode(png.data(), png.size() - 20, "t.png"),
                         Contains("t.png: truncated PNG (libpng: the file ends after"), Error);
    CHECK_THROWS_WITH_AS(image::decode(jpg.data(), jpg.size() / 2, "t.jpg"),
                         Contains("t.jpg: truncated JPEG (libjpeg: Premature end of JPEG file)"),
                         Error);
  }

  TEST_CASE("random byte flips of PNG, JPEG and BMP files end in an image or an Error") {
    TempDir dir;
    image::write_png(dir.file("a.png"), card(12, 9, 3));
    REQUIRE(stbi_write_bmp(dir.file("a.bmp").c_str(), 5, 4, 3, card(5, 4, 3).pixels.data()) != 0);
    const std::vector<Bytes> seeds = {
        file_bytes(dir.file("a.png")), libjpeg_encode(smooth(16, 16, 3), 80, true),
        file_bytes(dir.file("a.bmp")), bmp(3, 2, 8, {0, 0xff, 0xff00}, {1, 2, 0, 0, 2, 2, 1, 0})};
    std::mt19937 rng(13);
    int images = 0, errors = 0;
    for (const Bytes& seed : seeds)
      for (int round = 0; round < 400; ++round) {
        Bytes b = seed;
        const int flips = 1 + int(rng() % 4);
        for (int f = 0; f < flips; ++f) b[2 + rng() % (b.size() - 2)] ^= uint8_t(1 + rng() % 255);
        try {
          const image::Image img = image::decode(b.data(), b.size(), "flip", int(rng() % 5));
          CHECK(img.pixels.size() == size_t(img.width * img.height * img.channels));
          ++images;
        } catch (const Error&) {
          ++errors;
        }
      }
    MESSAGE(images << " decoded, " << errors << " errors");
    CHECK(images + errors == 1600);
  }

  TEST_CASE("files that are empty, a directory, a FIFO, a device, missing, or not an image") {
    TempDir dir;
    put(dir.file("empty.png"), {});
    CHECK_THROWS_WITH_AS(image::read(dir.file("empty.png")),
                         Contains("empty.png: the file is empty (0 bytes)"), Error);
    CHECK_THROWS_WITH_AS(image::read(dir.path.string()), Contains("it is a directory"), Error);
    const std::string fifo = dir.file("fifo.png");
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    CHECK_THROWS_WITH_AS(image::read(fifo), Contains("fifo.png: it is a FIFO"), Error);  // no hang
    CHECK_THROWS_WITH_AS(image::read("/dev/zero"), Contains("a character device"), Error);
    CHECK_THROWS_WITH_AS(image::read(dir.file("missing.png")),
                         Contains("missing.png: No such file or directory"), Error);
    put(dir.file("notes.png"), Bytes{'t', 'h', 'i', 's', ' ', 'i', 's', ' ', 'n', 'o', 't'});
    CHECK_THROWS_WITH_AS(image::read(dir.file("notes.png")),
                         Contains("not a PNG, JPEG or BMP file: unknown format (first bytes 74 68 "
                                  "69 73 20 69 73 20)"),
                         Error);
    put(dir.file("anim.gif"), Bytes{'G', 'I', 'F', '8', '9', 'a', 1, 0, 1, 0});
    CHECK_THROWS_WITH_AS(image::read(dir.file("anim.gif")),
                         Contains("GIF images are not supported (only PNG, JPEG and BMP)"), Error);
    // the path the user gave is named whole, however long: a cut would lose the file name
    const std::string name = std::string(300, 'x') + "/digit.png";
    const std::string msg = error_of([&] { image::decode(nullptr, 0, name); });
    CHECK(msg.find(name) != std::string::npos);
    // a file over max_file_bytes is refused before it is read
    image::Limits tiny;
    tiny.max_file_bytes = 4;
    image::write_png(dir.file("small.png"), card(2, 2, 1));
    CHECK_THROWS_WITH_AS(image::read(dir.file("small.png"), 0, tiny),
                         Contains("image::Limits::max_file_bytes"), Error);
  }

  TEST_CASE("write_png on a full disk throws naming the file, keeps the old one, leaves nothing") {
    TempDir dir;
    const std::string path = dir.file("out.png");
    image::write_png(path, card(4, 4, 1));
    const Bytes before = file_bytes(path);
    // 300x300 of noise does not compress: ~270 KB against a limit of 8 KiB
    image::Image noise = card(300, 300, 3);
    std::mt19937 rng(5);
    for (uint8_t& v : noise.pixels) v = uint8_t(rng());
    const std::string msg =
        test_limits::with_file_size_limit(8192, [&] { image::write_png(path, noise); });
    CHECK(msg.find("cannot write image " + path + ": File too large") != std::string::npos);
    // the target is named first; the temporary only as the detail, and it is gone
    CHECK(msg.rfind("cannot write image " + path +
                        ": File too large (while writing the temporary " + path + ".tmp.",
                    0) == 0);
    CHECK(msg.find("nothing was replaced") != std::string::npos);
    CHECK(file_bytes(path) == before);
    CHECK(dir.entries() == std::vector<std::string>{"out.png"});
    // without the limit the same write replaces the file
    image::write_png(path, noise);
    CHECK(image::read(path).pixels == noise.pixels);
    CHECK(dir.entries() == std::vector<std::string>{"out.png"});
  }

  TEST_CASE("write_png refuses bad images and unwritable targets, naming the target") {
    TempDir dir;
    image::Image img = card(3, 3, 3);
    img.pixels.pop_back();
    CHECK_THROWS_WITH_AS(image::write_png(dir.file("a.png"), img), Contains("bytes of pixels"),
                         Error);
    img = card(3, 3, 5);
    CHECK_THROWS_WITH_AS(image::write_png(dir.file("a.png"), img), Contains("1-4 channels"), Error);
    const std::string missing = dir.file("no/such/folder/a.png");
    CHECK_THROWS_WITH_AS(image::write_png(missing, card(3, 3, 1)),
                         Contains(("cannot write image " + missing).c_str()), Error);
    REQUIRE(::mkdir(dir.file("a_dir.png").c_str(), 0700) == 0);
    CHECK_THROWS_WITH_AS(image::write_png(dir.file("a_dir.png"), card(3, 3, 1)),
                         Contains("a_dir.png: it exists and is not a regular file (a directory)"),
                         Error);
    CHECK(dir.entries() == std::vector<std::string>{"a_dir.png"});
  }
}
