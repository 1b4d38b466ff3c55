/** One request a session served, as `/v1/sessions/{id}` shows its latest (the console charts them). */
export interface RequestRecord {
  /** When it arrived, ISO 8601. */
  at: string;
  /** Its MCP method (or door: `invocations`, `commands`). */
  method: string;
  status: number;
  ms: number;
  /** The error code of a failed one. */
  error?: string;
}
