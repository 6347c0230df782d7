// Players' masks at frame resolution from the network-resolution label map (csrc/include/dsl_masks.h).
//
// Cost: the content rectangle of the label map is read once, row by row, each row compared in chunks with
// the last sampled one, which gives the runs of equal labels down every content column; every frame column
// then appends its content column's runs to the players' run lists. Nothing of frame size is written.
#include "dsl_masks.h"

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <new>
#include <string>
#include <vector>

namespace {

thread_local std::string g_error;

int fail(int status, const char* fmt, long long a = 0, long long b = 0, long long c = 0, long long d = 0) {
    char buf[256];
    std::snprintf(buf, sizeof buf, fmt, a, b, c, d);
    g_error = buf;
    return status;
}

struct Segment {
    int32_t column;  // content column
    int32_t label;   // 1..num_players
    int32_t y0, y1;  // frame rows [y0, y1)
};

// Source index of each destination pixel: floor((i + 0.5) * src / dst), exactly.
void nearest_table(int32_t src, int32_t dst, std::vector<int32_t>& out) {
    out.resize(static_cast<size_t>(dst));
    const int64_t s = src, d2 = 2 * static_cast<int64_t>(dst);
    for (int32_t i = 0; i < dst; ++i) {
        int64_t v = ((2 * static_cast<int64_t>(i) + 1) * s) / d2;
        out[static_cast<size_t>(i)] = static_cast<int32_t>(v < s ? v : s - 1);
    }
}

int check_geometry(const int32_t* labels, int32_t height, int32_t width, const dsl_letterbox* lb) {
    if (labels == nullptr) return fail(DSL_MASKS_ERR_ARGUMENT, "labels: NULL pointer");
    if (lb == nullptr) return fail(DSL_MASKS_ERR_ARGUMENT, "letterbox: NULL pointer");
    if (height < 1 || width < 1 || height > DSL_MASKS_MAX_SIDE || width > DSL_MASKS_MAX_SIDE)
        return fail(DSL_MASKS_ERR_ARGUMENT, "labels: size %lldx%lld (width x height) is outside 1..%lld",
                    width, height, DSL_MASKS_MAX_SIDE);
    if (lb->frame_width < 1 || lb->frame_height < 1 || lb->frame_width > DSL_MASKS_MAX_SIDE ||
        lb->frame_height > DSL_MASKS_MAX_SIDE)
        return fail(DSL_MASKS_ERR_ARGUMENT, "letterbox: frame size %lldx%lld is outside 1..%lld",
                    lb->frame_width, lb->frame_height, DSL_MASKS_MAX_SIDE);
    if (static_cast<int64_t>(lb->frame_width) * lb->frame_height > INT32_MAX)
        return fail(DSL_MASKS_ERR_ARGUMENT, "letterbox: frame size %lldx%lld has more than 2^31 - 1 pixels",
                    lb->frame_width, lb->frame_height);
    if (lb->crop_x < 0 || lb->crop_y < 0 || lb->crop_width < 1 || lb->crop_height < 1 ||
        static_cast<int64_t>(lb->crop_x) + lb->crop_width > width ||
        static_cast<int64_t>(lb->crop_y) + lb->crop_height > height) {
        g_error = "letterbox: content rectangle (x " + std::to_string(lb->crop_x) + ", y " +
                  std::to_string(lb->crop_y) + ", " + std::to_string(lb->crop_width) + "x" +
                  std::to_string(lb->crop_height) + ") is not inside the " + std::to_string(width) + "x" +
                  std::to_string(height) + " label map";
        return DSL_MASKS_ERR_ARGUMENT;
    }
    return DSL_MASKS_OK;
}

// The sampling table of one axis ("columns" or "rows"): the caller's (checked) or the exact rule's.
int sampling_table(const int32_t* given, int32_t src, int32_t dst, const char* axis, std::vector<int32_t>& out) {
    if (given == nullptr) {
        nearest_table(src, dst, out);
        return DSL_MASKS_OK;
    }
    out.assign(given, given + dst);
    for (int32_t i = 0; i < dst; ++i) {
        const int32_t v = out[static_cast<size_t>(i)];
        if (v < 0 || v >= src || (i > 0 && v < out[static_cast<size_t>(i) - 1])) {
            char buf[200];
            std::snprintf(buf, sizeof buf, "letterbox.%s[%d] = %d: expected non-decreasing indices in 0..%d",
                          axis, i, v, src - 1);
            g_error = buf;
            return DSL_MASKS_ERR_ARGUMENT;
        }
    }
    return DSL_MASKS_OK;
}

int tables(const dsl_letterbox* lb, std::vector<int32_t>& xs, std::vector<int32_t>& ys) {
    int status = sampling_table(lb->columns, lb->crop_width, lb->frame_width, "columns", xs);
    if (status != DSL_MASKS_OK) return status;
    return sampling_table(lb->rows, lb->crop_height, lb->frame_height, "rows", ys);
}

}  // namespace

