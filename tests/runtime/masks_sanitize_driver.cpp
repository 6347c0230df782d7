// Drives csrc/src/masks.cpp through its C header under AddressSanitizer + UBSan (test_masks_sanitizers.py):
// random label maps, letterboxes and tables against a plain reference, bad arguments, and the RLE string.
#include "dsl_masks.h"
#include "sanitize_check.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

// Frame map by gather with the exact rule (or the given tables), then COCO RLE per player.
static void reference(const std::vector<int32_t>& labels, int w, int n, const dsl_letterbox& lb,
                      std::vector<std::vector<uint32_t>>& counts, std::vector<int64_t>& areas) {
    const int fw = lb.frame_width, fh = lb.frame_height;
    std::vector<int32_t> frame(static_cast<size_t>(fw) * fh);
    for (int y = 0; y < fh; ++y)
        for (int x = 0; x < fw; ++x) {
            int sx = lb.columns ? lb.columns[x] : static_cast<int>(std::min<int64_t>((2LL * x + 1) * lb.crop_width / (2LL * fw), lb.crop_width - 1));
            int sy = lb.rows ? lb.rows[y] : static_cast<int>(std::min<int64_t>((2LL * y + 1) * lb.crop_height / (2LL * fh), lb.crop_height - 1));
            frame[static_cast<size_t>(y) * fw + x] = labels[static_cast<size_t>(lb.crop_y + sy) * w + lb.crop_x + sx];
        }
    counts.assign(static_cast<size_t>(n), {});
    areas.assign(static_cast<size_t>(n), 0);
    for (int p = 0; p < n; ++p) {
        bool on = false;
        uint32_t run = 0;
        for (int x = 0; x < fw; ++x)
            for (int y = 0; y < fh; ++y) {
                bool v = frame[static_cast<size_t>(y) * fw + x] == p + 1;
                if (v != on) {
                    counts[p].push_back(run);
                    run = 0;
                    on = v;
                }
                ++run;
                areas[p] += v;
            }
        counts[p].push_back(run);
    }
}

int main() {
    std::mt19937 rng(12345);
    auto uni = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
    dsl_masks* m = dsl_masks_create();
    CHECK(m != nullptr, "create");
    for (int iter = 0; iter < 1500; ++iter) {
        const int h = uni(1, 30), w = uni(1, 30), n = uni(0, 6);
        std::vector<int32_t> labels(static_cast<size_t>(h) * w);
        for (auto& v : labels) v = uni(0, n);
        dsl_letterbox lb{};
        lb.frame_width = uni(0, 80);
        lb.frame_height = uni(0, 80);
        lb.crop_x = uni(-1, w);
        lb.crop_y = uni(-1, h);
        lb.crop_width = uni(0, w + 1);
        lb.crop_height = uni(0, h + 1);
        std::vector<int32_t> cols, rows;
        if (uni(0, 2) == 0 && lb.frame_width > 0 && lb.frame_height > 0 && lb.crop_width > 0 && lb.crop_height > 0) {
            for (int x = 0; x < lb.frame_width; ++x) cols.push_back(uni(0, lb.crop_width - 1 + uni(0, 1)));
            for (int y = 0; y < lb.frame_height; ++y) rows.push_back(uni(0, lb.crop_height - 1));
            std::sort(cols.begin(), cols.end());
            if (uni(0, 5) > 0) std::sort(rows.begin(), rows.end());
            lb.columns = cols.data();
            lb.rows = rows.data();
        }
        if (uni(0, 9) == 0 && !labels.empty()) labels[static_cast<size_t>(uni(0, h * w - 1))] = uni(0, 1) ? -5 : n + 1;
        dsl_rle out{};
        int status = dsl_masks_rle(m, labels.data(), h, w, n, &lb, &out);
        const std::string message = dsl_masks_last_error();
        std::vector<int32_t> frame(static_cast<size_t>(std::max(0, lb.frame_width)) * std::max(0, lb.frame_height) + 1);
        int status2 = dsl_masks_frame_labels(labels.data(), h, w, &lb, frame.data());
        if (status != DSL_MASKS_OK) {
            CHECK(status == DSL_MASKS_ERR_ARGUMENT, "error kind");
            CHECK(!message.empty(), "error message");
            continue;
        }
        CHECK(status2 == DSL_MASKS_OK, "frame_labels agrees on validity");
        std::vector<std::vector<uint32_t>> want;
        std::vector<int64_t> areas;
        reference(labels, w, n, lb, want, areas);
        CHECK(out.num_players == n && out.width == lb.frame_width && out.height == lb.frame_height, "header");
        for (int p = 0; p < n; ++p) {
            std::vector<uint32_t> got(out.counts + out.offsets[p], out.counts + out.offsets[p + 1]);
            CHECK(got == want[p], "counts");
            CHECK(out.areas[p] == areas[p], "areas");
            char buf[7 * 64 + 1];
            int64_t need = dsl_masks_rle_string(got.data(), static_cast<int64_t>(got.size()), buf, sizeof buf);
            CHECK(need >= 0 && need <= 7 * static_cast<int64_t>(got.size()), "string length");
            char small[3];
            CHECK(dsl_masks_rle_string(got.data(), static_cast<int64_t>(got.size()), small, sizeof small) == need,
                  "string length without room");
        }
    }
    dsl_letterbox lb{8, 6, 0, 0, 4, 3, nullptr, nullptr};
    std::vector<int32_t> labels(12, 0);
    dsl_rle out{};
    CHECK(dsl_masks_rle(nullptr, labels.data(), 3, 4, 0, &lb, &out) == DSL_MASKS_ERR_ARGUMENT, "NULL masks");
    CHECK(dsl_masks_rle(m, nullptr, 3, 4, 0, &lb, &out) == DSL_MASKS_ERR_ARGUMENT, "NULL labels");
    CHECK(dsl_masks_rle(m, labels.data(), 3, 4, 0, nullptr, &out) == DSL_MASKS_ERR_ARGUMENT, "NULL letterbox");
    CHECK(dsl_masks_rle(m, labels.data(), 3, 4, 0, &lb, nullptr) == DSL_MASKS_ERR_ARGUMENT, "NULL out");
    CHECK(dsl_masks_rle(m, labels.data(), 3, 4, -1, &lb, &out) == DSL_MASKS_ERR_ARGUMENT, "negative players");
    CHECK(dsl_masks_frame_labels(labels.data(), 3, 4, &lb, nullptr) == DSL_MASKS_ERR_ARGUMENT, "NULL frame");
    CHECK(dsl_masks_rle_string(nullptr, 3, nullptr, 0) == -1, "NULL counts");
    CHECK(dsl_masks_rle(m, labels.data(), 3, 4, 0, &lb, &out) == DSL_MASKS_OK, "usable after errors");
    dsl_masks_destroy(m);
    dsl_masks_destroy(nullptr);
    std::printf("%d failures\n", failures);
    return failures == 0 ? 0 : 1;
}
