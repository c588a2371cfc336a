/* Stable sort of 16-byte key/payload records by key.  This is the file you edit.
 *
 * Usage: ./kvsort INPUT.bin OUTPUT.bin
 * INPUT.bin holds N records (N = file size / 16), each a little-endian uint64
 * key followed by a little-endian uint64 payload.  OUTPUT.bin must receive the
 * same N records ordered by key ascending (unsigned); records with equal keys
 * keep their input order (a stable sort).
 * Build with ./build.sh (gcc -O2 -std=gnu11, fixed flags).  Single-threaded.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

struct record {
    uint64_t key;
    uint64_t payload;
};

static const struct record *records;

/* qsort is not stable, so it sorts record positions, and equal keys are
 * ordered by their position in the input. */
static int compare_positions(const void *pa, const void *pb)
{
    uint32_t a = *(const uint32_t *)pa, b = *(const uint32_t *)pb;
    uint64_t ka = records[a].key, kb = records[b].key;
    if (ka != kb)
        return ka < kb ? -1 : 1;
    return (a > b) - (a < b);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s INPUT.bin OUTPUT.bin\n", argv[0]);
        return 2;
    }
    FILE *in = fopen(argv[1], "rb");
    if (!in) { perror(argv[1]); return 1; }
    if (fseek(in, 0, SEEK_END) != 0) { perror("fseek"); return 1; }
    long bytes = ftell(in);
    if (bytes < 0 || bytes % sizeof(struct record) != 0) { fprintf(stderr, "bad input size\n"); return 1; }
    if ((unsigned long)bytes / sizeof(struct record) > UINT32_MAX) { fprintf(stderr, "input too large\n"); return 1; }
    rewind(in);
    size_t n = (size_t)bytes / sizeof(struct record);
    struct record *input = malloc(n ? n * sizeof *input : 1);
    uint32_t *order = malloc(n ? n * sizeof *order : 1);
    if (!input || !order) { perror("malloc"); return 1; }
    if (fread(input, sizeof *input, n, in) != n) { perror("fread"); return 1; }
    fclose(in);

    records = input;
    for (size_t i = 0; i < n; i++)
        order[i] = (uint32_t)i;
    qsort(order, n, sizeof *order, compare_positions);

    FILE *out = fopen(argv[2], "wb");
    if (!out) { perror(argv[2]); return 1; }
    for (size_t i = 0; i < n; i++)
        if (fwrite(&input[order[i]], sizeof *input, 1, out) != 1) { perror("fwrite"); return 1; }
    if (fclose(out) != 0) { perror("fclose"); return 1; }
    free(order);
    free(input);
    return 0;
}
