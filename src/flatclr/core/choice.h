// Typed choices. Every option with a fixed set of values (optimizer lars|sgd|adam, scheduler, projection
// head,
// ...) is an enum from the moment the CLI parses it; past that point the library switches on the enum and
// never compares strings. Each enum lists its names once, beside its own definition:
//
//   enum class OptimizerKind { kLars, kSgd, kAdam };
//   inline constexpr core::Choice<OptimizerKind> kOptimizerKinds[] = {
//       {OptimizerKind::kLars, "lars"}, {OptimizerKind::kSgd, "sgd"}, {OptimizerKind::kAdam, "adam"}};
//   constexpr const auto& choices_of(OptimizerKind) { return kOptimizerKinds; }  // found by ADL
//
// The names are the values of the command line, of config.json and of checkpoints.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "flatclr/core/error.h"

namespace flatclr::core {

template <typename E>
struct Choice {
  E value;
  const char* name;
};

// The name of a value ("lars"). A value missing from its table is a bug in flatclr.
template <typename E>
std::string name_of(E value) {
  for (const auto& c : choices_of(E{})) {
    if (c.value == value) return c.name;
  }
  throw InternalError("an enum value without a name: " + std::to_string(static_cast<int>(value)));
}

// The value of a name; nullopt for anything else (the caller says which option was wrong).
template <typename E>
std::optional<E> parse_choice(std::string_view name) {
  for (const auto& c : choices_of(E{})) {
    if (name == c.name) return c.value;
  }
  return std::nullopt;
}

// "lars, sgd, adam": for messages and help texts.
template <typename E>
std::string choice_list(const char* separator = ", ") {
  std::string out;
  for (const auto& c : choices_of(E{})) out += (out.empty() ? "" : separator) + std::string(c.name);
  return out;
}

}  // namespace flatclr::core
