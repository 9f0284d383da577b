/* test_pii_detect.c — the dm_pii handle and dm_pii_detect: every built-in
 * type's positives and look-alike negatives, boundaries, byte offsets after
 * multi-byte text, context words, min_score, user patterns, deny-lists, bad
 * input (patterns, runaway backtracking, invalid UTF-8, options, NULLs), a
 * 100 MB line (DM_BIG_LINE_MB sets the size: the ASan run uses less) and two
 * threads sharing one handle. */
#include "datamodel.h"
#include "privacy/pii_impl.h"
#include "privacy/recognizers.h"
#include "../unit/check.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The entities of TEXT as "TYPE:value|TYPE:value" (a static buffer). */
static const char *dets(const dm_pii *p, const char *text)
{
    static char buf[4096];
    dm_pii_entity *e = NULL;
    size_t n = 0;
    buf[0] = 0;
    if (dm_pii_detect(p, text, strlen(text), &e, &n) != DM_OK) {
        snprintf(buf, sizeof buf, "ERROR %s", dm_last_error());
        return buf;
    }
    size_t at = 0;
    for (size_t i = 0; i < n && at < sizeof buf; i++)
        at += (size_t)snprintf(buf + at, sizeof buf - at, "%s%s:%.*s", i ? "|" : "", e[i].type,
                               (int)(e[i].end - e[i].start), text + e[i].start);
    dm_free(e);
    return buf;
}

#define EXPECT(p, text, want)                                                                       \
    do {                                                                                            \
        const char *got_ = dets((p), (text));                                                       \
        if (strcmp(got_, (want)) == 0) {                                                            \
            check_passed++;                                                                         \
        } else {                                                                                    \
            check_failed++;                                                                         \
            fprintf(stderr, "%s:%d: on \"%s\"\n  want \"%s\"\n  got  \"%s\"\n", __FILE__, __LINE__, \
                    (text), (want), got_);                                                          \
        }                                                                                           \
    } while (0)

/* The score of the only entity of TEXT (-1 when not exactly one). */
static double score_of(const dm_pii *p, const char *text)
{
    dm_pii_entity *e = NULL;
    size_t n = 0;
    if (dm_pii_detect(p, text, strlen(text), &e, &n) != DM_OK || n != 1) {
        dm_free(e);
        return -1;
    }
    double s = e[0].score;
    dm_free(e);
    return s;
}

static void test_email_url(const dm_pii *p)
{
    EXPECT(p, "write to john.smith@example.com today", "EMAIL_ADDRESS:john.smith@example.com");
    EXPECT(p, "邮箱：zhang_san+news@mail.qq.com。", "EMAIL_ADDRESS:zhang_san+news@mail.qq.com");
    EXPECT(p, "Mail a.b-c@sub.example.co.uk.", "EMAIL_ADDRESS:a.b-c@sub.example.co.uk");
    EXPECT(p, "icon@2x.png and .john@example.com and jo..hn@example.com", "");
    EXPECT(p, "user@localhost or @handle or a@b", "");
    EXPECT(p, "see https://example.com/path?q=1&r=2#top, then", "URL:https://example.com/path?q=1&r=2#top");
    EXPECT(p, "(visit www.example.org/a/b.html).", "URL:www.example.org/a/b.html");
    EXPECT(p, "wiki https://en.wikipedia.org/wiki/Foo_(bar) ok", "URL:https://en.wikipedia.org/wiki/Foo_(bar)");
    EXPECT(p, "访问http://例子.中国 or ftp://files.example.net/x.zip了解", "URL:ftp://files.example.net/x.zip");
    EXPECT(p, "HTTP://EXAMPLE.COM:8080/A", "URL:HTTP://EXAMPLE.COM:8080/A");
    EXPECT(p, "link http://192.168.1.20:8000/api done", "URL:http://192.168.1.20:8000/api");
    EXPECT(p, "example.com is a domain, not a URL; nor is http://nohost", "");
    /* the TLD is the Public Suffix List's, in ASCII, xn-- or Unicode form;
     * a TLD ends where its script does */
    EXPECT(p, "config@v1.local, x@y.zz, a@b.c2, a@b.com-x", "");
    EXPECT(p, "a@xn--d1acufc.xn--p1ai and user@xn--80ak6aa92e.com",
           "EMAIL_ADDRESS:a@xn--d1acufc.xn--p1ai|EMAIL_ADDRESS:user@xn--80ak6aa92e.com");
    EXPECT(p, "почта user@пример.рф, или user@пример.рфы", "EMAIL_ADDRESS:user@пример.рф");
    EXPECT(p, "邮箱abc@例子.中国联系我，或abc@qq.com谢谢", "EMAIL_ADDRESS:abc@例子.中国|EMAIL_ADDRESS:abc@qq.com");
    EXPECT(p, "user@mail.ruспасибо USER@EXAMPLE.COM", "EMAIL_ADDRESS:user@mail.ru|EMAIL_ADDRESS:USER@EXAMPLE.COM");
    /* a domain label does not run on across the CJK divide; a non-ASCII
     * local part is not taken in part */
    EXPECT(p, "邮箱abc@163.com或访问www.example.cn", "EMAIL_ADDRESS:abc@163.com|URL:www.example.cn");
    EXPECT(p, "mail jürgen@münchen.de or j@münchen.de", "EMAIL_ADDRESS:j@münchen.de");
    /* file-extension TLDs after a version-like label are file names */
    EXPECT(p, "import module@v2.py, lib@1.2.rs, icon@2x.md and pkg@V10.zip", "");
    EXPECT(p, "contact@empresa.com.py or jan@wp.pl or dev@rust.rs",
           "EMAIL_ADDRESS:contact@empresa.com.py|EMAIL_ADDRESS:jan@wp.pl|EMAIL_ADDRESS:dev@rust.rs");
    EXPECT(p, "mail 12345@163.com or v2@example.com", "EMAIL_ADDRESS:12345@163.com|EMAIL_ADDRESS:v2@example.com");
    /* an e-mail inside a URL: the longer URL wins the tie at 1.0 */
    EXPECT(p, "go https://x.example.com/?u=a@b.com now", "URL:https://x.example.com/?u=a@b.com");
}

