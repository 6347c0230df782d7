// The network input of one frame (csrc/include/dsl_preprocess.h): box halvings, bilinear, normalisation.
//
// Cost: the frame is read once. Halvings before the last are written to scratch (only frames at least four
// times the content size have them); each row of the last halving is made when the bilinear pass first needs
// it, the horizontal pass runs once per source row it uses (two rows kept, as OpenCV keeps them), and the
// vertical pass writes the content rows straight into the input, normalised and split into planes.
#include "dsl_preprocess.h"

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define DSL_PREP_AVX2 1
#else
#define DSL_PREP_AVX2 0
#endif

namespace {

thread_local std::string g_error;

int fail(const char* fmt, long long a = 0, long long b = 0, long long c = 0, long long d = 0) {
    char buf[256];
    std::snprintf(buf, sizeof buf, fmt, a, b, c, d);
    g_error = buf;
    return DSL_PREP_ERR_ARGUMENT;
}

constexpr int kCoefBits = 11;  // OpenCV's INTER_RESIZE_COEF_BITS
constexpr int kOne = 1 << kCoefBits;
constexpr int kPad = 32;       // bytes readable past a row's end in scratch rows (vector loads)

// One axis of OpenCV's INTER_LINEAR tables for uint8: source index and weights of each destination index.
struct Axis {
    std::vector<int32_t> i0, i1;  // the two source indices (clamped into the source)
    std::vector<int32_t> w0, w1;  // 11-bit weights
};

inline int32_t round_even(float v) { return static_cast<int32_t>(std::nearbyint(v)); }

// As cv::resize computes them: scale = 1 / (dst / src) in double, the position in float. Horizontally a
// position outside the source is clamped with weight (1, 0); vertically the weights stay and the rows clamp.
void make_axis(int32_t src, int32_t dst, bool clamp_weights, Axis& a) {
    a.i0.resize(static_cast<size_t>(dst));
    a.i1.resize(static_cast<size_t>(dst));
    a.w0.resize(static_cast<size_t>(dst));
    a.w1.resize(static_cast<size_t>(dst));
    const double scale = 1.0 / (static_cast<double>(dst) / src);
    for (int32_t d = 0; d < dst; ++d) {
        float f = static_cast<float>((d + 0.5) * scale - 0.5);
        int32_t s = static_cast<int32_t>(std::floor(f));
        f -= static_cast<float>(s);
        if (clamp_weights) {
            if (s < 0) f = 0.f, s = 0;
            if (s >= src - 1) f = 0.f, s = src - 1;
        }
        const size_t k = static_cast<size_t>(d);
        a.i0[k] = s < 0 ? 0 : (s > src - 1 ? src - 1 : s);
        a.i1[k] = s + 1 < 0 ? 0 : (s + 1 > src - 1 ? src - 1 : s + 1);
        a.w0[k] = round_even((1.f - f) * static_cast<float>(kOne));
        a.w1[k] = round_even(f * static_cast<float>(kOne));
    }
}

// 2x2 box halving of one row pair into `out` (width pixels of the halved row), as INTER_AREA by exactly 2.
void halve_row(const uint8_t* a, const uint8_t* b, int32_t width, uint8_t* out) {
    for (int32_t x = 0; x < width; ++x) {
        const uint8_t* p = a + 6 * x;
        const uint8_t* q = b + 6 * x;
        uint8_t* o = out + 3 * x;
        o[0] = static_cast<uint8_t>((p[0] + p[3] + q[0] + q[3] + 2) >> 2);
        o[1] = static_cast<uint8_t>((p[1] + p[4] + q[1] + q[4] + 2) >> 2);
        o[2] = static_cast<uint8_t>((p[2] + p[5] + q[2] + q[5] + 2) >> 2);
    }
}

// Horizontal pass: 3 * n fixed-point values (source times 2^11) of one source row; o0, o1: the taps' pixels.
void hpass_scalar(const uint8_t* src, const int32_t* o0, const int32_t* o1, const int32_t* w0, const int32_t* w1,
                  int32_t from, int32_t n, int32_t* dst) {
    for (int32_t x = from; x < n; ++x) {
        const uint8_t* p = src + 3 * o0[x];
        const uint8_t* q = src + 3 * o1[x];
        const int32_t a = w0[x], b = w1[x];
        dst[3 * x] = p[0] * a + q[0] * b;
        dst[3 * x + 1] = p[1] * a + q[1] * b;
        dst[3 * x + 2] = p[2] * a + q[2] * b;
    }
}

// Vertical pass of one output row, OpenCV's vector rounding: each tap (v >> 4) * w >> 16, then (sum + 2) >> 2.
void vpass(const int32_t* h0, const int32_t* h1, int32_t b0, int32_t b1, int32_t n, uint8_t* out) {
    for (int32_t i = 0; i < n; ++i) {
        const int32_t v = ((((h0[i] >> 4) * b0) >> 16) + (((h1[i] >> 4) * b1) >> 16) + 2) >> 2;
        out[i] = static_cast<uint8_t>(v > 255 ? 255 : (v < 0 ? 0 : v));
    }
}

// One content row into the float planes: plane c at x = row[3 x + source[c]] * scale[c] + shift[c].
void emit_float(const uint8_t* row, int32_t from, int32_t n, const int32_t* source, const float* scale,
                const float* shift, float* const* planes) {
    for (int c = 0; c < 3; ++c) {
        const uint8_t* r = row + source[c];
        float* o = planes[c];
        const float sc = scale[c], sh = shift[c];
        for (int32_t x = from; x < n; ++x) o[x] = static_cast<float>(r[3 * x]) * sc + sh;
    }
}

#if DSL_PREP_AVX2
bool cpu_has_avx2() {
    static const bool has = [] {
        __builtin_cpu_init();
        const char* plain = std::getenv("DSL_PREPROCESS_PLAIN");  // "1": the portable loops (tests compare both)
        return __builtin_cpu_supports("avx2") != 0 && !(plain && *plain && std::strcmp(plain, "0") != 0);
    }();
    return has;
}

// Halving, 8 output pixels a step (each 128-bit lane: 4 source pixels of both rows, 12 bytes, paired by a
// shuffle and summed by maddubs); 2 bytes past each store are scratch, overwritten by the next or padding.
// Returns the pixels done; reads 16 bytes from each lane's start.
// The frame is read once, from memory (a capture box's frames are not in the cache): asking for the bytes 8 KB
// ahead of each row pair, about a row and a half, keeps more lines in flight than the hardware prefetcher,
// which stops at each 4 KB page (1080p box-linear: 1.20 -> 1.03 ms here). A prefetch never faults, so the
// address may pass the frame's end; it is formed as an integer for that reason.
inline void prefetch_ahead(const uint8_t* p) {
    _mm_prefetch(reinterpret_cast<const char*>(reinterpret_cast<uintptr_t>(p) + 8192), _MM_HINT_T0);
}

__attribute__((target("avx2"))) int32_t halve_row_avx2(const uint8_t* a, const uint8_t* b, int32_t width,
                                                       uint8_t* out) {
    const __m256i pair = _mm256_setr_epi8(0, 3, 1, 4, 2, 5, 6, 9, 7, 10, 8, 11, -1, -1, -1, -1,
                                          0, 3, 1, 4, 2, 5, 6, 9, 7, 10, 8, 11, -1, -1, -1, -1);
    const __m256i ones = _mm256_set1_epi8(1), two = _mm256_set1_epi16(2);
    int32_t x = 0;
    for (; x + 4 <= width - 1; x += 4) {  // lane 1 reads 16 bytes from source pixel 2x + 4: inside 2 * width
        const uint8_t* pa = a + 6 * x;
        const uint8_t* pb = b + 6 * x;
        prefetch_ahead(pa);
        prefetch_ahead(pb);
        const __m256i va = _mm256_inserti128_si256(
            _mm256_castsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(pa))),
            _mm_loadu_si128(reinterpret_cast<const __m128i*>(pa + 12)), 1);
        const __m256i vb = _mm256_inserti128_si256(
            _mm256_castsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(pb))),
            _mm_loadu_si128(reinterpret_cast<const __m128i*>(pb + 12)), 1);
        const __m256i sa = _mm256_maddubs_epi16(_mm256_shuffle_epi8(va, pair), ones);
        const __m256i sb = _mm256_maddubs_epi16(_mm256_shuffle_epi8(vb, pair), ones);
        const __m256i v = _mm256_srli_epi16(_mm256_add_epi16(_mm256_add_epi16(sa, sb), two), 2);
        const __m256i packed = _mm256_packus_epi16(v, v);
        _mm_storel_epi64(reinterpret_cast<__m128i*>(out + 3 * x), _mm256_castsi256_si128(packed));
        _mm_storel_epi64(reinterpret_cast<__m128i*>(out + 3 * x + 6), _mm256_extracti128_si256(packed, 1));
    }
    return x;
}

