#include <doctest/doctest.h>

TEST_CASE("sha256 placeholder") {}
