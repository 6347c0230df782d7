// Eq. 4: every player pixel joins the centre nearest to pixel + offset (provisional labels, counts, boxes).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "core.hpp"
#include "params.hpp"

namespace dsl {

// A fixed trip count, so the compiler turns it into a few vector compares (most chunks of a frame are background).
DSL_SIMD_CLONES
int chunk_flags(const float* v, float thr) {
    int any = 0, nonfinite = 0;
    for (int32_t x = 0; x < kChunk; ++x) {
        nonfinite |= (v[x] - v[x] != 0.0f);  // NaN and inf both give NaN here
        any |= (v[x] >= thr);
    }
    return any | (nonfinite << 1);
}

namespace {

// Raster indices of the pixels that pass the threshold; throws on a non-finite probability.
void collect_foreground(Scratch& s, const float* player, float threshold, bool strict) {
    const float thr = at_least(threshold, strict);
    const int32_t h = s.height, w = s.width;
    int32_t* fg = s.fg.data();
    int32_t* fg_y = s.fg_y.data();
    int32_t count = 0;
    bool bad = false;
    // The player map comes from the network, not from the cache, and rows of it are a few KB: ask for the lines
    // 8 KB ahead, across the 4 KB pages where the hardware prefetcher stops (1.12x on Eq. 4's stage here).
    const float* end = player + static_cast<size_t>(h) * w;
    for (int32_t y = 0; y < h; ++y) {
        const float* row = player + static_cast<size_t>(y) * w;
        const int32_t base = y * w;
        for (int32_t x0 = 0; x0 < w; x0 += kChunk) {
            const int32_t x1 = std::min(w, x0 + kChunk);
            if (row + x0 + 2048 < end) __builtin_prefetch(row + x0 + 2048);
            int flags = 0;
            if (x1 - x0 == kChunk) {
                flags = chunk_flags(row + x0, thr);
            } else {
                for (int32_t x = x0; x < x1; ++x) flags |= (row[x] >= thr) | ((row[x] - row[x] != 0.0f) << 1);
            }
            bad |= (flags & 2) != 0;
            if (!(flags & 1)) continue;
            for (int32_t x = x0; x < x1; ++x) {
                fg[count] = base + x;  // branch-free compaction: the slot is kept only for player pixels
                fg_y[count] = y;
                count += row[x] >= thr ? 1 : 0;
            }
        }
    }
    if (bad)
        for (int32_t i = 0; i < h * w; ++i)
            if (!std::isfinite(player[i]))
                throw Error{DSL_ERR_NONFINITE, "player: non-finite probability at (x=" + std::to_string(i % w) +
                                                   ", y=" + std::to_string(i / w) + ")"};
    s.fg_label.resize(static_cast<size_t>(count));  // within capacity: no allocation after the first frame
}

// Blocks of kLanes pixels against one centre at a time: the compiler turns the lane loops into SIMD.
constexpr int32_t kLanes = 16;
constexpr int32_t kPruneMax = 256;  // more centres than this: no pruning, every centre is tested
// Fewer centres than this: testing them all (two AVX2 registers per centre) costs less than the bounds.
constexpr int32_t kPruneMin = 48;

// Centres that can be nearest to some target of a block (ascending), from bounds over the targets' box.
// Float rounding is monotone, so lower <= each target's float distance <= upper: a centre whose lower
// bound exceeds another's upper bound is strictly farther for every pixel and cannot win, not even a tie.
DSL_SIMD_CLONES
int32_t prune_centers(const float* tx, const float* ty, const float* cx, const float* cy, int32_t n_centers,
                      int32_t* cand) {
    float x0 = tx[0], x1 = tx[0], y0 = ty[0], y1 = ty[0];
    for (int32_t l = 1; l < kLanes; ++l) {
        x0 = std::min(x0, tx[l]);
        x1 = std::max(x1, tx[l]);
        y0 = std::min(y0, ty[l]);
        y1 = std::max(y1, ty[l]);
    }
    float lower[kPruneMax];
    float upper_min = std::numeric_limits<float>::infinity();
    for (int32_t j = 0; j < n_centers; ++j) {
        const float ax = cx[j] - x0, bx = cx[j] - x1, ay = cy[j] - y0, by = cy[j] - y1;
        const float lx = ax < 0.0f ? -ax : (bx > 0.0f ? bx : 0.0f);
        const float ly = ay < 0.0f ? -ay : (by > 0.0f ? by : 0.0f);
        lower[j] = lx * lx + ly * ly;
        const float ux = std::max(std::fabs(ax), std::fabs(bx)), uy = std::max(std::fabs(ay), std::fabs(by));
        upper_min = std::min(upper_min, ux * ux + uy * uy);
    }
    int32_t n = 0;
    for (int32_t j = 0; j < n_centers; ++j) {
        cand[n] = j;
        n += lower[j] <= upper_min ? 1 : 0;
    }
    return n;
}

// Nearest of centres js[0..nj) (ascending; js NULL: 0..nj-1) for each of the kLanes targets: strict "closer", so the lowest
// index keeps a tie. Distances (cx - tx)^2 + (cy - ty)^2 in float32 with separate multiply and add.
void nearest_block_plain(const float* tx, const float* ty, const float* cx, const float* cy, const int32_t* js,
                         int32_t nj, int32_t* bj) {
    float best[kLanes];
    const int32_t j0 = js ? js[0] : 0;
    const float cx0 = cx[j0], cy0 = cy[j0];
    for (int32_t l = 0; l < kLanes; ++l) {
        const float ddx = cx0 - tx[l], ddy = cy0 - ty[l];
        best[l] = ddx * ddx + ddy * ddy;
        bj[l] = j0;
    }
    for (int32_t q = 1; q < nj; ++q) {
        const int32_t j = js ? js[q] : q;
        const float cxj = cx[j], cyj = cy[j];
        for (int32_t l = 0; l < kLanes; ++l) {
            const float ddx = cxj - tx[l], ddy = cyj - ty[l];
            const float d = ddx * ddx + ddy * ddy;
            const bool closer = d < best[l];
            best[l] = closer ? d : best[l];
            bj[l] = closer ? j : bj[l];
        }
    }
}

#if DSL_AVX2_KERNEL
static_assert(kLanes == 16, "the AVX2 block is two 8-float registers");

__attribute__((target("avx2"))) inline __m256 dist(__m256 c_x, __m256 c_y, __m256 t_x, __m256 t_y) {
    const __m256 ddx = _mm256_sub_ps(c_x, t_x), ddy = _mm256_sub_ps(c_y, t_y);
    return _mm256_add_ps(_mm256_mul_ps(ddx, ddx), _mm256_mul_ps(ddy, ddy));
}

// The same with explicit AVX2 (the auto-vectoriser left the 16 lanes scalar through the indirect centre list).
__attribute__((target("avx2"))) void nearest_block_avx2(const float* tx, const float* ty, const float* cx,
                                                        const float* cy, const int32_t* js, int32_t nj, int32_t* bj) {
    const __m256 tx0 = _mm256_loadu_ps(tx), tx1 = _mm256_loadu_ps(tx + 8);
    const __m256 ty0 = _mm256_loadu_ps(ty), ty1 = _mm256_loadu_ps(ty + 8);
    const int32_t j0 = js ? js[0] : 0;
    __m256 c_x = _mm256_set1_ps(cx[j0]), c_y = _mm256_set1_ps(cy[j0]);
    __m256 best0 = dist(c_x, c_y, tx0, ty0), best1 = dist(c_x, c_y, tx1, ty1);
    __m256 bj0 = _mm256_castsi256_ps(_mm256_set1_epi32(j0)), bj1 = bj0;
    for (int32_t q = 1; q < nj; ++q) {
        const int32_t j = js ? js[q] : q;
        c_x = _mm256_set1_ps(cx[j]);
        c_y = _mm256_set1_ps(cy[j]);
        const __m256 jv = _mm256_castsi256_ps(_mm256_set1_epi32(j));
        const __m256 d0 = dist(c_x, c_y, tx0, ty0), d1 = dist(c_x, c_y, tx1, ty1);
        const __m256 m0 = _mm256_cmp_ps(d0, best0, _CMP_LT_OQ), m1 = _mm256_cmp_ps(d1, best1, _CMP_LT_OQ);
        best0 = _mm256_blendv_ps(best0, d0, m0);
        best1 = _mm256_blendv_ps(best1, d1, m1);
        bj0 = _mm256_blendv_ps(bj0, jv, m0);
        bj1 = _mm256_blendv_ps(bj1, jv, m1);
    }
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(bj), _mm256_castps_si256(bj0));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(bj + 8), _mm256_castps_si256(bj1));
}

