/*
 * decode_raw: decode one frame of ready fields stored in a raw file, with the C core and no Python.
 *
 * File layout (little-endian): "DSLF", int32 height, width, pif_height, pif_width, then float32
 * player [H*W], offset [2*H*W], pif [19*5*Hp*Wp] (see README.md). Prints one line per player and
 * one for the ball.
 *
 * usage: decode_raw FILE [THREADS]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dsl_decode.h"

static int read_floats(FILE* f, float* dst, size_t n) { return fread(dst, sizeof(float), n, f) == n; }

int main(int argc, char** argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE [THREADS]\n", argv[0]);
        return 2;
    }
    FILE* f = fopen(argv[1], "rb");
    if (!f) {
        fprintf(stderr, "error: cannot open %s\n", argv[1]);
        return 1;
    }
    char magic[4];
    int32_t dims[4];
    if (fread(magic, 1, 4, f) != 4 || memcmp(magic, "DSLF", 4) != 0 || fread(dims, sizeof(int32_t), 4, f) != 4 ||
        dims[0] < 1 || dims[1] < 1 || dims[2] < 1 || dims[3] < 1 || dims[0] > 8192 || dims[1] > 8192 ||
        dims[2] > 1024 || dims[3] > 1024) {
        fprintf(stderr, "error: %s is not a DSLF fields file (bad magic or sizes)\n", argv[1]);
        fclose(f);
        return 1;
    }
    const size_t plane = (size_t)dims[0] * dims[1];
    const size_t pif_size = (size_t)DSL_NUM_TYPES * DSL_PIF_CHANNELS * dims[2] * dims[3];
    float* player = malloc(sizeof(float) * plane);
    float* offset = malloc(sizeof(float) * 2 * plane);
    float* pif = malloc(sizeof(float) * pif_size);
    int ok = player && offset && pif && read_floats(f, player, plane) && read_floats(f, offset, 2 * plane) &&
             read_floats(f, pif, pif_size);
    fclose(f);
    int rc = 1;
    dsl_decoder* dec = NULL;
    if (!ok) {
        fprintf(stderr, "error: %s is truncated\n", argv[1]);
        goto done;
    }
    dsl_params params;
    dsl_params_default(&params);
    if (argc > 2) params.num_threads = atoi(argv[2]);
    dec = dsl_decoder_create(&params);
    if (!dec) {
        fprintf(stderr, "error: %s\n", dsl_decoder_last_error());
        goto done;
    }
    dsl_fields fields = {player, offset, pif, dims[0], dims[1], dims[2], dims[3]};
    dsl_output out;
    memset(&out, 0, sizeof out); /* NULL arrays: the decoder's own buffers */
    if (dsl_decoder_decode(dec, &fields, &out) != DSL_OK) {
        fprintf(stderr, "error: %s\n", dsl_decoder_last_error());
        goto done;
    }
    printf("players %d\n", out.num_players);
    for (int i = 0; i < out.num_players; ++i) {
        const float* b = out.boxes + 4 * i;
        printf("player %d center %.0f %.0f score %.6f box %.0f %.0f %.0f %.0f area %lld\n", i + 1,
               out.centers[2 * i], out.centers[2 * i + 1], out.scores[i], b[0], b[1], b[2], b[3],
               (long long)out.areas[i]);
    }
    if (out.has_ball)
        printf("ball %.0f %.0f %.6f\n", out.ball[0], out.ball[1], out.ball[2]);
    else
        printf("ball none\n");
    printf("decode_ms %.3f\n", out.timings_ms[DSL_STAGE_TOTAL]);
    rc = 0;
done:
    dsl_decoder_destroy(dec);
    free(player);
    free(offset);
    free(pif);
    return rc;
}
