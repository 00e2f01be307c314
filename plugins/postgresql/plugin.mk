# PostgreSQL lease plugin: dynamic roles through libpq.
postgresql_PKGS := libpq
