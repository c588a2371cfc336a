/* Stable sort of 16-byte key/payload records by key (reference solution).
 *
 * Usage: ./kvsort INPUT.bin OUTPUT.bin
 * LSD radix sort on the key, 8 passes of 8 bits over whole records.  Every
 * pass is a stable counting sort, so equal keys keep their input order with
 * no index at all.  The eight histograms are counted in one pass over the
 * input; a pass whose digit is the same for every key is skipped.  The two
 * buffers are anonymous mappings advised to use transparent huge pages (fewer
 * page faults, and far fewer TLB misses in the scattering passes).  The input
 * is read and the output written with one read(2)/write(2) loop each.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

struct record {
    uint64_t key;
    uint64_t payload;
};

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

/* Sorts a (n records) using tmp as scratch; returns the buffer holding the result. */
static struct record *radix_sort(struct record *a, struct record *tmp, size_t n)
{
    static size_t count[8][256];
    memset(count, 0, sizeof count);
    for (size_t i = 0; i < n; i++) {
        uint64_t k = a[i].key;
        for (int d = 0; d < 8; d++)
            count[d][(k >> (8 * d)) & 0xff]++;
    }
    for (int pass = 0; pass < 8; pass++) {
        size_t *pos = count[pass];
        int shift = 8 * pass;
        if (n == 0 || pos[(a[0].key >> shift) & 0xff] == n)
            continue; /* every key has this digit: the pass would not move anything */
        size_t sum = 0;
        for (int d = 0; d < 256; d++) {
            size_t c = pos[d];
            pos[d] = sum;
            sum += c;
        }
        for (size_t i = 0; i < n; i++)
            tmp[pos[(a[i].key >> shift) & 0xff]++] = a[i];
        struct record *swap = a;
        a = tmp;
        tmp = swap;
    }
    return a;
}

/* A zeroed buffer of at least `bytes` bytes backed by huge pages where the kernel allows
 * (madvise is only advice: without transparent huge pages it is an ordinary mapping). */
static void *big_buffer(size_t bytes)
{
    size_t len = (bytes + (2u << 20) - 1) & ~(size_t)((2u << 20) - 1);
    if (len == 0) len = 2u << 20;
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return NULL;
    madvise(p, len, MADV_HUGEPAGE);
    return p;
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
    if (fstat(in, &st) != 0 || st.st_size % sizeof(struct record) != 0) {
        fprintf(stderr, "bad input size\n");
        return 1;
    }
    size_t n = (size_t)st.st_size / sizeof(struct record);
    struct record *a = big_buffer(n * sizeof *a), *tmp = big_buffer(n * sizeof *tmp);
    if (!a || !tmp) { perror("mmap"); return 1; }
    if (read_all(in, a, n * sizeof *a) != 0) { perror("read"); return 1; }
    close(in);

    struct record *sorted = radix_sort(a, tmp, n);

    int out = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (out < 0) { perror(argv[2]); return 1; }
    if (write_all(out, sorted, n * sizeof *sorted) != 0) { perror("write"); return 1; }
    if (close(out) != 0) { perror("close"); return 1; }
    return 0;
}
