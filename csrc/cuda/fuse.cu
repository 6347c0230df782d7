// Eq. 3 fusion: compact the seeds of each type, then splat them (truncated convention) or gather them
// at every pixel (exact mode) into the 19 full-resolution maps.
//
// Arithmetic follows dsl_deploy/decode/reference.py (and csrc/src/fuse.cpp): the truncated convention is
// the authors' per-pixel float32 arithmetic (disc or square support, (1 + e/8)^8 or exp, nearest pixel at
// the full value, clamp); exact mode sums separable float64 Gaussian factors rounded to float32. The build
// disables FMA contraction so that float32 expressions round as NumPy's do.
#include "internal.cuh"

namespace dslcuda {
namespace {

constexpr int kCompactThreads = 256;
constexpr int kWarpsPerBlock = 8;
constexpr int kTile = 16;        // exact mode: 16 x 16 pixel tiles
constexpr int kSeedBatch = 8;    // exact mode: seeds whose 1-D factors are staged together (8 * 32 = 256)
constexpr int kCheckThreads = 256;

__global__ void check_finite(const float* __restrict__ player, const float* __restrict__ offset,
             const float* __restrict__ pif, size_t seg, size_t pif_n, Counters* counters) {
  int bad = 0;
  const size_t step = static_cast<size_t>(gridDim.x) * blockDim.x;
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < 2 * seg; i += step) {
    if (i < seg && !isfinite(player[i])) bad |= 1;
    if (!isfinite(offset[i])) bad |= 2;
  }
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < pif_n; i += step) {
    if (!isfinite(pif[i])) bad |= 4;
  }
  if (bad) atomicOr(&counters->nonfinite, bad);  // only on bad input, so contention does not matter
}

