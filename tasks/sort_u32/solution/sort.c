/* Sort N unsigned 32-bit integers (reference solution).
 *
 * Usage: ./sort INPUT.bin OUTPUT.bin
 * LSD radix sort, 4 passes of 8 bits; all four histograms are counted in one
 * pass over the input, and the input is read and the output written with one
 * read(2)/write(2) loop each.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int read_all(int fd, void *buf, size_t len)
{
    char *p = buf;
    while (len > 0) {
        ssize_t got = read(fd, p, len > (1u << 30) ? (1u << 30) : len);
        if (got <= 0) return -1;
        p += got;
        len -= (size_t)got;
    }
    return 0;
}

static int write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t put = write(fd, p, len > (1u << 30) ? (1u << 30) : len);
        if (put <= 0) return -1;
        p += put;
        len -= (size_t)put;
    }
    return 0;
}

static void radix_sort(uint32_t *a, uint32_t *tmp, size_t n)
{
    static size_t count[4][256];
    memset(count, 0, sizeof count);
    for (size_t i = 0; i < n; i++) {
        uint32_t v = a[i];
        count[0][v & 0xff]++;
        count[1][(v >> 8) & 0xff]++;
        count[2][(v >> 16) & 0xff]++;
        count[3][v >> 24]++;
    }
    for (int pass = 0; pass < 4; pass++) {
        size_t sum = 0;
        for (int d = 0; d < 256; d++) {
            size_t c = count[pass][d];
            count[pass][d] = sum;
            sum += c;
        }
        int shift = pass * 8;
        size_t *pos = count[pass];
        for (size_t i = 0; i < n; i++) {
            uint32_t v = a[i];
            tmp[pos[(v >> shift) & 0xff]++] = v;
        }
        uint32_t *swap = a;
        a = tmp;
        tmp = swap;
    }
    /* four passes: the sorted data is back in the original buffer */
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s INPUT.bin OUTPUT.bin\n", argv[0]);
        return 2;
    }
    int in = open(argv[1], O_RDONLY);
    if (in < 0) { perror(argv[1]); return 1; }
    struct stat st;
    if (fstat(in, &st) != 0 || st.st_size % 4 != 0) { fprintf(stderr, "bad input size\n"); return 1; }
    size_t n = (size_t)st.st_size / 4;
    uint32_t *a = malloc(n ? n * sizeof *a : 1), *tmp = malloc(n ? n * sizeof *tmp : 1);
    if (!a || !tmp) { perror("malloc"); return 1; }
    if (read_all(in, a, n * sizeof *a) != 0) { perror("read"); return 1; }
    close(in);

    radix_sort(a, tmp, n);

    int out = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (out < 0) { perror(argv[2]); return 1; }
    if (write_all(out, a, n * sizeof *a) != 0) { perror("write"); return 1; }
    if (close(out) != 0) { perror("close"); return 1; }
    return 0;
}
