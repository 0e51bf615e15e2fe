// Writes the fuzz seed corpora under fuzz/corpus/<target>/: valid files as the library (and,
// for images, stb_image_write) writes them, so the fuzzer starts deep inside the formats, and
// one crafted file per defect class of issue 13, so every class is replayed as a test forever.
// Run once after a format change and commit the output:
//
//   cmake --build build/h_fuzz --target fuzz_make_seeds && build/h_fuzz/fuzz/fuzz_make_seeds
//   fuzz/corpus
//
// The output is deterministic (fixed seeds, no time stamps): rerunning it changes nothing
// unless the library's writers change. Files are a few hundred bytes except the two nested-JSON
// seeds (160 KB: the nesting depth is the point).
#include <stb_image_write.h>
#include <zlib.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/generator.h"
#include "core/ops.h"
#include "core/safetensors.h"
#include "datasets/idx.h"
#include "nn/checkpoint.h"
#include "nn/nn.h"
#include "nn/serialize.h"
#include "optim/optim.h"

namespace {

using namespace glassbox;
namespace fs = std::filesystem;
using Bytes = std::vector<uint8_t>;

fs::path g_root;

void put(const std::string& target, const std::string& name, const Bytes& bytes) {
  fs::create_directories(g_root / target);
  std::ofstream out(g_root / target / name, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
  GB_CHECK(out.good(), "make_seeds: cannot write ", (g_root / target / name).string());
}

Bytes slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

Bytes head(const Bytes& b, size_t n) { return Bytes(b.begin(), b.begin() + std::min(n, b.size())); }

void le(Bytes& b, uint64_t v, int n) {
  for (int i = 0; i < n; ++i) b.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
void be(Bytes& b, uint64_t v, int n) {
  for (int i = n; i-- > 0;) b.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

// ------------------------------------------------------------------------ safetensors

// A file from a header we write by hand: 8-byte length, then the JSON, then `data`.
Bytes st_file(const std::string& json, const Bytes& data = {}, uint64_t declared = UINT64_MAX) {
  Bytes b;
  le(b, declared == UINT64_MAX ? json.size() : declared, 8);
  b.insert(b.end(), json.begin(), json.end());
  b.insert(b.end(), data.begin(), data.end());
  return b;
}

std::string nested(size_t depth, const std::string& inner) {
  return std::string(depth, '[') + inner + std::string(depth, ']');
}

nn::Sequential fuzz_model() {  // the model fuzz_checkpoint.cpp loads into
  manual_seed(0);
  return nn::Sequential(nn::Conv2d(1, 2, 3), nn::Flatten(), nn::Linear(8, 3));
}

void safetensors_seeds() {
  manual_seed(1);
  const TensorMap tensors = {
      {"f32", randn({2, 3})},       {"f64", randn({3}).to(kFloat64)}, {"i64", arange(4)},
      {"u8", arange(5).to(kUInt8)}, {"bool", arange(3).to(kBool)},    {"scalar", randn({})},
      {"empty", zeros({0, 3})}};
  const Bytes valid = safetensors_serialize(tensors, {{"format", "pt"}, {"note", "seed"}});
  put("safetensors", "valid_all_dtypes.safetensors", valid);
  put("safetensors", "valid_empty.safetensors", safetensors_serialize({}));
  // PyTorch's writer: no glassbox.crc32, unpadded header
  put("safetensors", "valid_no_crc.safetensors",
      st_file(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", Bytes(8, 0x3f)));

  // defect 1: nesting 80,000 deep where a list of integers or a string belongs
  put("safetensors", "nested_shape.safetensors",
      st_file(R"({"a":{"dtype":"F32","shape":)" + nested(80000, "1") +
              R"(,"data_offsets":[0,4]}})"));
  // defect 2: header lengths past the end of the file, up to 2^64 - 1
  put("safetensors", "header_past_end.safetensors", st_file("{}", {}, 1000));
  put("safetensors", "header_len_max.safetensors", st_file("{}", {}, UINT64_MAX - 1));
  // huge declared dims: the element count overflows 64 bits; data_offsets lie
  put("safetensors", "huge_dims.safetensors",
      st_file(R"({"a":{"dtype":"F64","shape":[4294967296,4294967296,4294967296],)"
              R"("data_offsets":[0,8]}})",
              Bytes(8, 0)));
  put("safetensors", "offsets_past_end.safetensors",
      st_file(R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,18446744073709551615]}})",
              Bytes(4, 1)));
  put("safetensors", "offsets_overlap.safetensors",
      st_file(R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},)"
              R"("b":{"dtype":"U8","shape":[4],"data_offsets":[2,6]}})",
              Bytes(6, 1)));
  // a damaged data byte: the CRC must catch it
  Bytes flipped = valid;
  flipped.back() ^= 0x01;
  put("safetensors", "crc_mismatch.safetensors", flipped);
  put("safetensors", "bad_metadata.safetensors",
      st_file(R"({"__metadata__":{"glassbox.crc32":"zz","n":7},"x":{"dtype":"X9","shape":[-1],)"
              R"("data_offsets":[4,0]}})"));
}

