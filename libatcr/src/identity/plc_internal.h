// Pieces shared by the did:plc sources; not part of the public API.
#pragma once

#include "atcr/data/value.h"
#include "atcr/identity/plc.h"

namespace atcr::identity::detail {

// The state fields of a plc_operation or of a /data answer. Throws
// ParseError when a field is missing or of the wrong shape.
PlcState plc_state_from_value(const Value& map);

}  // namespace atcr::identity::detail
