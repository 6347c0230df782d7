// CHECK for the C drivers the ASan/UBSan tests build (tests/runtime/*_sanitize_driver.cpp): a failed condition
// is counted in `failures` and printed with its line; the driver reports the count at the end.
#pragma once

#include <cstdio>

static int failures = 0;
#define CHECK(cond, what)                                                  \
    do {                                                                   \
        if (!(cond)) {                                                     \
            ++failures;                                                    \
            std::printf("FAIL %s (line %d): %s\n", what, __LINE__, #cond); \
        }                                                                  \
    } while (0)
