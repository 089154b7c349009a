// The contrastive methods and their losses, chosen once: SimCLR (InfoNCE) and FlatCLR (FlatNCE). Adding a
// method is a loss file plus one line in the table of method.cpp; nothing else tests the method's name.
#pragma once

#include <ATen/ATen.h>

#include <optional>
#include <string>
#include <vector>

#include "flatclr/core/choice.h"
#include "flatclr/losses/contrastive_output.h"

namespace flatclr::losses {

enum class Method { kSimCLR, kFlatCLR };

// z: [2N, D] projections of 2N views (rows i and i+N: two views of one image); returns the loss to
// backpropagate and what the loggers read (contrastive_output.h).
using LossFn = ContrastiveOutput (*)(const at::Tensor& z, double temperature);

struct MethodInfo {
  Method method;
  const char* key;        // "simclr": the value of the command line and of config.json
  const char* name;       // "SimCLR": run folders (<batch>_SimCLR) and messages
  const char* loss_name;  // "InfoNCE"
  LossFn loss;
};

// Every method, in the order of the table.
const std::vector<MethodInfo>& methods();
const MethodInfo& method_info(Method method);
// The method of a key ("simclr", "flatclr"); nullopt for anything else.
std::optional<Method> find_method(const std::string& key);
// The keys as typed choices (core/choice.h: parse_choice<Method>, name_of), taken from the same table.
const std::vector<core::Choice<Method>>& choices_of(Method);

}  // namespace flatclr::losses