static void test_phone(const dm_pii *p)
{
    EXPECT(p, "电话13812345678联系", "PHONE_NUMBER:13812345678");
    EXPECT(p, "手机：138 1234 5678，或 139-8765-4321", "PHONE_NUMBER:138 1234 5678|PHONE_NUMBER:139-8765-4321");
    EXPECT(p, "+86 138 1234 5678 / 0086 13912345678 / +8613812345678",
           "PHONE_NUMBER:+86 138 1234 5678|PHONE_NUMBER:0086 13912345678|PHONE_NUMBER:+8613812345678");
    EXPECT(p, "Call (415) 555-2671 or 415-555-2671 or 415.555.2671",
           "PHONE_NUMBER:(415) 555-2671|PHONE_NUMBER:415-555-2671|PHONE_NUMBER:415.555.2671");
    EXPECT(p, "call +1 (415) 555-2671 or 1-800-275-2273", "PHONE_NUMBER:+1 (415) 555-2671|PHONE_NUMBER:1-800-275-2273");
    EXPECT(p, "UK: +44 20 7946 0958, 020 7946 0958, +44 (0)20 7946 0958, 07700 900123",
           "PHONE_NUMBER:+44 20 7946 0958|PHONE_NUMBER:020 7946 0958|PHONE_NUMBER:+44 (0)20 7946 0958|"
           "PHONE_NUMBER:07700 900123");
    EXPECT(p, "Paris +33 1 23 45 67 89, Berlin +49 30 12345678", "PHONE_NUMBER:+33 1 23 45 67 89|PHONE_NUMBER:+49 30 12345678");
    EXPECT(p, "北京 010-62345678", "PHONE_NUMBER:010-62345678");
    /* UK mobiles: the part after 07xxx may begin with 0 or 1; after a
     * geographic area code it may not */
    EXPECT(p, "mobile 07911 123456 or 07700 100200", "PHONE_NUMBER:07911 123456|PHONE_NUMBER:07700 100200");
    EXPECT(p, "fax 020 1234 5678, (011) 035-9129", "");
    /* countries that keep the leading 0 after the code (Italy, San Marino,
     * Côte d'Ivoire); elsewhere a 0 there is a trunk prefix */
    EXPECT(p, "Roma +39 06 6982 3456, 0039 02 1234 5678, +378 0549 882555, +225 07 12 34 56 78",
           "PHONE_NUMBER:+39 06 6982 3456|PHONE_NUMBER:0039 02 1234 5678|PHONE_NUMBER:+378 0549 882555|"
           "PHONE_NUMBER:+225 07 12 34 56 78");
    EXPECT(p, "+33 01 23 45 67 89 / +49 030 1234567", "");
    EXPECT(p, "+39 312 345 6789 / +44 20 7946 0958", "PHONE_NUMBER:+39 312 345 6789|PHONE_NUMBER:+44 20 7946 0958");
    /* a phone after a date in a log line */
    EXPECT(p, "2023-11-20 13812345678 ok", "PHONE_NUMBER:13812345678");
    /* look-alikes: glued to letters or digits, decimals, dates, too short,
     * invalid area codes, unassigned country codes */
    EXPECT(p, "x13812345678 13812345678a 3.13812345678 12813812345678", "");
    EXPECT(p, "on 2023-11-20, at 10:30, count 1234567, (123) 456-7890, 911-555-1234", "");
    EXPECT(p, "+999 1234 5678 and +1 123 456 7890", "");
    EXPECT(p, "order 12345678901 of 2023", "");
    /* bare 10-digit North American numbers need a context word */
    EXPECT(p, "ref 4155552671", "");
    EXPECT(p, "phone: 4155552671", "PHONE_NUMBER:4155552671");
}

