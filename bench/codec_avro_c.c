/*
 * Codec benchmark baseline: Apache Avro C (libavro, generic value interface), called directly.
 * Built and run by bench/codec.sh; prints key=value lines.
 *
 * Usage: codec_avro_c WRITER.avsc [READER.avsc] [--records N]
 *   N defaults to $RECORDS, else 1,000,000.  With READER.avsc, also a resolving decode
 *   (writer v1 -> reader v2 through avro_resolved_writer), reported as resolve_records_per_s=.
 *
 * Workload (identical in bench/codec_avro_c.c, bench/codec_fastavro.py and `codec-bench codec`):
 *   writer schema fixtures/bench/row-v1.avsc: record bench.Row, fields in this order
 *     id long, account int, name string, email string, city string, amount double,
 *     quantity int, created long, active boolean, note ["null","string"] default null
 *   reader schema fixtures/bench/row-v2.avsc: the same but account long (promoted from int) and a
 *     new last field country string default "NL"
 *   record i (0-based, i < N):
 *     id = i * 7919            account = i % 100000        name = "name-" + str(i % 1000)
 *     email = "user" + str(i % 5000) + "@example.com"      city = ["Amsterdam","Berlin","Paris","Madrid","Rome"][i % 5]
 *     amount = i * 0.25        quantity = i % 100          created = 1700000000000 + i
 *     active = (i % 2 == 0)    note = null if i % 3 == 0 else "note " + str(i % 10)
 *   checksum     = sum(id) + sum of the byte lengths of name, email, city and note (when not null),
 *                  over all decoded records, modulo 2^64
 *   checksum_all = checksum + sum(account) + sum(quantity) + sum(created) + count(active)
 *                  + sum(int(amount * 4)) + count(note is null), modulo 2^64 (every field)
 *
 * Phases:
 *   encode: the strings are formatted into lookup tables beforehand (as the Python dicts are built
 *     before timing); per record, every field is set on one reused generic value
 *     (avro_value_get_by_index + avro_value_set_*, avro_value_set_branch for the union) and written with
 *     avro_value_write into one contiguous malloc'd arena (offsets kept in a second array).
 *   decode: each record is read back (avro_reader_memory_set_source + avro_value_reset + avro_value_read)
 *     into one reused value and every field is read (ints summed, string lengths totalled).
 *   resolve (only with READER.avsc): as decode, but avro_value_read goes into an
 *     avro_resolved_writer(v1 -> v2) value wrapping one reused v2 generic value; country is checked.
 * Memory: rss_mb_at_10pct / rss_mb_at_100pct are the resident set (/proc/self/statm) after 10% / 100%
 *   of the decode phase, minus the arena (allocated and fully written before decode starts; its size is
 *   arena_mb); peak_rss_mb is getrusage ru_maxrss (arena included).
 */
#define _GNU_SOURCE
#include <avro.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

enum { F_ID, F_ACCOUNT, F_NAME, F_EMAIL, F_CITY, F_AMOUNT, F_QUANTITY, F_CREATED, F_ACTIVE, F_NOTE, NFIELDS };

static const char *const CITIES[5] = {"Amsterdam", "Berlin", "Paris", "Madrid", "Rome"};

#define CHECK(expr)                                                                              \
    do {                                                                                         \
        if ((expr) != 0) {                                                                       \
            fprintf(stderr, "codec_avro_c: %s failed (line %d): %s\n", #expr, __LINE__, avro_strerror()); \
            exit(1);                                                                             \
        }                                                                                        \
    } while (0)
#define CHECK_PTR(ptr, what)                                                                     \
    do {                                                                                         \
        if ((ptr) == NULL) {                                                                     \
            fprintf(stderr, "codec_avro_c: %s failed (line %d): %s\n", what, __LINE__, avro_strerror()); \
            exit(1);                                                                             \
        }                                                                                        \
    } while (0)

static void die(const char *msg) {
    fprintf(stderr, "codec_avro_c: %s\n", msg);
    exit(1);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double rss_bytes(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) die("cannot open /proc/self/statm");
    unsigned long size = 0, resident = 0;
    if (fscanf(f, "%lu %lu", &size, &resident) != 2) die("cannot parse /proc/self/statm");
    fclose(f);
    return (double)resident * (double)sysconf(_SC_PAGESIZE);
}

static double peak_rss_mb(void) {
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) die("getrusage failed");
    return (double)ru.ru_maxrss / 1024.0; /* Linux: kilobytes */
}

