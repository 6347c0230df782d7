// The C ABI of dsl_decode.h: parameter checks, scratch management, the stage sequence, poses and ball.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>
#include <string>

#include "core.hpp"
#include "params.hpp"

#ifdef _OPENMP
#include <omp.h>
#endif

struct dsl_decoder {
    dsl_params params;
    dsl::Scratch s;
    bool has_fused = false;
};

namespace {

thread_local std::string g_error;

constexpr int64_t kMaxPixels = int64_t(1) << 26;  // 8192 x 8192: the fused maps alone are then 5 GB

int fail(int status, const std::string& message) {
    g_error = message;
    return status;
}

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point& t) {
    const Clock::time_point now = Clock::now();
    const double ms = std::chrono::duration<double, std::milli>(now - t).count();
    t = now;
    return ms;
}

std::string check_params(const dsl_params& p) {
    std::string why = dsl::check_decoder_params(p, 65535);
    if (why.empty() && (p.num_threads < 1 || p.num_threads > 1024)) why = "params: num_threads must lie in [1, 1024]";
    return why;
}

std::string check_size(int32_t pif_height, int32_t pif_width, int32_t height, int32_t width) {
    if (height < 1 || width < 1) return "fields: height and width must be positive";
    if (pif_height < 1 || pif_width < 1) return "pif: pif_height and pif_width must be positive";
    if (int64_t(height) * width > kMaxPixels) return "fields: more than 2^26 pixels";
    if (int64_t(pif_height) * pif_width * DSL_NUM_TYPES * DSL_PIF_CHANNELS > (int64_t(1) << 31))
        return "pif: grid too large";
    return "";
}

void prepare(dsl_decoder* d, int32_t h, int32_t w) {
    if (d->s.height != h || d->s.width != w || d->s.fused.empty()) d->s.resize(h, w, d->params.max_players);
}

// The centre maxima of map 18: the best max_players by score (ties: raster order), listed in raster order
// (Eq. 4 then breaks distance ties towards the first centre in raster order, as the authors' argmin does).
int32_t find_centers(dsl::Scratch& s, const dsl_params& p) {
    dsl::collect_candidates(s, DSL_TYPE_CENTER, p);
    const float* m = s.map(DSL_TYPE_CENTER);
    const int32_t radius = p.nms_window / 2;
    s.maxima.clear();
    for (int32_t idx : s.candidates[DSL_TYPE_CENTER])
        if (dsl::is_local_max(m, s.height, s.width, idx, radius)) s.maxima.push_back(idx);
    const int32_t n = std::min<int32_t>(static_cast<int32_t>(s.maxima.size()), p.max_players);
    // A total order (score, then raster index), so an unstable partial sort that allocates nothing is enough.
    std::nth_element(s.maxima.begin(), s.maxima.begin() + (n > 0 ? n - 1 : 0), s.maxima.end(),
                     [m](int32_t a, int32_t b) { return m[a] > m[b] || (m[a] == m[b] && a < b); });
    std::sort(s.maxima.begin(), s.maxima.begin() + n);
    for (int32_t j = 0; j < n; ++j) {
        const int32_t idx = s.maxima[j];
        s.center_x[j] = static_cast<float>(idx % s.width);
        s.center_y[j] = static_cast<float>(idx / s.width);
        s.center_score[j] = m[idx];
    }
    return n;
}

