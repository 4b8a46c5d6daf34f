// Writing JSON text by hand, for the few places loom prints it (stats, plans, device lists,
// JSON-lines sinks): strings escaped, invalid UTF-8 replaced by U+FFFD, numbers always valid.
#pragma once

#include <string>
#include <string_view>

namespace loom {

// `s` as a quoted JSON string.
std::string json_string(std::string_view s);

// Plain decimal with three fractional digits; `null` for NaN and infinities, which JSON lacks.
std::string json_number(double value);
// Six significant digits, in exponent form where that is shorter (1.5e-07): for figures such as
// a cost per output that three decimals would round to zero. `null` as above.
std::string json_significant(double value);

}  // namespace loom
