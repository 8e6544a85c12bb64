#include "CLatchkeySQLite.h"
#include "sqlite_nio_sqlite3.h"

int latchkey_sqlite3_enable_qpsg(void *db) {
    int enabled = 0;
    int status = sqlite_nio_sqlite3_db_config((sqlite3 *)db, SQLITE_DBCONFIG_ENABLE_QPSG, 1, &enabled);
    return status == SQLITE_OK && enabled != 1 ? SQLITE_ERROR : status;
}
