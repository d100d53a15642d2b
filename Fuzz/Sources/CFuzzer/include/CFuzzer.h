#include <stddef.h>
#include <stdint.h>

// libFuzzer's driver (linked in by -sanitize=fuzzer): runs the fuzzing loop with the command-line flags over a
// callback. Each target's `main` calls it (SwiftPM gives every executable its own `main`, so libFuzzer's cannot be used).
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));