// Per centre and body part, the most confident maximum of that part's map (later in raster order on ties)
// among those the centre owns: nearest to pixel + offset (the authors), or on the centre's own mask.
void find_poses(dsl::Scratch& s, const dsl_params& p, const float* offset, const int32_t* labels, int32_t n) {
    float* keypoints = s.kp_centre.data();
    std::fill(keypoints, keypoints + static_cast<size_t>(n) * DSL_NUM_BODY_PARTS * 3, 0.0f);
    if (n == 0) return;
    const int32_t radius = p.nms_window / 2;
    const bool nearest = p.keypoint_assignment == DSL_KEYPOINTS_NEAREST_CENTRE;
    int32_t* held = s.kp_index.data();  // raster index of the kept maximum; -1: none yet
    std::fill(held, held + static_cast<size_t>(n) * DSL_NUM_BODY_PARTS, -1);
    int64_t listed = 0;
    bool dense = false;
    for (int k = 0; k < DSL_NUM_BODY_PARTS; ++k) {
        listed += static_cast<int64_t>(s.candidates[k].size());
        dense = dense || s.dense[k];  // exact mode: every pixel is a candidate, scanned in collect_candidates
    }
    const int nt = dense || listed >= dsl::kParallelCandidates ? p.num_threads : 1;
    (void)nt;
    bool failed = false;
    int32_t bad = std::numeric_limits<int32_t>::max();
#ifdef _OPENMP
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1) if (nt > 1) reduction(|| : failed) reduction(min : bad)
#endif
    for (int k = 0; k < DSL_NUM_BODY_PARTS; ++k) {
        try {  // an exception must not leave an OpenMP region
            dsl::collect_candidates(s, k, p);
        } catch (...) {
            failed = true;
            continue;
        }
        const float* m = s.map(k);
        for (int32_t idx : s.candidates[k]) {
            const float v = m[idx];
            if (!dsl::is_local_max(m, s.height, s.width, idx, radius)) continue;
            int32_t j;
            if (nearest) {
                j = dsl::nearest_center(offset, s.height, s.width, idx, s.center_x.data(), s.center_y.data(), n);
                if (j < 0) {
                    bad = std::min(bad, idx);
                    continue;
                }
            } else {
                j = labels[idx] - 1;
                if (j < 0) continue;
            }
            const size_t slot = static_cast<size_t>(j) * DSL_NUM_BODY_PARTS + k;
            float* kp = keypoints + slot * 3;
            // Candidates come in no particular order: the best score wins, the last in raster order among equals.
            if (v > kp[2] || (v == kp[2] && idx > held[slot])) {
                kp[0] = static_cast<float>(idx % s.width);
                kp[1] = static_cast<float>(idx / s.width);
                kp[2] = v;
                held[slot] = idx;
            }
        }
    }
    if (failed) throw std::bad_alloc();  // candidate lists grow with the map in dense mode
    if (bad != std::numeric_limits<int32_t>::max())
        throw dsl::Error{DSL_ERR_NONFINITE, "offset: non-finite value at keypoint pixel (x=" +
                                                std::to_string(bad % s.width) + ", y=" + std::to_string(bad / s.width) + ")"};
}

// The centres that pass the filters (more than discard_mask_pixels mask pixels, at least min_keypoints
// keypoints with the centre counted), by score descending (ties: raster order) in s.kept; lut[j] = new label.
int32_t select_players(dsl::Scratch& s, const dsl_params& p, int32_t n) {
    int32_t n_kept = 0;
    for (int32_t j = 0; j < n; ++j) {
        const float* kp = s.kp_centre.data() + static_cast<size_t>(j) * DSL_NUM_BODY_PARTS * 3;
        int32_t found = s.center_score[j] > 0.0f ? 1 : 0;
        for (int k = 0; k < DSL_NUM_BODY_PARTS; ++k) found += kp[3 * k + 2] > 0.0f ? 1 : 0;
        if (s.count[j] > std::max(p.discard_mask_pixels, 0) && found >= p.min_keypoints) s.kept[n_kept++] = j;
    }
    const float* score = s.center_score.data();
    std::sort(s.kept.begin(), s.kept.begin() + n_kept,
              [score](int32_t a, int32_t b) { return score[a] > score[b] || (score[a] == score[b] && a < b); });
    std::fill(s.lut.begin(), s.lut.begin() + n + 1, 0);
    for (int32_t i = 0; i < n_kept; ++i) s.lut[s.kept[i] + 1] = i + 1;
    return n_kept;
}

// First raster-order argmax of the ball map; false when it is all zero.
bool find_ball(dsl::Scratch& s, float* ball) {
    const float* m = s.map(DSL_TYPE_BALL);
    float best = 0.0f;
    int32_t best_idx = -1;
    auto visit = [&](int32_t idx) {
        const float v = m[idx];
        if (v > best || (v == best && best_idx >= 0 && idx < best_idx)) {
            best = v;
            best_idx = idx;
        }
    };
    if (s.dense[DSL_TYPE_BALL]) {
        for (int32_t i = 0, n = s.height * s.width; i < n; ++i) visit(i);
    } else {
        for (const dsl::Rect& r : s.dirty[DSL_TYPE_BALL])
            for (int32_t y = r.y0; y < r.y1; ++y)
                for (int32_t x = r.x0; x < r.x1; ++x) visit(y * s.width + x);
    }
    if (best_idx < 0) return false;
    ball[0] = static_cast<float>(best_idx % s.width);
    ball[1] = static_cast<float>(best_idx / s.width);
    ball[2] = best;
    return true;
}