// Horizontal pass, 8 values a step: each 128-bit lane loads 16 source bytes from its group's first tap and one
// shuffle spreads both taps of its 4 values into 16-bit pairs for madd (the tables say where; see prepare).
__attribute__((target("avx2"))) void hpass_avx2(const uint8_t* src, const int32_t* base, const uint8_t* masks,
                                                const int32_t* wpair, int32_t groups, int32_t* dst) {
    for (int32_t g = 0; g + 2 <= groups; g += 2) {
        const __m256i v = _mm256_inserti128_si256(
            _mm256_castsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + base[g]))),
            _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + base[g + 1])), 1);
        const __m256i m = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(masks + 16 * g));
        const __m256i w = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wpair + 4 * g));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + 4 * g), _mm256_madd_epi16(_mm256_shuffle_epi8(v, m), w));
    }
}

__attribute__((target("avx2"))) void vpass_avx2(const int32_t* h0, const int32_t* h1, int32_t b0, int32_t b1,
                                                int32_t n, uint8_t* out) {
    vpass(h0, h1, b0, b1, n, out);  // the same loop, inlined and vectorised for AVX2
}

// Float planes, 16 pixels a step: three shuffles per plane split 48 BGR bytes, then convert, multiply, add
// (two roundings, as the scalar loop). Returns the pixels done.
__attribute__((target("avx2"))) int32_t emit_float_avx2(const uint8_t* row, int32_t n, const int32_t* source,
                                                        const float* scale, const float* shift,
                                                        float* const* planes) {
    alignas(16) int8_t table[3][3][16];  // [plane][source vector][byte]
    for (int k = 0; k < 3; ++k)
        for (int v = 0; v < 3; ++v)
            for (int j = 0; j < 16; ++j) {
                const int at = 3 * j + k;
                table[k][v][j] = static_cast<int8_t>(at / 16 == v ? at % 16 : -1);
            }
    __m128i m[3][3];
    for (int k = 0; k < 3; ++k)
        for (int v = 0; v < 3; ++v) m[k][v] = _mm_load_si128(reinterpret_cast<const __m128i*>(table[k][v]));
    __m256 sc[3], sh[3];
    for (int c = 0; c < 3; ++c) sc[c] = _mm256_set1_ps(scale[c]), sh[c] = _mm256_set1_ps(shift[c]);
    int32_t x = 0;
    for (; x + 16 <= n; x += 16) {
        const __m128i v0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(row + 3 * x));
        const __m128i v1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(row + 3 * x + 16));
        const __m128i v2 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(row + 3 * x + 32));
        __m128i plane[3];
        for (int k = 0; k < 3; ++k)
            plane[k] = _mm_or_si128(_mm_or_si128(_mm_shuffle_epi8(v0, m[k][0]), _mm_shuffle_epi8(v1, m[k][1])),
                                    _mm_shuffle_epi8(v2, m[k][2]));
        for (int c = 0; c < 3; ++c) {
            const __m128i p = plane[source[c]];
            const __m256 lo = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(p));
            const __m256 hi = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(p, 8)));
            _mm256_storeu_ps(planes[c] + x, _mm256_add_ps(_mm256_mul_ps(lo, sc[c]), sh[c]));
            _mm256_storeu_ps(planes[c] + x + 8, _mm256_add_ps(_mm256_mul_ps(hi, sc[c]), sh[c]));
        }
    }
    return x;
}
#endif

}  // namespace

