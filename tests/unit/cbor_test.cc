#include <doctest/doctest.h>

TEST_CASE("cbor placeholder") {}
