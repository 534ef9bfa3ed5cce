// Docker's multiplexed output and event times, without Docker: frames split anywhere, TTY
// output passed through, lines split in the middle of a UTF-8 character.
import t from 'tap';
import { FrameDemuxer, LineSplitter } from '../../docker/demux.js';
import type { OutputStream } from '../../docker/demux.js';
import { parseNanos } from '../../docker/events.js';

function frame(type: number, text: string): Buffer {
  const payload = Buffer.from(text);
  const header = Buffer.alloc(8);
  header[0] = type;
  header.writeUInt32BE(payload.length, 4);
  return Buffer.concat([header, payload]);
}

t.test('frames are reassembled whatever the chunk boundaries', async (t) => {
  const all = Buffer.concat([frame(1, 'out 1\n'), frame(2, 'err ü\n'), frame(1, ''), frame(1, 'out 2')]);
  for (let cut = 0; cut <= all.length; cut++) {
    const got: Record<OutputStream, string[]> = { stdout: [], stderr: [] };
    const d = new FrameDemuxer((s, data) => got[s].push(data.toString()));
    d.push(all.subarray(0, cut));
    d.push(all.subarray(cut));
    t.same(got, { stdout: ['out 1\n', 'out 2'], stderr: ['err ü\n'] }, `cut at ${cut}`);
  }
});

t.test('output that is not framed (a TTY) is passed through as stdout', async (t) => {
  const got: string[] = [];
  const d = new FrameDemuxer((s, data) => got.push(`${s}:${data}`));
  d.push(Buffer.from('plain text\n'));
  d.push(Buffer.from('more'));
  t.same(got, ['stdout:plain text\n', 'stdout:more']);
});

t.test('lines: CRLF, a character split across chunks, the rest at the end', async (t) => {
  const lines: string[] = [];
  const s = new LineSplitter((l) => lines.push(l));
  const text = Buffer.from('a\r\nbü\n\nlast');
  s.push(text.subarray(0, 5)); // splits "ü" (2 bytes)
  s.push(text.subarray(5));
  s.end();
  t.same(lines, ['a', 'bü', '', 'last']);
});

t.test('parseNanos keeps all nine digits', async (t) => {
  t.equal(parseNanos('2025-12-01T18:30:00.123456789Z'), 1764613800123456789n);
  t.equal(parseNanos('2025-12-01T18:30:00Z'), 1764613800000000000n);
  t.equal(parseNanos('2025-12-01T19:30:00.5+01:00'), 1764613800500000000n);
  t.equal(parseNanos('yesterday'), undefined);
});
