// The one error policy of flatclr.
//
// - UserError: the user gave something wrong (a flag value, a missing or corrupt file). The message names
//   the thing and says what was expected; the CLI prints it and exits non-zero (2 for bad flags, 1 else).
// - FLATCLR_CHECK(cond, parts...): an internal invariant. Failing it is a bug in flatclr, never an input
//   problem; it throws InternalError with the file and line.
// - Field{"data.fraction"}: a configuration field named inside a message. The library knows the
// configuration,
//   never the command line: it writes the field's place in the configuration, in backquotes
//   (`data.fraction`), and the CLI, which knows which flag sets which field, shows the user the flag instead
//   (cli/flag_names.h).
// Never use assert() on input: it vanishes in release builds.
#pragma once

#include <ostream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>

namespace flatclr {

struct UserError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A bad command-line flag or flag value (the CLI exits 2 on this one).
struct UsageError : UserError {
  using UserError::UserError;
};

struct InternalError : std::logic_error {
  using std::logic_error::logic_error;
};

struct Field {
  std::string_view path;
};

inline std::ostream& operator<<(std::ostream& os, Field field) {
  return os << ("`" + std::string(field.path) + "`");  // one write: a flush cannot split it
}

namespace detail {
template <typename... Parts>
std::string concat(const Parts&... parts) {
  std::ostringstream os;
  (os << ... << parts);
  return os.str();
}
}  // namespace detail

template <typename... Parts>
[[noreturn]] void fail(const Parts&... parts) {
  throw UserError(detail::concat(parts...));
}

template <typename... Parts>
[[noreturn]] void fail_usage(const Parts&... parts) {
  throw UsageError(detail::concat(parts...));
}

}  // namespace flatclr

#define FLATCLR_CHECK(cond, ...)                                                                             \
  do {                                                                                                       \
    if (!(cond)) {                                                                                           \
      throw ::flatclr::InternalError(                                                                        \
          ::flatclr::detail::concat(__FILE__, ":", __LINE__, ": check failed: " #cond ": ", ##__VA_ARGS__)); \
    }                                                                                                        \
  } while (0)
