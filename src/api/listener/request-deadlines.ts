// The request timeout of HTTP/2 streams: a request whose body has not arrived, and that has no
// answer yet, when the timeout has passed is cancelled, so slow uploads cannot pin a stream. (For
// HTTP/1.1 Node's own requestTimeout does this.) Whoever reads a body hands its stream to
// `watch`; nothing else is needed.
//
// Cheap by construction, because a unary call costs a few tens of microseconds: a watched stream
// is only pushed onto an array; once per event-loop turn the streams whose body has not ended
// yet (rare: bodies usually arrive with their headers) move to the slow list, and one sweep a
// second cancels the overdue ones there. No timer, listener, closure or map entry per request.
import http2 from "node:http2";

type Stream = http2.ServerHttp2Stream;

const settled = (s: Stream) => s.readableEnded || s.headersSent || s.closed || s.destroyed;

export class RequestDeadlines {
  #fresh: Stream[] = [];
  #triageScheduled = false;
  /** Streams still waiting for their body after their first turn, and since when. */
  readonly #slow = new Map<Stream, number>();
  #sweep: NodeJS.Timeout | null = null;

  constructor(private readonly timeoutMs: number) {}

  watch(stream: Stream): void {
    this.#fresh.push(stream);
    if (this.#triageScheduled) return;
    this.#triageScheduled = true;
    setImmediate(this.#triage);
  }

  readonly #triage = (): void => {
    this.#triageScheduled = false;
    const now = Date.now();
    for (const stream of this.#fresh) if (!settled(stream)) this.#slow.set(stream, now);
    this.#fresh.length = 0;
    if (this.#slow.size > 0 && !this.#sweep) {
      this.#sweep = setInterval(this.#cancelOverdue, Math.min(1000, this.timeoutMs));
      this.#sweep.unref();
    }
  };

  readonly #cancelOverdue = (): void => {
    const now = Date.now();
    for (const [stream, at] of this.#slow) {
      if (settled(stream)) this.#slow.delete(stream);
      else if (now - at > this.timeoutMs) {
        this.#slow.delete(stream);
        stream.close(http2.constants.NGHTTP2_CANCEL);
      }
    }
    if (this.#slow.size === 0 && this.#sweep) {
      clearInterval(this.#sweep);
      this.#sweep = null;
    }
  };

  close(): void {
    if (this.#sweep) clearInterval(this.#sweep);
    this.#sweep = null;
    this.#slow.clear();
    this.#fresh.length = 0;
  }
}
