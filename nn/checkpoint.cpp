// Training checkpoints (see nn/checkpoint.h): the metadata is exact text, written and read
// locale-independently, and read strictly: every field is checked against its range before
// anything changes, because a checkpoint may come from anywhere (the file's CRCs catch damage
// and hand edits; these checks catch what another writer, or an older build, put there).
// Messages quote untrusted text cut to 100 characters.
#include "nn/checkpoint.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <iomanip>
#include <iterator>
#include <locale>
#include <sstream>
#include <utility>

#include "core/error.h"

namespace glassbox {

namespace {

const char kCheckpointKey[] = "glassbox.checkpoint";
const char kCheckpointVersion[] = "1";
const std::string kModel = "model.";
const std::string kOptimizer = "optimizer.";
const std::string kExtra = "extra.";
const std::string kRng = "rng.";
// the optimizer's own metadata; every other "optimizer.<key>" is one of its settings
const std::string kOptimizerType = "optimizer.type";
const std::string kOptimizerParams = "optimizer.num_params";
// parameter groups after the first: "optimizer.group.<g>.<setting>" and ".num_params"
const std::string kOptimizerGroups = "optimizer.num_groups";
const std::string kOptimizerGroup = "optimizer.group.";
const std::string kScheduler = "scheduler.";
const std::string kSchedulerType = "scheduler.type";

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.size() >= prefix.size() && s.compare(0, prefix.size(), prefix) == 0;
}

// ---------------------------------------------------------------- exact text for numbers
// Locale-independent, so a program that changed LC_NUMERIC writes and reads the same files.

bool read_double(const std::string& text, double* out) {
  if (text == "nan") return *out = std::nan(""), true;
  if (text == "inf") return *out = HUGE_VAL, true;
  if (text == "-inf") return *out = -HUGE_VAL, true;
  if (text.empty() || std::isspace(static_cast<unsigned char>(text[0]))) return false;
  std::istringstream is(text);
  is.imbue(std::locale::classic());
  double v = 0;
  is >> v;
  if (is.fail() || is.peek() != std::char_traits<char>::eof()) return false;
  *out = v;
  return true;
}

// The shortest decimal text (at most 17 digits) that reads back to exactly `v`.
std::string format_double(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  std::string text;
  for (int digits = 15; digits <= 17; ++digits) {
    std::ostringstream os;
    os.imbue(std::locale::classic());
    os << std::setprecision(digits) << v;
    text = os.str();
    double back = 0;
    if (read_double(text, &back) && std::memcmp(&back, &v, sizeof v) == 0) break;
  }
  return text;
}

// A name from the file, quoted and clipped (core/error.h) for a message.
std::string quote(const std::string& s) { return "'" + clip(s) + "'"; }

// The counters a caller does arithmetic on (epoch + 1, step + n) stay below 2^53: far from
// int64 overflow, and exact as a double in a log or a plot.
constexpr uint64_t kMaxCounter = uint64_t{1} << 53;

// Reads `meta[key]` strictly; errors name the key, the allowed values and quote the text.
class MetaReader {
 public:
  explicit MetaReader(const Metadata& meta) : meta_(meta) {}

  const std::string& text(const std::string& key) const {
    auto it = meta_.find(key);
    GB_CHECK(it != meta_.end(), "the metadata lacks ", quote(key));
    return it->second;
  }

  // A finite number (no optimizer setting is meaningful as inf or nan).
  double real(const std::string& key) const {
    const std::string& t = text(key);
    double v = 0;
    GB_CHECK(read_double(t, &v) && std::isfinite(v), "metadata ", quote(key),
             " must be a finite number, got ", quote(t));
    return v;
  }

  // Decimal digits only, no sign, no leading zeros (one spelling per value), at most `max`.
  uint64_t integer(const std::string& key, uint64_t max) const {
    const std::string& t = text(key);
    bool ok = !t.empty() && !(t[0] == '0' && t.size() > 1);
    uint64_t v = 0;
    for (size_t i = 0; ok && i < t.size(); ++i) {
      const uint64_t d = uint64_t(t[i] - '0');
      ok = t[i] >= '0' && t[i] <= '9' && v <= (max - d) / 10;
      if (ok) v = v * 10 + d;
    }
    GB_CHECK(ok, "metadata ", quote(key), " must be a decimal integer from 0 to ", max,
             max == kMaxCounter ? " (2^53)" : "", ", got ", quote(t));
    return v;
  }

