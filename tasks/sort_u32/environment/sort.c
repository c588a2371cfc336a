/* Sort N unsigned 32-bit integers.  This is the file you edit.
 *
 * Usage: ./sort INPUT.bin OUTPUT.bin
 * INPUT.bin holds N little-endian uint32 values (N = file size / 4);
 * OUTPUT.bin must receive the same N values in ascending order, same encoding.
 * Build with ./build.sh (gcc -O2 -std=gnu11, fixed flags). Single-threaded.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static int compare_u32(const void *pa, const void *pb)
{
    uint32_t a = *(const uint32_t *)pa, b = *(const uint32_t *)pb;
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
    if (bytes < 0 || bytes % 4 != 0) { fprintf(stderr, "bad input size\n"); return 1; }
    rewind(in);
    size_t n = (size_t)bytes / 4;
    uint32_t *values = malloc(n ? n * sizeof *values : 1);
    if (!values) { perror("malloc"); return 1; }
    if (fread(values, sizeof *values, n, in) != n) { perror("fread"); return 1; }
    fclose(in);

    qsort(values, n, sizeof *values, compare_u32);

    FILE *out = fopen(argv[2], "wb");
    if (!out) { perror(argv[2]); return 1; }
    if (fwrite(values, sizeof *values, n, out) != n) { perror("fwrite"); return 1; }
    if (fclose(out) != 0) { perror("fclose"); return 1; }
    free(values);
    return 0;
}