// One block per type: append the type's seeds in raster order (block-wide scan per chunk), so the
// seed list, and with it the summation order of exact mode, is deterministic.
__global__ void compact_seeds(const float* __restrict__ pif, int cells, Params p, Seed* __restrict__ seeds,
             Counters* counters) {
  __shared__ int warp_totals[kCompactThreads / 32];
  __shared__ int base;
  const int k = blockIdx.x;
  const float* conf = pif + static_cast<size_t>(k) * kPifChannels * cells;
  const float* px = conf + cells;
  const float* py = px + cells;
  const float* psigma = py + 2 * cells;  // channel 4 (channel 3 is b, unused by Eq. 3)
  Seed* out = seeds + static_cast<size_t>(k) * cells;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (threadIdx.x == 0) base = 0;
  __syncthreads();
  for (int start = 0; start < cells; start += kCompactThreads) {
    const int i = start + threadIdx.x;
    Seed seed{0.f, 0.f, 0.f, 0.f};
    bool keep = false;
    if (i < cells) {
      const float c = conf[i];
      if (passes(c, p.seed_threshold, p.strict)) {
        seed.x = px[i];
        seed.y = py[i];
        seed.s = fmaxf(psigma[i], p.sigma_min);
        seed.v = p.exact ? c : c / p.weight_divisor;
        // Non-finite input is reported by check_finite; such seeds are dropped here so that no float
        // reaches an integer conversion out of range.
        keep = isfinite(seed.x) && isfinite(seed.y) && isfinite(seed.s) && isfinite(seed.v);
      }
    }
    const unsigned ballot = __ballot_sync(0xFFFFFFFFu, keep);
    if (lane == 0) warp_totals[warp] = __popc(ballot);
    __syncthreads();
    int offset = base;
    for (int w = 0; w < warp; ++w) offset += warp_totals[w];
    offset += __popc(ballot & ((1u << lane) - 1u));
    if (keep) out[offset] = seed;
    __syncthreads();
    if (threadIdx.x == 0) {
      int total = 0;
      for (int w = 0; w < kCompactThreads / 32; ++w) total += warp_totals[w];
      base += total;
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) counters->seed_count[k] = base;
}

// Flat index over the per-type seed lists -> type, using the counts' prefix sums.
__device__ __forceinline__ int seed_type(const int* prefix, int flat) {
  int k = 0;
  while (k + 1 < kNumTypes && flat >= prefix[k + 1]) ++k;
  return k;
}

// Support [lo, hi) along one axis as the authors compute it: clip to the map in float32, then truncate
// (reference._support; a seed outside the image still gets its one-pixel box at the border). Clipping
// happens in float, so no conversion can overflow.
__device__ __forceinline__ void support(float mu, float reach, int size, int* lo, int* hi) {
  const int l = static_cast<int>(fminf(fmaxf(mu - reach, 0.f), static_cast<float>(size - 1)));
  *lo = l;
  *hi = static_cast<int>(fminf(fmaxf((mu + reach) + 1.f, static_cast<float>(l + 1)), static_cast<float>(size)));
}

// Truncated convention: one warp per seed, its lanes covering the seed's pixel box.
__global__ void splat_seeds(Geometry g, Params p, const Seed* __restrict__ seeds, const Counters* counters,
             float* __restrict__ fused) {
  __shared__ int prefix[kNumTypes + 1];
  if (threadIdx.x == 0) {
    prefix[0] = 0;
    for (int k = 0; k < kNumTypes; ++k) prefix[k + 1] = prefix[k] + counters->seed_count[k];
  }
  __syncthreads();
  const int cells = g.Hp * g.Wp;
  const int total = prefix[kNumTypes];
  const int lane = threadIdx.x & 31;
  const int warps = gridDim.x * (blockDim.x >> 5);
  for (int flat = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5); flat < total; flat += warps) {
    const int k = seed_type(prefix, flat);
    const Seed sd = seeds[static_cast<size_t>(k) * cells + (flat - prefix[k])];
    const float reach = p.truncate * sd.s;
    int x0, x1, y0, y1;
    support(sd.x, reach, g.W, &x0, &x1);
    support(sd.y, reach, g.H, &y0, &y1);
    const int bw = x1 - x0;
    const int n = bw * (y1 - y0);
    const float s2 = sd.s * sd.s;
    const float lim = (p.truncate * p.truncate) * s2;  // disc support: dist2 above this gets nothing
    float* map = fused + static_cast<size_t>(k) * g.H * g.W;
    for (int e = lane; e < n; e += 32) {
      const int px = x0 + e % bw, py = y0 + e / bw;
      // The authors' arithmetic (fuse.cpp splat_row_authors_plain), every step a float32 rounding.
      const float ddx = static_cast<float>(px) - sd.x;
      const float ddy = static_cast<float>(py) - sd.y;
      const float dx2 = ddx * ddx, dy2 = ddy * ddy;
      const float dist2 = dx2 + dy2;
      if (p.disc && dist2 > lim) continue;
      float vv;
      if (dx2 < 0.25f && dy2 < 0.25f) {
        vv = sd.v;  // the nearest pixel takes the full value
      } else {
        const float ex = (-0.5f * dist2) / s2;
        float a;
        if (p.approx) {
          a = 1.f + ex * 0.125f;
          a = a * a;
          a = a * a;
          a = a * a;
          if (ex > 2.f || ex < -2.f) a = 0.f;
        } else {
          a = static_cast<float>(exp(static_cast<double>(ex)));
        }
        vv = sd.v * a;
      }
      atomicAdd(map + static_cast<size_t>(py) * g.W + px, vv);
    }
  }
}

// The clamp of the truncated convention, after all splats: min(clamp, sum) equals clamping after each
// addition, since every addend is non-negative and float addition of a non-negative value never decreases.
__global__ void clamp_maps(float* __restrict__ fused, size_t n, float clamp) {
  const size_t step = static_cast<size_t>(gridDim.x) * blockDim.x;
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n; i += step)
    fused[i] = fminf(fused[i], clamp);
}

