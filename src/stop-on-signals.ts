// SIGTERM and SIGINT stop a process gracefully: `stop` drains what is in flight, then the
// process exits 0 (1 if stopping failed), the log flushed first. The service's main and
// the demo's both end this way.

import type { Logger } from './logger.js';

export function stopOnSignals(stop: () => Promise<void>, logger: Logger, stopLogging: () => void): void {
  const shutdown = (signal: string) => {
    logger.info({ signal }, 'stopping: draining in-flight requests');
    stop().then(
      () => {
        logger.info('stopped');
        stopLogging();
        process.exit(0);
      },
      (error: unknown) => {
        logger.error({ err: error }, 'error while stopping');
        stopLogging();
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
}