 private:
  const Metadata& meta_;
};

// Runs `body`; an Error it throws comes back with `where: ` in front.
template <class F>
auto with_context(const std::string& where, F&& body) -> decltype(body()) {
  try {
    return body();
  } catch (const Error& e) {
    fail(str(where, ": ", e.what()));
  }
}

// Splits "optimizer.group.<g>.<key>" into g and key; false for any other form.
bool split_group_key(const std::string& name, size_t* group, std::string* key) {
  const std::string rest = name.substr(kOptimizerGroup.size());
  const size_t dot = rest.find('.');
  if (dot == 0 || dot == std::string::npos || dot > 9 || (dot > 1 && rest[0] == '0')) return false;
  for (size_t i = 0; i < dot; ++i)
    if (rest[i] < '0' || rest[i] > '9') return false;
  *group = static_cast<size_t>(std::stoull(rest.substr(0, dot)));
  *key = rest.substr(dot + 1);
  return !key->empty();
}

// Validates the optimizer part of a checkpoint (tensors named "<index>.<key>", metadata
// "optimizer.*") against `optimizer` and builds its new state without changing it.
optim::Optimizer::PendingState prepare_optimizer(const optim::Optimizer& optimizer,
                                                 const TensorMap& tensors, const Metadata& meta) {
  const MetaReader read(meta);
  GB_CHECK(meta.count(kOptimizerType), "the metadata lacks '", kOptimizerType,
           "'; this is not optimizer state");
  const std::string& type = read.text(kOptimizerType);
  GB_CHECK(type == optimizer.name(), "the checkpoint holds ", clip(type),
           " state, the optimizer is ", optimizer.name());
  const uint64_t count = read.integer(kOptimizerParams, UINT64_MAX);
  GB_CHECK(count == optimizer.params().size(), "the checkpoint holds ", type, " state for ", count,
           " parameters, the optimizer has ", optimizer.params().size());
  // a checkpoint from before parameter groups has one group and no num_groups
  const uint64_t groups =
      meta.count(kOptimizerGroups) ? read.integer(kOptimizerGroups, 1 << 20) : 1;
  const auto& mine = optimizer.param_groups();
  GB_CHECK(groups == mine.size(), "the checkpoint holds ", groups, " parameter groups, the ",
           optimizer.name(), " has ", mine.size());
  std::vector<optim::Optimizer::Settings> settings(mine.size());
  for (const auto& [key, value] : meta) {
    if (!starts_with(key, kOptimizer) || key == kOptimizerType || key == kOptimizerParams ||
        key == kOptimizerGroups)
      continue;
    if (!starts_with(key, kOptimizerGroup)) {
      settings[0][key.substr(kOptimizer.size())] = read.real(key);
      continue;
    }
    size_t g = 0;
    std::string setting;
    GB_CHECK(split_group_key(key, &g, &setting) && g >= 1 && g < mine.size(), "metadata ",
             quote(key), " is not optimizer.group.<g>.<setting> with g from 1 to ",
             mine.size() - 1);
    if (setting == "num_params") {
      const uint64_t n = read.integer(key, UINT64_MAX);
      GB_CHECK(n == mine[g].params().size(), "the checkpoint's parameter group ", g, " holds ", n,
               " parameters, the optimizer's holds ", mine[g].params().size());
      continue;
    }
    settings[g][setting] = read.real(key);
  }
  for (size_t g = 1; g < mine.size(); ++g)
    (void)read.text(str(kOptimizerGroup, g, ".num_params"));  // present: the layout is checked
  return optimizer.prepare_state(settings, tensors);
}

void write_optimizer_metadata(const optim::Optimizer& optimizer, Metadata& meta) {
  meta[kOptimizerType] = optimizer.name();
  meta[kOptimizerParams] = std::to_string(optimizer.params().size());
  const auto& groups = optimizer.param_groups();
  // one group writes exactly what builds before parameter groups wrote
  if (groups.size() > 1) meta[kOptimizerGroups] = std::to_string(groups.size());
  for (size_t g = 0; g < groups.size(); ++g) {
    const std::string prefix = g == 0 ? kOptimizer : str(kOptimizerGroup, g, ".");
    if (g > 0) meta[prefix + "num_params"] = std::to_string(groups[g].params().size());
    for (const auto& [key, value] : groups[g].settings()) {
      const std::string name = prefix + key;
      GB_CHECK(name != kOptimizerType && name != kOptimizerParams && name != kOptimizerGroups &&
                   key != "num_params" && key.find('.') == std::string::npos,
               optimizer.name(), ": a setting named '", key,
               "' clashes with the checkpoint's own keys");
      // a setting that does not read back would make a checkpoint that cannot be resumed
      GB_CHECK(std::isfinite(value), optimizer.name(), ": setting '", key, "' is ", value,
               g > 0 ? str(" in parameter group ", g) : "",
               "; a checkpoint holds finite settings only");
      meta[name] = format_double(value);
    }
  }
}

// "scheduler.type" and "scheduler.<key>" for every entry of its state.
void write_scheduler_metadata(const optim::SchedulerBase& scheduler, Metadata& meta) {
  meta[kSchedulerType] = scheduler.name();
  for (const auto& [key, value] : scheduler.state_dict()) {
    GB_CHECK(!std::isnan(value), scheduler.name(), ": state '", key,
             "' is nan; a checkpoint cannot hold it");
    meta[kScheduler + key] = format_double(value);
  }
}

// Reads and checks the scheduler's state without changing it.
optim::SchedulerState prepare_scheduler(const optim::SchedulerBase& scheduler,
                                        const Metadata& meta) {
  const MetaReader read(meta);
  GB_CHECK(meta.count(kSchedulerType), "the checkpoint holds no scheduler state (no '",
           kSchedulerType, "'); load it without a scheduler");
  const std::string& type = read.text(kSchedulerType);
  GB_CHECK(type == scheduler.name(), "the checkpoint holds ", quote(type),
           " scheduler state, the scheduler is ", scheduler.name());
  optim::SchedulerState state;
  for (const auto& [key, text] : meta) {
    if (!starts_with(key, kScheduler) || key == kSchedulerType) continue;
    double v = 0;
    GB_CHECK(read_double(text, &v) && !std::isnan(v), "metadata ", quote(key),
             " must be a number, got ", quote(text));
    state[key.substr(kScheduler.size())] = v;
  }
  scheduler.check_state_dict(state);
  return state;
}

// The training state a checkpoint's metadata holds.
TrainingState parse_training_state(const Metadata& meta) {
  const MetaReader read(meta);
  TrainingState st;
  st.epoch = static_cast<int64_t>(read.integer("epoch", kMaxCounter));
  st.step = static_cast<int64_t>(read.integer("step", kMaxCounter));
  st.data_seed = read.integer("data_seed", UINT64_MAX);
  // Earlier builds saved a xoshiro256** state (rng.s0..rng.s3, rng.has_spare, rng.spare); no
  // offset of the Philox stream continues it, so resuming would silently change every later
  // dropout mask. Refuse it rather than guess.
  static const char* const xoshiro[] = {"rng.s0", "rng.s1",        "rng.s2",
                                        "rng.s3", "rng.has_spare", "rng.spare"};
  for (const char* key : xoshiro)
    GB_CHECK(!meta.count(key),
             "this checkpoint predates the counter-based (Philox) generator: it holds the "
             "xoshiro256** generator state of an earlier glassbox (metadata '",
             key,
             "'), which this build cannot continue, so a resumed run would not reproduce its "
             "dropout masks; resume it with the build that wrote it, or start a new run");
  st.rng.seed = read.integer("rng.seed", UINT64_MAX);
  st.rng.offset = read.integer("rng.offset", UINT64_MAX);
  static const char* const known[] = {"rng.seed", "rng.offset"};
  for (const auto& [key, value] : meta) {
    if (starts_with(key, kExtra)) st.extra[key.substr(kExtra.size())] = value;
    if (starts_with(key, kRng))
      GB_CHECK(std::find(std::begin(known), std::end(known), key) != std::end(known),
               "unknown metadata key ", quote(key),
               " (the generator state is rng.seed, rng.offset)");
  }
  return st;
}

// Every way `tensors` fails to fit `model` strictly, as load_state_dict would find it
// (missing and unexpected names, shapes and dtypes that differ) but without loading: an
// error message in load_state_dict's layout, or "" when the model part fits. A model that
// does not fit usually leaves the optimizer unfit too; the caller adds that as one more line.
std::string model_mismatch(const nn::Module& model, const TensorMap& tensors) {
  const nn::OrderedDict<Tensor> mine = model.state_dict();
  std::vector<std::string> missing, unexpected, mismatched;
  for (const auto& [name, t] : mine) {
    auto it = tensors.find(name);
    if (it == tensors.end()) {
      missing.push_back(name);
      continue;
    }
    const Tensor& v = it->second;
    const bool same_shape = v.shape() == t.shape(), same_dtype = v.dtype() == t.dtype();
    if (!same_shape && !same_dtype)
      mismatched.push_back(str(name, ": ", dtype_name(t.dtype()), " ", t.shape_str(),
                               " in the model, ", dtype_name(v.dtype()), " ", v.shape_str(),
                               " in the checkpoint"));
    else if (!same_shape)
      mismatched.push_back(str(name, ": shape ", t.shape_str(), " in the model, ", v.shape_str(),
                               " in the checkpoint"));
    else if (!same_dtype)
      mismatched.push_back(str(name, ": ", dtype_name(t.dtype()), " in the model, ",
                               dtype_name(v.dtype()), " in the checkpoint"));
  }
  for (const auto& [name, t] : tensors)
    if (!mine.contains(name)) unexpected.push_back(name);
  if (missing.empty() && unexpected.empty() && mismatched.empty()) return "";
  std::string counts, lines;
  // names from the file are untrusted: each is clipped, and a list stops after kMaxListed
  constexpr size_t kMaxListed = 20;
  auto names = [&](const char* what, const std::vector<std::string>& keys) {
    if (keys.empty()) return;
    counts += str(counts.empty() ? "" : ", ", keys.size(), " ", what);
    lines += str("\n  ", what, ": ");
    for (size_t i = 0; i < keys.size() && i < kMaxListed; ++i)
      lines += (i ? ", " : "") + quote(keys[i]);
    if (keys.size() > kMaxListed) lines += str(" and ", keys.size() - kMaxListed, " more");
  };
  names("missing", missing);
  names("unexpected", unexpected);
  if (!mismatched.empty())
    counts += str(counts.empty() ? "" : ", ", mismatched.size(), " mismatched");
  for (size_t i = 0; i < mismatched.size() && i < kMaxListed; ++i)
    lines += "\n  mismatched: " + mismatched[i];
  if (mismatched.size() > kMaxListed)
    lines += str("\n  mismatched: and ", mismatched.size() - kMaxListed, " more");
  return str("the checkpoint does not match ", model.name(), " (", counts,
             "); nothing was loaded:", lines);
}

}  // namespace

