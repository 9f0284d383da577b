// The kernels of ../ops.cu compiled as host C++ against the emulation (dmk.h).
#include "../ops.cu"