static void test_card(const dm_pii *p)
{
    EXPECT(p, "card 4111 1111 1111 1111 exp", "CREDIT_CARD:4111 1111 1111 1111");
    EXPECT(p, "4111-1111-1111-1111", "CREDIT_CARD:4111-1111-1111-1111");
    EXPECT(p, "卡号5500000000000004，", "CREDIT_CARD:5500000000000004");
    EXPECT(p, "amex 3782 822463 10005 and 371449635398431", "CREDIT_CARD:3782 822463 10005|CREDIT_CARD:371449635398431");
    EXPECT(p, "2-series 2221000000000009, discover 6011111111111117, jcb 3530111333300000",
           "CREDIT_CARD:2221000000000009|CREDIT_CARD:6011111111111117|CREDIT_CARD:3530111333300000");
    /* Luhn failures, unknown prefixes, mixed separators, wrong lengths */
    EXPECT(p, "4111 1111 1111 1112, 1234567812345670, 4111-1111 1111-1111, 411111111111111", "");
    EXPECT(p, "订单号 2023112012345678", "");
    EXPECT(p, "41111111111111111", ""); /* 17 digits: Visa has 13, 16 or 19 */
    /* a card in a longer run of digit groups: the card's groups only */
    EXPECT(p, "card 4111 1111 1111 1111 09/27 123", "CREDIT_CARD:4111 1111 1111 1111");
    EXPECT(p, "card 4111111111111111 0927", "CREDIT_CARD:4111111111111111");
    EXPECT(p, "cards 4111 1111 1111 1111 5500 0000 0000 0004",
           "CREDIT_CARD:4111 1111 1111 1111|CREDIT_CARD:5500 0000 0000 0004");
    EXPECT(p, "价格100 6011 3688 6159 8527", "CREDIT_CARD:6011 3688 6159 8527");
    EXPECT(p, "1 2 3 4111 1111 1111 1111 5 6", "CREDIT_CARD:4111 1111 1111 1111");
    EXPECT(p, "4111-1111-1111-1111 0927 and 5500 0000 0000 0004 123",
           "CREDIT_CARD:4111-1111-1111-1111|CREDIT_CARD:5500 0000 0000 0004");
    /* three cards, past the pattern's group limit */
    EXPECT(p, "4111 1111 1111 1111 5500 0000 0000 0004 6011 1111 1111 1117",
           "CREDIT_CARD:4111 1111 1111 1111|CREDIT_CARD:5500 0000 0000 0004|CREDIT_CARD:6011 1111 1111 1117");
    /* still refused: a 4-digit group beside a card printed in fours (a
     * USPS tracking number holds such runs), a last group that makes a
     * 19-digit Visa failing Luhn, a token such as an IBAN's "AE07" */
    EXPECT(p, "9400 4111 1111 1111 1111 11, 4111 1111 1111 1111 0927, 1111 2222 4111 1111 1111 1111 3333", "");
    EXPECT(p, "4111 1111 1111 1111 123, AE07 4111 1111 1111 1111", "");
}

