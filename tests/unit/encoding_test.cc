#include <doctest/doctest.h>

TEST_CASE("encoding placeholder") {}
