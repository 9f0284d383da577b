/*
 * bert_unicode.h — per-code-point behaviour of Hugging Face `tokenizers`'
 * BertNormalizer and BertPreTokenizer, as probed from the reference itself.
 *
 * The reference (the Rust crate behind the `tokenizers` PyPI package) uses
 * Unicode category tables (crate unicode_categories) and NFD data (crate
 * unicode-normalization-alignments) older than utf8proc's, plus Rust std's
 * char::is_whitespace and char::to_lowercase. Rather than guess where those
 * differ from utf8proc, test/unicode/gen_bert_unicode.py asks the reference
 * about every code point and writes bert_unicode_data.c; the differences from
 * utf8proc are listed in docs/unicode-differences.md.
 */
#ifndef DM_BERT_UNICODE_H
#define DM_BERT_UNICODE_H

#include <stdint.h>

enum {
    DMI_U_CONTROL = 1,  /* clean_text removes it (Cc/Cf/Cn/Co/Cs per the
                           reference, minus \t \n \r; plus U+0000 and U+FFFD) */
    DMI_U_SPACE = 2,    /* char::is_whitespace (\t \n \r included): clean_text
                           maps it to ' ', the pre-tokenizer splits on it */
    DMI_U_PUNCT = 4,    /* BertPreTokenizer isolates it (ASCII punctuation or
                           a P* category per the reference) */
    DMI_U_CJK = 8,      /* handle_chinese_chars puts spaces around it */
    DMI_U_MAPPED = 16,  /* accent stripping, lowercasing or both change it */
    DMI_U_REORDER = 32, /* a mark (below) that accent stripping keeps */
    DMI_U_MARK = 64     /* non-zero canonical combining class per the
                           reference: NFD sorts runs of these by class */
};

enum {
    DMI_MAP_STRIP = 0, /* NFD, then drop Mn (strip_accents only) */
    DMI_MAP_LOWER = 1, /* char::to_lowercase (lowercase only) */
    DMI_MAP_BOTH = 2,  /* strip, then lowercase every resulting char */
    DMI_MAP_NFD = 3    /* the reference's canonical decomposition */
};

/* Two-stage flag table: block index per 256 code points, then the flags of
 * each code point in the (deduplicated) blocks. */
extern const uint16_t dmi_bert_stage1[0x110000 >> 8];
extern const uint8_t dmi_bert_stage2[];

/* Flags of code point CP (< 0x110000; surrogates report DMI_U_CONTROL). */
static inline uint8_t dmi_bert_uflags(uint32_t cp)
{
    return dmi_bert_stage2[((uint32_t)dmi_bert_stage1[cp >> 8] << 8) | (cp & 0xFF)];
}

/* For a DMI_U_MAPPED code point: sets *SEQ to its image under MODE (a
 * DMI_MAP_* value) and returns the number of code points (0 when the mode
 * deletes it). For any other code point, returns 1 with *SEQ pointing at a
 * copy of CP. */
int dmi_bert_umap(uint32_t cp, int mode, const uint32_t **seq);

/* Canonical combining class of a DMI_U_MARK code point (0 otherwise). */
uint8_t dmi_bert_ccc(uint32_t cp);

#endif
