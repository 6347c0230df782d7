// Eq. 4: label every player pixel with its nearest centre (provisional labels: 1 + the centre's rank), with
// each centre's mask pixel count and box. The filters and the final numbering come with the poses (poses.cu).
#include "internal.cuh"

namespace dslcuda {
namespace {

constexpr int kPixelThreads = 256;

__global__ void label_pixels(Geometry g, Params p, const float* __restrict__ player,
             const float* __restrict__ offset, const int* __restrict__ centre_xy,
             const int* n_centres_ptr, int* __restrict__ labels, int* __restrict__ inst_count,
             int* __restrict__ inst_box) {
  DSL_DYNAMIC_SHARED(int, centres);  // [n_centres, 2]
  const int n_centres = *n_centres_ptr;
  for (int i = threadIdx.x; i < 2 * n_centres; i += blockDim.x) centres[i] = centre_xy[i];
  __syncthreads();
  const int pix = blockIdx.x * blockDim.x + threadIdx.x;
  if (pix >= g.H * g.W) return;
  const int x = pix % g.W, y = pix / g.W;
  int label = 0;
  if (n_centres > 0 && passes(seg_value(player, g, p.seg_stride, x, y), p.player_threshold, p.strict)) {
    const int j = nearest_centre(centres, n_centres, g, p.seg_stride, offset, x, y);
    label = j + 1;
    atomicAdd(inst_count + j, 1);
    atomicMax(inst_box + 4 * j + 0, g.W - 1 - x);
    atomicMax(inst_box + 4 * j + 1, g.H - 1 - y);
    atomicMax(inst_box + 4 * j + 2, x);
    atomicMax(inst_box + 4 * j + 3, y);
  }
  labels[pix] = label;
}

}  // namespace

cudaError_t launch_assign(const Params& p, const Geometry& g, const float* player, const float* offset,
             Scratch& s, cudaStream_t stream) {
  const int pixels = g.H * g.W;
  const size_t shared = 2 * sizeof(int) * static_cast<size_t>(p.max_players);
  DSL_LAUNCH(label_pixels, (pixels + kPixelThreads - 1) / kPixelThreads, kPixelThreads, shared, stream,
             g, p, player, offset, s.centre_xy, s.n_centres, s.labels, s.inst_count, s.inst_box);
  return cudaGetLastError();
}

}  // namespace dslcuda
