// Local maxima of fused maps, searched only among the pixels the fusion wrote.
#include <algorithm>

#include "core.hpp"
#include "params.hpp"

namespace dsl {

void collect_candidates(Scratch& s, int k, const dsl_params& p) {
    std::vector<int32_t>& out = s.candidates[k];
    const float* m = s.map(k);
    const float thr = p.keypoint_threshold;
    const bool strict = p.strict_thresholds != 0;
    if (s.dense[k] || !(strict ? thr >= 0.0f : thr > 0.0f)) {
        // A zero pixel can pass a zero threshold, and exact mode writes everywhere: scan it all.
        out.clear();
        const int32_t n = s.height * s.width;
        for (int32_t i = 0; i < n; ++i)
            if (passes(m[i], thr, strict)) out.push_back(i);
        return;
    }
    // The fusion listed each pixel once, when it crossed the threshold. The list is not in raster order;
    // the callers break ties by raster index themselves, so no sort is needed.
}

namespace {

// The window rule over rows ya..yb and columns xa..xb: false when a neighbour beats pixel idx.
inline bool beats_window(const float* m, int32_t w, int32_t idx, float v, int32_t ya, int32_t yb, int32_t xa,
                         int32_t xb) {
    for (int32_t yy = ya; yy <= yb; ++yy) {
        const float* row = m + static_cast<size_t>(yy) * w;
        for (int32_t xx = xa; xx <= xb; ++xx) {
            const float q = row[xx];
            const int32_t j = yy * w + xx;
            if (j < idx) {
                if (!(v >= q)) return false;
            } else if (j > idx) {
                if (!(v > q)) return false;  // a later equal neighbour wins the tie: one maximum per plateau
            }
        }
    }
    return true;
}

#if DSL_AVX2_KERNEL
// The same rule 8 columns a step: a lane passes with v >= q before pixel idx in raster order (earlier rows, and
// columns up to x on its row, idx itself included: v >= v) and with v > q after it.
__attribute__((target("avx2"))) bool beats_window_avx2(const float* m, int32_t w, int32_t x, int32_t y, float v,
                                                       int32_t ya, int32_t yb, int32_t xa, int32_t xb) {
    const __m256 vv = _mm256_set1_ps(v);
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const int32_t n = xb - xa + 1;
    for (int32_t yy = ya; yy <= yb; ++yy) {
        const float* row = m + static_cast<size_t>(yy) * w + xa;
        for (int32_t i = 0; i < n; i += 8) {
            const __m256i inside = _mm256_cmpgt_epi32(_mm256_set1_epi32(n - i), lane);
            const __m256 q = _mm256_maskload_ps(row + i, inside);
            // Lanes at or before idx in raster order compare with >=, the others with >.
            const int32_t last_ge = yy < y ? 8 : (yy > y ? 0 : x - xa - i + 1);
            const __m256 use_ge = _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32(last_ge), lane));
            const __m256 ok = _mm256_blendv_ps(_mm256_cmp_ps(vv, q, _CMP_GT_OQ), _mm256_cmp_ps(vv, q, _CMP_GE_OQ),
                                               use_ge);
            const int want = _mm256_movemask_ps(_mm256_castsi256_ps(inside));
            if ((_mm256_movemask_ps(ok) & want) != want) return false;
        }
    }
    return true;
}
#endif

// beats_window with the vector kernel where it runs; (x, y) is pixel idx.
bool beats(const float* m, int32_t w, int32_t idx, int32_t x, int32_t y, float v, int32_t ya, int32_t yb, int32_t xa,
           int32_t xb) {
#if DSL_AVX2_KERNEL
    if (use_avx2()) return beats_window_avx2(m, w, x, y, v, ya, yb, xa, xb);
#else
    (void)x;
    (void)y;
#endif
    return beats_window(m, w, idx, v, ya, yb, xa, xb);
}

}  // namespace

bool is_local_max(const float* m, int32_t h, int32_t w, int32_t idx, int32_t radius) {
    const int32_t y = idx / w, x = idx % w;
    const float v = m[idx];
    // Fused maps are smooth, so most pixels that are not maxima lose to a direct neighbour: test those first.
    const int32_t r1 = std::min<int32_t>(radius, 1);
    if (!beats(m, w, idx, x, y, v, std::max(0, y - r1), std::min(h - 1, y + r1), std::max(0, x - r1),
                      std::min(w - 1, x + r1)))
        return false;
    if (radius <= 1) return true;
    return beats(m, w, idx, x, y, v, std::max(0, y - radius), std::min(h - 1, y + radius), std::max(0, x - radius),
                        std::min(w - 1, x + radius));
}

}  // namespace dsl
