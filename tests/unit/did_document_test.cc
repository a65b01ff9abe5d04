#include <doctest/doctest.h>

TEST_CASE("did_document placeholder") {}
