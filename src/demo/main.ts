// `npm run demo`: the service as it runs in production (startService), in front of a
// bundled whoami stand-in instead of a homeserver, so a first run answers 200 on a
// machine with nothing else. Prints the token and the request to try; SIGTERM or SIGINT
// stops both servers (exit 0). A demo: a placeholder TURN server, loopback only.

import { randomBytes } from 'node:crypto';
import { Registry } from 'prom-client';
import { ConfigError, describeConfig, loadConfig, type Config } from '../config/index.js';
import { errorCode } from '../error-fields.js';
import { createStdoutLogger } from '../logger.js';
import { startService, type RunningService } from '../server.js';
import { stopOnSignals } from '../stop-on-signals.js';
import { SERVICE_VERSION } from '../version.js';
import { demoBanner } from './banner.js';
import { DEMO_HOST, DEMO_TURN_URI, DEMO_USER, demoEnvironment } from './demo-environment.js';
import { startWhoamiStandIn } from './whoami-stand-in.js';

const fail = (code: number, why: string): never => {
  process.stderr.write(`matrix-turn-credentials demo: ${why}\n`);
  process.exit(code);
};

async function main(): Promise<void> {
  // Made anew each run: nothing of the demo works against another run or another machine.
  const token = `demo_${randomBytes(18).toString('base64url')}`;
  const sharedSecret = randomBytes(32).toString('base64url');

  const standIn = await startWhoamiStandIn({ token, user: DEMO_USER, host: DEMO_HOST });
  let config: Config;
  try {
    config = loadConfig(demoEnvironment({ homeserverUrl: standIn.url, sharedSecret, env: process.env }));
  } catch (error) {
    await standIn.close();
    if (error instanceof ConfigError) return fail(2, error.message);
    throw error;
  }

  const { logger, stop: stopLogging } = createStdoutLogger(config.logLevel);
  logger.info({ version: SERVICE_VERSION, demo: true, config: describeConfig(config) }, 'starting');
  let service: RunningService;
  try {
    service = await startService(config, { logger, registry: new Registry() });
  } catch (error) {
    stopLogging();
    await standIn.close();
    const code = errorCode(error);
    if (code === 'EADDRINUSE')
      return fail(1, `port ${config.port} or ${config.metricsPort} is taken: set PORT and METRICS_PORT to free ones`);
    throw error;
  }

  process.stdout.write(
    demoBanner({
      serviceUrl: `http://${DEMO_HOST}:${service.port}`,
      metricsUrl: `http://${DEMO_HOST}:${service.metricsPort}/metrics`,
      standInUrl: standIn.url,
      token,
      user: DEMO_USER,
      turnUri: DEMO_TURN_URI,
    }),
  );
  // The service first: a request in flight may still ask the stand-in.
  stopOnSignals(() => service.stop().then(() => standIn.close()), logger, stopLogging);
}

main().catch((error: unknown) => {
  const why = errorCode(error) ?? (error instanceof Error ? error.message : String(error));
  fail(1, `cannot start: ${why}`);
});
