/* Levenshtein distances for a batch of string pairs (reference solution).
 *
 * Usage: ./lev PAIRS.txt OUT.txt
 * Bit-parallel edit distance (Myers 1999; Hyyro's multi-word blocks): the shorter string is the
 * pattern, one DP column is kept as bit vectors of vertical +1/-1 deltas, 64 rows per word, and
 * each character of the longer string updates the column one word at a time, the horizontal
 * delta carried from word to word. The input is read with one read(2) loop, the output written
 * with one write(2) loop.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_WORDS 64 /* patterns up to 4096 characters */

static uint64_t peq[256][MAX_WORDS];
static uint64_t pv[MAX_WORDS], mv[MAX_WORDS];

static size_t levenshtein(const unsigned char *a, size_t n, const unsigned char *b, size_t m)
{
    if (n < m) {
        const unsigned char *t = a; a = b; b = t;
        size_t s = n; n = m; m = s;
    }
    if (m == 0)
        return n;
    size_t words = (m + 63) / 64;
    for (size_t i = 0; i < m; i++)
        peq[b[i]][i / 64] |= (uint64_t)1 << (i % 64);
    for (size_t w = 0; w < words; w++) {
        pv[w] = ~(uint64_t)0;
        mv[w] = 0;
    }
    const uint64_t last = (uint64_t)1 << ((m - 1) % 64);
    const size_t top = words - 1;
    size_t score = m;
    for (size_t j = 0; j < n; j++) {
        const uint64_t *eqs = peq[a[j]];
        uint64_t hp = 1, hm = 0; /* the horizontal delta entering the word: +1 on the top row */
        for (size_t w = 0; w < top; w++) {
            uint64_t eq = eqs[w] | hm, p = pv[w], q = mv[w];
            uint64_t xv = eqs[w] | q;
            uint64_t xh = (((eq & p) + p) ^ p) | eq;
            uint64_t ph = q | ~(xh | p);
            uint64_t mh = p & xh;
            uint64_t out_p = ph >> 63, out_m = mh >> 63;
            ph = (ph << 1) | hp;
            mh = (mh << 1) | hm;
            pv[w] = mh | ~(xv | ph);
            mv[w] = ph & xv;
            hp = out_p;
            hm = out_m;
        }
        {
            uint64_t eq = eqs[top] | hm, p = pv[top], q = mv[top];
            uint64_t xv = eqs[top] | q;
            uint64_t xh = (((eq & p) + p) ^ p) | eq;
            uint64_t ph = q | ~(xh | p);
            uint64_t mh = p & xh;
            score += (ph & last) != 0;
            score -= (mh & last) != 0;
            ph = (ph << 1) | hp;
            mh = (mh << 1) | hm;
            pv[top] = mh | ~(xv | ph);
            mv[top] = ph & xv;
        }
    }
    for (size_t i = 0; i < m; i++)
        peq[b[i]][i / 64] = 0;
    return score;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s PAIRS.txt OUT.txt\n", argv[0]);
        return 2;
    }
    int in = open(argv[1], O_RDONLY);
    if (in < 0) { perror(argv[1]); return 1; }
    struct stat st;
    if (fstat(in, &st) != 0) { perror("fstat"); return 1; }
    size_t size = (size_t)st.st_size;
    unsigned char *text = malloc(size + 1);
    if (!text) { perror("malloc"); return 1; }
    for (size_t done = 0; done < size;) {
        ssize_t got = read(in, text + done, size - done);
        if (got <= 0) { perror("read"); return 1; }
        done += (size_t)got;
    }
    close(in);
    text[size] = '\n';

    size_t out_cap = 4096, out_len = 0;
    char *out = malloc(out_cap);
    if (!out) { perror("malloc"); return 1; }
    unsigned char *p = text, *end = text + size;
    while (p < end) {
        unsigned char *nl = memchr(p, '\n', (size_t)(end + 1 - p));
        unsigned char *stop = nl;
        while (stop > p && stop[-1] == '\r')
            stop--;
        if (stop > p) {
            unsigned char *space = memchr(p, ' ', (size_t)(stop - p));
            if (!space) { fprintf(stderr, "malformed line\n"); return 1; }
            size_t n = (size_t)(space - p), m = (size_t)(stop - space - 1);
            if ((n < m ? n : m) > 64 * MAX_WORDS) { fprintf(stderr, "string too long\n"); return 1; }
            size_t d = levenshtein(p, n, space + 1, m);
            if (out_len + 24 > out_cap) {
                out_cap *= 2;
                out = realloc(out, out_cap);
                if (!out) { perror("realloc"); return 1; }
            }
            out_len += (size_t)sprintf(out + out_len, "%zu\n", d);
        }
        p = nl + 1;
    }
    int fd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) { perror(argv[2]); return 1; }
    for (size_t done = 0; done < out_len;) {
        ssize_t put = write(fd, out + done, out_len - done);
        if (put <= 0) { perror("write"); return 1; }
        done += (size_t)put;
    }
    if (close(fd) != 0) { perror("close"); return 1; }
    return 0;
}