// ---------------------------------------------------------------- optimizer alone

TensorMap optimizer_state_tensors(const optim::Optimizer& optimizer, Metadata* metadata) {
  if (metadata) write_optimizer_metadata(optimizer, *metadata);
  TensorMap out;
  for (auto& [name, t] : optimizer.state_dict_tensors()) out[name] = t.cpu();
  return out;
}

void load_optimizer_state(optim::Optimizer& optimizer, const TensorMap& tensors,
                          const Metadata& metadata) {
  optimizer.commit_state(with_context(
      "load_optimizer_state", [&] { return prepare_optimizer(optimizer, tensors, metadata); }));
}

void save_optimizer(const optim::Optimizer& optimizer, const std::string& path) {
  Metadata meta;
  const TensorMap tensors = optimizer_state_tensors(optimizer, &meta);
  save_safetensors(path, tensors, meta);
}

void load_optimizer(optim::Optimizer& optimizer, const std::string& path) {
  Metadata meta;
  const TensorMap tensors = load_safetensors(path, &meta);
  optimizer.commit_state(with_context("load_optimizer(" + path + ")",
                                      [&] { return prepare_optimizer(optimizer, tensors, meta); }));
}

// ---------------------------------------------------------------- checkpoints

void save_checkpoint(const std::string& path, const nn::Module& model,
                     const optim::Optimizer& optimizer, const TrainingState& state,
                     const optim::SchedulerBase* scheduler) {
  GB_CHECK(!scheduler || &scheduler->optimizer() == &optimizer, "save_checkpoint(", path,
           "): the scheduler (", scheduler ? scheduler->name() : "", ") drives another optimizer");
  TensorMap tensors;
  for (const auto& [name, t] : model.state_dict()) tensors[kModel + name] = t.detach().cpu();
  Metadata meta;
  for (auto& [name, t] : optimizer_state_tensors(optimizer, &meta)) tensors[kOptimizer + name] = t;
  meta[kCheckpointKey] = kCheckpointVersion;
  meta["epoch"] = std::to_string(state.epoch);
  meta["step"] = std::to_string(state.step);
  meta["data_seed"] = std::to_string(state.data_seed);
  meta["rng.seed"] = std::to_string(state.rng.seed);
  meta["rng.offset"] = std::to_string(state.rng.offset);
  for (const auto& [key, value] : state.extra) meta[kExtra + key] = value;
  if (scheduler) write_scheduler_metadata(*scheduler, meta);
  save_safetensors(path, tensors, meta);
}