struct dsl_masks {
    std::vector<int32_t> xs, ys;          // source column / row of each frame column / row
    std::vector<int32_t> row_start;       // frame rows of content row r: [row_start[r], row_start[r + 1])
    std::vector<int32_t> current, start;  // per content column: label of the open run and its first frame row
    std::vector<Segment> found, segments; // runs down the content columns, as found and grouped by column
    std::vector<int32_t> col_start;       // runs of content column c: segments[col_start[c] .. col_start[c + 1])
    std::vector<std::vector<uint32_t>> runs;  // per player
    std::vector<int64_t> last_end;        // per player: end of its last run of ones (column-major index)
    std::vector<uint32_t> counts;
    std::vector<int64_t> offsets, areas;
};

extern "C" {

dsl_masks* dsl_masks_create(void) {
    g_error.clear();
    dsl_masks* m = new (std::nothrow) dsl_masks();
    if (m == nullptr) fail(DSL_MASKS_ERR_MEMORY, "dsl_masks_create: out of memory");
    return m;
}

void dsl_masks_destroy(dsl_masks* masks) { delete masks; }

int dsl_masks_rle(dsl_masks* m, const int32_t* labels, int32_t height, int32_t width, int32_t num_players,
                  const dsl_letterbox* lb, dsl_rle* out) {
    g_error.clear();
    if (m == nullptr) return fail(DSL_MASKS_ERR_ARGUMENT, "masks: NULL pointer");
    if (out == nullptr) return fail(DSL_MASKS_ERR_ARGUMENT, "out: NULL pointer");
    int status = check_geometry(labels, height, width, lb);
    if (status != DSL_MASKS_OK) return status;
    if (num_players < 0 || num_players > DSL_MASKS_MAX_PLAYERS)
        return fail(DSL_MASKS_ERR_ARGUMENT, "num_players: %lld is outside 0..%lld", num_players,
                    DSL_MASKS_MAX_PLAYERS);
    const int32_t fw = lb->frame_width, fh = lb->frame_height, ch = lb->crop_height;
    const int64_t total = static_cast<int64_t>(fw) * fh;
    try {
        status = tables(lb, m->xs, m->ys);
        if (status != DSL_MASKS_OK) return status;
        m->row_start.assign(static_cast<size_t>(ch) + 1, 0);
        for (int32_t y = 0; y < fh; ++y) m->row_start[static_cast<size_t>(m->ys[static_cast<size_t>(y)]) + 1]++;
        for (int32_t r = 0; r < ch; ++r) m->row_start[static_cast<size_t>(r) + 1] += m->row_start[static_cast<size_t>(r)];
        const size_t n = static_cast<size_t>(num_players);
        if (m->runs.size() < n) m->runs.resize(n);
        for (size_t p = 0; p < n; ++p) m->runs[p].clear();
        m->last_end.assign(n, -1);  // -1: no run yet
        m->areas.assign(n, 0);

        // Pass 1, row by row in memory order: the runs of equal labels down each content column, in frame
        // rows. A row only costs a comparison with the labels of the last sampled row, chunk by chunk.
        const int32_t cw = lb->crop_width;
        m->current.assign(static_cast<size_t>(cw), 0);
        m->start.assign(static_cast<size_t>(cw), 0);
        m->found.clear();
        int32_t* cur = m->current.data();
        for (int32_t r = 0; r < ch; ++r) {
            const int32_t y0 = m->row_start[static_cast<size_t>(r)];
            if (y0 == m->row_start[static_cast<size_t>(r) + 1]) continue;  // a content row no frame row samples
            const int32_t* row = labels + (static_cast<int64_t>(lb->crop_y) + r) * width + lb->crop_x;
            for (int32_t c0 = 0; c0 < cw; c0 += 16) {
                const int32_t c1 = c0 + 16 < cw ? c0 + 16 : cw;
                if (std::memcmp(row + c0, cur + c0, static_cast<size_t>(c1 - c0) * sizeof(int32_t)) == 0) continue;
                for (int32_t c = c0; c < c1; ++c) {
                    const int32_t v = row[c];
                    if (v == cur[c]) continue;
                    if (v < 0 || v > num_players) {
                        return fail(DSL_MASKS_ERR_ARGUMENT, "labels: %lld at (x=%lld, y=%lld) is outside 0..%lld (num_players)",
                                    v, static_cast<long long>(lb->crop_x) + c, static_cast<long long>(lb->crop_y) + r,
                                    num_players);
                    }
                    if (cur[c] != 0) m->found.push_back(Segment{c, cur[c], m->start[static_cast<size_t>(c)], y0});
                    cur[c] = v;
                    m->start[static_cast<size_t>(c)] = y0;
                }
            }
        }
        for (int32_t c = 0; c < cw; ++c)
            if (cur[c] != 0) m->found.push_back(Segment{c, cur[c], m->start[static_cast<size_t>(c)], fh});
        // Group the runs by column (counting sort; each column's runs stay in row order).
        m->col_start.assign(static_cast<size_t>(cw) + 1, 0);
        for (const Segment& sg : m->found) m->col_start[static_cast<size_t>(sg.column) + 1]++;
        for (int32_t c = 0; c < cw; ++c) m->col_start[static_cast<size_t>(c) + 1] += m->col_start[static_cast<size_t>(c)];
        m->segments.resize(m->found.size());
        m->start.assign(m->col_start.begin(), m->col_start.end() - 1);  // reused as the fill cursor per column
        for (const Segment& sg : m->found) m->segments[static_cast<size_t>(m->start[static_cast<size_t>(sg.column)]++)] = sg;

        // Pass 2, frame column by frame column (column-major, as COCO RLE runs): append each run to its player.
        for (int32_t x = 0; x < fw; ++x) {
            const size_t c = static_cast<size_t>(m->xs[static_cast<size_t>(x)]);
            const Segment* first = m->segments.data() + m->col_start[c];
            const Segment* last = m->segments.data() + m->col_start[c + 1];
            const int64_t base = static_cast<int64_t>(x) * fh;
            for (const Segment* sp = first; sp != last; ++sp) {
                const Segment& s = *sp;
                const size_t p = static_cast<size_t>(s.label - 1);
                const int64_t start = base + s.y0, len = s.y1 - s.y0;
                std::vector<uint32_t>& r = m->runs[p];
                if (m->last_end[p] == start) {
                    r.back() += static_cast<uint32_t>(len);
                } else {
                    r.push_back(static_cast<uint32_t>(start - (m->last_end[p] < 0 ? 0 : m->last_end[p])));
                    r.push_back(static_cast<uint32_t>(len));
                }
                m->last_end[p] = start + len;
                m->areas[p] += len;
            }
        }
        m->offsets.assign(n + 1, 0);
        size_t size = 0;
        for (size_t p = 0; p < n; ++p) size += m->runs[p].size() + 1;
        m->counts.resize(size);
        size_t k = 0;
        for (size_t p = 0; p < n; ++p) {
            const std::vector<uint32_t>& r = m->runs[p];
            if (!r.empty()) std::memcpy(m->counts.data() + k, r.data(), r.size() * sizeof(uint32_t));
            k += r.size();
            const int64_t tail = total - (m->last_end[p] < 0 ? 0 : m->last_end[p]);
            if (tail > 0) m->counts[k++] = static_cast<uint32_t>(tail);
            m->offsets[p + 1] = static_cast<int64_t>(k);
        }
        m->counts.resize(k);
    } catch (const std::bad_alloc&) {
        return fail(DSL_MASKS_ERR_MEMORY, "dsl_masks_rle: out of memory");
    }
    out->num_players = num_players;
    out->height = fh;
    out->width = fw;
    out->counts = m->counts.data();
    out->offsets = m->offsets.data();
    out->areas = m->areas.data();
    return DSL_MASKS_OK;
}

int dsl_masks_frame_labels(const int32_t* labels, int32_t height, int32_t width, const dsl_letterbox* lb,
                           int32_t* out) {
    g_error.clear();
    int status = check_geometry(labels, height, width, lb);
    if (status != DSL_MASKS_OK) return status;
    if (out == nullptr) return fail(DSL_MASKS_ERR_ARGUMENT, "out: NULL pointer");
    std::vector<int32_t> xs, ys;
    try {
        status = tables(lb, xs, ys);
        if (status != DSL_MASKS_OK) return status;
    } catch (const std::bad_alloc&) {
        return fail(DSL_MASKS_ERR_MEMORY, "dsl_masks_frame_labels: out of memory");
    }
    const int32_t* base = labels + static_cast<int64_t>(lb->crop_y) * width + lb->crop_x;
    for (int32_t y = 0; y < lb->frame_height; ++y) {
        int32_t* dst = out + static_cast<int64_t>(y) * lb->frame_width;
        if (y > 0 && ys[static_cast<size_t>(y)] == ys[static_cast<size_t>(y) - 1]) {
            std::memcpy(dst, dst - lb->frame_width, static_cast<size_t>(lb->frame_width) * sizeof(int32_t));
            continue;
        }
        const int32_t* src = base + static_cast<int64_t>(ys[static_cast<size_t>(y)]) * width;
        for (int32_t x = 0; x < lb->frame_width; ++x) dst[x] = src[xs[static_cast<size_t>(x)]];
    }
    return DSL_MASKS_OK;
}

int64_t dsl_masks_rle_string(const uint32_t* counts, int64_t n, char* out, int64_t capacity) {
    if (n < 0 || (n > 0 && counts == nullptr) || (capacity > 0 && out == nullptr)) return -1;
    int64_t len = 0;
    for (int64_t i = 0; i < n; ++i) {
        int64_t x = counts[i];
        if (i > 2) x -= static_cast<int64_t>(counts[i - 2]);  // stored as the difference to the run two before
        bool more = true;
        while (more) {
            int64_t c = x & 0x1f;
            x >>= 5;  // arithmetic shift: x stays negative until it reaches -1
            more = (c & 0x10) ? (x != -1) : (x != 0);
            if (more) c |= 0x20;
            if (len < capacity) out[len] = static_cast<char>(c + 48);
            ++len;
        }
    }
    if (len < capacity) out[len] = '\0';
    return len;
}

const char* dsl_masks_last_error(void) { return g_error.c_str(); }

const char* dsl_masks_version(void) { return DSL_MASKS_VERSION; }

}  // extern "C"