// ------------------------------------------------------------------------- checkpoints

void checkpoint_seeds(const fs::path& scratch) {
  nn::Sequential model = fuzz_model();
  optim::Adam adam(model->parameters(), optim::AdamOptions(0.01));
  manual_seed(2);
  for (int step = 0; step < 2; ++step) {  // two steps, so the optimizer has state to save
    adam.zero_grad();
    model(randn({2, 1, 4, 4})).sum().backward();
    adam.step();
  }
  TrainingState state;
  state.epoch = 1;
  state.step = 2;
  state.rng = default_generator().state();
  state.data_seed = 5;
  state.extra["test_batch_next"] = "3";
  const std::string ckpt = (scratch / "run.ckpt").string();
  save_checkpoint(ckpt, *model, adam, state);
  const Bytes valid = slurp(ckpt);
  put("checkpoint", "valid.ckpt", valid);
  const std::string weights = (scratch / "w.safetensors").string();
  nn::save(*model, weights);
  put("checkpoint", "valid_weights.safetensors", slurp(weights));

  // defect 8: metadata the CRC does not cover, edited to values out of range or not numbers
  Metadata meta;
  const TensorMap tensors = safetensors_parse(valid.data(), valid.size(), &meta);
  const std::pair<const char*, const char*> edits[] = {
      {"extra.test_batch_next", "abc"},  {"step", "-5"},
      {"epoch", "9223372036854775807"},  {"optimizer.lr", "nan"},
      {"optimizer.num_params", "99999"}, {"rng.offset", "18446744073709551616"}};
  int n = 0;
  for (const auto& [key, value] : edits) {
    Metadata edited = meta;
    edited[key] = value;
    put("checkpoint", "meta_" + std::to_string(n++) + ".ckpt",
        safetensors_serialize(tensors, edited));
  }
  // defect 1 through the loaders: the dtype nested 80,000 deep
  put("checkpoint", "nested_dtype.ckpt",
      st_file(R"({"__metadata__":{"glassbox.checkpoint":"1"},"model.0.bias":{"dtype":)" +
              nested(80000, "\"F32\"") + R"(,"shape":[2],"data_offsets":[0,8]}})"));
  put("checkpoint", "header_past_end.ckpt", head(valid, 64));
  put("checkpoint", "data_cut.ckpt", head(valid, valid.size() - 5));
}

// ------------------------------------------------------------------------------- IDX

Bytes gzip(const Bytes& data) {
  z_stream z{};
  GB_CHECK(deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY) == Z_OK, "deflate");
  Bytes out(deflateBound(&z, data.size()) + 32);
  z.next_in = const_cast<Bytef*>(data.data());
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = out.data();
  z.avail_out = static_cast<uInt>(out.size());
  GB_CHECK(deflate(&z, Z_FINISH) == Z_STREAM_END, "deflate");
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

