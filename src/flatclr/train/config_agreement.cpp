#include "flatclr/train/config_agreement.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "flatclr/core/error.h"

namespace flatclr::train {

std::vector<std::string> trajectory_differences(const std::string& a_json, const std::string& a_name,
                                                const std::string& b_json, const std::string& b_name,
                                                const std::vector<std::string>& ignore) {
  const auto a = nlohmann::json::parse(a_json, nullptr, /*allow_exceptions=*/false);
  const auto b = nlohmann::json::parse(b_json, nullptr, /*allow_exceptions=*/false);
  if (!a.is_object() || !b.is_object()) return {"the configuration is not a JSON object"};
  std::vector<std::string> out;
  for (const auto& key : PretrainConfig::trajectory_keys()) {
    if (std::find(ignore.begin(), ignore.end(), key) != ignore.end()) continue;
    if (!a.contains(key) || !b.contains(key) || a[key] == b[key]) continue;
    out.push_back(
        detail::concat(Field{key}, "=", a[key].dump(), " ", a_name, ", ", b[key].dump(), " ", b_name));
  }
  return out;
}

void check_same_configuration(const PretrainConfig& config, dist::DataParallel& dp) {
  if (!dp.distributed()) return;
  const std::string mine = config.to_json();
  const std::string rank0s = dp.agree(mine);
  const auto diffs = trajectory_differences(mine, "on this rank", rank0s, "on rank 0");
  const int64_t differing = dp.group().sum_over_ranks(diffs.empty() ? 0 : 1);
  if (differing == 0) return;
  if (!diffs.empty()) {
    std::string list;
    for (const auto& d : diffs) list += (list.empty() ? "" : "; ") + d;
    fail("rank ", dp.rank(), " of ", dp.world_size(),
         " was started with another configuration than rank 0: ", list,
         ". Start every host with the same flags");
  }
  fail("rank ", dp.rank(), " of ", dp.world_size(), ": ", differing, " rank(s) were started with another ",
       "configuration than rank 0 (their errors name the fields). Start every host with the same flags");
}

}  // namespace flatclr::train
