/* backup.h — `secretsd backup` and `secretsd restore`.
 *
 * backup takes a consistent hot copy of the Berkeley DB environment (its own
 * DB_ENV->backup: databases, then the logs that make them consistent) while
 * the server runs, and packs it into one file. Values stay encrypted as they
 * are stored (per-version data keys wrapped by the KEK); the keys/ folder is
 * included only with --with-keys, which makes the file as sensitive as the
 * data dir. restore unpacks into a new data dir, copies keys from
 * --keys-from DIR when the backup has none, and runs catastrophic recovery
 * from the copied logs once.
 *
 * File: "SDBACKUP1\n", then entries 'F' u16 name length, name, u64 size,
 * bytes; then 'E' and the SHA-256 of everything before it. */
#ifndef SD_BACKUP_H
#define SD_BACKUP_H

#include <stdio.h>

int backup_cli(const char *data_dir, const char *out, int with_keys, FILE *errout);
int restore_cli(const char *in, const char *data_dir, const char *keys_from, FILE *errout);

#endif
