#ifndef CLATCHKEYSQLITE_H
#define CLATCHKEYSQLITE_H

/// Turns on SQLite's query planner stability guarantee for one connection (`SQLITE_DBCONFIG_ENABLE_QPSG`): a
/// statement's plan no longer depends on the values bound to it, so a statement kept prepared is not prepared
/// again on every execution. `sqlite3_db_config` is variadic, which Swift cannot call. Returns SQLite's status.
int latchkey_sqlite3_enable_qpsg(void *db);

#endif