struct dsl_prep {
    std::vector<uint8_t> level[2];  // materialised halvings (all but the last)
    std::vector<uint8_t> half[2];   // rows of the last halving, made on demand
    std::vector<int32_t> hrow[2];   // horizontal pass of two source rows
    std::vector<uint8_t> vrow;      // one content row, BGR
    // The AVX2 horizontal pass, per group of 4 values: first source byte, shuffle mask, weight pairs.
    std::vector<int32_t> gbase, wpair;
    std::vector<uint8_t> gmask;
    int32_t groups = 0;  // groups whose taps lie within 16 bytes of their first (all but the ragged end)
    Axis ax, ay;
    int32_t geometry[4] = {-1, -1, -1, -1};  // source w, h, content w, h of the tables
};

namespace {

struct Source {
    const uint8_t* data;  // rows of the level before the last halving (or the frame, without halvings)
    int64_t stride;
    int32_t width, height;  // of the rows handed out (after every halving)
    bool halved;            // rows are made from two rows of `data`
};

void halve(const uint8_t* a, const uint8_t* b, int32_t width, uint8_t* out) {
    int32_t from = 0;
#if DSL_PREP_AVX2
    if (cpu_has_avx2()) from = halve_row_avx2(a, b, width, out);
#endif
    halve_row(a + 6 * from, b + 6 * from, width - from, out + 3 * from);
}

void vertical(const int32_t* h0, const int32_t* h1, int32_t b0, int32_t b1, int32_t n, uint8_t* out) {
#if DSL_PREP_AVX2
    if (cpu_has_avx2()) return vpass_avx2(h0, h1, b0, b1, n, out);
#endif
    vpass(h0, h1, b0, b1, n, out);
}

int check(const dsl_prep* prep, const dsl_prep_frame* f, const dsl_prep_params* p, const void* out) {
    if (prep == nullptr) return fail("prep: NULL pointer");
    if (f == nullptr || f->data == nullptr) return fail("frame: NULL pointer");
    if (p == nullptr) return fail("params: NULL pointer");
    if (out == nullptr) return fail("out: NULL pointer");
    if (f->width < 1 || f->height < 1 || f->width > DSL_PREP_MAX_SIDE || f->height > DSL_PREP_MAX_SIDE)
        return fail("frame: size %lldx%lld (width x height) is outside 1..%lld", f->width, f->height,
                    DSL_PREP_MAX_SIDE);
    if (f->row_stride < 3 * static_cast<int64_t>(f->width) || f->row_stride > (int64_t{1} << 40))
        return fail("frame: row stride %lld bytes is less than 3 x width (%lld) or absurd", f->row_stride,
                    3 * static_cast<long long>(f->width));
    if (p->width < 1 || p->height < 1 || p->width > DSL_PREP_MAX_SIDE || p->height > DSL_PREP_MAX_SIDE)
        return fail("params: input size %lldx%lld is outside 1..%lld", p->width, p->height, DSL_PREP_MAX_SIDE);
    if (p->content_x < 0 || p->content_y < 0 || p->content_width < 1 || p->content_height < 1 ||
        static_cast<int64_t>(p->content_x) + p->content_width > p->width ||
        static_cast<int64_t>(p->content_y) + p->content_height > p->height) {
        g_error = "params: content rectangle (x " + std::to_string(p->content_x) + ", y " +
                  std::to_string(p->content_y) + ", " + std::to_string(p->content_width) + "x" +
                  std::to_string(p->content_height) + ") is not inside the " + std::to_string(p->width) + "x" +
                  std::to_string(p->height) + " input";
        return DSL_PREP_ERR_ARGUMENT;
    }
    if (p->resize != DSL_PREP_BOX_LINEAR && p->resize != DSL_PREP_LINEAR)
        return fail("params: resize %lld is not DSL_PREP_BOX_LINEAR (0) or DSL_PREP_LINEAR (1)", p->resize);
    if (p->pad_value < 0 || p->pad_value > 255) return fail("params: pad_value %lld is outside 0..255", p->pad_value);
    for (int c = 0; c < 3; ++c)
        if (p->source_channel[c] < 0 || p->source_channel[c] > 2)
            return fail("params: source_channel[%lld] = %lld is outside 0..2", c, p->source_channel[c]);
    return DSL_PREP_OK;
}

// Halvings as preprocess.py makes them; all but the last are written to prep->level.
Source halvings(dsl_prep* prep, const dsl_prep_frame* f, const dsl_prep_params* p) {
    Source s{f->data, f->row_stride, f->width, f->height, false};
    if (p->resize != DSL_PREP_BOX_LINEAR) return s;
    int slot = 0;
    while (s.width >= 2 * static_cast<int64_t>(p->content_width) &&
           s.height >= 2 * static_cast<int64_t>(p->content_height) && s.width % 2 == 0 && s.height % 2 == 0) {
        if (s.halved) {  // the previous halving is not the last: make it whole
            const int32_t w = s.width, h = s.height;
            std::vector<uint8_t>& dst = prep->level[slot];
            dst.resize(static_cast<size_t>(w) * h * 3 + kPad);
            for (int32_t y = 0; y < h; ++y)
                halve(s.data + 2 * y * s.stride, s.data + (2 * y + 1) * s.stride, w,
                      dst.data() + static_cast<size_t>(y) * w * 3);
            s.data = dst.data();
            s.stride = 3 * static_cast<int64_t>(w);
            slot ^= 1;
        }
        s.width /= 2;
        s.height /= 2;
        s.halved = true;
    }
    return s;
}

const uint8_t* source_row(dsl_prep* prep, const Source& s, int32_t y, int slot) {
    if (!s.halved) return s.data + y * s.stride;
    uint8_t* out = prep->half[slot].data();
    halve(s.data + 2 * y * s.stride, s.data + (2 * y + 1) * s.stride, s.width, out);
    return out;
}

void prepare(dsl_prep* prep, const Source& s, const dsl_prep_params* p) {
    const size_t row = static_cast<size_t>(s.width) * 3 + kPad;
    for (auto& h : prep->half) h.resize(row);
    const size_t n = static_cast<size_t>(p->content_width) * 3;
    for (auto& h : prep->hrow) h.resize(n);
    prep->vrow.resize(n + kPad);  // the AVX2 emit reads whole 16-pixel steps
    const int32_t geo[4] = {s.width, s.height, p->content_width, p->content_height};
    if (std::memcmp(geo, prep->geometry, sizeof geo) == 0) return;
    make_axis(s.width, p->content_width, true, prep->ax);
    make_axis(s.height, p->content_height, false, prep->ay);
    // Value i = 3 x + c reads source bytes 3 i0[x] + c and 3 i1[x] + c (the same byte where clamped: weight 0).
    const size_t groups = n / 4;
    prep->gbase.assign(groups, 0);
    prep->gmask.assign(groups * 16, 0x80);
    prep->wpair.assign(groups * 4, 0);
    prep->groups = 0;
    for (size_t g = 0; g < groups; ++g) {
        int32_t tap0[4], tap1[4], first = INT32_MAX, last = 0;
        for (size_t j = 0; j < 4; ++j) {
            const size_t i = 4 * g + j, x = i / 3, c = i % 3;
            tap0[j] = 3 * prep->ax.i0[x] + static_cast<int32_t>(c);
            tap1[j] = 3 * prep->ax.i1[x] + static_cast<int32_t>(c);
            first = tap0[j] < first ? tap0[j] : first;
            last = tap1[j] > last ? tap1[j] : last;
            prep->wpair[4 * g + j] = (prep->ax.w0[x] & 0xffff) | (prep->ax.w1[x] << 16);
        }
        if (last - first > 15) break;  // shrinking by 2 or more: the rest goes through the scalar pass
        prep->gbase[g] = first;
        for (size_t j = 0; j < 4; ++j) {
            prep->gmask[16 * g + 4 * j] = static_cast<uint8_t>(tap0[j] - first);
            prep->gmask[16 * g + 4 * j + 2] = static_cast<uint8_t>(tap1[j] - first);
        }
        prep->groups = static_cast<int32_t>(g) + 1;
    }
    std::memcpy(prep->geometry, geo, sizeof geo);
}

void hpass(dsl_prep* prep, const Source& s, const uint8_t* src, int32_t* dst) {
    const int32_t n = static_cast<int32_t>(prep->hrow[0].size()) / 3;
    int32_t from = 0;
#if DSL_PREP_AVX2
    if (cpu_has_avx2()) {
        // Each group reads 16 bytes from its first tap: inside scratch rows (padded) always, inside a frame row
        // only where those bytes end in the row.
        int32_t groups = prep->groups & ~1;
        if (!s.halved)
            while (groups > 0 && prep->gbase[static_cast<size_t>(groups) - 1] + 16 > 3 * s.width) groups -= 2;
        hpass_avx2(src, prep->gbase.data(), prep->gmask.data(), prep->wpair.data(), groups, dst);
        from = 4 * groups / 3;
    }
#else
    (void)s;
#endif
    hpass_scalar(src, prep->ax.i0.data(), prep->ax.i1.data(), prep->ax.w0.data(), prep->ax.w1.data(), from, n, dst);
}

// Each content row in turn (BGR uint8, 3 * content_width), handed to emit(y, row).
template <class Emit>
void content_rows(dsl_prep* prep, const dsl_prep_frame* f, const dsl_prep_params* p, Emit emit) {
    const Source s = halvings(prep, f, p);
    prepare(prep, s, p);
    const int32_t cw = p->content_width, ch = p->content_height;
    if (s.width == cw && s.height == ch) {  // no bilinear step: the (halved) frame is the content
        for (int32_t y = 0; y < ch; ++y) emit(y, source_row(prep, s, y, 0));
        return;
    }
    // Fixed-point rows in prep->hrow, with the source row each holds (-1: none yet).
    int32_t held[2] = {-1, -1};
    const int32_t n = 3 * cw;
    for (int32_t y = 0; y < ch; ++y) {
        const int32_t want[2] = {prep->ay.i0[static_cast<size_t>(y)], prep->ay.i1[static_cast<size_t>(y)]};
        if (held[0] != want[0] && held[1] == want[0]) {
            std::swap(prep->hrow[0], prep->hrow[1]);
            std::swap(held[0], held[1]);
        }
        for (int k = 0; k < 2; ++k) {
            if (held[k] == want[k]) continue;
            if (k == 1 && want[1] == want[0]) {
                prep->hrow[1] = prep->hrow[0];
            } else {
                hpass(prep, s, source_row(prep, s, want[k], k), prep->hrow[static_cast<size_t>(k)].data());
            }
            held[k] = want[k];
        }
        vertical(prep->hrow[0].data(), prep->hrow[1].data(), prep->ay.w0[static_cast<size_t>(y)],
              prep->ay.w1[static_cast<size_t>(y)], n, prep->vrow.data());
        emit(y, prep->vrow.data());
    }
}

template <class F>
int guarded(F body) {
    try {
        body();
    } catch (const std::bad_alloc&) {
        g_error = "out of memory";
        return DSL_PREP_ERR_MEMORY;
    }
    return DSL_PREP_OK;
}

}  // namespace

