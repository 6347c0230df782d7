// Poses (per centre and body part the most confident maximum), the ball (argmax), then the players' filters
// (mask pixels, keypoints found) and the final numbering in score order, labels included.
#include "internal.cuh"

namespace dslcuda {
namespace {

constexpr int kPixelThreads = 256;
constexpr int kSelectThreads = 1024;

__device__ __forceinline__ unsigned long long max_key(unsigned long long a, unsigned long long b) {
  return a > b ? a : b;
}

// Per pixel: offer each body-part maximum at the pixel to its owner, the centre nearest to pixel + offset
// (any pixel, player or not) or the player whose provisional mask holds it; and reduce the ball map's
// argmax per block before one atomic per block.
__global__ void pose_pixels(Geometry g, Params p, const float* __restrict__ fused, const float* __restrict__ offset,
             const int* __restrict__ centre_xy, const int* n_centres_ptr, const int* __restrict__ labels,
             unsigned long long* __restrict__ pose_keys, Counters* counters) {
  __shared__ unsigned long long warp_best[kPixelThreads / 32];
  DSL_DYNAMIC_SHARED(int, centres);  // [n_centres, 2]
  const int n_centres = *n_centres_ptr;
  if (!p.own_mask)
    for (int i = threadIdx.x; i < 2 * n_centres; i += blockDim.x) centres[i] = centre_xy[i];
  __syncthreads();
  const int pixels = g.H * g.W;
  const int pix = blockIdx.x * blockDim.x + threadIdx.x;
  unsigned long long ball = 0ull;
  if (pix < pixels) {
    const int x = pix % g.W, y = pix / g.W;
    if (n_centres > 0) {
      const int radius = p.nms_window / 2;
      int owner = -2;  // not looked up yet (only pixels holding a maximum need it)
      for (int k = 0; k < kNumBodyParts; ++k) {
        const float* map = fused + static_cast<size_t>(k) * pixels;
        if (!is_local_max(map, g.H, g.W, x, y, radius, p.keypoint_threshold, p.strict)) continue;
        if (owner == -2)
          owner = p.own_mask ? labels[pix] - 1 : nearest_centre(centres, n_centres, g, p.seg_stride, offset, x, y);
        if (owner < 0) break;  // own mask: a background pixel's maxima belong to nobody
        atomicMax(pose_keys + static_cast<size_t>(owner) * kNumBodyParts + k, pose_key(map[pix], pix));
      }
    }
    const float b = fused[static_cast<size_t>(kBall) * pixels + pix];
    if (b >= 0.f) ball = rank_key(b, pix);  // also keeps NaN out of the packed order
  }
  for (int off = 16; off > 0; off >>= 1) ball = max_key(ball, __shfl_down_sync(0xFFFFFFFFu, ball, off));
  if ((threadIdx.x & 31) == 0) warp_best[threadIdx.x >> 5] = ball;
  __syncthreads();
  if (threadIdx.x == 0) {
    unsigned long long best = 0ull;
    for (int w = 0; w < kPixelThreads / 32; ++w) best = max_key(best, warp_best[w]);
    if (best != 0ull) atomicMax(&counters->ball_key, best);
  }
}

// One block: a centre is kept when it has more than discard_mask_pixels mask pixels and at least
// min_keypoints keypoints found (score > 0, its own score counted). An exclusive scan over the centres in
// rank order (score descending, ties in raster order) numbers the kept ones; their score, centre, box,
// area and keypoints go to the result block, with the summary.
__global__ void select_players(Geometry g, Params p, const int* n_centres_ptr, const int* centre_xy,
             const float* centre_score, const int* inst_count, const int* inst_box,
             const unsigned long long* __restrict__ pose_keys, const Counters* counters, int* remap,
             unsigned char* result, ResultLayout layout) {
  __shared__ int chunk[kSelectThreads];
  __shared__ int carry;
  const int n = *n_centres_ptr;
  float* scores = reinterpret_cast<float*>(result + layout.scores);
  float* centres = reinterpret_cast<float*>(result + layout.centres);
  float* boxes = reinterpret_cast<float*>(result + layout.boxes);
  int* areas = reinterpret_cast<int*>(result + layout.areas);
  float* keypoints = reinterpret_cast<float*>(result + layout.keypoints);
  if (threadIdx.x == 0) {
    carry = 0;
    remap[0] = 0;
  }
  __syncthreads();
  for (int start = 0; start < n; start += kSelectThreads) {
    const int j = start + threadIdx.x;
    int present = 0;
    if (j < n) {
      const unsigned long long* keys = pose_keys + static_cast<size_t>(j) * kNumBodyParts;
      int found = centre_score[j] > 0.f ? 1 : 0;
      for (int k = 0; k < kNumBodyParts; ++k) found += key_score(keys[k]) > 0.f ? 1 : 0;
      present = (inst_count[j] > p.discard_mask_pixels && found >= p.min_keypoints) ? 1 : 0;
    }
    chunk[threadIdx.x] = present;
    __syncthreads();
    // Hillis-Steele inclusive scan over the chunk.
    for (int off = 1; off < kSelectThreads; off <<= 1) {
      const int add = static_cast<int>(threadIdx.x) >= off ? chunk[threadIdx.x - off] : 0;
      __syncthreads();
      chunk[threadIdx.x] += add;
      __syncthreads();
    }
    if (j < n) {
      const int out = carry + chunk[threadIdx.x] - present;
      remap[j + 1] = present ? out + 1 : 0;
      if (present) {
        const int* b = inst_box + 4 * j;
        scores[out] = centre_score[j];
        centres[2 * out] = static_cast<float>(centre_xy[2 * j]);
        centres[2 * out + 1] = static_cast<float>(centre_xy[2 * j + 1]);
        boxes[4 * out + 0] = static_cast<float>(g.W - 1 - b[0]);
        boxes[4 * out + 1] = static_cast<float>(g.H - 1 - b[1]);
        boxes[4 * out + 2] = static_cast<float>(b[2] + 1);
        boxes[4 * out + 3] = static_cast<float>(b[3] + 1);
        areas[out] = inst_count[j];
        const unsigned long long* keys = pose_keys + static_cast<size_t>(j) * kNumBodyParts;
        float* kp = keypoints + static_cast<size_t>(out) * kNumBodyParts * 3;
        for (int k = 0; k < kNumBodyParts; ++k) {
          const unsigned long long key = keys[k];
          if (key == 0ull) {
            kp[3 * k] = kp[3 * k + 1] = kp[3 * k + 2] = 0.f;
          } else {
            const int idx = pose_key_index(key);
            kp[3 * k] = static_cast<float>(idx % g.W);
            kp[3 * k + 1] = static_cast<float>(idx / g.W);
            kp[3 * k + 2] = key_score(key);
          }
        }
      }
    }
    __syncthreads();
    if (threadIdx.x == 0) carry += chunk[kSelectThreads - 1];
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    SummaryHeader* head = reinterpret_cast<SummaryHeader*>(result);
    head->n_players = carry;
    head->n_centres = n;
    head->n_candidates = counters->n_candidates;
    head->nonfinite = counters->nonfinite;
    const unsigned long long key = counters->ball_key;
    const float score = key_score(key);
    head->has_ball = score > 0.f ? 1 : 0;
    head->ball_x = head->has_ball ? static_cast<float>(rank_key_index(key) % g.W) : 0.f;
    head->ball_y = head->has_ball ? static_cast<float>(rank_key_index(key) / g.W) : 0.f;
    head->ball_score = head->has_ball ? score : 0.f;
  }
}

// Final labels: provisional label (1 + centre rank) -> the kept player's number, 0 for dropped centres.
__global__ void relabel_pixels(int pixels, const int* __restrict__ remap, int* __restrict__ labels) {
  const int pix = blockIdx.x * blockDim.x + threadIdx.x;
  if (pix < pixels) labels[pix] = remap[labels[pix]];
}

}  // namespace

cudaError_t launch_poses(const Params& p, const Geometry& g, const float* offset, Scratch& s,
             const ResultLayout& layout, cudaStream_t stream) {
  const int pixels = g.H * g.W;
  const int blocks = (pixels + kPixelThreads - 1) / kPixelThreads;
  const size_t shared = p.own_mask ? 0 : 2 * sizeof(int) * static_cast<size_t>(p.max_players);
  DSL_LAUNCH(pose_pixels, blocks, kPixelThreads, shared, stream, g, p, s.fused, offset, s.centre_xy, s.n_centres,
             s.labels, s.pose_key, s.counters);
  DSL_LAUNCH(select_players, 1, kSelectThreads, 0, stream, g, p, s.n_centres, s.centre_xy, s.centre_score,
             s.inst_count, s.inst_box, s.pose_key, s.counters, s.remap, s.result, layout);
  DSL_LAUNCH(relabel_pixels, blocks, kPixelThreads, 0, stream, pixels, s.remap, s.labels);
  return cudaGetLastError();
}

}  // namespace dslcuda
