// Eq. 3 fusion: each PIF seed splats a Gaussian onto its type's full-resolution map.
//
// Only the rectangles written by the previous frame are cleared, so a frame costs the area its
// seeds touch, not 19 full maps. Arithmetic mirrors dsl_deploy/decode/reference.py exactly:
// float32 everywhere except the Gaussian factors (float64, rounded once), seeds in raster order.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <new>

#include "core.hpp"

namespace dsl {

namespace {

bool finite(float v) { return std::isfinite(v); }

// Truncated support [lo, hi) along one axis, in float32 like the reference.
void support(float mu, float reach, int32_t size, int32_t& lo, int32_t& hi) {
    float lo_f = std::floor(mu - reach);
    lo = static_cast<int32_t>(std::min(std::max(lo_f, 0.0f), static_cast<float>(size - 1)));
    float hi_f = std::floor(mu + reach) + 1.0f;
    hi = static_cast<int32_t>(std::min(std::max(hi_f, static_cast<float>(lo + 1)), static_cast<float>(size)));
}

// Gaussian factors of pixels lo..hi-1 (exp in float64, rounded once to float32); returns the pixel within
// half a pixel of mu (the one that takes the full value in the truncated convention), or -1.
int32_t factors(float* out, int32_t lo, int32_t hi, float mu, double two_s2) {
    int32_t nearest = -1;
    for (int32_t i = lo; i < hi; ++i) {
        const double d = static_cast<double>(i) - static_cast<double>(mu);
        out[i] = static_cast<float>(std::exp(-(d * d) / two_s2));
        if (d * d < 0.25) nearest = i;
    }
    return nearest;
}

void clear_map(Scratch& s, int k) {
    float* m = s.map(k);
    const int32_t w = s.width;
    if (s.dense[k]) {
        std::memset(m, 0, sizeof(float) * static_cast<size_t>(s.height) * w);
    } else {
        for (const Rect& r : s.dirty[k])
            for (int32_t y = r.y0; y < r.y1; ++y)
                std::memset(m + static_cast<size_t>(y) * w + r.x0, 0, sizeof(float) * (r.x1 - r.x0));
    }
    s.dirty[k].clear();
    s.dense[k] = false;
}

DSL_SIMD_CLONES
void fuse_type(Scratch& s, int k, const float* pif, int32_t hp, int32_t wp, const dsl_params& p, bool exact) {
    clear_map(s, k);
    const size_t plane = static_cast<size_t>(hp) * wp;
    const float* conf = pif + static_cast<size_t>(k) * DSL_PIF_CHANNELS * plane;
    const float* px = conf + plane;
    const float* py = conf + 2 * plane;
    const float* psig = conf + 4 * plane;
    const int32_t h = s.height, w = s.width;
    float* m = s.map(k);
    float* ex = s.ex[k].data();
    float* ey = s.ey[k].data();
    const float t = p.truncate, div = p.weight_divisor, thr = p.keypoint_threshold;
    // Maxima are searched among pixels >= thr; with thr > 0 those are pixels a splat pushed over it.
    const bool track = !exact && thr > 0.0f && k != DSL_TYPE_BALL;  // the ball is an argmax, not maxima
    std::vector<int32_t>& cand = s.candidates[k];
    cand.clear();
    for (size_t c = 0; c < plane; ++c) {
        const float conf_c = conf[c];
        if (!(conf_c >= p.seed_threshold)) continue;
        const float x = px[c], y = py[c];
        const float sig = std::max(psig[c], p.sigma_min);
        const double two_s2 = 2.0 * static_cast<double>(sig) * static_cast<double>(sig);
        int32_t x0 = 0, x1 = w, y0 = 0, y1 = h;
        float v = conf_c;
        if (!exact) {
            v = conf_c / div;
            support(x, t * sig, w, x0, x1);
            support(y, t * sig, h, y0, y1);
        }
        const int32_t near_x = factors(ex, x0, x1, x, two_s2);
        const int32_t near_y = factors(ey, y0, y1, y, two_s2);
        for (int32_t yy = y0; yy < y1; ++yy) {
            float* row = m + static_cast<size_t>(yy) * w;
            const float fy = ey[yy];
            const int32_t nx = (!exact && yy == near_y) ? near_x : -1;  // this row's full-value pixel, if any
            const float b_nx = nx >= 0 ? row[nx] : 0.0f;
            if (track) {
                // Values only grow, so a pixel crosses the threshold once: the candidate list needs no dedup.
                // Counted without branches (SIMD); the full-value pixel is checked on its own.
                int32_t crossings = 0;
                for (int32_t xx = x0; xx < x1; ++xx) {
                    const float b = row[xx];
                    crossings += (b + v * (fy * ex[xx]) >= thr ? 1 : 0) - (b >= thr ? 1 : 0);
                }
                if (nx >= 0 && b_nx < thr && b_nx + v >= thr) ++crossings;
                if (crossings > 0)
                    for (int32_t xx = x0; xx < x1; ++xx) {
                        const float b = row[xx];
                        if (b < thr && b + v * (xx == nx ? 1.0f : fy * ex[xx]) >= thr) cand.push_back(yy * w + xx);
                    }
            }
            for (int32_t xx = x0; xx < x1; ++xx) row[xx] += v * (fy * ex[xx]);  // SIMD lanes
            if (nx >= 0) row[nx] = b_nx + v;  // the nearest pixel takes the full value (weight 1)
        }
        if (exact)
            s.dense[k] = true;
        else
            s.dirty[k].push_back(Rect{x0, y0, x1, y1});
    }
}

}  // namespace

void check_pif(const float* pif, int32_t hp, int32_t wp, const dsl_params& p) {
    static const char* channel[DSL_PIF_CHANNELS] = {"confidence", "x", "y", "b", "sigma"};
    const size_t plane = static_cast<size_t>(hp) * wp;
    for (int k = 0; k < DSL_NUM_TYPES; ++k) {
        const float* conf = pif + static_cast<size_t>(k) * DSL_PIF_CHANNELS * plane;
        for (size_t c = 0; c < plane; ++c) {
            int bad = -1;
            if (!finite(conf[c]))
                bad = 0;
            else if (conf[c] >= p.seed_threshold)
                for (int ch : {1, 2, 4})
                    if (!finite(conf[ch * plane + c])) { bad = ch; break; }
            if (bad >= 0)
                throw Error{DSL_ERR_NONFINITE,
                            "pif: non-finite " + std::string(channel[bad]) + " at type " + std::to_string(k) +
                                ", cell (x=" + std::to_string(c % wp) + ", y=" + std::to_string(c / wp) + ")"};
        }
    }
}

void fuse_all(Scratch& s, const float* pif, int32_t hp, int32_t wp, const dsl_params& p, bool exact) {
    const int nt = p.num_threads;
    (void)nt;
    bool failed = false;
#ifdef _OPENMP
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1) if (nt > 1) reduction(|| : failed)
#endif
    for (int k = 0; k < DSL_NUM_TYPES; ++k) {
        // An exception must not leave an OpenMP region: note it and rethrow outside.
        try {
            fuse_type(s, k, pif, hp, wp, p, exact);
        } catch (...) {
            failed = true;
        }
    }
    if (failed) throw std::bad_alloc();  // the only thing a splat can throw (vector growth)
}

}  // namespace dsl
