#include <doctest/doctest.h>

TEST_CASE("commit placeholder") {}
