// Eq. 4: label every player pixel with its nearest centre, then drop empty instances and renumber
// compactly in score order, with each instance's score, centre, box and area.
#include "internal.cuh"

namespace dslcuda {
namespace {

constexpr int kPixelThreads = 256;
constexpr int kCompactThreads = 1024;

// Value of a segmentation-grid channel at full-resolution pixel (x, y): the grid itself at stride 1,
// else bilinear with corners aligned (cell i at pixel stride * i), as decode/fields.upsample computes it
// (the last cell's fraction is 0, so it is copied exactly).
__device__ __forceinline__ float seg_value(const float* chan, const Geometry& g, int stride, int x, int y) {
  if (stride == 1) return chan[y * g.Ws + x];
  const int i0 = min(x / stride, g.Ws - 1), j0 = min(y / stride, g.Hs - 1);
  const int i1 = min(i0 + 1, g.Ws - 1), j1 = min(j0 + 1, g.Hs - 1);
  const float fx = i0 == g.Ws - 1 ? 0.f : static_cast<float>(x % stride) / static_cast<float>(stride);
  const float fy = j0 == g.Hs - 1 ? 0.f : static_cast<float>(y % stride) / static_cast<float>(stride);
  const float top = chan[j0 * g.Ws + i0] * (1.f - fx) + chan[j0 * g.Ws + i1] * fx;
  const float bottom = chan[j1 * g.Ws + i0] * (1.f - fx) + chan[j1 * g.Ws + i1] * fx;
  return top * (1.f - fy) + bottom * fy;
}

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
  if (n_centres > 0 && seg_value(player, g, p.seg_stride, x, y) >= p.player_threshold) {
    const size_t plane = static_cast<size_t>(g.Hs) * g.Ws;
    const float qx = static_cast<float>(x) + seg_value(offset, g, p.seg_stride, x, y);
    const float qy = static_cast<float>(y) + seg_value(offset + plane, g, p.seg_stride, x, y);
    int best_j = 0;
    float best = 0.f;
    for (int j = 0; j < n_centres; ++j) {
      const float dx = static_cast<float>(centres[2 * j]) - qx;
      const float dy = static_cast<float>(centres[2 * j + 1]) - qy;
      const float d = dx * dx + dy * dy;
      if (j == 0 || d < best) {  // strict: ties keep the lowest j
        best = d;
        best_j = j;
      }
    }
    label = best_j + 1;
    atomicAdd(inst_count + best_j, 1);
    atomicMax(inst_box + 4 * best_j + 0, g.W - 1 - x);
    atomicMax(inst_box + 4 * best_j + 1, g.H - 1 - y);
    atomicMax(inst_box + 4 * best_j + 2, x);
    atomicMax(inst_box + 4 * best_j + 3, y);
  }
  labels[pix] = label;
}

// One block: exclusive scan of "instance j is non-empty" gives each kept instance its new index.
__global__ void compact_instances(Geometry g, const int* n_centres_ptr, const int* centre_xy,
             const float* centre_score, const int* inst_count, const int* inst_box,
             int* remap, unsigned char* result, ResultLayout layout) {
  __shared__ int chunk[kCompactThreads];
  __shared__ int carry;
  const int n = *n_centres_ptr;
  float* scores = reinterpret_cast<float*>(result + layout.scores);
  float* centres = reinterpret_cast<float*>(result + layout.centres);
  float* boxes = reinterpret_cast<float*>(result + layout.boxes);
  int* areas = reinterpret_cast<int*>(result + layout.areas);
  if (threadIdx.x == 0) {
    carry = 0;
    remap[0] = 0;
  }
  __syncthreads();
  for (int start = 0; start < n; start += kCompactThreads) {
    const int j = start + threadIdx.x;
    const int present = (j < n && inst_count[j] > 0) ? 1 : 0;
    chunk[threadIdx.x] = present;
    __syncthreads();
    // Hillis-Steele inclusive scan over the chunk.
    for (int off = 1; off < kCompactThreads; off <<= 1) {
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
      }
    }
    __syncthreads();
    if (threadIdx.x == 0) carry += chunk[kCompactThreads - 1];
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    SummaryHeader* head = reinterpret_cast<SummaryHeader*>(result);
    head->n_players = carry;
    head->n_centres = n;
  }
}

}  // namespace

cudaError_t launch_assign(const Params& p, const Geometry& g, const float* player, const float* offset,
             Scratch& s, const ResultLayout& layout, cudaStream_t stream) {
  const int pixels = g.H * g.W;
  const size_t shared = 2 * sizeof(int) * static_cast<size_t>(p.max_players);
  DSL_LAUNCH(label_pixels, (pixels + kPixelThreads - 1) / kPixelThreads, kPixelThreads, shared, stream,
             g, p, player, offset, s.centre_xy, s.n_centres, s.labels, s.inst_count, s.inst_box);
  DSL_LAUNCH(compact_instances, 1, kCompactThreads, 0, stream, g, s.n_centres, s.centre_xy, s.centre_score,
             s.inst_count, s.inst_box, s.remap, s.result, layout);
  return cudaGetLastError();
}

}  // namespace dslcuda
