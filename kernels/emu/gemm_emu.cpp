// The kernels of ../gemm.cu compiled as host C++ against the emulation (dmk.h).
#include "../gemm.cu"
