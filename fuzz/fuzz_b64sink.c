/* fuzz_b64sink: the strict base64 sink against two reference decoders, a
 * plain strict one written here and libb64's.
 *
 * Input: one mode byte, then either base64 text, or (mode bit 0) bytes that
 * the harness encodes itself and then optionally damages, so that most runs
 * reach the decoder and not only the first invalid character.  The same
 * text goes to memory sinks in one piece and in pseudo-random pieces
 * (chosen from the input itself), with and without a size limit; every
 * outcome must agree with the reference and with each other. */
#include "fuzz.h"
#include <b64/cdecode.h>
#include "b64sink.h"

static const char ALPHABET[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int value_of(uint8_t c) {
  const char *p = c ? strchr(ALPHABET, c) : NULL;
  return p ? (int)(p - ALPHABET) : -1;
}

static void encode(const uint8_t *in, size_t n, fuzz_buf *out) {
  size_t i;
  for (i = 0; i + 3 <= n; i += 3) {
    uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
    char q[4] = {ALPHABET[v >> 18], ALPHABET[(v >> 12) & 63], ALPHABET[(v >> 6) & 63], ALPHABET[v & 63]};
    fuzz_buf_add(out, q, 4);
  }
  if (n - i == 1) {
    uint32_t v = (uint32_t)in[i] << 16;
    char q[4] = {ALPHABET[v >> 18], ALPHABET[(v >> 12) & 63], '=', '='};
    fuzz_buf_add(out, q, 4);
  } else if (n - i == 2) {
    uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
    char q[4] = {ALPHABET[v >> 18], ALPHABET[(v >> 12) & 63], ALPHABET[(v >> 6) & 63], '='};
    fuzz_buf_add(out, q, 4);
  }
}

/* RFC 4648 without leniency: alphabet only, length a multiple of 4, '='
 * only as the last one or two characters. 0 and the bytes, or -1. */
static int reference_decode(const uint8_t *t, size_t n, fuzz_buf *out) {
  size_t data = n, i, pad;
  uint32_t acc = 0;
  int bits = 0;
  if (n % 4 != 0) return -1;
  while (data > 0 && t[data - 1] == '=') data--;
  pad = n - data;
  if (pad > 2) return -1;
  for (i = 0; i < data; i++) {
    int v = value_of(t[i]);
    if (v < 0) return -1;
    acc = acc << 6 | (uint32_t)v;
    bits += 6;
    if (bits >= 8) {
      uint8_t byte;
      bits -= 8;
      byte = (uint8_t)(acc >> bits);
      fuzz_buf_add(out, &byte, 1);
      acc &= (1u << bits) - 1;
    }
  }
  /* the padding must fill the last quantum exactly */
  if (pad > 0 && data % 4 != 4 - pad) return -1;
  return 0;
}

/* libb64 over text the strict reference accepted, in pieces of at most
 * 4096 characters (its length is an int). */
static void check_libb64(const fuzz_buf *text, const fuzz_buf *expected) {
  base64_decodestate state;
  char *out = (char *)malloc(text->len / 4 * 3 + 8);
  size_t off = 0, total = 0;
  FUZZ_CHECK(out != NULL);
  base64_init_decodestate(&state);
  while (off < text->len) {
    size_t take = text->len - off > 4096 ? 4096 : text->len - off;
    total += (size_t)base64_decode_block(text->p + off, (int)take, out + total, &state);
    off += take;
  }
  FUZZ_CHECK(total == expected->len && (total == 0 || memcmp(out, expected->p, total) == 0));
  free(out);
}

typedef struct outcome {
  int rc;
  char msg[400];
  fuzz_buf bytes;
  size_t size;
} outcome;

static void run_sink(const uint8_t *text, size_t n, size_t limit, uint64_t seed, int chunked, outcome *o) {
  gi_sink *s = gi_sink_new_memory(limit);
  size_t off = 0, len = 0;
  char *bytes;
  const char *data;
  FUZZ_CHECK(s != NULL);
  o->rc = GI_SINK_OK;
  while (off < n || !chunked) {
    size_t take = chunked ? fuzz_chunk(&seed, n - off) : n;
    int rc = gi_sink_write_b64(s, n ? (const char *)text + off : "", take);
    off += take;
    if (rc != GI_SINK_OK) {
      o->rc = rc;
      /* sticky: every later call says the same */
      FUZZ_CHECK(gi_sink_write_b64(s, "AAAA", 4) == rc);
      FUZZ_CHECK(gi_sink_finish(s) == rc);
      break;
    }
    if (!chunked) break;
  }
  if (o->rc == GI_SINK_OK) o->rc = gi_sink_finish(s);
  FUZZ_CHECK((o->rc == GI_SINK_OK) == (gi_sink_message(s)[0] == '\0'));
  snprintf(o->msg, sizeof o->msg, "%s", gi_sink_message(s));
  o->size = gi_sink_size(s);
  data = gi_sink_data(s, &len);
  FUZZ_CHECK(len == o->size);
  FUZZ_CHECK(gi_sink_commit(s) == o->rc); /* memory: nothing to rename */
  bytes = gi_sink_take(s, &len);
  FUZZ_CHECK(bytes == data);
  fuzz_buf_add(&o->bytes, bytes, len);
  free(bytes);
  gi_sink_free(s);
}

/* How much was decoded before a limit stopped the sink depends on the
 * pieces (the check comes before each piece); everything else must not. */
static int same_outcome(const outcome *a, const outcome *b) {
  return a->rc == b->rc && strcmp(a->msg, b->msg) == 0 && (a->rc == GI_SINK_ELIMIT || a->size == b->size) &&
         (a->rc != GI_SINK_OK || fuzz_buf_equal(&a->bytes, &b->bytes));
}

/* Raw writes in pieces must give back exactly the bytes. */
static void check_raw(const fuzz_buf *bytes, uint64_t seed) {
  gi_sink *s = gi_sink_new_memory(0);
  size_t off = 0, len = 0;
  const char *data;
  FUZZ_CHECK(s != NULL);
  while (off < bytes->len) {
    size_t take = fuzz_chunk(&seed, bytes->len - off);
    FUZZ_CHECK(gi_sink_write_raw(s, bytes->p + off, take) == GI_SINK_OK);
    off += take;
  }
  FUZZ_CHECK(gi_sink_finish(s) == GI_SINK_OK);
  data = gi_sink_data(s, &len);
  FUZZ_CHECK(len == bytes->len && (len == 0 || memcmp(data, bytes->p, len) == 0));
  gi_sink_free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_buf text = {0}, expected = {0};
  outcome whole = {0}, pieces = {0}, whole_limited = {0}, pieces_limited = {0};
  uint64_t seed = fuzz_hash(data, size);
  uint8_t mode;
  int ref;
  size_t limit;
  if (size == 0) return 0;
  mode = data[0];
  if (mode & 1) {
    encode(data + 1, size - 1, &text);
    switch ((mode >> 1) & 3) {
      case 1: /* padding dropped, as some encoders do */
        while (text.len > 0 && text.p[text.len - 1] == '=') text.len--;
        break;
      case 2: /* one character replaced by a byte of the input */
        if (text.len > 0) text.p[seed % text.len] = (char)data[size - 1];
        break;
      case 3: /* one character too many */
        fuzz_buf_add(&text, &data[size - 1], 1);
        break;
      default:
        break;
    }
  } else {
    fuzz_buf_add(&text, data + 1, size - 1);
  }

  ref = reference_decode((const uint8_t *)text.p, text.len, &expected);
  run_sink((const uint8_t *)text.p, text.len, 0, seed, 0, &whole);
  run_sink((const uint8_t *)text.p, text.len, 0, seed, 1, &pieces);
  if (ref == 0) {
    FUZZ_CHECK(whole.rc == GI_SINK_OK);
    FUZZ_CHECK(fuzz_buf_equal(&whole.bytes, &expected));
    FUZZ_CHECK(whole.size == expected.len);
    check_raw(&expected, seed);
    check_libb64(&text, &expected);
  } else {
    FUZZ_CHECK(whole.rc == GI_SINK_EBASE64);
  }
  FUZZ_CHECK(same_outcome(&whole, &pieces));

  /* a limit around the decoded size */
  limit = ref == 0 ? (size_t)(seed >> 16) % (expected.len + 3) : (size_t)(seed >> 16) % (text.len + 3);
  if (limit > 0) {
    run_sink((const uint8_t *)text.p, text.len, limit, seed ^ 0x5555, 0, &whole_limited);
    run_sink((const uint8_t *)text.p, text.len, limit, seed ^ 0xaaaa, 1, &pieces_limited);
    if (ref == 0) {
      FUZZ_CHECK(whole_limited.rc == (expected.len > limit ? GI_SINK_ELIMIT : GI_SINK_OK));
    } else {
      FUZZ_CHECK(whole_limited.rc == GI_SINK_EBASE64 || whole_limited.rc == GI_SINK_ELIMIT);
    }
    FUZZ_CHECK(whole_limited.size <= limit);
    FUZZ_CHECK(same_outcome(&whole_limited, &pieces_limited));
  }

  fuzz_buf_free(&text);
  fuzz_buf_free(&expected);
  fuzz_buf_free(&whole.bytes);
  fuzz_buf_free(&pieces.bytes);
  fuzz_buf_free(&whole_limited.bytes);
  fuzz_buf_free(&pieces_limited.bytes);
  return 0;
}