static void test_iban_ssn_id_ip(const dm_pii *p)
{
    EXPECT(p, "IBAN DE89 3704 0044 0532 0130 00.", "IBAN_CODE:DE89 3704 0044 0532 0130 00");
    EXPECT(p, "GB82WEST12345698765432 AND FR1420041010050500013M02606",
           "IBAN_CODE:GB82WEST12345698765432|IBAN_CODE:FR1420041010050500013M02606");
    EXPECT(p, "账户：NL91ABNA0417164300", "IBAN_CODE:NL91ABNA0417164300");
    EXPECT(p, "DE89 3704 0044 0532 0130 01 GB82WEST1234569876543 DE8937040044053201300 DE89370400440532013000X", "");
    EXPECT(p, "DE89 37040044 0532 0130 00", "");
    EXPECT(p, "SSN 536-22-4816 or 536 22 4816", "US_SSN:536-22-4816|US_SSN:536 22 4816");
    EXPECT(p, "ssn: 536224816", "US_SSN:536224816");
    EXPECT(p, "no: 536224816", ""); /* bare 9 digits: 0.3 < 0.4 */
    EXPECT(p, "000-12-3456 666-12-3456 912-34-5678 536-00-4816 536-22-0000 123-45-6789 111-11-1111 536-22 4816", "");
    EXPECT(p, "身份证号11010519491231002X。", "CN_RESIDENT_ID:11010519491231002X");
    EXPECT(p, "id 110105194912310021 or 11010519491231002x", "CN_RESIDENT_ID:11010519491231002x"); /* wrong check digit */
    EXPECT(p, "bad date 110105194902300020, province 991105194912310024, future 110105209912310029, 1900 not leap 440524190002290014", "");
    EXPECT(p, "IP 192.168.0.1, 10.0.0.1 and 255.255.255.255", "IP_ADDRESS:192.168.0.1|IP_ADDRESS:10.0.0.1|IP_ADDRESS:255.255.255.255");
    EXPECT(p, "v1.2.3.4 10.0.0 1.2.3.4.5 256.1.1.1 192.168.01.1 3.14", "");
    EXPECT(p, "ipv6 2001:db8::1, ::1 and fe80::1ff:fe23:4567:890a.",
           "IP_ADDRESS:2001:db8::1|IP_ADDRESS:::1|IP_ADDRESS:fe80::1ff:fe23:4567:890a");
    EXPECT(p, "2001:0db8:85a3:0000:0000:8a2e:0370:7334 ::ffff:192.0.2.128",
           "IP_ADDRESS:2001:0db8:85a3:0000:0000:8a2e:0370:7334|IP_ADDRESS:::ffff:192.0.2.128");
    EXPECT(p, "at 12:30:45, MAC 00:1A:2B:3C:4D:5E, std::vector, a::b", "");
    EXPECT(p, "ISBN 978-3-16-148410-0, price ¥1,299.00, version 10.0.0", "");
    /* a dotted quad right after a version word is a version */
    EXPECT(p, "firmware 3.2.1.4, Version: 10.0.0.1, ver. 1.2.3.4, build #2.0.1.7, 版本：3.2.1.4", "");
    EXPECT(p, "server at 10.0.0.1, IP 3.2.1.4, driver 10.0.0.2, lever 3.2.1.5",
           "IP_ADDRESS:10.0.0.1|IP_ADDRESS:3.2.1.4|IP_ADDRESS:10.0.0.2|IP_ADDRESS:3.2.1.5");
}

static void test_offsets_and_scores(void)
{
    dm_pii *p = NULL;
    CHECK(dm_pii_create(NULL, &p) == DM_OK);
    const char *text = "联系人张三，手机：13812345678，邮箱 z@qq.com";
    dm_pii_entity *e = NULL;
    size_t n = 0;
    CHECK(dm_pii_detect(p, text, strlen(text), &e, &n) == DM_OK);
    CHECK(n == 2);
    if (n == 2) {
        size_t at = (size_t)(strstr(text, "138") - text);
        CHECK(e[0].start == at && e[0].end == at + 11 && !strcmp(e[0].type, "PHONE_NUMBER"));
        CHECK(fabs(e[0].score - 0.85) < 1e-9); /* 0.5 bare mobile + 0.35 for 手机 */
        at = (size_t)(strstr(text, "z@") - text);
        CHECK(e[1].start == at && e[1].end == strlen(text) && !strcmp(e[1].type, "EMAIL_ADDRESS"));
    }
    dm_free(e);
    /* context raises, within ~50 bytes before only, whole words */
    CHECK(fabs(score_of(p, "call 415-555-2671") - 0.95) < 1e-9);
    CHECK(fabs(score_of(p, "see 415-555-2671") - 0.6) < 1e-9);
    CHECK(fabs(score_of(p, "hotel 415-555-2671") - 0.6) < 1e-9);
    CHECK(fabs(score_of(p, "phone, then a very long stretch of words here...... 415-555-2671") - 0.6) < 1e-9);
    CHECK(fabs(score_of(p, "server ip 10.1.2.3") - 0.95) < 1e-9);
    CHECK(fabs(score_of(p, "SSN 536 22 4816") - 0.85) < 1e-9);
    dm_pii_free(p);

    /* without context, and with a higher min_score */
    dm_pii_options o;
    dm_pii_options_default(&o);
    CHECK(o.use_context == 1 && o.min_score == 0.4 && o.match_limit == 1000000 && o.invalid_utf8 == DM_UTF8_ERROR);
    o.use_context = 0;
    CHECK(dm_pii_create(&o, &p) == DM_OK);
    CHECK(fabs(score_of(p, "call 415-555-2671") - 0.6) < 1e-9);
    EXPECT(p, "ssn: 536224816", "");
    dm_pii_free(p);
    dm_pii_options_default(&o);
    o.min_score = 0.65;
    CHECK(dm_pii_create(&o, &p) == DM_OK);
    EXPECT(p, "see 415-555-2671, 10.1.2.3, a@b.com", "EMAIL_ADDRESS:a@b.com");
    EXPECT(p, "call 415-555-2671", "PHONE_NUMBER:415-555-2671");
    dm_pii_free(p);
    /* only some types */
    const char *types[] = {"EMAIL_ADDRESS", "IP_ADDRESS", "EMAIL_ADDRESS"};
    dm_pii_options_default(&o);
    o.types = types, o.n_types = 3;
    CHECK(dm_pii_create(&o, &p) == DM_OK);
    EXPECT(p, "a@b.com 13812345678 10.0.0.1", "EMAIL_ADDRESS:a@b.com|IP_ADDRESS:10.0.0.1");
    dm_pii_free(p);
    o.n_types = 0; /* an empty list: no built-in type, user recognisers only */
    CHECK(dm_pii_create(&o, &p) == DM_OK);
    EXPECT(p, "a@b.com 13812345678", "");
    dm_pii_free(p);
}

