#include <doctest/doctest.h>

TEST_CASE("keys placeholder") {}
