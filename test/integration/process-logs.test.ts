// The built process batches its log lines, but never holds them back: with the service
// idle after one request, the startup lines and that request's line reach stdout while
// it keeps running (within LOG_FLUSH_INTERVAL_MS), not only when it stops.

import { startBuiltService, type BuiltService } from '../helpers/built-service.js';
import { waitFor } from '../helpers/wait.js';
import { LOG_FLUSH_INTERVAL_MS } from '../../src/logger.js';

let service: BuiltService;
afterEach(() => service?.stop());

const lines = (s: BuiltService) =>
  s
    .stdout()
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>);

test('log lines reach stdout within the flush interval while the process keeps running', async () => {
  service = await startBuiltService({
    HOMESERVER_URL: 'https://matrix.example.org',
    TURN_URIS: 'turn:turn.example.org:3478?transport=udp',
    TURN_SHARED_SECRET: 'process-logs-secret',
  });
  // Far less than the 12 kB a batch holds: only the timer can have written these.
  const listening = await waitFor(() => lines(service).find((line) => line.msg === 'listening'), {
    what: 'the listening line on stdout',
    timeoutMs: LOG_FLUSH_INTERVAL_MS * 5,
  });
  expect(listening).toMatchObject({ level: 'info', port: service.port });

  const answer = await fetch(`${service.url}/_matrix/client/v3/voip/turnServer`);
  expect(answer.status).toBe(401);
  const sentAt = Date.now();
  const line = await waitFor(() => lines(service).find((l) => l.msg === 'request'), {
    what: "the request's access line on stdout",
    timeoutMs: LOG_FLUSH_INTERVAL_MS * 5,
  });
  expect(line).toMatchObject({ method: 'GET', route: '/_matrix/client/v3/voip/turnServer', status: 401 });
  expect(Date.now() - sentAt).toBeLessThan(LOG_FLUSH_INTERVAL_MS * 5);
  expect(service.child.exitCode).toBeNull();
});
