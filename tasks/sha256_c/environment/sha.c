/* SHA-256 of many messages.  This is the file you edit.
 *
 * Usage: ./sha MESSAGES.bin DIGESTS.txt
 * MESSAGES.bin is a sequence of messages, each a little-endian uint32 byte
 * count followed by that many bytes.  DIGESTS.txt receives one line per
 * message, in order: its SHA-256 digest (FIPS 180-4) as 64 lowercase hex
 * digits, then '\n'.
 * Build with ./build.sh (gcc -O2 -std=gnu11, fixed flags).  Single-threaded.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct {
    uint8_t buffer[64];   /* the block being filled */
    uint32_t used;        /* bytes in buffer */
    uint64_t length;      /* message bytes so far */
    uint32_t state[8];
} sha256_ctx;

static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static const uint32_t H0[8] = {
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
};

/* rotate right by n bits, 0 < n < 32 */
static uint32_t rotr(uint32_t x, unsigned n)
{
    return (x >> n) | (x << (32 - n));
}

static uint32_t ch(uint32_t x, uint32_t y, uint32_t z) { return (x & y) ^ (~x & z); }
static uint32_t maj(uint32_t x, uint32_t y, uint32_t z) { return (x & y) ^ (x & z) ^ (y & z); }
static uint32_t big_sigma0(uint32_t x) { return rotr(x, 2) ^ rotr(x, 13) ^ rotr(x, 22); }
static uint32_t big_sigma1(uint32_t x) { return rotr(x, 6) ^ rotr(x, 11) ^ rotr(x, 25); }
static uint32_t small_sigma0(uint32_t x) { return rotr(x, 7) ^ rotr(x, 18) ^ (x >> 3); }
static uint32_t small_sigma1(uint32_t x) { return rotr(x, 17) ^ rotr(x, 19) ^ (x >> 10); }

/* one 64-byte block */
static void sha256_block(sha256_ctx *ctx, const uint8_t *block)
{
    uint32_t w[64];
    for (int t = 0; t < 64; t++) {
        if (t < 16)
            w[t] = (uint32_t)block[4 * t] << 24 | (uint32_t)block[4 * t + 1] << 16 |
                   (uint32_t)block[4 * t + 2] << 8 | (uint32_t)block[4 * t + 3];
        else
            w[t] = small_sigma1(w[t - 2]) + w[t - 7] + small_sigma0(w[t - 15]) + w[t - 16];
    }
    uint32_t v[8];
    for (int i = 0; i < 8; i++)
        v[i] = ctx->state[i];
    for (int t = 0; t < 64; t++) {
        uint32_t t1 = v[7] + big_sigma1(v[4]) + ch(v[4], v[5], v[6]) + K[t] + w[t];
        uint32_t t2 = big_sigma0(v[0]) + maj(v[0], v[1], v[2]);
        for (int i = 7; i > 0; i--)
            v[i] = v[i - 1];
        v[4] += t1;
        v[0] = t1 + t2;
    }
    for (int i = 0; i < 8; i++)
        ctx->state[i] += v[i];
}

static void sha256_init(sha256_ctx *ctx)
{
    ctx->used = 0;
    ctx->length = 0;
    for (int i = 0; i < 8; i++)
        ctx->state[i] = H0[i];
}

static void sha256_update(sha256_ctx *ctx, const uint8_t *data, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        ctx->buffer[ctx->used++] = data[i];
        ctx->length++;
        if (ctx->used == 64) {
            sha256_block(ctx, ctx->buffer);
            ctx->used = 0;
        }
    }
}

static void sha256_final(sha256_ctx *ctx, uint8_t digest[32])
{
    uint64_t bits = ctx->length * 8;
    uint8_t one = 0x80, zero = 0;
    sha256_update(ctx, &one, 1);
    while (ctx->used != 56)
        sha256_update(ctx, &zero, 1);
    for (int i = 7; i >= 0; i--) {
        uint8_t byte = (uint8_t)(bits >> (8 * i));
        sha256_update(ctx, &byte, 1);
    }
    for (int i = 0; i < 8; i++)
        for (int j = 0; j < 4; j++)
            digest[4 * i + j] = (uint8_t)(ctx->state[i] >> (24 - 8 * j));
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s MESSAGES.bin DIGESTS.txt\n", argv[0]);
        return 2;
    }
    FILE *in = fopen(argv[1], "rb");
    if (!in) { perror(argv[1]); return 1; }
    FILE *out = fopen(argv[2], "w");
    if (!out) { perror(argv[2]); return 1; }

    for (;;) {
        uint8_t header[4];
        size_t got = fread(header, 1, 4, in);
        if (got == 0)
            break;
        if (got != 4) { fprintf(stderr, "truncated length\n"); return 1; }
        uint32_t len = header[0] | header[1] << 8 | header[2] << 16 | (uint32_t)header[3] << 24;
        sha256_ctx ctx;
        sha256_init(&ctx);
        for (uint32_t i = 0; i < len; i++) {
            int c = fgetc(in);
            if (c == EOF) { fprintf(stderr, "truncated message\n"); return 1; }
            uint8_t byte = (uint8_t)c;
            sha256_update(&ctx, &byte, 1);
        }
        uint8_t digest[32];
        sha256_final(&ctx, digest);
        for (int i = 0; i < 32; i++)
            fprintf(out, "%02x", digest[i]);
        fprintf(out, "\n");
    }
    fclose(in);
    if (fclose(out) != 0) { perror("fclose"); return 1; }
    return 0;
}
