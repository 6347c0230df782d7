// The C ABI of dsl_decode_cuda.h: argument checks, scratch allocated once per decoder, the stage sequence.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <new>
#include <string>

#include "../src/params.hpp"
#include "context.cuh"

using dslcuda::Counters;
using dslcuda::cuda_fail;
using dslcuda::fail;
using dslcuda::kEvents;
using dslcuda::Geometry;
using dslcuda::Params;
using dslcuda::ResultLayout;
using dslcuda::SummaryHeader;

namespace {

thread_local std::string g_error;

constexpr long long kMaxPixels = 1ll << 26;  // as the CPU core: 8192 x 8192


size_t align_up(size_t n) { return (n + 255) & ~static_cast<size_t>(255); }

std::string check_params(const dsl_params& p) {
  std::string why = dsl::check_decoder_params(p, DSL_CUDA_MAX_PLAYERS);
  return why.empty() ? why : why + " (CUDA decoder)";
}

}  // namespace

namespace dslcuda {

int fail(int status, const std::string& message) {
  g_error = message;
  return status;
}

int cuda_fail(cudaError_t err, const char* what) {
  return fail(DSL_ERR_CUDA, std::string(what) + " failed: " + cudaGetErrorName(err) + " (" +
                                cudaGetErrorString(err) + ")");
}

ResultLayout ResultLayout::make(int max_players) {
  const size_t k = static_cast<size_t>(max_players);
  ResultLayout l{};
  size_t at = align_up(sizeof(SummaryHeader));
  l.scores = at;
  at = align_up(at + k * sizeof(float));
  l.centres = at;
  at = align_up(at + 2 * k * sizeof(float));
  l.boxes = at;
  at = align_up(at + 4 * k * sizeof(float));
  l.areas = at;
  at = align_up(at + k * sizeof(int));
  l.keypoints = at;
  l.total = align_up(at + k * kNumBodyParts * 3 * sizeof(float));
  return l;
}

}  // namespace dslcuda


