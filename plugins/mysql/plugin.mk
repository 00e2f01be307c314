# MariaDB / MySQL lease plugin: dynamic users through libmariadb (Connector/C).
mysql_PKGS := libmariadb