int decode_frame(dsl_decoder* d, const dsl_fields& f, dsl_output* out) {
    dsl::Scratch& s = d->s;
    const dsl_params& p = d->params;
    Clock::time_point t = Clock::now();
    const Clock::time_point start = t;
    const int64_t seeds = dsl::check_pif(s, f.pif, f.pif_height, f.pif_width, p);
    prepare(d, f.height, f.width);
    d->has_fused = false;
    dsl::fuse_all(s, f.pif, f.pif_height, f.pif_width, p, p.exact != 0, seeds);
    d->has_fused = true;
    out->timings_ms[DSL_STAGE_FUSE] = ms_since(t);

    const int32_t n_centers = find_centers(s, p);
    out->timings_ms[DSL_STAGE_MAXIMA] = ms_since(t);

    if (!out->labels) out->labels = s.labels.data();
    if (!out->keypoints) out->keypoints = s.keypoints.data();
    if (!out->scores) out->scores = s.scores.data();
    if (!out->boxes) out->boxes = s.boxes.data();
    if (!out->areas) out->areas = s.areas.data();
    if (!out->centers) out->centers = s.centers.data();
    dsl::assign_labels(s, f.player, f.offset, s.center_x.data(), s.center_y.data(), n_centers, p, out->labels);
    out->timings_ms[DSL_STAGE_ASSIGN] = ms_since(t);

    find_poses(s, p, f.offset, out->labels, n_centers);
    const int32_t n = select_players(s, p, n_centers);
    dsl::relabel(s, s.lut.data() + 1, out->labels);
    for (int32_t i = 0; i < n; ++i) {
        const int32_t j = s.kept[i];
        out->scores[i] = s.center_score[j];
        out->centers[2 * i] = s.center_x[j];
        out->centers[2 * i + 1] = s.center_y[j];
        out->areas[i] = s.count[j];
        for (int c = 0; c < 2; ++c) {
            out->boxes[4 * i + c] = static_cast<float>(s.box[4 * j + c]);
            out->boxes[4 * i + 2 + c] = static_cast<float>(s.box[4 * j + 2 + c] + 1);
        }
        std::memcpy(out->keypoints + static_cast<size_t>(i) * DSL_NUM_BODY_PARTS * 3,
                    s.kp_centre.data() + static_cast<size_t>(j) * DSL_NUM_BODY_PARTS * 3,
                    sizeof(float) * DSL_NUM_BODY_PARTS * 3);
    }
    out->num_players = n;
    out->timings_ms[DSL_STAGE_POSES] = ms_since(t);

    out->has_ball = find_ball(s, out->ball) ? 1 : 0;
    if (!out->has_ball) out->ball[0] = out->ball[1] = out->ball[2] = 0.0f;
    out->timings_ms[DSL_STAGE_BALL] = ms_since(t);
    out->timings_ms[DSL_STAGE_TOTAL] = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    return DSL_OK;
}

template <class F>
int guarded(F&& body) {
    try {
        return body();
    } catch (const dsl::Error& e) {
        return fail(e.status, e.message);
    } catch (const std::bad_alloc&) {
        return fail(DSL_ERR_MEMORY, "out of memory for the decoder's scratch buffers");
    } catch (const std::exception& e) {
        return fail(DSL_ERR_INTERNAL, std::string("internal error: ") + e.what());
    }
}

}  // namespace

bool dsl::use_avx2() {
#if DSL_AVX2_KERNEL
    static const bool on = [] {
        __builtin_cpu_init();
        const char* plain = std::getenv("DSL_DECODE_PLAIN");
        return __builtin_cpu_supports("avx2") && !(plain && *plain && std::strcmp(plain, "0") != 0);
    }();
    return on;
#else
    return false;
#endif
}

static size_t n_players_capacity(int32_t max_players) { return static_cast<size_t>(max_players) * DSL_NUM_BODY_PARTS; }

void dsl::Scratch::resize(int32_t h, int32_t w, int32_t max_players) {
    height = h;
    width = w;
    const size_t plane = static_cast<size_t>(h) * w;
    fused.assign(plane * DSL_NUM_TYPES, 0.0f);
    for (int k = 0; k < DSL_NUM_TYPES; ++k) {
        dirty[k].clear();
        dense[k] = false;
        ex[k].assign(static_cast<size_t>(w), 0.0f);
        ey[k].assign(static_cast<size_t>(h), 0.0f);
        candidates[k].reserve(1024);
        dirty[k].reserve(1024);
    }
    fg.assign(plane, 0);
    fg_y.assign(plane, 0);
    kp_index.assign(n_players_capacity(max_players), 0);
    kp_centre.assign(n_players_capacity(max_players) * 3, 0.0f);
    fg_label.clear();
    fg_label.reserve(plane);
    labels.assign(plane, 0);
    const size_t n = static_cast<size_t>(max_players);
    keypoints.assign(n * DSL_NUM_BODY_PARTS * 3, 0.0f);
    scores.assign(n, 0.0f);
    boxes.assign(n * 4, 0.0f);
    centers.assign(n * 2, 0.0f);
    areas.assign(n, 0);
    count.assign(n, 0);
    box.assign(n * 4, 0);
    lut.assign(n + 1, 0);
    kept.assign(n, 0);
    center_x.assign(n, 0.0f);
    center_y.assign(n, 0.0f);
    center_score.assign(n, 0.0f);
    maxima.reserve(4096);
}