#endif

// Nearest centre (Eq. 4) of pixels fg[0..n); returns the first pixel with a non-finite offset or INT32_MAX.
// An AVX2 clone is picked at load time where the CPU has it; IEEE results are the same (no FMA contraction).
DSL_SIMD_CLONES
int32_t nearest_range(const int32_t* fg, const int32_t* fg_y, int32_t n, int32_t w, const float* ox,
                      const float* oy, const float* cx, const float* cy, int32_t n_centers, int32_t* lab) {
    int32_t bad = std::numeric_limits<int32_t>::max();
    int32_t cand[kPruneMax];
    constexpr int32_t kAhead = 4 * kLanes;
#if DSL_AVX2_KERNEL
    const bool avx2 = use_avx2();
#endif
    const bool prune = n_centers >= kPruneMin && n_centers <= kPruneMax;
    for (int32_t f0 = 0; f0 < n; f0 += kLanes) {
        const int32_t nl = std::min(kLanes, n - f0);
        float tx[kLanes], ty[kLanes];
        int32_t bj[kLanes];
        const int32_t i0 = fg[f0], y0 = fg_y[f0];
        // Offsets are read in short runs (one player's width per row), too short for the hardware prefetcher
        // to follow from a cold start: ask for the lines a few blocks ahead.
        if (f0 + kAhead < n) {
            __builtin_prefetch(ox + fg[f0 + kAhead]);
            __builtin_prefetch(oy + fg[f0 + kAhead]);
        }
        if (nl == kLanes && fg[f0 + kLanes - 1] - i0 == kLanes - 1 && fg_y[f0 + kLanes - 1] == y0) {
            // The usual block inside a player: 16 neighbours on one row, so plain vector loads, no gather.
            const float* bx = ox + i0;
            const float* by = oy + i0;
            const int32_t xs = i0 - y0 * w;
            int nonfinite = 0;
            for (int32_t l = 0; l < kLanes; ++l) {
                const float dxo = bx[l], dyo = by[l];
                nonfinite |= (dxo - dxo != 0.0f) | (dyo - dyo != 0.0f);  // NaN and inf both give NaN
                tx[l] = static_cast<float>(xs + l) + dxo;
                ty[l] = static_cast<float>(y0) + dyo;
            }
            if (nonfinite)
                for (int32_t l = 0; l < kLanes; ++l)
                    if (!std::isfinite(bx[l]) || !std::isfinite(by[l])) bad = std::min(bad, i0 + l);
        } else {
            for (int32_t l = 0; l < kLanes; ++l) {
                const int32_t f = f0 + std::min(l, nl - 1);  // the tail repeats its last pixel
                const int32_t i = fg[f], y = fg_y[f];
                const float dxo = ox[i], dyo = oy[i];
                if (!std::isfinite(dxo) || !std::isfinite(dyo)) bad = std::min(bad, i);
                tx[l] = static_cast<float>(i - y * w) + dxo;
                ty[l] = static_cast<float>(y) + dyo;
            }
        }
        const int32_t* js = nullptr;  // every centre
        int32_t nj = n_centers;
        if (prune) {
            nj = prune_centers(tx, ty, cx, cy, n_centers, cand);
            if (nj > 0) js = cand;  // none left only when a bound is NaN (a non-finite offset, reported below)
            else nj = n_centers;
        }
#if DSL_AVX2_KERNEL
        if (avx2)
            nearest_block_avx2(tx, ty, cx, cy, js, nj, bj);
        else
#endif
            nearest_block_plain(tx, ty, cx, cy, js, nj, bj);
        for (int32_t l = 0; l < nl; ++l) lab[f0 + l] = bj[l];
    }
    return bad;
}

}  // namespace

