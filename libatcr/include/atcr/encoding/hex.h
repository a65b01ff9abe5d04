// Lowercase hexadecimal.
#pragma once

#include <string>
#include <string_view>

#include "atcr/bytes.h"

namespace atcr::hex {

std::string encode(BytesView data);

// Accepts upper- or lowercase digits; throws ParseError on odd length or a
// non-hex character.
Bytes decode(std::string_view text);

}  // namespace atcr::hex