Bytes idx_header(uint8_t type, const std::vector<uint32_t>& dims) {
  Bytes b = {0, 0, type, static_cast<uint8_t>(dims.size())};
  for (uint32_t d : dims) be(b, d, 4);
  return b;
}

void idx_seeds(const fs::path& scratch) {
  manual_seed(3);
  const std::pair<const char*, Tensor> files[] = {{"images_u8", (rand({3, 4, 4}) * 255).to(kUInt8)},
                                                  {"labels_i64", arange(6)},
                                                  {"f32", randn({2, 3})},
                                                  {"f64", randn({2, 2}).to(kFloat64)}};
  for (const auto& [name, t] : files) {
    const std::string raw = (scratch / name).string(), gz = raw + ".gz";
    datasets::write_idx(raw, t);
    datasets::write_idx(gz, t, true);
    put("idx", std::string(name) + ".idx", slurp(raw));
    put("idx", std::string(name) + ".idx.gz", slurp(gz));
  }
  Bytes int16 = idx_header(0x0B, {3});  // int16 and int8 are read but never written
  be(int16, 0x8001, 2), be(int16, 7, 2), be(int16, 0xffff, 2);
  put("idx", "int16.idx", int16);
  Bytes int8 = idx_header(0x09, {2, 2});
  be(int8, 0x80ff017f, 4);
  put("idx", "int8.idx", int8);

  // defect 3: 1024 x 4096 x 4096 uint8 is 16 GiB, which is 0 mod 2^32, so the trailer's
  // ISIZE (16: the header alone) agrees with the header; the stream holds no data at all
  const Bytes forged = gzip(idx_header(0x08, {1024, 4096, 4096}));
  put("idx", "forged_trailer.idx.gz", forged);
  std::fprintf(stderr, "forged gzip trailer seed: %zu bytes\n", forged.size());
  // huge dims: the element count overflows; a raw file far shorter than its header says
  put("idx", "huge_dims.idx", idx_header(0x0E, {0xffffffff, 0xffffffff, 0xffffffff, 2}));
  Bytes shorter = idx_header(0x0D, {100, 100});
  shorter.resize(shorter.size() + 12, 0);
  put("idx", "truncated.idx", shorter);
  const Bytes whole = slurp((scratch / "images_u8.gz").string());
  put("idx", "truncated.idx.gz", head(whole, whole.size() - 9));
  put("idx", "rank255.idx", idx_header(0x08, std::vector<uint32_t>(255, 1)));
}

// ------------------------------------------------------------------------------ images

void png_chunk(Bytes& png, const char* type, const Bytes& body) {
  be(png, body.size(), 4);
  const size_t start = png.size();
  png.insert(png.end(), type, type + 4);
  png.insert(png.end(), body.begin(), body.end());
  be(png, ::crc32(0, png.data() + start, static_cast<uInt>(png.size() - start)), 4);
}

// A grey 8-bit PNG of width x height zero pixels, every chunk valid: big on screen, tiny on disk.
Bytes png_grey(uint32_t width, uint32_t height) {
  Bytes png = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  Bytes ihdr;
  be(ihdr, width, 4), be(ihdr, height, 4);
  ihdr.insert(ihdr.end(), {8, 0, 0, 0, 0});  // depth 8, grey, deflate, adaptive, no interlace
  png_chunk(png, "IHDR", ihdr);
  const Bytes raw(static_cast<size_t>(width + 1) * height, 0);  // filter byte + row, per row
  uLongf len = compressBound(static_cast<uLong>(raw.size()));
  Bytes z(len);
  GB_CHECK(compress2(z.data(), &len, raw.data(), static_cast<uLong>(raw.size()), 9) == Z_OK,
           "zlib");
  z.resize(len);
  png_chunk(png, "IDAT", z);
  png_chunk(png, "IEND", {});
  return png;
}

