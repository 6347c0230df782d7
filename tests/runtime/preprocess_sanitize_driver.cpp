// Drives csrc/src/preprocess.cpp through its C header under AddressSanitizer + UBSan (test_preprocess_native.py):
// random frames in buffers of exactly their size (so a read past a row or the frame is caught), random letterboxes,
// both resizes and both outputs, bad arguments; prints a checksum of every output so that two runs (vector kernels
// and DSL_PREPROCESS_PLAIN=1) can be compared.
#include "dsl_preprocess.h"
#include "sanitize_check.h"

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <random>
#include <vector>

static uint64_t mix(uint64_t h, const void* data, size_t n) {
    const auto* p = static_cast<const uint8_t*>(data);
    for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ULL;
    return h;
}

int main() {
    std::mt19937 rng(7);
    auto uni = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
    dsl_prep* prep = dsl_prep_create();
    CHECK(prep != nullptr, "create");
    uint64_t sum = 1469598103934665603ULL;
    for (int t = 0; t < 400; ++t) {
        const int fw = t % 5 == 0 ? uni(1, 8) : uni(1, 1400), fh = t % 7 == 0 ? uni(1, 8) : uni(1, 900);
        const int pad = uni(0, 5) * 3;  // bytes past each row: 0 for most
        const int64_t stride = 3LL * fw + pad;
        const size_t bytes = static_cast<size_t>(stride * (fh - 1) + 3LL * fw);  // the last row ends the buffer
        std::unique_ptr<uint8_t[]> frame(new uint8_t[bytes]);
        for (size_t i = 0; i < bytes; ++i) frame[i] = static_cast<uint8_t>(rng());
        dsl_prep_params p;
        std::memset(&p, 0, sizeof p);
        p.width = uni(1, 300);
        p.height = uni(1, 300);
        p.resize = uni(0, 1);
        p.write_padding = 1;
        p.pad_value = uni(0, 255);
        for (int c = 0; c < 3; ++c) p.source_channel[c] = 2 - c, p.scale[c] = 0.017f * (c + 1), p.shift[c] = -2.0f;
        if (t % 3 == 0) {  // any rectangle, not only the letterbox
            p.content_width = uni(1, p.width);
            p.content_height = uni(1, p.height);
            p.content_x = uni(0, p.width - p.content_width);
            p.content_y = uni(0, p.height - p.content_height);
        } else {
            CHECK(dsl_prep_letterbox(fw, fh, &p) == DSL_PREP_OK, "letterbox");
        }
        const dsl_prep_frame f = {frame.get(), fw, fh, stride};
        const size_t n = static_cast<size_t>(p.width) * p.height * 3;
        std::unique_ptr<float[]> out(new float[n]);
        std::unique_ptr<uint8_t[]> out8(new uint8_t[n]);
        CHECK(dsl_prep_float(prep, &f, &p, out.get()) == DSL_PREP_OK, dsl_prep_last_error());
        CHECK(dsl_prep_uint8(prep, &f, &p, out8.get()) == DSL_PREP_OK, dsl_prep_last_error());
        // The float planes are the uint8 content normalised.
        for (int y = 0; y < p.height; y += 7)
            for (int x = 0; x < p.width; x += 5)
                for (int c = 0; c < 3; ++c) {
                    const size_t at = (static_cast<size_t>(y) * p.width + x);
                    const float want = static_cast<float>(out8[at * 3 + p.source_channel[c]]) * p.scale[c] + p.shift[c];
                    CHECK(out[static_cast<size_t>(c) * p.width * p.height + at] == want, "float = normalised uint8");
                }
        sum = mix(sum, out.get(), n * sizeof(float));
        sum = mix(sum, out8.get(), n);
    }
    // Bad arguments: refused with a message, nothing written.
    uint8_t px[12] = {0};
    float o[12];
    dsl_prep_params p;
    std::memset(&p, 0, sizeof p);
    p.width = p.height = 2;
    p.content_width = p.content_height = 2;
    dsl_prep_frame f = {px, 2, 2, 6};
    CHECK(dsl_prep_float(prep, &f, &p, o) == DSL_PREP_OK, "valid 2x2");
    CHECK(dsl_prep_float(nullptr, &f, &p, o) == DSL_PREP_ERR_ARGUMENT, "NULL prep");
    CHECK(dsl_prep_float(prep, nullptr, &p, o) == DSL_PREP_ERR_ARGUMENT, "NULL frame");
    CHECK(dsl_prep_float(prep, &f, nullptr, o) == DSL_PREP_ERR_ARGUMENT, "NULL params");
    CHECK(dsl_prep_float(prep, &f, &p, nullptr) == DSL_PREP_ERR_ARGUMENT, "NULL out");
    dsl_prep_frame g = f;
    g.row_stride = 5;
    CHECK(dsl_prep_uint8(prep, &g, &p, px) == DSL_PREP_ERR_ARGUMENT, "short stride");
    g = f;
    g.width = 0;
    CHECK(dsl_prep_uint8(prep, &g, &p, px) == DSL_PREP_ERR_ARGUMENT, "zero width");
    g = f;
    g.height = DSL_PREP_MAX_SIDE + 1;
    CHECK(dsl_prep_uint8(prep, &g, &p, px) == DSL_PREP_ERR_ARGUMENT, "huge height");
    dsl_prep_params q = p;
    q.content_x = 1;
    CHECK(dsl_prep_float(prep, &f, &q, o) == DSL_PREP_ERR_ARGUMENT, "content outside");
    CHECK(std::strstr(dsl_prep_last_error(), "content rectangle") != nullptr, "message names the rectangle");
    q = p;
    q.content_width = -1;
    CHECK(dsl_prep_float(prep, &f, &q, o) == DSL_PREP_ERR_ARGUMENT, "negative content");
    q = p;
    q.resize = 9;
    CHECK(dsl_prep_float(prep, &f, &q, o) == DSL_PREP_ERR_ARGUMENT, "resize");
    q = p;
    q.pad_value = 256;
    CHECK(dsl_prep_float(prep, &f, &q, o) == DSL_PREP_ERR_ARGUMENT, "pad value");
    q = p;
    q.source_channel[1] = 3;
    CHECK(dsl_prep_float(prep, &f, &q, o) == DSL_PREP_ERR_ARGUMENT, "source channel");
    q = p;
    q.width = 0;
    CHECK(dsl_prep_letterbox(4, 4, &q) == DSL_PREP_ERR_ARGUMENT, "letterbox of an empty input");
    CHECK(dsl_prep_letterbox(0, 4, &p) == DSL_PREP_ERR_ARGUMENT, "letterbox of an empty frame");
    CHECK(dsl_prep_letterbox(4, 4, nullptr) == DSL_PREP_ERR_ARGUMENT, "letterbox NULL");
    dsl_prep_destroy(prep);
    dsl_prep_destroy(nullptr);
    std::printf("checksum %016llx\n%d failures\n", static_cast<unsigned long long>(sum), failures);
    return failures == 0 ? 0 : 1;
}