// Exact mode: each 16 x 16 tile sums every seed of its type (blockIdx.y) in raster order, as the
// reference does, with the seeds' 1-D factors for the tile's rows and columns staged in shared memory.
// Every pixel is written, so the maps need no clearing.
__global__ void gather_seeds(Geometry g, const Seed* __restrict__ seeds, const Counters* counters,
             float* __restrict__ fused) {
  __shared__ float fx[kSeedBatch][kTile];  // factors rounded to float32, as the reference's
  __shared__ float fy[kSeedBatch][kTile];
  __shared__ float value[kSeedBatch];
  const int k = blockIdx.y;
  const int count = counters->seed_count[k];
  const int tiles_x = (g.W + kTile - 1) / kTile;
  const int tx0 = (blockIdx.x % tiles_x) * kTile, ty0 = (blockIdx.x / tiles_x) * kTile;
  const int t = threadIdx.x;
  const int x = tx0 + t % kTile, y = ty0 + t / kTile;
  const Seed* list = seeds + static_cast<size_t>(k) * g.Hp * g.Wp;
  float acc = 0.f;
  for (int start = 0; start < count; start += kSeedBatch) {
    const int n = min(kSeedBatch, count - start);
    __syncthreads();
    {
      // Thread t stages factor (t % 16) along x (t % 32 < 16) or y of seed t / 32.
      const int b = t / 32, i = t % kTile;
      if (b < n) {
        const Seed sd = list[start + b];
        const double two_s2 = 2.0 * static_cast<double>(sd.s) * static_cast<double>(sd.s);
        const bool along_x = (t % 32) < kTile;
        const double d = static_cast<double>(along_x ? tx0 + i : ty0 + i) - static_cast<double>(along_x ? sd.x : sd.y);
        const float f = static_cast<float>(exp(-(d * d) / two_s2));
        if (along_x) fx[b][i] = f; else fy[b][i] = f;
        if (t % 32 == 0) value[b] = sd.v;
      }
    }
    __syncthreads();
    for (int b = 0; b < n; ++b) {
      acc = acc + value[b] * (fy[b][t / kTile] * fx[b][t % kTile]);
    }
  }
  if (x < g.W && y < g.H) fused[(static_cast<size_t>(k) * g.H + y) * g.W + x] = acc;
}

}  // namespace

cudaError_t launch_check_finite(const Geometry& g, const float* player, const float* offset, const float* pif,
             Scratch& s, cudaStream_t stream) {
  const size_t seg = static_cast<size_t>(g.Hs) * g.Ws;
  const size_t pif_n = static_cast<size_t>(kNumTypes) * kPifChannels * g.Hp * g.Wp;
  const size_t most = 2 * seg > pif_n ? 2 * seg : pif_n;
  const int blocks = static_cast<int>(min((most + kCheckThreads - 1) / kCheckThreads, static_cast<size_t>(1024)));
  DSL_LAUNCH(check_finite, blocks, kCheckThreads, 0, stream, player, offset, pif, seg, pif_n, s.counters);
  return cudaGetLastError();
}

cudaError_t launch_fuse(const Params& p, const Geometry& g, const float* pif, Scratch& s, cudaStream_t stream) {
  const int cells = g.Hp * g.Wp;
  const size_t pixels = static_cast<size_t>(g.H) * g.W;
  if (!p.exact) {
    // Only the truncated convention accumulates into the maps; exact mode overwrites every pixel.
    const cudaError_t err = cudaMemsetAsync(s.fused, 0, kNumTypes * pixels * sizeof(float), stream);
    if (err != cudaSuccess) return err;
  }
  DSL_LAUNCH(compact_seeds, kNumTypes, kCompactThreads, 0, stream, pif, cells, p, s.seeds, s.counters);
  if (p.exact) {
    const int tiles = ((g.W + kTile - 1) / kTile) * ((g.H + kTile - 1) / kTile);
    DSL_LAUNCH(gather_seeds, dim3(tiles, kNumTypes), kTile * kTile, 0, stream, g, s.seeds, s.counters, s.fused);
  } else {
    // Enough warps for a typical frame's seeds in one pass; the grid-stride loop handles any count.
    const int max_warps = kNumTypes * cells;
    const int blocks = min((max_warps + kWarpsPerBlock - 1) / kWarpsPerBlock, 1024);
    DSL_LAUNCH(splat_seeds, blocks, kWarpsPerBlock * 32, 0, stream, g, p, s.seeds, s.counters, s.fused);
    if (p.clamp > 0.f) {
      const size_t n = kNumTypes * pixels;
      const int clamp_blocks = static_cast<int>(min((n + kCheckThreads - 1) / kCheckThreads, static_cast<size_t>(1024)));
      DSL_LAUNCH(clamp_maps, clamp_blocks, kCheckThreads, 0, stream, s.fused, n, p.clamp);
    }
  }
  return cudaGetLastError();
}

}  // namespace dslcuda
