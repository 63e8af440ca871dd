/* fuzz_safetensors.c - libFuzzer target for the safetensors reader.
 *
 * Build and run (from the repository root):
 *
 *   clang -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude \
 *       tests/fuzz/fuzz_safetensors.c src/io/safetensors.c src/io/json.c \
 *       src/io/json_write.c src/io/utf8.c src/status.c -lm -o fuzz_safetensors
 *   ./fuzz_safetensors -dict=tests/fuzz/safetensors.dict -max_total_time=30 \
 *       fuzz-out/safetensors tests/fuzz/corpus/safetensors
 *
 * Besides "no crash, no sanitizer report", every file st_parse accepts must
 * satisfy the invariants the rest of lora_demo relies on; a violation aborts.
 *
 * Random mutation rarely keeps the length prefix, the JSON and the data size
 * consistent, so most inputs would stop at the framing checks. Inputs that
 * start with '{' are therefore also tried as a bare header: the target adds
 * the prefix and as many data bytes as the largest data_offsets end asks for,
 * which lets the fuzzer reach the offset, overlap and hole checks.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "io/json.h"
#include "io/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REQUIRE(cond) \
    do {              \
        if (!(cond))  \
            abort();  \
    } while (0)

static void check_file(const uint8_t *data, size_t size)
{
    st_file f;
    char err[256];
    err[0] = '\0';
    ld_status st = st_parse(data, size, &f, "fuzz.safetensors", err, sizeof err);
    /* Failure messages are one non-empty line naming the file. */
    if (st != LD_OK) {
        REQUIRE(st == LD_EINPUT || st == LD_ENOMEM);
        REQUIRE(strncmp(err, "fuzz.safetensors: ", 18) == 0);
        REQUIRE(strchr(err, '\n') == NULL);
        REQUIRE(f.tensors == NULL && f.bytes == NULL && f.strings == NULL);
        return;
    }

    /* The data buffer is exactly tiled by the tensors. */
    uint64_t covered = 0;
    for (size_t i = 0; i < f.n_tensors; i++) {
        const st_tensor *t = &f.tensors[i];
        REQUIRE(t->begin <= t->end && t->end <= f.data_len);
        REQUIRE(t->ndim >= 0 && t->ndim <= ST_MAX_NDIM);
        uint64_t bytes = st_dtype_size(t->dtype);
        for (int d = 0; d < t->ndim; d++) {
            REQUIRE(t->shape[d] >= 0);
            bytes *= (uint64_t)t->shape[d]; /* cannot wrap: equals end - begin */
        }
        REQUIRE(bytes == t->end - t->begin);
        covered += bytes;
        REQUIRE(st_find(&f, t->name) == t); /* names are unique */

        /* Touch every byte (ASan checks the range) and convert F32s. */
        const unsigned char *raw = st_tensor_bytes(&f, t);
        unsigned sum = 0;
        for (size_t k = t->begin; k < t->end; k++)
            sum += raw[k - t->begin];
        (void)sum;
        float *x = NULL;
        st = st_get_f32(&f, t->name, t->ndim, t->shape, &x, err, sizeof err);
        REQUIRE((st == LD_OK) == (t->dtype == ST_F32));
        REQUIRE((x != NULL) == (st == LD_OK));
        free(x);
    }
    REQUIRE(covered == f.data_len);
    for (size_t i = 0; i < f.n_meta; i++) /* metadata keys are unique */
        for (size_t j = 0; j < i; j++)
            REQUIRE(strcmp(f.meta[j].key, f.meta[i].key) != 0);
    st_free(&f);
}

/* Largest data_offsets end in a header (capped), or 0 if it does not parse. */
static size_t wanted_data_len(const uint8_t *header, size_t size)
{
    const uint64_t cap = 1 << 16;
    json_value *root = NULL;
    char err[256];
    if (json_parse((const char *)header, size, &root, err, sizeof err) != LD_OK)
        return 0;
    uint64_t most = 0;
    for (size_t i = 0; i < json_length(root); i++) {
        uint64_t end;
        const json_value *offs = json_get(json_value_at(root, i), "data_offsets");
        if (json_number_u64(json_at(offs, 1), &end) && end > most)
            most = end;
    }
    json_free(root);
    return (size_t)(most < cap ? most : cap);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_file(data, size);
    if (size > 0 && data[0] == '{') {
        size_t extra = wanted_data_len(data, size);
        uint8_t *file = malloc(8 + size + extra);
        REQUIRE(file != NULL);
        for (int i = 0; i < 8; i++)
            file[i] = (uint8_t)((uint64_t)size >> (8 * i));
        memcpy(file + 8, data, size);
        /* Deterministic, non-zero data so F32 conversion sees real bits. */
        for (size_t i = 0; i < extra; i++)
            file[8 + size + i] = (uint8_t)(i * 37u + 11u);
        check_file(file, 8 + size + extra);
        free(file);
    }
    return 0;
}