void assign_labels(Scratch& s, const float* player, const float* offset, const float* cx, const float* cy,
                   int32_t n_centers, const dsl_params& p, int32_t* labels) {
    const int32_t h = s.height, w = s.width;
    const size_t plane = static_cast<size_t>(h) * w;
    std::memset(labels, 0, sizeof(int32_t) * plane);
    collect_foreground(s, player, p.player_threshold, p.strict_thresholds != 0);
    int64_t* count = s.count.data();
    int32_t* box = s.box.data();
    std::fill(count, count + n_centers, 0);
    if (n_centers == 0) {
        s.fg_label.clear();
        return;
    }
    const int32_t n_fg = static_cast<int32_t>(s.fg_label.size());
    const int32_t* fg = s.fg.data();
    const int32_t* fg_y = s.fg_y.data();
    int32_t* lab = s.fg_label.data();
    const float* ox = offset;
    const float* oy = offset + plane;
    int32_t bad = std::numeric_limits<int32_t>::max();
    const int nt = int64_t(n_fg) * n_centers >= kParallelDistances ? p.num_threads : 1;
    (void)nt;
    constexpr int32_t kSpan = 64 * kLanes;  // pixels per OpenMP work item
    const int32_t n_spans = (n_fg + kSpan - 1) / kSpan;
#ifdef _OPENMP
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1 && n_spans > 1) reduction(min : bad)
#endif
    for (int32_t b = 0; b < n_spans; ++b) {
        const int32_t f0 = b * kSpan;
        const int32_t n = std::min(kSpan, n_fg - f0);
        bad = std::min(bad, nearest_range(fg + f0, fg_y + f0, n, w, ox, oy, cx, cy, n_centers, lab + f0));
    }
    if (bad != std::numeric_limits<int32_t>::max())
        throw Error{DSL_ERR_NONFINITE, "offset: non-finite value at player pixel (x=" + std::to_string(bad % w) +
                                           ", y=" + std::to_string(bad / w) + ")"};
    for (int32_t j = 0; j < n_centers; ++j) {
        box[4 * j] = w;
        box[4 * j + 1] = h;
        box[4 * j + 2] = -1;
        box[4 * j + 3] = -1;
    }
    // Player pixels come in raster order: update counts and boxes once per run of one label on one row.
    for (int32_t f = 0; f < n_fg;) {
        const int32_t j = lab[f], y = fg_y[f];
        int32_t g = f + 1;
        while (g < n_fg && lab[g] == j && fg_y[g] == y) ++g;
        int32_t* b = box + 4 * j;
        count[j] += g - f;
        b[0] = std::min(b[0], fg[f] - y * w);
        b[1] = std::min(b[1], y);
        b[2] = std::max(b[2], fg[g - 1] - y * w);
        b[3] = std::max(b[3], y);
        f = g;
    }
    if (p.keypoint_assignment == DSL_KEYPOINTS_OWN_MASK)  // the poses read the provisional labels
        for (int32_t f = 0; f < n_fg; ++f) labels[fg[f]] = lab[f] + 1;
}