namespace {

int allocate(dsl_cuda_decoder* d) {
  using namespace dslcuda;
  const size_t k = static_cast<size_t>(d->p.max_players);
  const size_t pixels = d->pixels();
  dslcuda::Scratch& s = d->s;
  // Everything cleared per frame sits in one block, so one memset clears it.
  const size_t off_pose = align_up(sizeof(Counters));
  const size_t off_count = align_up(off_pose + k * kNumBodyParts * sizeof(unsigned long long));
  const size_t off_box = align_up(off_count + k * sizeof(int));
  s.zero_bytes = off_box + 4 * k * sizeof(int);
  void* zero = nullptr;
  void *fused = nullptr, *seeds = nullptr, *cand = nullptr, *labels = nullptr, *small = nullptr, *result = nullptr;
  const size_t off_score = align_up(2 * k * sizeof(int));
  const size_t off_n = align_up(off_score + k * sizeof(float));
  const size_t off_remap = align_up(off_n + sizeof(int));
  const size_t small_bytes = off_remap + (k + 1) * sizeof(int);
  cudaError_t err;
  if ((err = d->alloc(&zero, s.zero_bytes)) != cudaSuccess ||
      (err = d->alloc(&fused, kNumTypes * pixels * sizeof(float))) != cudaSuccess ||
      (err = d->alloc(&seeds, static_cast<size_t>(kNumTypes) * d->g.Hp * d->g.Wp * sizeof(Seed))) != cudaSuccess ||
      (err = d->alloc(&cand, pixels * sizeof(unsigned long long))) != cudaSuccess ||
      (err = d->alloc(&labels, pixels * sizeof(int))) != cudaSuccess ||
      (err = d->alloc(&small, small_bytes)) != cudaSuccess ||
      (err = d->alloc(&result, d->layout.total)) != cudaSuccess) {
    return err == cudaErrorMemoryAllocation ? fail(DSL_ERR_MEMORY, "cudaMalloc: out of device memory for the "
                                                                     "decoder's scratch")
                                            : cuda_fail(err, "cudaMalloc");
  }
  unsigned char* z = static_cast<unsigned char*>(zero);
  s.counters = reinterpret_cast<Counters*>(z);
  s.pose_key = reinterpret_cast<unsigned long long*>(z + off_pose);
  s.inst_count = reinterpret_cast<int*>(z + off_count);
  s.inst_box = reinterpret_cast<int*>(z + off_box);
  unsigned char* sm = static_cast<unsigned char*>(small);
  s.centre_xy = reinterpret_cast<int*>(sm);
  s.centre_score = reinterpret_cast<float*>(sm + off_score);
  s.n_centres = reinterpret_cast<int*>(sm + off_n);
  s.remap = reinterpret_cast<int*>(sm + off_remap);
  s.fused = static_cast<float*>(fused);
  s.seeds = static_cast<Seed*>(seeds);
  s.cand = static_cast<unsigned long long*>(cand);
  s.labels = static_cast<int*>(labels);
  s.result = static_cast<unsigned char*>(result);
  if ((err = cudaMallocHost(reinterpret_cast<void**>(&d->host_result), d->layout.total)) != cudaSuccess)
    return cuda_fail(err, "cudaMallocHost");
  for (cudaEvent_t& e : d->events)
    if ((err = cudaEventCreate(&e)) != cudaSuccess) return cuda_fail(err, "cudaEventCreate");
  return DSL_OK;
}

// A field pointer must be device (or managed, or mapped pinned) memory of this decoder's device.
int check_device_pointer(const dsl_cuda_decoder* d, const void* ptr, const char* name) {
  if (ptr == nullptr) return fail(DSL_ERR_ARGUMENT, std::string(name) + ": NULL pointer");
  cudaPointerAttributes attr;
  const cudaError_t err = cudaPointerGetAttributes(&attr, ptr);
  if (err != cudaSuccess) {
    cudaGetLastError();  // not sticky; clear it so that later calls do not report it
    return fail(DSL_ERR_ARGUMENT, std::string(name) + ": not a CUDA pointer (" + cudaGetErrorString(err) + ")");
  }
  if (attr.type == cudaMemoryTypeUnregistered)
    return fail(DSL_ERR_ARGUMENT, std::string(name) + ": a host pointer where device memory was expected "
                                                      "(use dsl_cuda_decode_host for host fields)");
  if (attr.type == cudaMemoryTypeDevice && attr.device != d->device)
    return fail(DSL_ERR_ARGUMENT, std::string(name) + ": memory of CUDA device " + std::to_string(attr.device) +
                                      ", the decoder was created on device " + std::to_string(d->device));
  return DSL_OK;
}

int check_current_device(const dsl_cuda_decoder* d) {
  int current = -1;
  const cudaError_t err = cudaGetDevice(&current);
  if (err != cudaSuccess) return cuda_fail(err, "cudaGetDevice");
  if (current != d->device)
    return fail(DSL_ERR_ARGUMENT, "decoder: created on CUDA device " + std::to_string(d->device) +
                                      " but device " + std::to_string(current) + " is current");
  return DSL_OK;
}

int enqueue(dsl_cuda_decoder* d, const float* player, const float* offset, const float* pif, cudaStream_t stream) {
  using namespace dslcuda;
  dslcuda::Scratch& s = d->s;
  cudaError_t err;
  d->decoded = d->fused = false;
  if ((err = cudaMemsetAsync(s.counters, 0, s.zero_bytes, stream)) != cudaSuccess) return cuda_fail(err, "cudaMemsetAsync");
  if ((err = cudaEventRecord(d->events[0], stream)) != cudaSuccess) return cuda_fail(err, "cudaEventRecord");
  if ((err = launch_check_finite(d->g, player, offset, pif, s, stream)) != cudaSuccess) return cuda_fail(err, "check kernel");
  if ((err = launch_fuse(d->p, d->g, pif, s, stream)) != cudaSuccess) return cuda_fail(err, "fusion kernels");
  if ((err = cudaEventRecord(d->events[1], stream)) != cudaSuccess) return cuda_fail(err, "cudaEventRecord");
  if ((err = launch_centres(d->p, d->g, s, stream)) != cudaSuccess) return cuda_fail(err, "centre kernels");
  if ((err = cudaEventRecord(d->events[2], stream)) != cudaSuccess) return cuda_fail(err, "cudaEventRecord");
  if ((err = launch_assign(d->p, d->g, player, offset, s, stream)) != cudaSuccess)
    return cuda_fail(err, "assignment kernels");
  if ((err = cudaEventRecord(d->events[3], stream)) != cudaSuccess) return cuda_fail(err, "cudaEventRecord");
  // Poses on the provisional instances, then the filters and the final numbering (labels included).
  if ((err = launch_poses(d->p, d->g, offset, s, d->layout, stream)) != cudaSuccess) return cuda_fail(err, "pose kernels");
  if ((err = cudaEventRecord(d->events[4], stream)) != cudaSuccess) return cuda_fail(err, "cudaEventRecord");
  // The one transfer of a frame: summary and per-player arrays together.
  if ((err = cudaMemcpyAsync(d->host_result, s.result, d->layout.total, cudaMemcpyDeviceToHost, stream)) != cudaSuccess)
    return cuda_fail(err, "cudaMemcpyAsync (results)");
  d->decoded = d->fused = true;
  return DSL_OK;
}


}  // namespace