static avro_schema_t load_schema(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "codec_avro_c: cannot open %s: %s\n", path, strerror(errno));
        exit(1);
    }
    char *text = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 8192;
            text = realloc(text, cap);
            if (!text) die("out of memory");
        }
        size_t n = fread(text + len, 1, cap - len - 1, f);
        len += n;
        if (n == 0) break;
    }
    fclose(f);
    text[len] = '\0';
    avro_schema_t schema;
    avro_schema_error_t error;
    if (avro_schema_from_json(text, (int32_t)len, &schema, &error) != 0) {
        fprintf(stderr, "codec_avro_c: cannot parse %s: %s\n", path, avro_strerror());
        exit(1);
    }
    free(text);
    return schema;
}

/* Pre-formatted strings, with their lengths (without NUL). */
typedef struct {
    char **s;
    size_t *len;
    size_t n;
} strtab;

static strtab make_table(size_t n, const char *fmt_prefix, const char *suffix) {
    strtab t = {calloc(n, sizeof(char *)), calloc(n, sizeof(size_t)), n};
    if (!t.s || !t.len) die("out of memory");
    for (size_t k = 0; k < n; k++) {
        char buf[64];
        int w = snprintf(buf, sizeof buf, "%s%zu%s", fmt_prefix, k, suffix);
        t.s[k] = strdup(buf);
        if (!t.s[k]) die("out of memory");
        t.len[k] = (size_t)w;
    }
    return t;
}

static void free_table(strtab *t) {
    for (size_t k = 0; k < t->n; k++) free(t->s[k]);
    free(t->s);
    free(t->len);
}

typedef struct {
    uint64_t checksum;     /* sum(id) + string lengths */
    uint64_t checksum_all; /* every field */
} sums;

static void touch_string(avro_value_t *f, sums *s) {
    const char *p;
    size_t size;
    CHECK(avro_value_get_string(f, &p, &size));
    /* size includes the terminating NUL */
    s->checksum += size - 1;
    s->checksum_all += size - 1;
}

/* Reads every field of a decoded record (v1 or v2 layout: the first 10 fields are the same). */
static void touch_record(avro_value_t *rec, int account_is_long, sums *s) {
    avro_value_t f, branch;
    int64_t l;
    int32_t n;
    double d;
    int b, disc;

    CHECK(avro_value_get_by_index(rec, F_ID, &f, NULL));
    CHECK(avro_value_get_long(&f, &l));
    s->checksum += (uint64_t)l;
    s->checksum_all += (uint64_t)l;

    CHECK(avro_value_get_by_index(rec, F_ACCOUNT, &f, NULL));
    if (account_is_long) {
        CHECK(avro_value_get_long(&f, &l));
        s->checksum_all += (uint64_t)l;
    } else {
        CHECK(avro_value_get_int(&f, &n));
        s->checksum_all += (uint64_t)(int64_t)n;
    }

    CHECK(avro_value_get_by_index(rec, F_NAME, &f, NULL));
    touch_string(&f, s);
    CHECK(avro_value_get_by_index(rec, F_EMAIL, &f, NULL));
    touch_string(&f, s);
    CHECK(avro_value_get_by_index(rec, F_CITY, &f, NULL));
    touch_string(&f, s);

    CHECK(avro_value_get_by_index(rec, F_AMOUNT, &f, NULL));
    CHECK(avro_value_get_double(&f, &d));
    s->checksum_all += (uint64_t)(int64_t)(d * 4.0);

    CHECK(avro_value_get_by_index(rec, F_QUANTITY, &f, NULL));
    CHECK(avro_value_get_int(&f, &n));
    s->checksum_all += (uint64_t)(int64_t)n;

    CHECK(avro_value_get_by_index(rec, F_CREATED, &f, NULL));
    CHECK(avro_value_get_long(&f, &l));
    s->checksum_all += (uint64_t)l;

    CHECK(avro_value_get_by_index(rec, F_ACTIVE, &f, NULL));
    CHECK(avro_value_get_boolean(&f, &b));
    s->checksum_all += (uint64_t)(b != 0);

    CHECK(avro_value_get_by_index(rec, F_NOTE, &f, NULL));
    CHECK(avro_value_get_discriminant(&f, &disc));
    CHECK(avro_value_get_current_branch(&f, &branch));
    if (disc == 0) {
        CHECK(avro_value_get_null(&branch));
        s->checksum_all += 1;
    } else {
        touch_string(&branch, s);
    }
}