int32_t nearest_center(const float* offset, int32_t h, int32_t w, int32_t idx, const float* cx, const float* cy,
                       int32_t n_centers) {
    const size_t plane = static_cast<size_t>(h) * w;
    const float dxo = offset[idx], dyo = offset[plane + idx];
    if (!std::isfinite(dxo) || !std::isfinite(dyo)) return -1;
    // The arithmetic of nearest_block_plain: (c - (pixel + offset))^2 summed in float32, strict "closer".
    const float tx = static_cast<float>(idx % w) + dxo, ty = static_cast<float>(idx / w) + dyo;
    int32_t best_j = 0;
    float best = 0.0f;
    for (int32_t j = 0; j < n_centers; ++j) {
        const float ddx = cx[j] - tx, ddy = cy[j] - ty;
        const float d = ddx * ddx + ddy * ddy;
        if (j == 0 || d < best) {
            best = d;
            best_j = j;
        }
    }
    return best_j;
}

void relabel(Scratch& s, const int32_t* lut, int32_t* labels) {
    const int32_t n_fg = static_cast<int32_t>(s.fg_label.size());
    const int32_t* fg = s.fg.data();
    const int32_t* lab = s.fg_label.data();
    for (int32_t f = 0; f < n_fg; ++f) labels[fg[f]] = lut[lab[f]];
}

}  // namespace dsl
