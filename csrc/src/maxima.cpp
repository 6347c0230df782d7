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

}  // namespace

bool is_local_max(const float* m, int32_t h, int32_t w, int32_t idx, int32_t radius) {
    const int32_t y = idx / w, x = idx % w;
    const float v = m[idx];
    // Fused maps are smooth, so most pixels that are not maxima lose to a direct neighbour: test those first.
    const int32_t r1 = std::min<int32_t>(radius, 1);
    if (!beats_window(m, w, idx, v, std::max(0, y - r1), std::min(h - 1, y + r1), std::max(0, x - r1),
                      std::min(w - 1, x + r1)))
        return false;
    if (radius <= 1) return true;
    return beats_window(m, w, idx, v, std::max(0, y - radius), std::min(h - 1, y + radius), std::max(0, x - radius),
                        std::min(w - 1, x + radius));
}

}  // namespace dsl
