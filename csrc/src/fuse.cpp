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

// Adds v * (fy * ex[x]) to row[x] for x in [x0, x1) (same float32 operations in every path, no FMA).
// When `cand` is set, appends base + x for each pixel that went from below `thr` to at or above it.
// Returns the new candidate count.
int32_t splat_row_plain(float* __restrict row, const float* __restrict ex, int32_t x0, int32_t x1, float v, float fy,
                        float thr, int32_t base, int32_t* __restrict cand, int32_t n) {
    for (int32_t xx = x0; xx < x1; ++xx) {
        const float b = row[xx];
        const float nb = b + v * (fy * ex[xx]);
        row[xx] = nb;
        if (cand) {
            cand[n] = base + xx;  // branch-free append: the slot is kept only for a crossing
            n += (b < thr && nb >= thr) ? 1 : 0;
        }
    }
    return n;
}

#if DSL_AVX2_KERNEL
// The same in 8-float lanes; the ragged tail uses masked loads and stores, so rows of ~15 pixels (the usual
// support) never fall back to scalar code, and crossings come from one compare per lane group.
__attribute__((target("avx2"))) int32_t splat_row_avx2(float* row, const float* ex, int32_t x0, int32_t x1, float v,
                                                       float fy, float thr, int32_t base, int32_t* cand, int32_t n) {
    const __m256 vv = _mm256_set1_ps(v), vfy = _mm256_set1_ps(fy), vthr = _mm256_set1_ps(thr);
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    for (int32_t xx = x0; xx < x1; xx += 8) {
        const int32_t r = x1 - xx;
        __m256 b, e;
        __m256i mask = _mm256_set1_epi32(-1);
        if (r >= 8) {
            b = _mm256_loadu_ps(row + xx);
            e = _mm256_loadu_ps(ex + xx);
        } else {
            mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(r), lane);
            b = _mm256_maskload_ps(row + xx, mask);
            e = _mm256_maskload_ps(ex + xx, mask);
        }
        const __m256 nb = _mm256_add_ps(b, _mm256_mul_ps(vv, _mm256_mul_ps(vfy, e)));
        if (r >= 8)
            _mm256_storeu_ps(row + xx, nb);
        else
            _mm256_maskstore_ps(row + xx, mask, nb);
        if (cand) {
            const __m256 crossed = _mm256_and_ps(_mm256_cmp_ps(b, vthr, _CMP_LT_OQ), _mm256_cmp_ps(nb, vthr, _CMP_GE_OQ));
            unsigned bits = static_cast<unsigned>(_mm256_movemask_ps(crossed)) & ((r >= 8) ? 0xffu : ((1u << r) - 1u));
            while (bits) {
                cand[n++] = base + xx + __builtin_ctz(bits);
                bits &= bits - 1;
            }
        }
    }
    return n;
}

#endif

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
    // Values only grow, so a pixel crosses the threshold once: the list needs no dedup and holds at most H*W.
    std::vector<int32_t>& buf = s.cand_buf[k];
    int32_t n_cand = 0;
#if DSL_AVX2_KERNEL
    const bool avx2 = use_avx2();
#endif
    for (const int32_t c : s.seeds[k]) {  // raster order of the grid, listed by check_pif
        const float conf_c = conf[c];
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
        if (track) {
            const size_t need = static_cast<size_t>(n_cand) + static_cast<size_t>(y1 - y0) * (x1 - x0);
            if (buf.size() < need) buf.resize(std::max(need, 2 * buf.size()));
        }
        int32_t* cand = track ? buf.data() : nullptr;
        for (int32_t yy = y0; yy < y1; ++yy) {
            float* row = m + static_cast<size_t>(yy) * w;
            const float fy = ey[yy];
            const int32_t nx = (!exact && yy == near_y) ? near_x : -1;  // this row's full-value pixel, if any
            const float b_nx = nx >= 0 ? row[nx] : 0.0f;
#if DSL_AVX2_KERNEL
            if (avx2)
                n_cand = splat_row_avx2(row, ex, x0, x1, v, fy, thr, yy * w, cand, n_cand);
            else
#endif
                n_cand = splat_row_plain(row, ex, x0, x1, v, fy, thr, yy * w, cand, n_cand);
            if (nx >= 0) {
                // The nearest pixel takes the full value (weight 1); the row pass listed it only if its
                // weighted value already crossed, and the full value is never smaller.
                const float weighted = b_nx + v * (fy * ex[nx]);
                row[nx] = b_nx + v;
                if (track && b_nx < thr && !(weighted >= thr) && row[nx] >= thr) cand[n_cand++] = yy * w + nx;
            }
        }
        if (exact)
            s.dense[k] = true;
        else
            s.dirty[k].push_back(Rect{x0, y0, x1, y1});
    }
    s.candidates[k].assign(buf.begin(), buf.begin() + n_cand);
}

}  // namespace

int64_t check_pif(Scratch& s, const float* pif, int32_t hp, int32_t wp, const dsl_params& p) {
    int64_t seeds = 0;
    static const char* channel[DSL_PIF_CHANNELS] = {"confidence", "x", "y", "b", "sigma"};
    const size_t plane = static_cast<size_t>(hp) * wp;
    for (int k = 0; k < DSL_NUM_TYPES; ++k) {
        const float* conf = pif + static_cast<size_t>(k) * DSL_PIF_CHANNELS * plane;
        std::vector<int32_t>& list = s.seeds[k];
        list.clear();
        for (size_t c = 0; c < plane; ++c) {
            int bad = -1;
            if (!finite(conf[c]))
                bad = 0;
            else if (conf[c] >= p.seed_threshold) {
                ++seeds;
                list.push_back(static_cast<int32_t>(c));
                for (int ch : {1, 2, 4})
                    if (!finite(conf[ch * plane + c])) { bad = ch; break; }
            }
            if (bad >= 0)
                throw Error{DSL_ERR_NONFINITE,
                            "pif: non-finite " + std::string(channel[bad]) + " at type " + std::to_string(k) +
                                ", cell (x=" + std::to_string(c % wp) + ", y=" + std::to_string(c / wp) + ")"};
        }
    }
    return seeds;
}

void fuse_all(Scratch& s, const float* pif, int32_t hp, int32_t wp, const dsl_params& p, bool exact, int64_t seeds) {
    // Exact mode splats every seed over the whole map: always worth the threads.
    const int nt = (exact && seeds > 0) || seeds >= kParallelSeeds ? p.num_threads : 1;
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
