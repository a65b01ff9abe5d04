#include <doctest/doctest.h>

TEST_CASE("plc placeholder") {}
