/* SHA-256 of many messages (reference solution).
 *
 * Usage: ./sha MESSAGES.bin DIGESTS.txt
 * MESSAGES.bin is a sequence of messages, each a little-endian uint32 byte
 * count followed by that many bytes.  DIGESTS.txt receives one line per
 * message, in order: its SHA-256 digest (FIPS 180-4) as 64 lowercase hex
 * digits, then '\n'.
 *
 * The whole input is read with one read(2) loop; every message's full blocks
 * are compressed straight from that buffer (no copying), and only the last
 * one or two blocks are assembled with the padding.  The compression runs
 * many blocks per call, in portable, fully unrolled C (big-endian word loads
 * via bswap); no CPU-specific instructions, so it measures the same on every
 * x86-64 scorer (the SHA extensions, where a CPU has them, are faster still).
 * The hex lines are formatted into one buffer and written at the end.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const uint32_t K[64] __attribute__((aligned(16))) = {
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

typedef void (*blocks_fn)(uint32_t state[8], const uint8_t *data, size_t nblocks);

/* ---- portable path ---------------------------------------------------- */

#define ROTR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))
#define S0(x) (ROTR(x, 2) ^ ROTR(x, 13) ^ ROTR(x, 22))
#define S1(x) (ROTR(x, 6) ^ ROTR(x, 11) ^ ROTR(x, 25))
#define s0(x) (ROTR(x, 7) ^ ROTR(x, 18) ^ ((x) >> 3))
#define s1(x) (ROTR(x, 17) ^ ROTR(x, 19) ^ ((x) >> 10))
#define CH(x, y, z) ((z) ^ ((x) & ((y) ^ (z))))
#define MAJ(x, y, z) (((x) & (y)) | ((z) & ((x) | (y))))

static inline uint32_t load_be32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return __builtin_bswap32(v);
}

/* one round; the eight working variables rotate by renaming, not by moves */
#define ROUND(a, b, c, d, e, f, g, h, i)                         \
    do {                                                         \
        uint32_t t1 = h + S1(e) + CH(e, f, g) + K[i] + w[(i) & 15]; \
        d += t1;                                                 \
        h = t1 + S0(a) + MAJ(a, b, c);                           \
    } while (0)

/* the message schedule in a 16-word ring */
#define EXPAND(i) (w[(i) & 15] += s1(w[((i) - 2) & 15]) + w[((i) - 7) & 15] + s0(w[((i) - 15) & 15]))

#define ROUNDS8(i)                                  \
    ROUND(a, b, c, d, e, f, g, h, (i) + 0);         \
    ROUND(h, a, b, c, d, e, f, g, (i) + 1);         \
    ROUND(g, h, a, b, c, d, e, f, (i) + 2);         \
    ROUND(f, g, h, a, b, c, d, e, (i) + 3);         \
    ROUND(e, f, g, h, a, b, c, d, (i) + 4);         \
    ROUND(d, e, f, g, h, a, b, c, (i) + 5);         \
    ROUND(c, d, e, f, g, h, a, b, (i) + 6);         \
    ROUND(b, c, d, e, f, g, h, a, (i) + 7)

#define EXPAND8(i) \
    EXPAND((i) + 0); EXPAND((i) + 1); EXPAND((i) + 2); EXPAND((i) + 3); \
    EXPAND((i) + 4); EXPAND((i) + 5); EXPAND((i) + 6); EXPAND((i) + 7)

static void blocks_portable(uint32_t state[8], const uint8_t *data, size_t nblocks)
{
    uint32_t a = state[0], b = state[1], c = state[2], d = state[3];
    uint32_t e = state[4], f = state[5], g = state[6], h = state[7];
    while (nblocks--) {
        uint32_t w[16];
        for (int i = 0; i < 16; i++)
            w[i] = load_be32(data + 4 * i);
        ROUNDS8(0);
        ROUNDS8(8);
        for (int i = 16; i < 64; i += 16) {
            EXPAND8(i);
            ROUNDS8(i);
            EXPAND8(i + 8);
            ROUNDS8(i + 8);
        }
        a = state[0] += a; b = state[1] += b; c = state[2] += c; d = state[3] += d;
        e = state[4] += e; f = state[5] += f; g = state[6] += g; h = state[7] += h;
        data += 64;
    }
}

