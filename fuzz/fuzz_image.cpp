// Fuzz target: the image decoder for untrusted files, glassbox::image::decode (datasets/image.h),
// on the input bytes, with the default Limits the programs use.
//
// Bad input must end in glassbox::Error (fuzz_util.h). A decoded image must keep the header's
// promises: 1..4 channels, both sides at least 1 and within max_side, at most max_pixels, and
// pixels.size() == width * height * channels. It is then decoded again as 1 and as 4 channels,
// which must succeed with the same size and match the documented conversion of the file's own
// channels (stb_image's: grey = (77 R + 150 G + 29 B) >> 8, alpha dropped or added as 255).
// Any broken promise is a finding.
#include <string>

#include "core/error.h"
#include "datasets/image.h"
#include "fuzz/fuzz_util.h"

namespace {

using glassbox::image::Image;

void check_shape(const Image& im, int want, const glassbox::image::Limits& limits) {
  const bool channels_ok = want == 0 ? im.channels >= 1 && im.channels <= 4 : im.channels == want;
  if (!channels_ok)
    glassbox::fuzz::finding("decode returned " + std::to_string(im.channels) +
                            " channels for want_channels " + std::to_string(want));
  if (im.width < 1 || im.height < 1 || im.width > limits.max_side || im.height > limits.max_side ||
      im.width * im.height > limits.max_pixels)
    glassbox::fuzz::finding("decode returned " + std::to_string(im.width) + "x" +
                            std::to_string(im.height) + ", outside its limits");
  if (im.pixels.size() != static_cast<size_t>(im.width * im.height * im.channels))
    glassbox::fuzz::finding("decode returned a pixel buffer of the wrong size");
}

// The documented conversion of one pixel `p` with `from` channels to `to` channels.
void convert(const uint8_t* p, int from, int to, uint8_t* out) {
  const bool colour = from >= 3;
  const int grey = colour ? (77 * p[0] + 150 * p[1] + 29 * p[2]) >> 8 : p[0];
  const int alpha = from == 2 ? p[1] : from == 4 ? p[3] : 255;
  if (to == 1) out[0] = static_cast<uint8_t>(grey);
  if (to == 4) {
    for (int c = 0; c < 3; ++c) out[c] = colour ? p[c] : static_cast<uint8_t>(grey);
    out[3] = static_cast<uint8_t>(alpha);
  }
}

void check_conversion(const Image& own, const Image& converted, int want) {
  if (converted.width != own.width || converted.height != own.height)
    glassbox::fuzz::finding("want_channels " + std::to_string(want) + " changed the image size");
  const size_t pixels = static_cast<size_t>(own.width * own.height);
  for (size_t i = 0; i < pixels; ++i) {
    uint8_t expect[4];
    convert(&own.pixels[i * own.channels], static_cast<int>(own.channels), want, expect);
    for (int c = 0; c < want; ++c)
      if (converted.pixels[i * want + c] != expect[c])
        glassbox::fuzz::finding("want_channels " + std::to_string(want) + " from " +
                                std::to_string(own.channels) + " channels: pixel " +
                                std::to_string(i) + " differs from the documented conversion");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const glassbox::image::Limits limits;
  Image own;
  try {
    own = glassbox::image::decode(data, size, "<fuzz input>", 0, limits);
  } catch (const glassbox::Error& e) {
    glassbox::fuzz::refused(e);
    return 0;  // refused with a message: the expected outcome for bad input
  }
  check_shape(own, 0, limits);
  for (int want : {1, 4}) {
    Image converted;
    try {
      converted = glassbox::image::decode(data, size, "<fuzz input>", want, limits);
    } catch (const glassbox::Error& e) {
      glassbox::fuzz::finding(std::string("decodes as its own channels but not as ") +
                              std::to_string(want) + ": " + std::string(e.what()).substr(0, 200));
    }
    check_shape(converted, want, limits);
    check_conversion(own, converted, want);
  }
  return 0;
}
