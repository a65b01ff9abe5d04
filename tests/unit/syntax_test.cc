#include <doctest/doctest.h>

TEST_CASE("syntax placeholder") {}
