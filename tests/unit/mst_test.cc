#include <doctest/doctest.h>

TEST_CASE("mst placeholder") {}