int main(int argc, char **argv) {
    const char *writer_path = NULL, *reader_path = NULL;
    long long records = 1000000;
    const char *env = getenv("RECORDS");
    if (env && *env) records = atoll(env);
    for (int a = 1; a < argc; a++) {
        if (strcmp(argv[a], "--records") == 0 && a + 1 < argc) {
            records = atoll(argv[++a]);
        } else if (argv[a][0] == '-') {
            fprintf(stderr, "usage: %s WRITER.avsc [READER.avsc] [--records N]\n", argv[0]);
            return 2;
        } else if (!writer_path) {
            writer_path = argv[a];
        } else if (!reader_path) {
            reader_path = argv[a];
        } else {
            fprintf(stderr, "usage: %s WRITER.avsc [READER.avsc] [--records N]\n", argv[0]);
            return 2;
        }
    }
    if (!writer_path) {
        fprintf(stderr, "usage: %s WRITER.avsc [READER.avsc] [--records N]\n", argv[0]);
        return 2;
    }
    if (records <= 0) die("--records / RECORDS must be > 0");
    const size_t N = (size_t)records;

    avro_schema_t wschema = load_schema(writer_path);
    avro_value_iface_t *wiface = avro_generic_class_from_schema(wschema);
    CHECK_PTR(wiface, "avro_generic_class_from_schema");
    avro_value_t value;
    CHECK(avro_generic_value_new(wiface, &value));
    if (avro_value_get_type(&value) != AVRO_RECORD) die("writer schema is not a record");
    {
        size_t nf;
        CHECK(avro_value_get_size(&value, &nf));
        if (nf != NFIELDS) die("writer schema must have 10 fields (fixtures/bench/row-v1.avsc)");
    }

    /* Strings prepared outside the timed loop. */
    strtab names = make_table(1000, "name-", "");
    strtab emails = make_table(5000, "user", "@example.com");
    strtab notes = make_table(10, "note ", "");
    size_t city_len[5];
    for (int k = 0; k < 5; k++) city_len[k] = strlen(CITIES[k]);

    /* Arena: encoded records back to back; offsets[i]..offsets[i+1] is record i. */
    size_t cap = N * 96 + 65536;
    char *arena = malloc(cap);
    size_t *offsets = malloc((N + 1) * sizeof(size_t));
    if (!arena || !offsets) die("out of memory (arena)");
    avro_writer_t writer = avro_writer_memory(arena, (int64_t)cap);
    CHECK_PTR(writer, "avro_writer_memory");

    /* ---- encode ---- */
    size_t off = 0;
    double t0 = now_s();
    for (size_t i = 0; i < N; i++) {
        avro_value_t f, branch;
        CHECK(avro_value_reset(&value));
        CHECK(avro_value_get_by_index(&value, F_ID, &f, NULL));
        CHECK(avro_value_set_long(&f, (int64_t)i * 7919));
        CHECK(avro_value_get_by_index(&value, F_ACCOUNT, &f, NULL));
        CHECK(avro_value_set_int(&f, (int32_t)(i % 100000)));
        size_t k = i % 1000;
        CHECK(avro_value_get_by_index(&value, F_NAME, &f, NULL));
        CHECK(avro_value_set_string_len(&f, names.s[k], names.len[k] + 1));
        k = i % 5000;
        CHECK(avro_value_get_by_index(&value, F_EMAIL, &f, NULL));
        CHECK(avro_value_set_string_len(&f, emails.s[k], emails.len[k] + 1));
        k = i % 5;
        CHECK(avro_value_get_by_index(&value, F_CITY, &f, NULL));
        CHECK(avro_value_set_string_len(&f, CITIES[k], city_len[k] + 1));
        CHECK(avro_value_get_by_index(&value, F_AMOUNT, &f, NULL));
        CHECK(avro_value_set_double(&f, (double)i * 0.25));
        CHECK(avro_value_get_by_index(&value, F_QUANTITY, &f, NULL));
        CHECK(avro_value_set_int(&f, (int32_t)(i % 100)));
        CHECK(avro_value_get_by_index(&value, F_CREATED, &f, NULL));
        CHECK(avro_value_set_long(&f, INT64_C(1700000000000) + (int64_t)i));
        CHECK(avro_value_get_by_index(&value, F_ACTIVE, &f, NULL));
        CHECK(avro_value_set_boolean(&f, i % 2 == 0));
        CHECK(avro_value_get_by_index(&value, F_NOTE, &f, NULL));
        if (i % 3 == 0) {
            CHECK(avro_value_set_branch(&f, 0, &branch));
            CHECK(avro_value_set_null(&branch));
        } else {
            k = i % 10;
            CHECK(avro_value_set_branch(&f, 1, &branch));
            CHECK(avro_value_set_string_len(&branch, notes.s[k], notes.len[k] + 1));
        }

        if (cap - off < 4096) { /* a record is < 200 bytes; grow well before running out */
            cap *= 2;
            char *grown = realloc(arena, cap);
            if (!grown) die("out of memory (arena grow)");
            arena = grown;
        }
        avro_writer_memory_set_dest(writer, arena + off, (int64_t)(cap - off));
        CHECK(avro_value_write(writer, &value));
        offsets[i] = off;
        off += (size_t)avro_writer_tell(writer);
    }
    offsets[N] = off;
    double t_encode = now_s() - t0;
    const size_t encoded_bytes = off;
    /* What of the arena is resident: the written bytes and the offsets (both fully touched). */
    const double arena_bytes = (double)encoded_bytes + (double)(N + 1) * sizeof(size_t);

    /* ---- decode ---- */
    avro_reader_t reader = avro_reader_memory(arena, (int64_t)encoded_bytes);
    CHECK_PTR(reader, "avro_reader_memory");
    sums dsum = {0, 0};
    size_t at10 = N / 10 ? N / 10 : 1;
    double rss10 = 0, rss100 = 0;
    t0 = now_s();
    for (size_t i = 0; i < N; i++) {
        avro_reader_memory_set_source(reader, arena + offsets[i], (int64_t)(offsets[i + 1] - offsets[i]));
        CHECK(avro_value_reset(&value));
        CHECK(avro_value_read(reader, &value));
        touch_record(&value, 0, &dsum);
        if (i + 1 == at10) rss10 = rss_bytes();
    }
    double t_decode = now_s() - t0;
    rss100 = rss_bytes();

    /* ---- resolving decode (writer v1 -> reader v2), optional ---- */
    double t_resolve = -1;
    sums rsum = {0, 0};
    if (reader_path) {
        avro_schema_t rschema = load_schema(reader_path);
        avro_value_iface_t *riface = avro_generic_class_from_schema(rschema);
        CHECK_PTR(riface, "avro_generic_class_from_schema (reader)");
        avro_value_iface_t *resolver = avro_resolved_writer_new(wschema, rschema);
        if (resolver == NULL) {
            /* Avro C 1.11 refuses a reader field that is missing from the writer, even with a default:
             * no resolving-decode figure for Avro C (a limitation of the library, not a failure here). */
            fprintf(stderr, "codec_avro_c: note: no resolving decode: avro_resolved_writer_new: %s\n", avro_strerror());
            printf("resolve_unsupported=%s\n", avro_strerror());
            avro_value_iface_decref(riface);
            avro_schema_decref(rschema);
            goto report;
        }
        avro_value_t rvalue, resolved;
        CHECK(avro_generic_value_new(riface, &rvalue));
        CHECK(avro_resolved_writer_new_value(resolver, &resolved));
        avro_resolved_writer_set_dest(&resolved, &rvalue);
        size_t bad_country = 0;
        t0 = now_s();
        for (size_t i = 0; i < N; i++) {
            avro_reader_memory_set_source(reader, arena + offsets[i], (int64_t)(offsets[i + 1] - offsets[i]));
            CHECK(avro_value_reset(&rvalue));
            CHECK(avro_value_read(reader, &resolved));
            touch_record(&rvalue, 1, &rsum);
            avro_value_t f;
            const char *p = NULL;
            size_t size = 0;
            if (avro_value_get_by_index(&rvalue, NFIELDS, &f, NULL) != 0 ||
                avro_value_get_string(&f, &p, &size) != 0 || p == NULL || size != 3 || memcmp(p, "NL", 3) != 0)
                bad_country++;
        }
        t_resolve = now_s() - t0;
        avro_resolved_writer_clear_dest(&resolved);
        avro_value_decref(&resolved);
        avro_value_decref(&rvalue);
        avro_value_iface_decref(resolver);
        avro_value_iface_decref(riface);
        avro_schema_decref(rschema);
        if (bad_country) {
            /* Avro C's resolver does not fill in reader defaults: say so rather than fake a figure. */
            fprintf(stderr,
                    "codec_avro_c: resolving decode: %zu of %zu records lack country=\"NL\" "
                    "(no country field in the reader schema, or its default was not applied)\n",
                    bad_country, N);
            printf("resolve_country_default_applied=false\n");
        } else {
            printf("resolve_country_default_applied=true\n");
        }
    }

report:
    printf("implementation=avro-c\n");
    printf("records=%zu\n", N);
    printf("encode_records_per_s=%.0f\n", (double)N / t_encode);
    printf("decode_records_per_s=%.0f\n", (double)N / t_decode);
    if (t_resolve >= 0) printf("resolve_records_per_s=%.0f\n", (double)N / t_resolve);
    printf("encode_s=%.3f\n", t_encode);
    printf("decode_s=%.3f\n", t_decode);
    printf("encoded_bytes=%zu\n", encoded_bytes);
    printf("arena_mb=%.1f\n", arena_bytes / 1048576.0);
    printf("rss_mb_at_10pct=%.1f\n", (rss10 - arena_bytes) / 1048576.0);
    printf("rss_mb_at_100pct=%.1f\n", (rss100 - arena_bytes) / 1048576.0);
    printf("peak_rss_mb=%.1f\n", peak_rss_mb());
    printf("checksum=%" PRIu64 "\n", dsum.checksum);
    printf("checksum_all=%" PRIu64 "\n", dsum.checksum_all);
    if (t_resolve >= 0) {
        printf("resolve_checksum=%" PRIu64 "\n", rsum.checksum);
        if (rsum.checksum != dsum.checksum || rsum.checksum_all != dsum.checksum_all) {
            fprintf(stderr, "codec_avro_c: resolving decode checksums differ from the plain decode\n");
            return 1;
        }
    }

    /* ---- release everything ---- */
    avro_reader_free(reader);
    avro_writer_free(writer);
    avro_value_decref(&value);
    avro_value_iface_decref(wiface);
    avro_schema_decref(wschema);
    free(arena);
    free(offsets);
    free_table(&names);
    free_table(&emails);
    free_table(&notes);
    return 0;
}
