// nn::save / nn::load: a module's state_dict() as a safetensors file (see nn/serialize.h).
#include "nn/serialize.h"

namespace glassbox::nn {

void save(const Module& module, const std::string& path, const Metadata& metadata) {
  TensorMap state;
  for (const auto& [name, t] : module.state_dict()) state[name] = t.detach().cpu();
  Metadata meta = metadata;
  meta.emplace("format", "pt");  // what PyTorch's safetensors.torch writes; kept if given
  save_safetensors(path, state, meta);
}

LoadReport load(Module& module, const std::string& path, bool strict) {
  TensorMap state = load_safetensors(path);  // its errors name the path already
  try {
    return module.load_state_dict(state, strict, "the file");
  } catch (const Error& e) {
    fail(str("nn::load(", path, "): ", e.what()));
  }
}

}  // namespace glassbox::nn