static int only_even(const char *m, size_t len, void *user)
{
    (*(int *)user)++;
    return (m[len - 1] - '0') % 2 == 0;
}

static void test_user_recognisers(void)
{
    dm_pii *p = NULL;
    CHECK(dm_pii_create(NULL, &p) == DM_OK);
    int calls = 0;
    const char *ctx[] = {"Employee", "工号"};
    CHECK(dm_pii_add_pattern(p, "EMPLOYEE_ID", "\\bEMP-\\d{6}\\b", 0.5, only_even, &calls, ctx, 2) == DM_OK);
    EXPECT(p, "EMP-123456 EMP-123457 xEMP-123458", "EMPLOYEE_ID:EMP-123456");
    CHECK(calls == 2);
    CHECK(fabs(score_of(p, "工号 EMP-123456") - 0.85) < 1e-9);
    CHECK(fabs(score_of(p, "employee EMP-123456") - 0.85) < 1e-9);
    CHECK(fabs(score_of(p, "EMP-123456") - 0.5) < 1e-9);
    /* a built-in name adds to that type; Unicode properties work */
    CHECK(dm_pii_add_pattern(p, "PHONE_NUMBER", "\\b\\d{3}-\\d{4}\\b", 0.45, NULL, NULL, NULL, 0) == DM_OK);
    EXPECT(p, "dial 555-1234", "PHONE_NUMBER:555-1234");
    CHECK(dm_pii_add_pattern(p, "CJK_NAME", "王\\p{Han}{1,2}(?=先生)", 0.9, NULL, NULL, NULL, 0) == DM_OK);
    EXPECT(p, "请王小明先生到前台", "CJK_NAME:王小明");
    /* a pattern matching the empty string finds nothing but does not hang */
    CHECK(dm_pii_add_pattern(p, "EMPTY", "x*", 0.9, NULL, NULL, NULL, 0) == DM_OK);
    EXPECT(p, "abc", "");

    /* deny-lists: whole words, any case; CJK words anywhere */
    const char *names[] = {"John Smith", "Alice", "O'Brien", "张伟", "王芳"};
    CHECK(dm_pii_add_deny_list(p, "PERSON", names, 5, 0.8) == DM_OK);
    EXPECT(p, "JOHN SMITH met alice and Mr. o'brien", "PERSON:JOHN SMITH|PERSON:alice|PERSON:o'brien");
    EXPECT(p, "Alicent, Malice, alice_b, alice2", "");
    EXPECT(p, "我叫张伟，她是王芳同学", "PERSON:张伟|PERSON:王芳");
    EXPECT(p, "联系Alice吧", "PERSON:Alice"); /* Latin word next to CJK is whole */
    const char *longer[] = {"John", "John Smith Jr"};
    CHECK(dm_pii_add_deny_list(p, "PERSON", longer, 2, 0.8) == DM_OK);
    EXPECT(p, "John Smith Jr.", "PERSON:John Smith Jr");
    dm_pii_free(p);

    /* a big deny-list is split into several patterns */
    CHECK(dm_pii_create(NULL, &p) == DM_OK);
    size_t nw = 5000;
    char **words = malloc(nw * sizeof *words);
    for (size_t i = 0; i < nw; i++) {
        words[i] = malloc(16);
        snprintf(words[i], 16, "name%zu", i);
    }
    CHECK(dm_pii_add_deny_list(p, "NAME", (const char *const *)words, nw, 0.7) == DM_OK);
    EXPECT(p, "name0 name4999 name5000 name17", "NAME:name0|NAME:name4999|NAME:name17");
    for (size_t i = 0; i < nw; i++) free(words[i]);
    free(words);
    dm_pii_free(p);
}

