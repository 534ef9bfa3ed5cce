// Docker's multiplexed output (logs, attach and exec of containers without a TTY): frames of an
// 8-byte header — stream type (1 stdout, 2 stderr), 3 zero bytes, big-endian payload length —
// and the payload. Chunks from the socket split frames anywhere, so both classes buffer.
import { StringDecoder } from 'node:string_decoder';

export type OutputStream = 'stdout' | 'stderr';

/**
 * Splits a byte stream into frames. A stream that does not start like a frame header (a TTY
 * container's raw output) is passed through as stdout from then on, as the Docker CLI does.
 */
export class FrameDemuxer {
  private buffer: Buffer = Buffer.alloc(0);
  private raw = false;

  constructor(private readonly onFrame: (stream: OutputStream, data: Buffer) => void) {}

  push(chunk: Buffer): void {
    if (this.raw) {
      this.onFrame('stdout', chunk);
      return;
    }
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    while (this.buffer.length >= 8) {
      const type = this.buffer[0]!;
      if (type > 2 || this.buffer[1] !== 0 || this.buffer[2] !== 0 || this.buffer[3] !== 0) {
        this.raw = true;
        const rest = this.buffer;
        this.buffer = Buffer.alloc(0);
        this.onFrame('stdout', rest);
        return;
      }
      const length = this.buffer.readUInt32BE(4);
      if (this.buffer.length < 8 + length) return;
      const payload = this.buffer.subarray(8, 8 + length);
      this.buffer = this.buffer.subarray(8 + length);
      // stdin (0) is never sent back; should it be, it is shown as stdout like the CLI does.
      if (length > 0) this.onFrame(type === 2 ? 'stderr' : 'stdout', payload);
    }
  }
}

/** Splits text into lines ("\n" or "\r\n"); `end()` returns what is left after the last newline. */
export class LineSplitter {
  private readonly decoder = new StringDecoder('utf8');
  private partial = '';

  constructor(private readonly onLine: (line: string) => void) {}

  push(chunk: Buffer): void {
    const text = this.partial + this.decoder.write(chunk);
    const lines = text.split('\n');
    this.partial = lines.pop()!;
    for (const line of lines) this.onLine(line.endsWith('\r') ? line.slice(0, -1) : line);
  }

  end(): void {
    const rest = this.partial + this.decoder.end();
    this.partial = '';
    if (rest) this.onLine(rest);
  }
}