extern "C" {

void dsl_params_default(dsl_params* p) {
    if (!p) return;
    p->seed_threshold = 0.1f;
    p->keypoint_threshold = 0.1f;
    p->player_threshold = 0.5f;
    p->nms_window = 13;
    p->truncate = 1.0f;
    p->sigma_min = 1.0f;
    p->weight_divisor = 16.0f;
    p->exact = 0;
    p->max_players = 256;
    p->num_threads = 1;
    p->strict_thresholds = 1;
    p->support = DSL_SUPPORT_DISC;
    p->gaussian = DSL_GAUSSIAN_APPROX;
    p->clamp = 1.0f;
    p->keypoint_assignment = DSL_KEYPOINTS_NEAREST_CENTRE;
    p->discard_mask_pixels = 100;
    p->min_keypoints = 5;
}

dsl_decoder* dsl_decoder_create(const dsl_params* params) {
    if (!params) {
        fail(DSL_ERR_ARGUMENT, "params: NULL");
        return nullptr;
    }
    const std::string why = check_params(*params);
    if (!why.empty()) {
        fail(DSL_ERR_ARGUMENT, why);
        return nullptr;
    }
    dsl_decoder* d = new (std::nothrow) dsl_decoder();
    if (!d) {
        fail(DSL_ERR_MEMORY, "out of memory creating the decoder");
        return nullptr;
    }
    d->params = *params;
    g_error.clear();
    return d;
}

void dsl_decoder_destroy(dsl_decoder* decoder) { delete decoder; }

const dsl_params* dsl_decoder_params(const dsl_decoder* decoder) { return decoder ? &decoder->params : nullptr; }

int dsl_decoder_fuse(dsl_decoder* d, const float* pif, int32_t pif_height, int32_t pif_width, int32_t height,
                     int32_t width, int32_t exact, float* out) {
    if (!d || !pif || !out) return fail(DSL_ERR_ARGUMENT, "fuse: decoder, pif and out must not be NULL");
    const std::string why = check_size(pif_height, pif_width, height, width);
    if (!why.empty()) return fail(DSL_ERR_ARGUMENT, why);
    return guarded([&] {
        const int64_t seeds = dsl::check_pif(d->s, pif, pif_height, pif_width, d->params);
        prepare(d, height, width);
        d->has_fused = false;
        dsl::fuse_all(d->s, pif, pif_height, pif_width, d->params, exact != 0, seeds);
        d->has_fused = true;
        std::memcpy(out, d->s.fused.data(), sizeof(float) * d->s.fused.size());
        return DSL_OK;
    });
}

int dsl_decoder_decode(dsl_decoder* d, const dsl_fields* f, dsl_output* out) {
    if (!d || !f || !out) return fail(DSL_ERR_ARGUMENT, "decode: decoder, fields and out must not be NULL");
    if (!f->player || !f->offset || !f->pif)
        return fail(DSL_ERR_ARGUMENT, "fields: player, offset and pif must not be NULL");
    const std::string why = check_size(f->pif_height, f->pif_width, f->height, f->width);
    if (!why.empty()) return fail(DSL_ERR_ARGUMENT, why);
    return guarded([&] { return decode_frame(d, *f, out); });
}

const float* dsl_decoder_fused(const dsl_decoder* d, int32_t* height, int32_t* width) {
    if (!d || !d->has_fused) return nullptr;
    if (height) *height = d->s.height;
    if (width) *width = d->s.width;
    return d->s.fused.data();
}

const char* dsl_decoder_last_error(void) { return g_error.c_str(); }

const char* dsl_decode_version(void) { return DSL_DECODE_VERSION; }

int dsl_decode_has_openmp(void) {
#ifdef _OPENMP
    return 1;
#else
    return 0;
#endif
}

}  // extern "C"
