// The C ABI's result transfers: summary and per-player arrays, labels, fused maps, device pointers.
#include <cstring>

#include "context.cuh"

using dslcuda::cuda_fail;
using dslcuda::fail;
using dslcuda::kEvents;
using dslcuda::SummaryHeader;

namespace {

template <typename T>
T* own(std::vector<T>& buf, size_t n) {
  if (buf.size() < n) buf.resize(n);
  return buf.data();
}

}  // namespace

extern "C" {

int dsl_cuda_download(dsl_cuda_decoder* d, dsl_output* out, void* stream) {
  if (d == nullptr || out == nullptr) return fail(DSL_ERR_ARGUMENT, "decoder/out: NULL pointer");
  if (!d->decoded) return fail(DSL_ERR_STATE, "download: no successful dsl_cuda_decode on this decoder yet");
  const cudaStream_t s = static_cast<cudaStream_t>(stream);
  cudaError_t err;
  if ((err = cudaStreamSynchronize(s)) != cudaSuccess) return cuda_fail(err, "decode (cudaStreamSynchronize)");
  const SummaryHeader* head = reinterpret_cast<const SummaryHeader*>(d->host_result);
  if (head->nonfinite != 0) {
    std::string names;
    if (head->nonfinite & 1) names += " player";
    if (head->nonfinite & 2) names += " offset";
    if (head->nonfinite & 4) names += " pif";
    return fail(DSL_ERR_NONFINITE, "fields: NaN or inf in" + names);
  }
  const size_t k = static_cast<size_t>(d->p.max_players);
  if (!out->labels) out->labels = own(d->labels, d->pixels());
  if (!out->keypoints) out->keypoints = own(d->keypoints, k * dslcuda::kNumBodyParts * 3);
  if (!out->scores) out->scores = own(d->scores, k);
  if (!out->boxes) out->boxes = own(d->boxes, 4 * k);
  if (!out->areas) out->areas = own(d->areas, k);
  if (!out->centers) out->centers = own(d->centers, 2 * k);
  if ((err = cudaMemcpyAsync(out->labels, d->s.labels, d->pixels() * sizeof(int32_t), cudaMemcpyDeviceToHost, s)) != cudaSuccess)
    return cuda_fail(err, "cudaMemcpyAsync (labels)");
  const size_t n = static_cast<size_t>(head->n_players);
  const unsigned char* r = d->host_result;
  std::memcpy(out->scores, r + d->layout.scores, n * sizeof(float));
  std::memcpy(out->centers, r + d->layout.centres, 2 * n * sizeof(float));
  std::memcpy(out->boxes, r + d->layout.boxes, 4 * n * sizeof(float));
  std::memcpy(out->keypoints, r + d->layout.keypoints, n * dslcuda::kNumBodyParts * 3 * sizeof(float));
  const int32_t* areas = reinterpret_cast<const int32_t*>(r + d->layout.areas);
  for (size_t i = 0; i < n; ++i) out->areas[i] = areas[i];
  out->num_players = head->n_players;
  out->has_ball = head->has_ball;
  out->ball[0] = head->ball_x;
  out->ball[1] = head->ball_y;
  out->ball[2] = head->ball_score;
  float ms[kEvents - 1] = {0.f, 0.f, 0.f, 0.f};
  for (int i = 0; i + 1 < kEvents; ++i)
    if ((err = cudaEventElapsedTime(&ms[i], d->events[i], d->events[i + 1])) != cudaSuccess)
      return cuda_fail(err, "cudaEventElapsedTime");
  out->timings_ms[DSL_STAGE_FUSE] = ms[0];
  out->timings_ms[DSL_STAGE_MAXIMA] = ms[1];
  out->timings_ms[DSL_STAGE_ASSIGN] = ms[2];
  out->timings_ms[DSL_STAGE_POSES] = ms[3];
  out->timings_ms[DSL_STAGE_BALL] = 0.0;
  out->timings_ms[DSL_STAGE_TOTAL] = static_cast<double>(ms[0]) + ms[1] + ms[2] + ms[3];
  if ((err = cudaStreamSynchronize(s)) != cudaSuccess) return cuda_fail(err, "cudaStreamSynchronize (labels)");
  return DSL_OK;
}

int dsl_cuda_download_fused(dsl_cuda_decoder* d, float* out, void* stream) {
  if (d == nullptr || out == nullptr) return fail(DSL_ERR_ARGUMENT, "decoder/out: NULL pointer");
  if (!d->fused) return fail(DSL_ERR_STATE, "download_fused: no successful decode or fuse on this decoder yet");
  const cudaStream_t s = static_cast<cudaStream_t>(stream);
  cudaError_t err;
  if ((err = cudaMemcpyAsync(out, d->s.fused, dslcuda::kNumTypes * d->pixels() * sizeof(float),
                             cudaMemcpyDeviceToHost, s)) != cudaSuccess)
    return cuda_fail(err, "cudaMemcpyAsync (fused maps)");
  if ((err = cudaStreamSynchronize(s)) != cudaSuccess) return cuda_fail(err, "cudaStreamSynchronize (fused maps)");
  return DSL_OK;
}

int dsl_cuda_device_outputs_get(const dsl_cuda_decoder* d, dsl_cuda_device_outputs* out) {
  if (d == nullptr || out == nullptr) return fail(DSL_ERR_ARGUMENT, "decoder/out: NULL pointer");
  const unsigned char* r = d->s.result;
  out->labels = d->s.labels;
  out->fused = d->s.fused;
  out->keypoints = reinterpret_cast<float*>(const_cast<unsigned char*>(r) + d->layout.keypoints);
  out->scores = reinterpret_cast<float*>(const_cast<unsigned char*>(r) + d->layout.scores);
  out->boxes = reinterpret_cast<float*>(const_cast<unsigned char*>(r) + d->layout.boxes);
  out->areas = reinterpret_cast<int32_t*>(const_cast<unsigned char*>(r) + d->layout.areas);
  out->centers = reinterpret_cast<float*>(const_cast<unsigned char*>(r) + d->layout.centres);
  return DSL_OK;
}

}  // extern "C"
