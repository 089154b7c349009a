// The one error policy of flatclr.
//
// - UserError: the user gave something wrong (a flag value, a missing or corrupt file). The message names
//   the thing and says what was expected; the CLI prints it and exits non-zero (2 for bad flags, 1 else).
// - FLATCLR_CHECK(cond, parts...): an internal invariant. Failing it is a bug in flatclr, never an input
//   problem; it throws InternalError with the file and line.
// Never use assert() on input: it vanishes in release builds.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

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
