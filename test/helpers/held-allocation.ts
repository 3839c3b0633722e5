// A TURN allocation over UDP that stays standing: coturn's 401 challenge answered with a
// long-term credential, and the connection kept open (no Refresh to 0), so the allocation
// counts against coturn's user-quota until the connection is closed.

import { randomBytes } from 'node:crypto';
import { systemTimers } from '../../src/clock.js';
import {
  longTermKey,
  readErrorCode,
  readText,
  requestedTransportAttribute,
  StunAttr,
  StunMethod,
  textAttribute,
  TRANSPORT_UDP,
} from '../../src/turn/probe/stun-message.js';
import { openStunConnection, type StunConnection } from '../../src/turn/probe/stun-transport.js';

export interface HeldAllocation {
  /** Close it to free the allocation. */
  readonly connection: StunConnection;
  /** 'allocated', or the STUN error code coturn answered the authenticated Allocate with. */
  readonly outcome: 'allocated' | number;
}

export async function holdAllocation(port: number, credential: { username: string; password: string }): Promise<HeldAllocation> {
  const connection = await openStunConnection({
    transport: 'udp',
    server: { address: '127.0.0.1', family: 4, port },
    timers: systemTimers,
    signal: new AbortController().signal,
  });
  const allocate = (attributes = [requestedTransportAttribute(TRANSPORT_UDP)]) => ({
    method: StunMethod.allocate,
    class: 'request' as const,
    transactionId: randomBytes(12),
    attributes,
  });
  const challenge = await connection.request(allocate());
  const realm = readText(challenge, StunAttr.REALM)!;
  const answer = await connection.request(
    allocate([
      requestedTransportAttribute(TRANSPORT_UDP),
      textAttribute(StunAttr.USERNAME, credential.username),
      textAttribute(StunAttr.REALM, realm),
      textAttribute(StunAttr.NONCE, readText(challenge, StunAttr.NONCE)!),
    ]),
    { integrityKey: longTermKey(credential.username, realm, credential.password) },
  );
  return { connection, outcome: answer.class === 'success' ? 'allocated' : (readErrorCode(answer)?.code ?? 0) };
}
