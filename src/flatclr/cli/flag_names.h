// Which command-line flag sets which configuration field. The library names fields by their place in the
// configuration, in backquotes (`data.fraction`, `probe.epochs`: core/error.h); what the user sees names the
// flag instead (--data_fraction, --fc_epochs). This table is the one place that knows both.
#pragma once

#include <ostream>
#include <streambuf>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace flatclr::cli {

// (field path, flag) for every field a flag sets, pretraining and evaluation.
const std::vector<std::pair<std::string_view, std::string_view>>& field_flags();

// The flag of a field path, or "" when no flag sets it.
std::string flag_of(std::string_view field);

// `message` with every backquoted field path replaced by its flag. A backquoted name that is not a field
// path but is a flag's name (config.json's keys are the flags' names) becomes that flag; anything else in
// backquotes (a command such as `flatclr diagnose RUN`) stays as it is.
std::string to_flags(std::string_view message);

// While alive, everything written to `stream` goes through to_flags, a line at a time (and on flush).
class FlagNamesFilter : public std::streambuf {
 public:
  explicit FlagNamesFilter(std::ostream& stream);
  ~FlagNamesFilter() override;
  FlagNamesFilter(const FlagNamesFilter&) = delete;
  FlagNamesFilter& operator=(const FlagNamesFilter&) = delete;

 protected:
  int_type overflow(int_type ch) override;
  int sync() override;

 private:
  void forward();
  std::ostream& stream_;
  std::streambuf* target_;
  std::string line_;
};

}  // namespace flatclr::cli