/* ---- messages ---------------------------------------------------------- */

static void sha256(blocks_fn blocks, const uint8_t *msg, size_t len, uint8_t digest[32])
{
    uint32_t state[8];
    memcpy(state, H0, sizeof state);
    size_t full = len / 64;
    if (full)
        blocks(state, msg, full);
    /* the tail, 0x80, zeros and the 64-bit big-endian bit length: one block, or two when the
     * tail leaves fewer than 9 free bytes (len % 64 >= 56) */
    uint8_t last[128];
    size_t rest = len % 64, padded = rest < 56 ? 64 : 128;
    memcpy(last, msg + 64 * full, rest);
    last[rest] = 0x80;
    memset(last + rest + 1, 0, padded - rest - 1);
    uint64_t bits = (uint64_t)len * 8;
    for (int i = 0; i < 8; i++)
        last[padded - 1 - i] = (uint8_t)(bits >> (8 * i));
    blocks(state, last, padded / 64);
    for (int i = 0; i < 8; i++) {
        uint32_t v = __builtin_bswap32(state[i]);
        memcpy(digest + 4 * i, &v, 4);
    }
}

static int read_file(const char *path, uint8_t **data, size_t *size)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0) return -1;
    struct stat st;
    if (fstat(fd, &st) != 0) { close(fd); return -1; }
    size_t len = (size_t)st.st_size, have = 0;
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf) { close(fd); return -1; }
    while (have < len) {
        ssize_t got = read(fd, buf + have, len - have);
        if (got <= 0) { free(buf); close(fd); return -1; }
        have += (size_t)got;
    }
    close(fd);
    *data = buf;
    *size = len;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s MESSAGES.bin DIGESTS.txt\n", argv[0]);
        return 2;
    }
    uint8_t *data;
    size_t size;
    if (read_file(argv[1], &data, &size) != 0) { perror(argv[1]); return 1; }

    blocks_fn blocks = blocks_portable;

    /* count the messages (checking the framing), so the output buffer has the right size */
    size_t count = 0;
    for (size_t pos = 0; pos < size; count++) {
        if (size - pos < 4) { fprintf(stderr, "truncated length\n"); return 1; }
        uint32_t len = data[pos] | data[pos + 1] << 8 | data[pos + 2] << 16 | (uint32_t)data[pos + 3] << 24;
        pos += 4;
        if (len > size - pos) { fprintf(stderr, "truncated message\n"); return 1; }
        pos += len;
    }
    size_t used = 0;
    char *text = malloc(count * 65 + 1);
    if (!text) { perror("malloc"); return 1; }
    static const char hex[] = "0123456789abcdef";
    size_t pos = 0;
    while (pos < size) {
        uint32_t len = data[pos] | data[pos + 1] << 8 | data[pos + 2] << 16 | (uint32_t)data[pos + 3] << 24;
        pos += 4;
        uint8_t digest[32];
        sha256(blocks, data + pos, len, digest);
        pos += len;
        for (int i = 0; i < 32; i++) {
            text[used++] = hex[digest[i] >> 4];
            text[used++] = hex[digest[i] & 15];
        }
        text[used++] = '\n';
    }

    FILE *out = fopen(argv[2], "wb");
    if (!out) { perror(argv[2]); return 1; }
    if (fwrite(text, 1, used, out) != used) { perror("fwrite"); return 1; }
    if (fclose(out) != 0) { perror("fclose"); return 1; }
    free(text);
    free(data);
    return 0;
}