extern "C" {

int dsl_cuda_available(void) {
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    g_error = std::string("cudaGetDeviceCount: ") + cudaGetErrorName(err) + " (" + cudaGetErrorString(err) + ")";
    cudaGetLastError();
    return 0;
  }
  if (count == 0) g_error = "cudaGetDeviceCount: no CUDA device";
  return count;
}

const char* dsl_cuda_last_error(void) { return g_error.c_str(); }

int dsl_cuda_set_device(int32_t device) {
  const int count = dsl_cuda_available();
  if (count == 0) return fail(DSL_ERR_NO_DEVICE, "no CUDA device: " + g_error);
  if (device < 0 || device >= count)
    return fail(DSL_ERR_ARGUMENT, "device: " + std::to_string(device) + " is not one of the " +
                                      std::to_string(count) + " CUDA device(s)");
  const cudaError_t err = cudaSetDevice(device);
  return err == cudaSuccess ? DSL_OK : cuda_fail(err, "cudaSetDevice");
}

const char* dsl_cuda_version(void) { return DSL_DECODE_CUDA_VERSION; }

int dsl_cuda_decoder_create(int32_t height, int32_t width, int32_t seg_stride, const dsl_params* params,
                            dsl_cuda_decoder** out) {
  if (out == nullptr) return fail(DSL_ERR_ARGUMENT, "out: NULL pointer");
  *out = nullptr;
  if (params == nullptr) return fail(DSL_ERR_ARGUMENT, "params: NULL pointer");
  const std::string why = check_params(*params);
  if (!why.empty()) return fail(DSL_ERR_ARGUMENT, why);
  if (height < 1 || width < 1 || static_cast<long long>(height) * width > kMaxPixels)
    return fail(DSL_ERR_ARGUMENT, "size: " + std::to_string(width) + "x" + std::to_string(height) +
                                      " is not a frame size (positive, at most 2^26 pixels)");
  if (seg_stride != 1 && seg_stride != 4)
    return fail(DSL_ERR_ARGUMENT, "seg_stride: " + std::to_string(seg_stride) + " (expected 1 or 4)");
  if (dsl_cuda_available() == 0) return fail(DSL_ERR_NO_DEVICE, "no CUDA device: " + g_error);
  dsl_cuda_decoder* d = new (std::nothrow) dsl_cuda_decoder();
  if (d == nullptr) return fail(DSL_ERR_MEMORY, "out of host memory");
  const dsl_params& q = *params;
  d->p = Params{q.seed_threshold,
                q.keypoint_threshold,
                q.player_threshold,
                q.nms_window,
                q.truncate,
                q.sigma_min,
                q.weight_divisor,
                q.exact != 0 ? 1 : 0,
                q.max_players,
                seg_stride,
                q.strict_thresholds != 0 ? 1 : 0,
                q.support == DSL_SUPPORT_DISC ? 1 : 0,
                q.gaussian == DSL_GAUSSIAN_APPROX ? 1 : 0,
                q.clamp > 0.0f ? q.clamp : 0.0f,
                q.keypoint_assignment == DSL_KEYPOINTS_OWN_MASK ? 1 : 0,
                q.discard_mask_pixels,
                q.min_keypoints};
  d->g = Geometry{height, width, (height - 1) / seg_stride + 1, (width - 1) / seg_stride + 1,
                  (height - 1) / 8 + 1, (width - 1) / 8 + 1};
  d->layout = ResultLayout::make(q.max_players);
  cudaError_t err = cudaGetDevice(&d->device);
  int status = err == cudaSuccess ? allocate(d) : cuda_fail(err, "cudaGetDevice");
  if (status != DSL_OK) {
    delete d;
    return status;
  }
  *out = d;
  return DSL_OK;
}

