// The rules of dsl_params, shared by the CPU core and the CUDA library so both refuse the same values.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

#include "dsl_decode.h"

namespace dsl {

// Empty when `p` is valid; otherwise the message naming the field. `max_players_limit` differs per library.
inline std::string check_decoder_params(const dsl_params& p, int32_t max_players_limit) {
    auto unit = [](float v) { return std::isfinite(v) && v >= 0.0f && v <= 1.0f; };
    auto positive = [](float v) { return std::isfinite(v) && v > 0.0f; };
    if (!unit(p.seed_threshold)) return "params: seed_threshold must lie in [0, 1]";
    if (!unit(p.keypoint_threshold)) return "params: keypoint_threshold must lie in [0, 1]";
    if (!unit(p.player_threshold) || p.player_threshold == 0.0f) return "params: player_threshold must lie in (0, 1]";
    if (p.nms_window < 1 || p.nms_window % 2 == 0 || p.nms_window > 255)
        return "params: nms_window must be an odd integer in [1, 255]";
    if (!positive(p.truncate) || !positive(p.sigma_min) || !positive(p.weight_divisor))
        return "params: truncate, sigma_min and weight_divisor must be positive and finite";
    if (p.support != DSL_SUPPORT_DISC && p.support != DSL_SUPPORT_SQUARE) return "params: support must be 0 (disc) or 1 (square)";
    if (p.gaussian != DSL_GAUSSIAN_APPROX && p.gaussian != DSL_GAUSSIAN_EXP) return "params: gaussian must be 0 (approx) or 1 (exp)";
    if (!(p.clamp <= 0.0f) && !positive(p.clamp)) return "params: clamp must be finite (<= 0: no clamp)";
    if (p.keypoint_assignment != DSL_KEYPOINTS_NEAREST_CENTRE && p.keypoint_assignment != DSL_KEYPOINTS_OWN_MASK)
        return "params: keypoint_assignment must be 0 (nearest centre) or 1 (own mask)";
    if (p.discard_mask_pixels < 0) return "params: discard_mask_pixels must not be negative";
    if (p.min_keypoints < 0 || p.min_keypoints > DSL_NUM_TYPES) return "params: min_keypoints must lie in [0, 19]";
    if (p.max_players < 1 || p.max_players > max_players_limit)
        return "params: max_players must lie in [1, " + std::to_string(max_players_limit) + "]";
    return "";
}

// The thresholds' comparison: '>' when strict (the authors' rule), else '>='.
inline bool passes(float v, float threshold, bool strict) { return strict ? v > threshold : v >= threshold; }

// The bound b with (v >= b) == passes(v, threshold, strict) for every float v: for floats, v > t is v >= the next
// float above t. Hot loops compare with '>=' only, which the compiler vectorises.
inline float at_least(float threshold, bool strict) {
    return strict ? std::nextafter(threshold, std::numeric_limits<float>::infinity()) : threshold;
}

}  // namespace dsl