static void test_bad_input(void)
{
    dm_pii *p = NULL;
    dm_pii_options o;
    CHECK_FAILS(dm_pii_create(NULL, NULL), DM_ERR_INVALID_ARGUMENT, "out is NULL");
    dm_pii_options_default(&o);
    o.struct_size = 0;
    CHECK_FAILS(dm_pii_create(&o, &p), DM_ERR_INVALID_ARGUMENT, "struct_size is 0");
    const char *bad_types[] = {"EMAIL_ADDRESS", "PASSPORT"};
    dm_pii_options_default(&o);
    o.types = bad_types, o.n_types = 2;
    CHECK_FAILS(dm_pii_create(&o, &p), DM_ERR_INVALID_ARGUMENT, "types[1] is \"PASSPORT\"");
    CHECK_FAILS(dm_pii_create(&o, &p), DM_ERR_INVALID_ARGUMENT, "EMAIL_ADDRESS, PHONE_NUMBER, CREDIT_CARD");
    o.types = NULL, o.n_types = 1;
    CHECK_FAILS(dm_pii_create(&o, &p), DM_ERR_INVALID_ARGUMENT, "types is NULL but n_types is 1");
    dm_pii_options_default(&o);
    o.min_score = 1.5;
    CHECK_FAILS(dm_pii_create(&o, &p), DM_ERR_INVALID_ARGUMENT, "min_score is 1.5");
    o.min_score = NAN;
    CHECK_FAILS(dm_pii_create(&o, &p), DM_ERR_INVALID_ARGUMENT, "min_score");
    dm_pii_options_default(&o);
    o.threads = -1;
    CHECK_FAILS(dm_pii_create(&o, &p), DM_ERR_INVALID_ARGUMENT, "threads is -1");
    dm_pii_options_default(&o);
    o.match_limit = 0;
    CHECK_FAILS(dm_pii_create(&o, &p), DM_ERR_INVALID_ARGUMENT, "match_limit is 0");
    dm_pii_options_default(&o);
    o.invalid_utf8 = DM_UTF8_SKIP_ROW;
    CHECK_FAILS(dm_pii_create(&o, &p), DM_ERR_INVALID_ARGUMENT, "DM_UTF8_SKIP_ROW");
    o.invalid_utf8 = (dm_invalid_utf8)7;
    CHECK_FAILS(dm_pii_create(&o, &p), DM_ERR_INVALID_ARGUMENT, "invalid_utf8 is 7");
    dm_pii_options_default(&o);
    o.use_context = 2;
    CHECK_FAILS(dm_pii_create(&o, &p), DM_ERR_INVALID_ARGUMENT, "use_context is 2");
    CHECK(p == NULL);

    CHECK(dm_pii_create(NULL, &p) == DM_OK);
    dm_pii_entity *e = (dm_pii_entity *)1;
    size_t n = 7;
    CHECK(dm_pii_detect(p, "", 0, &e, &n) == DM_OK && e == NULL && n == 0);
    CHECK(dm_pii_detect(p, NULL, 0, &e, &n) == DM_OK && n == 0);
    CHECK_FAILS(dm_pii_detect(NULL, "a", 1, &e, &n), DM_ERR_INVALID_ARGUMENT, "pii is NULL");
    CHECK_FAILS(dm_pii_detect(p, NULL, 3, &e, &n), DM_ERR_INVALID_ARGUMENT, "text is NULL but len is 3");
    CHECK_FAILS(dm_pii_detect(p, "a", 1, NULL, &n), DM_ERR_INVALID_ARGUMENT, "entities or n is NULL");
    CHECK_FAILS(dm_pii_detect(p, "a", 1, &e, NULL), DM_ERR_INVALID_ARGUMENT, "entities or n is NULL");

    /* patterns */
    CHECK_FAILS(dm_pii_add_pattern(NULL, "X", "a", 0.5, NULL, NULL, NULL, 0), DM_ERR_INVALID_ARGUMENT, "pii is NULL");
    CHECK_FAILS(dm_pii_add_pattern(p, NULL, "a", 0.5, NULL, NULL, NULL, 0), DM_ERR_INVALID_ARGUMENT, "type is NULL");
    CHECK_FAILS(dm_pii_add_pattern(p, "X", NULL, 0.5, NULL, NULL, NULL, 0), DM_ERR_INVALID_ARGUMENT, "pattern is NULL");
    CHECK_FAILS(dm_pii_add_pattern(p, "lower", "a", 0.5, NULL, NULL, NULL, 0), DM_ERR_INVALID_ARGUMENT,
                "\"lower\" is not a type name");
    CHECK_FAILS(dm_pii_add_pattern(p, "X", "a", 0, NULL, NULL, NULL, 0), DM_ERR_INVALID_ARGUMENT, "score is 0");
    CHECK_FAILS(dm_pii_add_pattern(p, "X", "a", 1.01, NULL, NULL, NULL, 0), DM_ERR_INVALID_ARGUMENT, "(0, 1]");
    CHECK_FAILS(dm_pii_add_pattern(p, "X", "a", 0.5, NULL, NULL, NULL, 2), DM_ERR_INVALID_ARGUMENT,
                "context is NULL but n_context is 2");
    const char *ctx_bad[] = {"ok", NULL};
    CHECK_FAILS(dm_pii_add_pattern(p, "X", "a", 0.5, NULL, NULL, ctx_bad, 2), DM_ERR_INVALID_ARGUMENT,
                "context[1] is NULL");
    const char *ctx_utf8[] = {"\xff"};
    CHECK_FAILS(dm_pii_add_pattern(p, "X", "a", 0.5, NULL, NULL, ctx_utf8, 1), DM_ERR_UTF8, "context[0]");
    CHECK_FAILS(dm_pii_add_pattern(p, "BAD", "ab(c[d", 0.5, NULL, NULL, NULL, 0), DM_ERR_PARSE,
                "pattern \"ab(c[d\" does not compile at offset 6");
    CHECK_FAILS(dm_pii_add_pattern(p, "BAD", "a{2,1}", 0.5, NULL, NULL, NULL, 0), DM_ERR_PARSE, "offset");
    CHECK(!dmi_pii_knows_type(p, "BAD") && dmi_pii_knows_type(p, "URL"));
    CHECK(dmi_pii_valid_type_name("A_1") && !dmi_pii_valid_type_name("a") && !dmi_pii_valid_type_name(""));
    char long_name[70];
    memset(long_name, 'A', 65);
    long_name[65] = 0;
    CHECK(!dmi_pii_valid_type_name(long_name) && !dmi_pii_valid_type_name(NULL));
    long_name[64] = 0;
    CHECK(dmi_pii_valid_type_name(long_name));

    /* deny-lists */
    const char *w[] = {"ok", ""};
    CHECK_FAILS(dm_pii_add_deny_list(p, "X", NULL, 1, 0.5), DM_ERR_INVALID_ARGUMENT, "words is NULL");
    CHECK_FAILS(dm_pii_add_deny_list(p, "X", w, 0, 0.5), DM_ERR_INVALID_ARGUMENT, "n is 0");
    CHECK_FAILS(dm_pii_add_deny_list(p, "X", w, 2, 0.5), DM_ERR_INVALID_ARGUMENT, "words[1] is empty");
    CHECK_FAILS(dm_pii_add_deny_list(p, "X", w, 1, -1), DM_ERR_INVALID_ARGUMENT, "score is -1");
    CHECK_FAILS(dm_pii_add_deny_list(p, "x y", w, 1, 0.5), DM_ERR_INVALID_ARGUMENT, "not a type name");
    const char *w8[] = {"ok\xc3"};
    CHECK_FAILS(dm_pii_add_deny_list(p, "X", w8, 1, 0.5), DM_ERR_UTF8, "words[0] is not valid UTF-8 (byte offset 2)");
    CHECK(!dmi_pii_knows_type(p, "X"));

    /* invalid UTF-8: an error naming the offset, or '?' in its place */
    const char bad[] = "mail a@b.com \xe4\xb8 13812345678";
    CHECK_FAILS(dm_pii_detect(p, bad, sizeof bad - 1, &e, &n), DM_ERR_UTF8, "invalid UTF-8 at byte offset 13");
    dm_pii_free(p);
    dm_pii_options_default(&o);
    o.invalid_utf8 = DM_UTF8_REPLACE;
    CHECK(dm_pii_create(&o, &p) == DM_OK);
    CHECK(dm_pii_detect(p, bad, sizeof bad - 1, &e, &n) == DM_OK && n == 2);
    if (n == 2) CHECK(e[1].start == 16 && e[1].end == 27 && e[0].start == 5);
    dm_free(e);
    dm_pii_free(p);

    /* runaway backtracking stops at match_limit */
    dm_pii_options_default(&o);
    CHECK(dm_pii_create(&o, &p) == DM_OK);
    CHECK(dm_pii_add_pattern(p, "RUNAWAY", "(a+)+$", 0.5, NULL, NULL, NULL, 0) == DM_OK);
    const char *evil = "x aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!";
    CHECK_FAILS(dm_pii_detect(p, evil, strlen(evil), &e, &n), DM_ERR_RANGE, "type RUNAWAY");
    CHECK_FAILS(dm_pii_detect(p, evil, strlen(evil), &e, &n), DM_ERR_RANGE, "match_limit 1000000");
    CHECK_FAILS(dm_pii_detect(p, evil, strlen(evil), &e, &n), DM_ERR_RANGE, "byte offset");
    EXPECT(p, "aaaa", "RUNAWAY:aaaa");
    dm_pii_free(p);
}

