/* test_pii_detect.c — placeholder while the feature is written (exits 77: skipped). */
int main(void) { return 77; }
