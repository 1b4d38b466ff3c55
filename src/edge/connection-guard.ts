import type { Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/**
 * What node:http does with connections, bounded: how many a node holds, and what happens to one it refuses. A
 * connection past the cap never reaches node:http; a request its parser refuses gets its answer without the
 * connection reset under it. The request-level bounds (timeouts, bodies) are the adapter's.
 */
export interface ConnectionGuard {
  /** The answer under way on a connection, so node:http's own error answer never lands inside it. */
  answering(socket: Socket, res: ServerResponse): void;
  /** True when the node holds nearly its maximum of connections: answers then are not kept alive. */
  nearCap(): boolean;
}

export function guardConnections(server: Server, maxConnections: number, onShed: () => void): ConnectionGuard {
  let open = 0;
  // node:http takes every connection in its own 'connection' listener; berth's decides first whether it may. One
  // past the cap never reaches node:http: it gets its answer, and what it sends meanwhile is read and dropped, so
  // that closing it cannot reset the connection under the answer.
  const [takeConnection] = server.listeners('connection') as Array<(socket: Socket) => void>;
  if (!takeConnection) throw new Error('node:http no longer takes connections through its "connection" listener');
  server.removeAllListeners('connection');
  server.on('connection', (socket: Socket) => {
    if (open >= maxConnections) {
      onShed();
      turnAway(socket);
      return;
    }
    open++;
    socket.once('close', () => open--);
    takeConnection.call(server, socket);
  });
  server.on('clientError', refuseUnparsable);
  return {
    answering: (socket, res) => void answers.set(socket, res),
    nearCap: () => open >= maxConnections * NEAR_CAP,
  };
}

/**
 * node:http answers a request it cannot parse (headers past its limit, a malformed head) and destroys the connection
 * at once: a client still sending, such as one with a large body behind headers that are too large, is reset before
 * it reads the answer, and an answer still under way for the request before is lost. Here the answer goes out and
 * the rest of what the client sends is read and dropped for a while, as for a connection past the cap; or, behind a
 * complete request still being answered, that answer goes out whole and then the connection closes.
 */
function refuseUnparsable(error: NodeJS.ErrnoException, socket: Socket): void {
  if (refused.has(socket)) return;
  refused.add(socket);
  if (!socket.writable || error.code === 'ECONNRESET') {
    socket.destroy();
    return;
  }
  const answer = CLIENT_ERROR_ANSWERS[error.code ?? ''] ?? BAD_REQUEST;
  const current = answers.get(socket);
  const underWay = current !== undefined && !current.writableFinished && !current.destroyed;
  // A request that timed out, or whose own body could not be parsed (or ended part way), cannot complete: as node:http
  // does, it is answered if its answer has not begun, and its connection destroyed, which fails its body's reader.
  if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT' || (underWay && !current.req.complete)) {
    if (!underWay || !current.headersSent) socket.write(answer);
    socket.destroy();
    return;
  }
  // node:http's parser reads no further once it failed.
  socket.removeAllListeners('data');
  if (underWay) {
    current.shouldKeepAlive = false;
    current.once('close', () => socket.destroySoon());
    return;
  }
  linger(socket, answer);
}

/**
 * How long a turned-away connection may linger for its client to read the answer, and how many may linger at once:
 * past that, a flood of connections is closed at once, answer or not, so that lingering cannot fill the descriptors.
 */
const TURN_AWAY_LINGER_MS = 2000;
const TURN_AWAY_LINGERING = 256;
let lingering = 0;

function turnAway(socket: Socket): void {
  linger(socket, OVER_CAPACITY);
}

/** Sends `answer` and closes the connection once its client has had a while to read it, reading what it still sends. */
function linger(socket: Socket, answer: string): void {
  socket.on('error', () => {});
  if (lingering >= TURN_AWAY_LINGERING) {
    socket.destroy();
    return;
  }
  lingering++;
  socket.on('data', () => {});
  socket.resume();
  socket.end(answer);
  const timer = setTimeout(() => socket.destroy(), TURN_AWAY_LINGER_MS);
  socket.once('close', () => {
    lingering--;
    clearTimeout(timer);
  });
}

/** The latest answer on each connection: node:http's own error answer must not land inside one under way. */
const answers = new WeakMap<Socket, ServerResponse>();
/** Connections already refused for a request node:http could not parse, which node:http may report again. */
const refused = new WeakSet<Socket>();
const BAD_REQUEST = 'HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n';
/** node:http's own answers to what its parser refuses, by error code. */
const CLIENT_ERROR_ANSWERS: Readonly<Record<string, string>> = {
  HPE_HEADER_OVERFLOW: 'HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\n\r\n',
  HPE_CHUNK_EXTENSIONS_OVERFLOW: 'HTTP/1.1 413 Payload Too Large\r\nConnection: close\r\n\r\n',
  ERR_HTTP_REQUEST_TIMEOUT: 'HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n',
};

/** The share of the connection cap past which answers are not kept alive. */
const NEAR_CAP = 0.9;
const OVER_CAPACITY_BODY = JSON.stringify({
  error: { code: 'overloaded', message: 'this berth node holds its maximum of connections (BERTH_MAX_CONNECTIONS); retry shortly' },
});
const OVER_CAPACITY =
  'HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\nConnection: close\r\n' +
  `Content-Length: ${Buffer.byteLength(OVER_CAPACITY_BODY)}\r\n\r\n${OVER_CAPACITY_BODY}`;
