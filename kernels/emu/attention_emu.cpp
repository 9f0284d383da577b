// The kernels of ../attention.cu compiled as host C++ against the emulation (dmk.h).
#include "../attention.cu"
