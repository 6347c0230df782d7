// Exercises the decoder core through its C header under AddressSanitizer + UBSan (see test_sanitizers.py).
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <vector>

#include "dsl_decode.h"

namespace {

unsigned long long state = 88172645463325252ull;
float uniform(float lo, float hi) {  // xorshift: deterministic, no <random> differences between libraries
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return lo + (hi - lo) * static_cast<float>((state >> 11) * (1.0 / 9007199254740992.0));
}

int failures = 0;
void check(bool ok, const char* what) {
    if (!ok) {
        std::fprintf(stderr, "FAILED: %s (%s)\n", what, dsl_decoder_last_error());
        ++failures;
    }
}

struct Frame {
    int32_t h, w, hp, wp;
    std::vector<float> player, offset, pif;
    Frame(int32_t h_, int32_t w_, float density) : h(h_), w(w_), hp((h_ - 1) / 8 + 1), wp((w_ - 1) / 8 + 1) {
        player.resize(size_t(h) * w);
        offset.resize(2 * player.size());
        pif.resize(size_t(19) * 5 * hp * wp);
        for (float& v : player) v = uniform(0, 1);
        for (float& v : offset) v = uniform(-20, 20);
        const size_t plane = size_t(hp) * wp;
        for (int k = 0; k < 19; ++k)
            for (size_t c = 0; c < plane; ++c) {
                float* base = pif.data() + size_t(k) * 5 * plane + c;
                base[0] = uniform(0, 1) < density ? uniform(0, 1) : 0.0f;
                base[plane] = uniform(-5, float(w) + 5);
                base[2 * plane] = uniform(-5, float(h) + 5);
                base[3 * plane] = 8.0f;
                base[4 * plane] = uniform(-1, 15);
            }
    }
    dsl_fields fields() const { return dsl_fields{player.data(), offset.data(), pif.data(), h, w, hp, wp}; }
};

void check_output(const dsl_output& o, const Frame& f, int32_t max_players) {
    check(o.num_players >= 0 && o.num_players <= max_players, "player count within max_players");
    std::vector<int64_t> area(size_t(o.num_players) + 1, 0);
    for (size_t i = 0; i < size_t(f.h) * f.w; ++i) {
        check(o.labels[i] >= 0 && o.labels[i] <= o.num_players, "label in range");
        if (o.labels[i] >= 0 && o.labels[i] <= o.num_players) ++area[size_t(o.labels[i])];
    }
    for (int32_t i = 0; i < o.num_players; ++i) {
        check(area[size_t(i) + 1] == o.areas[i] && o.areas[i] > 0, "area is the pixel count");
        check(o.boxes[4 * i] < o.boxes[4 * i + 2] && o.boxes[4 * i + 3] <= float(f.h), "box is well formed");
    }
    if (o.has_ball) check(o.ball[2] > 0 && o.ball[0] < float(f.w) && o.ball[1] < float(f.h), "ball in the frame");
}

}  // namespace

int main() {
    dsl_params p;
    dsl_params_default(&p);
    check(dsl_decoder_create(nullptr) == nullptr, "NULL params refused");
    dsl_params bad = p;
    bad.nms_window = 2;
    check(dsl_decoder_create(&bad) == nullptr && std::strlen(dsl_decoder_last_error()) > 0, "even window refused");
    bad = p;
    bad.truncate = std::numeric_limits<float>::quiet_NaN();
    check(dsl_decoder_create(&bad) == nullptr, "NaN truncate refused");

    for (int threads = 1; threads <= 2; ++threads) {
        for (int exact = 0; exact <= 1; ++exact) {
            dsl_params q = p;
            q.num_threads = threads;
            q.exact = exact;
            q.max_players = 4;
            q.keypoint_threshold = exact ? 0.0f : 0.05f;
            dsl_decoder* d = dsl_decoder_create(&q);
            check(d != nullptr, "create");
            const int32_t sizes[][2] = {{1, 1}, {1, 17}, {23, 1}, {33, 41}, {64, 48}, {33, 41}, {9, 9}};
            for (const auto& s : sizes) {
                Frame f(s[0], s[1], exact ? 0.05f : 0.4f);
                dsl_fields fields = f.fields();
                dsl_output o;
                std::memset(&o, 0, sizeof o);
                check(dsl_decoder_decode(d, &fields, &o) == DSL_OK, "decode");
                check_output(o, f, q.max_players);
                // caller-provided outputs
                std::vector<int32_t> labels(size_t(f.h) * f.w);
                std::vector<float> kp(size_t(q.max_players) * 51), sc(size_t(q.max_players)),
                    bx(size_t(q.max_players) * 4), ce(size_t(q.max_players) * 2);
                std::vector<int64_t> ar(size_t(q.max_players));
                dsl_output o2;
                std::memset(&o2, 0, sizeof o2);
                o2.labels = labels.data();
                o2.keypoints = kp.data();
                o2.scores = sc.data();
                o2.boxes = bx.data();
                o2.areas = ar.data();
                o2.centers = ce.data();
                check(dsl_decoder_decode(d, &fields, &o2) == DSL_OK, "decode into caller buffers");
                check_output(o2, f, q.max_players);
                check(o2.num_players == o.num_players, "same answer twice");
                int32_t fh = 0, fw = 0;
                const float* fused = dsl_decoder_fused(d, &fh, &fw);
                check(fused != nullptr && fh == f.h && fw == f.w, "fused maps exposed");
                std::vector<float> maps(size_t(19) * f.h * f.w);
                check(dsl_decoder_fuse(d, f.pif.data(), f.hp, f.wp, f.h, f.w, exact, maps.data()) == DSL_OK, "fuse");
                check(std::memcmp(maps.data(), fused, maps.size() * sizeof(float)) == 0, "fuse equals decode's maps");
                // non-finite values are reported, and the decoder stays usable
                Frame g = f;
                g.pif[0] = std::numeric_limits<float>::quiet_NaN();
                dsl_fields gf = g.fields();
                check(dsl_decoder_decode(d, &gf, &o) == DSL_ERR_NONFINITE, "NaN confidence reported");
                g = f;
                g.player[g.player.size() - 1] = std::numeric_limits<float>::infinity();
                gf = g.fields();
                check(dsl_decoder_decode(d, &gf, &o) == DSL_ERR_NONFINITE, "inf probability reported");
                check(dsl_decoder_decode(d, &fields, &o) == DSL_OK, "usable after an error");
            }
            dsl_output o;
            check(dsl_decoder_decode(d, nullptr, &o) == DSL_ERR_ARGUMENT, "NULL fields refused");
            dsl_fields empty{nullptr, nullptr, nullptr, 4, 4, 1, 1};
            check(dsl_decoder_decode(d, &empty, &o) == DSL_ERR_ARGUMENT, "NULL arrays refused");
            Frame f(8, 8, 0.5f);
            dsl_fields zero = f.fields();
            zero.height = 0;
            check(dsl_decoder_decode(d, &zero, &o) == DSL_ERR_ARGUMENT, "zero height refused");
            dsl_decoder_destroy(d);
        }
    }
    dsl_decoder_destroy(nullptr);
    std::printf("%s %d failures\n", dsl_decode_version(), failures);
    return failures == 0 ? 0 : 1;
}
