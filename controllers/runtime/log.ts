// The runtime's logging seam: a message, an optional error, and the fields that say where it
// happened (controller, key, kind). server.ts turns these into structured JSON lines (pino).
export type LogFields = { controller?: string; key?: string; kind?: string };
export type LogFn = (msg: string, err?: unknown, fields?: LogFields) => void;
