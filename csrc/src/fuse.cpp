// Eq. 3 fusion: each PIF seed splats a Gaussian onto its type's full-resolution map.
//
// Only the rectangles written by the previous frame are cleared, so a frame costs the area its
// seeds touch, not 19 full maps. Arithmetic mirrors dsl_deploy/decode/reference.py exactly, seeds in
// raster order: the authors' convention in float32 (disc support, (1 + x/8)^8, nearest pixel at full
// value, clamp), and in exact mode separable float64 factors rounded once.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <new>

#include "core.hpp"
#include "params.hpp"

namespace dsl {

namespace {

bool finite(float v) { return std::isfinite(v); }

// Support [lo, hi) along one axis as the authors compute it: clip to the map, then truncate (float32).
void support(float mu, float reach, int32_t size, int32_t& lo, int32_t& hi) {
    lo = static_cast<int32_t>(std::min(std::max(mu - reach, 0.0f), static_cast<float>(size - 1)));
    hi = static_cast<int32_t>(std::min(std::max((mu + reach) + 1.0f, static_cast<float>(lo + 1)), static_cast<float>(size)));
}

// Gaussian factors of pixels 0..n-1 along one axis (exp in float64, rounded once to float32): exact mode.
void factors(float* out, int32_t n, float mu, double two_s2) {
    for (int32_t i = 0; i < n; ++i) {
        const double d = static_cast<double>(i) - static_cast<double>(mu);
        out[i] = static_cast<float>(std::exp(-(d * d) / two_s2));
    }
}

// Notes a written rectangle. Seeds of one keypoint come one after another and splat nearly the same square, so a
// rectangle that overlaps the last one enough (their bounding box is no larger than both together) widens it:
// the next frame then clears each area once, with a few long memsets instead of thousands of short ones.
void add_dirty(std::vector<Rect>& list, const Rect& r) {
    if (!list.empty()) {
        Rect& last = list.back();
        const Rect u{std::min(last.x0, r.x0), std::min(last.y0, r.y0), std::max(last.x1, r.x1), std::max(last.y1, r.y1)};
        auto area = [](const Rect& a) { return int64_t(a.x1 - a.x0) * (a.y1 - a.y0); };
        if (area(u) <= area(last) + area(r)) {
            last = u;
            return;
        }
    }
    list.push_back(r);
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

// Exact mode: adds v * (fy * ex[x]) to row[x] for x in [0, w) (same float32 operations in every path, no FMA).
void add_row_plain(float* __restrict row, const float* __restrict ex, int32_t w, float v, float fy) {
    for (int32_t xx = 0; xx < w; ++xx) row[xx] = row[xx] + v * (fy * ex[xx]);
}

#if DSL_AVX2_KERNEL
// The load/store mask of a row's last lane group when fewer than 8 pixels remain: the first `remaining` lanes.
__attribute__((target("avx2"))) inline __m256i tail_mask(int32_t remaining) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(remaining), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// The same in 8-float lanes, the ragged tail with masked loads and stores.
__attribute__((target("avx2"))) void add_row_avx2(float* row, const float* ex, int32_t w, float v, float fy) {
    const __m256 vv = _mm256_set1_ps(v), vfy = _mm256_set1_ps(fy);
    for (int32_t xx = 0; xx < w; xx += 8) {
        const int32_t r = w - xx;
        if (r >= 8) {
            const __m256 nb = _mm256_add_ps(_mm256_loadu_ps(row + xx),
                                            _mm256_mul_ps(vv, _mm256_mul_ps(vfy, _mm256_loadu_ps(ex + xx))));
            _mm256_storeu_ps(row + xx, nb);
        } else {
            const __m256i mask = tail_mask(r);
            const __m256 nb = _mm256_add_ps(_mm256_maskload_ps(row + xx, mask),
                                            _mm256_mul_ps(vv, _mm256_mul_ps(vfy, _mm256_maskload_ps(ex + xx, mask))));
            _mm256_maskstore_ps(row + xx, mask, nb);
        }
    }
}
#endif

// One row of a truncated splat, the authors' arithmetic: dist2 = dx2[x] + dy2; outside the support (dist2 >
// lim) nothing; the nearest pixel (dx2 and dy2 < 0.25) v; else v * (1 + e/8)^8 with e = (-0.5 dist2) / s2
// (0 when e is outside [-2, 2]) or v * exp(e); the sum clamped at `clamp` (<= 0: none). Lists the pixels
// that crossed the threshold (from not passing to passing) into cand. Returns the new candidate count.
struct RowSplat {
    float v, dy2, lim, s2, clamp, thr;  // thr: the at_least() bound of the keypoint threshold
    bool approx;
};

int32_t splat_row_authors_plain(float* __restrict row, const float* __restrict dx2, int32_t x0, int32_t x1,
                                const RowSplat& r, int32_t base, int32_t* __restrict cand, int32_t n) {
    const bool near_row = r.dy2 < 0.25f;
    for (int32_t xx = x0; xx < x1; ++xx) {
        const float dist2 = dx2[xx] + r.dy2;
        float vv = 0.0f;
        if (!(dist2 > r.lim)) {
            const float e = (-0.5f * dist2) / r.s2;
            float a;
            if (r.approx) {
                a = 1.0f + e * 0.125f;
                a = a * a;
                a = a * a;
                a = a * a;
                if (e > 2.0f || e < -2.0f) a = 0.0f;
            } else {
                a = static_cast<float>(std::exp(static_cast<double>(e)));
            }
            vv = (near_row && dx2[xx] < 0.25f) ? r.v : r.v * a;
        }
        const float b = row[xx];
        float nb = b + vv;
        if (r.clamp > 0.0f) nb = std::min(nb, r.clamp);
        row[xx] = nb;
        if (cand) {
            cand[n] = base + xx;  // branch-free append: the slot is kept only for a crossing
            n += (b < r.thr && nb >= r.thr) ? 1 : 0;
        }
    }
    return n;
}

#if DSL_AVX2_KERNEL
// The same in 8-float lanes (approx Gaussian only) over pixels [x0, x1). kDisc: the support is a disc and each
// lane tests it (no per-row trimming: the branches that find the chord cost more than the spare lanes); else
// every pixel lies inside. kNear: the row holds the nearest pixel (dy2 < 0.25); kRange: e may leave [-2, 2] (a
// wide square or disc), else that test is skipped. Masked loads and stores for the ragged tail.
template <bool kNear, bool kRange, bool kDisc>
__attribute__((target("avx2"))) int32_t splat_row_authors_avx2(float* row, const float* dx2, int32_t x0, int32_t x1,
                                                               const RowSplat& r, int32_t base, int32_t* cand,
                                                               int32_t n) {
    const __m256 vv_full = _mm256_set1_ps(r.v), dy2 = _mm256_set1_ps(r.dy2);
    const __m256 s2 = _mm256_set1_ps(r.s2), half = _mm256_set1_ps(-0.5f), eighth = _mm256_set1_ps(0.125f);
    const __m256 one = _mm256_set1_ps(1.0f), two = _mm256_set1_ps(2.0f), mtwo = _mm256_set1_ps(-2.0f);
    const __m256 quarter = _mm256_set1_ps(0.25f), thr = _mm256_set1_ps(r.thr), clampv = _mm256_set1_ps(r.clamp);
    const __m256 lim = _mm256_set1_ps(r.lim);
    const bool clamp = r.clamp > 0.0f;
    for (int32_t xx = x0; xx < x1; xx += 8) {
        const int32_t rem = x1 - xx;
        __m256 b, d2;
        __m256i mask = _mm256_set1_epi32(-1);
        if (rem >= 8) {
            b = _mm256_loadu_ps(row + xx);
            d2 = _mm256_loadu_ps(dx2 + xx);
        } else {
            mask = tail_mask(rem);
            b = _mm256_maskload_ps(row + xx, mask);
            d2 = _mm256_maskload_ps(dx2 + xx, mask);
        }
        const __m256 e = _mm256_div_ps(_mm256_mul_ps(half, _mm256_add_ps(d2, dy2)), s2);
        __m256 a = _mm256_add_ps(one, _mm256_mul_ps(e, eighth));
        a = _mm256_mul_ps(a, a);
        a = _mm256_mul_ps(a, a);
        a = _mm256_mul_ps(a, a);
        if (kRange)
            a = _mm256_and_ps(a, _mm256_and_ps(_mm256_cmp_ps(e, two, _CMP_LE_OQ), _mm256_cmp_ps(e, mtwo, _CMP_GE_OQ)));
        __m256 vv = _mm256_mul_ps(vv_full, a);
        if (kNear) vv = _mm256_blendv_ps(vv, vv_full, _mm256_cmp_ps(d2, quarter, _CMP_LT_OQ));
        // Outside the support a lane adds +0: b + 0 and min(b, clamp) give b back (b >= 0 and already clamped),
        // so the pixel and its crossing test are as if it had been skipped.
        if (kDisc) vv = _mm256_and_ps(vv, _mm256_cmp_ps(_mm256_add_ps(d2, dy2), lim, _CMP_NGT_UQ));
        __m256 nb = _mm256_add_ps(b, vv);
        if (clamp) nb = _mm256_min_ps(nb, clampv);
        if (rem >= 8)
            _mm256_storeu_ps(row + xx, nb);
        else
            _mm256_maskstore_ps(row + xx, mask, nb);
        if (cand) {
            const __m256 crossed = _mm256_and_ps(_mm256_cmp_ps(b, thr, _CMP_LT_OQ), _mm256_cmp_ps(nb, thr, _CMP_GE_OQ));
            unsigned bits = static_cast<unsigned>(_mm256_movemask_ps(crossed)) &
                            ((rem >= 8) ? 0xffu : ((1u << rem) - 1u));
            while (bits) {
                cand[n++] = base + xx + __builtin_ctz(bits);
                bits &= bits - 1;
            }
        }
    }
    return n;
}
#endif

// The authors' truncated splat of one seed into map m (rows y0..y1), listing threshold crossings. Without AVX2
// each row is first trimmed to the pixels inside the support: dist2 grows with |px - x| (rounding is monotone),
// so they are one run.
int32_t splat_authors(float* m, int32_t w, float* dx2, int32_t x0, int32_t x1, int32_t y0, int32_t y1, float x,
                      float y, const RowSplat& base_row, int32_t* cand, int32_t n_cand) {
    for (int32_t xx = x0; xx < x1; ++xx) {
        const float d = static_cast<float>(xx) - x;
        dx2[xx] = d * d;
    }
    RowSplat r = base_row;
#if DSL_AVX2_KERNEL
    const bool avx2 = r.approx && use_avx2();
    // Inside a disc of radius t sigma, e >= -t^2 / 2: with t^2 < 3.9 it never leaves [-2, 2] (margin for rounding).
    const bool range = !(r.lim <= 3.9f * r.s2);
    if (avx2) {
        const bool disc = r.lim < std::numeric_limits<float>::infinity();
        for (int32_t yy = y0; yy < y1; ++yy) {
            const float d = static_cast<float>(yy) - y;
            r.dy2 = d * d;
            float* row = m + static_cast<size_t>(yy) * w;
            using Kernel = int32_t (*)(float*, const float*, int32_t, int32_t, const RowSplat&, int32_t, int32_t*,
                                       int32_t);
            static constexpr Kernel kernels[8] = {
                splat_row_authors_avx2<false, false, false>, splat_row_authors_avx2<false, false, true>,
                splat_row_authors_avx2<false, true, false>,  splat_row_authors_avx2<false, true, true>,
                splat_row_authors_avx2<true, false, false>,  splat_row_authors_avx2<true, false, true>,
                splat_row_authors_avx2<true, true, false>,   splat_row_authors_avx2<true, true, true>};
            const Kernel kernel = kernels[(r.dy2 < 0.25f ? 4 : 0) + (range ? 2 : 0) + (disc ? 1 : 0)];
            n_cand = kernel(row, dx2, x0, x1, r, yy * w, cand, n_cand);
        }
        return n_cand;
    }
#endif
    for (int32_t yy = y0; yy < y1; ++yy) {
        const float d = static_cast<float>(yy) - y;
        r.dy2 = d * d;
        int32_t a = x0, b = x1;
        if (r.lim < std::numeric_limits<float>::infinity()) {
            // Start from the circle's chord, then settle each end with the exact test (a step or two).
            const float half = std::sqrt(std::max(r.lim - r.dy2, 0.0f));
            a = std::min(std::max(static_cast<int32_t>(std::ceil(x - half)), x0), x1);
            b = std::max(std::min(static_cast<int32_t>(std::floor(x + half)) + 1, x1), a);
            auto inside = [&](int32_t i) { return !(dx2[i] + r.dy2 > r.lim); };
            while (a > x0 && inside(a - 1)) --a;
            while (a < b && !inside(a)) ++a;
            while (b < x1 && inside(b)) ++b;
            while (b > a && !inside(b - 1)) --b;
        }
        if (a == b) continue;
        float* row = m + static_cast<size_t>(yy) * w;
        n_cand = splat_row_authors_plain(row, dx2, a, b, r, yy * w, cand, n_cand);
    }
    return n_cand;
}

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
    const bool strict = p.strict_thresholds != 0;
    // Maxima are searched among the pixels that pass thr; unless a zero pixel passes, those are pixels a
    // splat pushed over it, listed here as they cross (values only grow, so each is listed once).
    const bool track = !exact && k != DSL_TYPE_BALL && (strict ? thr >= 0.0f : thr > 0.0f);  // ball: argmax
    std::vector<int32_t>& buf = s.cand_buf[k];
    int32_t n_cand = 0;
    RowSplat row_params{};
    row_params.lim = p.support == DSL_SUPPORT_DISC ? (t * t) : std::numeric_limits<float>::infinity();
    row_params.clamp = p.clamp;
    row_params.thr = at_least(thr, strict);  // the crossing tests compare with '>=' only
    row_params.approx = p.gaussian == DSL_GAUSSIAN_APPROX;
#if DSL_AVX2_KERNEL
    const bool avx2 = use_avx2();
#endif
    for (const int32_t c : s.seeds[k]) {  // raster order of the grid, listed by check_pif
        const float conf_c = conf[c];
        const float x = px[c], y = py[c];
        const float sig = std::max(psig[c], p.sigma_min);
        if (!exact) {
            int32_t x0, x1, y0, y1;
            support(x, t * sig, w, x0, x1);
            support(y, t * sig, h, y0, y1);
            if (track) {
                const size_t need = static_cast<size_t>(n_cand) + static_cast<size_t>(y1 - y0) * (x1 - x0);
                if (buf.size() < need) buf.resize(std::max(need, 2 * buf.size()));
            }
            RowSplat r = row_params;
            r.v = conf_c / div;
            r.s2 = sig * sig;
            r.lim = p.support == DSL_SUPPORT_DISC ? row_params.lim * r.s2 : row_params.lim;
            n_cand = splat_authors(m, w, ex, x0, x1, y0, y1, x, y, r, track ? buf.data() : nullptr, n_cand);
            add_dirty(s.dirty[k], Rect{x0, y0, x1, y1});
            continue;
        }
        // Exact mode: the whole map, separable true exp, no nearest-pixel rule, no clamp.
        const double two_s2 = 2.0 * static_cast<double>(sig) * static_cast<double>(sig);
        factors(ex, w, x, two_s2);
        factors(ey, h, y, two_s2);
        for (int32_t yy = 0; yy < h; ++yy) {
            float* row = m + static_cast<size_t>(yy) * w;
#if DSL_AVX2_KERNEL
            if (avx2)
                add_row_avx2(row, ex, w, conf_c, ey[yy]);
            else
#endif
                add_row_plain(row, ex, w, conf_c, ey[yy]);
        }
        s.dense[k] = true;
    }
    s.candidates[k].assign(buf.begin(), buf.begin() + n_cand);
}

}  // namespace

int64_t check_pif(Scratch& s, const float* pif, int32_t hp, int32_t wp, const dsl_params& p) {
    int64_t seeds = 0;
    static const char* channel[DSL_PIF_CHANNELS] = {"confidence", "x", "y", "b", "sigma"};
    const size_t plane = static_cast<size_t>(hp) * wp;
    const float bound = at_least(p.seed_threshold, p.strict_thresholds != 0);
    for (int k = 0; k < DSL_NUM_TYPES; ++k) {
        const float* conf = pif + static_cast<size_t>(k) * DSL_PIF_CHANNELS * plane;
        std::vector<int32_t>& list = s.seeds[k];
        list.clear();
        for (size_t c = 0; c < plane; ++c) {
            // Most cells are background: skip a chunk whose values are all finite and below the threshold.
            if (c % kChunk == 0 && c + kChunk <= plane && chunk_flags(conf + c, bound) == 0) {
                c += kChunk - 1;
                continue;
            }
            int bad = -1;
            if (!finite(conf[c]))
                bad = 0;
            else if (passes(conf[c], p.seed_threshold, p.strict_thresholds != 0)) {
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