void to_bytes(void* ctx, void* data, int size) {
  auto* out = static_cast<Bytes*>(ctx);
  const auto* p = static_cast<const uint8_t*>(data);
  out->insert(out->end(), p, p + size);
}

void image_seeds() {
  // small valid images in every format and channel count the decoders take
  for (int c : {1, 2, 3, 4}) {
    std::vector<uint8_t> px(static_cast<size_t>(5 * 3 * c));
    for (size_t i = 0; i < px.size(); ++i) px[i] = static_cast<uint8_t>(37 * i + 11);
    const std::string tag = std::to_string(c) + "ch";
    Bytes png, bmp, tga, jpg;
    stbi_write_png_to_func(to_bytes, &png, 5, 3, c, px.data(), 5 * c);
    put("image", "valid_" + tag + ".png", png);
    if (c == 1 || c == 3) {
      stbi_write_jpg_to_func(to_bytes, &jpg, 5, 3, c, px.data(), 90);
      put("image", "valid_" + tag + ".jpg", jpg);
      put("image", "truncated_" + tag + ".jpg", head(jpg, jpg.size() / 2));
    }
    if (c >= 3) {
      stbi_write_bmp_to_func(to_bytes, &bmp, 5, 3, c, px.data());
      put("image", "valid_" + tag + ".bmp", bmp);
    }
    if (c == 3) {  // TGA is refused by name (datasets/image.h): one valid file checks that
      stbi_write_tga_to_func(to_bytes, &tga, 5, 3, c, px.data());
      put("image", "valid_" + tag + ".tga", tga);
    }
    if (c == 3) put("image", "truncated_3ch.png", head(png, png.size() - 20));
  }
  put("image", "valid_grey_8x8.png", png_grey(8, 8));
  // defect 4: 100000 x 1 pixels in a few hundred bytes; a header claiming 65535 x 65535
  put("image", "wide_100000x1.png", png_grey(100000, 1));
  Bytes huge = png_grey(1, 1);
  const uint8_t dims[8] = {0, 0, 0xff, 0xff, 0, 0, 0xff, 0xff};
  std::memcpy(huge.data() + 16, dims, 8);  // IHDR's width and height; its CRC is redone below
  const uint32_t crc = ::crc32(0, huge.data() + 12, 17);
  for (int i = 0; i < 4; ++i) huge[29 + i] = static_cast<uint8_t>(crc >> (24 - 8 * i));
  put("image", "huge_65535x65535.png", huge);
  // a 37-byte TGA whose header claims 9043 x 21248 pixels of 24 bits (576 MB decoded)
  Bytes tga = {0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  le(tga, 9043, 2), le(tga, 21248, 2);
  tga.push_back(24), tga.push_back(0);
  tga.resize(37, 0x55);
  put("image", "tga_9043x21248.tga", tga);
  // a JPEG whose SOF0 claims 65500 x 65500, cut after the frame header
  const Bytes sof = {0xff, 0xd8, 0xff, 0xc0, 0x00, 0x0b, 0x08, 0xff, 0xdc,
                     0xff, 0xdc, 0x01, 0x01, 0x11, 0x00, 0xff, 0xd9};
  put("image", "huge_sof.jpg", sof);
  put("image", "empty", {});
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CORPUS_FOLDER (fuzz/corpus)\n", argv[0]);
    return 2;
  }
  try {
    g_root = argv[1];
    const fs::path scratch = fs::temp_directory_path() / "glassbox_make_seeds";
    fs::create_directories(scratch);
    safetensors_seeds();
    checkpoint_seeds(scratch);
    idx_seeds(scratch);
    image_seeds();
    fs::remove_all(scratch);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "make_seeds: %s\n", e.what());
    return 1;
  }
  return 0;
}
