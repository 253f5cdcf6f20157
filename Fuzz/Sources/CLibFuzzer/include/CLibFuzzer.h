#ifndef GATEHOUSE_CLIBFUZZER_H
#define GATEHOUSE_CLIBFUZZER_H
#include <stddef.h>
#include <stdint.h>

/// libFuzzer's driver, for a program that has a main of its own: SwiftPM links an
/// executable target's entry point as `main`, so libFuzzer's own main is never used and the
/// target's entry point hands over to this instead.
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

#endif