void dsl_cuda_decoder_destroy(dsl_cuda_decoder* decoder) { delete decoder; }

int dsl_cuda_decode(dsl_cuda_decoder* d, const float* player, const float* offset, const float* pif, void* stream) {
  if (d == nullptr) return fail(DSL_ERR_ARGUMENT, "decoder: NULL pointer");
  int status;
  if ((status = check_current_device(d)) != DSL_OK) return status;
  if ((status = check_device_pointer(d, player, "player")) != DSL_OK) return status;
  if ((status = check_device_pointer(d, offset, "offset")) != DSL_OK) return status;
  if ((status = check_device_pointer(d, pif, "pif")) != DSL_OK) return status;
  return enqueue(d, player, offset, pif, static_cast<cudaStream_t>(stream));
}

int dsl_cuda_decode_host(dsl_cuda_decoder* d, const float* player, const float* offset, const float* pif,
                         void* stream) {
  if (d == nullptr) return fail(DSL_ERR_ARGUMENT, "decoder: NULL pointer");
  if (player == nullptr || offset == nullptr || pif == nullptr)
    return fail(DSL_ERR_ARGUMENT, "fields: NULL host pointer (player, offset and pif are all required)");
  int status;
  if ((status = check_current_device(d)) != DSL_OK) return status;
  cudaError_t err;
  if (d->in_player == nullptr) {
    void *a = nullptr, *b = nullptr, *c = nullptr;
    if ((err = d->alloc(&a, d->seg_pixels() * sizeof(float))) != cudaSuccess ||
        (err = d->alloc(&b, 2 * d->seg_pixels() * sizeof(float))) != cudaSuccess ||
        (err = d->alloc(&c, d->pif_floats() * sizeof(float))) != cudaSuccess)
      return cuda_fail(err, "cudaMalloc (input buffers)");
    d->in_player = static_cast<float*>(a);
    d->in_offset = static_cast<float*>(b);
    d->in_pif = static_cast<float*>(c);
  }
  const cudaStream_t s = static_cast<cudaStream_t>(stream);
  if ((err = cudaMemcpyAsync(d->in_player, player, d->seg_pixels() * sizeof(float), cudaMemcpyHostToDevice, s)) != cudaSuccess ||
      (err = cudaMemcpyAsync(d->in_offset, offset, 2 * d->seg_pixels() * sizeof(float), cudaMemcpyHostToDevice, s)) != cudaSuccess ||
      (err = cudaMemcpyAsync(d->in_pif, pif, d->pif_floats() * sizeof(float), cudaMemcpyHostToDevice, s)) != cudaSuccess)
    return cuda_fail(err, "cudaMemcpyAsync (fields to the device)");
  return enqueue(d, d->in_player, d->in_offset, d->in_pif, s);
}

int dsl_cuda_fuse(dsl_cuda_decoder* d, const float* pif, int32_t exact, void* stream) {
  if (d == nullptr) return fail(DSL_ERR_ARGUMENT, "decoder: NULL pointer");
  int status;
  if ((status = check_current_device(d)) != DSL_OK) return status;
  if ((status = check_device_pointer(d, pif, "pif")) != DSL_OK) return status;
  const cudaStream_t s = static_cast<cudaStream_t>(stream);
  d->decoded = d->fused = false;
  Params p = d->p;
  p.exact = exact != 0 ? 1 : 0;
  cudaError_t err;
  if ((err = cudaMemsetAsync(d->s.counters, 0, sizeof(Counters), s)) != cudaSuccess) return cuda_fail(err, "cudaMemsetAsync");
  if ((err = dslcuda::launch_fuse(p, d->g, pif, d->s, s)) != cudaSuccess) return cuda_fail(err, "fusion kernels");
  d->fused = true;
  return DSL_OK;
}

}  // extern "C"
