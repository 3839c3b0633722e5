// The process: run the command the arguments name (cli.ts): serve by default, or
// check-config, doctor (doctor/index.ts: its report, exit 0 or 1), --help, --version.
// Read the environment, refuse bad configuration (exit 2, one message, no stack trace),
// start the service, and stop it gracefully on SIGTERM/SIGINT (exit 0).

import { Registry } from 'prom-client';
import { HELP_TEXT, VERSION_TEXT, parseCommand } from './cli.js';
import { ConfigError, describeConfig, loadConfig, type Config } from './config/index.js';
import { runDoctor } from './doctor/index.js';
import { errorCode } from './error-fields.js';
import { createStdoutLogger } from './logger.js';
import { startService } from './server.js';
import { stopOnSignals } from './stop-on-signals.js';
import { SERVICE_VERSION } from './version.js';

/** The configuration, or the process ends with exit 2 and the message naming every problem. */
function configurationOrExit(): Config {
  try {
    return loadConfig(process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`matrix-turn-credentials: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
}

async function main(): Promise<void> {
  const command = parseCommand(process.argv.slice(2));
  switch (command.kind) {
    case 'help':
      process.stdout.write(HELP_TEXT);
      return;
    case 'version':
      process.stdout.write(VERSION_TEXT);
      return;
    case 'unknown':
      process.stderr.write(`matrix-turn-credentials: unknown command or option "${command.argument}"; see --help\n`);
      process.exit(2);
      return;
    case 'check-config':
      process.stdout.write(`${JSON.stringify({ version: SERVICE_VERSION, config: describeConfig(configurationOrExit()) }, null, 2)}\n`);
      return;
    case 'doctor': {
      const { text, exitCode } = await runDoctor(process.env, command);
      // Exit once the report is written: a connection a check left half-closed must not hold the process.
      process.stdout.write(text, () => process.exit(exitCode));
      return;
    }
    case 'serve':
      await serve(configurationOrExit());
  }
}

async function serve(config: Config): Promise<void> {
  const { logger, stop: stopLogging } = createStdoutLogger(config.logLevel);
  logger.info({ version: SERVICE_VERSION, config: describeConfig(config) }, 'starting');
  const service = await startService(config, { logger, registry: new Registry() });

  stopOnSignals(() => service.stop(), logger, stopLogging);
}

main().catch((error: unknown) => {
  const why = errorCode(error) ?? (error instanceof Error ? error.message : String(error));
  process.stderr.write(`matrix-turn-credentials: cannot start: ${why}\n`);
  process.exit(1);
});
