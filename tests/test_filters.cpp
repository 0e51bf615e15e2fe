// The filters example on a small generated image: PNG round trip, every algorithm against a
// naive per-channel loop, kernel parsing errors, and image I/O failures: a full disk (under a
// file size limit) leaves the previous output whole, a truncated input says why.
#include <doctest/doctest.h>

#include <signal.h>
#include <stb_image_write.h>
#include <sys/resource.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <unistd.h>
#include <vector>

#include "datasets/image.h"
#include "filters.h"
#include "resource_limits.h"
#include "temp_dir.h"

using namespace glassbox;
using doctest::Contains;

namespace {

// The file's bytes ("" when it is missing).
std::string contents(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

// A 3-channel 11x7 test card with gradients and a bright square.
std::vector<unsigned char> test_card(int w, int h) {
  std::vector<unsigned char> px(size_t(w * h * 3));
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      unsigned char* p = &px[size_t((y * w + x) * 3)];
      p[0] = static_cast<unsigned char>(x * 23);
      p[1] = static_cast<unsigned char>(y * 35);
      p[2] = (x > 3 && x < 7 && y > 1 && y < 5) ? 250 : 10;
    }
  return px;
}

// out[c][y][x] = sum_ij k[i][j] * in[c][y+i][x+j], valid region, then clamped like save_png
float naive(const std::vector<unsigned char>& px, int w, int c, int y, int x,
            const filters::Kernel3& k) {
  float s = 0;
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j)
      s += k[i * 3 + j] * float(px[size_t(((y + i) * w + x + j) * 3 + c)]);
  return s;
}

}  // namespace

TEST_SUITE("filters") {
  TEST_CASE("emboss on a generated image matches a naive loop with every algorithm") {
    const int w = 11, h = 7;
    std::vector<unsigned char> px = test_card(w, h);
    std::string in = "/tmp/glassbox_filters_in_" + std::to_string(::getpid()) + ".png";
    std::string out = "/tmp/glassbox_filters_out_" + std::to_string(::getpid()) + ".png";
    REQUIRE(stbi_write_png(in.c_str(), w, h, 3, px.data(), w * 3) != 0);

    Tensor image = filters::load_image(in);
    CHECK(image.shape() == Shape{1, 3, h, w});
    CHECK(image.select(1, 2).select(1, 3).select(1, 5).item<float>() == 250.f);

    filters::Kernel3 k = filters::parse_kernel("emboss");
    for (F::ConvAlgo a : {F::ConvAlgo::Direct, F::ConvAlgo::ShiftGemm, F::ConvAlgo::Im2col,
                          F::ConvAlgo::Flat, F::ConvAlgo::Auto}) {
      CAPTURE(F::conv_algo_name(a));
      Tensor r = filters::apply(image, k, /*same=*/false, a);
      REQUIRE(r.shape() == Shape{1, 3, h - 2, w - 2});
      std::vector<float> v = r.to_vector<float>();
      for (int c = 0; c < 3; ++c)
        for (int y = 0; y < h - 2; ++y)
          for (int x = 0; x < w - 2; ++x)
            CHECK(v[size_t((c * (h - 2) + y) * (w - 2) + x)] ==
                  doctest::Approx(naive(px, w, c, y, x, k)));
      CHECK(filters::apply(image, k, /*same=*/true, a).shape() == Shape{1, 3, h, w});
    }

    // written PNG reads back clamped to 0..255
    Tensor r = filters::apply(image, k, false, F::ConvAlgo::Direct);
    filters::save_png(r, out);
    Tensor back = filters::load_image(out);
    CHECK(back.shape() == r.shape());
    Tensor clamped = minimum(maximum(r, scalar_like(r, 0.0)), scalar_like(r, 255.0));
    CHECK(max(abs(back - clamped)).item<float>() <= 0.5f);
    std::remove(in.c_str());
    std::remove(out.c_str());
  }

  TEST_CASE("kernels parse by name or as nine numbers, and bad input is an Error") {
    CHECK(filters::parse_kernel("identity")[4] == 1.f);
    CHECK(filters::parse_kernel("1,2,3,4,5,6,7,8,9")[8] == 9.f);
    CHECK_THROWS_WITH_AS(filters::parse_kernel("1,2,3"), Contains("nine"), Error);
    CHECK_THROWS_WITH_AS(filters::parse_kernel("1,2,x,4,5,6,7,8,9"), Contains("not a number"),
                         Error);
    CHECK_THROWS_WITH_AS(filters::load_image("/nonexistent.png"), Contains("cannot read image"),
                         Error);
  }

  TEST_CASE("save_png on a full disk fails loudly and keeps the previous file whole") {
    // It used to write a truncated PNG and report success.
    TempDir dir("glassbox_filters");
    const std::string path = dir.file("out.png");
    filters::save_png(full({1, 1, 4, 4}, 9.0), path);
    const std::string before = contents(path);
    Tensor noise = rand({1, 3, 300, 300}) * 255.0;  // noise does not compress
    const std::string msg =
        test_limits::with_file_size_limit(8192, [&] { filters::save_png(noise, path); });
    CHECK(msg.find("cannot write image " + path + ": File too large") != std::string::npos);
    CHECK(contents(path) == before);
    CHECK(dir.entries() == std::vector<std::string>{"out.png"});  // no temporary left
  }

  TEST_CASE("load_image names the file and the reason for a truncated or unknown file") {
    TempDir dir("glassbox_filters");
    const std::string path = dir.file("in.png");
    filters::save_png(full({1, 3, 8, 8}, 100.0), path);
    std::string bytes = contents(path);
    std::ofstream(path, std::ios::binary).write(bytes.data(), std::streamsize(bytes.size() / 2));
    CHECK_THROWS_WITH_AS(filters::load_image(path),
                         Contains(("cannot read image " + path + ": truncated PNG").c_str()),
                         Error);
    std::ofstream(path, std::ios::binary) << "GIF89a....";
    CHECK_THROWS_WITH_AS(filters::load_image(path), Contains("GIF images are not supported"),
                         Error);
  }

  TEST_CASE("load_image refuses images above filters' own pixel limit, from the header") {
    TempDir dir("glassbox_filters");
    const std::string path = dir.file("big.png");
    image::Image big;  // 2897^2 = 8,392,609 grey pixels: just over 2^23
    big.width = big.height = 2897;
    big.channels = 1;
    big.pixels.assign(size_t(big.width * big.height), 0);
    image::write_png(path, big);
    CHECK_THROWS_WITH_AS(filters::load_image(path), Contains("more than the limit of 8388608"),
                         Error);
    big.height = 2895;  // 8,386,815: within it
    big.pixels.resize(size_t(big.width * big.height));
    image::write_png(path, big);
    CHECK(filters::load_image(path).sizes() == Shape{1, 1, 2895, 2897});
  }
}