/* The 100 MB line: "some text 13812345678 " over and over. */
static void test_big_line(void)
{
    const char *env = getenv("DM_BIG_LINE_MB");
#if defined(__SANITIZE_ADDRESS__)
    size_t mb = env ? (size_t)atol(env) : 16; /* ASan: smaller, same code paths */
#else
    size_t mb = env ? (size_t)atol(env) : 100;
#endif
    const char unit[] = "some text 13812345678 ";
    size_t ul = sizeof unit - 1, len = mb << 20;
    char *text = malloc(len);
    if (!text) return;
    for (size_t i = 0; i < len; i++) text[i] = unit[i % ul];
    dm_pii *p = NULL;
    CHECK(dm_pii_create(NULL, &p) == DM_OK);
    dm_pii_entity *e = NULL;
    size_t n = 0;
    CHECK(dm_pii_detect(p, text, len, &e, &n) == DM_OK);
    /* every whole unit holds one phone; a cut-off last one does not count */
    size_t whole = len / ul, rest = len % ul;
    size_t want = whole + (rest >= 21 ? 1 : 0);
    CHECK(n == want);
    bool ok = true;
    for (size_t i = 0; i < n && ok; i++) ok = e[i].start == i * ul + 10 && e[i].end == i * ul + 21;
    CHECK(ok);
    printf("big line: %zu MB, %zu phones\n", mb, n);
    dm_free(e);
    dm_pii_free(p);
    free(text);
}

