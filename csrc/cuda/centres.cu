// Player centres: maxima of the centre map (the last pixel of a plateau), ranked by score (ties: raster
// order), the best max_players kept; their rank is the provisional player index.
#include "internal.cuh"

namespace dslcuda {
namespace {

constexpr int kPixelThreads = 256;
constexpr int kRankThreads = 1024;

__global__ void centre_candidates(Geometry g, Params p, const float* __restrict__ fused, Counters* counters,
             unsigned long long* __restrict__ cand) {
  const int pix = blockIdx.x * blockDim.x + threadIdx.x;
  if (pix >= g.H * g.W) return;
  const float* map = fused + static_cast<size_t>(kCenter) * g.H * g.W;
  const int x = pix % g.W, y = pix / g.W;
  if (!is_local_max(map, g.H, g.W, x, y, p.nms_window / 2, p.keypoint_threshold, p.strict)) return;
  // Arrival order is arbitrary; the ranking below makes the result independent of it.
  const int slot = atomicAdd(&counters->n_candidates, 1);
  cand[slot] = rank_key(map[pix], pix);
}

__device__ void write_centre(int rank, unsigned long long key, int W, int* centre_xy, float* centre_score) {
  const int idx = rank_key_index(key);
  centre_xy[2 * rank] = idx % W;
  centre_xy[2 * rank + 1] = idx / W;
  centre_score[rank] = key_score(key);
}

// Keys are unique (they contain the pixel index), so each candidate's rank is the number of larger keys.
// Small lists: ranks in shared memory. Large lists: max_players rounds of a block-wide maximum below
// the previous one.
__global__ void rank_centres(Geometry g, Params p, const Counters* counters, const unsigned long long* cand,
             int* centre_xy, float* centre_score, int* n_centres) {
  __shared__ unsigned long long keys[kRankInShared];
  __shared__ unsigned long long warp_best[kRankThreads / 32];
  __shared__ unsigned long long round_best;
  const int n = counters->n_candidates;
  const int keep = min(n, p.max_players);
  if (threadIdx.x == 0) *n_centres = keep;
  if (n <= kRankInShared) {
    for (int i = threadIdx.x; i < n; i += blockDim.x) keys[i] = cand[i];
    __syncthreads();
    for (int i = threadIdx.x; i < n; i += blockDim.x) {
      const unsigned long long mine = keys[i];
      int rank = 0;
      for (int j = 0; j < n; ++j) rank += keys[j] > mine;
      if (rank < keep) write_centre(rank, mine, g.W, centre_xy, centre_score);
    }
    return;
  }
  unsigned long long bound = ~0ull;  // keys are below this; each round lowers it to the round's best
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  for (int r = 0; r < keep; ++r) {
    unsigned long long best = 0ull;
    for (int i = threadIdx.x; i < n; i += blockDim.x) {
      const unsigned long long k = cand[i];
      if (k < bound && k > best) best = k;
    }
    for (int off = 16; off > 0; off >>= 1) {
      const unsigned long long other = __shfl_down_sync(0xFFFFFFFFu, best, off);
      best = other > best ? other : best;
    }
    if (lane == 0) warp_best[warp] = best;
    __syncthreads();
    if (threadIdx.x == 0) {
      unsigned long long b = 0ull;
      for (int w = 0; w < static_cast<int>(blockDim.x >> 5); ++w) b = warp_best[w] > b ? warp_best[w] : b;
      round_best = b;
      write_centre(r, b, g.W, centre_xy, centre_score);
    }
    __syncthreads();
    bound = round_best;
  }
}

}  // namespace

cudaError_t launch_centres(const Params& p, const Geometry& g, Scratch& s, cudaStream_t stream) {
  const int pixels = g.H * g.W;
  DSL_LAUNCH(centre_candidates, (pixels + kPixelThreads - 1) / kPixelThreads, kPixelThreads, 0, stream,
             g, p, s.fused, s.counters, s.cand);
  DSL_LAUNCH(rank_centres, 1, kRankThreads, 0, stream, g, p, s.counters, s.cand, s.centre_xy, s.centre_score,
             s.n_centres);
  return cudaGetLastError();
}

}  // namespace dslcuda
