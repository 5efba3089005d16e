/* mem_thread: the peak memory of a small program as issue 3 defines it: about
 * 4 MiB of objects of 16-512 bytes, plus one thread that allocates and frees a
 * little. Prints peak_kb = VmHWM + Private_Hugetlb (VmHWM leaves hugetlb
 * pages out). Plain malloc/free, so any allocator can be preloaded. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *worker(void *arg)
{
    (void)arg;
    void *v[1000];
    for (int i = 0; i < 1000; i++) {
        v[i] = malloc(64 + i % 200);
        memset(v[i], 1, 64);
    }
    for (int i = 0; i < 1000; i++)
        free(v[i]);
    return NULL;
}

/* Sum of the "name" lines of a /proc file, in kB. */
static long sum_field(const char *path, const char *name)
{
    FILE *f = fopen(path, "r");
    char line[256];
    long total = 0;
    size_t len = strlen(name);
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, name, len) == 0)
            total += atol(line + len);
    if (f)
        fclose(f);
    return total;
}

int main(void)
{
    static void *objs[40000];
    size_t total = 0;
    unsigned x = 1;
    int n = 0;
    while (total < (4u << 20)) {
        x = x * 1103515245 + 12345;
        size_t size = 16 + (x >> 8) % 497;
        objs[n] = malloc(size);
        memset(objs[n], 2, size);
        total += size;
        n++;
    }
    pthread_t t;
    pthread_create(&t, NULL, worker, NULL);
    pthread_join(t, NULL);
    long hwm = sum_field("/proc/self/status", "VmHWM:");
    long hugetlb = sum_field("/proc/self/smaps", "Private_Hugetlb:");
    printf("result metric=peak_kb unit=kB better=lower objects=%d hwm_kb=%ld hugetlb_kb=%ld value=%ld\n",
           n, hwm, hugetlb, hwm + hugetlb);
    for (int i = 0; i < n; i++)
        free(objs[i]);
    return 0;
}
