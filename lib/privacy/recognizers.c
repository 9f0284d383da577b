/*
 * recognizers.c — the built-in recognisers: patterns, validators, context words (placeholder: being written).
 */
#include "datamodel.h"
#include "pii_impl.h"
