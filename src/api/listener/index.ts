// Listening sockets for the APIs: HTTP/2 and HTTP/1.1 on one port, and the private Unix socket.
export {
  createDualProtocolListener,
  type DualProtocolListener,
  type RequestHandler,
  SNIFF_TIMEOUT_MS,
  type StreamClaim,
} from "./dual-protocol-listener.js";
export { type ConnectionHandler, EarlyNetListener } from "./early-net-listener.js";
export {
  answerClientError,
  DEFAULT_MAX_MESSAGE_BYTES,
  type ListenerLimits,
  listenerLimits,
} from "./limits.js";
export { CONFIGURE_KEYS_HINT, isLoopback } from "./peer-address.js";
export { RequestDeadlines } from "./request-deadlines.js";
export { HTTP2_PREFACE, sniffProtocol, type WireProtocol } from "./sniff-protocol.js";
export {
  type BoundUnixSocket,
  listenUnixSocket,
  MAX_SOCKET_PATH_BYTES,
  prepareSocketPath,
} from "./unix-socket.js";
