/* test_augment.c — placeholder while the operation is written (exits 77: skipped). */
int main(void) { return 77; }