typedef struct job {
    const dm_pii *p;
    const char *text;
    size_t n;
    size_t sum;
    int rounds;
    int failed;
} job;

static void *detect_job(void *arg)
{
    job *j = arg;
    for (int r = 0; r < j->rounds; r++) {
        dm_pii_entity *e = NULL;
        size_t n = 0;
        if (dm_pii_detect(j->p, j->text, strlen(j->text), &e, &n) != DM_OK) j->failed++;
        size_t sum = 0;
        for (size_t i = 0; i < n; i++) sum += e[i].start * 31 + e[i].end + strlen(e[i].type);
        if (r == 0) j->n = n, j->sum = sum;
        else if (n != j->n || sum != j->sum) j->failed++;
        dm_free(e);
    }
    return NULL;
}

static void test_threads(void)
{
    dm_pii *p = NULL;
    CHECK(dm_pii_create(NULL, &p) == DM_OK);
    const char *ctx[] = {"ticket"};
    CHECK(dm_pii_add_pattern(p, "TICKET", "T-[0-9]{5}", 0.6, NULL, NULL, ctx, 1) == DM_OK);
    const char *text =
        "Mail john@example.com, call +1 (415) 555-2671, card 4111 1111 1111 1111, ticket T-12345, "
        "IBAN DE89 3704 0044 0532 0130 00, ip 10.0.0.1 / 2001:db8::1, https://example.com/x, SSN 536-22-4816, "
        "身份证11010519491231002X，手机138 1234 5678。";
    job a = {p, text, 0, 0, 200, 0}, b = a;
    pthread_t ta, tb;
    pthread_create(&ta, NULL, detect_job, &a);
    pthread_create(&tb, NULL, detect_job, &b);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    CHECK(a.failed == 0 && b.failed == 0);
    CHECK(a.n == 11 && b.n == 11 && a.sum == b.sum);
    dm_pii_free(p);
}

static void test_rules(void)
{
    CHECK(dmi_n_tlds > 1000);
    for (size_t i = 1; i < dmi_n_tlds; i++)
        if (strcmp(dmi_tlds[i - 1], dmi_tlds[i]) >= 0) CHECK(!"dmi_tlds is not sorted");
    CHECK(dmi_tld_known("com", 3) && dmi_tld_known("COM", 3) && dmi_tld_known("py", 2));
    CHECK(dmi_tld_known("xn--p1ai", 8) && dmi_tld_known("рф", strlen("рф")) && dmi_tld_known("中国", strlen("中国")));
    CHECK(!dmi_tld_known("local", 5) && !dmi_tld_known("png", 3) && !dmi_tld_known("co", 0));
    CHECK(!dmi_tld_known("comm", 4) && !dmi_tld_known("c", 1));
    CHECK(dmi_luhn_ok("79927398713", 11) && !dmi_luhn_ok("79927398710", 11));
    CHECK(dmi_iban_ok("GB82WEST12345698765432", 22) && !dmi_iban_ok("GB82WEST12345698765433", 22));
    CHECK(!dmi_iban_ok("XX82WEST12345698765432", 22));
    CHECK(dmi_cn_id_ok("11010519491231002X", 18, 20240101));
    CHECK(!dmi_cn_id_ok("11010519491231002X", 18, 19400101)); /* born after "today" */
    CHECK(dmi_cn_id_ok("440524200002290010", 18, 20240101)); /* 2000-02-29 */
    CHECK(!dmi_cn_id_ok("440524190002290014", 18, 20240101));
}

int main(void)
{
    dm_pii *p = NULL;
    CHECK(dm_pii_create(NULL, &p) == DM_OK);
    if (p) {
        test_email_url(p);
        test_phone(p);
        test_card(p);
        test_iban_ssn_id_ip(p);
        dm_pii_free(p);
    }
    test_offsets_and_scores();
    test_user_recognisers();
    test_bad_input();
    test_rules();
    test_threads();
    test_big_line();
    return check_summary();
}