TrainingState load_checkpoint(const std::string& path, nn::Module& model,
                              optim::Optimizer& optimizer, optim::SchedulerBase* scheduler) {
  const std::string where = "load_checkpoint(" + path + ")";
  GB_CHECK(!scheduler || &scheduler->optimizer() == &optimizer, where, ": the scheduler (",
           scheduler ? scheduler->name() : "", ") drives another optimizer");
  Metadata meta;
  const TensorMap tensors = load_safetensors(path, &meta);
  auto version = meta.find(kCheckpointKey);
  GB_CHECK(version != meta.end(), where, ": not a training checkpoint (no ", kCheckpointKey,
           " key); for weights use nn::load");
  GB_CHECK(version->second == kCheckpointVersion, where, ": checkpoint format version ",
           quote(version->second), " is not supported (this build reads version ",
           kCheckpointVersion, ")");

  TensorMap model_tensors, optimizer_tensors;
  for (const auto& [name, t] : tensors) {
    if (starts_with(name, kModel))
      model_tensors[name.substr(kModel.size())] = t;
    else if (starts_with(name, kOptimizer))
      optimizer_tensors[name.substr(kOptimizer.size())] = t;
    else
      fail(str(where, ": unexpected tensor ", quote(name),
               " (a checkpoint holds model.<name> and optimizer.<index>.<key> tensors)"));
  }

  // Everything that can fail, before anything changes: the training state, the model (every
  // name, shape and dtype) and the optimizer (validated, its new state built aside); one
  // error reports both.
  TrainingState state = with_context(where, [&] { return parse_training_state(meta); });
  optim::SchedulerState scheduler_state;
  if (scheduler)
    scheduler_state = with_context(where, [&] { return prepare_scheduler(*scheduler, meta); });
  else if (const auto type = meta.find("scheduler.type"); type != meta.end())
    // dropping it would restart the schedule from whatever lr the optimizer has now
    fail(str(where, ": the checkpoint holds the state of a ", clip(type->second),
             " scheduler; pass that scheduler to load_checkpoint so the run resumes its schedule"));
  const std::string model_error = model_mismatch(model, model_tensors);
  optim::Optimizer::PendingState pending;
  try {
    pending = prepare_optimizer(optimizer, optimizer_tensors, meta);
  } catch (const Error& e) {
    fail(model_error.empty() ? str(where, ": ", e.what())
                             : str(where, ": ", model_error, "\n  optimizer: ", e.what()));
  }
  GB_CHECK(model_error.empty(), where, ": ", model_error);
  // Both fit: load_state_dict repeats the model's checks and copies; committing the
  // optimizer cannot fail.
  with_context(where, [&] { (void)model.load_state_dict(model_tensors, /*strict=*/true); });
  optimizer.commit_state(std::move(pending));
  if (scheduler) scheduler->load_state_dict(scheduler_state);  // checked above: cannot fail
  return state;
}

}  // namespace glassbox
