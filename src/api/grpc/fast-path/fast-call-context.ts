// The HandlerContext of a fast-path unary call (unary-fast-path.ts). connect's own
// createHandlerContext builds three Headers, two linked AbortControllers and a deadline timer
// for every call; here each part is made only when a handler first touches it, because the
// unary handlers mostly never do. The signal aborts on the deadline, on shutdown and when the
// client goes away, like connect's.
import type { IncomingHttpHeaders, ServerHttp2Stream } from "node:http2";
import type { DescMethod, DescService } from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  type ContextValues,
  createContextValues,
  type HandlerContext,
} from "@connectrpc/connect";

const DEADLINE_EXCEEDED = () => new ConnectError("the operation timed out", Code.DeadlineExceeded);
const CLIENT_GONE = new ConnectError("the client cancelled the call", Code.Canceled);
const CALL_DONE = new ConnectError("the call is complete", Code.Canceled);

export class FastCallContext implements HandlerContext {
  readonly protocolName = "grpc";
  readonly requestMethod = "POST";
  readonly #headers: IncomingHttpHeaders;
  readonly #stream: ServerHttp2Stream;
  readonly #shutdown: AbortSignal;
  /** Absolute deadline (ms since the epoch), if the client sent grpc-timeout. */
  readonly #deadline: number | undefined;
  #controller: AbortController | undefined;
  #unlink: (() => void) | undefined;
  #requestHeader: Headers | undefined;
  #responseHeader: Headers | undefined;
  #responseTrailer: Headers | undefined;
  #values: ContextValues | undefined;

  constructor(
    readonly service: DescService,
    readonly method: DescMethod,
    stream: ServerHttp2Stream,
    headers: IncomingHttpHeaders,
    timeoutMs: number | undefined,
    shutdown: AbortSignal,
  ) {
    this.#stream = stream;
    this.#headers = headers;
    this.#shutdown = shutdown;
    this.#deadline = timeoutMs === undefined ? undefined : Date.now() + timeoutMs;
  }

  get url(): string {
    return this.#headers[":path"] ?? "";
  }

  get hasDeadline(): boolean {
    return this.#deadline !== undefined;
  }

  readonly timeoutMs = (): number | undefined =>
    this.#deadline === undefined ? undefined : this.#deadline - Date.now();

  get signal(): AbortSignal {
    if (!this.#controller) this.#controller = this.#link(new AbortController());
    return this.#controller.signal;
  }

  #link(controller: AbortController): AbortController {
    const abort = (reason: unknown) => {
      if (!controller.signal.aborted) controller.abort(reason);
      this.#unlink?.();
    };
    const onShutdown = () => abort(this.#shutdown.reason);
    const onClose = () => abort(CLIENT_GONE);
    const timer =
      this.#deadline === undefined
        ? undefined
        : setTimeout(() => abort(DEADLINE_EXCEEDED()), Math.max(0, this.#deadline - Date.now()));
    this.#shutdown.addEventListener("abort", onShutdown, { once: true });
    this.#stream.once("close", onClose);
    this.#unlink = () => {
      clearTimeout(timer);
      this.#shutdown.removeEventListener("abort", onShutdown);
      this.#stream.off("close", onClose);
      this.#unlink = undefined;
    };
    if (this.#shutdown.aborted) onShutdown();
    return controller;
  }

  get requestHeader(): Headers {
    if (!this.#requestHeader) {
      const h = new Headers();
      for (const [k, v] of Object.entries(this.#headers)) {
        if (k.startsWith(":") || v === undefined) continue;
        for (const one of Array.isArray(v) ? v : [v]) h.append(k, one);
      }
      this.#requestHeader = h;
    }
    return this.#requestHeader;
  }

  get responseHeader(): Headers {
    this.#responseHeader ??= new Headers();
    return this.#responseHeader;
  }

  get responseTrailer(): Headers {
    this.#responseTrailer ??= new Headers();
    return this.#responseTrailer;
  }

  get values(): ContextValues {
    this.#values ??= createContextValues();
    return this.#values;
  }

  /** Headers/trailers a handler set, if any (undefined when none was touched). */
  get touchedResponseHeader(): Headers | undefined {
    return this.#responseHeader;
  }
  get touchedResponseTrailer(): Headers | undefined {
    return this.#responseTrailer;
  }

  /** Ends the call: aborts the signal if anyone holds it, and drops every link. */
  done(): void {
    if (this.#controller && !this.#controller.signal.aborted) this.#controller.abort(CALL_DONE);
    this.#unlink?.();
  }
}
