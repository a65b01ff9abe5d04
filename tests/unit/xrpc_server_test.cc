#include <doctest/doctest.h>

TEST_CASE("xrpc_server placeholder") {}
