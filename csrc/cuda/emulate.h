// CPU emulation of the small part of CUDA the decoder uses, so that the kernels' logic (indices, scans,
// tie rules, collectives) runs against the NumPy reference in CI, which has no GPU.
//
// Built only with -DDSL_CUDA_EMULATE by the tests (g++ -x c++). Each block's threads run as fibers on one
// OS thread; __syncthreads and the warp collectives are block-wide rendezvous points, which is exact for
// kernels where every thread of a block reaches the same collectives in the same order (true for all of
// this decoder's kernels). Memory is host memory; launches are synchronous. Not a model of concurrency:
// races and the memory model are not checked.
#ifndef DSL_CUDA_EMULATE_H
#define DSL_CUDA_EMULATE_H

#include <ucontext.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <vector>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__ static

using std::isfinite;
using std::max;
using std::min;

struct dim3 {
  unsigned x, y, z;
  dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
struct uint3 {
  unsigned x, y, z;
};

typedef int cudaError_t;
enum { cudaSuccess = 0, cudaErrorMemoryAllocation = 2, cudaErrorInvalidValue = 1 };
typedef struct CUstream_st* cudaStream_t;
typedef double* cudaEvent_t;
enum cudaMemcpyKind { cudaMemcpyHostToDevice = 1, cudaMemcpyDeviceToHost = 2 };
enum cudaMemoryType { cudaMemoryTypeUnregistered = 0, cudaMemoryTypeHost = 1, cudaMemoryTypeDevice = 2,
                      cudaMemoryTypeManaged = 3 };
struct cudaPointerAttributes {
  cudaMemoryType type;
  int device;
};

namespace dslcuda {
namespace emu {

struct State {
  dim3 block_idx, block_dim, grid_dim;
  int current = 0;  // fiber running now
  std::vector<unsigned long long> slots;  // per-thread values exchanged by warp collectives
  std::vector<unsigned char> dynamic_shared;
  std::map<const char*, size_t> allocations;  // "device" blocks: base -> size
  ucontext_t scheduler;
  std::vector<ucontext_t> fibers;
  std::vector<std::vector<char>> stacks;
  std::vector<char> done;
  std::function<void()> body;
};

inline State& state() {
  static State s;
  return s;
}

inline uint3 thread_idx() {
  const State& s = state();
  return uint3{static_cast<unsigned>(s.current) % s.block_dim.x, static_cast<unsigned>(s.current) / s.block_dim.x, 0};
}

// Hand control back to the scheduler until every live thread of the block has arrived here.
inline void rendezvous() {
  State& s = state();
  swapcontext(&s.fibers[s.current], &s.scheduler);
}

inline void fiber_entry() {
  State& s = state();
  s.body();
  s.done[s.current] = 1;
  swapcontext(&s.fibers[s.current], &s.scheduler);
}

inline void launch(dim3 grid, dim3 block, size_t shared, std::function<void()> body) {
  State& s = state();
  const int n = static_cast<int>(block.x * block.y * block.z);
  constexpr size_t kStack = 64 * 1024;
  if (s.stacks.size() < static_cast<size_t>(n)) {
    s.stacks.resize(n);
    for (auto& st : s.stacks)
      if (st.empty()) st.resize(kStack);
  }
  s.fibers.assign(n, ucontext_t{});
  s.done.assign(n, 0);
  s.slots.assign(n, 0);
  s.dynamic_shared.assign(shared + 16, 0);
  s.grid_dim = grid;
  s.block_dim = block;
  s.body = std::move(body);
  for (unsigned by = 0; by < grid.y; ++by) {
    for (unsigned bx = 0; bx < grid.x; ++bx) {
      s.block_idx = dim3(bx, by, 0);
      for (int t = 0; t < n; ++t) {
        getcontext(&s.fibers[t]);
        s.fibers[t].uc_stack.ss_sp = s.stacks[t].data();
        s.fibers[t].uc_stack.ss_size = kStack;
        s.fibers[t].uc_link = nullptr;
        makecontext(&s.fibers[t], fiber_entry, 0);
        s.done[t] = 0;
      }
      for (bool live = true; live;) {
        live = false;
        for (int t = 0; t < n; ++t) {
          if (s.done[t]) continue;
          s.current = t;
          swapcontext(&s.scheduler, &s.fibers[t]);
          live = live || !s.done[t];
        }
      }
    }
  }
}

inline void* dynamic_shared() { return state().dynamic_shared.data(); }

template <typename T>
T exchange(T value, int source_lane, bool in_range) {
  State& s = state();
  const int me = s.current, warp_base = me - me % 32;
  std::memcpy(&s.slots[me], &value, sizeof(T));
  rendezvous();
  T out = value;
  if (in_range) std::memcpy(&out, &s.slots[warp_base + source_lane], sizeof(T));
  rendezvous();  // nobody overwrites a slot before every thread has read it
  return out;
}

}  // namespace emu
}  // namespace dslcuda

#define threadIdx (::dslcuda::emu::thread_idx())
#define blockIdx (::dslcuda::emu::state().block_idx)
#define blockDim (::dslcuda::emu::state().block_dim)
#define gridDim (::dslcuda::emu::state().grid_dim)

inline void __syncthreads() { ::dslcuda::emu::rendezvous(); }

inline unsigned __ballot_sync(unsigned, bool pred) {
  auto& s = ::dslcuda::emu::state();
  const int me = s.current, warp_base = me - me % 32;
  s.slots[me] = pred ? 1 : 0;
  ::dslcuda::emu::rendezvous();
  unsigned out = 0;
  for (int l = 0; l < 32; ++l)
    if (s.slots[warp_base + l]) out |= 1u << l;
  ::dslcuda::emu::rendezvous();
  return out;
}

inline unsigned long long __shfl_down_sync(unsigned, unsigned long long v, int delta) {
  const int lane = ::dslcuda::emu::state().current % 32;
  return ::dslcuda::emu::exchange(v, lane + delta, lane + delta < 32);
}

inline int __popc(unsigned v) { return __builtin_popcount(v); }
inline unsigned __float_as_uint(float f) {
  unsigned u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}
inline float __uint_as_float(unsigned u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

// Fibers share one OS thread, so plain read-modify-writes are atomic here.
inline int atomicAdd(int* p, int v) { const int old = *p; *p += v; return old; }
inline float atomicAdd(float* p, float v) { const float old = *p; *p += v; return old; }
inline int atomicMax(int* p, int v) { const int old = *p; *p = std::max(old, v); return old; }
inline unsigned long long atomicMax(unsigned long long* p, unsigned long long v) {
  const unsigned long long old = *p;
  *p = std::max(old, v);
  return old;
}
inline int atomicOr(int* p, int v) { const int old = *p; *p |= v; return old; }

// ---- runtime API ---------------------------------------------------------------------------------

inline const char* cudaGetErrorName(cudaError_t e) { return e == cudaSuccess ? "cudaSuccess" : "cudaErrorEmulated"; }
inline const char* cudaGetErrorString(cudaError_t e) { return e == cudaSuccess ? "no error" : "emulated error"; }
inline cudaError_t cudaGetLastError() { return cudaSuccess; }
inline cudaError_t cudaGetDeviceCount(int* n) { *n = 1; return cudaSuccess; }
inline cudaError_t cudaGetDevice(int* d) { *d = 0; return cudaSuccess; }
inline cudaError_t cudaSetDevice(int d) { return d == 0 ? cudaSuccess : cudaErrorInvalidValue; }
inline cudaError_t cudaMalloc(void** p, size_t bytes) {
  *p = std::calloc(bytes ? bytes : 1, 1);
  if (*p == nullptr) return cudaErrorMemoryAllocation;
  ::dslcuda::emu::state().allocations[static_cast<const char*>(*p)] = bytes;
  return cudaSuccess;
}
inline cudaError_t cudaFree(void* p) {
  ::dslcuda::emu::state().allocations.erase(static_cast<const char*>(p));
  std::free(p);
  return cudaSuccess;
}
inline cudaError_t cudaMallocHost(void** p, size_t bytes) {
  *p = std::calloc(bytes ? bytes : 1, 1);
  return *p ? cudaSuccess : cudaErrorMemoryAllocation;
}
inline cudaError_t cudaFreeHost(void* p) { std::free(p); return cudaSuccess; }
inline cudaError_t cudaMemsetAsync(void* p, int v, size_t n, cudaStream_t) { std::memset(p, v, n); return cudaSuccess; }
inline cudaError_t cudaMemcpyAsync(void* d, const void* s, size_t n, cudaMemcpyKind, cudaStream_t) {
  std::memcpy(d, s, n);
  return cudaSuccess;
}
inline cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }
inline cudaError_t cudaPointerGetAttributes(cudaPointerAttributes* a, const void* p) {
  const auto& allocs = ::dslcuda::emu::state().allocations;
  const char* c = static_cast<const char*>(p);
  auto it = allocs.upper_bound(c);
  a->device = 0;
  a->type = cudaMemoryTypeUnregistered;
  if (it != allocs.begin()) {
    --it;
    if (c < it->first + it->second) a->type = cudaMemoryTypeDevice;
  }
  return cudaSuccess;
}
inline cudaError_t cudaEventCreate(cudaEvent_t* e) { *e = new double(0.0); return cudaSuccess; }
inline cudaError_t cudaEventDestroy(cudaEvent_t e) { delete e; return cudaSuccess; }
inline cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t) {
  *e = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
  return cudaSuccess;
}
inline cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t a, cudaEvent_t b) {
  *ms = static_cast<float>(*b - *a);
  return cudaSuccess;
}

#define DSL_LAUNCH(kernel, grid, block, shared, stream, ...)                                  \
  do {                                                                                       \
    (void)(stream);                                                                          \
    ::dslcuda::emu::launch(dim3(grid), dim3(block), shared, [=]() { kernel(__VA_ARGS__); }); \
  } while (0)
#define DSL_DYNAMIC_SHARED(type, name) type* name = static_cast<type*>(::dslcuda::emu::dynamic_shared())

#endif  // DSL_CUDA_EMULATE_H