extern "C" {

dsl_prep* dsl_prep_create(void) {
    try {
        return new dsl_prep();
    } catch (const std::bad_alloc&) {
        g_error = "out of memory";
        return nullptr;
    }
}

void dsl_prep_destroy(dsl_prep* prep) { delete prep; }

int dsl_prep_letterbox(int32_t frame_width, int32_t frame_height, dsl_prep_params* params) {
    if (params == nullptr) return fail("params: NULL pointer");
    if (frame_width < 1 || frame_height < 1 || frame_width > DSL_PREP_MAX_SIDE || frame_height > DSL_PREP_MAX_SIDE)
        return fail("frame: size %lldx%lld is outside 1..%lld", frame_width, frame_height, DSL_PREP_MAX_SIDE);
    const int32_t w = params->width, h = params->height;
    if (w < 1 || h < 1 || w > DSL_PREP_MAX_SIDE || h > DSL_PREP_MAX_SIDE)
        return fail("params: input size %lldx%lld is outside 1..%lld", w, h, DSL_PREP_MAX_SIDE);
    const double sx = static_cast<double>(w) / frame_width, sy = static_cast<double>(h) / frame_height;
    const double s = sx < sy ? sx : sy;
    auto side = [](int32_t frame, double scale, int32_t limit) {
        const double v = std::nearbyint(frame * scale);  // round half to even, as Python's round()
        const int32_t r = v > limit ? limit : static_cast<int32_t>(v);
        return r < 1 ? 1 : r;
    };
    params->content_width = side(frame_width, s, w);
    params->content_height = side(frame_height, s, h);
    params->content_x = (w - params->content_width) / 2;
    params->content_y = (h - params->content_height) / 2;
    return DSL_PREP_OK;
}

int dsl_prep_float(dsl_prep* prep, const dsl_prep_frame* frame, const dsl_prep_params* p, float* out) {
    const int status = check(prep, frame, p, out);
    if (status != DSL_PREP_OK) return status;
    const size_t plane = static_cast<size_t>(p->width) * p->height;
    if (p->write_padding) {
        for (int c = 0; c < 3; ++c) {
            const float v = static_cast<float>(p->pad_value) * p->scale[c] + p->shift[c];
            float* o = out + c * plane;
            for (size_t i = 0; i < plane; ++i) o[i] = v;
        }
    }
    return guarded([&] {
        content_rows(prep, frame, p, [&](int32_t y, const uint8_t* row) {
            const size_t at = static_cast<size_t>(p->content_y + y) * p->width + p->content_x;
            float* const planes[3] = {out + at, out + plane + at, out + 2 * plane + at};
            int32_t from = 0;
#if DSL_PREP_AVX2
            if (cpu_has_avx2())
                from = emit_float_avx2(row, p->content_width, p->source_channel, p->scale, p->shift, planes);
#endif
            emit_float(row, from, p->content_width, p->source_channel, p->scale, p->shift, planes);
        });
    });
}

int dsl_prep_uint8(dsl_prep* prep, const dsl_prep_frame* frame, const dsl_prep_params* p, uint8_t* out) {
    const int status = check(prep, frame, p, out);
    if (status != DSL_PREP_OK) return status;
    if (p->write_padding) std::memset(out, p->pad_value, static_cast<size_t>(p->width) * p->height * 3);
    return guarded([&] {
        content_rows(prep, frame, p, [&](int32_t y, const uint8_t* row) {
            std::memcpy(out + (static_cast<size_t>(p->content_y + y) * p->width + p->content_x) * 3, row,
                        static_cast<size_t>(p->content_width) * 3);
        });
    });
}

int dsl_prep_vectorized(void) {
#if DSL_PREP_AVX2
    return cpu_has_avx2() ? 1 : 0;
#else
    return 0;
#endif
}

const char* dsl_prep_last_error(void) { return g_error.c_str(); }

const char* dsl_prep_version(void) { return DSL_PREPROCESS_VERSION; }

}  // extern "C"
