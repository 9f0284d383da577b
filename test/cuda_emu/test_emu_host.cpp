// test_emu.cu compiled as host C++ against the emulation layer (meson).
#include "test_emu.cu"
