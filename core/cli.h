/* cli.h — the `secretsd` command line: dev, serve, token create. */
#ifndef SD_CLI_H
#define SD_CLI_H

int cli_main(int argc, char **argv);

#endif
