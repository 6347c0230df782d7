// The decoder object behind the C ABI handle, shared by decoder.cu (setup, decode) and download.cu.
#ifndef DSL_CUDA_CONTEXT_CUH
#define DSL_CUDA_CONTEXT_CUH

#include <string>
#include <vector>

#include "dsl_decode_cuda.h"
#include "internal.cuh"

namespace dslcuda {

constexpr int kEvents = 5;  // start, after fuse, maxima, assign, poses

// Set the thread's last error message and return `status`.
int fail(int status, const std::string& message);
// DSL_ERR_CUDA with the runtime's name and description of `err`.
int cuda_fail(cudaError_t err, const char* what);

}  // namespace dslcuda

struct dsl_cuda_decoder {
  dslcuda::Params p{};
  dslcuda::Geometry g{};
  int device = 0;
  dslcuda::ResultLayout layout{};
  dslcuda::Scratch s{};
  std::vector<void*> device_blocks;  // everything cudaMalloc'd, freed at destroy
  unsigned char* host_result = nullptr;  // pinned copy of the result block
  float* in_player = nullptr;            // device copies of host fields (dsl_cuda_decode_host)
  float* in_offset = nullptr;
  float* in_pif = nullptr;
  cudaEvent_t events[dslcuda::kEvents] = {};
  bool decoded = false;
  bool fused = false;
  // Decoder-owned host outputs for dsl_output pointers left NULL.
  std::vector<int32_t> labels;
  std::vector<float> keypoints, scores, boxes, centers;
  std::vector<int64_t> areas;

  size_t pixels() const { return static_cast<size_t>(g.H) * g.W; }
  size_t seg_pixels() const { return static_cast<size_t>(g.Hs) * g.Ws; }
  size_t pif_floats() const { return static_cast<size_t>(dslcuda::kNumTypes) * dslcuda::kPifChannels * g.Hp * g.Wp; }

  cudaError_t alloc(void** ptr, size_t bytes) {
    const cudaError_t err = cudaMalloc(ptr, bytes);
    if (err == cudaSuccess) device_blocks.push_back(*ptr);
    return err;
  }

  ~dsl_cuda_decoder() {
    for (void* ptr : device_blocks) cudaFree(ptr);
    if (host_result) cudaFreeHost(host_result);
    for (cudaEvent_t e : events)
      if (e) cudaEventDestroy(e);
  }
};

#endif  // DSL_CUDA_CONTEXT_CUH
