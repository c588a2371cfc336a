/* Levenshtein distances for a batch of string pairs.  This is the file you edit.
 *
 * Usage: ./lev PAIRS.txt OUT.txt
 * PAIRS.txt: one pair per line, two strings of lowercase letters separated by one space.
 * OUT.txt: one line per pair, in input order, the edit distance (insertions, deletions and
 * substitutions cost 1 each) as a decimal integer.
 * Build with ./build.sh (gcc -O2 -std=gnu11, fixed flags). Single-threaded.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int min3(int a, int b, int c)
{
    int m = a < b ? a : b;
    return m < c ? m : c;
}

/* The textbook dynamic program over the whole (n+1) x (m+1) matrix, row by row: D(i, j) is the
 * distance between the first i characters of a and the first j characters of b. */
static int levenshtein(const char *a, size_t n, const char *b, size_t m)
{
    size_t w = m + 1;
    int *d = malloc((n + 1) * w * sizeof *d); /* D(i, j) is d[i * w + j] */
    if (!d) { perror("malloc"); exit(1); }
    for (size_t i = 0; i <= n; i++)
        d[i * w] = (int)i;
    for (size_t j = 0; j <= m; j++)
        d[j] = (int)j;
    for (size_t i = 1; i <= n; i++) {
        for (size_t j = 1; j <= m; j++) {
            int cost = a[i - 1] == b[j - 1] ? 0 : 1;
            d[i * w + j] = min3(d[(i - 1) * w + j] + 1, d[i * w + j - 1] + 1, d[(i - 1) * w + j - 1] + cost);
        }
    }
    int result = d[n * w + m];
    free(d);
    return result;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s PAIRS.txt OUT.txt\n", argv[0]);
        return 2;
    }
    FILE *in = fopen(argv[1], "r");
    if (!in) { perror(argv[1]); return 1; }
    FILE *out = fopen(argv[2], "w");
    if (!out) { perror(argv[2]); return 1; }

    char *line = NULL;
    size_t capacity = 0;
    ssize_t len;
    while ((len = getline(&line, &capacity, in)) != -1) {
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (len == 0)
            continue;
        char *space = strchr(line, ' ');
        if (!space) { fprintf(stderr, "malformed line\n"); return 1; }
        *space = '\0';
        const char *a = line, *b = space + 1;
        fprintf(out, "%d\n", levenshtein(a, strlen(a), b, strlen(b)));
    }
    free(line);
    fclose(in);
    if (fclose(out) != 0) { perror("fclose"); return 1; }
    return 0;
}
