#!/bin/sh
# Every dynamic symbol the library exports must be public API: a dm_ name that
# include/datamodel.h declares. Anything else leaked past -fvisibility=hidden.
# usage: check_exports.sh LIBRARY HEADER
set -eu
lib=$1 header=$2
exported=$(nm -D --defined-only "$lib" | awk '$2 ~ /^[TDBR]$/ {print $3}' | sort)
bad=0 n=0
for sym in $exported; do
    n=$((n + 1))
    case $sym in
        dm_*) grep -q "\b$sym(" "$header" || { echo "exported but not declared in the header: $sym"; bad=$((bad + 1)); } ;;
        _init|_fini) ;;
        *) echo "exported symbol outside the API: $sym"; bad=$((bad + 1)) ;;
    esac
done
for sym in $(grep -o '^DM_API [^(]*(' "$header" | sed 's/($//; s/.*[ *]//'); do
    echo "$exported" | grep -qx "$sym" || { echo "declared but not exported: $sym"; bad=$((bad + 1)); }
done
echo "$((n - bad)) passed, $bad failed"
[ "$bad" -eq 0 ]
