#ifndef LONGRUN_CLMDB_SHIM_H
#define LONGRUN_CLMDB_SHIM_H
#include <lmdb.h>
#endif
