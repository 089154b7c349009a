#include "flatclr/losses/method.h"

#include <string>

#include "flatclr/core/error.h"
#include "flatclr/losses/flat_nce.h"
#include "flatclr/losses/info_nce.h"

namespace flatclr::losses {

const std::vector<MethodInfo>& methods() {
  static const std::vector<MethodInfo> kMethods = {
      {Method::kSimCLR, "simclr", "SimCLR", "InfoNCE", &info_nce_loss},
      {Method::kFlatCLR, "flatclr", "FlatCLR", "FlatNCE", &flat_nce_loss},
  };
  return kMethods;
}

const MethodInfo& method_info(Method method) {
  for (const auto& m : methods())
    if (m.method == method) return m;
  throw InternalError("unknown losses::Method " + std::to_string(static_cast<int>(method)));
}

const std::vector<core::Choice<Method>>& choices_of(Method) {
  static const std::vector<core::Choice<Method>> kChoices = [] {
    std::vector<core::Choice<Method>> out;
    for (const auto& m : methods()) out.push_back({m.method, m.key});
    return out;
  }();
  return kChoices;
}

std::optional<Method> find_method(const std::string& key) {
  for (const auto& m : methods())
    if (key == m.key) return m.method;
  return std::nullopt;
}

}  // namespace flatclr::losses
