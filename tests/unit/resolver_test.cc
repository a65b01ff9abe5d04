#include <doctest/doctest.h>

TEST_CASE("resolver placeholder") {}
